"""Runs one submission through the hidden suite and returns its Feedback's data.

Order matters: every module the judge will ever import (pytest, its two
plugins, the hidden suite) is imported, and pytest has started and collected
the suite, before the file is even read, so nothing the student's process
writes can be imported later and a judge started ahead of need has done all
of it by the time its file comes. Then, from pytest's test loop (the judge
plugin's ``begin``): the source is checked before anything runs, the worker
imports the submission (a failure there is the student's error, reported
once), the hidden suite's tests run in this process, and the
pytest-json-report file is turned into the verdict.

The verdict is plain data (see :mod:`.verdict`): pydantic is imported only on
the rare paths (a refused file, a failed import, our own failure), never for a
file the suite runs on.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import pytest
import pytest_jsonreport.plugin
import pytest_timeout

from .. import paths, procfs
from ..__about__ import __version__
from ..policy import check_source
from .config import JudgeConfig
from .delivery import NoSubmission
from .failures import StudentError
from .plugin import JudgePlugin
from .remote import Student
from .verdict import Outcome, verdict
from .worker_client import OutputSink, WorkerClient, WorkerSpec, seccomp_library

if TYPE_CHECKING:
    from ..models import ErrorInfo

IMPORT_ERROR_KINDS = {
    "timeout": "timeout",
    "memory": "memory",
    "exit": "crash",
    "crash": "crash",
    "recursion": "crash",
}
PLUGINS = (pytest_jsonreport.plugin, pytest_timeout)
UNUSED_PYTEST_PLUGINS = (
    "cacheprovider",
    "logging",
    "warnings",
    "unraisableexception",
    "threadexception",
    "faulthandler",
    "doctest",
    "junitxml",
    "pastebin",
    "stepwise",
    "monkeypatch",
    "recwarn",
    "setuponly",
    "setupplan",
)


def preload_suite() -> int:
    """Import every hidden-suite module now; returns how many there are."""
    modules = sorted(paths.SUITE_DIR.glob("*.py"))
    for path in modules:
        importlib.import_module(f"grader.suite.{path.stem}")
    return len(modules)


def prepare(config: JudgeConfig) -> None:
    """Do now what any grading needs and no file decides: import the hidden suite and
    let the source policy read the pack. A judge started ahead of need calls this
    before its file arrives, so a grading does not wait for either."""
    preload_suite()
    if config.policy:
        check_source(b"from engine import Value\n", pack_dir=config.pack_dir)


def grading_seed(raw: bytes, key_file: Path | None) -> str:
    """Seed of this grading's probe inputs: fixed for these bytes, unknown to them.

    The key is a file only the judge can read (made when the image is built);
    without one (the process backend), the suite hash stands in and the inputs
    are merely unpredictable in practice, not secret.
    """
    key = paths.suite_hash().encode()
    if key_file is not None:
        with contextlib.suppress(OSError):
            key = key_file.read_bytes()
    return hmac.new(key, raw, hashlib.sha256).hexdigest()[:32]


def process_age() -> float:
    """Seconds since this process started (its interpreter start-up and imports), or 0."""
    stat, now = procfs.read_stat("self"), procfs.uptime()
    if stat is None or now is None:
        return 0.0
    return max(0.0, now - stat.start_ticks / procfs.TICKS)


def judge_submission(receive: Callable[[], Path], config: JudgeConfig) -> dict[str, Any] | None:
    """Grade the file ``receive`` gives: a Feedback's data, with every student failure
    inside it.

    Everything no file decides comes first: the hidden suite's import, pytest's
    start-up and collection, the policy's view of the pack. Only then is
    ``receive`` called: it may block until the file arrives (a judge started
    ahead of need), or raise NoSubmission, and then there is no verdict (None).
    """
    sink = OutputSink()
    spent: dict[str, float] = {}  # seconds per phase, named as in models.Durations
    prepare(config)
    grading = _Grading(receive, config, sink, spent)
    with tempfile.TemporaryDirectory(prefix="report-") as private:
        report = Path(private) / "report.json"
        try:
            code = run_pytest(JudgePlugin(grading.begin), report)
        finally:
            if grading.client is not None:
                grading.client.shutdown()
        ended = time.monotonic()
        if grading.raw is None:
            return None
        feedback = grading.refused or _verdict(code, report, grading, spent, ended)
    spent["judge"] = time.monotonic() - grading.received
    return {
        **feedback,
        "submission": grading.name,
        "submission_sha256": hashlib.sha256(grading.raw).hexdigest(),
        "grader_version": __version__,
        "suite_hash": paths.suite_hash(),
        "durations": {k: round(v, 3) for k, v in spent.items()},
        "student_output": {"bytes": sink.bytes},
    }


def error_feedback(error: ErrorInfo) -> dict[str, Any]:
    """A file that cannot run (refused, or its import failed): the zero of the model's
    constructor, as data. ``error`` is a model, so pydantic is imported already."""
    from ..models import Feedback

    return Feedback.from_error(error).model_dump()


def not_gradable(message: str) -> dict[str, Any]:
    """Our own failure, as data: never a student's zero."""
    from ..models import Feedback

    return Feedback.not_gradable(message).model_dump()


