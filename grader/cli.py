"""The ``grade`` command: a thin click layer over the library.

Only this module turns exceptions into messages and exit codes:
0 passed, 1 the submission has issues or could not run, 2 usage error,
3 infrastructure error (never the student's fault, never a zero).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn, get_args

import annotated_types
import click

from .__about__ import __version__
from .errors import (
    EXIT_INFRASTRUCTURE,
    EXIT_INTERRUPTED,
    EXIT_ISSUES,
    EXIT_PASSED,
    GraderError,
    InfrastructureError,
    UsageError,
)
from .formats import FORMATS, render
from .formats.gradescope import Visibility, gradescope_details, to_gradescope_json
from .formats.safe_text import terminal_text
from .models import Feedback, SandboxKind
from .report.triage import HELP_THRESHOLD
from .rubric import MAX_SCORE
from .settings import DEFAULT_IMAGE, GradeSettings, Limits
from .util import display_path, write_atomic


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


JOBS_OPTION = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="number of cores",
    help="Submissions graded in parallel.",
)
VISIBILITY = click.Choice(get_args(Visibility))
# --hide-details-until -> Gradescope's visibility of the details
HIDE_DETAILS: dict[str, str] = {
    "due_date": "after_due_date",
    "published": "after_published",
    "forever": "hidden",
    "none": "visible",
}

# flag -> Limits field; the default, the range and the help come from the field itself.
LIMIT_FLAGS: dict[str, str] = {
    "--timeout": "wall_timeout",
    "--test-timeout": "call_timeout",
    "--import-timeout": "import_timeout",
    "--memory": "memory_mb",
    "--worker-memory": "worker_memory_mb",
    "--cpus": "cpus",
    "--pids": "pids",
    "--tmpfs": "tmpfs_mb",
    "--open-files": "open_files",
    "--max-source-bytes": "max_source_bytes",
}


def limit_type(field: str) -> click.ParamType:
    """The click range of a Limits field, read from its pydantic constraint (``ge``)."""
    info = Limits.model_fields[field]
    low = next((rule.ge for rule in info.metadata if isinstance(rule, annotated_types.Ge)), None)
    if info.annotation is int:
        return click.IntRange(min=None if low is None else int(low))  # type: ignore[call-overload]
    return click.FloatRange(min=None if low is None else float(low))  # type: ignore[arg-type]


SETTINGS_OPTIONS = (*LIMIT_FLAGS.values(), "sandbox", "image", "unsafe_skip_policy")


def settings_options(sandbox_default: str = "docker") -> Any:
    """The sandbox, its limits and the image as flags (documented in the README); the
    command receives them as one ready ``settings: GradeSettings``."""

    def decorate(target: Any) -> Any:
        options = _limit_option_list(sandbox_default)
        if isinstance(target, click.Command):  # an already built command (grade serve):
            assert target.callback is not None  # each option is appended to its params
            target.callback = receiving_settings(target.callback)
        else:  # a function: each option goes in front of those below it
            target = receiving_settings(target)
            options.reverse()
        for option in options:
            target = option(target)
        return target

    return decorate


def receiving_settings(function: Any) -> Any:
    """``function`` called with the settings flags turned into ``settings=GradeSettings``."""

    @functools.wraps(function)
    def with_settings(*args: Any, **kwargs: Any) -> Any:
        options = {name: kwargs.pop(name) for name in SETTINGS_OPTIONS}
        return function(*args, settings=settings_from(options), **kwargs)

    return with_settings


def _limit_option_list(sandbox_default: str) -> list[Any]:
    options = [
        click.option(
            flag,
            field,
            type=limit_type(field),
            default=Limits.model_fields[field].default,
            show_default=True,
            help=Limits.model_fields[field].description,
        )
        for flag, field in LIMIT_FLAGS.items()
    ]
    options += [
        click.option(
            "--sandbox",
            type=click.Choice(get_args(SandboxKind)),
            default=sandbox_default,
            show_default=True,
            help="docker isolates the code; process runs it locally without isolation.",
        ),
        click.option(
            "--image", default=DEFAULT_IMAGE, show_default=True, help="Grader image (docker)."
        ),
        click.option(
            "--unsafe-skip-policy",
            is_flag=True,
            help="Skip the static source checks (only to test the sandbox itself).",
        ),
    ]
    return options


def settings_from(options: dict[str, Any]) -> GradeSettings:
    limits = Limits(**{field: options[field] for field in LIMIT_FLAGS.values()})
    return GradeSettings(
        sandbox=options["sandbox"],
        image=options["image"],
        limits=limits,
        policy=not options["unsafe_skip_policy"],
    )


@click.group(cls=GradeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grade")
def cli() -> None:
    """Grade a Mini-GPT submission: grade [check] minigpt.py

    \b
    Exit codes: 0 passed, 1 issues found or the file could not run,
    2 usage error, 3 infrastructure error (no verdict; not the student's fault).
    """


@cli.command("check")
@click.argument("submission", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="panel",
    show_default=True,
    help="panel for people, json (the feedback schema), gradescope or prairielearn "
    "(their results.json), junit (JUnit XML for CI).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the result to this file instead of stdout.",
)
@click.option(
    "--gradescope-visibility",
    type=VISIBILITY,
    default="visible",
    show_default=True,
    help="Visibility of the per-check tests in --format gradescope (after_due_date and "
    "after_published also hide the student's total score until then: Gradescope's rule).",
)
@click.option(
    "--gradescope-details",
    type=VISIBILITY,
    default="visible",
    show_default=True,
    help="When students see each check's details in --format gradescope; the tests (and "
    "the score) stay visible. Otherwise the details go to stdout (stderr without "
    "--output), marked stdout_visibility.",
)
@settings_options()
def check_command(
    submission: Path,
    fmt: str,
    output: Path | None,
    gradescope_visibility: str,
    gradescope_details: str,
    settings: GradeSettings,
) -> None:
    """Grade SUBMISSION (the student's minigpt.py, any file name)."""
    from .api import grade

    try:
        feedback = grade(submission, settings)
    except InfrastructureError as exc:  # machines read a not-gradable document too
        feedback = Feedback.not_gradable(" ".join(filter(None, [exc.message, exc.fix])))
        feedback.submission = display_path(submission.name)
        feedback.sandbox = settings.sandbox
        if fmt == "panel" and output is None:
            fail(exc)
        _emit(feedback, fmt, output, gradescope_visibility, gradescope_details)
        fail(exc)
    _emit(feedback, fmt, output, gradescope_visibility, gradescope_details)
    sys.exit(exit_code(feedback))


def _emit(
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


@cli.command("build-image")
@click.option("--tag", default=DEFAULT_IMAGE, show_default=True)
@click.option(
    "--base",
    default=None,
    help="Base image (default: python:3.11-slim if present or pullable, else one made "
    "offline with debootstrap).",
)
@click.option(
    "--if-stale", is_flag=True, help="Do nothing when the image already matches this grader."
)
def build_image_command(tag: str, base: str | None, if_stale: bool) -> None:
    """Build the sandbox image (hermetic; works without an image registry)."""
    from .errors import ImageMissing, ImageStale
    from .sandbox.docker_backend import check_image, docker_client
    from .sandbox.image import build_image

    client = docker_client()
    if if_stale:
        try:
            check_image(client, tag)
        except (ImageMissing, ImageStale):
            pass
        else:
            click.echo(f"{tag} is up to date.")
            return
    image_id = build_image(client, tag, base, log=lambda m: click.echo(m, err=True))
    click.echo(f"Built {tag} ({image_id[:19]})")


@cli.command("batch")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for results/<student>.json, gradebook.csv, summary.json, report.html and "
    "students/<student>.html.",
)
@JOBS_OPTION
@click.option(
    "--retries",
    type=click.IntRange(min=0, max=10),
    default=2,
    show_default=True,
    help="Extra attempts after an infrastructure error.",
)
@click.option(
    "--similarity",
    is_flag=True,
    help="Also compare every pair of submissions (beyond the skeleton) and list the "
    "similar pairs in report.html and summary.json.",
)
@click.option(
    "--similarity-threshold",
    type=click.FloatRange(min=0.0, max=1.0),
    default=0.6,
    show_default=True,
    help="List a pair when at least this fraction of one file's code is in the other.",
)
@click.option(
    "--help-threshold",
    type=click.FloatRange(min=0.0, max=MAX_SCORE),
    default=HELP_THRESHOLD,
    show_default=True,
    help="report.html's 'who needs help' lists the students below this many points, "
    "grouped by the checks they fail.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "junit"]),
    default="json",
    show_default=True,
    help="json: results/<student>.json (always written); junit: also junit.xml, one "
    "testsuite per student, for CI.",
)
@settings_options()
def batch_command(
    paths: tuple[Path, ...],
    out: Path,
    jobs: int,
    retries: int,
    similarity: bool,
    similarity_threshold: float,
    help_threshold: float,
    fmt: str,
    settings: GradeSettings,
) -> None:
    """Grade many submissions: files, folders of files, or one folder per student.

    Re-running the same command skips what is already graded. Exit code 0 when
    every submission got a verdict, 3 when some stayed not gradable.
    """
    from .batch import BatchGrader, ClassFiles, discover
    from .formats.batch_progress import BatchProgress, summary_table

    entries = discover(paths)
    if not entries:
        fail(UsageError("No submissions found in the given paths."))
    class_files = ClassFiles(
        help_threshold=help_threshold,
        junit=fmt == "junit",
        max_source_bytes=settings.limits.max_source_bytes,
    )
    grader = BatchGrader(settings, out, jobs=jobs, retries=retries, class_files=class_files)
    with BatchProgress(len(entries)) as progress:
        try:
            report = grader.run(entries, progress.update)
        except KeyboardInterrupt:  # the edge's message, plus how to resume
            say("Finished results are kept; run the same command to resume.", fg="yellow")
            raise
    if similarity:
        _compare_class(out, entries, class_files, similarity_threshold)
    click.echo(summary_table(out), err=True)
    say(
        f"{report.total} submissions: {report.graded} graded, {report.skipped} already "
        f"done, {report.not_gradable} not gradable. Results in {display_path(out)}"
    )
    sys.exit(EXIT_INFRASTRUCTURE if report.not_gradable else EXIT_PASSED)


def _compare_class(out: Path, entries: list[Any], class_files: Any, threshold: float) -> None:
    """The similarity pass after grading: rewrites the class files with the similar pairs."""
    from dataclasses import replace

    from .batch import write_class_files
    from .report.similarity import SimilaritySettings

    settings = SimilaritySettings(
        threshold=threshold, max_source_bytes=class_files.max_source_bytes
    )
    click.echo("Comparing every pair of submissions...", err=True)
    write_class_files(out, entries, replace(class_files, similarity=settings))
    found = json.loads((out / "summary.json").read_text(encoding="utf-8"))["similarity"]
    say(
        f"{len(found['pairs'])} similar pairs (at least {threshold:.0%} shared) among "
        f"{found['submissions']} files: see {display_path(out / 'report.html')}"
    )


@cli.command("gradescope-package")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("autograder.zip"),
    show_default=True,
)
@click.option(
    "--hide-details-until",
    "hide_details",
    type=click.Choice(list(HIDE_DETAILS)),
    default="due_date",
    show_default=True,
    help="When students see each check's details (messages, hints); the score and each "
    "check's points show at once (unless --visibility hides the tests). none: details at "
    "once too; forever: never to students.",
)
@click.option(
    "--visibility",
    type=VISIBILITY,
    default="visible",
    show_default=True,
    help="Visibility of the per-check tests themselves. after_due_date or after_published "
    "also hide the student's total score until then (Gradescope's rule).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=10),
    default=600.0,
    show_default=True,
    help="Wall-clock seconds per submission.",
)
def gradescope_package_command(
    out: Path, hide_details: str, visibility: str, timeout: float
) -> None:
    """Build the autograder zip to upload to Gradescope (process backend inside)."""
    from .gradescope_package import build_package

    path = build_package(
        out, visibility=visibility, details=HIDE_DETAILS[hide_details], timeout=timeout
    )
    click.echo(f"Wrote {path}: upload it as the assignment's autograder (zip file).")


@cli.command("selftest")
@JOBS_OPTION
@click.option(
    "--bank",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Folder with mutations.py and correct_*.py (default: the bank shipped with the "
    "grader, tests/solutions in a checkout).",
)
@settings_options(sandbox_default="process")
def selftest_command(jobs: int, bank: Path | None, settings: GradeSettings) -> None:
    """Prove the hidden suite: every known bug caught, every correct solution passed.

    Run it after editing the suite (tests/solutions/ holds the bank). It uses the
    process backend by default: the suite is under test here, not the sandbox.
    """
    from .selftest import SOLUTIONS_DIR, CaseResult, run_selftest

    def show(result: CaseResult) -> None:
        mark = click.style("ok  ", fg="green") if result.ok else click.style("FAIL", fg="red")
        click.echo(f"{mark} {terminal_text(f'{result.case.name}: {result.detail}')}")

    results = run_selftest(settings, jobs=jobs, on_result=show, directory=bank or SOLUTIONS_DIR)
    bad = [r for r in results if not r.ok]
    click.echo(f"{len(results) - len(bad)} passed, {len(bad)} failed")
    sys.exit(EXIT_ISSUES if bad else EXIT_PASSED)


@cli.command("student-kit")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="A new folder, or a file ending in .zip.",
)
@click.option(
    "--submit-text",
    "submit_text",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A UTF-8 Markdown file: the README's 'How to submit' section (a default otherwise).",
)
def student_kit_command(out: Path, submit_text: Path | None) -> None:
    """Write what students get: skeleton, pack, public tests, check.py, train.py, README."""
    from .student_kit import build_kit, read_submit_text

    text = read_submit_text(submit_text) if submit_text is not None else None
    path = build_kit(out, text)
    say(f"Wrote the student kit to {display_path(path)} (no hidden tests, no reference).")


@cli.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the feedback (--format json)."""
    from .formats.json_format import json_schema

    click.echo(json_schema(), nl=False)


# The grading service (grade serve / worker / submit); its stack is imported only when run.
from .service.commands import service_commands  # noqa: E402

for _command in service_commands():
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="grade")


if __name__ == "__main__":
    main()
