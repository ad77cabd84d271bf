"""The supervisor's background passes: the feeder (jobs API processes committed, to the
graders) and the sweeper (what the queue may have lost, back to it)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..config import VISIBILITY_TIMEOUT
from ..db import Store
from ..identity import Owner
from .base import Dispatcher

log = logging.getLogger("grader.service")

FEED_INTERVAL = 0.2
# A burst is accepted before it is graded: while jobs keep arriving (the newest is
# younger than BURST_QUIET s) the feeder holds them, for at most BURST_HOLD s, so the
# gradings' container starts (Docker's daemons are not niced) do not compete with the
# API for the cores while the platform waits for its 202s. A lone job goes at once.
BURST_QUIET = 0.3
BURST_HOLD = 3.0
# A job accepted but not handed over this long after is handed over by the sweeper.
UNSENT_GRACE = 5.0


class Periodic:
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


class Feeder(Periodic):
    """Every ``interval`` s, hands the jobs the API processes committed to ``dispatcher``.

    Runs only in the supervising process of ``grade serve --api-processes N``:
    the database is the only link between the API processes and the graders (a
    job is handed over once it is committed, and claims still decide who grades
    it), so an API process that dies takes nothing with it.

    While a burst arrives it holds the new jobs (see :data:`BURST_QUIET`): a
    job waits at most ``hold`` s plus one interval for its hand-over.
    """

    def __init__(self, store: Store, dispatcher: Dispatcher, interval: float = FEED_INTERVAL,
                 quiet: float = BURST_QUIET, hold: float = BURST_HOLD,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.store, self.dispatcher, self.interval = store, dispatcher, interval
        self.quiet, self.hold, self._clock = quiet, hold, clock
        # Handed over but maybe not yet noted as dispatched (Celery notes it once sent).
        self._handed: set[str] = set()
        super().__init__("feeder", self.feed)

    def feed(self) -> list[str]:
        """One pass; returns the ids handed over (none while a burst is held)."""
        self.dispatcher.note_sent(self.store)
        found = self.store.jobs.never_dispatched()
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


class Sweeper(Periodic):
    """Every ``interval`` s: put back in the queue the jobs of workers that vanished (at
    once when they were processes of this host, else when their lease expires), and hand
    over again what never reached the queue or was put back."""

    def __init__(self, store: Store, dispatcher: Dispatcher, interval: float) -> None:
        self.store, self.dispatcher, self.interval = store, dispatcher, interval
        self.redispatch_after = float(VISIBILITY_TIMEOUT)
        super().__init__("sweeper", self.sweep)

    def sweep(self) -> list[str]:
        """One pass; returns the ids handed over again."""
        jobs = self.store.jobs
        self.dispatcher.note_sent(self.store)
        again = jobs.requeue_orphans(Owner.current()) + jobs.requeue_expired()
        again += jobs.undispatched(UNSENT_GRACE, self.redispatch_after)
        again = list(dict.fromkeys(again))
        if again:
            self.dispatcher.hand_over(self.store, again)
        self.dispatcher.top_up(self.store)
        return again
