"""What the student pages need from the database: each course's link key, and the
token their submissions are accepted under.

A page submission goes through the same accept path as ``POST /v1/submissions``
(:class:`grader.service.http.group_commit.GroupCommit`), and that path accepts a
job under a usable token of its course. So each course has one page token: a
real token row whose value nobody ever sees (only its digest is kept), made on
first need and again when rotated or revoked away. ``grade serve token list``
does not show it.
"""

from __future__ import annotations

import secrets
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..webhooks import new_secret
from .database import Database
from .page_tables import PageKey
from .tables import Course, Token
from .tokens import PAGE_TOKEN_PREFIX, token_digest, usable_now


class Pages:
    def __init__(self, db: Database) -> None:
        self.db = db

    def key(self, course: str, *, create: bool = False) -> str | None:
        """The secret that signs ``course``'s student links (made with ``create``)."""
        with self.db.read_session() as session:
            row = session.get(PageKey, course)
            if row is not None or not create:
                return None if row is None else row.secret
        with self.db.session() as session:
            row = session.get(PageKey, course)
            if row is None:
                ensure_course(session, course)
                row = PageKey(course=course, secret=secrets.token_urlsafe(32),
                              created_at=time.time())  # fmt: skip
                session.add(row)
            return row.secret

    def new_key(self, course: str) -> None:
        """A new link key for ``course``: every link made before stops working."""
        with self.db.session() as session:
            ensure_course(session, course)
            row = session.get(PageKey, course)
            if row is None:
                session.add(PageKey(course=course, secret=secrets.token_urlsafe(32),
                                    created_at=time.time()))  # fmt: skip
            else:
                row.secret, row.created_at = secrets.token_urlsafe(32), time.time()

    def token_id(self, course: str) -> int:
        """The id of ``course``'s usable page token (made if there is none)."""
        query = select(Token.id).where(
            Token.course == course,
            Token.prefix == PAGE_TOKEN_PREFIX,
            usable_now(time.time()),  # type: ignore[arg-type]
        )
        with self.db.read_session() as session:
            found = session.scalars(query.order_by(Token.id.desc()).limit(1)).first()
        if found is not None:
            return int(found)
        with self.db.session() as session:
            ensure_course(session, course)
            token = Token(course=course, digest=token_digest(secrets.token_urlsafe(32)),
                          prefix=PAGE_TOKEN_PREFIX, created_at=time.time(),
                          expires_at=None)  # fmt: skip
            session.add(token)
            session.flush()
            return int(token.id)


def ensure_course(session: Session, course: str) -> None:
    """The course row (made if new, with its callback signing secret, as a token would)."""
    if session.get(Course, course) is None:
        session.add(Course(name=course, secret=new_secret(), created_at=time.time()))
        session.flush()
