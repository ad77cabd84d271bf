"""Running one job: claim the next one, grade it through the library, record the verdict once.

Embedded worker threads and Celery tasks both call :func:`run_next`, and it
grades through :func:`grader.api.grade_submission`, the path ``grade`` and
``grade batch`` use: one way to grade, whoever asks. A message (a thread-pool
item, a Celery task) means "one grading to do", not "this job": the claim picks
the job, in fair order (:meth:`grader.service.db.jobs.Jobs.claim_next`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from ..api import Backends, Retries, grade_or_not_gradable, grade_submission, stamp
from ..errors import Cancelled
from ..models import Feedback
from ..sandbox.docker_backend import CONTAINER_LABELS, LABEL_JOB
from ..settings import GradeSettings
from ..submission import Submission
from .config import WorkerConfig
from .db import JobRecord, Store
from .identity import Owner

log = logging.getLogger("grader.service")

Outcome = Literal["done", "duplicate", "idle", "released"]
_T = TypeVar("_T")


def lower_priority(niceness: int) -> None:
    """Raise the calling thread's niceness to ``niceness`` (never lowers it; Linux: per thread).

    Processes the thread starts afterwards (the sandbox, the judge) inherit it.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, max(current, niceness))


class NicedRunner:
    """Runs the grading itself in threads at a lower CPU priority than the caller's.

    The sandbox and the judge inherit that niceness, so on a machine that also
    runs the API a deadline burst is accepted first. The job's database work
    (claim, lease, verdict) stays in the caller's thread at normal priority: it
    holds the database's write lock, and a niced holder would make the API wait
    for it behind every busy process (priority inversion).
    """

    def __init__(self, niceness: int, threads: int) -> None:
        self.pool = ThreadPoolExecutor(
            max(1, threads), "niced", initializer=lower_priority, initargs=(niceness,)
        )

    def __call__(self, function: Callable[..., _T], *args: Any) -> _T:
        return self.pool.submit(function, *args).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def worker_name(prefix: str = "worker") -> str:
    """A name unique to this thread of this process on this machine (the lease owner)."""
    return f"{prefix}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Heartbeat:
    """Renews a job's lease in the background; on a lost lease, cancels the grading."""

    def __init__(self, store: Store, job_id: str, worker: str, lease: float,
                 cancel: threading.Event) -> None:  # fmt: skip
        self.store, self.job_id, self.worker, self.lease = store, job_id, worker, lease
        self.cancel = cancel
        self.lost = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job_id[:8]}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopped.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stopped.wait(self.lease / 3):
            try:
                renewed = self.store.jobs.renew(self.job_id, self.worker, self.lease)
            except Exception:  # the database hiccuped: the lease still has two thirds left
                log.exception("could not renew the lease of job %s", self.job_id)
                continue
            if not renewed:
                log.warning("job %s: lease lost, another worker has it", self.job_id)
                self.lost = True
                self.cancel.set()
                return


def run_next(
    store: Store,
    worker: str,
    config: WorkerConfig,
    cancel: threading.Event | None = None,
    on_done: Callable[[str], None] | None = None,
    runner: NicedRunner | None = None,
    backends: Backends | None = None,
) -> Outcome:
    """Claim the next job in fair order and grade it. Never raises for the job's sake.

    ``cancel`` (graceful stop) gives the job back to the queue unfinished. An
    infrastructure error is retried with exponential backoff, then recorded as
    ``gradable: false``; ``on_done`` is called once the verdict is recorded.
    ``runner`` runs the grading itself (niced), else this thread does.
    ``backends``, kept by a worker across its jobs, lets it reuse its sandbox
    backends (a Docker client, containers started ahead of need).
    """
    cancel = cancel or threading.Event()
    job = store.jobs.claim_next(worker, Owner.current(), config.lease_seconds)
    if job is None:
        return "idle"  # nothing queued: another message's worker took it
    started = time.monotonic()
    with Heartbeat(store, job.id, worker, config.lease_seconds, cancel):
        try:
            feedback = _grade_with_retries(store, job, worker, config, cancel, runner, backends)
        except Cancelled:
            store.jobs.release(job.id, worker)
            return "released"
    seconds = time.monotonic() - started
    if not store.jobs.finish(
        job.id, worker, feedback.model_dump_json(), outcome(feedback), seconds
    ):
        return "duplicate"
    if on_done is not None and job.callback_url:
        on_done(job.id)
    return "done"


def outcome(feedback: Feedback) -> str:
    """passed, failed (issues, or the file could not run) or not-gradable (our failure)."""
    if not feedback.gradable:
        return "not-gradable"
    return "passed" if feedback.status == "passed" else "failed"


def _grade_with_retries(
    store: Store,
    job: JobRecord,
    worker: str,
    config: WorkerConfig,
    cancel: threading.Event,
    runner: NicedRunner | None,
    backends: Backends | None,
) -> Feedback:
    settings = GradeSettings.model_validate_json(job.settings_json)
    submission = Submission(name=job.filename, raw=job.source, size=len(job.source))

    def once() -> Feedback:
        # In the thread that grades: the containers started for this job carry its id.
        labels = CONTAINER_LABELS.set({LABEL_JOB: job.id})
        try:
            backend = backends.get(settings) if backends is not None else None
            return grade_submission(submission, settings, cancel, backend)
        finally:
            CONTAINER_LABELS.reset(labels)

    try:
        return grade_or_not_gradable(
            submission,
            settings,
            Retries(config.retries, backoff=config.backoff, max_wait=60.0),
            cancel,
            attempt=once if runner is None else lambda: runner(once),
            noted=lambda message: store.jobs.note_infra_error(job.id, worker, message),
        )
    except Cancelled:
        raise
    except Exception as exc:  # a bug of ours: logged in full, never the student's zero
        log.exception("job %s: grading raised", job.id)
        store.jobs.note_infra_error(job.id, worker, repr(exc))
        message = "The grader failed unexpectedly; this is not the submission's fault."
    return stamp(Feedback.not_gradable(message), submission, settings)
