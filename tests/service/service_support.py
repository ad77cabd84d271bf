"""Real components for the service tests (conftest.py re-exports the fixtures):
`grade serve` and `grade worker` processes, a redis-server, a PostgreSQL cluster
(scripts/ensure-postgres.sh), a webhook receiver. Everything listens on 127.0.0.1 only.

Every test that starts a service runs twice: on SQLite in the service's data
folder, and on a fresh database of its own in the PostgreSQL cluster.

The servers grade with the process sandbox (Docker adds nothing to what these
tests check; tests/service/test_docker_service.py covers Docker end to end).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import (
    CHROMIUM_FLAGS,
    REFERENCE,
    REPO,
    chromium_and_driver,
    free_port,
    postgres_bin,
    redis_server,
)

from grader.service.db import Store

GRADE = [sys.executable, "-m", "grader"]
SYNTAX_ERROR = b"def broken(:\n    pass\n"
START_DEADLINE = 30.0
# The test receivers listen on 127.0.0.1; callbacks elsewhere on loopback stay refused.
LOOPBACK_ALLOWED = ["--callback-allow", "127.0.0.1/32"]


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

    def __init__(self, data_dir: Path, *extra: str, sandbox: str = "process",
                 database: str | None = None) -> None:  # fmt: skip
        self.data_dir = data_dir
        self.sandbox = sandbox
        self.extra = list(extra)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Proc | None = None
        self.database = database or f"sqlite:///{(data_dir / 'service.db').resolve()}"

    @property
    def data_args(self) -> list[str]:
        """How `grade serve`, `grade worker` and the token commands find this database
        (and the data folder, which holds the LTI tool's key whatever the database)."""
        if self.database.startswith("sqlite"):
            return ["--data-dir", str(self.data_dir)]
        return ["--data-dir", str(self.data_dir), "--database", self.database]

    def start(self) -> Service:
        args = [*GRADE, "serve", "--port", str(self.port), *self.data_args]
        args += ["--sandbox", self.sandbox, "--no-access-log", *LOOPBACK_ALLOWED, *self.extra]
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

    def kill(self) -> None:
        """SIGKILL, then wait until nothing answers on its port (its API processes notice
        within a second that their supervisor is gone, and stop)."""
        assert self.stop(signal.SIGKILL) == -signal.SIGKILL

        def down() -> bool:
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
            except httpx.TransportError:
                return True
            return False

        wait_until(down, 20, "the killed service's API processes to stop")

    def store(self) -> Store:
        return Store(self.database)

    def token(self, course: str = "cs101") -> str:
        store = self.store()
        try:
            return store.tokens.create(course)[0]
        finally:
            store.close()

    def secret(self, course: str = "cs101") -> str:
        store = self.store()
        try:
            return store.tokens.secrets(course)[0]
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


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL cluster of our own, started by scripts/ensure-postgres.sh on a free port;
    the URL of its maintenance database (each test makes a database of its own)."""
    binaries = postgres_bin()
    # Not under pytest's own folder: as root the cluster runs as `postgres`, which must
    # reach its data folder, and pytest's base folder is root's alone.
    folder = Path(tempfile.mkdtemp(prefix="grader-test-pg-"))
    port = free_port()
    environment = {**os.environ, "POSTGRES_PORT": str(port), "POSTGRES_DIR": str(folder)}
    done = subprocess.run(["bash", str(REPO / "scripts" / "ensure-postgres.sh")],
                          env=environment, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip().splitlines()[-1]
    assert url.startswith("postgresql+psycopg://") and f":{port}/" in url, done.stdout
    yield url
    owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    subprocess.run([*owner, str(binaries / "pg_ctl"), "-D", str(folder), "-m", "fast", "stop"],
                   capture_output=True, timeout=60)  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server: str) -> str:
    """A new empty database in the cluster at ``server`` (its URL)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    base, _, _ = server.rpartition("/")
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    """None (SQLite in the service's data folder) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return fresh_database(request.getfixturevalue("postgres"))


@pytest.fixture
def start_service(tmp_path: Path, database: str | None) -> Iterator[Callable[..., Service]]:
    """Start `grade serve` (process sandbox) with extra flags, on SQLite or PostgreSQL;
    stopped at teardown."""
    started: list[Service] = []

    def start(*extra: str, data_dir: Path | None = None) -> Service:
        folder = data_dir or tmp_path / f"data{len(started)}"
        folder.mkdir(exist_ok=True)
        service = Service(folder, *extra, database=database).start()
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


def start_worker(service: Service, redis: str, queue: str, name: str, *extra: str) -> Proc:
    """A real `grade worker` (Celery, one job at a time) on the service's database."""
    args = [*GRADE, "worker", "--broker", redis, *service.data_args, "--queue", queue,
            "--concurrency", "1", "--name", f"{name}@%h", "--no-image-check",
            *LOOPBACK_ALLOWED, *extra]  # fmt: skip
    proc = Proc(args, service.data_dir / f"{name}.log").start()
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
    status: int = 204  # what it answers
    headers: dict[str, str] = field(default_factory=dict)

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
            return Response(status_code=self.status, headers=self.headers)

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

    def make(port: int | None = None, status: int = 204,
             headers: dict[str, str] | None = None) -> Receiver:  # fmt: skip
        hook = Receiver(port or free_port(), status=status, headers=headers or {}).start()
        made.append(hook)
        return hook

    yield make
    for hook in made:
        hook.stop()


def assert_courses_take_turns(service: Service) -> None:
    """One grader busy with course A's first job, A's burst queued, then one job of B:
    B's job is graded next, not after A's burst (the service must have one grader)."""
    with client(service, service.token("A")) as a, client(service, service.token("B")) as b:
        first = a.post("/v1/submissions", content=REFERENCE.read_bytes()).json()
        wait_until(
            lambda: a.get(f"/v1/submissions/{first['id']}").json()["status"] == "running",
            60,
            "the first job to run",
        )
        burst = [
            a.post("/v1/submissions", content=broken_source(f"a{i}")).json()["id"] for i in range(4)
        ]
        other = b.post("/v1/submissions", content=broken_source("b")).json()["id"]
        for job_id in burst:
            wait_done(a, job_id, deadline=120)
        wait_done(b, other)
    store = service.store()
    try:
        started = {j: store.reads.job(j).started_at for j in [*burst, other]}  # type: ignore[union-attr]
    finally:
        store.close()
    assert sorted(started, key=lambda j: started[j]) == [other, *burst]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start Debian's headless chromium through chromedriver (``browser(javascript=False)``
    turns scripts off); every one started is quit at teardown."""
    chromium, driver_path = chromium_and_driver()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    drivers: list[Any] = []

    def start(*, javascript: bool = True) -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (*CHROMIUM_FLAGS, "--window-size=1100,1000"):
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={tmp_path / f'chromium-{len(drivers)}'}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        if not javascript:
            options.add_experimental_option(
                "prefs", {"profile.managed_default_content_settings.javascript": 2}
            )
        driver = webdriver.Chrome(options=options, service=DriverService(driver_path))
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


def console_errors(driver: Any) -> list[Any]:
    """The page's console errors (a Content Security Policy violation is one)."""
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def screenshot(driver: Any, name: str) -> None:
    """Keep a picture of the page for the README when GRADER_SCREENSHOT_DIR is set."""
    folder = os.environ.get("GRADER_SCREENSHOT_DIR")
    if folder:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1100, max(600, min(int(height) + 160, 2400)))
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


# A file that hangs at import (the service's --import-timeout ends it): it keeps a
# one-worker service busy, so what is submitted next waits in the queue.
HOG = b"while True:\n    pass\n"
