"""The service's database: the record of truth for every job.

A job row holds the submission's bytes, the settings it is graded with, its
state (``queued -> running -> done``), how many times it was claimed, and a
lease: the worker that claimed it and when that claim runs out. The queue
(a thread pool or Celery) only carries job ids; whoever takes one must first
win :meth:`Store.claim`, a conditional UPDATE, so a redelivered or duplicated
message never grades a job twice at once, and :meth:`Store.finish` records a
result only for a job that is not yet done, so a result is recorded exactly
once. A job whose worker vanished keeps its lease until it expires; the
sweeper (:meth:`Store.requeue_expired`) then puts it back in the queue.

SQLite (the default) runs every transaction as ``BEGIN IMMEDIATE`` in WAL
mode, so API processes and worker processes on one machine can share the
file; any SQLAlchemy URL works for several machines (PostgreSQL).

Accepting is the hot path of a deadline burst: :meth:`Store.create_jobs`
records many submissions in one transaction (group commit, one commit for all
the requests that arrived together) with Core statements, and valid tokens
are remembered for a minute so a request costs no token query.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    case,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ..errors import GraderError

if sys.platform != "win32":
    import fcntl

JobStatus = Literal["queued", "running", "done"]
CallbackStatus = Literal["none", "pending", "delivered", "failed"]
STATUSES: tuple[JobStatus, ...] = ("queued", "running", "done")
GRADING_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# A valid token is remembered this long (tokens are only ever added, never
# changed, so this only bounds how long a row deleted by hand keeps working).
TOKEN_CACHE_SECONDS = 60.0


class ServiceError(GraderError):
    """A request the service refuses; ``status`` is the HTTP status it answers with."""

    status = 400

    def __init__(self, message: str, *, fix: str | None = None, **detail: Any) -> None:
        super().__init__(message, fix=fix)
        self.detail = detail


class IdempotencyConflict(ServiceError):
    """An Idempotency-Key reused for another file."""

    status = 422


class QueueFull(ServiceError):
    """Too many jobs waiting; the client should come back after ``retry_after`` s."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class Base(DeclarativeBase):
    pass


class Course(Base):
    __tablename__ = "courses"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Signs callbacks (HMAC needs the secret itself, so it is kept, unlike tokens).
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[float] = mapped_column(Float)


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course: Mapped[str] = mapped_column(ForeignKey("courses.name"))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("course", "idempotency_key", name="uq_jobs_idempotency"),
        Index("ix_jobs_dedupe", "token_id", "student", "sha256", "grading_key"),
        Index("ix_jobs_course_student", "course", "student", "created_at"),
        Index("ix_jobs_status", "status"),
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
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    infra_errors: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires: Mapped[float | None] = mapped_column(Float)
    dispatched_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    grading_seconds: Mapped[float | None] = mapped_column(Float)
    gradable: Mapped[bool | None] = mapped_column()
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


@dataclass(frozen=True)
class NewJob:
    """What the API knows about a submission when it accepts it."""

    course: str
    token_id: int
    student: str | None
    filename: str
    source: bytes
    settings_json: str
    grading_key: str
    idempotency_key: str | None = None
    callback_url: str | None = None

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.source).hexdigest()


@dataclass(frozen=True)
class JobRecord:
    """A detached copy of a job row (without the source bytes unless claimed)."""

    id: str
    course: str
    student: str | None
    filename: str
    sha256: str
    status: str
    attempts: int
    infra_errors: int
    lease_owner: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    gradable: bool | None
    feedback_json: str | None
    callback_url: str | None
    callback_status: str
    callback_attempts: int
    settings_json: str
    source: bytes = b""

    @classmethod
    def of(cls, job: Job, *, with_source: bool = False) -> JobRecord:
        return cls(
            id=job.id,
            course=job.course,
            student=job.student,
            filename=job.filename,
            sha256=job.sha256,
            status=job.status,
            attempts=job.attempts,
            infra_errors=job.infra_errors,
            lease_owner=job.lease_owner,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            gradable=job.gradable,
            feedback_json=job.feedback_json,
            callback_url=job.callback_url,
            callback_status=job.callback_status,
            callback_attempts=job.callback_attempts,
            settings_json=job.settings_json,
            source=job.source if with_source else b"",
        )


