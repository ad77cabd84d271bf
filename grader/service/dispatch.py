"""Handing jobs to workers: embedded threads (default) or Celery workers (a broker URL).

Either way the database stays the record of truth, and the API process runs a
:class:`Sweeper` that puts back in the queue what the queue may have lost: a
job whose lease expired (its worker died or its machine vanished), a job
accepted but never handed over (the broker was down), and, at start-up,
every queued job and every callback not yet delivered.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..api import Backends
from .callbacks import deliver_with_retries
from .config import VISIBILITY_TIMEOUT, WorkerConfig
from .grading import NicedRunner, lower_priority, run_job, worker_name
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

    def hand_over(self, store: Store, job_ids: Sequence[str]) -> None:
        """The feeder's hand-over of jobs other processes accepted: submit, note them sent."""
        self.submit_many(job_ids)
        store.mark_dispatched(job_ids)

    def note_sent(self, store: Store) -> None:  # noqa: B027 (only a remote queue sends later)
        """Called by the feeder each pass: note what was sent since (in its thread)."""

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
        # The gradings (and the sandbox processes they start) run niced in these threads,
        # so accepting stays quick while every core grades; the job's database work not.
        self.runner = NicedRunner(GRADING_NICENESS, workers)
        # One sandbox backend per settings for every job: a Docker client reused, and
        # containers started ahead of need while a burst is graded.
        self.backends = Backends()
        self.callbacks = ThreadPoolExecutor(4, thread_name_prefix="callback")
        self.stopping = threading.Event()
        self._running: set[threading.Event] = set()
        self._lock = threading.Lock()

    def submit(self, job_id: str) -> None:
        if not self.stopping.is_set():
            self.pool.submit(self._run, job_id)

    def _run(self, job_id: str) -> None:
        cancel = threading.Event()
        with self._lock:
            if self.stopping.is_set():
                return
            self._running.add(cancel)
        try:
            run_job(
                self.store,
                job_id,
                worker_name("embedded"),
                self.config,
                cancel,
                self.callback,
                self.runner,
                self.backends,
            )
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
        queued = store.queued_ids()
        for job_id in queued:
            self.submit(job_id)
        store.mark_dispatched(queued)  # so a feeder (--api-processes) does not hand them again
        super().resume(store)

    def stop(self) -> None:
        with self._lock:
            self.stopping.set()
            for cancel in self._running:
                cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.runner.close()
        self.backends.close()  # and with them their spare containers
        self.callbacks.shutdown(wait=True, cancel_futures=True)


class CeleryDispatcher(Dispatcher):
    """Sends job ids to ``grade worker`` processes through the broker.

    One background thread does all the talking to the broker, so an accepted
    request never waits for it (the 202 only needs the database commit) and
    the broker connection is used by one thread. A job it could not send stays
    undispatched in the database, and the sweeper sends it again.
    """

    mode = "celery"

    def __init__(self, store: Store, broker: str, queue: str, niceness: int = 0) -> None:
        from .celery_app import configure

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
            store.mark_dispatched(sent)

    def callback(self, job_id: str) -> None:
        self._schedule(self._send_callback, job_id)

    def _schedule(self, action: Callable[[_T], None], argument: _T) -> None:
        try:
            self._sender.submit(action, argument)
        except RuntimeError:  # stopping: the sweeper of the next start sends it
            log.warning("stopping: not sending %s now", argument)

    def _send_only(self, job_ids: list[str]) -> list[str]:
        """Send to the broker; the ids it took (a job not sent stays undispatched)."""
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
        return sent

    def _send(self, job_ids: list[str]) -> None:
        sent = self._send_only(job_ids)
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
        try:
            self.note_sent(self.store)
        except Exception:  # sent but not noted: the next start's sweeper resends (harmless)
            log.exception("could not note the jobs sent last")

    def problem(self) -> str | None:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:
            return f"broker unreachable: {type(exc).__name__}"
        return None


