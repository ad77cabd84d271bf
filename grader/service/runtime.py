"""One running service: its store, its dispatcher, its sweeper, its grading settings.

A runtime has one of three roles. ``all`` (``grade serve --api-processes 0``):
one process accepts, hands over and sweeps. With ``--api-processes N`` the work
is split: N ``api`` processes only accept (commit and answer), and the
``supervisor`` process (the one that started them) hands the committed jobs
over (:class:`~grader.service.dispatch.Feeder`), grades them in embedded mode,
and sweeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..settings import GradeSettings
from .callback_policy import CallbackPolicy
from .config import ServiceConfig, grading_key
from .containers import instance_labels, remove_dead_owners_containers
from .db import Accepted, NewJob, QueueLimits, Store
from .dispatch import CeleryDispatcher, Dispatcher, EmbeddedDispatcher, Feeder, Sweeper
from .errors import ServiceError

if TYPE_CHECKING:
    from .lti.keys import ToolKey
    from .lti.passback import GradeSender, GradeWatcher

Role = Literal["all", "api", "supervisor"]


@dataclass
class ServiceRuntime:
    """What the API routes use; :meth:`start` and :meth:`stop` bracket its life."""

    store: Store
    dispatcher: Dispatcher
    settings: GradeSettings
    config: ServiceConfig = field(default_factory=ServiceConfig)
    role: Role = "all"
    # The service's data folder: the LTI tool's key pair is kept there.
    data_dir: Path | None = None

    def __post_init__(self) -> None:
        self.settings_json = self.settings.model_dump_json()
        self.grading_key = grading_key(self.settings)
        config = self.config
        self.limits = QueueLimits(config.max_queue, config.max_queue_per_course, config.supersede)
        self.callback_policy = CallbackPolicy(config.worker.callback_allow)
        self.sweeper = Sweeper(self.store, self.dispatcher, config.sweep_interval)
        self.feeder = Feeder(self.store, self.dispatcher)
        self.grades: tuple[GradeSender, GradeWatcher] | None = None

    @cached_property
    def tool_key(self) -> ToolKey:
        """The LTI tool's key pair (made in the data folder on first need)."""
        from .config import private_folder
        from .lti.keys import load_or_create

        return load_or_create(private_folder(self.data_dir))

    def _start_grades(self) -> None:
        """LTI grades go back from here (the process that has the data folder)."""
        from .lti.passback import GradeSender, GradeWatcher

        sender = GradeSender(self.store, lambda: self.tool_key, self.config.worker)
        watcher = GradeWatcher(self.store, sender)
        sender.resume()
        watcher.start()
        self.grades = (sender, watcher)

    def start(self) -> None:
        """Clear what a dead predecessor left (its jobs, its containers), then run."""
        if self.role == "api":  # the supervisor resumes, sweeps and hands over
            return
        if self.dispatcher.mode == "embedded" and self.settings.sandbox == "docker":
            remove_dead_owners_containers()
        self.sweeper.sweep()  # first of all: a dead predecessor's jobs, back in their place
        self.dispatcher.resume(self.store)
        self.sweeper.start()
        if self.role == "supervisor":
            self.feeder.start()
        self._start_grades()

    def stop(self) -> None:
        """Graceful stop: the API processes have stopped first (they take no new job)."""
        if self.role == "api":
            return
        if self.role == "supervisor":
            self.feeder.stop()
            if self.dispatcher.mode == "celery":  # what the last moments accepted, to the broker
                self.feeder.feed()
        self.sweeper.stop()
        if self.grades is not None:
            self.grades[1].stop()
            self.grades[0].stop()
        self.dispatcher.stop()

    def accept_many(self, news: Sequence[NewJob]) -> list[Accepted | ServiceError]:
        """Group commit: record every job in one transaction, then hand the new ones over.

        The hand-over does not wait for a broker (the dispatcher sends in the
        background); a job the broker never got is resent by the sweeper.
        """
        direct = self.role == "all" and self.dispatcher.mode == "embedded"
        results = self.store.jobs.create(news, self.limits, dispatched=direct)
        created = [r[0].id for r in results if not isinstance(r, ServiceError) and r[1]]
        if created:
            self.dispatcher.submit_many(created)
        return results

    def problem(self) -> str | None:
        try:
            self.store.db.ping()
        except Exception as exc:
            return f"database unreachable: {type(exc).__name__}"
        return self.dispatcher.problem()


def service_runtime(store: Store, settings: GradeSettings, config: ServiceConfig,
                    broker: str | None, queue: str,
                    data_dir: Path | None = None) -> ServiceRuntime:  # fmt: skip
    """The runtime of ``grade serve``: embedded graders, or a sender to Celery workers."""
    dispatcher: Dispatcher
    if broker:
        # A supervisor's sends to the broker yield to its API processes (see CeleryDispatcher).
        nice = config.worker.nice if config.api_processes else 0
        dispatcher = CeleryDispatcher(store, broker, queue, niceness=nice)
    else:
        dispatcher = EmbeddedDispatcher(store, config.worker, config.workers, instance_labels())
    role: Role = "supervisor" if config.api_processes else "all"
    return ServiceRuntime(store, dispatcher, settings, config, role, data_dir)
