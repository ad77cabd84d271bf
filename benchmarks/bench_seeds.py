"""Every correct solution under many grading seeds: no point may be lost (issue 9).

    python benchmarks/bench_seeds.py [--seeds 20] [--jobs 2]

The grading seed decides the student's initialisation seeds and every probe
input, so each seed is a different draw of weights and inputs. The judge is
run directly (no sandbox: the student files are our own), once per solution
and seed, with a probe key made for that seed. Prints, per solution, how many
seeds gave full marks and the first lost check if any.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from timing import table

from grader import paths
from grader.judge.config import JudgeConfig

SOLUTIONS = paths.PROJECT_DIR / "tests" / "solutions"


def grade_with_seed(path: Path, seed: int, scratch: Path) -> tuple[str, int, str]:
    key = scratch / f"key-{seed}"
    key.write_text(f"seed-{seed}")
    config = JudgeConfig(probe_key_file=key).to_json()
    proc = subprocess.run(
        [sys.executable, "-m", "grader.judge", "--submission", str(path), "--config", config],
        capture_output=True,
        text=True,
        check=True,
    )
    feedback = json.loads(proc.stdout.strip().splitlines()[-1])
    lost = [c["id"] for c in feedback["checks"] if not c["passed"]]
    detail = ""
    if lost or feedback["status"] != "passed":
        issue = next((i["message"] for c in feedback["checks"] for i in c["issues"]), "")
        detail = f"{lost or feedback['summary']}: {issue[:120]}"
    return path.stem, seed, detail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    files = [paths.REFERENCE_PATH, *sorted(SOLUTIONS.glob("correct_*.py"))]
    jobs = [(f, s) for f in files for s in range(args.seeds)]
    failures: dict[str, list[str]] = {
        f.stem if f != paths.REFERENCE_PATH else "reference": [] for f in files
    }
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        for name, seed, detail in pool.map(lambda job: grade_with_seed(*job, Path(tmp)), jobs):
            key = "reference" if name == "minigpt" else name
            if detail:
                failures[key].append(f"seed {seed}: {detail}")
    rows = []
    for name, lost in failures.items():
        full = args.seeds - len(lost)
        rows.append(
            (name, f"{full}/{args.seeds} seeds full marks" + (f"; {lost[0]}" if lost else ""))
        )
    print(f"{len(files)} correct solutions x {args.seeds} grading seeds")
    print(table(rows))
    bad = sum(len(v) for v in failures.values())
    print(f"lost points in {bad} of {len(jobs)} gradings")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
