"""One running service: its store, its dispatcher, its sweeper, its grading settings.

A runtime has one of three roles. ``all`` (``grade serve``): one process
accepts, hands over and sweeps. With ``grade serve --api-processes N`` the
work is split: N ``api`` processes only accept (commit and answer), and the
``supervisor`` process (the one that started them) hands the committed jobs
over (:class:`Feeder`), grades them in embedded mode, and sweeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..settings import GradeSettings
from .config import WorkerConfig, grading_key
from .dispatch import Dispatcher, Feeder, Sweeper
from .store import JobRecord, NewJob, ServiceError, Store


@dataclass
class ServiceRuntime:
    """What the API routes use; :meth:`start` and :meth:`stop` bracket its life."""

    store: Store
    dispatcher: Dispatcher
    settings: GradeSettings
    config: WorkerConfig = field(default_factory=WorkerConfig)
    max_queue: int = 1000
    sweep_interval: float = 2.0
    role: Literal["all", "api", "supervisor"] = "all"

    def __post_init__(self) -> None:
        self.settings_json = self.settings.model_dump_json()
        self.grading_key = grading_key(self.settings)
        self.sweeper = Sweeper(self.store, self.dispatcher, self.sweep_interval)
        self.feeder = Feeder(self.store, self.dispatcher)

    def start(self) -> None:
        if self.role == "api":  # the supervisor resumes, sweeps and hands over
            return
        self.sweeper.sweep()
        self.dispatcher.resume(self.store)
        self.sweeper.start()
        if self.role == "supervisor":
            self.feeder.start()

    def stop(self) -> None:
        """Graceful stop: the API processes have stopped first (they take no new job)."""
        if self.role == "api":
            return
        if self.role == "supervisor":
            self.feeder.stop()
            if self.dispatcher.mode == "celery":  # what the last moments accepted, to the broker
                self.feeder.feed()
        self.sweeper.stop()
        self.dispatcher.stop()

    def accept(self, new: NewJob) -> tuple[JobRecord, bool]:
        """Record the job durably first, then hand it over (202 means it is safe)."""
        result = self.accept_many([new])[0]
        if isinstance(result, ServiceError):
            raise result
        return result

    def accept_many(self, news: Sequence[NewJob]) -> list[tuple[JobRecord, bool] | ServiceError]:
        """Group commit: record every job in one transaction, then hand the new ones over.

        The hand-over does not wait for a broker (the dispatcher sends in the
        background); a job the broker never got is resent by the sweeper.
        """
        results = self.store.create_jobs(news, max_queue=self.max_queue)
        created = [r[0].id for r in results if not isinstance(r, ServiceError) and r[1]]
        if created:
            self.dispatcher.submit_many(created)
        return results

    def problem(self) -> str | None:
        try:
            self.store.ping()
        except Exception as exc:
            return f"database unreachable: {type(exc).__name__}"
        return self.dispatcher.problem()
