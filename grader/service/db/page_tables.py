"""The tables of the student pages and of LTI 1.3: each course's key for its students'
links, the platforms registered per course, the launches, the LTI state (nonces,
state, cached key sets) and the grades to send back.

They are new tables beside the jobs' (``create_all`` adds them to a database made
before them, so the schema version does not change). Their rows are written by the
pages, the LTI routes, the passback sender and ``grade serve lti`` / ``links``.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base

PassbackStatus = Literal["waiting", "pending", "delivered", "failed", "skipped"]


class PageKey(Base):
    """Signs the codes of a course's student links (HMAC, so the secret itself is kept);
    a new key (``grade serve links --revoke``) ends every link made before."""

    __tablename__ = "page_keys"

    course: Mapped[str] = mapped_column(ForeignKey("courses.name"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[float] = mapped_column(Float)


class LtiRegistration(Base):
    """One platform registration (issuer + client id), tied to one course of the service."""

    __tablename__ = "lti_registrations"
    __table_args__ = (UniqueConstraint("issuer", "client_id", name="uq_lti_issuer_client"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(500))
    deployment_ids: Mapped[str] = mapped_column(Text)  # JSON list
    auth_login_url: Mapped[str] = mapped_column(Text)
    auth_token_url: Mapped[str] = mapped_column(Text)
    key_set_url: Mapped[str] = mapped_column(Text)
    auth_audience: Mapped[str | None] = mapped_column(Text)
    course: Mapped[str] = mapped_column(ForeignKey("courses.name"))
    created_at: Mapped[float] = mapped_column(Float)


class LtiLaunch(Base):
    """A validated resource-link launch: who launched, from where, and where the score goes."""

    __tablename__ = "lti_launches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    registration_id: Mapped[int] = mapped_column(Integer)
    course: Mapped[str] = mapped_column(String(200))
    student: Mapped[str] = mapped_column(String(200))  # the platform's `sub`
    name: Mapped[str | None] = mapped_column(String(200))
    resource_link: Mapped[str] = mapped_column(String(300))
    lineitem_url: Mapped[str | None] = mapped_column(Text)
    ags_json: Mapped[str | None] = mapped_column(Text)  # the launch's AGS claim
    created_at: Mapped[float] = mapped_column(Float)


class LtiPassback(Base):
    """A grade to send to a launch's line item once its job is done.

    ``waiting`` (the job is not done) -> ``pending`` (being sent, retried) ->
    ``delivered`` or ``failed``; ``skipped`` when the job ended without a score
    (not gradable, superseded): nothing is posted then.
    """

    __tablename__ = "lti_passbacks"
    __table_args__ = (Index("ix_lti_passbacks_status", "status"),)

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    launch_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default="waiting")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class LtiState(Base):
    """PyLTI1p3's launch data (nonces, state, cached key sets), shared by every API
    process; a row past ``expires_at`` is gone for every reader."""

    __tablename__ = "lti_state"
    __table_args__ = (Index("ix_lti_state_expires", "expires_at"),)

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    expires_at: Mapped[float] = mapped_column(Float)
