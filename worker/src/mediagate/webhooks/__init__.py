"""Signed webhooks in the Standard Webhooks format (https://www.standardwebhooks.com/).

One scheme for every webhook Mediagate sends: users' endpoints and the processor's
events to the Worker. Headers ``webhook-id`` (the event id: the same on every retry of
an event, so receivers deduplicate), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, several
space-separated while a key rotates). Users' secrets are ``whsec_<base64 key>`` so any
Standard Webhooks library verifies them as is; an operator secret without the prefix
(``WEBHOOK_SECRET``) is used as raw key bytes. A receiver rejects bad signatures and
timestamps outside the tolerance window (replays).

Pure Python stdlib (Pyodide-safe): the Worker verifies, the processor signs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping

from ..strict import InputError, parse_uint

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300
SECRET_BYTES = 32
MAX_ID_LENGTH = 200


class SignatureError(Exception):
    """The webhook is not authentic or is too old (HTTP 401)."""


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_event_id() -> str:
    """A unique ``webhook-id`` (``msg_`` + 32 hex digits)."""
    return f"msg_{uuid.uuid4().hex}"


def signing_key(secret: str | bytes) -> bytes:
    """The HMAC key: ``whsec_<base64>`` decoded; any other string is the key itself."""
    if isinstance(secret, bytes):
        return secret
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :] + "==")
        except (binascii.Error, ValueError) as exc:
            raise ValueError("webhook secret is not valid base64 after whsec_") from exc
    return secret.encode()


def sign(secret: str | bytes, event_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of one event."""
    mac = hmac.new(signing_key(secret), f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signed_headers(secret: str | bytes, timestamp: int, body: bytes, *, event_id: str | None = None) -> dict[str, str]:
    """The headers of a signed JSON POST (a fresh event id unless one is given)."""
    event_id = event_id or new_event_id()
    return {
        ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, event_id, timestamp, body),
        "Content-Type": "application/json",
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(name) or headers.get(name.title()) or headers.get(name.upper())


def verify(
    secret: str | bytes,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> str:
    """The event id of an authentic, fresh event; SignatureError otherwise.

    ``headers`` may be any mapping whose lookups are case-insensitive (Starlette's) or
    that holds lower-case names."""
    event_id = _header(headers, ID_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if not event_id or not timestamp or not signature:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if len(event_id) > MAX_ID_LENGTH:
        raise SignatureError("webhook-id is too long")
    try:
        ts = parse_uint("timestamp", timestamp, max_digits=12)
    except InputError as exc:
        raise SignatureError("webhook timestamp is not an integer") from exc
    assert ts is not None
    if abs(now - ts) > tolerance:
        raise SignatureError("webhook timestamp outside the allowed window (possible replay)")
    expected = sign(secret, event_id, ts, body)
    wanted = expected.encode()
    offered = (s.encode("utf-8", "replace") for s in signature.split(" ") if s.startswith("v1,"))
    if not any(hmac.compare_digest(wanted, s) for s in offered):
        raise SignatureError("webhook signature does not match")
    return event_id
