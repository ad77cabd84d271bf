"""The service's tables: courses, tokens, jobs and their events (SQLAlchemy ORM).

A job row holds the submission's bytes, the settings it is graded with, its
state (``queued -> running -> done``, or ``superseded`` by the same student's
newer file while still queued), how many times it was claimed, and a lease: the
worker that claimed it, that worker's process (:class:`~grader.service.identity.Owner`)
and when the claim runs out.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JobStatus = Literal["queued", "running", "done", "superseded"]
STATUSES: tuple[JobStatus, ...] = ("queued", "running", "done", "superseded")
Outcome = Literal["passed", "failed", "not-gradable", "superseded"]
CallbackStatus = Literal["none", "pending", "delivered", "failed"]
# Bumped when a table changes: a database of another version is refused with a message
# (SchemaOutdated) rather than failing on a missing column mid-burst.
SCHEMA_VERSION = "2"


class Base(DeclarativeBase):
    pass


class Meta(Base):
    __tablename__ = "service_meta"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class Course(Base):
    __tablename__ = "courses"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Signs callbacks (HMAC needs the secret itself, so it is kept, unlike tokens).
    secret: Mapped[str] = mapped_column(String(100))
    # The secret before the last rotation, still signing beside the new one until then.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_until: Mapped[float | None] = mapped_column(Float)
    # When a worker last claimed one of its jobs: the fair queue serves the course
    # served longest ago first.
    served_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course: Mapped[str] = mapped_column(ForeignKey("courses.name"))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(20))  # enough to recognise it in a list
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("course", "idempotency_key", name="uq_jobs_idempotency"),
        Index("ix_jobs_dedupe", "token_id", "student", "sha256", "grading_key"),
        Index("ix_jobs_course_student", "course", "student", "created_at"),
        Index("ix_jobs_status", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    course: Mapped[str] = mapped_column(ForeignKey("courses.name"))
    token_id: Mapped[int] = mapped_column(Integer)
    student: Mapped[str | None] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(300))
    source: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    settings_json: Mapped[str] = mapped_column(Text)
    # A digest of the suite and the settings: the same bytes under the same key
    # always get the same verdict, so such a job is never graded twice.
    grading_key: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    callback_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    infra_errors: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires: Mapped[float | None] = mapped_column(Float)
    owner_host: Mapped[str | None] = mapped_column(String(255))
    owner_boot: Mapped[str | None] = mapped_column(String(100))
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    owner_start: Mapped[int | None] = mapped_column(Integer)
    dispatched_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    grading_seconds: Mapped[float | None] = mapped_column(Float)
    gradable: Mapped[bool | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(20))
    superseded_by: Mapped[str | None] = mapped_column(String(32))
    feedback_json: Mapped[str | None] = mapped_column(Text)
    callback_status: Mapped[str] = mapped_column(String(10), default="none")
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)


class Event(Base):
    """What happened to a job and who did it: the audit trail an operator reads."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(30))
    worker: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)


JOBS = Base.metadata.tables["jobs"]
EVENTS = Base.metadata.tables["events"]
