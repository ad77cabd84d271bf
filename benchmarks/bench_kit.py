"""The student kit: how fast check.py runs, how small the kit is, how many bank bugs it catches.

    python benchmarks/bench_kit.py [--runs 5] [--no-bank]

Times ``python check.py`` (the public tests, as a student runs them: a new
process, pytest included) on the reference, the naive correct solution and
the skeleton: median wall time and the CPU time of the child process, which
a busy machine does not inflate. Then runs the public tests on every bug of
the bank (tests/solutions/mutations.py) and prints the share they catch, per
check, and how many failing tests are about another check than the bug's.
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import kit_support
from timing import table

from grader import paths
from grader.selftest import cases
from grader.student_kit import build_kit

NAIVE = paths.BANK_DIR / "correct_naive.py"


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_check(pack: Path, runs: int) -> tuple[float, float, str]:
    """Median wall and CPU seconds of `python check.py` in pack, and its last summary line."""
    walls, cpus, said = [], [], ""
    for _ in range(runs + 1):  # the first run warms the file cache and writes .pyc files
        cpu, started = child_cpu(), time.perf_counter()
        proc = kit_support.run_check(pack)
        walls.append(time.perf_counter() - started)
        cpus.append(child_cpu() - cpu)
        lines = proc.stdout.splitlines()
        said = next((x for x in lines if re.search(r"public tests (pass|fail)\.", x)), "")
    walls, cpus = sorted(walls[1:]), sorted(cpus[1:])
    return walls[len(walls) // 2], cpus[len(cpus) // 2], said.strip("│ ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-bank", action="store_true", help="skip the bank (about 5 minutes)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        kit = build_kit(root / "kit.zip")
        rows.append(("kit (zip)", f"{kit.stat().st_size / 1024:.0f} KiB"))
        for name, solution in (
            ("reference", paths.REFERENCE_PATH),
            ("naive correct solution", NAIVE),
            ("skeleton", None),
        ):
            folder = root / name.replace(" ", "_")
            folder.mkdir()
            wall, cpu, said = time_check(kit_support.copy_pack(folder, solution), args.runs)
            rows.append((f"check.py on the {name}", f"{wall:.2f} s wall, {cpu:.2f} s CPU ({said})"))
        print(table(rows), flush=True)
        if args.no_bank:
            return 0

        bugs = [c for c in cases() if c.must_fail is not None]
        sources = {c.name: c.source for c in bugs}
        bank = root / "bank"
        bank.mkdir()
        results = kit_support.results_for(sources, bank)
    caught = [c for c in bugs if results[c.name]["failed"]]
    off_topic = [
        (c.name, t["name"])
        for c in bugs
        for t in results[c.name]["tests"]
        if t["outcome"] != "passed" and c.must_fail not in t["covers"]
    ]
    rows = [
        (
            "bank bugs caught by the public tests",
            f"{len(caught)} of {len(bugs)} ({len(caught) / len(bugs):.0%})",
        ),
        ("failing public tests about another check than the bug's", str(len(off_topic))),
    ]
    for check in sorted({str(c.must_fail) for c in bugs}):
        mine = [c for c in bugs if c.must_fail == check]
        missed = [c.name.removeprefix("bug:") for c in mine if c not in caught]
        note = f" (missed: {', '.join(missed)})" if missed else ""
        rows.append((f"  {check}", f"{len(mine) - len(missed)} of {len(mine)}{note}"))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
