"""Detached copies of rows, handed out of the store (no session, no lazy loading)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any


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
    """A job as read (without the source bytes unless claimed). The defaults are a new
    job's, so a record of a row just inserted is built from that row alone."""

    id: str
    course: str
    student: str | None
    filename: str
    sha256: str
    settings_json: str
    created_at: float
    callback_url: str | None = None
    status: str = "queued"
    attempts: int = 0
    infra_errors: int = 0
    lease_owner: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    gradable: bool | None = None
    outcome: str | None = None
    superseded_by: str | None = None
    feedback_json: str | None = None
    callback_status: str = "none"
    callback_attempts: int = 0
    source: bytes = field(default=b"", repr=False)

    @classmethod
    def of(cls, row: Any, *, with_source: bool = False) -> JobRecord:
        """From an ORM object, or a mapping (a missing key takes the field's default)."""
        names = _RECORD_FIELDS
        values: dict[str, Any]
        if isinstance(row, Mapping):
            values = {name: row[name] for name in names if name in row}
        else:
            values = {name: getattr(row, name) for name in names}
        values["source"] = (
            (row["source"] if isinstance(row, Mapping) else row.source) if with_source else b""
        )
        return cls(**values)


_RECORD_FIELDS = [f.name for f in fields(JobRecord) if f.name != "source"]


@dataclass(frozen=True)
class EventRecord:
    at: float
    kind: str
    worker: str | None
    detail: str | None


@dataclass(frozen=True)
class TokenRecord:
    id: int
    course: str
    prefix: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None

    def state(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


Buckets = list[tuple[float, int]]


@dataclass(frozen=True)
class Histogram:
    buckets: Buckets  # (upper bound, count at or under it)
    count: int
    total: float


@dataclass(frozen=True)
class Stats:
    """Counts for /metrics, all read from the database so every worker is included."""

    jobs: dict[tuple[str, str], int]  # (course, status) -> jobs
    outcomes: dict[tuple[str, str], int]  # (course, outcome) -> finished jobs
    infra_errors: int
    callbacks: dict[str, int]
    grading: Histogram
    queue_wait: dict[str, Histogram]  # by course: accepted -> first claimed