class Handoff(Dispatcher):
    """The dispatcher of an API process (``grade serve --api-processes N``): hands over nothing.

    The API process only commits what it accepts; the supervising ``grade serve``
    process's :class:`Feeder` finds the new jobs in the database and hands them to
    its graders or to the broker. So an API process spends nothing on a queue
    during a burst, and the jobs are handed over by one process only.
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
        from .celery_app import configure

        try:
            with configure(self.broker, self.queue).connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:
            return f"broker unreachable: {type(exc).__name__}"
        return None


FEED_INTERVAL = 0.2
# A burst is accepted before it is graded: while jobs keep arriving (the newest is
# younger than BURST_QUIET s) the feeder holds them, for at most BURST_HOLD s, so the
# gradings' container starts (Docker's daemons are not niced) do not compete with the
# API for the cores while the platform waits for its 202s. A lone job goes at once.
BURST_QUIET = 0.3
BURST_HOLD = 3.0


class _Periodic:
    """A background thread that runs one pass every ``self.interval`` s until stopped;
    a failed pass is logged and the next one tries again."""

    interval: float

    def __init__(self, name: str, one_pass: Callable[[], object]) -> None:
        self._name, self._one_pass = name, one_pass
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._one_pass()
            except Exception:
                log.exception("%s pass failed; trying again in %s s", self._name, self.interval)


class Feeder(_Periodic):
    """Every ``interval`` s, hands the jobs the API processes committed to ``dispatcher``.

    Runs only in the supervising process of ``grade serve --api-processes N``:
    the database is the only link between the API processes and the graders (a
    job is handed over once it is committed, and claims still decide who grades
    it), so an API process that dies takes nothing with it.

    While a burst arrives it holds the new jobs (see :data:`BURST_QUIET`): a
    job waits at most ``hold`` s plus one interval for its hand-over.
    """

    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher,
        interval: float = FEED_INTERVAL,
        quiet: float = BURST_QUIET,
        hold: float = BURST_HOLD,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.dispatcher, self.interval = store, dispatcher, interval
        self.quiet, self.hold, self._clock = quiet, hold, clock
        # Handed over but maybe not yet noted as dispatched (Celery notes it once sent).
        self._handed: set[str] = set()
        super().__init__("feeder", self.feed)

    def feed(self) -> list[str]:
        """One pass; returns the ids handed over (none while a burst is held)."""
        self.dispatcher.note_sent(self.store)
        found = self.store.never_dispatched_since()
        self._handed.intersection_update(job_id for job_id, _ in found)
        arrived = [(job_id, at) for job_id, at in found if job_id not in self._handed]
        if len(arrived) > 1 and self._burst_arriving([at for _, at in arrived]):
            return []
        new = [job_id for job_id, _ in arrived]
        if new:
            self.dispatcher.hand_over(self.store, new)
            self._handed.update(new)
        return new

    def _burst_arriving(self, accepted: list[float]) -> bool:
        """Jobs still arriving (the newest is recent) and none held too long yet. A clock
        set back (the newest "from the future") holds nothing."""
        now = self._clock()
        return 0.0 <= now - max(accepted) < self.quiet and now - min(accepted) < self.hold


class Sweeper(_Periodic):
    """Every ``interval`` s: requeue expired leases, resend what never reached the queue."""

    def __init__(self, store: Store, dispatcher: Dispatcher, interval: float = 2.0) -> None:
        self.store, self.dispatcher, self.interval = store, dispatcher, interval
        self.redispatch_after = float(VISIBILITY_TIMEOUT)
        super().__init__("sweeper", self.sweep)

    def sweep(self) -> list[str]:
        """One pass; returns the ids handed over again."""
        again = self.store.requeue_expired()
        if self.dispatcher.mode == "celery":
            again += self.store.undispatched(grace=5.0, redispatch_after=self.redispatch_after)
        for job_id in dict.fromkeys(again):
            self.dispatcher.submit(job_id)
        return again