@dataclass(frozen=True)
class Stats:
    """Counts for /metrics, all read from the database so every worker is included."""

    by_status: dict[str, int]
    infra_errors: int
    callbacks: dict[str, int]
    grading_buckets: list[tuple[float, int]]
    grading_count: int
    grading_sum: float


# The accept path's statements, built once (each request then only binds values).
_JOBS = Base.metadata.tables["jobs"].c
_BY_IDEMPOTENCY_KEY = select(_JOBS.id, _JOBS.sha256, _JOBS.student).where(
    _JOBS.course == bindparam("course"), _JOBS.idempotency_key == bindparam("key")
)
_SAME_CONTENT = (
    _JOBS.token_id == bindparam("token_id"),
    _JOBS.sha256 == bindparam("sha256"),
    _JOBS.grading_key == bindparam("grading_key"),
    _JOBS.gradable.is_not(False),
)
_BY_CONTENT = (
    select(_JOBS.id)
    .where(_JOBS.student == bindparam("student"), *_SAME_CONTENT)
    .order_by(_JOBS.created_at.desc())
    .limit(1)
)
_BY_CONTENT_NO_STUDENT = (
    select(_JOBS.id)
    .where(_JOBS.student.is_(None), *_SAME_CONTENT)
    .order_by(_JOBS.created_at.desc())
    .limit(1)
)
_WAITING = select(func.count()).where(_JOBS.status.in_(("queued", "running")))
_INSERT_JOB = insert(Base.metadata.tables["jobs"])
_INSERT_EVENT = insert(Base.metadata.tables["events"])


def _new_record(row: dict[str, Any]) -> JobRecord:
    """The record of a job just inserted from ``row`` (no read back)."""
    return JobRecord(
        id=row["id"],
        course=row["course"],
        student=row["student"],
        filename=row["filename"],
        sha256=row["sha256"],
        status="queued",
        attempts=0,
        infra_errors=0,
        lease_owner=None,
        created_at=row["created_at"],
        started_at=None,
        finished_at=None,
        gradable=None,
        feedback_json=None,
        callback_url=row["callback_url"],
        callback_status="none",
        callback_attempts=0,
        settings_json=row["settings_json"],
    )


