"""`grade serve --api-processes N`: N uvicorn processes answer HTTP, the supervising
process grades (embedded) or feeds the broker, and sweeps; all over real HTTP.

The database is the only link between the API processes and the graders, so
these tests check what could break across processes: every accepted job is
graded exactly once and by the supervisor, none is lost, an Idempotency-Key
raced across processes still gives one job, and SIGTERM gives running jobs back.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from grader.errors import EXIT_INFRASTRUCTURE

from .service_support import (
    GRADE,
    START_DEADLINE,
    Proc,
    Service,
    broken_source,
    client,
    slow_running_quick_queued,
    start_worker,
    wait_done,
    wait_until,
)

pytestmark = pytest.mark.service


def api_children(service: Service) -> list[int]:
    """The API processes uvicorn spawned under `grade serve` (not the judges it runs)."""
    assert service.proc is not None
    pid = service.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"multiprocessing.spawn" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def burst(service: Service, token: str, distinct: int, keyed: int) -> list[httpx.Response]:
    """``distinct`` different files and ``keyed`` copies under one Idempotency-Key, at once,
    each on a connection of its own (so both API processes get some)."""

    async def post(**request: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=30) as http:
            return await http.post("/v1/submissions", **request)  # type: ignore[arg-type]

    async def everything() -> list[httpx.Response]:
        files = [
            post(files={"file": (f"s{i}.py", broken_source(f"p{i}"))}, data={"student": f"s{i}"})
            for i in range(distinct)
        ]
        same = [
            post(content=broken_source("keyed"), headers={"Idempotency-Key": "k1"})
            for _ in range(keyed)
        ]
        return await asyncio.gather(*files, *same)

    return asyncio.run(everything())


def test_two_api_processes_accept_a_burst_and_each_job_is_graded_once(
    start_service: Callable[..., Service],
) -> None:
    service = start_service("--workers", "2", "--api-processes", "2")
    assert service.proc is not None
    apis = api_children(service)
    assert len(apis) == 2
    token = service.token()
    answers = burst(service, token, distinct=30, keyed=8)
    distinct, keyed = answers[:30], answers[30:]
    assert [a.status_code for a in distinct] == [202] * 30, [a.text for a in distinct]
    ids = [a.json()["id"] for a in distinct]
    assert len(set(ids)) == 30
    assert sorted(a.status_code for a in keyed) == [200] * 7 + [202]
    assert len({a.json()["id"] for a in keyed}) == 1
    ids.append(keyed[0].json()["id"])
    with client(service, token) as http:
        assert http.get("/healthz").json()["mode"] == "embedded"
        for job_id in ids:
            assert wait_done(http, job_id)["feedback"]["error"]["kind"] == "syntax"
    store = service.store()
    try:
        for job_id in ids:
            events = [(e.kind, e.worker) for e in store.reads.events(job_id) or []]
            kinds = [kind for kind, _ in events]
            assert kinds.count("claimed") == 1 and kinds.count("done") == 1, events
            # Graded by the supervisor's workers, never in an API process.
            grader = next(worker for kind, worker in events if kind == "claimed")
            assert grader is not None and f":{service.proc.pid}:" in grader
        assert store.jobs.never_dispatched() == []
    finally:
        store.close()


def test_sigterm_to_the_supervisor_requeues_and_a_restart_resumes(
    start_service: Callable[..., Service],
) -> None:
    service = start_service("--workers", "1", "--api-processes", "1")
    apis = api_children(service)
    with client(service, service.token()) as http:
        slow, quick = slow_running_quick_queued(http, "t")
    assert service.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert service.proc is not None and "shutdown complete" in service.proc.tail()
    for pid in apis:  # the API processes stopped (and were reaped) before it
        assert not Path(f"/proc/{pid}").exists()
    store = service.store()
    try:
        assert store.reads.job(slow["id"]).status == "queued"  # type: ignore[union-attr]
        assert any(e.kind == "released" for e in store.reads.events(slow["id"]) or [])
    finally:
        store.close()
    service.start()
    with client(service, service.token()) as http:
        for job in [slow, *quick]:
            assert wait_done(http, job["id"], deadline=90)["gradable"] is True
        assert http.get(f"/v1/submissions/{slow['id']}").json()["score"] == 100


def test_celery_workers_get_what_an_api_process_accepted(
    start_service: Callable[..., Service], redis_url: str
) -> None:
    """With a broker, the supervisor (not the API process) sends the jobs to Celery."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    service = start_service("--broker", redis_url, "--queue", queue, "--api-processes", "2")
    worker: Proc = start_worker(service, redis_url, queue, "w1")
    try:
        token = service.token()
        with client(service, token) as http:
            assert http.get("/healthz").json()["mode"] == "celery"
            ids = [
                http.post("/v1/submissions", content=broken_source(f"c{i}")).json()["id"]
                for i in range(4)
            ]
            for job_id in ids:
                assert wait_done(http, job_id, deadline=60)["gradable"] is True
        store = service.store()
        try:
            for job_id in ids:
                events = store.reads.events(job_id) or []
                claimers = [e.worker for e in events if e.kind == "claimed"]
                assert len(claimers) == 1 and claimers[0] is not None, events
                assert claimers[0].startswith("w1@")
                assert [e.kind for e in events].count("done") == 1
        finally:
            store.close()
    finally:
        worker.stop()


