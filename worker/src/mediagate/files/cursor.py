"""Opaque keyset cursors: the sort key and id of the last item a page showed.

A cursor names the sort and order it was written for, so a cursor from one sort is a
400 on another (it would silently skip or repeat items). Cursors of the default sort
written before sorts existed (``[created_at, id]``) still decode as uploaded/desc.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass

from ..strict import parse_timestamp

MAX_CURSOR = 2400  # a name key is at most 255 characters, JSON-escaped and base64-encoded
SORTS = ("uploaded", "taken", "name", "size")
ORDERS = ("desc", "asc")
MAX_NAME_KEY = 1024


class CursorError(ValueError):
    """The cursor was not produced by this API for this sort (HTTP 400)."""


@dataclass(frozen=True)
class Cursor:
    """``key`` is a timestamp (uploaded, taken), a lower-cased name or a size (as text);
    ``undated`` marks a sort=taken key that is the created_at of a file without taken_at."""

    sort: str
    order: str
    key: str
    file_id: str
    undated: bool = False


def encode_cursor(key: str, file_id: str, sort: str = "uploaded", order: str = "desc", undated: bool = False) -> str:
    fields: list[object] = [key, file_id]
    if (sort, order) != ("uploaded", "desc") or undated:
        fields += [sort, order, undated]
    raw = json.dumps(fields, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _check_key(sort: str, key: str) -> None:
    if sort in ("uploaded", "taken"):
        parse_timestamp("cursor", key)
    elif sort == "size":
        if not key.isascii() or not key.isdigit() or len(key) > 19:
            raise ValueError("size cursor must be a non-negative integer")
    elif len(key) > MAX_NAME_KEY:
        raise ValueError("name cursor too long")


def decode_cursor(cursor: str, sort: str = "uploaded", order: str = "desc") -> Cursor:
    """The position a cursor names; CursorError for anything this API did not write, or
    for a cursor of another sort/order.

    Timestamps must be strict RFC 3339 (``datetime.fromisoformat`` alone also takes
    ISO week dates, which Postgres then refuses with a 500)."""
    if len(cursor) > MAX_CURSOR or not cursor.isascii():
        raise CursorError("invalid cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        fields = json.loads(raw)
        if not isinstance(fields, list) or len(fields) not in (2, 5):
            raise TypeError("cursor must be a list")
        key, file_id = fields[0], fields[1]
        c_sort, c_order, undated = fields[2:] if len(fields) == 5 else ("uploaded", "desc", False)
        if not all(isinstance(v, str) for v in (key, file_id, c_sort, c_order)) or not isinstance(undated, bool):
            raise TypeError("cursor fields have the wrong types")
        if c_sort not in SORTS or c_order not in ORDERS:
            raise ValueError("unknown sort in cursor")
        _check_key(c_sort, key)
        file_id = str(uuid.UUID(file_id))
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise CursorError("invalid cursor") from exc
    if (c_sort, c_order) != (sort, order):
        raise CursorError(f"cursor belongs to sort={c_sort}&order={c_order}, not sort={sort}&order={order}")
    return Cursor(c_sort, c_order, key, file_id, undated)
