"""Sandbox backends: where the judge runs (a Docker container, or a local process)."""

from __future__ import annotations

from ..settings import GradeSettings
from .base import Backend


def make_backend(settings: GradeSettings) -> Backend:
    """The backend ``settings.sandbox`` names (docker is imported only when used)."""
    if settings.sandbox == "process":
        from .process import ProcessBackend

        return ProcessBackend(settings)
    from .docker_backend import DockerBackend

    return DockerBackend(settings)


__all__ = ["Backend", "make_backend"]
