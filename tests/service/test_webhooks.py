"""Standard Webhooks signatures: what a receiver's `verify` accepts and refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from grader.service.webhooks import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookVerificationError,
    new_secret,
    sign_headers,
    verify,
)

BODY = b'{"score": 100.0}'


def test_the_signature_is_the_specs_hmac_of_id_timestamp_and_body() -> None:
    """Computed here by hand from the spec: v1, base64 HMAC-SHA256 under the decoded key."""
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    headers = sign_headers([secret], "job-1", BODY, now=1_700_000_000)
    assert headers[ID_HEADER] == "job-1" and headers[TIMESTAMP_HEADER] == "1700000000"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, b"job-1.1700000000." + BODY, hashlib.sha256).digest()
    assert headers[SIGNATURE_HEADER] == "v1," + base64.b64encode(expected).decode()


def test_verify_accepts_the_real_thing_and_refuses_tampering_and_old_messages() -> None:
    secret = new_secret()
    headers = sign_headers([secret], "job-1", BODY)
    verify(secret, BODY, headers)
    verify(secret, BODY, {k.title(): v for k, v in headers.items()})  # header case
    for body, changed in (
        (BODY + b" ", {}),  # another body
        (BODY, {ID_HEADER: "job-2"}),  # replayed as another job
        (BODY, {TIMESTAMP_HEADER: str(int(time.time()) - 1)}),  # another time
        (BODY, {SIGNATURE_HEADER: ""}),
    ):
        with pytest.raises(WebhookVerificationError):
            verify(secret, body, {**headers, **changed})
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), BODY, headers)
    old = sign_headers([secret], "job-1", BODY, now=time.time() - 600)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(secret, BODY, old)  # a captured callback replayed 10 minutes later
    future = sign_headers([secret], "job-1", BODY, now=time.time() + 600)
    with pytest.raises(WebhookVerificationError, match="too new"):
        verify(secret, BODY, future)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = sign_headers([new, old], "job-1", BODY)
    assert len(headers[SIGNATURE_HEADER].split(" ")) == 2
    verify(old, BODY, headers)
    verify(new, BODY, headers)
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), BODY, headers)
