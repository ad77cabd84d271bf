"""Entry point inside the sandbox: ``python -m grader.judge --submission F``.

Stdout carries exactly one line, the Feedback JSON (the host reads it back);
everything else, pytest's own output included, goes to stderr.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
from pathlib import Path

from ..models import Feedback
from ..settings import SUBMISSION_ENV, JudgeConfig
from .runner import judge_submission, print_feedback, process_age


def inline_submission(where: Path) -> Path | None:
    """The submission the host put in $GRADER_SUBMISSION, written as ``where``'s name
    in a fresh folder beside it; None when the variable is not set.

    Cheaper for the Docker engine than copying a file into the container (one
    tar extraction process less per grading). The folder and the file belong to
    the judge's uid and are read-only to everyone else, so the student's uid can
    read the file but never change, move or replace it.
    """
    encoded = os.environ.pop(SUBMISSION_ENV, None)
    if encoded is None:
        return None
    folder = Path(tempfile.mkdtemp(prefix="submission-", dir=where.parent))
    path = folder / where.name
    path.write_bytes(base64.b64decode(encoded, validate=True))
    path.chmod(0o444)
    folder.chmod(0o555)
    return path


def main(argv: list[str] | None = None) -> int:
    startup = process_age()  # the interpreter's start and the imports above
    parser = argparse.ArgumentParser(prog="python -m grader.judge", description=__doc__)
    parser.add_argument(
        "--submission",
        type=Path,
        required=True,
        help=f"the file; with ${SUBMISSION_ENV} set (base64 bytes), where to write it",
    )
    parser.add_argument(
        "--config",
        default=None,
        help="JudgeConfig as JSON (default: $GRADER_JUDGE_CONFIG, which other uids cannot read)",
    )
    args = parser.parse_args(argv)
    submission = inline_submission(args.submission) or args.submission.resolve()
    config_text = os.environ.pop("GRADER_JUDGE_CONFIG", "{}")
    # A private (0700) working and temporary folder: nothing another uid wrote
    # is ever in the judge's way, and its own files are nobody else's to read.
    private = tempfile.mkdtemp(prefix="judge-")
    os.chdir(private)
    os.environ["TMPDIR"] = private
    tempfile.tempdir = private
    result_fd = os.dup(1)
    os.dup2(2, 1)  # from here on, anything printed lands on stderr
    sys.stdout = sys.stderr
    with os.fdopen(result_fd, "w", encoding="utf-8") as result:
        try:
            config = JudgeConfig.model_validate_json(args.config or config_text)
            feedback = judge_submission(submission, config, startup)
        except Exception as exc:  # our failure: never a student's zero
            feedback = Feedback.not_gradable(
                f"The grader failed inside the sandbox: {type(exc).__name__}: {exc}"
            )
        print_feedback(feedback, result)
    return 0


if __name__ == "__main__":
    code = main()
    # The verdict is written and flushed and the worker shut down; the scratch
    # folder belongs to the sandbox, which discards it. Skip the interpreter's
    # teardown (tens of milliseconds freeing pytest's and pydantic's objects).
    sys.stderr.flush()
    os._exit(code)