def ended(pid: int) -> bool:
    """The process exited (gone, or a zombie its new parent has not reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_api_processes_stop_when_the_supervisor_is_killed(
    start_service: Callable[..., Service],
) -> None:
    """SIGKILL leaves uvicorn no chance to stop its API processes: they must notice the
    supervisor is gone and stop, not go on accepting jobs nobody grades."""
    service = start_service("--workers", "1", "--api-processes", "2")
    apis = api_children(service)
    assert len(apis) == 2
    assert service.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_until(lambda: all(ended(pid) for pid in apis), 20, "the API processes to stop")
    with pytest.raises(httpx.TransportError):  # nobody listens any more
        httpx.get(f"{service.url}/healthz", timeout=2)


def test_a_restart_after_kill_9_regrades_the_dead_ones_jobs_at_once_in_their_place(
    start_service: Callable[..., Service],
) -> None:
    """The supervisor killed outright mid-grading: its restart puts the job back at once
    (the dead process is gone from this host: no wait for the 10-minute lease), and that
    job is graded before the jobs accepted after it."""
    service = start_service("--workers", "1", "--lease", "600")
    apis = api_children(service)
    with client(service, service.token()) as http:
        slow, quick = slow_running_quick_queued(http, "k")
    assert service.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_until(lambda: all(ended(pid) for pid in apis), 20, "the API processes to stop")
    store = service.store()
    try:
        assert store.reads.job(slow["id"]).status == "running"  # type: ignore[union-attr]
        service.start()
        with client(service, service.token()) as http:
            for job in [slow, *quick]:
                assert wait_done(http, job["id"], deadline=120)["gradable"] is True
        events = store.reads.events(slow["id"]) or []
        kinds = [e.kind for e in events]
        assert "owner-gone-requeued" in kinds and "lease-expired-requeued" not in kinds
        assert kinds.count("done") == 1 and kinds.count("claimed") == 2
        regraded = [e.at for e in events if e.kind == "claimed"][-1]
        for job in quick:  # accepted after it: claimed after it
            claims = [e.at for e in store.reads.events(job["id"]) or [] if e.kind == "claimed"]
            assert claims and min(claims) > regraded
    finally:
        store.close()


def test_port_0_listens_on_a_free_port_and_says_which(tmp_path: Path) -> None:
    for processes in ("0", "1"):
        data = tmp_path / f"data{processes}"
        args = [*GRADE, "serve", "--port", "0", "--data-dir", str(data), "--sandbox", "process"]
        proc = Proc([*args, "--api-processes", processes], tmp_path / f"{processes}.log").start()
        try:
            url = wait_until(lambda p=proc: _said_url(p), START_DEADLINE, "the address")
            wait_until(lambda u=url: _answers(f"{u}/healthz"), START_DEADLINE, f"{url}")
        finally:
            assert proc.stop() in (0, -signal.SIGTERM), proc.tail()


def _said_url(proc: Proc) -> str | None:
    """The address `grade serve` says it listens on, once it says a real port."""
    found = re.search(r"grade serve: (http://127\.0\.0\.1:(\d+)) ", proc.tail())
    return found.group(1) if found and found.group(2) != "0" else None


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for processes in ("0", "1"):
            args = [*GRADE, "serve", "--port", str(port), "--sandbox", "process"]
            args += ["--data-dir", str(tmp_path / processes), "--api-processes", processes]
            done = subprocess.run(args, capture_output=True, text=True, timeout=60)
            assert done.returncode == EXIT_INFRASTRUCTURE, done.stderr
            assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
            assert "--port 0" in done.stderr
            assert "Traceback" not in done.stderr