class _Grading:
    """One grading's state, filled in once the file is there (pytest calls ``begin``
    after collecting the suite, before the first test)."""

    def __init__(
        self,
        receive: Callable[[], Path],
        config: JudgeConfig,
        sink: OutputSink,
        spent: dict[str, float],
    ) -> None:
        self.receive = receive
        self.config = config
        self.sink = sink
        self.spent = spent
        self.raw: bytes | None = None  # None: no file came
        self.name = ""
        self.received = time.monotonic()
        self.refused: dict[str, Any] | None = None  # why the suite does not run on this file
        self.client: WorkerClient | None = None

    def begin(self) -> Student | None:
        """The submission to run the suite on, or None (no file; a refused file, a failed
        import: then ``refused`` holds the verdict)."""
        self.spent["judge_startup"] = process_age()
        waiting = time.monotonic()
        try:
            path = self.receive()
        except NoSubmission as exc:
            print(f"judge: {exc}; nothing was graded", file=sys.stderr)
            return None
        self.received = time.monotonic()
        self.spent["idle"] = self.received - waiting
        self.raw = path.read_bytes()
        self.name = path.name
        config = self.config
        if config.policy:
            problem = check_source(
                self.raw, max_bytes=config.max_source_bytes, pack_dir=config.pack_dir
            )
            if problem is not None:
                self.refused = error_feedback(problem)
                return None
        spec = WorkerSpec(
            python=config.python,
            worker_main=config.worker_dir / "main.py",
            pack_dir=config.pack_dir,
            submission=path.resolve(),
            memory_bytes=config.worker_memory_mb << 20,
            prefix=tuple(config.worker_prefix),
            sweep=config.sweep_processes,
            seccomp=seccomp_library(config.seccomp),
            scratch=config.worker_scratch,
            cgroup=config.container_cgroup,
        )
        self.client = WorkerClient(spec, import_timeout=config.import_timeout, output=self.sink)
        try:
            self.client.start()
        except StudentError as exc:
            self.spent["worker_imports"] = self.client.spent.starts
            self.refused = error_feedback(import_error(exc, config.import_timeout))
            return None
        seed = grading_seed(self.raw, config.probe_key_file)
        return Student(self.client, config.call_timeout, seed)


def import_error(exc: StudentError, import_timeout: float) -> ErrorInfo:
    """A failed import of the submission, as the student's error."""
    from ..models import ErrorInfo

    kind = IMPORT_ERROR_KINDS.get(exc.kind, "import")
    message = f"Importing your file failed: {exc}"
    if exc.kind == "timeout" and exc.record.get("message"):  # stopped, not slow
        message = f"Importing your file failed: {exc.record['message']}"
    elif exc.kind == "timeout":
        message = (
            f"Importing your file did not finish within {import_timeout:g} s: "
            'move training and other long work under `if __name__ == "__main__":`'
        )
    return ErrorInfo(kind=kind, message=message, line=exc.line)


def _verdict(
    code: int, report: Path, grading: _Grading, spent: dict[str, float], ended: float
) -> dict[str, Any]:
    """The verdict of a suite that ran, from pytest's report."""
    client = grading.client
    assert client is not None
    outcomes = read_report(code, report)
    if os.environ.get("GRADER_TIMINGS") == "1":  # benchmarks read each op's CPU margin
        print("GRADER_TIMINGS " + json.dumps(client.slowest), file=sys.stderr)
    spent["worker_imports"] = client.spent.starts
    spent["probes"] = client.spent.requests
    spent["probes_cpu"] = client.spent.requests_cpu
    spent["checks"] = max(0.0, ended - grading.received - client.spent.starts - spent["probes"])
    if outcomes is None:
        return not_gradable("The grader failed: the hidden suite did not run fully.")
    began = time.monotonic()
    feedback = verdict(outcomes)
    spent["report"] = time.monotonic() - began
    return feedback


def run_pytest(plugin: JudgePlugin, report: Path) -> int:
    """Run the hidden suite with pytest in this process, writing its JSON report.

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
        # Built-in plugins the hidden suite has no use for; each costs start-up or
        # per-test time (log capture, warnings capture, a forced gc at the end...).
        *(f"-pno:{name}" for name in UNUSED_PYTEST_PLUGINS),
        "--capture=no",  # the judge prints nothing; the student's output never reaches it
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
    return int(pytest.main(args, plugins=[plugin]))


def read_report(code: int, report: Path) -> list[Outcome] | None:
    """The outcomes of pytest's report; None when the suite ran fewer tests than it
    collected, or pytest itself failed: our anomaly."""
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) or not report.exists():
        return None
    data = json.loads(report.read_text())
    outcomes = outcomes_from_report(data)
    collected = (data.get("summary") or {}).get("collected")
    if not outcomes or collected != len(outcomes):
        return None
    return outcomes


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


def print_feedback(feedback: dict[str, Any], out: TextIO) -> None:
    """The one line the host reads; never fails on text that came from the student
    (a lone surrogate the cleaning missed becomes "?")."""
    try:
        line = json.dumps(feedback, ensure_ascii=False, allow_nan=False)
    except ValueError:  # a NaN or inf somewhere: our bug, and the host's contract refuses it
        line = json.dumps(
            not_gradable("The grader failed: its verdict held a number that is not finite.")
        )
    out.write(line.encode("utf-8", "replace").decode("utf-8") + "\n")
    out.flush()
