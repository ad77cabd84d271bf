"""The floor: the hidden suite in one pytest process, no worker, no sandbox.

Both subjects run in-process (the "student" is imported like the reference),
which is exactly the judge's own work without any isolation. Used by
bench_latency.py; not a way to grade anyone.

    python benchmarks/bare_suite.py path/to/minigpt.py
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from grader import paths
from grader.judge.plugin import JudgePlugin
from grader.judge.runner import run_suite
from grader.judge.subjects import ReferenceSubject, load_reference


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
    student = ReferenceSubject(load_as("minigpt_submission", submission))
    reference = ReferenceSubject(load_reference(paths.REFERENCE_PATH, paths.TEMPLATE_DIR))
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = run_suite(JudgePlugin(student, reference), Path(tmp) / "report.json")
    failed = [o.title for o in outcomes if not o.passed]
    print(f"{len(outcomes)} tests, {len(failed)} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
