"""Celery carries job ids between the API and ``grade worker`` processes.

Celery is transport only: the database (:mod:`grader.service.db`) decides
who grades what, and which job comes next (a message means "one grading to
do"). Messages are acknowledged late (after the task returns) and rejected
back to the queue when a pool process dies, so a worker killed mid-job does
not swallow the message; and because a task must win the job's lease before
grading, a redelivered or duplicated message grades nothing twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from celery import Celery, Task
from celery.utils.time import get_exponential_backoff_interval

from ..api import Backends
from .callbacks import DeliveryFailed, deliver_once
from .config import VISIBILITY_TIMEOUT, WorkerConfig
from .containers import instance_labels, remove_dead_owners_containers
from .db import Store
from .grading import NicedRunner, run_next
from .identity import Owner

log = logging.getLogger("grader.service")

GRADE_TASK = "grader.grade"
CALLBACK_TASK = "grader.callback"

app = Celery("minigpt_grader", set_as_current=False)


def configure(broker: str, queue: str) -> Celery:
    """Point the app at ``broker``; every message of this service goes to ``queue``."""
    app.conf.update(
        broker_url=broker,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        task_default_queue=queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
    )
    return app


@dataclass
class WorkerRuntime:
    """What the tasks of this worker process use (set by ``grade worker``).

    ``runner`` grades at niceness ``config.nice`` (see :class:`NicedRunner`): made
    once the worker knows its concurrency. ``backends`` is reused by every task; its
    containers carry this process's instance label.
    """

    store: Store
    config: WorkerConfig
    queue: str
    runner: NicedRunner | None = None
    backends: Backends = field(default_factory=lambda: Backends(labels=instance_labels()))


_runtime: WorkerRuntime | None = None


def install_runtime(runtime: WorkerRuntime) -> None:
    global _runtime
    _runtime = runtime


def _get_runtime() -> WorkerRuntime:
    if _runtime is None:
        raise RuntimeError("grade worker did not set up this process")
    return _runtime


@app.task(name=GRADE_TASK, bind=True)
def grade_task(self: Task[Any, Any], job_id: str) -> str:
    """One grading: of the next job in fair order (``job_id`` is the one that sent it)."""
    runtime = _get_runtime()
    worker = f"{self.request.hostname}/{uuid.uuid4().hex[:8]}"

    def send_callback(done_id: str) -> None:
        app.send_task(CALLBACK_TASK, args=[done_id], queue=runtime.queue)

    return run_next(runtime.store, worker, runtime.config, on_done=send_callback,
                    runner=runtime.runner, backends=runtime.backends)  # fmt: skip


@app.task(name=CALLBACK_TASK, bind=True)
def callback_task(self: Task[Any, Any], job_id: str) -> None:
    runtime = _get_runtime()
    config = runtime.config
    final = self.request.retries >= config.callback_retries
    try:
        deliver_once(runtime.store, job_id, config, final=final)
    except DeliveryFailed as exc:
        if final:
            log.warning("callback of job %s failed for good: %s", job_id, exc)
            return
        delay = get_exponential_backoff_interval(
            factor=int(max(1, config.callback_backoff)),
            retries=self.request.retries,
            maximum=300,
            full_jitter=False,
        )
        raise self.retry(exc=exc, countdown=delay, max_retries=config.callback_retries) from exc


def run_worker(runtime: WorkerRuntime, broker: str, name: str, concurrency: int) -> None:
    """Start a Celery worker in this process (blocks; SIGTERM finishes running jobs).

    First what a dead predecessor on this host left: its jobs go back to the queue
    at once (in their place), its containers are removed.
    """
    configure(broker, runtime.queue)
    requeued = runtime.store.jobs.requeue_orphans(Owner.current())
    if requeued:
        log.info("requeued %d job(s) of processes that are gone", len(requeued))
    remove_dead_owners_containers()
    if runtime.config.nice:
        runtime.runner = NicedRunner(runtime.config.nice, concurrency)
    install_runtime(runtime)
    app.worker_main(
        [
            "worker",
            "--pool=threads",  # grading waits on sandbox processes: threads are enough
            f"--concurrency={concurrency}",
            f"--queues={runtime.queue}",
            f"--hostname={name}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
    if runtime.runner is not None:
        runtime.runner.close()
    runtime.backends.close()  # and with them their spare containers
