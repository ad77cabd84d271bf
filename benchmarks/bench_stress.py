"""Correct solutions graded under CPU pressure: every one must get full marks (issue 9).

    python benchmarks/bench_stress.py [--copies 2] [--jobs 4] [--hogs 2] [--sandbox docker]

Starts ``--hogs`` busy-looping processes (the CPU of this 2-core machine is
then saturated), and grades ``--copies`` copies of the reference and of every
correct solution in tests/solutions/ with `grade batch --jobs N`. Per-request
limits count CPU seconds, and a timeout or a foreign kill is re-run once, so a
busy machine must not cost a correct student a point. Prints the scores, the
wall time and the slowest judge time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import table

from grader import paths

SOLUTIONS = paths.PROJECT_DIR / "tests" / "solutions"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--sandbox", default="docker", choices=("docker", "process"))
    args = parser.parse_args()
    files = [paths.REFERENCE_PATH, *sorted(SOLUTIONS.glob("correct_*.py"))]
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            class_dir = Path(tmp) / "class"
            class_dir.mkdir()
            for copy in range(args.copies):
                for path in files:
                    name = "reference" if path == paths.REFERENCE_PATH else path.stem
                    shutil.copy(path, class_dir / f"{name}_{copy}.py")
            out = Path(tmp) / "out"
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "grader",
                    "batch",
                    str(class_dir),
                    "--out",
                    str(out),
                    "--jobs",
                    str(args.jobs),
                    "--sandbox",
                    args.sandbox,
                ],
                check=False,
                capture_output=True,
            )
            wall = time.perf_counter() - started
            results = [json.loads(p.read_text()) for p in sorted((out / "results").glob("*.json"))]
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    full = [r for r in results if r.get("score") == r.get("max_score")]
    lost = [
        f"{r['submission']}: {[c['id'] for c in r['checks'] if not c['passed']] or r['summary']}"
        for r in results
        if r not in full
    ]
    slowest = max((r["durations"]["judge"] for r in results), default=0.0)
    rows = [
        ("submissions", str(len(files) * args.copies)),
        ("results", str(len(results))),
        ("full marks", f"{len(full)}/{len(results)}"),
        ("wall time", f"{wall:.1f} s with {args.hogs} CPU hogs, --jobs {args.jobs}"),
        ("slowest judge time", f"{slowest:.1f} s"),
    ]
    print(f"correct solutions under CPU pressure ({args.sandbox} backend)")
    print(table(rows))
    for line in lost:
        print("LOST:", line)
    return 0 if not lost and len(results) == len(files) * args.copies else 1


if __name__ == "__main__":
    sys.exit(main())
