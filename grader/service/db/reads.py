"""What the API and the operator read: a job, a course's jobs, a job's events."""

from __future__ import annotations

from sqlalchemy import Select, func, select

from .database import Database
from .records import EventRecord, JobRecord
from .tables import JOBS, Event


class Reads:
    def __init__(self, db: Database) -> None:
        self.db = db

    def job(self, job_id: str, course: str | None = None) -> JobRecord | None:
        """The job, if it exists (and belongs to ``course``, when given)."""
        with self.db.read_session() as session:
            row = session.execute(select(JOBS).where(JOBS.c.id == job_id)).mappings().first()
        if row is None or (course is not None and row["course"] != course):
            return None
        return JobRecord.of(row)

    def jobs(self, course: str, student: str | None, status: str | None, limit: int,
             offset: int) -> tuple[list[JobRecord], int]:  # fmt: skip
        """A page of the course's jobs, newest first, and how many match in all."""
        query: Select[tuple[object, ...]] = select(JOBS).where(JOBS.c.course == course)
        if student is not None:
            query = query.where(JOBS.c.student == student)
        if status is not None:
            query = query.where(JOBS.c.status == status)
        page = query.order_by(JOBS.c.created_at.desc(), JOBS.c.id).limit(limit).offset(offset)
        with self.db.read_session() as session:
            rows = session.execute(page).mappings().all()
            total = session.execute(select(func.count()).select_from(query.subquery())).scalar()
        return [JobRecord.of(row) for row in rows], int(total or 0)

    def events(self, job_id: str, course: str | None = None) -> list[EventRecord] | None:
        """The job's events in order; None when there is no such job (in ``course``)."""
        if course is not None and self.job(job_id, course) is None:
            return None
        with self.db.read_session() as session:
            rows = session.execute(
                select(Event.at, Event.kind, Event.worker, Event.detail)
                .where(Event.job_id == job_id)
                .order_by(Event.id)
            )
            return [EventRecord(*row) for row in rows]
