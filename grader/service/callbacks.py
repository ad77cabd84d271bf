"""Signed completion callbacks: POST the Feedback JSON to the job's callback URL.

The body is exactly what ``GET /v1/submissions/{id}`` holds under ``feedback``
(the ``grade --format json`` schema). ``X-Grader-Signature`` carries
``sha256=`` and the hex HMAC-SHA256 of the body under the course's signing
secret; ``X-Grader-Job`` names the job (delivery is at least once: a receiver
dedupes on it). Only a 2xx answer counts; anything else is retried with
exponential backoff, away from the grading workers, then marked failed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading

import httpx
from tenacity import Retrying, stop_after_attempt, wait_exponential

from .config import WorkerConfig
from .store import Store

log = logging.getLogger("grader.service")

SIGNATURE_HEADER = "X-Grader-Signature"
JOB_HEADER = "X-Grader-Job"


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx (or could not be reached)."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def deliver_once(store: Store, job_id: str, timeout: float, *, final: bool) -> None:
    """One attempt; raises :class:`DeliveryFailed` so the caller's retry policy runs."""
    target = store.callback_target(job_id)
    if target is None:
        return  # delivered already, or nothing to deliver
    url, body_text, secret = target
    body = body_text.encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, body),
        JOB_HEADER: job_id,
        "User-Agent": "minigpt-grader",
    }
    try:
        answer = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        detail = f"{type(exc).__name__}: {exc}"
    else:
        if answer.is_success:
            status = str(answer.status_code)
            store.callback_result(job_id, delivered=True, final=True, detail=status)
            return
        detail = f"HTTP {answer.status_code}"
    store.callback_result(job_id, delivered=False, final=final, detail=detail)
    raise DeliveryFailed(detail)


def deliver_with_retries(
    store: Store, job_id: str, config: WorkerConfig, stop: threading.Event | None = None
) -> bool:
    """Embedded mode: attempts with exponential backoff in a callback thread.

    A stop (graceful shutdown) leaves the callback pending; the next start
    sends it again. Returns whether it was delivered.
    """
    stop = stop or threading.Event()
    total = config.callback_retries + 1

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise InterruptedError

    retrying = Retrying(
        stop=stop_after_attempt(total),
        wait=wait_exponential(multiplier=config.callback_backoff, max=300),
        sleep=sleep,
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                final = attempt.retry_state.attempt_number == total
                deliver_once(store, job_id, config.callback_timeout, final=final)
    except DeliveryFailed as exc:
        log.warning("callback of job %s failed for good: %s", job_id, exc)
        return False
    except InterruptedError:
        return False
    return True
