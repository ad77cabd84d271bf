"""LTI 1.3 in the database: platform registrations, launches, grades to send back,
and the launch state PyLTI1p3 keeps between the login and the launch."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import NotFound, ServiceError
from .database import Database, add_event
from .page_tables import LtiLaunch, LtiPassback, LtiRegistration, LtiState
from .pages import ensure_course
from .tables import Job


@dataclass(frozen=True)
class RegistrationRecord:
    id: int
    issuer: str
    client_id: str
    deployment_ids: tuple[str, ...]
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    auth_audience: str | None
    course: str
    created_at: float

    @classmethod
    def of(cls, row: LtiRegistration) -> RegistrationRecord:
        return cls(row.id, row.issuer, row.client_id, tuple(json.loads(row.deployment_ids)),
                   row.auth_login_url, row.auth_token_url, row.key_set_url, row.auth_audience,
                   row.course, row.created_at)  # fmt: skip


@dataclass(frozen=True)
class LaunchRecord:
    id: str
    registration_id: int
    course: str
    student: str
    name: str | None
    resource_link: str
    lineitem_url: str | None
    ags: dict[str, Any] | None

    @classmethod
    def of(cls, row: LtiLaunch) -> LaunchRecord:
        ags = json.loads(row.ags_json) if row.ags_json else None
        return cls(row.id, row.registration_id, row.course, row.student, row.name,
                   row.resource_link, row.lineitem_url, ags)  # fmt: skip


@dataclass(frozen=True)
class PassbackRecord:
    job_id: str
    launch_id: str
    status: str
    attempts: int
    detail: str | None


class RegistrationExists(ServiceError):
    """A platform registration with this issuer and client id is there already."""

    status = 409


class Lti:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- registrations (grade serve lti add / list / remove) ------------------

    def add(self, *, issuer: str, client_id: str, deployment_ids: list[str],
            auth_login_url: str, auth_token_url: str, key_set_url: str, course: str,
            auth_audience: str | None = None) -> RegistrationRecord:  # fmt: skip
        try:
            with self.db.session() as session:
                ensure_course(session, course)
                row = LtiRegistration(
                    issuer=issuer, client_id=client_id,
                    deployment_ids=json.dumps(sorted(set(deployment_ids))),
                    auth_login_url=auth_login_url, auth_token_url=auth_token_url,
                    key_set_url=key_set_url, auth_audience=auth_audience, course=course,
                    created_at=time.time(),
                )  # fmt: skip
                session.add(row)
                session.flush()
                return RegistrationRecord.of(row)
        except IntegrityError:
            raise RegistrationExists(
                f"A registration for issuer {issuer!r} and client id {client_id!r} exists.",
                fix="Remove it first (grade serve lti remove ID).",
            ) from None

    def registrations(self) -> list[RegistrationRecord]:
        with self.db.read_session() as session:
            rows = session.scalars(select(LtiRegistration).order_by(LtiRegistration.id))
            return [RegistrationRecord.of(row) for row in rows]

    def remove(self, registration_id: int) -> RegistrationRecord:
        with self.db.session() as session:
            row = session.get(LtiRegistration, registration_id)
            if row is None:
                raise NotFound(f"No LTI registration {registration_id}.")
            record = RegistrationRecord.of(row)
            session.delete(row)
            return record

    def find(self, issuer: str, client_id: str | None) -> RegistrationRecord | None:
        """The registration of ``issuer`` and ``client_id``; without a client id, the
        issuer's only registration (None when it has several)."""
        query = select(LtiRegistration).where(LtiRegistration.issuer == issuer)
        if client_id is not None:
            query = query.where(LtiRegistration.client_id == client_id)
        with self.db.read_session() as session:
            rows = list(session.scalars(query.limit(2)))
        return RegistrationRecord.of(rows[0]) if len(rows) == 1 else None

    def registration(self, registration_id: int) -> RegistrationRecord | None:
        with self.db.read_session() as session:
            row = session.get(LtiRegistration, registration_id)
            return None if row is None else RegistrationRecord.of(row)

    # -- launches --------------------------------------------------------------

    def record_launch(self, registration: RegistrationRecord, student: str, name: str | None,
                      resource_link: str, ags: dict[str, Any] | None) -> LaunchRecord:  # fmt: skip
        lineitem = ags.get("lineitem") if ags else None
        row = LtiLaunch(
            id=uuid.uuid4().hex, registration_id=registration.id, course=registration.course,
            student=student, name=name, resource_link=resource_link,
            lineitem_url=lineitem if isinstance(lineitem, str) else None,
            ags_json=json.dumps(ags) if ags else None, created_at=time.time(),
        )  # fmt: skip
        with self.db.session() as session:
            session.add(row)
        return LaunchRecord.of(row)

    def launch(self, launch_id: str) -> LaunchRecord | None:
        with self.db.read_session() as session:
            row = session.get(LtiLaunch, launch_id)
            return None if row is None else LaunchRecord.of(row)

    # -- grades to send back ----------------------------------------------------

    def expect_grade(self, job_id: str, launch_id: str) -> None:
        """Send ``job_id``'s score to ``launch_id``'s line item once it is done (once)."""
        now = time.time()
        with self.db.session() as session:
            if session.get(LtiPassback, (job_id, launch_id)) is None:
                session.add(LtiPassback(job_id=job_id, launch_id=launch_id, status="waiting",
                                        attempts=0, created_at=now, updated_at=now))  # fmt: skip

    def finished_waiting(self) -> list[tuple[str, str, str]]:
        """(job, launch, job outcome) of the grades whose job has ended."""
        query = (
            select(LtiPassback.job_id, LtiPassback.launch_id, Job.outcome)
            .join(Job, Job.id == LtiPassback.job_id)
            .where(LtiPassback.status == "waiting", Job.status.in_(("done", "superseded")))
            .order_by(LtiPassback.created_at)
        )
        with self.db.read_session() as session:
            return [(j, launch, str(outcome)) for j, launch, outcome in session.execute(query)]

    def move(self, job_id: str, launch_id: str, before: str, after: str,
             detail: str | None = None, event: str | None = None) -> bool:  # fmt: skip
        """``before`` -> ``after`` if the grade is still ``before`` (one mover wins),
        with an event on the job when ``event`` is given."""
        with self.db.session() as session:
            done = session.execute(
                update(LtiPassback)
                .where(LtiPassback.job_id == job_id, LtiPassback.launch_id == launch_id,
                       LtiPassback.status == before)
                .values(status=after, detail=detail, updated_at=time.time())
            )  # fmt: skip
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return False
            if event:
                add_event(session, job_id, event, detail=detail)
            return True

    def attempt(self, job_id: str, launch_id: str, *, delivered: bool, final: bool,
                detail: str) -> None:  # fmt: skip
        """One sending attempt's outcome, on the grade and in the job's events."""
        status = "delivered" if delivered else ("failed" if final else "pending")
        with self.db.session() as session:
            session.execute(
                update(LtiPassback)
                .where(LtiPassback.job_id == job_id, LtiPassback.launch_id == launch_id)
                .values(status=status, attempts=LtiPassback.attempts + 1,
                        detail=detail[:2000], updated_at=time.time())
            )  # fmt: skip
            kind = "lti-score-posted" if delivered else "lti-score-failed"
            add_event(session, job_id, kind, detail=detail[:2000])

    def pending(self) -> list[tuple[str, str]]:
        with self.db.read_session() as session:
            rows = session.execute(
                select(LtiPassback.job_id, LtiPassback.launch_id).where(
                    LtiPassback.status == "pending"
                )
            )
            return [(job_id, launch_id) for job_id, launch_id in rows]

    def grades_of(self, job_id: str) -> list[PassbackRecord]:
        with self.db.read_session() as session:
            rows = session.scalars(select(LtiPassback).where(LtiPassback.job_id == job_id))
            return [PassbackRecord(r.job_id, r.launch_id, r.status, r.attempts, r.detail)
                    for r in rows]  # fmt: skip

    # -- PyLTI1p3's launch state -------------------------------------------------

    def state_get(self, key: str) -> Any:
        with self.db.read_session() as session:
            row = session.get(LtiState, key)
            if row is None or row.expires_at <= time.time():
                return None
            return json.loads(row.value)

    def state_set(self, key: str, value: Any, lifetime: float) -> None:
        now = time.time()
        with self.db.session() as session:
            session.execute(delete(LtiState).where(LtiState.expires_at <= now))
            session.merge(LtiState(key=key, value=json.dumps(value), expires_at=now + lifetime))

    def state_take(self, key: str) -> bool:
        """Remove ``key`` if it is there and unexpired: True for one caller only."""
        with self.db.session() as session:
            done = session.execute(
                delete(LtiState).where(LtiState.key == key, LtiState.expires_at > time.time())
            )
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]
