"""The full hidden suite on the reference, process backend, end to end (issue 3).

    python benchmarks/bench_suite.py [--runs 5]

Also times the naive correct solution, the slowest correct style we ship,
to show the margin the per-call timeouts leave.
"""

from __future__ import annotations

import argparse
import sys

from timing import median_seconds, table

from grader import paths
from grader.api import grade
from grader.settings import GradeSettings

NAIVE = paths.PROJECT_DIR / "tests" / "solutions" / "correct_naive.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = GradeSettings(sandbox="process")
    rows = []
    for name, path in (("reference", paths.REFERENCE_PATH), ("naive correct solution", NAIVE)):
        feedback = grade(path, settings)
        assert feedback.status == "passed", feedback.summary
        seconds = median_seconds(lambda p=path: grade(p, settings), args.runs)
        rows.append((name, f"{seconds:.2f} s end to end (judge {feedback.durations.judge:.2f} s)"))
    print(f"hidden suite, process backend, median of {args.runs} runs")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
