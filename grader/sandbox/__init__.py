"""Sandbox backends: where the judge runs (a Docker container, or a local process)."""

from __future__ import annotations

from collections.abc import Mapping

from ..settings import GradeSettings
from .base import Backend


def make_backend(settings: GradeSettings, labels: Mapping[str, str] | None = None) -> Backend:
    """The backend ``settings.sandbox`` names (docker is imported only when used);
    ``labels`` go on its containers (the process backend has none)."""
    if settings.sandbox == "process":
        from .process import ProcessBackend

        return ProcessBackend(settings)
    from .docker_backend import DockerBackend

    return DockerBackend(settings, labels=labels)


__all__ = ["Backend", "make_backend"]
