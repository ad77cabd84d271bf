"""Sending gradings to ``grade worker`` processes through a Celery broker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..db import Store
from ..grading import lower_priority
from .base import Dispatcher, broker_problem

log = logging.getLogger("grader.service")

_T = TypeVar("_T")


class CeleryDispatcher(Dispatcher):
    """Sends job ids to ``grade worker`` processes through the broker.

    One background thread does all the talking to the broker, so an accepted
    request never waits for it (the 202 only needs the database commit) and
    the broker connection is used by one thread. A job it could not send stays
    undispatched in the database, and the sweeper sends it again.
    """

    mode = "celery"

    def __init__(self, store: Store, broker: str, queue: str, niceness: int = 0) -> None:
        from ..celery_app import configure

        self.store, self.queue = store, queue
        self.app = configure(broker, queue)
        # Niced in a supervisor (``niceness``): sending a burst to the broker then yields
        # the CPU to the API processes. A niced thread must not hold the database's write
        # lock, so what it sent for the feeder is noted by the feeder's thread.
        self._sender = ThreadPoolExecutor(
            1, "broker", initializer=lower_priority, initargs=(niceness,)
        )
        self._sent: list[str] = []
        self._sent_lock = threading.Lock()

    def submit(self, job_id: str) -> None:
        self.submit_many([job_id])

    def submit_many(self, job_ids: Sequence[str]) -> None:
        self._schedule(self._send, list(job_ids))

    def hand_over(self, store: Store, job_ids: Sequence[str]) -> None:
        # Noted as dispatched once the broker has them, by note_sent (the feeder's thread).
        self._schedule(self._send_for_feeder, list(job_ids))

    def _send_for_feeder(self, job_ids: list[str]) -> None:
        sent = self._send_only(job_ids)
        with self._sent_lock:
            self._sent += sent

    def note_sent(self, store: Store) -> None:
        with self._sent_lock:
            sent, self._sent = self._sent, []
        if sent:
            store.jobs.mark_dispatched(sent)

    def callback(self, job_id: str) -> None:
        self._schedule(self._send_callback, job_id)

    def _schedule(self, action: Callable[[_T], None], argument: _T) -> None:
        try:
            self._sender.submit(action, argument)
        except RuntimeError:  # stopping: the sweeper of the next start sends it
            log.warning("stopping: not sending %s now", argument)

    def _send_only(self, job_ids: list[str]) -> list[str]:
        """Send to the broker; the ids it took (a job not sent stays undispatched)."""
        from ..celery_app import GRADE_TASK

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
        return sent

    def _send(self, job_ids: list[str]) -> None:
        sent = self._send_only(job_ids)
        try:
            self.store.jobs.mark_dispatched(sent)
        except Exception:  # sent but not noted: the sweeper sends a (harmless) duplicate
            log.exception("could not note %d job(s) as sent", len(sent))

    def _send_callback(self, job_id: str) -> None:
        from ..celery_app import CALLBACK_TASK

        try:
            self.app.send_task(CALLBACK_TASK, args=[job_id], queue=self.queue)
        except Exception as exc:
            log.warning("could not send the callback of job %s: %s", job_id, exc)

    def stop(self) -> None:
        """Send what was accepted before the stop, then close."""
        self._sender.shutdown(wait=True)
        try:
            self.note_sent(self.store)
        except Exception:  # sent but not noted: the next start's sweeper resends (harmless)
            log.exception("could not note the jobs sent last")

    def problem(self) -> str | None:
        return broker_problem(self.app)
