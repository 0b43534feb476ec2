"""Authenticated job delivery: the Worker signs each job it pushes to a processor.

The processor's ``POST /jobs`` runs whatever job it is handed, so it accepts only
deliveries signed by the Worker: the Standard Webhooks scheme of :mod:`.webhooks` over
``"<attempts>.<body>"`` (so the signed content is ``"<id>.<timestamp>.<attempts>.<body>"``) with a key derived from ``WEBHOOK_SECRET`` for this
purpose alone — a webhook signature cannot be replayed as a job, and the delivery count
(which decides when a failure is final) cannot be changed. Within the tolerance window a
delivery can be replayed; jobs are idempotent and the processor trusts only the job id and
re-reads everything else from the database.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from .webhooks import SignatureError, signed_headers, verify

ATTEMPTS_HEADER = "X-Attempts"
MAX_ATTEMPTS_DIGITS = 4


def _key(secret: str) -> str:
    return hmac.new(secret.encode(), b"mediagate-job-delivery", hashlib.sha256).hexdigest()


def _signed(attempts: int, body: bytes) -> bytes:
    return f"{attempts}.".encode() + body


def delivery_headers(secret: str, timestamp: int, attempts: int, body: bytes) -> dict[str, str]:
    signed = signed_headers(_key(secret), timestamp, _signed(attempts, body))
    return {name.lower(): value for name, value in signed.items()} | {ATTEMPTS_HEADER.lower(): str(attempts)}


def verify_delivery(secret: str, body: bytes, headers: Mapping[str, str], *, now: float) -> int:
    """The delivery's attempt count, or :class:`SignatureError` when it is not the Worker's."""
    raw = headers.get(ATTEMPTS_HEADER) or headers.get(ATTEMPTS_HEADER.lower()) or ""
    if not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= MAX_ATTEMPTS_DIGITS):
        raise SignatureError(f"{ATTEMPTS_HEADER} must be a positive integer")
    attempts = int(raw)
    verify(_key(secret), _signed(attempts, body), headers, now=now)
    return attempts
