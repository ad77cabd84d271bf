"""The library API's own duties on top of a backend's verdict."""

from __future__ import annotations

import threading

import pytest
from support import REFERENCE, process_settings

from grader.api import grade_submission
from grader.errors import ContractError
from grader.judge.verdict import Outcome, feedback_from_outcomes
from grader.models import Feedback
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
