"""Grades back to the platform through Assignment and Grade Services, once each, durably.

A page opened by an LTI launch records, with each job it submits, a grade to
send (:meth:`grader.service.db.lti.Lti.expect_grade`). The :class:`GradeWatcher`
(a pass every second in ``grade serve``, beside the sweeper) finds the grades
whose job has ended: a job that ended not gradable (our failure) or superseded
posts nothing (``skipped``, with an event saying why); the others go to the
:class:`GradeSender`, which posts ``scoreGiven`` = the points and
``scoreMaximum`` = the maximum to the launch's line item (PyLTI1p3 gets the
access token with the tool's key), retried with exponential backoff (tenacity,
the knobs of callbacks: ``--callback-retries``, ``--callback-backoff``) while the
platform is unreachable or answers 5xx, 408 or 429. Each attempt is an event of
the job (``lti-score-posted`` / ``lti-score-failed``). A stop leaves the grade
``pending``; the next start sends it again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import requests
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ...models import Feedback
from ..config import WorkerConfig
from ..db import Store
from ..dispatch.periodic import Periodic
from .keys import ToolKey
from .tool import DatabaseToolConf, TimedSession, TokenCachingConnector

log = logging.getLogger("grader.service")

WATCH_INTERVAL = 1.0
LINEITEM_TAG = "minigpt-grader"
RETRYABLE_STATUS = frozenset({408, 429})


class PassbackFailed(Exception):
    def __init__(self, detail: str, retryable: bool) -> None:
        super().__init__(detail)
        self.retryable = retryable


def post_grade(store: Store, key: ToolKey, job_id: str, launch_id: str,
               timeout: float) -> str:  # fmt: skip
    """Post one job's score to its launch's line item; what was sent (PassbackFailed if not)."""
    launch = store.lti.launch(launch_id)
    registration = store.lti.registration(launch.registration_id) if launch else None
    job = store.reads.job(job_id)
    if launch is None or registration is None or job is None or not job.feedback_json:
        raise PassbackFailed("the launch's platform registration was removed", False)
    feedback = Feedback.model_validate_json(job.feedback_json)
    if feedback.score is None:  # never posted: the watcher skips these
        raise PassbackFailed("not gradable: no score to post", False)
    if not launch.ags:
        raise PassbackFailed("the launch carried no Assignment and Grade Services claim", False)
    connector = TokenCachingConnector(
        DatabaseToolConf(store, key).registration_of(registration), TimedSession(timeout)
    )
    service = AssignmentsGradesService(connector, launch.ags)  # type: ignore[arg-type]
    grade = (
        Grade()
        .set_score_given(feedback.score)
        .set_score_maximum(feedback.max_score)
        .set_timestamp(datetime.now(UTC).isoformat(timespec="milliseconds"))
        .set_activity_progress("Completed")
        .set_grading_progress("FullyGraded")
        .set_user_id(launch.student)
        .set_comment(feedback.summary[:500])
    )
    lineitem = None
    if not launch.lineitem_url:  # no line item of its own: the tool's, made if needed
        lineitem = (
            LineItem()
            .set_tag(LINEITEM_TAG)
            .set_label("Mini-GPT")
            .set_score_maximum(feedback.max_score)
            .set_resource_link_id(launch.resource_link)
        )
    try:
        service.put_grade(grade, lineitem)
    except LtiServiceException as exc:
        status = exc.response.status_code
        raise PassbackFailed(str(exc), status >= 500 or status in RETRYABLE_STATUS) from None
    except requests.RequestException as exc:
        raise PassbackFailed(f"{type(exc).__name__}: {exc}", True) from None
    except LtiException as exc:
        raise PassbackFailed(str(exc), False) from None
    where = launch.lineitem_url or "the tool's line item"
    return f"{feedback.score:g}/{feedback.max_score:g} to {where}"


class GradeSender:
    """Posts grades in its own threads (never the graders'), each with retries."""

    def __init__(self, store: Store, key: Callable[[], ToolKey], config: WorkerConfig) -> None:
        self.store, self.key, self.config = store, key, config
        self.pool = ThreadPoolExecutor(2, thread_name_prefix="lti-grade")
        self.stopping = threading.Event()

    def send(self, job_id: str, launch_id: str) -> None:
        if not self.stopping.is_set():
            self.pool.submit(self._deliver, job_id, launch_id)

    def resume(self) -> None:
        """What a previous run left being sent."""
        for job_id, launch_id in self.store.lti.pending():
            self.send(job_id, launch_id)

    def _deliver(self, job_id: str, launch_id: str) -> None:
        total = self.config.callback_retries + 1

        def sleep(seconds: float) -> None:
            if self.stopping.wait(seconds):
                raise InterruptedError

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, PassbackFailed) and e.retryable),
            stop=stop_after_attempt(total),
            wait=wait_exponential(multiplier=self.config.callback_backoff, max=300),
            sleep=sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._attempt(job_id, launch_id, attempt.retry_state.attempt_number == total)
        except PassbackFailed as exc:
            log.warning("grade of job %s for launch %s not sent: %s", job_id, launch_id, exc)
        except InterruptedError:
            pass  # stopping: left pending, sent again at the next start
        except Exception:
            log.exception("grade of job %s could not be sent", job_id)

    def _attempt(self, job_id: str, launch_id: str, last: bool) -> None:
        try:
            timeout = self.config.callback_timeout
            sent = post_grade(self.store, self.key(), job_id, launch_id, timeout)
        except PassbackFailed as exc:
            final = last or not exc.retryable
            self.store.lti.attempt(job_id, launch_id, delivered=False, final=final,
                                   detail=str(exc))  # fmt: skip
            raise
        self.store.lti.attempt(job_id, launch_id, delivered=True, final=True, detail=sent)

    def stop(self) -> None:
        self.stopping.set()
        self.pool.shutdown(wait=True, cancel_futures=True)


class GradeWatcher(Periodic):
    """Every second: the grades whose job has ended, skipped (no score) or to the sender."""

    def __init__(self, store: Store, sender: GradeSender, interval: float = WATCH_INTERVAL) -> None:
        self.store, self.sender, self.interval = store, sender, interval
        super().__init__("lti-grades", self.watch)

    def watch(self) -> list[str]:
        """One pass; returns the jobs whose grades were handed to the sender."""
        sent = []
        for job_id, launch_id, outcome in self.store.lti.finished_waiting():
            if outcome in ("not-gradable", "superseded"):
                why = (
                    "not gradable (an infrastructure error): no score posted"
                    if outcome == "not-gradable"
                    else "superseded by a newer submission: no score posted"
                )
                self.store.lti.move(job_id, launch_id, "waiting", "skipped", why,
                                    "lti-score-skipped")  # fmt: skip
            elif self.store.lti.move(job_id, launch_id, "waiting", "pending"):
                self.sender.send(job_id, launch_id)
                sent.append(job_id)
        return sent
