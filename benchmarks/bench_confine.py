"""What the worker's confinement costs (issue 22): its seccomp filter, on live workers.

Prints, with the filter and without it (alternated, median of --rounds):
  * a fork server's start (interpreter, the filter's install, the reference's import),
    which a grading pays once; every worker forked from it inherits the filter for free;
  * a fresh worker forked from it (the causal checks and retries start about ten);
  * the reference's work of a grading's worth of requests (--forwards forwards and
    backwards of the full model), CPU seconds of the student's process, where every
    system call goes through the filter;
  * one cheap system call (os.getppid) in a tight loop, the filter's cost per call.

Usage: python benchmarks/bench_confine.py [--rounds 7] [--forwards 40]
Linux only (libseccomp). Run it under the heavy-work lock on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import local_worker

from grader import paths
from grader.judge.worker_client import WorkerClient, seccomp_library

SYSCALL_LOOP = """
import os, time
from engine import Value
from nn import Module

class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.w = [Value(1.0) for _ in range(dim)]
    def forward(self, x):
        began = time.process_time()
        for _ in range(200_000):
            os.getppid()
        return [Value(time.process_time() - began)]
"""


def client(tmp: Path, seccomp: Path | None, source: Path) -> WorkerClient:
    return cast(WorkerClient, local_worker(source, import_timeout=30, seccomp=seccomp, scratch=tmp))


def one_round(tmp: Path, seccomp: Path | None, forwards: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    worker = client(tmp, seccomp, paths.REFERENCE_PATH)
    try:
        began = time.perf_counter()
        worker.start()
        figures["fork server start (s)"] = time.perf_counter() - began
        began = time.perf_counter()
        worker.close()
        worker.start()
        figures["fresh worker (ms)"] = (time.perf_counter() - began) * 1000
        handle = worker.request(
            "new", 30, cls="MiniGPT", args=[27, 16, 2, 2, 8], kwargs={}, seed=1
        )["handle"]
        params = worker.request("params", 30, handle=handle, data=False)["listed"]
        cpu_before = worker.spent.requests_cpu
        for i in range(forwards):
            out = worker.request(
                "forward", 30, handle=handle, input=[i % 27] * 8, tokens=True, keep=True
            )
            worker.request("backward", 30, out=out["out"], grad=[[1.0] * 27] * 8)
        figures["requests' CPU (s)"] = worker.spent.requests_cpu - cpu_before
        figures["parameters"] = params
    finally:
        worker.shutdown()
    loop_file = tmp / "loop.py"
    loop_file.write_text(SYSCALL_LOOP, encoding="utf-8")
    worker = client(tmp, seccomp, loop_file)
    try:
        handle = worker.request("new", 30, cls="LayerNorm", args=[1], kwargs={}, seed=1)["handle"]
        seconds = worker.request("forward", 30, handle=handle, input=[0.0])["data"][0]
        figures["getppid (ns/call)"] = seconds / 200_000 * 1e9
    finally:
        worker.shutdown()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--forwards", type=int, default=40)
    args = parser.parse_args()
    library = seccomp_library("required")
    import tempfile

    runs: dict[str, list[dict[str, float]]] = {"filter": [], "no filter": []}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for _ in range(args.rounds):  # alternated: the machine drifts
            runs["filter"].append(one_round(tmp, library, args.forwards))
            runs["no filter"].append(one_round(tmp, None, args.forwards))
    keys = list(runs["filter"][0])
    print(f"median of {args.rounds} rounds, alternated ({args.forwards} forward+backward):")
    print(f"{'':28}{'filter':>12}{'no filter':>12}{'difference':>12}")
    for key in keys:
        with_filter = statistics.median(r[key] for r in runs["filter"])
        without = statistics.median(r[key] for r in runs["no filter"])
        print(f"{key:28}{with_filter:12.4f}{without:12.4f}{with_filter - without:+12.4f}")


if __name__ == "__main__":
    main()
