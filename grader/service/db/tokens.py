"""Courses, their bearer tokens and their callback signing secrets.

A token is printed once, when made; the database keeps only its SHA-256, so a
copy of the database grants nothing. A token may expire, and can be revoked:
every request checks it against the database in the transaction that serves it
(the accept path in its group commit), so a revoked token gets 401 at once, on
every API process. What is cached (a minute, in memory) is only which course a
token names, so that a burst's requests find their course without a query.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..config import TOKEN_PREFIX
from ..errors import NotFound
from ..webhooks import new_secret
from .database import Database
from .records import TokenRecord
from .tables import Course, Token

TOKEN_CACHE_SECONDS = 60.0
# The student pages' own token of each course (see .pages): never shown in a list.
PAGE_TOKEN_PREFIX = "student-pages"
TokenOwner = tuple[int, str]  # (token id, course)


def token_digest(token: str) -> str:
    """Tokens are random, so a plain SHA-256 is as good as a slow hash here."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def usable_now(now: float) -> object:
    """Neither revoked nor expired at ``now`` (a WHERE clause)."""
    return Token.revoked_at.is_(None) & (Token.expires_at.is_(None) | (Token.expires_at > now))


class Tokens:
    def __init__(self, db: Database) -> None:
        self.db = db
        # digest -> ((token id, course), monotonic time it is remembered until)
        self._known: dict[str, tuple[TokenOwner, float]] = {}

    def create(self, course: str, expires_at: float | None = None) -> tuple[str, str]:
        """A new bearer token for ``course`` (made if new): (token, its signing secret)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.session() as session:
            row = self._course(session, course, create=True)
            session.add(
                Token(
                    course=course,
                    digest=token_digest(token),
                    prefix=token[:12],
                    created_at=time.time(),
                    expires_at=expires_at,
                )
            )
            return token, row.secret

    def known(self, token: str) -> TokenOwner | None:
        """(token id, course) if this token was found usable in the last minute, else None.

        No database access, so the API can call it on its event loop. It says which
        course a token names, not that the token is still usable: the request's own
        transaction checks that (:func:`grader.service.db.accept.valid_tokens`).
        """
        found = self._known.get(token_digest(token))
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def find(self, token: str) -> TokenOwner | None:
        """(token id, course) for a token usable now (not revoked, not expired), else None."""
        digest = token_digest(token)
        with self.db.read_session() as session:
            row = session.execute(
                select(Token.id, Token.course).where(
                    Token.digest == digest,
                    usable_now(time.time()),  # type: ignore[arg-type]
                )
            ).first()
        if row is None:
            return None
        found = (int(row[0]), str(row[1]))
        self._known[digest] = (found, time.monotonic() + TOKEN_CACHE_SECONDS)
        return found

    def of_course(self, course: str) -> list[TokenRecord]:
        with self.db.read_session() as session:
            rows = session.scalars(
                select(Token)
                .where(Token.course == course, Token.prefix != PAGE_TOKEN_PREFIX)
                .order_by(Token.id)
            )
            return [
                TokenRecord(t.id, t.course, t.prefix, t.created_at, t.expires_at, t.revoked_at)
                for t in rows
            ]

    def revoke(self, course: str, ids: list[int] | None = None) -> int:
        """Revoke these tokens of ``course`` (all its tokens: None); how many were usable."""
        with self.db.session() as session:
            self._course(session, course)
            query = update(Token).where(Token.course == course, Token.revoked_at.is_(None))
            if ids is not None:
                query = query.where(Token.id.in_(ids))
            return int(session.execute(query.values(revoked_at=time.time())).rowcount)  # type: ignore[attr-defined]

    def rotate(self, course: str, overlap: float, expires_at: float | None = None) -> str:
        """A new token for ``course``; its other tokens stop working ``overlap`` s from now."""
        token, _ = self.create(course, expires_at)
        until = time.time() + overlap
        digest = token_digest(token)
        with self.db.session() as session:
            session.execute(
                update(Token)
                .where(Token.course == course, Token.digest != digest, usable_now(time.time()))  # type: ignore[arg-type]
                .where(Token.expires_at.is_(None) | (Token.expires_at > until))
                .values(expires_at=until)
            )
        return token

    def rotate_secret(self, course: str, overlap: float) -> str:
        """A new signing secret; the old one goes on signing beside it for ``overlap`` s."""
        with self.db.session() as session:
            row = self._course(session, course)
            row.previous_secret, row.previous_until = row.secret, time.time() + overlap
            row.secret = new_secret()
            return row.secret

    def secrets(self, course: str) -> list[str]:
        """The secrets callbacks of ``course`` are signed with now (newest first)."""
        with self.db.read_session() as session:
            row = session.get(Course, course)
            return _signing(row) if row else []

    @staticmethod
    def _course(session: Session, course: str, *, create: bool = False) -> Course:
        row = session.get(Course, course)
        if row is None and create:
            row = Course(name=course, secret=new_secret(), created_at=time.time())
            session.add(row)
        if row is None:
            raise NotFound(f"No course {course!r} in this database.")
        return row


def _signing(course: Course) -> list[str]:
    keep_previous = course.previous_secret and (course.previous_until or 0) > time.time()
    return [course.secret, *([course.previous_secret] if keep_previous else [])]  # type: ignore[list-item]


def signing_secrets(course: Course) -> list[str]:
    """As :meth:`Tokens.secrets`, for a course row already read."""
    return _signing(course)
