"""Entry point inside the sandbox: ``python -m grader.judge --submission F [--stdin]``.

With ``--stdin`` the judge starts up, then waits for the file on its standard
input (:mod:`.delivery`): the Docker backend starts containers ahead of need.

Stdout carries exactly one line, the Feedback JSON (the host reads it back);
everything else, pytest's own output included, goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .config import JudgeConfig
from .delivery import NO_SUBMISSION, WAIT_SECONDS, detach_stdin, private_copy, read_frame
from .runner import judge_submission, not_gradable, print_feedback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.judge", description=__doc__)
    parser.add_argument(
        "--submission",
        type=Path,
        required=True,
        help="the file; with --stdin, where to write the file received",
    )
    parser.add_argument(
        "--stdin",
        action="store_true",
        help="once started up, wait for the file on standard input (its length, a "
        "newline, its bytes)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=WAIT_SECONDS,
        help=f"with --stdin: seconds to wait for the file, then exit {NO_SUBMISSION}",
    )
    parser.add_argument(
        "--config",
        default=None,
        help="JudgeConfig as JSON (default: $GRADER_JUDGE_CONFIG, which other uids cannot read)",
    )
    args = parser.parse_args(argv)
    args.submission = args.submission.resolve()  # before the chdir below
    from_environment = os.environ.pop("GRADER_JUDGE_CONFIG", "{}")
    config_text = args.config or from_environment
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
            config = JudgeConfig.from_json(config_text)
            feedback = judge_submission(_receiver(args, config), config)
        except Exception as exc:  # our failure: never a student's zero
            feedback = not_gradable(
                f"The grader failed inside the sandbox: {type(exc).__name__}: {exc}"
            )
        if feedback is None:
            return NO_SUBMISSION
        print_feedback(feedback, result)
    return 0


def _receiver(args: argparse.Namespace, config: JudgeConfig) -> Callable[[], Path]:
    """How the judge gets its file once it has started up: from its stdin, or the path."""
    if not args.stdin:
        path: Path = args.submission
        return lambda: path

    def receive() -> Path:
        raw = read_frame(0, config.max_source_bytes, args.wait)  # NoSubmission: none came
        detach_stdin()
        return private_copy(raw, args.submission)

    return receive


if __name__ == "__main__":
    code = main()
    # The verdict is written and flushed and the worker shut down; the scratch
    # folder belongs to the sandbox, which discards it. Skip the interpreter's
    # teardown (tens of milliseconds freeing pytest's and pydantic's objects).
    sys.stderr.flush()
    os._exit(code)
