"""Handing jobs to workers: embedded threads (default) or Celery workers (a broker URL).

Either way the database stays the record of truth, and the API process runs a
:class:`Sweeper` that puts back in the queue what the queue may have lost: a
job whose lease expired (its worker died or its machine vanished), a job
accepted but never handed over (the broker was down), and, at start-up,
every queued job and every callback not yet delivered.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .callbacks import deliver_with_retries
from .config import VISIBILITY_TIMEOUT, WorkerConfig
from .grading import run_job, worker_name
from .store import Store

log = logging.getLogger("grader.service")

_T = TypeVar("_T")


class Dispatcher(ABC):
    mode: str

    @abstractmethod
    def submit(self, job_id: str) -> None:
        """Hand a queued job to a worker (at least once; the lease makes it once)."""

    def submit_many(self, job_ids: Sequence[str]) -> None:
        """Hand over jobs accepted together; must not block on a remote queue."""
        for job_id in job_ids:
            self.submit(job_id)

    @abstractmethod
    def callback(self, job_id: str) -> None:
        """Deliver a finished job's callback, away from the grading workers."""

    def resume(self, store: Store) -> None:
        """At start-up: what a previous run left queued or undelivered."""
        for job_id in store.pending_callbacks():
            self.callback(job_id)

    def stop(self) -> None:  # noqa: B027 (nothing to stop for a remote queue)
        """Graceful stop: finish or give back what runs here."""

    def problem(self) -> str | None:
        """Why the service cannot take work right now, for /healthz (None: healthy)."""
        return None


GRADING_NICENESS = 10


def _lower_priority() -> None:
    """Run this grading thread, and the sandbox processes it starts, at a lower priority.

    On Linux a niceness belongs to a thread and is inherited by the processes it
    forks, so the API's own thread stays at full priority: a deadline burst is
    accepted quickly even while every core grades.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, max(current, GRADING_NICENESS))


class EmbeddedDispatcher(Dispatcher):
    """N grading threads in the API process, each calling the library.

    The work itself happens in sandbox processes (containers), so threads do
    not contend for the interpreter. A stop cancels running gradings and gives
    their jobs back to the queue; queued jobs stay queued in the database and
    the next start resumes them.
    """

    mode = "embedded"

    def __init__(self, store: Store, config: WorkerConfig, workers: int) -> None:
        self.store, self.config = store, config
        self.pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="grader")
        self.callbacks = ThreadPoolExecutor(4, thread_name_prefix="callback")
        self.stopping = threading.Event()
        self._running: set[threading.Event] = set()
        self._lock = threading.Lock()

    def submit(self, job_id: str) -> None:
        if not self.stopping.is_set():
            self.pool.submit(self._run, job_id)

    def _run(self, job_id: str) -> None:
        _lower_priority()
        cancel = threading.Event()
        with self._lock:
            if self.stopping.is_set():
                return
            self._running.add(cancel)
        try:
            run_job(self.store, job_id, worker_name("embedded"), self.config, cancel, self.callback)
        except Exception:  # the database went away: the lease will requeue the job
            log.exception("job %s could not be run", job_id)
        finally:
            with self._lock:
                self._running.discard(cancel)

    def callback(self, job_id: str) -> None:
        if not self.stopping.is_set():
            self.callbacks.submit(self._deliver, job_id)

    def _deliver(self, job_id: str) -> None:
        try:
            deliver_with_retries(self.store, job_id, self.config, self.stopping)
        except Exception:
            log.exception("callback of job %s could not be sent", job_id)

    def resume(self, store: Store) -> None:
        for job_id in store.queued_ids():
            self.submit(job_id)
        super().resume(store)

    def stop(self) -> None:
        with self._lock:
            self.stopping.set()
            for cancel in self._running:
                cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.callbacks.shutdown(wait=True, cancel_futures=True)


class CeleryDispatcher(Dispatcher):
    """Sends job ids to ``grade worker`` processes through the broker.

    One background thread does all the talking to the broker, so an accepted
    request never waits for it (the 202 only needs the database commit) and
    the broker connection is used by one thread. A job it could not send stays
    undispatched in the database, and the sweeper sends it again.
    """

    mode = "celery"

    def __init__(self, store: Store, broker: str, queue: str) -> None:
        from .celery_app import configure

        self.store, self.queue = store, queue
        self.app = configure(broker, queue)
        self._sender = ThreadPoolExecutor(1, thread_name_prefix="broker")

    def submit(self, job_id: str) -> None:
        self.submit_many([job_id])

    def submit_many(self, job_ids: Sequence[str]) -> None:
        self._schedule(self._send, list(job_ids))

    def callback(self, job_id: str) -> None:
        self._schedule(self._send_callback, job_id)

    def _schedule(self, action: Callable[[_T], None], argument: _T) -> None:
        try:
            self._sender.submit(action, argument)
        except RuntimeError:  # stopping: the sweeper of the next start sends it
            log.warning("stopping: not sending %s now", argument)

    def _send(self, job_ids: list[str]) -> None:
        from .celery_app import GRADE_TASK

        sent: list[str] = []
        try:
            with self.app.producer_or_acquire() as producer:
                for job_id in job_ids:
                    self.app.send_task(
                        GRADE_TASK, args=[job_id], queue=self.queue, producer=producer
                    )
                    sent.append(job_id)
        except Exception as exc:  # broker down: the job stays undispatched, the sweeper resends
            log.warning("could not send %d job(s) to the broker: %s", len(job_ids) - len(sent), exc)
        try:
            self.store.mark_dispatched(sent)
        except Exception:  # sent but not noted: the sweeper sends a (harmless) duplicate
            log.exception("could not note %d job(s) as sent", len(sent))

    def _send_callback(self, job_id: str) -> None:
        from .celery_app import CALLBACK_TASK

        try:
            self.app.send_task(CALLBACK_TASK, args=[job_id], queue=self.queue)
        except Exception as exc:
            log.warning("could not send the callback of job %s: %s", job_id, exc)

    def stop(self) -> None:
        """Send what was accepted before the stop, then close."""
        self._sender.shutdown(wait=True)

    def problem(self) -> str | None:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:
            return f"broker unreachable: {type(exc).__name__}"
        return None


class Sweeper:
    """Every ``interval`` s: requeue expired leases, resend what never reached the queue."""

    def __init__(self, store: Store, dispatcher: Dispatcher, interval: float = 2.0) -> None:
        self.store, self.dispatcher, self.interval = store, dispatcher, interval
        self.redispatch_after = float(VISIBILITY_TIMEOUT)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception:
                log.exception("sweep failed; trying again in %s s", self.interval)

    def sweep(self) -> list[str]:
        """One pass; returns the ids handed over again."""
        again = self.store.requeue_expired()
        if self.dispatcher.mode == "celery":
            again += self.store.undispatched(grace=5.0, redispatch_after=self.redispatch_after)
        for job_id in dict.fromkeys(again):
            self.dispatcher.submit(job_id)
        return again
