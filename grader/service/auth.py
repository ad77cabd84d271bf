"""Bearer tokens per course: one token sees its own course's jobs and nothing else.

A token is printed once, when made (``grade serve token create COURSE``);
the database keeps only its SHA-256, so a copy of the database grants nothing.
The store remembers a valid token's digest for a minute (no query per request).
"""

from __future__ import annotations

from dataclasses import dataclass

from .store import Store


@dataclass(frozen=True)
class Principal:
    """Who is asking: the token's id (part of the dedupe key) and its course."""

    token_id: int
    course: str


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def token_of(header: str | None) -> str | None:
    """The bearer token of an Authorization header, if it could be one of ours."""
    token = bearer_token(header)
    return token if token is not None and len(token) <= 200 else None


def authenticate(store: Store, header: str | None) -> Principal | None:
    token = token_of(header)
    found = store.find_token(token) if token is not None else None
    return Principal(token_id=found[0], course=found[1]) if found else None


def create_token(store: Store, course: str) -> tuple[str, str]:
    """(token, the course's callback signing secret)."""
    return store.create_token(course)
