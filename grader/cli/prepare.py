"""What an instructor runs around the grading: ``grade build-image`` (the sandbox),
``grade selftest`` (the hidden suite proven on the bank), ``grade student-kit`` and
``grade gradescope-package`` (what students and Gradescope are given).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import EXIT_ISSUES, EXIT_PASSED, ImageMissing, ImageStale
from ..formats.safe_text import terminal_text
from ..settings import DEFAULT_IMAGE, GradeSettings
from ..util import display_path
from .options import JOBS_OPTION, VISIBILITY, settings_options
from .output import say

# --hide-details-until -> Gradescope's visibility of the details
HIDE_DETAILS: dict[str, str] = {
    "due_date": "after_due_date",
    "published": "after_published",
    "forever": "hidden",
    "none": "visible",
}


@click.command("build-image")
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
    from ..sandbox.docker_backend import check_image, docker_client
    from ..sandbox.image import build_image

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


@click.command("gradescope-package")
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
    from ..gradescope_package import build_package

    path = build_package(
        out, visibility=visibility, details=HIDE_DETAILS[hide_details], timeout=timeout
    )
    click.echo(f"Wrote {path}: upload it as the assignment's autograder (zip file).")


@click.command("selftest")
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
    from ..selftest import SOLUTIONS_DIR, CaseResult, run_selftest

    def show(result: CaseResult) -> None:
        mark = click.style("ok  ", fg="green") if result.ok else click.style("FAIL", fg="red")
        click.echo(f"{mark} {terminal_text(f'{result.case.name}: {result.detail}')}")

    results = run_selftest(settings, jobs=jobs, on_result=show, directory=bank or SOLUTIONS_DIR)
    bad = [r for r in results if not r.ok]
    click.echo(f"{len(results) - len(bad)} passed, {len(bad)} failed")
    sys.exit(EXIT_ISSUES if bad else EXIT_PASSED)


@click.command("student-kit")
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
    from ..student_kit import build_kit, read_submit_text

    text = read_submit_text(submit_text) if submit_text is not None else None
    path = build_kit(out, text)
    say(f"Wrote the student kit to {display_path(path)} (no hidden tests, no reference).")
