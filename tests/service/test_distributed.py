"""Distributed mode: a real redis-server, two real Celery worker processes, the API,
on SQLite (the workers share the API's file, one machine) and on PostgreSQL.

The workers' lease is 10 minutes, longer than any of these tests: a job that comes
back from a worker killed outright came back because the supervisor saw, on this
host, that the worker's process is gone, not because a lease ran out.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import REFERENCE

from grader.service.db import NewJob, QueueLimits
from grader.service.webhooks import ID_HEADER, verify

from .service_support import (
    Proc,
    Receiver,
    Service,
    assert_courses_take_turns,
    broken_source,
    client,
    start_worker,
    wait_done,
    wait_until,
)

pytestmark = pytest.mark.service

LEASE = ["--lease", "600"]


def children(pid: int) -> list[int]:
    """The processes that any thread of ``pid`` started."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # the thread ended meanwhile
            continue
    return found


@pytest.fixture
def cluster(
    start_service: Callable[..., Service], redis_url: str
) -> Iterator[tuple[Service, dict[str, Proc]]]:
    queue = f"q-{uuid.uuid4().hex[:8]}"  # this test's own queue on the shared redis
    service = start_service("--broker", redis_url, "--queue", queue, "--sweep-interval", "0.5")
    workers = {name: start_worker(service, redis_url, queue, name, *LEASE) for name in ("w1", "w2")}
    yield service, workers
    for worker in workers.values():
        worker.stop()


def test_a_worker_killed_mid_job_loses_nothing_and_grades_once(
    cluster: tuple[Service, dict[str, Proc]],
) -> None:
    service, workers = cluster
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert service.proc is not None and os.getpriority(os.PRIO_PROCESS, service.proc.pid) == ours
    store = service.store()
    with client(service, service.token()) as http:
        job = http.post("/v1/submissions", content=REFERENCE.read_bytes()).json()

        def owner() -> str | None:
            record = store.reads.job(job["id"])
            return record.lease_owner if record and record.status == "running" else None

        holder = wait_until(owner, 30, "a worker to claim the job")
        victim = next(w for name, w in workers.items() if holder.startswith(f"{name}@"))
        # The grading runs niced (`grade worker --nice 10`): the judge it started inherits
        # that; the worker's own threads, which hold the database's write lock, do not.
        judges = wait_until(lambda: children(victim.pid), 30, "the judge to start")
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in judges} == {max(ours, 10)}
        assert os.getpriority(os.PRIO_PROCESS, victim.pid) == ours
        victim.stop(signal.SIGKILL)
        done = wait_done(http, job["id"], deadline=90)
    assert done["score"] == 100 and done["gradable"] is True
    events = [(e.kind, e.worker) for e in store.reads.events(job["id"]) or []]
    kinds = [kind for kind, _ in events]
    assert kinds.count("done") == 1, events  # recorded exactly once
    assert "owner-gone-requeued" in kinds and "lease-expired-requeued" not in kinds
    claimers = [worker for kind, worker in events if kind == "claimed"]
    assert len(claimers) >= 2 and claimers[0] == holder and claimers[-1] != holder
    assert done["attempts"] == len(claimers)
    store.close()


def test_restarting_the_api_with_jobs_queued_loses_none(
    cluster: tuple[Service, dict[str, Proc]], receiver: Callable[..., Receiver]
) -> None:
    service, _ = cluster
    hook = receiver()
    token = service.token()
    with client(service, token) as http:
        accepted = [
            http.post("/v1/submissions", content=broken_source(f"r{i}")).json()["id"]
            for i in range(6)
        ]
        accepted.append(
            http.post(
                "/v1/submissions",
                content=REFERENCE.read_bytes(),
                params={"callback_url": hook.url},
            ).json()["id"]
        )
    service.stop(signal.SIGTERM)
    # A job the API committed but never handed to the broker (as if it crashed in between).
    store = service.store()
    found = store.tokens.find(token)
    assert found is not None
    orphan, _ = store.jobs.create_one(
        NewJob(
            course="cs101",
            token_id=found[0],
            student="orphan",
            filename="minigpt.py",
            source=broken_source("orphan"),
            settings_json=store.reads.job(accepted[0]).settings_json,  # type: ignore[union-attr]
            grading_key="orphan",
        ),
        QueueLimits(),
    )
    service.start()
    with client(service, token) as http:
        for job_id in [*accepted, orphan.id]:
            assert wait_done(http, job_id, deadline=90)["gradable"] is True
    for job_id in [*accepted, orphan.id]:
        assert [e.kind for e in store.reads.events(job_id) or []].count("done") == 1
    # The callback went out from a worker, signed with the course's secret.
    wait_until(lambda: hook.received, 30, "the callback")
    headers, body = hook.received[0]
    assert headers[ID_HEADER] == accepted[-1]
    verify(service.secret(), body, headers)
    assert b'"score":100' in body.replace(b" ", b"")
    store.close()


def test_courses_take_turns_on_celery_workers(
    start_service: Callable[..., Service], redis_url: str
) -> None:
    """With one Celery worker: the message order is not the job order."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    service = start_service("--broker", redis_url, "--queue", queue)
    worker = start_worker(service, redis_url, queue, "w1")
    try:
        assert_courses_take_turns(service)
    finally:
        worker.stop()
