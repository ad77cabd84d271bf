"""Latency of one Docker grading, phase by phase, against the floor.

    python benchmarks/bench_latency.py [--runs 5]

For the reference and for the slowest correct style we ship (the naive
solution), grades the file through Docker ``--runs`` times and prints the
median of every phase of ``Feedback.durations`` (where the time goes). The
floor is what no grader can avoid: a bare ``docker run`` of the image doing
nothing, plus the CPU seconds the student's own code spends answering the
suite's probes (``probes_cpu``, measured by the judge from /proc: the
student's process, its JSON included, nothing of the judge's). Target
(issue 10): a Docker grading of the reference takes at most 1.5x the floor.
Modes take turns run by run, so a change in the machine's load hits all alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from timing import table

from grader import paths
from grader.api import grade_submission
from grader.models import Durations, Feedback
from grader.sandbox.docker_backend import DockerBackend
from grader.settings import GradeSettings
from grader.submission import load_submission

NAIVE = paths.PROJECT_DIR / "tests" / "solutions" / "correct_naive.py"
TARGET = 1.5


def bare_run(backend: DockerBackend) -> float:
    started = time.perf_counter()
    backend.client.containers.run(
        backend.settings.image, ["true"], remove=True, network_mode="none"
    )
    return time.perf_counter() - started


def graded(backend: DockerBackend, path: Path) -> tuple[float, Feedback]:
    submission = load_submission(path, backend.settings.limits.max_source_bytes)
    started = time.perf_counter()
    feedback = grade_submission(submission, backend.settings, backend=backend)
    assert feedback.status == "passed", feedback.summary
    return time.perf_counter() - started, feedback


def median_phases(feedbacks: list[Feedback]) -> dict[str, float]:
    return {
        name: statistics.median(getattr(f.durations, name) for f in feedbacks)
        for name in Durations.model_fields
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    backend = DockerBackend(GradeSettings(sandbox="docker"))
    files = {"reference": paths.REFERENCE_PATH, "naive correct solution": NAIVE}
    bare: list[float] = []
    walls: dict[str, list[float]] = {name: [] for name in files}
    feedbacks: dict[str, list[Feedback]] = {name: [] for name in files}
    try:
        for round_number in range(args.runs + 1):  # the first round warms caches up
            seconds = bare_run(backend)
            results = {name: graded(backend, path) for name, path in files.items()}
            if round_number == 0:
                continue
            bare.append(seconds)
            for name, (wall, feedback) in results.items():
                walls[name].append(wall)
                feedbacks[name].append(feedback)
    finally:
        backend.close()
    floor_run = statistics.median(bare)
    print(f"Docker grading, median of {args.runs} runs (2 cores, shared machine)")
    print(table([("bare docker run of the image (true)", f"{floor_run:.2f} s")]))
    for name in files:
        phases = median_phases(feedbacks[name])
        wall = statistics.median(walls[name])
        floor = floor_run + phases["probes_cpu"]
        print(f"\n{name}: {wall:.2f} s end to end")
        print(table([(phase, f"{seconds:.3f} s") for phase, seconds in phases.items()]))
        verdict = "met" if wall <= TARGET * floor else "MISSED"
        line = f"floor {floor:.2f} s (bare run + probes_cpu): ratio {wall / floor:.2f}x"
        print(f"  {line}" + (f" (target <= {TARGET}x: {verdict})" if name == "reference" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
