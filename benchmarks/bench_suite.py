"""The full hidden suite on the reference, process backend, end to end (issue 3).

    python benchmarks/bench_suite.py [--runs 5]

Also times the naive correct solution, the slowest correct style we ship,
and prints, for each, the request with the smallest margin between the CPU
time it took and its per-request CPU limit (at least 10x is the target).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from timing import median_seconds, table

from grader import paths
from grader.api import grade
from grader.settings import GradeSettings

NAIVE = paths.PROJECT_DIR / "tests" / "solutions" / "correct_naive.py"


def tightest_probe(path: Path) -> dict[str, float | str]:
    """The request that used the largest share of its CPU budget, from the judge itself."""
    proc = subprocess.run(
        [sys.executable, "-m", "grader.judge", "--submission", str(path)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "GRADER_TIMINGS": "1"},
    )
    line = next(x for x in proc.stderr.splitlines() if x.startswith("GRADER_TIMINGS "))
    slowest: dict[str, list[float]] = json.loads(line.split(" ", 1)[1])
    op, (seconds, limit) = max(slowest.items(), key=lambda item: item[1][0] / item[1][1])
    return {"probe": op, "seconds": max(seconds, 0.01), "limit": limit}


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
        worst = tightest_probe(path)
        margin = float(worst["limit"]) / float(worst["seconds"])
        rows.append(
            (
                f"  tightest probe ({worst['probe']})",
                f"{float(worst['seconds']):.3f} s of a {float(worst['limit']):g} s limit "
                f"({margin:.0f}x margin)",
            )
        )
    print(f"hidden suite, process backend, median of {args.runs} runs")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
