"""What every dispatcher does: hand gradings to workers, and callbacks to senders.

A hand-over means "one more grading to do": the worker that takes it claims the
next job in fair order (:func:`grader.service.grading.run_next`), so the order
in which messages travel does not decide the order in which jobs are graded.
Either way the database stays the record of truth, and the supervisor's
:class:`~grader.service.dispatch.periodic.Sweeper` puts back in the queue what
the queue may have lost.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from ..db import Store


class Dispatcher(ABC):
    mode: str

    @abstractmethod
    def submit(self, job_id: str) -> None:
        """Hand one grading over (for ``job_id``, or whichever is next by then)."""

    def submit_many(self, job_ids: Sequence[str]) -> None:
        """Hand over jobs accepted together; must not block on a remote queue."""
        for job_id in job_ids:
            self.submit(job_id)

    def hand_over(self, store: Store, job_ids: Sequence[str]) -> None:
        """The feeder's and sweeper's hand-over: note the jobs sent, then submit (noted
        first, so that the note never holds a row a worker's claim then skips)."""
        store.jobs.mark_dispatched(job_ids)
        self.submit_many(job_ids)

    def top_up(self, store: Store) -> None:  # noqa: B027 (a remote queue cannot be counted)
        """Called by the sweeper: make sure there is a grading to do per queued job."""

    def note_sent(self, store: Store) -> None:  # noqa: B027 (only a remote queue sends later)
        """Called by the feeder each pass: note what was sent since (in its thread)."""

    @abstractmethod
    def callback(self, job_id: str) -> None:
        """Deliver a finished job's callback, away from the grading workers."""

    def resume(self, store: Store) -> None:
        """At start-up: what a previous run left queued or undelivered."""
        for job_id in store.callbacks.pending():
            self.callback(job_id)

    def stop(self) -> None:  # noqa: B027 (nothing to stop for a remote queue)
        """Graceful stop: finish or give back what runs here."""

    def problem(self) -> str | None:
        """Why the service cannot take work right now, for /healthz (None: healthy)."""
        return None


def broker_problem(app: Any) -> str | None:
    """Why the Celery broker does not answer (None: it does), within about 2 s."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"broker unreachable: {type(exc).__name__}"
    return None
