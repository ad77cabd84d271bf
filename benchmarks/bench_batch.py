"""A class through `grade batch --jobs 2`: submissions per second, CPU per submission, memory.

    python benchmarks/bench_batch.py [--submissions 200] [--sandbox docker] [--jobs 2]

The class is mixed the way a real one is: 45% correct solutions (the reference
and the independently written ones in tests/solutions, in turn), 40% buggy
(the mutation bank's single-bug variants, spread over every check) and 15%
hostile (attacks from tests/attacks/bank.py, evenly spaced through the bank:
hangs, floods, forgeries, fork bombs...). It runs the real `grade batch`
command into a fresh output folder. CPU seconds per submission are the whole
machine's (the engine's daemons included), read from /proc/stat, so run it on
an otherwise idle machine. Target (issue 10): at least 2.5 submissions/s with
--jobs 2 on this 2-core machine; the figure before that issue was 1.45/s.
Peak memory is read from the cgroup of three reference gradings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from timing import table

from grader import paths
from grader.api import grade_submission
from grader.sandbox.docker_backend import DockerBackend
from grader.selftest import cases
from grader.settings import GradeSettings
from grader.submission import load_submission

BEFORE = 1.45  # submissions/s with --jobs 2 before issue 10 (copies of the reference)
TARGET = 2.5
REPO = paths.PROJECT_DIR


def machine_cpu_seconds() -> float:
    """CPU seconds every core has spent busy since boot (user, nice, system, irq...)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(x) for i, x in enumerate(fields) if i not in (3, 4))  # not idle, iowait
    return busy / os.sysconf("SC_CLK_TCK")


DOCKER_CGROUP_CPU = Path("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage")  # cgroup v1


def containers_cpu_seconds() -> float | None:
    """CPU seconds every container has spent (cgroup v1 with the cgroupfs driver), or None."""
    try:
        return int(DOCKER_CGROUP_CPU.read_text()) / 1e9
    except (OSError, ValueError):
        return None