def token_digest(token: str) -> str:
    """Tokens are random, so a plain SHA-256 is as good as a slow hash here."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class _WriteLock:
    """One write transaction at a time on a SQLite file: first among this process's
    threads (a lock), then among the processes sharing the file (an ``flock`` on a
    file beside it).

    SQLite serialises writers itself, but a writer that finds the file locked
    sleeps in its busy handler (1, 2, 5, 10... up to 100 ms at a time) and keeps
    losing to a process that commits often: two API processes committing a burst
    made one of them wait 100 ms. A blocked ``flock`` wakes the moment the lock is
    released. Every process of the service takes it; one that does not (another
    tool) is still kept out by SQLite's own lock, only less promptly.
    """

    def __init__(self, database: str | None) -> None:
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        if database and database != ":memory:" and sys.platform != "win32":
            self._fd = os.open(f"{database}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._thread_lock.release()
                raise

    def __exit__(self, *_exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _sqlite_setup(engine: Engine, *, immediate: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN below, not the driver's
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads and
        # then writes fails at once under WAL when another process wrote meanwhile.
        # Reads only (the reader engine) never wait for it: WAL lets them run
        # beside a writer, on the last committed state.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Store:
    """Every job state transition, each one a short transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        # SQLite: one write transaction at a time, queued on a lock here rather
        # than in SQLite's busy handler, whose sleeps grow to 100 ms (_WriteLock);
        # reads go through a second engine whose transactions take no lock.
        self._lock: AbstractContextManager[object] = nullcontext()
        self._write_lock: _WriteLock | None = None
        if url.startswith("sqlite"):
            self.engine = create_engine(url, pool_size=4, max_overflow=4)
            _sqlite_setup(self.engine)
            self._write_lock = _WriteLock(self.engine.url.database)
            self._lock = self._write_lock
            self._reader = create_engine(url, pool_size=4, max_overflow=8)
            _sqlite_setup(self._reader, immediate=False)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
            self._reader = self.engine
        Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(self._reader, expire_on_commit=False)
        # token digest -> ((token id, course), monotonic time it is trusted until)
        self._tokens: dict[str, tuple[tuple[int, str], float]] = {}

    def close(self) -> None:
        self.engine.dispose()
        self._reader.dispose()
        if self._write_lock is not None:
            self._write_lock.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction (one at a time on SQLite)."""
        with self._lock, self._session.begin() as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only transaction: never waits for a writer (SQLite: WAL)."""
        with self._read.begin() as session:
            yield session

    @staticmethod
    def _event(session: Session, job_id: str, kind: str, worker: str | None = None,
               detail: str | None = None) -> None:  # fmt: skip
        session.add(Event(job_id=job_id, at=time.time(), kind=kind, worker=worker, detail=detail))

    # -- courses and tokens -------------------------------------------------

    def create_token(self, course: str) -> tuple[str, str]:
        """A new bearer token for ``course`` (created if new): (token, signing secret)."""
        token = "mgt_" + secrets.token_urlsafe(32)
        with self.session() as session:
            row = session.get(Course, course)
            if row is None:
                row = Course(name=course, secret=secrets.token_urlsafe(32), created_at=time.time())
                session.add(row)
            session.add(Token(course=course, digest=token_digest(token), created_at=time.time()))
            return token, row.secret

    def cached_token(self, token: str) -> tuple[int, str] | None:
        """(token id, course) if this token was found valid in the last minute, else None.

        No database access, so the API can call it on its event loop; an unknown
        token is never remembered (a token made a moment ago by another process
        must work at once): :meth:`find_token` asks the database.
        """
        found = self._tokens.get(token_digest(token))
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def find_token(self, token: str) -> tuple[int, str] | None:
        """(token id, course) for a valid token, else None."""
        cached = self.cached_token(token)
        if cached is not None:
            return cached
        digest = token_digest(token)
        with self.read_session() as session:
            row = session.execute(
                select(Token.id, Token.course).where(Token.digest == digest)
            ).first()
        if row is None:
            return None
        found = (int(row[0]), str(row[1]))
        self._tokens[digest] = (found, time.monotonic() + TOKEN_CACHE_SECONDS)
        return found

    def course_secret(self, course: str) -> str | None:
        with self.read_session() as session:
            row = session.get(Course, course)
            return row.secret if row else None

    # -- accepting ----------------------------------------------------------

    def create_job(self, new: NewJob, *, max_queue: int) -> tuple[JobRecord, bool]:
        """Insert a job, or return the one it duplicates: (job, created)."""
        result = self.create_jobs([new], max_queue=max_queue)[0]
        if isinstance(result, ServiceError):
            raise result
        return result

    def create_jobs(
        self, news: Sequence[NewJob], *, max_queue: int
    ) -> list[tuple[JobRecord, bool] | ServiceError]:
        """Accept several submissions in one transaction (a group commit).

        Each gets (job, created) or the :class:`ServiceError` that refuses it
        alone (queue full, a reused Idempotency-Key); the others still go in.
        They are checked in order, so a duplicate of an earlier one in the same
        batch returns that job. Everything is committed when this returns.
        """
        try:
            with self.session() as session:
                return self._insert_jobs(session, news, max_queue)
        except IntegrityError:
            if len(news) > 1:  # a concurrent writer (another API process): one at a time
                return [self.create_jobs([new], max_queue=max_queue)[0] for new in news]
            # The same Idempotency-Key raced us: the other request's job stands.
            with self.session() as session:
                existing = self._duplicate_of(session, news[0])
                if existing is None:
                    raise
                return [(JobRecord.of(existing), False)]

    def _insert_jobs(
        self, session: Session, news: Sequence[NewJob], max_queue: int
    ) -> list[tuple[JobRecord, bool] | ServiceError]:
        results: list[tuple[JobRecord, bool] | ServiceError] = []
        events: list[dict[str, Any]] = []
        # Counted once per batch over the status index (queued and running only,
        # not the ever-growing done jobs), then kept up to date as jobs go in.
        waiting: int | None = None
        for new in news:
            try:
                existing = self._duplicate_of(session, new)
            except ServiceError as refused:
                results.append(refused)
                continue
            if existing is not None:
                results.append((JobRecord.of(existing), False))
                continue
            if waiting is None:
                waiting = self._waiting(session)
            if waiting >= max_queue:
                results.append(
                    QueueFull(
                        f"The grading queue is full ({waiting} jobs waiting).",
                        retry_after=self._retry_after(session, waiting),
                    )
                )
                continue
            now = time.time()
            row: dict[str, Any] = {
                "id": uuid.uuid4().hex,
                "course": new.course,
                "token_id": new.token_id,
                "student": new.student,
                "filename": new.filename,
                "source": new.source,
                "sha256": new.sha256,
                "settings_json": new.settings_json,
                "grading_key": new.grading_key,
                "idempotency_key": new.idempotency_key,
                "callback_url": new.callback_url,
                "status": "queued",
                "attempts": 0,
                "infra_errors": 0,
                "created_at": now,
                "callback_status": "none",
                "callback_attempts": 0,
            }
            # Inserted at once: a later duplicate in the same batch finds it.
            session.connection().execute(_INSERT_JOB, row)
            events.append({"job_id": row["id"], "at": now, "kind": "accepted"})
            waiting += 1
            results.append((_new_record(row), True))
        if events:
            session.connection().execute(_INSERT_EVENT, events)
        return results

    @staticmethod
    def _waiting(session: Session) -> int:
        return int(session.connection().execute(_WAITING).scalar() or 0)

    @staticmethod
    def _duplicate_of(session: Session, new: NewJob) -> Job | None:
        connection = session.connection()
        if new.idempotency_key is not None:
            keyed = connection.execute(
                _BY_IDEMPOTENCY_KEY, {"course": new.course, "key": new.idempotency_key}
            ).first()
            if keyed is not None and (keyed.sha256 != new.sha256 or keyed.student != new.student):
                raise IdempotencyConflict(
                    "This Idempotency-Key was already used for another submission.",
                    fix="Use a new key for each new file.",
                )
            if keyed is not None:
                return session.get(Job, keyed.id)
        # Same token, student, bytes, suite and limits: the same verdict. A job that
        # ended not gradable (our failure) is not reused: the new request tries again.
        same = connection.execute(
            _BY_CONTENT_NO_STUDENT if new.student is None else _BY_CONTENT,
            {
                "token_id": new.token_id,
                "student": new.student,
                "sha256": new.sha256,
                "grading_key": new.grading_key,
            },
        ).first()
        return None if same is None else session.get(Job, same.id)

    @staticmethod
    def _retry_after(session: Session, waiting: int) -> int:
        """Seconds until the queue has room, from the mean grading time (at least 1)."""
        mean = session.scalar(select(func.avg(Job.grading_seconds))) or 5.0
        return max(1, min(600, int(mean * max(1, waiting) / 10)))

    def mark_dispatched(self, job_ids: Sequence[str]) -> None:
        """Note that these jobs were handed to the broker (one statement for all)."""
        if not job_ids:
            return
        with self.session() as session:
            session.execute(
                update(Job)
                .where(Job.id.in_(list(job_ids)), Job.status == "queued")
                .values(dispatched_at=time.time())
            )

    # -- grading ------------------------------------------------------------

    def claim(self, job_id: str, worker: str, lease_seconds: float) -> JobRecord | None:
        """Take a queued job (or one whose lease ran out) for ``worker``; None if taken."""
        now = time.time()
        with self.session() as session:
            taken = session.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    (Job.status == "queued")
                    | ((Job.status == "running") & (Job.lease_expires < now)),
                )
                .values(
                    status="running",
                    lease_owner=worker,
                    lease_expires=now + lease_seconds,
                    attempts=Job.attempts + 1,
                    started_at=func.coalesce(Job.started_at, now),
                )
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None
            self._event(session, job_id, "claimed", worker)
            job = session.get(Job, job_id)
            assert job is not None
            return JobRecord.of(job, with_source=True)

    def renew(self, job_id: str, worker: str, lease_seconds: float) -> bool:
        """Extend the lease; False when the job is no longer this worker's."""
        with self.session() as session:
            renewed = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running", Job.lease_owner == worker)
                .values(lease_expires=time.time() + lease_seconds)
            )
            return bool(renewed.rowcount == 1)  # type: ignore[attr-defined]

    def note_infra_error(self, job_id: str, worker: str, message: str) -> None:
        with self.session() as session:
            session.execute(
                update(Job).where(Job.id == job_id).values(infra_errors=Job.infra_errors + 1)
            )
            self._event(session, job_id, "infrastructure-error", worker, message[:2000])

    def finish(
        self, job_id: str, worker: str, feedback_json: str, gradable: bool, seconds: float
    ) -> bool:
        """Record the verdict unless one is recorded already (exactly once)."""
        with self.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.status == "done":
                self._event(session, job_id, "duplicate-result-dropped", worker)
                return False
            job.status = "done"
            job.feedback_json = feedback_json
            job.gradable = gradable
            job.finished_at = time.time()
            job.grading_seconds = seconds
            job.lease_owner = None
            job.lease_expires = None
            job.source = b""  # graded: the bytes are no longer needed (sha256 stays)
            if job.callback_url:
                job.callback_status = "pending"
            self._event(session, job_id, "done", worker)
            return True

    def release(self, job_id: str, worker: str) -> bool:
        """Give a running job back to the queue (graceful stop)."""
        with self.session() as session:
            released = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running", Job.lease_owner == worker)
                .values(status="queued", lease_owner=None, lease_expires=None, dispatched_at=None)
            )
            if released.rowcount == 1:  # type: ignore[attr-defined]
                self._event(session, job_id, "released", worker)
                return True
            return False

    # -- the sweeper --------------------------------------------------------

    def requeue_expired(self) -> list[str]:
        """Jobs whose worker stopped renewing its lease, back to ``queued``."""
        now = time.time()
        with self.session() as session:
            ids = list(
                session.scalars(
                    select(Job.id).where(Job.status == "running", Job.lease_expires < now)
                )
            )
            requeued = []
            for job_id in ids:
                done = session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == "running", Job.lease_expires < now)
                    .values(status="queued", lease_owner=None, lease_expires=None)
                )
                if done.rowcount == 1:  # type: ignore[attr-defined]
                    self._event(session, job_id, "lease-expired-requeued")
                    requeued.append(job_id)
            return requeued

    def undispatched(self, grace: float, redispatch_after: float) -> list[str]:
        """Queued jobs no queue holds: never handed over, or handed over long ago."""
        now = time.time()
        with self.session() as session:
            return list(
                session.scalars(
                    select(Job.id)
                    .where(
                        Job.status == "queued",
                        Job.created_at < now - grace,
                        Job.dispatched_at.is_(None) | (Job.dispatched_at < now - redispatch_after),
                    )
                    .order_by(Job.created_at)
                )
            )

    def never_dispatched(self, limit: int = 1000) -> list[str]:
        """Queued jobs not yet handed to any queue, oldest first."""
        return [job_id for job_id, _ in self.never_dispatched_since(limit)]

    def never_dispatched_since(self, limit: int = 1000) -> list[tuple[str, float]]:
        """As :meth:`never_dispatched`, with when each was accepted (what the feeder takes)."""
        with self.read_session() as session:
            rows = session.execute(
                select(Job.id, Job.created_at)
                .where(Job.status == "queued", Job.dispatched_at.is_(None))
                .order_by(Job.created_at)
                .limit(limit)
            )
            return [(job_id, created) for job_id, created in rows]

    def queued_ids(self) -> list[str]:
        with self.read_session() as session:
            return list(
                session.scalars(
                    select(Job.id).where(Job.status == "queued").order_by(Job.created_at)
                )
            )

    # -- callbacks ----------------------------------------------------------

    def callback_target(self, job_id: str) -> tuple[str, str, str] | None:
        """(url, body, course secret) of a pending callback, else None."""
        with self.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.callback_status != "pending" or not job.callback_url:
                return None
            course = session.get(Course, job.course)
            assert course is not None and job.feedback_json is not None
            return job.callback_url, job.feedback_json, course.secret

    def callback_result(self, job_id: str, delivered: bool, final: bool, detail: str) -> None:
        with self.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                return
            job.callback_attempts += 1
            if delivered:
                job.callback_status = "delivered"
            elif final:
                job.callback_status = "failed"
            self._event(
                session,
                job_id,
                "callback-delivered" if delivered else "callback-failed",
                detail=detail[:2000],
            )

    def pending_callbacks(self) -> list[str]:
        with self.read_session() as session:
            return list(session.scalars(select(Job.id).where(Job.callback_status == "pending")))

    # -- reading ------------------------------------------------------------

    def get_job(self, job_id: str, course: str | None = None) -> JobRecord | None:
        with self.read_session() as session:
            job = session.get(Job, job_id)
            if job is None or (course is not None and job.course != course):
                return None
            return JobRecord.of(job)

    def list_jobs(
        self, course: str, student: str | None, status: str | None, limit: int, offset: int
    ) -> list[JobRecord]:
        query = select(Job).where(Job.course == course)
        if student is not None:
            query = query.where(Job.student == student)
        if status is not None:
            query = query.where(Job.status == status)
        query = query.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
        with self.read_session() as session:
            return [JobRecord.of(job) for job in session.scalars(query)]

    def events(self, job_id: str) -> list[tuple[str, str | None]]:
        with self.read_session() as session:
            rows = session.execute(
                select(Event.kind, Event.worker).where(Event.job_id == job_id).order_by(Event.id)
            )
            return [(kind, worker) for kind, worker in rows]

    def stats(self, buckets: Sequence[float] = GRADING_BUCKETS) -> Stats:
        with self.read_session() as session:
            by_status: dict[str, int] = {status: 0 for status in STATUSES}
            for status, count in session.execute(
                select(Job.status, func.count()).group_by(Job.status)
            ):
                by_status[status] = count
            callbacks = {
                status: count
                for status, count in session.execute(
                    select(Job.callback_status, func.count()).group_by(Job.callback_status)
                )
            }
            graded = Job.grading_seconds.is_not(None)
            columns = [
                func.sum(case((Job.grading_seconds <= bound, 1), else_=0)) for bound in buckets
            ]
            row = session.execute(
                select(
                    func.count(), func.coalesce(func.sum(Job.grading_seconds), 0.0), *columns
                ).where(graded)
            ).one()
            infra = session.scalar(select(func.coalesce(func.sum(Job.infra_errors), 0)))
            return Stats(
                by_status=by_status,
                infra_errors=int(infra or 0),
                callbacks=callbacks,
                grading_buckets=[
                    (bound, int(n or 0)) for bound, n in zip(buckets, row[2:], strict=True)
                ],
                grading_count=int(row[0]),
                grading_sum=float(row[1]),
            )

    def ping(self) -> None:
        with self.read_session() as session:
            session.execute(select(1))
