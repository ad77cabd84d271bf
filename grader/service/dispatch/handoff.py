"""The dispatcher of an API process (``grade serve --api-processes N``): hands over nothing."""

from __future__ import annotations

from collections.abc import Sequence

from ..db import Store
from .base import Dispatcher, broker_problem


class Handoff(Dispatcher):
    """The API process only commits what it accepts; the supervising ``grade serve``
    process's :class:`~grader.service.dispatch.periodic.Feeder` finds the new jobs in
    the database and hands them to its graders or to the broker. So an API process
    spends nothing on a queue during a burst, and the jobs are handed over by one
    process only.
    """

    def __init__(self, mode: str, broker: str | None = None, queue: str = "") -> None:
        self.mode, self.broker, self.queue = mode, broker, queue

    def submit(self, job_id: str) -> None:
        """Nothing to do: the job is committed, and the feeder takes it from there."""

    def submit_many(self, job_ids: Sequence[str]) -> None:
        """As :meth:`submit`."""

    def callback(self, job_id: str) -> None:
        """An API process never finishes a job, so it never has a callback to send."""

    def resume(self, store: Store) -> None:
        """The supervisor resumes what a previous run left."""

    def problem(self) -> str | None:
        if self.broker is None:
            return None
        from ..celery_app import configure

        return broker_problem(configure(self.broker, self.queue))
