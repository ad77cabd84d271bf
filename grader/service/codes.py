"""The signed codes in the student pages' URLs: who the page is for, and until when.

A code is a JWT (HS256, PyJWT) under its course's link key (kept in the
database, :class:`grader.service.db.pages.Pages`): it names the course, the
student and, for a page opened by an LTI launch, the launch (where the score
goes). It may expire. Whoever holds the link is that student on that page, so
the code is the credential: a changed or forged one fails its signature, an
expired one is refused, and a new link key ends every code made before it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from .db import Store
from .errors import ServiceError

ALGORITHM = "HS256"
MAX_CODE = 2000
LAUNCH_PAGE_SECONDS = 12 * 3600  # a page opened by an LTI launch (launch again for a new one)


class InvalidCode(ServiceError):
    """A page code that was changed, forged, made under an older key, or has expired."""

    status = 403


@dataclass(frozen=True)
class PageCode:
    course: str
    student: str
    launch: str | None = None  # the LTI launch the page was opened by
    expires_at: float | None = None


def make_code(store: Store, page: PageCode) -> str:
    claims: dict[str, object] = {"c": page.course, "s": page.student}
    if page.launch is not None:
        claims["l"] = page.launch
    if page.expires_at is not None:
        claims["exp"] = int(page.expires_at)
    key = store.pages.key(page.course, create=True)
    assert key is not None
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def read_code(store: Store, code: str, now: float | None = None) -> PageCode:
    """The page a code names; :class:`InvalidCode` unless it is intact and current."""
    refused = InvalidCode(
        "This link is not valid: it was changed, or replaced by a newer one.",
        fix="Ask your instructor for your link (or launch the assignment again from your course).",
    )
    if len(code) > MAX_CODE:
        raise refused
    try:
        unverified = jwt.decode(code, options={"verify_signature": False})
        course = unverified.get("c")
        if not isinstance(course, str):
            raise refused
        key = store.pages.key(course)
        if key is None:
            raise refused
        claims = jwt.decode(
            code,
            key,
            algorithms=[ALGORITHM],
            options={"require": ["c", "s"]},
            leeway=0,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidCode(
            "This link has expired.",
            fix="Ask your instructor for a new one (or launch the assignment again).",
        ) from None
    except jwt.PyJWTError:
        raise refused from None
    student, launch, expires = claims.get("s"), claims.get("l"), claims.get("exp")
    if not isinstance(student, str) or not (launch is None or isinstance(launch, str)):
        raise refused
    if expires is not None and (now or time.time()) >= float(expires):
        raise InvalidCode("This link has expired.")
    return PageCode(course, student, launch, float(expires) if expires is not None else None)
