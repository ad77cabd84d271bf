"""Signed callbacks from the embedded service to webhook receivers on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from grader.service.callbacks import JOB_HEADER, SIGNATURE_HEADER, sign, verify

from .service_support import (
    Receiver,
    Service,
    broken_source,
    client,
    free_port,
    wait_done,
    wait_until,
)

pytestmark = pytest.mark.service

FAST_RETRIES = ["--callback-retries", "3", "--callback-backoff", "0.5"]


def test_the_feedback_is_posted_signed(
    start_service: Callable[..., Service], receiver: Callable[..., Receiver]
) -> None:
    service = start_service(*FAST_RETRIES)
    hook = receiver()
    with client(service, service.token()) as http:
        job = http.post(
            "/v1/submissions", content=broken_source("cb"), params={"callback_url": hook.url}
        ).json()
        done = wait_done(http, job["id"])
        wait_until(lambda: hook.received, 20, "the callback")
        assert len(hook.received) == 1
        headers, body = hook.received[0]
        assert headers[JOB_HEADER.lower()] == job["id"]
        assert verify(service.secret(), body, headers[SIGNATURE_HEADER.lower()])
        assert not verify("another course's secret", body, headers[SIGNATURE_HEADER.lower()])
        assert not verify(service.secret(), body + b" ", headers[SIGNATURE_HEADER.lower()])
        assert json.loads(body) == done["feedback"]  # exactly the feedback document
        wait_until(
            lambda: (
                http.get(f"/v1/submissions/{job['id']}").json()["callback"]["status"] == "delivered"
            ),
            10,
            "the delivery to be recorded",
        )


def test_a_receiver_that_is_down_gets_retries(
    start_service: Callable[..., Service], receiver: Callable[..., Receiver]
) -> None:
    service = start_service(*FAST_RETRIES)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    with client(service, service.token()) as http:
        never = http.post(
            "/v1/submissions",
            content=broken_source("down"),
            params={"callback_url": f"http://127.0.0.1:{free_port()}/hook"},
        ).json()
        late = http.post(
            "/v1/submissions", content=broken_source("late"), params={"callback_url": url}
        ).json()

        def callback(job_id: str) -> dict[str, object]:
            view: dict[str, object] = http.get(f"/v1/submissions/{job_id}").json()["callback"]
            return view

        # Grading is not held up by the receiver: the verdict is there at once.
        assert wait_done(http, late["id"])["status"] == "done"
        wait_until(lambda: callback(late["id"])["attempts"] >= 1, 20, "a failed first attempt")
        hook = receiver(port)  # the receiver comes up: a retry reaches it
        wait_until(lambda: callback(late["id"])["status"] == "delivered", 30, "a retry")
        assert len(hook.received) == 1
        headers, body = hook.received[0]
        assert headers[SIGNATURE_HEADER.lower()] == sign(service.secret(), body)
        wait_until(lambda: callback(never["id"])["status"] == "failed", 30, "giving up")
        assert callback(never["id"])["attempts"] == 4  # the first try and 3 retries
        metrics = http.get("/metrics").text
        assert 'grader_callbacks{status="failed"} 1.0' in metrics
