"""Signed callbacks (Standard Webhooks) from the embedded service to webhook receivers on
127.0.0.1 (the test services allow 127.0.0.1/32 with --callback-allow)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable

import pytest

from grader.service.webhooks import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookVerificationError,
    verify,
)

from .service_support import (
    GRADE,
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
        assert headers[ID_HEADER] == job["id"]
        assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 300
        assert headers[SIGNATURE_HEADER].startswith("v1,")
        verify(service.secret(), body, headers)  # raises unless it matches
        with pytest.raises(WebhookVerificationError):
            verify("whsec_" + "A" * 43 + "=", body, headers)  # another course's secret
        with pytest.raises(WebhookVerificationError):
            verify(service.secret(), body + b" ", headers)
        with pytest.raises(WebhookVerificationError):  # replayed as another job's
            verify(service.secret(), body, {**headers, ID_HEADER: "another-job"})
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
        verify(service.secret(), body, headers)
        wait_until(lambda: callback(never["id"])["status"] == "failed", 30, "giving up")
        assert callback(never["id"])["attempts"] == 4  # the first try and 3 retries
        metrics = http.get("/metrics").text
        assert 'grader_callbacks{status="failed"} 1.0' in metrics


def test_a_rotated_secret_signs_beside_the_new_one(
    start_service: Callable[..., Service], receiver: Callable[..., Receiver]
) -> None:
    """`grade serve secret rotate`: during the overlap each callback carries a signature
    under each secret, so a receiver still holding the old one, or already the new one,
    verifies it; after the overlap only the new secret signs."""
    service = start_service(*FAST_RETRIES)
    hook = receiver()
    token = service.token()
    old = service.secret()
    rotate = [*GRADE, "serve", "secret", "rotate", "cs101", *service.data_args]
    done = subprocess.run([*rotate, "--overlap", "1h"], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    new = done.stdout.strip()
    assert new.startswith("whsec_") and new != old and service.secret() == new
    with client(service, token) as http:
        http.post("/v1/submissions", content=broken_source("rot1"),
                  params={"callback_url": hook.url})  # fmt: skip
        wait_until(lambda: hook.received, 30, "the callback")
        headers, body = hook.received[0]
        assert len(headers[SIGNATURE_HEADER].split(" ")) == 2
        verify(old, body, headers)
        verify(new, body, headers)
        subprocess.run([*rotate, "--overlap", "0"], capture_output=True, timeout=60, check=True)
        newest = service.secret()
        http.post("/v1/submissions", content=broken_source("rot2"),
                  params={"callback_url": hook.url})  # fmt: skip
        wait_until(lambda: len(hook.received) == 2, 30, "the second callback")
        headers, body = hook.received[1]
        verify(newest, body, headers)
        for retired in (old, new):
            with pytest.raises(WebhookVerificationError):
                verify(retired, body, headers)


def test_redirects_are_not_followed(
    start_service: Callable[..., Service], receiver: Callable[..., Receiver]
) -> None:
    service = start_service("--callback-retries", "0")
    target = receiver()
    redirecting = receiver(status=307, headers={"Location": target.url})
    with client(service, service.token()) as http:
        job = http.post("/v1/submissions", content=broken_source("redir"),
                        params={"callback_url": redirecting.url}).json()  # fmt: skip
        wait_until(
            lambda: (
                http.get(f"/v1/submissions/{job['id']}").json()["callback"]["status"] == "failed"
            ),
            30,
            "the delivery to fail",
        )
        events = http.get(f"/v1/submissions/{job['id']}/events").json()["items"]
    assert len(redirecting.received) == 1 and target.received == []
    assert "HTTP 307 (redirects are not followed)" in events[-1]["detail"]
