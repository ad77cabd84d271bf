"""A deadline burst through the grading service, against `grade batch --jobs 2`.

    python benchmarks/bench_service.py [--submissions 200] [--sandbox docker|process]
                                       [--connections 32] [--client-processes 4]
                                       [--modes embedded,celery] [--repeat N]
                                       [--no-batch] [--accept-only] [--kill]
                                       [--serve-args "--api-processes 0"] [--py-spy PREFIX]

The class is mixed like bench_batch's (45% correct, 40% single-bug variants,
15% hostile attacks; only attacks harmless to the host with --sandbox
process). All N submissions are posted at once, as multipart uploads, over
--connections keep-alive connections (opened before the burst; each sends its
next file as soon as the previous one is answered) to:

* the embedded service: `grade serve --workers 2`;
* the distributed service: `grade serve --broker` with a redis-server of its
  own on a free loopback port and two `grade worker --concurrency 1` processes.

For each: accept latency p50/p99/max, time from the first POST until every
job is done, throughput as a ratio to `grade batch --jobs 2` on the same files
in the same run, and jobs lost (accepted but not done with a verdict: must be
0). Targets (issue 11): p99 accept < 50 ms, throughput >= 0.9x of batch.

Accept latency is what a client sees: from just before a POST is written to
its connection until the whole 202 answer is read. In a real burst every
student's client is its own machine; here the clients share the two cores with
the service and the grading, so they are made light enough not to be what is
measured: --client-processes processes on uvloop (each with its share of the
connections, started together at a barrier), multipart bodies encoded by httpx
before the burst, and each connection a bare httpcore connection (httpx's
transport, without its pool). The client's CPU per request is printed too, and
the API's: `grade serve` and its API processes, over the burst.

--kill checks recovery under kill -9 (it reports no speed worth comparing): a
third of the way through the grading it kills `grade serve` outright (and, with
Celery, a worker in the middle of a job first), starts them again on the same
data, and at the end counts jobs lost and jobs graded more than once (a job
whose `done` event is not exactly one, from the events table): both must be 0.

To find where the time goes: --accept-only stops each service after its burst
(no verdicts, no lost-job count), --no-batch skips `grade batch`, --repeat
starts N fresh services per mode (p99 of one burst is its third-slowest
request, so it varies), --serve-args passes flags to `grade serve`, and
--py-spy records the API process during the burst (`pip install py-spy`; at
its sampling rate it slows the API several times over, so read it for shares,
not for times).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.synchronize import Barrier
from pathlib import Path

import httpcore
import httpx
from bench_batch import make_class, run_batch
from timing import table

from grader import paths
from grader.service.db import Store

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

    def __init__(self, root: Path, sandbox: str, mode: str, serve_args: list[str]) -> None:
        self.root, self.sandbox, self.mode, self.serve_args = root, sandbox, mode, serve_args
        self.serve: subprocess.Popen[bytes] | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        root.mkdir(parents=True)

    def spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.root / log).open("ab") as out:
            proc = subprocess.Popen(args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        proc.args_log = (args, log)  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def kill_and_restart(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        """kill -9 ``proc``, then start the same command again (retried while its port is
        still held by the dying process's API children)."""
        proc.kill()
        proc.wait()
        args, log = proc.args_log  # type: ignore[attr-defined]
        self.procs.remove(proc)
        for _ in range(30):
            again = self.spawn(args, log)
            time.sleep(3)
            if again.poll() is None:
                return again
            self.procs.remove(again)
        raise SystemExit(f"could not restart {args[:4]}")

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

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
        self.serve = self.spawn([*serve, *self.serve_args], "serve.log")
        wait_for(self.healthy, 60, "the service")
        if self.mode == "celery":
            wait_for(
                lambda: all("ready" in (self.root / f"{n}.log").read_text() for n in ("w1", "w2")),
                60,
                "the workers",
            )
        store = Store(f"sqlite:///{self.root / 'service.db'}")
        token = store.tokens.create("bench")[0]
        store.close()
        return token

    def chaos(self, token: str, ids: list[str]) -> None:
        """A third of the way through: kill -9 a worker mid-job (Celery), then the service;
        start both again."""
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as http:

            def third_done() -> bool:
                page = http.get("/v1/submissions", params={"status": "done", "limit": 1})
                return int(page.json()["total"]) >= len(ids) // 3

            wait_for(third_done, 3600, "a third of the jobs")
        if self.mode == "celery":
            worker = next(p for p in self.procs if p.args_log[1] == "w1.log")  # type: ignore[attr-defined]
            self.kill_and_restart(worker)
            print("killed -9 and restarted worker w1", flush=True)
        assert self.serve is not None
        self.serve = self.kill_and_restart(self.serve)
        wait_for(self.healthy, 60, "the restarted service")
        print("killed -9 and restarted grade serve", flush=True)

    def graded_twice(self, ids: list[str]) -> int:
        """Jobs whose verdict was recorded other than exactly once."""
        store = Store(f"sqlite:///{self.root / 'service.db'}")
        try:
            return sum(
                [e.kind for e in store.reads.events(job_id) or []].count("done") != 1
                for job_id in ids
            )
        finally:
            store.close()

    def api_pids(self) -> list[int]:
        """`grade serve` and the API processes it spawned (--api-processes), not judges."""
        assert self.serve is not None
        pid = self.serve.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        spawned = [
            int(child)
            for child in children
            if b"multiprocessing.spawn" in Path(f"/proc/{child}/cmdline").read_bytes()
        ]
        return [pid, *spawned]

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


Upload = tuple[bytes, str]  # a multipart body and its Content-Type


def encode_uploads(files: list[Path]) -> list[Upload]:
    """Each file as the multipart body httpx sends (field ``file``, form field ``student``)."""
    uploads = []
    for path in files:
        request = httpx.Request(
            "POST",
            "http://127.0.0.1/v1/submissions",
            files={"file": (path.name, path.read_bytes())},
            data={"student": path.stem},
        )
        uploads.append((request.read(), request.headers["content-type"]))
    return uploads


Burst = tuple[list[float], list[str], float, float]  # latencies, ids, start, client CPU


async def burst(url: str, token: str, uploads: list[Upload], connections: int,
                barrier: Barrier) -> Burst:  # fmt: skip
    """POST every upload; (latencies in s, job ids, start (monotonic), client CPU s).

    The connections are opened first; then every client process waits at
    ``barrier`` so that all of them start the burst together.
    """
    host, port = url.split("//", 1)[1].split(":")
    origin = httpcore.Origin(b"http", host.encode(), int(port))
    endpoint = f"{url}/v1/submissions"
    auth = f"Bearer {token}".encode()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(uploads)):
        queue.put_nowait(index)
    latencies = [0.0] * len(uploads)
    ids = [""] * len(uploads)

    async def send(connection: httpcore.AsyncHTTPConnection) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            body, content_type = uploads[index]
            headers = [(b"Host", f"{host}:{port}".encode()), (b"Authorization", auth)]
            headers.append((b"Content-Type", content_type.encode()))
            began = time.perf_counter()
            answer = await connection.request("POST", endpoint, headers=headers, content=body)
            latencies[index] = time.perf_counter() - began
            if answer.status != 202:
                raise SystemExit(f"POST {index}: {answer.status} {answer.content[:200]!r}")
            ids[index] = str(json.loads(answer.content)["id"])

    pool = [httpcore.AsyncHTTPConnection(origin) for _ in range(connections)]
    try:
        await asyncio.gather(*(c.request("GET", f"{url}/healthz") for c in pool))
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait, 60)
        begun, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(send(connection) for connection in pool))
        cpu = time.process_time() - cpu
    finally:
        for connection in pool:
            await connection.aclose()
    return latencies, ids, begun, cpu


