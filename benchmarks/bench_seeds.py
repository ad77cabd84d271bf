"""Every correct solution under thousands of grading seeds: no point may be lost (issue 21).

    python benchmarks/bench_seeds.py [--seeds 2000] [--jobs 2] [--only NAME...] [--first 0]

The grading seed decides the initialisation seeds, every random weight, every
probe input and every layer size the suite draws, so each seed is another draw
of everything a check could be unlucky with. A correct model must pass every
check under every seed: the suite's docstrings bound the chance of a false
failure at about 1e-8 per grading, so over 2,000 seeds x 26 solutions a single
lost point would contradict them.

Fast path: the hidden tests run in this process, called directly (no pytest, no
judge start-up, no sandbox: the files are our own correct solutions), against
one worker fork server per solution, with the same ``Student`` the judge gives
them; each seed starts from a fresh worker. A failure is reported with its
seed, so ``python -m grader.judge --submission F --config '{"probe_key_file":
...}'`` is not needed to reproduce it: rerun with ``--only NAME --first SEED
--seeds 1``. Prints per solution the gradings and the lost checks, then the total
of lost points (must be 0: exit 1 otherwise).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, cast

from timing import table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import local_worker

from grader import paths
from grader.judge.failures import CheckFailure, StudentError
from grader.judge.remote import Student
from grader.judge.worker_client import WorkerClient
from grader.rubric import CHECKS_BY_ID

SOLUTIONS = paths.PROJECT_DIR / "tests" / "solutions"
SUITE = paths.PROJECT_DIR / "grader" / "suite"


def suite_tests() -> list[tuple[str, str, Callable[[Student], None]]]:
    """(check id, test name, function) for every hidden test, in collection order."""
    found = []
    for path in sorted(SUITE.glob("test_*.py")):
        module = importlib.import_module(f"grader.suite.{path.stem}")
        default = _check_of(getattr(module, "pytestmark", None))
        for name, function in vars(module).items():
            if name.startswith("test_") and callable(function):
                check = _check_of(getattr(function, "pytestmark", None)) or default
                assert check in CHECKS_BY_ID, f"{name} belongs to no check"
                found.append((check, f"{path.stem}::{name}", function))
    return found


def _check_of(marks: Any) -> str | None:
    for mark in marks if isinstance(marks, list) else [marks] if marks else []:
        if getattr(mark, "name", None) == "check":
            return str(mark.args[0])
    return None


def grade_seeds(path: Path, seeds: list[int]) -> tuple[str, int, list[str], float]:
    """Run the suite on ``path`` under each seed; the failures, one line each."""
    tests = suite_tests()
    client = cast(WorkerClient, local_worker(path, import_timeout=30))
    failures: list[str] = []
    began = time.process_time()
    try:
        for seed in seeds:
            client.close()
            student = Student(client, 10.0, f"bench-seeds/{seed}")
            lost: dict[str, str] = {}
            for check, name, function in tests:
                try:
                    _run(student, function)
                except (CheckFailure, StudentError) as exc:
                    lost.setdefault(check, f"{name}: {str(exc)[:160]}")
            for check, detail in lost.items():
                failures.append(f"seed {seed}: {check} ({CHECKS_BY_ID[check].points:g}) {detail}")
    finally:
        client.shutdown()
    return path.stem, len(seeds), failures, time.process_time() - began


def _run(student: Student, function: Callable[[Student], None]) -> None:
    """A test as the judge plugin runs it: once more on a fresh worker after a timeout
    or a foreign kill (a busy machine is not the student's fault)."""
    try:
        function(student)
    except StudentError as exc:
        if not student.may_retry(exc):
            raise
        student.client.close()
        function(student)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--first", type=int, default=0, help="the first seed")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=100, help="seeds per task")
    parser.add_argument("--only", nargs="*", help="solution names (file stems, or reference)")
    args = parser.parse_args()
    files = [paths.REFERENCE_PATH, *sorted(SOLUTIONS.glob("correct_*.py"))]
    names = {("reference" if f == paths.REFERENCE_PATH else f.stem): f for f in files}
    if args.only:
        names = {n: names[n] for n in args.only}
    seeds = list(range(args.first, args.first + args.seeds))
    chunks = [seeds[i : i + args.chunk] for i in range(0, len(seeds), args.chunk)]
    graded: dict[str, int] = dict.fromkeys(names, 0)
    lost: dict[str, list[str]] = {name: [] for name in names}
    cpu = 0.0
    began = time.monotonic()
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = {
            pool.submit(grade_seeds, path, chunk): name
            for name, path in names.items()
            for chunk in chunks
        }
        for done, future in enumerate(as_completed(futures), 1):
            name = futures[future]
            _, count, failures, seconds = future.result()
            graded[name] += count
            lost[name] += failures
            cpu += seconds
            for line in failures:
                print(f"LOST {name} {line}", flush=True)
            if done % max(1, len(futures) // 20) == 0:
                print(
                    f"... {done}/{len(futures)} tasks, {time.monotonic() - began:.0f} s", flush=True
                )
    rows = [
        (
            name,
            f"{graded[name]} gradings, "
            + (f"LOST {len(lost[name])}: {lost[name][0]}" if lost[name] else "full marks"),
        )
        for name in names
    ]
    total = sum(graded.values())
    points = sum(
        CHECKS_BY_ID[line.split(": ", 1)[1].split(" ", 1)[0]].points
        for failures in lost.values()
        for line in failures
    )
    print(f"{len(names)} correct solutions x {args.seeds} grading seeds (from seed {args.first})")
    print(table(rows))
    print(
        f"{total} gradings in {time.monotonic() - began:.0f} s ({cpu / max(total, 1):.2f} CPU s "
        f"per grading in the judge's process); lost points: {points:g} in "
        f"{sum(len(v) for v in lost.values())} failed checks"
    )
    return 1 if points else 0


if __name__ == "__main__":
    sys.exit(main())
