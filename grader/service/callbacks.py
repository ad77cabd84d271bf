"""Delivering completion callbacks: POST the Feedback JSON to the job's callback URL.

The body is exactly what ``GET /v1/submissions/{id}`` holds under ``feedback``
(the ``grade --format json`` schema), signed the Standard Webhooks way
(:mod:`.webhooks`). Before each attempt the URL's host is resolved and checked
again (:mod:`.callback_policy`), and the connection goes to the address just
checked: the request is made with httpcore over a network backend that connects
there whatever the name (the name still gives the ``Host`` header and, for
https, the certificate to verify), so a name that resolves elsewhere the second
time (DNS rebinding) reaches nothing it was not allowed to. Redirects are never
followed. Only a 2xx answer counts; anything else is retried with exponential
backoff, away from the grading workers, then marked failed.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpcore
import httpx
from tenacity import Retrying, stop_after_attempt, wait_exponential

from .callback_policy import CallbackPolicy
from .config import WorkerConfig
from .db import Store
from .errors import CallbackRefused
from .webhooks import sign_headers

log = logging.getLogger("grader.service")

USER_AGENT = "minigpt-grader"


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx (or could not be reached, or was refused)."""


class PinnedBackend(httpcore.SyncBackend):
    """Connects to one checked address, whatever host name the request names."""

    def __init__(self, address: str) -> None:
        self.address = address

    def connect_tcp(
        self, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore.NetworkStream:
        return super().connect_tcp(self.address, port, *args, **kwargs)


def post_pinned(url: str, address: str, body: bytes, headers: dict[str, str],
                timeout: float) -> int:  # fmt: skip
    """POST ``body`` to ``url`` over a connection to ``address``; the answer's status."""
    pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(), network_backend=PinnedBackend(address)
    )
    with pool:
        answer = pool.request(
            "POST",
            url,
            headers=[*headers.items(), ("Content-Length", str(len(body)))],
            content=body,
            extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)},
        )
        return answer.status


def deliver_once(store: Store, job_id: str, config: WorkerConfig, *, final: bool,
                 policy: CallbackPolicy | None = None) -> None:  # fmt: skip
    """One attempt; raises :class:`DeliveryFailed` so the caller's retry policy runs."""
    pending = store.callbacks.target(job_id)
    if pending is None:
        return  # delivered already, or nothing to deliver
    policy = policy or CallbackPolicy(config.callback_allow)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **sign_headers(pending.secrets, job_id, pending.body),
    }
    try:
        target = policy.target(pending.url)
        status = post_pinned(target.url, target.address, pending.body, headers,
                             config.callback_timeout)  # fmt: skip
    except CallbackRefused as exc:
        detail = exc.message
    except (httpcore.ProtocolError, httpcore.NetworkError, httpcore.TimeoutException,
            httpcore.UnsupportedProtocol, OSError) as exc:  # fmt: skip
        detail = f"{type(exc).__name__}: {exc}"
    else:
        if 200 <= status < 300:
            store.callbacks.result(job_id, delivered=True, final=True, detail=str(status))
            return
        detail = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    store.callbacks.result(job_id, delivered=False, final=final, detail=detail)
    raise DeliveryFailed(detail)


def deliver_with_retries(store: Store, job_id: str, config: WorkerConfig,
                         stop: threading.Event | None = None) -> bool:  # fmt: skip
    """Embedded mode: attempts with exponential backoff in a callback thread.

    A stop (graceful shutdown) leaves the callback pending; the next start
    sends it again. Returns whether it was delivered.
    """
    stop = stop or threading.Event()
    total = config.callback_retries + 1
    policy = CallbackPolicy(config.callback_allow)

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
                deliver_once(store, job_id, config, final=final, policy=policy)
    except DeliveryFailed as exc:
        log.warning("callback of job %s failed for good: %s", job_id, exc)
        return False
    except InterruptedError:
        return False
    return True
