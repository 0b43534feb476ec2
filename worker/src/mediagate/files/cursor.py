"""Opaque keyset cursors: the (created_at, id) of the last item a page showed."""

from __future__ import annotations

import base64
import binascii
import json
import uuid

from ..strict import parse_timestamp

MAX_CURSOR = 200


class CursorError(ValueError):
    """The cursor was not produced by this API (HTTP 400)."""


def encode_cursor(created_at: str, file_id: str) -> str:
    raw = json.dumps([created_at, file_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The (created_at, id) a cursor names; CursorError for anything this API did not write.

    The timestamp must be strict RFC 3339 (``datetime.fromisoformat`` alone also takes
    ISO week dates, which Postgres then refuses with a 500)."""
    if len(cursor) > MAX_CURSOR or not cursor.isascii():
        raise CursorError("invalid cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, file_id = json.loads(raw)
        if not isinstance(created_at, str) or not isinstance(file_id, str):
            raise TypeError("cursor fields must be strings")
        parse_timestamp("cursor", created_at)
        file_id = str(uuid.UUID(file_id))
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise CursorError("invalid cursor") from exc
    return created_at, file_id