def daemons_cpu_seconds() -> float | None:
    """CPU seconds of the engine's daemons (dockerd, containerd), or None if not found."""
    total = 0.0
    for name in ("dockerd", "containerd"):
        found = subprocess.run(["pgrep", "-xo", name], capture_output=True, text=True)
        if found.returncode != 0:
            return None
        stat = Path(f"/proc/{found.stdout.split()[0]}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in stat[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def attack_sources(folder: Path, sandbox: str) -> list[tuple[str, str]]:
    """The attack bank's files that may run on ``sandbox`` (its own script writes them)."""
    subprocess.run(
        [sys.executable, str(REPO / "tests" / "attacks" / "bank.py"), str(folder)],
        check=True,
        capture_output=True,
    )
    index = json.loads((folder / "index.json").read_text())
    return [
        (item["id"], (folder / item["id"] / "minigpt.py").read_text(encoding="utf-8"))
        for item in index
        if sandbox in item["modes"]
    ]


def spread(items: list[tuple[str, str]], count: int) -> list[tuple[str, str]]:
    """``count`` items evenly spaced through ``items`` (cycling when there are fewer)."""
    if count <= len(items):
        step = len(items) / count
        return [items[int(i * step)] for i in range(count)]
    return [items[i % len(items)] for i in range(count)]


def make_class(folder: Path, size: int, scratch: Path, sandbox: str) -> Counter[str]:
    """Write the mixed class into ``folder``; the count of each kind."""
    bank = cases()
    correct = [(c.name, c.source) for c in bank if c.must_fail is None]
    buggy = [(c.name.replace("bug:", "bug-"), c.source) for c in bank if c.must_fail]
    hostile = attack_sources(scratch, sandbox)
    n_correct, n_buggy = round(size * 0.45), round(size * 0.40)
    mix = {
        "correct": spread(correct, n_correct),
        "buggy": spread(buggy, n_buggy),
        "hostile": spread(hostile, size - n_correct - n_buggy),
    }
    number = 0
    for kind, files in mix.items():
        for name, source in files:
            number += 1
            (folder / f"s{number:03d}-{kind}-{name}.py").write_text(source, encoding="utf-8")
    return Counter({kind: len(files) for kind, files in mix.items()})


def run_batch(
    folder: Path, jobs: int, sandbox: str, split: dict[str, float] | None = None
) -> tuple[float, float, dict[str, object]]:
    """Wall and whole-machine CPU seconds of the batch, and its summary; ``split`` gets the
    CPU seconds of the containers, the engine's daemons and `grade batch` itself."""
    with tempfile.TemporaryDirectory() as out:
        containers, daemons = containers_cpu_seconds(), daemons_cpu_seconds()
        before = os.times()
        cpu, started = machine_cpu_seconds(), time.perf_counter()
        subprocess.run(
            [
                *(sys.executable, "-m", "grader", "batch", str(folder)),
                *("--out", out, "--jobs", str(jobs), "--sandbox", sandbox),
            ],
            check=False,  # exit 1: some submissions have issues, as they should
            capture_output=True,
        )
        wall, cpu = time.perf_counter() - started, machine_cpu_seconds() - cpu
        after = os.times()
        if split is not None:
            split["grade batch"] = (after.children_user + after.children_system) - (
                before.children_user + before.children_system
            )
            now_containers, now_daemons = containers_cpu_seconds(), daemons_cpu_seconds()
            if containers is not None and now_containers is not None:
                split["containers (judge + student)"] = now_containers - containers
            if daemons is not None and now_daemons is not None:
                split["dockerd + containerd"] = now_daemons - daemons
        summary = json.loads((Path(out) / "summary.json").read_text())
    return wall, cpu, summary


def peak_memory_mib(samples: int) -> list[float]:
    settings = GradeSettings(sandbox="docker")
    submission = load_submission(paths.REFERENCE_PATH, settings.limits.max_source_bytes)
    peaks = []
    backend = DockerBackend(settings)
    try:
        for _ in range(samples):
            backend.last_peak_memory = None
            grade_submission(submission, settings, backend=backend)
            if backend.last_peak_memory is not None:
                peaks.append(backend.last_peak_memory / 2**20)
    finally:
        backend.close()
    return peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--sandbox", choices=["docker", "process"], default="docker")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--copies", action="store_true", help="a class of copies of the reference instead"
    )
    args = parser.parse_args()
    n = args.submissions
    with tempfile.TemporaryDirectory() as tmp:
        folder, scratch = Path(tmp) / "class", Path(tmp) / "attacks"
        folder.mkdir()
        if args.copies:
            for i in range(n):
                (folder / f"s{i:03d}.py").write_bytes(paths.REFERENCE_PATH.read_bytes())
            mix = Counter({"copies of the reference": n})
        else:
            mix = make_class(folder, n, scratch, args.sandbox)
        split: dict[str, float] = {}
        wall, cpu, summary = run_batch(folder, args.jobs, args.sandbox, split)
    rate = n / wall
    rows = [
        ("class", ", ".join(f"{count} {kind}" for kind, count in mix.items())),
        (
            "results",
            f"{summary.get('submissions')} recorded, {summary.get('passed')} passed, "
            f"{summary.get('not_gradable')} not gradable",
        ),
        (f"--jobs {args.jobs}", f"{wall:.1f} s  ({rate:.2f} submissions/s)"),
        (
            "vs before issue 10",
            f"{rate / BEFORE:.2f}x of {BEFORE}/s"
            + ("" if args.copies else " (measured on copies of the reference: --copies compares)"),
        ),
        ("CPU per submission", f"{cpu / n:.2f} s (whole machine)"),
        *((f"  of which {what}", f"{seconds / n:.3f} s") for what, seconds in split.items()),
        (
            "  of which the rest",
            f"{(cpu - sum(split.values())) / n:.3f} s (shims, runc, kernel, other processes)",
        ),
        ("target", f">= {TARGET}/s -> {'met' if rate >= TARGET else 'MISSED'}"),
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
    print(f"grade batch, a class of {n}, {args.sandbox} sandbox, 2 cores")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
