"""Runs one submission through the hidden suite and returns its Feedback.

Order matters: the source is checked before anything runs, then the worker
imports the submission (a failure there is the student's error, reported
once), then pytest runs the hidden suite in this process with the judge
plugin, and the pytest-json-report file is turned into the verdict.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

import pytest

from .. import paths
from ..__about__ import __version__
from ..models import ErrorInfo, Feedback, OutputInfo
from ..policy import check_source
from ..settings import JudgeConfig
from .failures import StudentError
from .plugin import JudgePlugin
from .subjects import ReferenceSubject, StudentSubject, load_reference
from .verdict import Outcome, error_feedback, feedback_from_outcomes, infrastructure_feedback
from .worker_client import OutputSink, WorkerClient, WorkerSpec

IMPORT_ERROR_KINDS = {"timeout": "timeout", "memory": "memory", "exit": "crash", "crash": "crash"}


def judge_submission(submission: Path, config: JudgeConfig) -> Feedback:
    """Grade ``submission``; every student failure ends up inside the Feedback."""
    started = time.monotonic()
    raw = submission.read_bytes()
    sink = OutputSink()
    feedback = _judge(raw, submission, config, sink)
    feedback.submission = submission.name
    feedback.submission_sha256 = hashlib.sha256(raw).hexdigest()
    feedback.grader_version = __version__
    feedback.suite_hash = paths.suite_hash()
    feedback.durations.judge = round(time.monotonic() - started, 3)
    feedback.student_output = OutputInfo(bytes=sink.bytes)
    return feedback


def _judge(raw: bytes, submission: Path, config: JudgeConfig, sink: OutputSink) -> Feedback:
    if config.policy:
        problem = check_source(raw, max_bytes=config.max_source_bytes, pack_dir=config.pack_dir)
        if problem is not None:
            return error_feedback(problem)
    with tempfile.TemporaryDirectory(prefix="judge-") as private:
        spec = WorkerSpec(
            python=config.python,
            worker_main=config.worker_dir / "main.py",
            pack_dir=config.pack_dir,
            submission=submission.resolve(),
            scratch_dir=Path(private) / "scratch",
            memory_bytes=config.worker_memory_mb << 20,
            prefix=tuple(config.worker_prefix),
        )
        client = WorkerClient(spec, import_timeout=config.import_timeout, output=sink)
        try:
            client.start()
        except StudentError as exc:
            kind = IMPORT_ERROR_KINDS.get(exc.kind, "import")
            message = f"Importing your file failed: {exc}"
            if exc.kind == "timeout":
                message = (
                    f"Importing your file did not finish within {config.import_timeout:g} s: "
                    'move training and other long work under `if __name__ == "__main__":`'
                )
            return error_feedback(ErrorInfo(kind=kind, message=message, line=exc.line))
        try:
            reference = ReferenceSubject(load_reference(config.reference_path, config.pack_dir))
            student = StudentSubject(client, config.call_timeout)
            report = Path(private) / "report.json"
            outcomes = run_suite(JudgePlugin(student, reference), report)
        finally:
            client.close()
    if not outcomes:
        return infrastructure_feedback("The grader failed: the hidden suite reported no tests.")
    return feedback_from_outcomes(outcomes)


def run_suite(plugin: JudgePlugin, report: Path) -> list[Outcome]:
    """Run the hidden suite with pytest in this process; read back its JSON report.

    Plugin autoloading is off: whatever else is installed (pytest-randomly,
    xdist...) must not reorder or alter the hidden suite. Only the two
    plugins the judge relies on are loaded, by name.
    """
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    args = [
        "-p",
        "pytest_jsonreport.plugin",
        "-p",
        "pytest_timeout",
        str(paths.SUITE_DIR),
        "-c",
        str(paths.SUITE_DIR / "suite.ini"),
        "--rootdir",
        str(paths.SUITE_DIR),
        "-q",
        "-p",
        "no:cacheprovider",
        "--assert=plain",
        "--json-report",
        f"--json-report-file={report}",
        "--json-report-omit",
        "collectors",
        "log",
        "streams",
        "keywords",
        "traceback",
    ]
    code = pytest.main(args, plugins=[plugin])
    if not report.exists():
        raise RuntimeError(f"the hidden suite did not run (pytest exit {code})")
    return outcomes_from_report(json.loads(report.read_text()))


def outcomes_from_report(report: dict[str, Any]) -> list[Outcome]:
    """pytest-json-report's ``tests`` list -> Outcomes (setup errors count as failures)."""
    outcomes = []
    for test in report.get("tests", []):
        meta = test.get("metadata") or {}
        failure = meta.get("failure") or {}
        passed = test.get("outcome") == "passed"
        internal = meta.get("internal")
        if not passed and not failure and not internal:
            internal = f"test ended as {test.get('outcome')} without a reason"
        outcomes.append(
            Outcome(
                check=meta.get("check"),
                title=meta.get("title") or test.get("nodeid", "?"),
                passed=passed,
                kind=failure.get("kind", "check"),
                message=failure.get("message", ""),
                hint=failure.get("hint"),
                line=failure.get("line"),
                internal=None if passed else internal,
            )
        )
    return outcomes


def print_feedback(feedback: Feedback, out: TextIO) -> None:
    out.write(feedback.model_dump_json() + "\n")
    out.flush()
