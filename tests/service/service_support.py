"""Real components for the service tests (conftest.py re-exports the fixtures):
`grade serve` and `grade worker` processes, a redis-server, a webhook receiver.
Everything listens on 127.0.0.1 only.

The servers grade with the process sandbox (Docker adds nothing to what these
tests check; tests/service/test_docker_service.py covers Docker end to end).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import REFERENCE, REPO, free_port, redis_server

GRADE = [sys.executable, "-m", "grader"]
SYNTAX_ERROR = b"def broken(:\n    pass\n"
START_DEADLINE = 30.0


def broken_source(tag: str) -> bytes:
    """A syntax error (graded in ~0.3 s) with distinct bytes per tag."""
    return f"# {tag}\n".encode() + SYNTAX_ERROR


def wait_until(predicate: Callable[[], Any], deadline: float, what: str, step: float = 0.1) -> Any:
    """Poll ``predicate`` until it is truthy; fail the test after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    pytest.fail(f"timed out after {deadline} s waiting for {what}")


@dataclass
class Proc:
    """A child process of the test, always stopped at teardown."""

    args: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        environment = {**os.environ, **self.env}
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.args, cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, deadline: float = 30.0) -> int | None:
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(deadline)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


class Service:
    """`grade serve` on a free loopback port, with its own data folder."""

    def __init__(self, data_dir: Path, *extra: str, sandbox: str = "process") -> None:
        self.data_dir = data_dir
        self.sandbox = sandbox
        self.extra = list(extra)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Proc | None = None

    @property
    def database(self) -> str:
        return f"sqlite:///{(self.data_dir / 'service.db').resolve()}"

    def start(self) -> Service:
        args = [*GRADE, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        args += ["--sandbox", self.sandbox, "--no-access-log", *self.extra]
        self.proc = Proc(args, self.data_dir / "serve.log").start()

        def healthy() -> bool:
            assert self.proc is not None
            if not self.proc.alive():
                pytest.fail(f"grade serve exited:\n{self.proc.tail()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, START_DEADLINE, "grade serve to answer /healthz", step=0.2)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        return self.proc.stop(sig) if self.proc else None

    def token(self, course: str = "cs101") -> str:
        from grader.service.store import Store

        store = Store(self.database)
        try:
            return store.create_token(course)[0]
        finally:
            store.close()

    def secret(self, course: str = "cs101") -> str:
        from grader.service.store import Store

        store = Store(self.database)
        try:
            secret = store.course_secret(course)
            assert secret is not None
            return secret
        finally:
            store.close()


def client(service: Service, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=service.url, headers=headers, timeout=10)


def slow_running_quick_queued(http: httpx.Client, tag: str) -> tuple[dict[str, Any], list[Any]]:
    """Submit the reference (slow) and three broken files (quick); return once the slow
    one runs: a service to stop with a job running and jobs queued."""
    slow = http.post("/v1/submissions", content=REFERENCE.read_bytes()).json()
    quick = [
        http.post("/v1/submissions", content=broken_source(f"{tag}{i}")).json() for i in range(3)
    ]
    wait_until(
        lambda: http.get(f"/v1/submissions/{slow['id']}").json()["status"] == "running",
        30,
        "the slow job to start",
    )
    return slow, quick


def wait_done(http: httpx.Client, job_id: str, deadline: float = 60.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = http.get(f"/v1/submissions/{job_id}").json()
        return job if job["status"] == "done" else None

    result: dict[str, Any] = wait_until(done, deadline, f"job {job_id} to be done", step=0.2)
    return result


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start `grade serve` (process sandbox) with extra flags; stopped at teardown."""
    started: list[Service] = []

    def start(*extra: str, data_dir: Path | None = None) -> Service:
        folder = data_dir or tmp_path / f"data{len(started)}"
        folder.mkdir(exist_ok=True)
        service = Service(folder, *extra).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of our own on a free loopback port (scripts/ensure-redis.sh installs it)."""
    binary = redis_server()
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder),
         "--save", "", "--appendonly", "yes"]  # fmt: skip
    proc = Proc(args, folder / "redis.log").start()

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_until(answers, 20, "redis-server to answer PING")
    yield f"redis://127.0.0.1:{port}/0"
    proc.stop()


def start_worker(data_dir: Path, redis: str, queue: str, name: str, *extra: str) -> Proc:
    """A real `grade worker` (Celery, one job at a time) on the service's SQLite file."""
    args = [*GRADE, "worker", "--broker", redis, "--data-dir", str(data_dir), "--queue", queue,
            "--concurrency", "1", "--name", f"{name}@%h", "--no-image-check", *extra]  # fmt: skip
    proc = Proc(args, data_dir / f"{name}.log").start()
    wait_until(
        lambda: "ready" in proc.tail() or not proc.alive(), START_DEADLINE, f"{name} to be ready"
    )
    assert proc.alive(), proc.tail()
    return proc


@dataclass
class Receiver:
    """A webhook receiver (uvicorn + Starlette) on 127.0.0.1 recording what it gets."""

    port: int
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: Any = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def hook(request: Request) -> Response:
            self.received.append((dict(request.headers), await request.body()))
            return Response(status_code=204)

        app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, 10, "the webhook receiver to start")
        return self

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(10)


@pytest.fixture
def receiver() -> Iterator[Callable[[int | None], Receiver]]:
    made: list[Receiver] = []

    def make(port: int | None = None) -> Receiver:
        hook = Receiver(port or free_port()).start()
        made.append(hook)
        return hook

    yield make
    for hook in made:
        hook.stop()
