"""Accepting submissions: one transaction for all the requests that arrived together.

Each submission gets ``(job, created)`` or the :class:`ServiceError` that refuses
it alone (a token revoked meanwhile, a reused Idempotency-Key, a full queue, in
all or for its course); the others still go in. They are checked in order, so a
duplicate of an earlier one in the same batch returns that job. Statements are
prebuilt Core (each request then only binds values): accepting is the hot path
of a deadline burst.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from ..errors import IdempotencyConflict, QueueFull, ServiceError, Unauthorized
from .records import JobRecord, NewJob
from .tables import EVENTS, JOBS, Token

Accepted = tuple[JobRecord, bool]
UNAUTHORIZED = "Missing, unknown, revoked or expired bearer token (Authorization: Bearer <token>)."
_J = JOBS.c
_BY_KEY = select(_J.id, _J.sha256, _J.student).where(
    _J.course == bindparam("course"), _J.idempotency_key == bindparam("key")
)
_SAME = (
    _J.token_id == bindparam("token_id"),
    _J.sha256 == bindparam("sha256"),
    _J.grading_key == bindparam("grading_key"),
    _J.gradable.is_not(False),  # our failure: a new request tries again
    _J.status != "superseded",  # never graded: the file must be graded now
)
_BY_CONTENT = {
    with_student: select(_J.id)
    .where(_J.student == bindparam("student") if with_student else _J.student.is_(None), *_SAME)
    .order_by(_J.created_at.desc())
    .limit(1)
    for with_student in (True, False)
}
_WAITING = _J.status.in_(("queued", "running"))
_WAITING_ALL = select(func.count()).where(_WAITING)
_WAITING_COURSE = select(func.count()).where(_WAITING, _J.course == bindparam("course"))
_INSERT_JOB = insert(JOBS)
_INSERT_EVENT = insert(EVENTS)


@dataclass(frozen=True)
class QueueLimits:
    """How many jobs may wait, in all and per course; whether a newer file supersedes."""

    total: int = 2000
    per_course: int | None = None
    supersede: bool = False


_USABLE = select(Token.id).where(
    Token.id == bindparam("id"),
    Token.revoked_at.is_(None),
    Token.expires_at.is_(None) | (Token.expires_at > bindparam("now")),
)


def valid_tokens(connection: Connection, ids: set[int], now: float) -> set[int]:
    """The ids among ``ids`` of tokens neither revoked nor expired (a batch usually
    carries one or two tokens: one prebuilt lookup each)."""
    return {i for i in ids if connection.execute(_USABLE, {"id": i, "now": now}).first()}


class Batch:
    """The submissions of one transaction, with the queue counts kept as they go in."""

    def __init__(self, connection: Connection, news: list[NewJob], limits: QueueLimits,
                 dispatched: bool) -> None:  # fmt: skip
        self.connection, self.limits, self.dispatched = connection, limits, dispatched
        self.news = news
        self.now = time.time()
        self.valid = valid_tokens(connection, {new.token_id for new in news}, self.now)
        self.total: int | None = None  # counted on first need, then kept up to date
        self.by_course: dict[str, int] = {}
        self.events: list[dict[str, Any]] = []

    def accept_all(self) -> list[Accepted | ServiceError]:
        results = [self.accept(new) for new in self.news]
        if self.events:
            self.connection.execute(_INSERT_EVENT, self.events)
        return results

    def accept(self, new: NewJob) -> Accepted | ServiceError:
        if new.token_id not in self.valid:
            return Unauthorized(UNAUTHORIZED)
        try:
            existing = duplicate_of(self.connection, new)
        except ServiceError as refused:
            return refused
        if existing is not None:
            return existing, False
        full = self._no_room(new.course)
        if full is not None:
            return full
        row = self._insert(new)
        if self.limits.supersede and new.student is not None:
            self._supersede(new, row["id"])
        return JobRecord.of(row), True

    def _no_room(self, course: str) -> QueueFull | None:
        if self.total is None:
            self.total = int(self.connection.execute(_WAITING_ALL).scalar() or 0)
        if self.total >= self.limits.total:
            return QueueFull(
                f"The grading queue is full ({self.total} jobs waiting).",
                retry_after=self._retry_after(self.total),
            )
        if self.limits.per_course is None:
            return None
        if course not in self.by_course:
            found = self.connection.execute(_WAITING_COURSE, {"course": course}).scalar()
            self.by_course[course] = int(found or 0)
        waiting = self.by_course[course]
        if waiting < self.limits.per_course:
            return None
        return QueueFull(
            f"This course's grading queue is full ({waiting} jobs waiting).",
            retry_after=self._retry_after(waiting),
        )

    def _insert(self, new: NewJob) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "source": new.source,
            "sha256": new.sha256,
            "created_at": self.now,
            "dispatched_at": self.now if self.dispatched else None,
            **{key: getattr(new, key) for key in NEW_JOB_FIELDS},
        }
        # Inserted at once: a later duplicate in the same batch finds it.
        self.connection.execute(_INSERT_JOB, row)
        self.events.append({"job_id": row["id"], "at": self.now, "kind": "accepted"})
        self._count(new.course, +1)
        return row

    def _supersede(self, new: NewJob, newest: str) -> None:
        """The student's older jobs still queued end ``superseded`` (never graded)."""
        older = self.connection.execute(
            select(_J.id).where(
                _J.course == new.course,
                _J.student == new.student,
                _J.status == "queued",
                _J.id != newest,
            )
        ).scalars()
        for job_id in list(older):
            done = self.connection.execute(
                update(JOBS)
                .where(_J.id == job_id, _J.status == "queued")
                .values(
                    status="superseded",
                    outcome="superseded",
                    superseded_by=newest,
                    finished_at=self.now,
                    source=b"",
                    lease_owner=None,
                )
            )
            if done.rowcount == 1:
                self.events.append(
                    {"job_id": job_id, "at": self.now, "kind": "superseded", "detail": newest}
                )
                self._count(new.course, -1)

    def _count(self, course: str, change: int) -> None:
        if self.total is not None:
            self.total += change
        if course in self.by_course:
            self.by_course[course] += change

    def _retry_after(self, waiting: int) -> int:
        """Seconds until the queue has room, from the mean grading time (at least 1)."""
        mean = self.connection.execute(select(func.avg(_J.grading_seconds))).scalar() or 5.0
        return max(1, min(600, int(mean * max(1, waiting) / 10)))


