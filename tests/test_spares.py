"""The stock of sandboxes started ahead of need, with plain objects for sandboxes."""

from __future__ import annotations

import itertools
import threading
from typing import Any

from grader.sandbox.spares import Spares


class Recorder:
    """Starts numbered stand-ins for sandboxes and records which are discarded."""

    def __init__(self, fail: bool = False) -> None:
        self.gate = threading.Event()  # starts wait here until the test opens it
        self.gate.set()
        self.numbers = itertools.count(1)
        self.started: list[int] = []
        self.discarded: list[int] = []
        self.fail = fail
        self.now = 0.0
        self.lock = threading.Lock()

    def start(self) -> int:
        self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the engine is down")
        with self.lock:
            number = next(self.numbers)
            self.started.append(number)
        return number

    def discard(self, number: int) -> None:
        with self.lock:
            self.discarded.append(number)

    def spares(self, max_age: float = 60.0) -> Spares[int]:
        return Spares(self.start, self.discard, max_age=max_age, clock=lambda: self.now)


def settle(spares: Spares[Any]) -> None:
    """Wait for the background starts submitted so far."""
    spares._worker.submit(lambda: None).result(timeout=10)


def test_one_grading_alone_starts_nothing() -> None:
    recorder = Recorder()
    spares = recorder.spares()
    assert spares.take() is None
    spares.done()
    settle(spares)
    assert recorder.started == [] and spares.ready == 0
    spares.close()


def test_a_second_grading_has_the_third_one_served_by_a_spare() -> None:
    recorder = Recorder()
    spares = recorder.spares()
    assert spares.take() is None
    spares.done()
    assert spares.take() is None, "demand is seen on the second grading, not met by it"
    settle(spares)
    assert spares.ready == 1
    spares.done()
    assert spares.take() == 1
    settle(spares)
    assert spares.ready == 1, "taking one starts its replacement"
    spares.done()
    spares.close()
    assert recorder.discarded == [2]


def test_as_many_spares_as_gradings_seen_at_once() -> None:
    recorder = Recorder()
    recorder.gate.clear()  # none is ready before the third grading begins
    spares = recorder.spares()
    spares.take()
    spares.take()
    assert spares.take() is None
    recorder.gate.set()
    settle(spares)
    assert spares.ready == 3
    spares.close()
    assert sorted(recorder.discarded) == [1, 2, 3]


def test_a_spare_past_its_age_is_discarded_not_given() -> None:
    recorder = Recorder()
    spares = recorder.spares(max_age=10.0)
    spares.take()
    spares.done()
    spares.take()
    spares.done()
    settle(spares)
    recorder.now = 11.0
    assert spares.take() is None
    settle(spares)
    assert recorder.discarded == [1]
    assert spares.ready == 1, "demand goes on, so a fresh one replaces it"
    spares.close()


def test_a_spare_that_fails_to_start_is_no_error() -> None:
    recorder = Recorder(fail=True)
    spares = recorder.spares()
    spares.take()
    spares.take()
    settle(spares)
    assert spares.ready == 0 and spares.take() is None
    spares.close()


def test_after_close_nothing_is_started_and_nothing_is_left() -> None:
    recorder = Recorder()
    spares = recorder.spares()
    spares.take()
    spares.take()
    spares.close()
    assert sorted(recorder.discarded) == sorted(recorder.started)
    assert spares.take() is None
    assert spares.ready == 0


def test_a_spare_nobody_takes_is_discarded_at_its_age() -> None:
    """An idle service keeps nothing around: the spare goes when it is too old to use."""
    import time

    recorder = Recorder()
    spares = Spares(recorder.start, recorder.discard, max_age=0.2)
    spares.take()
    spares.done()
    spares.take()
    spares.done()
    deadline = time.monotonic() + 30
    while recorder.discarded != [1] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorder.discarded == [1] and spares.ready == 0
    assert recorder.started == [1], "nothing replaces it until a grading asks again"
    spares.close()
