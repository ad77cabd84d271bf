"""The library API: grade one file, get a Feedback (or an exception for our failures)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .__about__ import __version__
from .errors import Cancelled, ContractError, InfrastructureError
from .models import Feedback
from .policy import check_source, too_large
from .sandbox import Backend, make_backend
from .settings import GradeSettings
from .submission import Submission, load_submission


def grade(path: Path, settings: GradeSettings | None = None) -> Feedback:
    """Grade the file at ``path``.

    A student's failure (syntax error, timeout, crash...) is in the returned
    Feedback; our own failures raise :class:`~grader.errors.GraderError`.
    """
    settings = settings or GradeSettings()
    submission = load_submission(path, settings.limits.max_source_bytes)
    return grade_submission(submission, settings)


def grade_submission(
    submission: Submission,
    settings: GradeSettings,
    cancel: threading.Event | None = None,
    backend: Backend | None = None,
) -> Feedback:
    """Grade an already-read submission (batch grading shares this path)."""
    started = time.monotonic()
    feedback = _precheck(submission, settings)
    if feedback is None:
        feedback = _run(submission, settings, cancel, backend)
        if feedback.submission_sha256 not in ("", submission.sha256):
            raise ContractError("The sandbox graded other bytes than the submission's.")
    return stamp(feedback, submission, settings, started)


def stamp(
    feedback: Feedback,
    submission: Submission,
    settings: GradeSettings,
    started: float | None = None,
) -> Feedback:
    """The run's provenance (which file, which sandbox, which grader and suite, how long),
    stamped here for every path: a verdict, and our own not-gradable results alike."""
    feedback.submission = submission.name
    feedback.submission_sha256 = submission.sha256
    feedback.sandbox = settings.sandbox
    feedback.isolated = settings.sandbox == "docker"
    feedback.grader_version = feedback.grader_version or __version__
    feedback.suite_hash = feedback.suite_hash or paths.suite_hash()
    if started is not None:
        feedback.durations.total = round(time.monotonic() - started, 3)
    return feedback


@dataclass(frozen=True)
class Retries:
    """How our own failures are retried before a submission is called not gradable.

    ``grade batch`` waits little (a class is waiting); the service waits up to a
    minute (a Docker host may be restarting under it).
    """

    retries: int = 2  # attempts after the first
    backoff: float = 2.0  # seconds before the first retry, doubled for each one after
    max_wait: float = 5.0


def grade_or_not_gradable(
    submission: Submission,
    settings: GradeSettings,
    retries: Retries,
    cancel: threading.Event,
    attempt: Callable[[], Feedback] | None = None,
    noted: Callable[[str], None] | None = None,
    fatal_raises: bool = False,
) -> Feedback:
    """Grade; on our retryable failure retry, then give a stamped not-gradable Feedback.

    The one way ``grade batch`` and the service turn our failures into data, so
    a student never gets a zero for them. ``attempt`` grades once (default:
    :func:`grade_submission` in a backend of its own); ``noted`` hears each
    failure's text (the service records it as an event). A failure that no
    retry can cure (no image, say) is not gradable too, or raised when
    ``fatal_raises`` (a batch stops: every later file would fail alike).
    ``cancel`` ends a wait at once and raises :class:`Cancelled`.
    """
    # Here, not at the top: the image's PrairieLearn entry imports this module, and the
    # image has no tenacity (the host alone retries).
    from tenacity import (
        RetryCallState,
        Retrying,
        retry_if_exception,
        stop_after_attempt,
        wait_exponential,
    )

    def once() -> Feedback:
        return grade_submission(submission, settings, cancel) if attempt is None else attempt()

    def note(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        if noted is not None and failure is not None:
            noted(str(failure))

    def pause(seconds: float) -> None:
        if cancel.wait(seconds):
            raise Cancelled("Stopped while waiting to retry.")

    retrying = Retrying(
        retry=retry_if_exception(
            lambda e: isinstance(e, InfrastructureError) and e.retryable and not cancel.is_set()
        ),
        stop=stop_after_attempt(retries.retries + 1),
        wait=wait_exponential(multiplier=retries.backoff, max=retries.max_wait),
        before_sleep=note,
        sleep=pause,
        reraise=True,
    )
    try:
        return retrying(once)
    except InfrastructureError as exc:
        if cancel.is_set():
            raise Cancelled("Stopped while grading.") from None
        if fatal_raises and not exc.retryable:
            raise
        if noted is not None:
            noted(str(exc))
        attempts = int(retrying.statistics.get("attempt_number", 1))
        message = f"Not gradable after {attempts} attempt{'s' * (attempts > 1)}: {exc.message}"
    return stamp(Feedback.not_gradable(message), submission, settings)


class Backends:
    """Sandbox backends kept for reuse, one per distinct settings (at most ``most``).

    A worker that keeps grading (the service's) grades through these so that it
    reuses one Docker client and has containers started ahead of need
    (:mod:`grader.sandbox.spares`), as ``grade batch`` does. Thread-safe.
    """

    def __init__(self, most: int = 4, labels: Mapping[str, str] | None = None) -> None:
        self._most = most
        self._labels = dict(labels or {})  # on every container (the service's instance)
        self._lock = threading.Lock()
        self._kept: dict[str, Backend] = {}

    def get(self, settings: GradeSettings) -> Backend:
        """The backend for ``settings``, made on first use (may raise SandboxUnavailable)."""
        key = settings.model_dump_json()
        evicted: list[Backend] = []
        with self._lock:
            backend = self._kept.pop(key, None) or make_backend(settings, self._labels)
            self._kept[key] = backend  # now the most recently used
            while len(self._kept) > self._most:
                evicted.append(self._kept.pop(next(iter(self._kept))))
        for old in evicted:
            old.close()
        return backend

    def close(self) -> None:
        with self._lock:
            kept, self._kept = list(self._kept.values()), {}
        for backend in kept:
            backend.close()


def _run(
    submission: Submission,
    settings: GradeSettings,
    cancel: threading.Event | None,
    backend: Backend | None,
) -> Feedback:
    """Run the judge in the given backend, or in one made (and closed) for this file."""
    if backend is not None:
        return backend.run(submission, cancel)
    own = make_backend(settings)
    try:
        return own.run(submission, cancel)
    finally:
        own.close()


def _precheck(submission: Submission, settings: GradeSettings) -> Feedback | None:
    """Reject a file that cannot run before paying for a sandbox (the judge re-checks)."""
    limit = settings.limits.max_source_bytes
    if submission.truncated:
        return Feedback.from_error(too_large(submission.size, limit))
    if not settings.policy:
        return None
    problem = check_source(submission.raw, max_bytes=limit, pack_dir=paths.TEMPLATE_DIR)
    return Feedback.from_error(problem) if problem else None
