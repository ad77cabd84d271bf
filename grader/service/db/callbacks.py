"""The callback of each finished job: what to send, and how its delivery went."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from .database import Database, add_event
from .tables import Course, Job
from .tokens import signing_secrets


@dataclass(frozen=True)
class PendingCallback:
    url: str
    body: bytes
    secrets: list[str]  # the course's signing secrets in use (two while one is rotated)


class Callbacks:
    def __init__(self, db: Database) -> None:
        self.db = db

    def target(self, job_id: str) -> PendingCallback | None:
        """The callback of ``job_id`` if one is pending, else None."""
        with self.db.read_session() as session:
            job = session.get(Job, job_id)
            if job is None or job.callback_status != "pending" or not job.callback_url:
                return None
            course = session.get(Course, job.course)
            assert course is not None and job.feedback_json is not None
            return PendingCallback(job.callback_url, job.feedback_json.encode(),
                                   signing_secrets(course))  # fmt: skip

    def result(self, job_id: str, delivered: bool, final: bool, detail: str) -> None:
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                return
            job.callback_attempts += 1
            if delivered:
                job.callback_status = "delivered"
            elif final:
                job.callback_status = "failed"
            kind = "callback-delivered" if delivered else "callback-failed"
            add_event(session, job_id, kind, detail=detail[:2000])

    def pending(self) -> list[str]:
        with self.db.read_session() as session:
            return list(session.scalars(select(Job.id).where(Job.callback_status == "pending")))
