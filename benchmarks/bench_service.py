"""A deadline burst through the grading service, against `grade batch --jobs 2`.

    python benchmarks/bench_service.py [--submissions 200] [--sandbox docker|process]
                                       [--connections 32] [--modes embedded,celery]

The class is mixed like bench_batch's (45% correct, 40% single-bug variants,
15% hostile attacks; only attacks harmless to the host with --sandbox
process). All N submissions are posted at once (asyncio + httpx, at most
--connections in flight) to:

* the embedded service: `grade serve --workers 2`;
* the distributed service: `grade serve --broker` with a redis-server of its
  own on a free loopback port and two `grade worker --concurrency 1` processes.

For each: accept latency (POST to 202) p50/p99/max, time from the first POST
until every job is done, throughput as a ratio to `grade batch --jobs 2` on
the same files in the same run, and jobs lost (accepted but not done with a
verdict: must be 0). Targets (issue 11): p99 accept < 50 ms, throughput
>= 0.9x of batch.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_batch import make_class, run_batch
from timing import table

from grader import paths
from grader.service.store import Store

REPO = paths.PROJECT_DIR
GRADE = [sys.executable, "-m", "grader"]
P99_TARGET_MS = 50.0
THROUGHPUT_TARGET = 0.9


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: object, deadline: float, what: str) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


class Cluster:
    """The service under test and what it needs, all children of this script."""

    def __init__(self, root: Path, sandbox: str, mode: str) -> None:
        self.root, self.sandbox, self.mode = root, sandbox, mode
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        root.mkdir(parents=True)

    def spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.root / log).open("wb") as out:
            proc = subprocess.Popen(args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def start(self) -> str:
        data = ["--data-dir", str(self.root)]
        serve = [*GRADE, "serve", "--port", str(self.port), *data, "--sandbox", self.sandbox]
        serve += ["--no-access-log", "--max-queue", "100000"]
        if self.mode == "embedded":
            serve += ["--workers", "2"]
        else:
            redis_port = free_port()
            binary = shutil.which("redis-server")
            if binary is None:
                raise SystemExit("redis-server is missing: bash scripts/ensure-redis.sh")
            self.spawn(
                [
                    binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(redis_port),
                    "--save",
                    "",
                    "--dir",
                    str(self.root),
                ],
                "redis.log",
            )
            broker = f"redis://127.0.0.1:{redis_port}/0"
            serve += ["--broker", broker]
            for name in ("w1", "w2"):
                self.spawn(
                    [
                        *GRADE,
                        "worker",
                        "--broker",
                        broker,
                        *data,
                        "--concurrency",
                        "1",
                        "--name",
                        f"{name}@%h",
                        *(["--no-image-check"] if self.sandbox == "process" else []),
                    ],
                    f"{name}.log",
                )
        self.spawn(serve, "serve.log")

        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 60, "the service")
        if self.mode == "celery":
            wait_for(
                lambda: all("ready" in (self.root / f"{n}.log").read_text() for n in ("w1", "w2")),
                60,
                "the workers",
            )
        store = Store(f"sqlite:///{self.root / 'service.db'}")
        token = store.create_token("bench")[0]
        store.close()
        return token

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def burst(url: str, token: str, files: list[Path], connections: int) -> tuple[
    list[float], list[str], float
]:  # fmt: skip
    """POST every file at once; (accept latencies in s, job ids, start time)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:
        semaphore = asyncio.Semaphore(connections)

        async def post(path: Path) -> tuple[float, str]:
            async with semaphore:
                started = time.perf_counter()
                answer = await http.post(
                    "/v1/submissions",
                    files={"file": (path.name, path.read_bytes())},
                    data={"student": path.stem},
                )
                elapsed = time.perf_counter() - started
            if answer.status_code != 202:
                raise SystemExit(f"POST {path.name}: {answer.status_code} {answer.text[:200]}")
            return elapsed, str(answer.json()["id"])

        begun = time.perf_counter()
        results = await asyncio.gather(*(post(p) for p in files))
    return [r[0] for r in results], [r[1] for r in results], begun


def wait_all_done(url: str, token: str, ids: list[str], deadline: float) -> tuple[float, int]:
    """(time when the last job was done, jobs not done with a verdict)."""
    headers = {"Authorization": f"Bearer {token}"}
    pending = set(ids)
    end = time.monotonic() + deadline
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        while pending and time.monotonic() < end:
            page = http.get("/v1/submissions", params={"status": "done", "limit": 500}).json()
            pending -= {item["id"] for item in page["items"]}
            if pending:
                time.sleep(0.5)
        finished = time.perf_counter()
        lost = 0
        for job_id in ids:
            job = http.get(f"/v1/submissions/{job_id}").json()
            if job.get("status") != "done" or job.get("feedback") is None:
                lost += 1
    return finished, lost


def run_service(
    root: Path, mode: str, sandbox: str, files: list[Path], connections: int
) -> dict[str, float]:
    cluster = Cluster(root / mode, sandbox, mode)
    try:
        token = cluster.start()
        latencies, ids, begun = asyncio.run(burst(cluster.url, token, files, connections))
        finished, lost = wait_all_done(cluster.url, token, ids, deadline=3600)
    finally:
        cluster.stop()
    ms = sorted(x * 1000 for x in latencies)
    return {
        "p50": statistics.median(ms),
        "p99": ms[max(0, int(len(ms) * 0.99) - 1)],
        "max": ms[-1],
        "all_done": finished - begun,
        "lost": float(lost + len(files) - len(set(ids))),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--sandbox", choices=["docker", "process"], default="docker")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--modes", default="embedded,celery")
    args = parser.parse_args()
    n = args.submissions
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "class"
        folder.mkdir()
        mix = make_class(folder, n, root / "attacks", args.sandbox)
        files = sorted(folder.glob("*.py"))
        batch_wall, _, _ = run_batch(folder, 2, args.sandbox)
        rows = [
            ("class", ", ".join(f"{count} {kind}" for kind, count in mix.items())),
            ("grade batch --jobs 2", f"{batch_wall:.1f} s ({n / batch_wall:.2f}/s)"),
        ]
        for mode in args.modes.split(","):
            result = run_service(root, mode, args.sandbox, files, args.connections)
            ratio = batch_wall / result["all_done"]
            label = "embedded (2 workers)" if mode == "embedded" else "Celery (2 workers)"
            rows += [
                (
                    f"{label}: accept",
                    f"p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, "
                    f"max {result['max']:.1f} ms "
                    f"({'met' if result['p99'] < P99_TARGET_MS else 'MISSED'} < 50 ms)",
                ),
                (
                    f"{label}: all done",
                    f"{result['all_done']:.1f} s, {ratio:.2f}x batch throughput "
                    f"({'met' if ratio >= THROUGHPUT_TARGET else 'MISSED'} >= 0.9x)",
                ),
                (f"{label}: jobs lost", f"{int(result['lost'])}"),
            ]
    print(
        f"grading service, a burst of {n}, {args.sandbox} sandbox, "
        f"{args.connections} connections, 2 cores"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
