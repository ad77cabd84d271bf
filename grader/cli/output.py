"""The ``grade`` commands' one output edge: feedback printed in a format, the exit code
a verdict gives, and messages and errors on stderr.

The grading commands and the service's commands (``grade submit`` prints a verdict
like ``grade``) both print through here; it imports nothing of either.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from ..errors import EXIT_INFRASTRUCTURE, EXIT_ISSUES, EXIT_PASSED, GraderError
from ..formats import render
from ..formats.gradescope import gradescope_details, to_gradescope_json
from ..formats.safe_text import terminal_text
from ..models import Feedback
from ..util import write_atomic


def exit_code(feedback: Feedback) -> int:
    if not feedback.gradable:
        return EXIT_INFRASTRUCTURE
    return EXIT_PASSED if feedback.status == "passed" else EXIT_ISSUES


def say(text: str, *, err: bool = True, **style: Any) -> None:
    """Print a message that may quote a file name or a student's text, neutralised."""
    click.secho(terminal_text(text, multiline=True), err=err, **style)


def fail(error: GraderError) -> NoReturn:
    say(f"Error: {error.message}", fg="red")
    if error.fix:
        say(error.fix)
    sys.exit(error.exit_code)


def emit(
    feedback: Feedback,
    fmt: str,
    output: Path | None,
    visibility: str,
    details: str = "visible",
) -> None:
    """Write the feedback in ``fmt`` to ``output`` or stdout, then the points line.

    With Gradescope's details held back, the details (the panel) follow on
    stdout, which results.json marks with their visibility; on stderr when
    stdout carries the results.json itself.
    """
    if fmt == "gradescope":
        text = to_gradescope_json(feedback, visibility, details)  # type: ignore[arg-type]
    else:
        text = render(feedback, fmt, color=output is None and sys.stdout.isatty())  # type: ignore[arg-type]
    if output is not None:
        write_atomic(output, text)
    else:
        click.echo(text, nl=False)
    if fmt == "gradescope" and details != "visible":
        click.echo(gradescope_details(feedback), nl=False, err=output is None)
    # CI logs (GitHub Classroom) read this line; keep stdout pure JSON for machines.
    click.echo(feedback.points_line, err=fmt != "panel" or output is not None)
