"""The library API's own duties on top of a backend's verdict."""

from __future__ import annotations

import threading

import pytest
from support import REFERENCE, process_settings

from grader.api import Retries, grade_or_not_gradable, grade_submission
from grader.errors import Cancelled, ContractError, ImageMissing, SandboxFailed
from grader.judge.verdict import Outcome, feedback_from_outcomes
from grader.models import ErrorInfo, Feedback
from grader.rubric import CHECKS
from grader.submission import Submission, load_submission


class ReplayBackend:
    """A backend that returns a fixed verdict, as a sandbox built elsewhere might."""

    name = "process"

    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256

    def run(self, submission: Submission, cancel: threading.Event | None = None) -> Feedback:
        feedback = feedback_from_outcomes([Outcome(c.id, c.id, True) for c in CHECKS])
        feedback.submission_sha256 = self.sha256
        return feedback


def test_verdict_for_other_bytes_is_refused() -> None:
    submission = load_submission(REFERENCE, 100_000)
    with pytest.raises(ContractError, match="other bytes"):
        grade_submission(submission, process_settings(), backend=ReplayBackend("0" * 64))


def test_host_labels_the_verdict() -> None:
    submission = load_submission(REFERENCE, 100_000)
    feedback = grade_submission(
        submission, process_settings(), backend=ReplayBackend(submission.sha256)
    )
    assert feedback.submission == "minigpt.py" and feedback.sandbox == "process"
    assert not feedback.isolated and feedback.durations.total >= 0


def test_backends_are_kept_per_settings_and_closed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import grader.api as api

    made: list[object] = []
    closed: list[object] = []

    class Kept:
        name = "process"

        def __init__(self, settings: object, labels: object = None) -> None:
            made.append(self)
            self.labels = labels

        def run(self, submission: Submission, cancel: threading.Event | None = None) -> Feedback:
            raise AssertionError("not run here")

        def close(self) -> None:
            closed.append(self)

    monkeypatch.setattr(api, "make_backend", Kept)
    backends = api.Backends(most=2, labels={"org.example.owner": "me"})
    quick, slow = process_settings(), process_settings(call_timeout=3.0)
    first = backends.get(quick)
    assert first.labels == {"org.example.owner": "me"}  # type: ignore[attr-defined]
    assert backends.get(process_settings()) is first, "equal settings share a backend"
    second = backends.get(slow)
    assert second is not first and closed == []
    backends.get(quick)  # the most recent again, so `slow` is the oldest
    third = backends.get(process_settings(call_timeout=4.0))
    assert closed == [second], "beyond `most`, the least recently used is closed"
    backends.close()
    assert sorted(map(id, closed)) == sorted(map(id, [second, first, third]))
    assert len(made) == 3


def _submission() -> Submission:
    return Submission("minigpt.py", b"x = 1\n", 6)


def test_our_failures_are_retried_then_not_gradable_and_stamped() -> None:
    """Retryable failures: one attempt plus each retry, every failure heard, then a
    not-gradable Feedback with the file's provenance (never a zero)."""
    settings = process_settings()
    tries: list[int] = []
    heard: list[str] = []

    def attempt() -> Feedback:
        tries.append(1)
        raise SandboxFailed("the engine went away")

    feedback = grade_or_not_gradable(
        _submission(),
        settings,
        Retries(2, backoff=0.001, max_wait=0.001),
        threading.Event(),
        attempt=attempt,
        noted=heard.append,
    )
    assert len(tries) == 3 and len(heard) == 3
    assert not feedback.gradable and feedback.score is None
    assert "after 3 attempts: the engine went away" in feedback.summary
    assert feedback.submission == "minigpt.py" and feedback.submission_sha256
    assert feedback.sandbox == "process"


def test_a_second_attempt_that_works_is_the_verdict() -> None:
    calls: list[int] = []
    passed = Feedback.from_error(ErrorInfo(kind="syntax", message="the student's"))

    def attempt() -> Feedback:
        calls.append(1)
        if len(calls) == 1:
            raise SandboxFailed("once")
        return passed

    feedback = grade_or_not_gradable(
        _submission(),
        process_settings(),
        Retries(2, backoff=0.001),
        threading.Event(),
        attempt=attempt,
    )
    assert feedback is passed and len(calls) == 2


def test_a_failure_no_retry_cures_is_raised_when_asked() -> None:
    def attempt() -> Feedback:
        raise ImageMissing("no image")

    with pytest.raises(ImageMissing):
        grade_or_not_gradable(
            _submission(),
            process_settings(),
            Retries(2, backoff=0.001),
            threading.Event(),
            attempt=attempt,
            fatal_raises=True,
        )
    recorded = grade_or_not_gradable(
        _submission(),
        process_settings(),
        Retries(2, backoff=0.001),
        threading.Event(),
        attempt=attempt,
    )
    assert not recorded.gradable and "after 1 attempt:" in recorded.summary


def test_cancel_ends_the_wait_between_attempts() -> None:
    cancel = threading.Event()

    def attempt() -> Feedback:
        cancel.set()
        raise SandboxFailed("down")

    with pytest.raises(Cancelled):
        grade_or_not_gradable(
            _submission(), process_settings(), Retries(5, backoff=30.0), cancel, attempt=attempt
        )
