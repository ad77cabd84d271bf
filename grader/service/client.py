"""The client side of ``grade submit``: post a file, optionally wait for its verdict.

Transient trouble (the service restarting, a full queue answering 429 with
Retry-After) is retried until the caller's deadline; a refusal (bad token,
bad request) is a usage error, and no answer at all is an infrastructure
error, so the exit codes mean what they mean for ``grade``.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
)

from ..errors import GraderError, InfrastructureError, UsageError
from ..submission import Submission


class ServiceUnreachable(InfrastructureError):
    """The service did not answer, or answered with a server error."""


class RequestRefused(UsageError):
    """The service refused the request (token, course, input)."""


class FileTooLarge(RequestRefused):
    """413: the server's size limit is smaller than the file."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class JobSuperseded(GraderError):
    """The student's newer submission replaced this job before it was graded: no verdict."""


class _Busy(Exception):
    """429: come back after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"busy, retry after {delay} s")
        self.delay = delay


def _message(answer: httpx.Response) -> str:
    try:
        return str(answer.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return answer.text[:300] or answer.reason_phrase


def _wait_for(state: RetryCallState) -> float:
    """Retry-After when the server said so, else exponential backoff up to 10 s."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, _Busy):
        return min(exc.delay, 60.0)
    return float(wait_exponential(multiplier=0.5, max=10)(state))


class ServiceClient:
    def __init__(self, server: str, token: str, timeout: float = 30.0) -> None:
        self.http = httpx.Client(
            base_url=server.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "grade-submit"},
            timeout=timeout,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, url: str, deadline: float, **kwargs: Any) -> dict[str, Any]:
        """One request, retried on 429/5xx/connection errors until ``deadline``."""

        def once() -> dict[str, Any]:
            try:
                answer = self.http.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                raise ServiceUnreachable(
                    f"The grading service at {self.http.base_url} did not answer: {exc}"
                ) from None
            if answer.status_code == 429:
                raise _Busy(float(answer.headers.get("retry-after", "5") or 5))
            if answer.status_code >= 500:
                raise ServiceUnreachable(
                    f"The grading service failed (HTTP {answer.status_code}): {_message(answer)}"
                )
            if answer.status_code == 413:
                limit = int(answer.headers.get("x-limit", "0") or 0)
                raise FileTooLarge(_message(answer), limit)
            if answer.status_code >= 400:
                raise RequestRefused(f"HTTP {answer.status_code}: {_message(answer)}")
            data: dict[str, Any] = answer.json()
            return data

        retrying = Retrying(
            retry=retry_if_exception_type((_Busy, ServiceUnreachable)),
            stop=stop_after_delay(max(0.0, deadline - time.monotonic())),
            wait=_wait_for,
            reraise=True,
        )
        try:
            return retrying(once)
        except _Busy:
            raise ServiceUnreachable(
                "The grading service stayed busy (429) until the deadline."
            ) from None

    def submit(
        self,
        submission: Submission,
        deadline: float,
        student: str | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """POST the file; the job as the service shows it (new or deduplicated)."""
        data = {k: v for k, v in (("student", student), ("callback_url", callback_url)) if v}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._call(
            "POST",
            "/v1/submissions",
            deadline,
            files={"file": (submission.name, submission.raw, "text/x-python")},
            data=data,
            headers=headers,
        )

    def get(self, job_id: str, deadline: float) -> dict[str, Any]:
        return self._call("GET", f"/v1/submissions/{job_id}", deadline)

    def wait(self, job_id: str, deadline: float, poll: float = 1.0) -> dict[str, Any]:
        """Poll until the job is done; raises ServiceUnreachable at the deadline, and
        JobSuperseded when a newer submission of the student replaced it."""
        retrying = Retrying(
            retry=retry_if_result(lambda job: job["status"] not in ("done", "superseded")),
            stop=stop_after_delay(max(0.0, deadline - time.monotonic())),
            wait=wait_exponential(multiplier=0.2, max=poll),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else {},
        )
        job: dict[str, Any] = retrying(self.get, job_id, deadline)
        if job.get("status") == "superseded":
            raise JobSuperseded(
                f"Job {job_id} was superseded by the student's newer submission "
                f"{job.get('superseded_by')} and will not be graded."
            )
        if job.get("status") != "done":
            raise ServiceUnreachable(
                f"No verdict before the deadline; the job is still {job.get('status')}: "
                f"{job.get('url')}"
            )
        return job
