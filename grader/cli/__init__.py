"""The ``grade`` command: a thin click layer over the library.

Its modules import downward only: :mod:`.app` (the group and its error edge) puts
together :mod:`.grading`, :mod:`.prepare` and the service's commands
(:mod:`grader.service.commands`), which all print through :mod:`.output` and share
the flags of :mod:`.options`. This face imports none of them until asked, so that
the service's commands can import ``grader.cli.output`` without running the group's
assembly (which imports them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import cli

__all__ = ["cli", "main"]


def main() -> None:
    """The console script ``grade`` and ``python -m grader``."""
    from .app import cli

    cli(prog_name="grade")


def __getattr__(name: str) -> Any:
    if name == "cli":
        from .app import cli

        return cli
    raise AttributeError(f"module 'grader.cli' has no attribute {name!r}")
