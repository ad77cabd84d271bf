"""The ``grade`` command: a thin click layer over the library.

Only this module turns exceptions into messages and exit codes:
0 passed, 1 the submission has issues or could not run, 2 usage error,
3 infrastructure error (never the student's fault, never a zero).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import click

from .__about__ import __version__
from .errors import EXIT_INFRASTRUCTURE, EXIT_ISSUES, EXIT_PASSED, GraderError, InfrastructureError
from .formats import FORMATS, render
from .formats.gradescope import to_gradescope_json
from .judge.verdict import infrastructure_feedback
from .models import Feedback
from .settings import DEFAULT_IMAGE, GradeSettings, Limits

DEFAULTS = Limits()


class DefaultCommandGroup(click.Group):
    """``grade FILE`` means ``grade check FILE``; subcommands still work by name."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["check", *args]
        return super().parse_args(ctx, args)


def exit_code(feedback: Feedback) -> int:
    if not feedback.gradable:
        return EXIT_INFRASTRUCTURE
    return EXIT_PASSED if feedback.status == "passed" else EXIT_ISSUES


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file or nothing (a crash never leaves half a result)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fail(error: GraderError) -> NoReturn:
    click.secho(f"Error: {error.message}", fg="red", err=True)
    if error.fix:
        click.echo(error.fix, err=True)
    sys.exit(error.exit_code)


def limit_options(function: Any) -> Any:
    """The sandbox limits as flags; defaults come from Limits (documented in the README)."""
    options = [
        click.option("--timeout", "wall_timeout", type=click.FloatRange(min=1),
                     default=DEFAULTS.wall_timeout, show_default=True,
                     help="Seconds before the whole run is killed."),
        click.option("--test-timeout", "call_timeout", type=click.FloatRange(min=0.5),
                     default=DEFAULTS.call_timeout, show_default=True,
                     help="Base seconds for one probe of the student's code (heavy checks get a multiple)."),
        click.option("--memory", "memory_mb", type=click.IntRange(min=128),
                     default=DEFAULTS.memory_mb, show_default=True,
                     help="Container memory in MiB (swap equal to it)."),
        click.option("--worker-memory", "worker_memory_mb", type=click.IntRange(min=64),
                     default=DEFAULTS.worker_memory_mb, show_default=True,
                     help="Address space of the student's process in MiB."),
        click.option("--cpus", type=click.FloatRange(min=0.1), default=DEFAULTS.cpus,
                     show_default=True, help="CPU quota of the container."),
        click.option("--pids", type=click.IntRange(min=8), default=DEFAULTS.pids,
                     show_default=True, help="Process/thread limit of the container."),
        click.option("--sandbox", type=click.Choice(["docker", "process"]), default="docker",
                     show_default=True,
                     help="docker isolates the code; process runs it locally without isolation."),
        click.option("--image", default=DEFAULT_IMAGE, show_default=True,
                     help="Grader image (docker sandbox)."),
        click.option("--unsafe-skip-policy", is_flag=True,
                     help="Skip the static source checks (only to test the sandbox itself)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def settings_from(options: dict[str, Any]) -> GradeSettings:
    limits = Limits(
        wall_timeout=options["wall_timeout"],
        call_timeout=options["call_timeout"],
        memory_mb=options["memory_mb"],
        worker_memory_mb=options["worker_memory_mb"],
        cpus=options["cpus"],
        pids=options["pids"],
    )
    return GradeSettings(
        sandbox=options["sandbox"],
        image=options["image"],
        limits=limits,
        policy=not options["unsafe_skip_policy"],
    )


@click.group(cls=DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grade")
def cli() -> None:
    """Grade a Mini-GPT submission: grade [check] minigpt.py

    \b
    Exit codes: 0 passed, 1 issues found or the file could not run,
    2 usage error, 3 infrastructure error (no verdict; not the student's fault).
    """


@cli.command("check")
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="panel", show_default=True,
              help="panel for people, json (the feedback schema), gradescope (results.json).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result to this file instead of stdout.")
@click.option("--gradescope-visibility",
              type=click.Choice(["visible", "hidden", "after_due_date", "after_published"]),
              default="visible", show_default=True,
              help="Visibility of the per-check tests in --format gradescope.")
@limit_options
def check_command(submission: Path, fmt: str, output: Path | None,
                  gradescope_visibility: str, **options: Any) -> None:
    """Grade SUBMISSION (the student's minigpt.py, any file name)."""
    from .api import grade

    settings = settings_from(options)
    try:
        feedback = grade(submission, settings)
    except InfrastructureError as exc:
        feedback = infrastructure_feedback(" ".join(filter(None, [exc.message, exc.fix])))
        feedback.submission = submission.name
        feedback.sandbox = settings.sandbox
        if fmt == "panel" and output is None:
            fail(exc)
        _emit(feedback, fmt, output, gradescope_visibility)
        fail(exc)
    except GraderError as exc:
        fail(exc)
    _emit(feedback, fmt, output, gradescope_visibility)
    sys.exit(exit_code(feedback))


def _emit(feedback: Feedback, fmt: str, output: Path | None, visibility: str) -> None:
    if fmt == "gradescope":
        text = to_gradescope_json(feedback, visibility)  # type: ignore[arg-type]
    else:
        text = render(feedback, fmt, color=output is None and sys.stdout.isatty())  # type: ignore[arg-type]
    if output is not None:
        write_atomic(output, text)
        click.echo(feedback.points_line, err=True)
        return
    click.echo(text, nl=False)
    # CI logs (GitHub Classroom) read this line; keep stdout pure JSON for machines.
    click.echo(feedback.points_line, err=fmt != "panel")


@cli.command("build-image")
@click.option("--tag", default=DEFAULT_IMAGE, show_default=True)
@click.option("--base", default=None,
              help="Base image (default: python:3.11-slim if present or pullable, else one made "
              "offline with debootstrap).")
def build_image_command(tag: str, base: str | None) -> None:
    """Build the sandbox image (hermetic; works without an image registry)."""
    from .sandbox.docker_backend import docker_client
    from .sandbox.image import build_image

    try:
        image_id = build_image(docker_client(), tag, base, log=lambda m: click.echo(m, err=True))
    except GraderError as exc:
        fail(exc)
    click.echo(f"Built {tag} ({image_id[:19]})")


@cli.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the feedback (--format json)."""
    from .formats.json_format import json_schema

    click.echo(json_schema(), nl=False)


def main() -> None:
    cli(prog_name="grade")


if __name__ == "__main__":
    main()
