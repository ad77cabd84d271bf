"""``grade [check] FILE`` (one submission), ``grade batch`` (a class) and ``grade schema``.

The library raises; these commands let its errors rise to the group's edge
(:mod:`.app`) and print through :mod:`.output`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import EXIT_INFRASTRUCTURE, EXIT_PASSED, InfrastructureError, UsageError
from ..formats import FORMATS
from ..models import Feedback
from ..report.triage import HELP_THRESHOLD
from ..rubric import MAX_SCORE
from ..settings import GradeSettings
from ..util import display_path
from .options import JOBS_OPTION, VISIBILITY, settings_options
from .output import emit, exit_code, fail, say


@click.command("check")
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
    from ..api import grade

    try:
        feedback = grade(submission, settings)
    except InfrastructureError as exc:  # machines read a not-gradable document too
        feedback = Feedback.not_gradable(" ".join(filter(None, [exc.message, exc.fix])))
        feedback.submission = display_path(submission.name)
        feedback.sandbox = settings.sandbox
        if fmt == "panel" and output is None:
            fail(exc)
        emit(feedback, fmt, output, gradescope_visibility, gradescope_details)
        fail(exc)
    emit(feedback, fmt, output, gradescope_visibility, gradescope_details)
    sys.exit(exit_code(feedback))


@click.command("batch")
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
    from ..batch import BatchGrader, ClassFiles, discover
    from ..formats.batch_progress import BatchProgress, summary_table

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

    from ..batch import write_class_files
    from ..report.similarity import SimilaritySettings

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


@click.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the feedback (--format json)."""
    from ..formats.json_format import json_schema

    click.echo(json_schema(), nl=False)
