"""The floor: the hidden suite in one pytest process, no worker, no sandbox.

Both subjects run in-process (the "student" is imported like the reference),
which is exactly the judge's own work without any isolation. Used by
bench_latency.py; not a way to grade anyone.

    python benchmarks/bare_suite.py path/to/minigpt.py [--timings]

With --timings it prints, as JSON, each probe's time next to the per-call
limit the judge would give it (call_timeout x budget): the timeout margin.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from grader import paths
from grader.judge.plugin import JudgePlugin
from grader.judge.runner import run_suite
from grader.judge.subjects import ReferenceSubject, load_reference
from grader.settings import Limits


class TimingSubject:
    """Runs every probe in-process, uncached, and records its time and its limit."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.records: list[dict[str, Any]] = []

    def run(self, probe: str, budget: float = 1.0, **args: Any) -> Any:
        from grader.worker import probes  # needs the pack on sys.path: imported late

        started = time.perf_counter()
        result = probes.PROBES[probe](self.module, **args)
        seconds = time.perf_counter() - started
        limit = Limits().call_timeout * budget
        self.records.append({"probe": probe, "seconds": seconds, "limit": limit})
        return result


def load_as(name: str, path: Path) -> ModuleType:
    """Import ``path`` under its own module name (two files, two modules)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    submission = Path(sys.argv[1]).resolve()
    sys.path.insert(0, str(paths.TEMPLATE_DIR))
    module = load_as("minigpt_submission", submission)
    timing = "--timings" in sys.argv[2:]
    student: Any = TimingSubject(module) if timing else ReferenceSubject(module)
    reference = ReferenceSubject(load_reference(paths.REFERENCE_PATH, paths.TEMPLATE_DIR))
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = run_suite(JudgePlugin(student, reference), Path(tmp) / "report.json")
    failed = [o.title for o in outcomes if not o.passed]
    print(f"{len(outcomes)} tests, {len(failed)} failed", file=sys.stderr)
    if timing:
        worst = min(student.records, key=lambda r: r["limit"] / max(r["seconds"], 1e-9))
        print(json.dumps({"worst": worst, "total": sum(r["seconds"] for r in student.records)}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
