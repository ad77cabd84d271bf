"""What the service refuses, each with the HTTP status it answers with.

Part of the one exception tree (:mod:`grader.errors` lists these): the store and
the callback policy raise them without knowing HTTP; only the HTTP layer
(:mod:`grader.service.http.app`) turns ``status`` into an answer, and the CLI
turns them into a message and exit code 2 like any usage error.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError


class ServiceError(UsageError):
    """A request the service refuses; ``status`` is the HTTP status it answers with."""

    status = 400

    def __init__(self, message: str, *, fix: str | None = None, **detail: Any) -> None:
        super().__init__(message, fix=fix)
        self.detail = detail


class IdempotencyConflict(ServiceError):
    """An Idempotency-Key reused for another file."""

    status = 422


class CallbackRefused(ServiceError):
    """A callback URL that is malformed or reaches an address the operator did not allow."""

    status = 422


class QueueFull(ServiceError):
    """Too many jobs waiting (in all, or for one course): come back after ``retry_after`` s."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class NotFound(ServiceError):
    """No such job, course or token (for the asking course)."""

    status = 404


class SchemaOutdated(ServiceError):
    """The database was made by another version of the service."""

    status = 503


class Unauthorized(ServiceError):
    """No token, an unknown one, or one revoked or expired."""

    status = 401
