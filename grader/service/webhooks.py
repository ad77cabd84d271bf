"""Callback signatures, the Standard Webhooks way (https://www.standardwebhooks.com).

Each callback carries ``webhook-id`` (the job id: the same on every retry, so a
receiver dedupes on it), ``webhook-timestamp`` (Unix seconds when this attempt
was signed) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` of
``id.timestamp.body`` under the course's secret (``whsec_`` and base64 of its
key). The signature therefore covers the job and the time as well as the body:
a captured callback cannot be passed off as another job's, and a receiver that
refuses old timestamps (:func:`verify`, 5 minutes) cannot be replayed into
later. While a rotated secret's overlap lasts, the header holds one signature
per secret, space-separated, and a receiver holding either verifies.

The signing and checking are the ``standardwebhooks`` library's (the spec's own
reference implementation); receivers in other languages use theirs.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook, WebhookVerificationError

SECRET_PREFIX = "whsec_"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"

__all__ = ["WebhookVerificationError", "new_secret", "sign_headers", "verify"]


def new_secret() -> str:
    """A course's signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign_headers(
    secrets_in_use: Sequence[str], message_id: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The three headers of one delivery, signed under every secret given."""
    moment = datetime.fromtimestamp(int(now if now is not None else time.time()), UTC)
    signatures = [Webhook(secret).sign(message_id, moment, body) for secret in secrets_in_use]
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(int(moment.timestamp())),
        SIGNATURE_HEADER: " ".join(signatures),
    }


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """What a receiver does: raises :class:`WebhookVerificationError` unless one signature
    matches ``id.timestamp.body`` under ``secret`` and the timestamp is within 5 minutes."""
    Webhook(secret).verify(body, dict(headers), json_parse=False)