NEW_JOB_FIELDS = ("course", "token_id", "student", "filename", "settings_json", "grading_key",
                  "idempotency_key", "callback_url")  # fmt: skip


def duplicate_of(connection: Connection, new: NewJob) -> JobRecord | None:
    """The job ``new`` repeats (same Idempotency-Key, or same token, student, bytes, suite
    and limits), if any; IdempotencyConflict for a key reused for another file."""
    if new.idempotency_key is not None:
        keyed = connection.execute(
            _BY_KEY, {"course": new.course, "key": new.idempotency_key}
        ).first()
        if keyed is not None and (keyed.sha256 != new.sha256 or keyed.student != new.student):
            raise IdempotencyConflict(
                "This Idempotency-Key was already used for another submission.",
                fix="Use a new key for each new file.",
            )
        if keyed is not None:
            return read_job(connection, keyed.id)
    same = connection.execute(
        _BY_CONTENT[new.student is not None],
        {"token_id": new.token_id, "student": new.student, "sha256": new.sha256,
         "grading_key": new.grading_key},
    ).first()  # fmt: skip
    return None if same is None else read_job(connection, same.id)


def read_job(connection: Connection, job_id: str) -> JobRecord | None:
    row = connection.execute(select(JOBS).where(_J.id == job_id)).mappings().first()
    return None if row is None else JobRecord.of(row)
