"""The grader's one exception tree.

The library raises these; only the CLI turns them into a message and an exit
code. A student's own failure (timeout, crash, syntax error) is never one of
these: it is data in the :class:`~grader.models.Feedback`.

The tree (the service's classes live in :mod:`grader.service.errors`, with the
optional extra; inside the sandbox the judge's ``ConfigError`` is a ``ValueError``)::

    GraderError
     +-- UsageError (exit 2)
     |    +-- SubmissionNotFound
     |    +-- service.errors.ServiceError (an HTTP status each)
     |         +-- IdempotencyConflict (422), CallbackRefused (422)
     |         +-- QueueFull (429), NotFound (404), Unauthorized (401)
     |         +-- SchemaOutdated (503)
     +-- InfrastructureError (exit 3; ``retryable``)
     |    +-- SandboxUnavailable, ImageMissing, ImageStale, SandboxFailed, ContractError
     +-- Cancelled (exit 130)
"""

from __future__ import annotations

EXIT_PASSED = 0
EXIT_ISSUES = 1
EXIT_USAGE = 2
EXIT_INFRASTRUCTURE = 3
EXIT_INTERRUPTED = 130


class GraderError(Exception):
    """Base of every error the grader raises; knows its exit code."""

    exit_code = EXIT_INFRASTRUCTURE

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n{self.fix}" if self.fix else self.message


class UsageError(GraderError):
    """The caller asked for something impossible (bad flag, unreadable path)."""

    exit_code = EXIT_USAGE


class SubmissionNotFound(UsageError):
    """The submission path does not name a regular file."""


class InfrastructureError(GraderError):
    """Our side failed: the verdict cannot be trusted, so nobody gets a grade.

    ``retryable`` says whether running the same grading again may succeed (a
    daemon hiccup) or cannot (an image that is missing stays missing).
    """

    exit_code = EXIT_INFRASTRUCTURE
    retryable = True


class SandboxUnavailable(InfrastructureError):
    """The Docker engine cannot be reached."""


class ImageMissing(InfrastructureError):
    """The grader image is not built."""

    retryable = False


class ImageStale(InfrastructureError):
    """The grader image was built from other sources than this grader."""

    retryable = False


class SandboxFailed(InfrastructureError):
    """The sandbox ran but did not return a usable verdict."""


class Cancelled(GraderError):
    """The run was stopped on request (Ctrl-C in a batch); nothing was recorded."""

    exit_code = EXIT_INTERRUPTED


class ContractError(InfrastructureError):
    """The judge's answer does not follow the versioned host/sandbox contract."""

    retryable = False  # the same image gives the same answer
