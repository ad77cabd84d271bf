"""Batch throughput over N submissions with --jobs 1 and --jobs 2, and memory per container.

    python benchmarks/bench_batch.py [--submissions 20] [--sandbox docker]

Runs the real `grade batch` command on N copies of the reference (fresh
output folder each time, so nothing is skipped). Target (issue 5): --jobs 2
at least 1.7x the throughput of --jobs 1 on this 2-core machine. Peak memory
is read from each container's cgroup right after it stops.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import table

from grader import paths
from grader.api import grade_submission
from grader.sandbox.docker_backend import DockerBackend
from grader.settings import GradeSettings
from grader.submission import load_submission


def batch_seconds(folder: Path, jobs: int, sandbox: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grader",
                "batch",
                str(folder),
                "--out",
                out,
                "--jobs",
                str(jobs),
                "--sandbox",
                sandbox,
            ],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


def peak_memory_mib(samples: int) -> list[float]:
    settings = GradeSettings(sandbox="docker")
    submission = load_submission(paths.REFERENCE_PATH, settings.limits.max_source_bytes)
    peaks = []
    for _ in range(samples):
        backend = DockerBackend(settings)
        grade_submission(submission, settings, backend=backend)
        if backend.last_peak_memory is not None:
            peaks.append(backend.last_peak_memory / 2**20)
    return peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--sandbox", choices=["docker", "process"], default="docker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(args.submissions):
            (folder / f"student{i:02d}.py").write_bytes(paths.REFERENCE_PATH.read_bytes())
        one = batch_seconds(folder, 1, args.sandbox)
        two = batch_seconds(folder, 2, args.sandbox)
    n = args.submissions
    rows = [
        ("--jobs 1", f"{one:.1f} s  ({n / one * 60:.1f} submissions/min)"),
        ("--jobs 2", f"{two:.1f} s  ({n / two * 60:.1f} submissions/min)"),
        (
            "speed-up",
            f"{one / two:.2f}x  (target >= 1.7x: {'met' if one / two >= 1.7 else 'MISSED'})",
        ),
    ]
    if args.sandbox == "docker":
        peaks = peak_memory_mib(3)
        if peaks:
            rows.append(
                (
                    "peak memory per container",
                    f"{statistics.median(peaks):.0f} MiB median, {max(peaks):.0f} MiB max "
                    f"(limit {GradeSettings().limits.memory_mb} MiB)",
                )
            )
    print(f"grade batch, {n} copies of the reference, {args.sandbox} sandbox")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
