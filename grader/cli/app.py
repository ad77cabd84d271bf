"""The ``grade`` group: its commands put together, and the one edge that turns the
library's errors and Ctrl-C into messages and exit codes.

0 passed, 1 the submission has issues or could not run, 2 usage error,
3 infrastructure error (never the student's fault, never a zero).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..__about__ import __version__
from ..errors import EXIT_INTERRUPTED, GraderError
from ..service.commands import service_commands
from .grading import batch_command, check_command, schema_command
from .output import fail, say
from .prepare import (
    build_image_command,
    gradescope_package_command,
    selftest_command,
    student_kit_command,
)


class GradeGroup(click.Group):
    """The CLI's one error edge, and ``grade FILE`` meaning ``grade check FILE``.

    Every command lets the library's GraderError and Ctrl-C rise; they end here,
    as a message and the error's own exit code (130 for Ctrl-C), the way click
    handles its own exceptions. Commands only catch what they add meaning to.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["check", *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GraderError as error:
            fail(error)
        except KeyboardInterrupt:
            say("Interrupted: nothing half-done was recorded.", fg="yellow")
            sys.exit(EXIT_INTERRUPTED)


@click.group(cls=GradeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grade")
def cli() -> None:
    """Grade a Mini-GPT submission: grade [check] minigpt.py

    \b
    Exit codes: 0 passed, 1 issues found or the file could not run,
    2 usage error, 3 infrastructure error (no verdict; not the student's fault).
    """


for _command in (
    check_command,
    build_image_command,
    batch_command,
    gradescope_package_command,
    selftest_command,
    student_kit_command,
    schema_command,
    *service_commands(),  # the grading service: grade serve / worker / submit
):
    cli.add_command(_command)
