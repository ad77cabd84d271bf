"""End-to-end latency of grading the reference: Docker vs process vs the bare floor.

    python benchmarks/bench_latency.py [--runs 5] [--skip-docker]

Prints medians side by side. Target: Docker adds at most 1 s to the floor.
The floor is the judge itself (`python -m grader.judge`, judge and worker
processes, no sandbox and no host-side checks), started as a fresh
interpreter like the other two. The modes take turns run by run, so a change
in the machine's load hits all three alike.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from timing import interleaved_medians, table

from grader import paths
from grader.api import grade
from grader.settings import GradeSettings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-docker", action="store_true")
    args = parser.parse_args()
    submission = paths.REFERENCE_PATH

    def bare() -> None:
        subprocess.run(
            [sys.executable, "-m", "grader.judge", "--submission", str(submission)],
            check=True,
            capture_output=True,
        )

    def process() -> None:
        assert grade(submission, GradeSettings(sandbox="process")).status == "passed"

    def docker() -> None:
        assert grade(submission, GradeSettings(sandbox="docker")).status == "passed"

    modes = {"bare": bare, "process": process}
    if not args.skip_docker:
        modes["docker"] = docker
    medians = interleaved_medians(modes, args.runs)
    floor = medians["bare"]
    rows = [("the judge alone, no sandbox (floor)", f"{floor:.2f} s")]
    local = medians["process"]
    rows.append(("process backend", f"{local:.2f} s  ({local - floor:+.2f} s)"))
    if not args.skip_docker:
        isolated = medians["docker"]
        rows.append(("docker backend", f"{isolated:.2f} s  ({isolated - floor:+.2f} s)"))
    print(f"grade reference/minigpt.py, median of {args.runs} runs (2 cores, shared machine)")
    print(table(rows))
    if not args.skip_docker:
        verdict = "met" if isolated - floor <= 1.0 else "MISSED"
        print(f"target: Docker adds at most 1 s to the floor -> {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
