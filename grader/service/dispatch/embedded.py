"""Grading in the service's own process: N threads, each calling the library."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from ...api import Backends
from ..callbacks import deliver_with_retries
from ..config import WorkerConfig
from ..db import Store
from ..grading import NicedRunner, run_next, worker_name
from .base import Dispatcher

log = logging.getLogger("grader.service")


class EmbeddedDispatcher(Dispatcher):
    """N grading threads in the service process.

    The work itself happens in sandbox processes (containers), so threads do
    not contend for the interpreter. A stop cancels running gradings and gives
    their jobs back to the queue; queued jobs stay queued in the database and
    the next start resumes them.
    """

    mode = "embedded"

    def __init__(self, store: Store, config: WorkerConfig, workers: int,
                 labels: Mapping[str, str] | None = None) -> None:  # fmt: skip
        self.store, self.config = store, config
        self.pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="grader")
        # The gradings (and the sandbox processes they start) run niced in these threads,
        # so accepting stays quick while every core grades; the job's database work not.
        self.runner = NicedRunner(config.nice, workers) if config.nice else None
        # One sandbox backend per settings for every job: a Docker client reused, and
        # containers started ahead of need while a burst is graded (``labels``: on each).
        self.backends = Backends(labels=labels)
        self.callbacks = ThreadPoolExecutor(4, thread_name_prefix="callback")
        self.stopping = threading.Event()
        self._running: set[threading.Event] = set()
        self._lock = threading.Lock()
        self._outstanding = 0  # gradings handed to the pool and not started yet

    def submit(self, job_id: str) -> None:
        if not self.stopping.is_set():
            with self._lock:
                self._outstanding += 1
            self.pool.submit(self._run)

    def top_up(self, store: Store) -> None:
        """One grading per queued job at least: a grading that found nothing (a claim
        raced by another) must not leave a queued job without one."""
        queued = store.jobs.queued_ids(handed_over=True)  # not those the feeder holds
        with self._lock:
            missing = len(queued) - self._outstanding
        for job_id in queued[: max(0, missing)]:
            self.submit(job_id)

    def _run(self) -> None:
        cancel = threading.Event()
        with self._lock:
            self._outstanding -= 1
            if self.stopping.is_set():
                return
            self._running.add(cancel)
        try:
            run_next(self.store, worker_name("embedded"), self.config, cancel, self.callback,
                     self.runner, self.backends)  # fmt: skip
        except Exception:  # the database went away: the lease will requeue the job
            log.exception("a grading could not be run")
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
        # Everything queued, whoever handed it over before: that process's pool is gone.
        self.hand_over(store, store.jobs.queued_ids())
        super().resume(store)

    def stop(self) -> None:
        with self._lock:
            self.stopping.set()
            for cancel in self._running:
                cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.runner is not None:
            self.runner.close()
        self.backends.close()  # and with them their spare containers
        self.callbacks.shutdown(wait=True, cancel_futures=True)
