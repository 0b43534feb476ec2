"""Signed webhooks: HMAC-SHA256 over ``"<timestamp>.<body>"``, shared by sender and receiver.

Headers: ``X-Mediagate-Timestamp`` (Unix seconds) and ``X-Mediagate-Signature``
(``v1=<hex>``). A receiver rejects bad signatures and timestamps outside the tolerance
window (replays); events carry an ``id`` so applying one twice changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac

from .strict import InputError, parse_uint

TIMESTAMP_HEADER = "X-Mediagate-Timestamp"
SIGNATURE_HEADER = "X-Mediagate-Signature"
DEFAULT_TOLERANCE = 300


class SignatureError(Exception):
    """The webhook is not authentic or is too old (HTTP 401)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        "Content-Type": "application/json",
    }


def verify(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> None:
    if not timestamp or not signature:
        raise SignatureError("missing webhook signature headers")
    try:
        ts = parse_uint("timestamp", timestamp, max_digits=12)
    except InputError as exc:
        raise SignatureError("webhook timestamp is not an integer") from exc
    assert ts is not None
    if abs(now - ts) > tolerance:
        raise SignatureError("webhook timestamp outside the allowed window (possible replay)")
    expected = sign(secret, ts, body)
    if not any(hmac.compare_digest(expected, s.strip()) for s in signature.split(",")):
        raise SignatureError("webhook signature does not match")