_barrier: Barrier | None = None


def _client_init(barrier: Barrier) -> None:
    global _barrier
    _barrier = barrier


def client_process(url: str, token: str, uploads: list[Upload], connections: int) -> Burst:
    """One client process's share of the burst, on uvloop."""
    import uvloop

    assert _barrier is not None
    return uvloop.run(burst(url, token, uploads, connections, _barrier))


def post_all(url: str, token: str, uploads: list[Upload], connections: int,
             processes: int) -> Burst:  # fmt: skip
    """The whole burst over ``processes`` client processes (uploads dealt round-robin)."""
    processes = max(1, min(processes, connections))
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes)
    shares = [list(range(i, len(uploads), processes)) for i in range(processes)]
    with ProcessPoolExecutor(processes, spawn, _client_init, (barrier,)) as clients:
        futures = [
            clients.submit(
                client_process,
                url,
                token,
                [uploads[i] for i in share],
                connections // processes + (i < connections % processes),
            )
            for i, share in enumerate(shares)
        ]
        results = [future.result() for future in futures]
    latencies = [0.0] * len(uploads)
    ids = [""] * len(uploads)
    for share, (lat, job_ids, _, _) in zip(shares, results, strict=True):
        for position, index in enumerate(share):
            latencies[index], ids[index] = lat[position], job_ids[position]
    return latencies, ids, min(r[2] for r in results), sum(r[3] for r in results)


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
        finished = time.monotonic()
        lost = 0
        for job_id in ids:
            job = http.get(f"/v1/submissions/{job_id}").json()
            if job.get("status") != "done" or job.get("feedback") is None:
                lost += 1
    return finished, lost


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads, not its children)."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def run_service(root: Path, mode: str, sandbox: str, uploads: list[Upload], connections: int,
                processes: int, options: argparse.Namespace) -> dict[str, float]:  # fmt: skip
    cluster = Cluster(root, sandbox, mode, shlex.split(options.serve_args))
    spy: subprocess.Popen[bytes] | None = None
    try:
        token = cluster.start()
        api = cluster.api_pids()
        if options.py_spy:
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--rate",
                    "2000",
                    "--format",
                    "speedscope",
                    "--threads",
                    "--output",
                    f"{options.py_spy}-{root.name}.json",
                    *(["--idle"] if options.idle else []),
                    "--pid",
                    str(api[0]),
                ]
            )
            time.sleep(2)
        before = sum(cpu_seconds(pid) for pid in api)
        latencies, ids, begun, cpu = post_all(cluster.url, token, uploads, connections, processes)
        api_cpu = sum(cpu_seconds(pid) for pid in api) - before
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        twice = 0
        if options.kill:
            cluster.chaos(token, ids)
        if options.accept_only:
            finished, lost = time.monotonic(), 0
        else:
            finished, lost = wait_all_done(cluster.url, token, ids, deadline=3600)
            twice = cluster.graded_twice(ids)
    finally:
        cluster.stop()
    ms = sorted(x * 1000 for x in latencies)
    return {
        "p50": statistics.median(ms),
        "p99": ms[max(0, int(len(ms) * 0.99) - 1)],
        "max": ms[-1],
        "all_done": finished - begun,
        "lost": float(lost + len(uploads) - len(set(ids))),
        "duplicated": float(twice),
        "client_cpu_ms": cpu / len(uploads) * 1000,
        "api_cpu_ms": api_cpu / len(uploads) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--sandbox", choices=["docker", "process"], default="docker")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--modes", default="embedded,celery")
    parser.add_argument(
        "--no-batch", action="store_true", help="skip `grade batch` (accept latency only)"
    )
    parser.add_argument("--serve-args", default="", help="extra `grade serve` flags")
    parser.add_argument(
        "--repeat", type=int, default=1, help="bursts per mode (fresh service each)"
    )
    parser.add_argument(
        "--accept-only", action="store_true", help="stop after the burst (latency only)"
    )
    parser.add_argument(
        "--kill", action="store_true", help="kill -9 the service (and a worker) mid-run"
    )
    parser.add_argument("--py-spy", metavar="PREFIX", help="profile the API during the burst")
    parser.add_argument("--idle", action="store_true", help="py-spy: include idle stacks")
    args = parser.parse_args()
    n = args.submissions
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "class"
        folder.mkdir()
        mix = make_class(folder, n, root / "attacks", args.sandbox)
        files = sorted(folder.glob("*.py"))
        uploads = encode_uploads(files)
        rows = [("class", ", ".join(f"{count} {kind}" for kind, count in mix.items()))]
        batch_wall = None
        if not args.no_batch:
            batch_wall, _, _ = run_batch(folder, 2, args.sandbox)
            rows.append(("grade batch --jobs 2", f"{batch_wall:.1f} s ({n / batch_wall:.2f}/s)"))
        for mode in args.modes.split(","):
            label = "embedded (2 workers)" if mode == "embedded" else "Celery (2 workers)"
            for run in range(args.repeat):
                result = run_service(
                    root / f"{mode}{run}",
                    mode,
                    args.sandbox,
                    uploads,
                    args.connections,
                    args.client_processes,
                    args,
                )
                rows.append(
                    (
                        f"{label}: accept",
                        f"p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, "
                        f"max {result['max']:.1f} ms "
                        f"({'met' if result['p99'] < P99_TARGET_MS else 'MISSED'} < 50 ms); "
                        f"CPU/request: API {result['api_cpu_ms']:.2f} ms, "
                        f"client {result['client_cpu_ms']:.2f} ms",
                    )
                )
                done = f"{result['all_done']:.1f} s"
                if batch_wall is not None:
                    ratio = batch_wall / result["all_done"]
                    done += (
                        f", {ratio:.2f}x batch throughput "
                        f"({'met' if ratio >= THROUGHPUT_TARGET else 'MISSED'} >= 0.9x)"
                    )
                rows += [
                    (f"{label}: all done", done),
                    (f"{label}: jobs lost", f"{int(result['lost'])}"),
                    (f"{label}: jobs graded twice", f"{int(result['duplicated'])}"),
                ]
                print(*rows[-4:], sep="\n", flush=True)
    print(
        f"grading service, a burst of {n}, {args.sandbox} sandbox"
        f"{', kill -9 mid-run' if args.kill else ''}, "
        f"{args.connections} connections from {args.client_processes} client processes, 2 cores"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
