"""Latency of one Docker grading, phase by phase, against the floor.

    python benchmarks/bench_latency.py [--runs 5]

For the reference and for the slowest correct style we ship (the naive
solution), grades the file through Docker ``--runs`` times each way and
prints the median of every phase of ``Feedback.durations`` (where the time
goes):

- cold: a container created and started for the file, what a one-off
  ``grade FILE`` does;
- warm: the next file of a backend that keeps grading (``grade batch``, the
  service's workers), whose container was started ahead of need, its judge's
  start-up already paid (it waited ``idle`` seconds for the file).

The floor is what no grader can avoid: a bare ``docker run`` of the image
doing nothing, plus the CPU seconds the student's own code spends answering
the suite's probes (``probes_cpu``, measured by the judge from /proc: the
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


def spare_ready(backend: DockerBackend, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while backend.spares.ready < 1:
        if time.monotonic() > deadline:
            raise SystemExit("bench_latency: no spare container became ready")
        time.sleep(0.05)
    time.sleep(0.2)  # let its judge finish importing, as a spare has time to


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
    settings = GradeSettings(sandbox="docker")
    cold_backend = DockerBackend(settings, prestart=False)
    warm_backend = DockerBackend(settings)
    files = {"reference": paths.REFERENCE_PATH, "naive correct solution": NAIVE}
    modes = [
        (f"{name}, {way}", path, way) for name, path in files.items() for way in ("cold", "warm")
    ]
    bare: list[float] = []
    walls: dict[str, list[float]] = {mode: [] for mode, _, _ in modes}
    feedbacks: dict[str, list[Feedback]] = {mode: [] for mode, _, _ in modes}
    try:
        for _ in range(2):  # a backend that keeps grading: the second file starts a spare
            graded(warm_backend, paths.REFERENCE_PATH)
        for round_number in range(args.runs + 1):  # the first round warms caches up
            seconds = bare_run(cold_backend)
            results = {}
            for mode, path, way in modes:
                if way == "warm":
                    spare_ready(warm_backend)
                results[mode] = graded(warm_backend if way == "warm" else cold_backend, path)
            if round_number == 0:
                continue
            bare.append(seconds)
            for mode, (wall, feedback) in results.items():
                walls[mode].append(wall)
                feedbacks[mode].append(feedback)
    finally:
        cold_backend.close()
        warm_backend.close()
    floor_run = statistics.median(bare)
    print(f"Docker grading, median of {args.runs} runs (2 cores, shared machine)")
    print(table([("bare docker run of the image (true)", f"{floor_run:.2f} s")]))
    for mode, _, _ in modes:
        phases = median_phases(feedbacks[mode])
        wall = statistics.median(walls[mode])
        floor = floor_run + phases["probes_cpu"]
        print(f"\n{mode}: {wall:.2f} s end to end")
        print(table([(phase, f"{seconds:.3f} s") for phase, seconds in phases.items()]))
        verdict = "met" if wall <= TARGET * floor else "MISSED"
        line = f"floor {floor:.2f} s (bare run + probes_cpu): ratio {wall / floor:.2f}x"
        target = f" (target <= {TARGET}x: {verdict})" if mode.startswith("reference") else ""
        print(f"  {line}{target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
