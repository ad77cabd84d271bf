"""Sandboxes started ahead of need, so a grading does not wait for one to start.

Each spare is used once, for one submission, exactly like one started for it:
only *when* it starts changes. A backend that grades one file never makes a
spare (the first grading only records demand); one that keeps grading (a
batch, a service worker) keeps as many ready as gradings it has seen running
at once, started in the background while the current ones run. A spare older
than ``max_age`` is never used: it is discarded when it reaches that age
(so an idle service keeps nothing around) and replaced only when demand
comes back. Failing to start a spare is not an error: the grading that
finds none starts its own sandbox and reports any failure then.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Spares(Generic[T]):
    """A thread-safe stock of started sandboxes, refilled in the background."""

    def __init__(
        self,
        start: Callable[[], T],
        discard: Callable[[T], None],
        *,
        max_age: float,
        most: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._start = start
        self._discard = discard
        self._max_age = max_age
        self._most = most
        self._clock = clock
        self._lock = threading.Lock()
        self._ready: deque[tuple[float, T]] = deque()
        self._starting = 0
        self._running = 0  # gradings in progress
        self._wanted = 0  # the most gradings seen running at once, from the second one on
        self._served = 0
        self._closed = False
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spare-sandbox")
        self._timers: dict[int, threading.Timer] = {}  # by id() of the spare, to expire it

    @property
    def ready(self) -> int:
        with self._lock:
            return len(self._ready)

    def take(self) -> T | None:
        """A started sandbox for the grading that begins now, or None (start one).

        Pair every call with :meth:`done` when that grading ends.
        """
        stale: list[T] = []
        spare: T | None = None
        with self._lock:
            now = self._clock()
            while self._ready:
                born, candidate = self._ready.popleft()
                self._stop_timer(candidate)
                if now - born <= self._max_age:
                    spare = candidate
                    break
                stale.append(candidate)
            self._running += 1
            if self._served:
                self._wanted = min(self._most, max(self._wanted, self._running))
            self._served += 1
            self._refill_locked()
        for old in stale:
            self._discard_later(old)
        return spare

    def done(self) -> None:
        with self._lock:
            self._running -= 1

    def close(self) -> None:
        """Stop refilling, let the starts and discards under way finish, discard every spare."""
        with self._lock:
            self._closed = True
        self._worker.shutdown(wait=True)
        with self._lock:
            left = [spare for _, spare in self._ready]
            self._ready.clear()
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
        for spare in left:
            self._discard_quietly(spare)

    def _refill_locked(self) -> None:
        while not self._closed and len(self._ready) + self._starting < self._wanted:
            self._starting += 1
            self._worker.submit(self._make)

    def _make(self) -> None:
        try:
            spare = self._start()
        except Exception as exc:  # the next grading starts its own and reports it
            log.debug("starting a spare sandbox failed: %s", exc)
            with self._lock:
                self._starting -= 1
            return
        with self._lock:
            self._starting -= 1
            if not self._closed:
                self._ready.append((self._clock(), spare))
                timer = threading.Timer(self._max_age, self._expire, (spare,))
                timer.daemon = True
                self._timers[id(spare)] = timer
                timer.start()
                return
        self._discard_quietly(spare)

    def _expire(self, spare: T) -> None:
        """A spare nobody took in time: out of the stock, then discarded."""
        with self._lock:
            self._timers.pop(id(spare), None)
            kept = [entry for entry in self._ready if entry[1] is not spare]
            if len(kept) == len(self._ready):
                return  # taken (or discarded) meanwhile
            self._ready = deque(kept)
        self._discard_later(spare)

    def _stop_timer(self, spare: T) -> None:
        timer = self._timers.pop(id(spare), None)
        if timer is not None:
            timer.cancel()

    def _discard_later(self, spare: T) -> None:
        try:
            self._worker.submit(self._discard_quietly, spare)
        except RuntimeError:  # closed meanwhile
            self._discard_quietly(spare)

    def _discard_quietly(self, spare: T) -> None:
        try:
            self._discard(spare)
        except Exception as exc:
            log.debug("discarding a spare sandbox failed: %s", exc)
