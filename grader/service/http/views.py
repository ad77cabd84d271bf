"""What the API shows: a job, a page of jobs, a job's events, the service's health.

A job's fields are listed once, in :func:`job_fields`: the accept route returns
that dict as it is (no pydantic on the hot path), every other route validates
it into a :class:`JobView` (the OpenAPI page's schema).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ...models import Feedback
from ..db import EventRecord, JobRecord
from ..db.tables import CallbackStatus, JobStatus, Outcome


class CallbackView(BaseModel):
    url: str
    status: CallbackStatus
    attempts: int


class JobView(BaseModel):
    """A job as the API shows it; ``feedback`` is the ``grade --format json`` document."""

    id: str
    url: str
    status: JobStatus
    student: str | None
    submission: str
    submission_sha256: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    attempts: int = Field(description="times a worker claimed the job")
    outcome: Outcome | None
    superseded_by: str | None = Field(description="the student's newer job that replaced it")
    gradable: bool | None
    score: float | None
    max_score: float | None
    summary: str | None
    callback: CallbackView | None
    feedback: Feedback | None = Field(None, description="only in GET /v1/submissions/{id}")


class JobList(BaseModel):
    items: list[JobView]
    total: int = Field(description="jobs matching the filters, on every page")
    limit: int
    offset: int
    next: str | None = Field(description="the next page's URL, if there is one")


class EventView(BaseModel):
    at: str
    kind: str = Field(description="accepted, claimed, done, released, superseded, ...")
    worker: str | None
    detail: str | None


class EventList(BaseModel):
    job: str
    items: list[EventView]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    mode: str
    version: str
    problem: str | None = None


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def job_fields(job: JobRecord, url: str, feedback: Feedback | None = None) -> dict[str, Any]:
    """Every field of a :class:`JobView` but ``feedback`` (None), from the job (and its
    parsed feedback, for the verdict's fields)."""
    callback = None
    if job.callback_url:
        callback = {"url": job.callback_url, "status": job.callback_status,
                    "attempts": job.callback_attempts}  # fmt: skip
    return {
        "id": job.id,
        "url": url,
        "status": job.status,
        "student": job.student,
        "submission": job.filename,
        "submission_sha256": job.sha256,
        "created_at": iso(job.created_at) or "",
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "attempts": job.attempts,
        "outcome": job.outcome,
        "superseded_by": job.superseded_by,
        "gradable": feedback.gradable if feedback else None,
        "score": feedback.score if feedback else None,
        "max_score": feedback.max_score if feedback else None,
        "summary": feedback.summary if feedback else None,
        "callback": callback,
        "feedback": None,
    }


def job_view(job: JobRecord, base: str, *, with_feedback: bool) -> JobView:
    feedback = Feedback.model_validate_json(job.feedback_json) if job.feedback_json else None
    fields = job_fields(job, f"{base}/v1/submissions/{job.id}", feedback)
    return JobView.model_validate({**fields, "feedback": feedback if with_feedback else None})


def event_view(event: EventRecord) -> EventView:
    return EventView(at=iso(event.at) or "", kind=event.kind, worker=event.worker,
                     detail=event.detail)  # fmt: skip
