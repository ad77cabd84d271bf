"""Bearer tokens per course: one token sees its own course's jobs and nothing else.

A token is printed once, when made (``grade serve token create COURSE``);
the database keeps only its SHA-256, so a copy of the database grants nothing.
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


def authenticate(store: Store, header: str | None) -> Principal | None:
    token = bearer_token(header)
    if token is None or len(token) > 200:
        return None
    found = store.find_token(token)
    return Principal(token_id=found[0], course=found[1]) if found else None


def create_token(store: Store, course: str) -> tuple[str, str]:
    """(token, the course's callback signing secret)."""
    return store.create_token(course)
