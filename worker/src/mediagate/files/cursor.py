"""Opaque keyset cursors: the (created_at, id) of the last item a page showed."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime


class CursorError(ValueError):
    """The cursor was not produced by this API (HTTP 400)."""


def encode_cursor(created_at: str, file_id: str) -> str:
    raw = json.dumps([created_at, file_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, file_id = json.loads(raw)
        datetime.fromisoformat(str(created_at))
        uuid.UUID(str(file_id))
    except (ValueError, TypeError) as exc:
        raise CursorError("invalid cursor") from exc
    return str(created_at), str(file_id)
