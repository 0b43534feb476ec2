"""The listing's query parameters, validated once for the owner's and a share's listing.

Every parameter is optional and every bad value is a 400 with a message saying which.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta

from starlette.datastructures import QueryParams

from ..contracts import FILE_TYPES, PROCESSING_STATUSES
from ..files.cursor import ORDERS, SORTS
from ..files.repository import ListQuery
from ..strict import InputError, check_text, parse_bounded_int, parse_timestamp

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_FACET = 200  # camera make/model/lens values are short
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def choice(params: QueryParams, name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
    value = params.get(name) or default
    if value is not None and value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}")
    return value


def flag(params: QueryParams, name: str) -> bool:
    """``true`` / ``false`` (absent: false)."""
    value = params.get(name)
    if value in (None, "", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise InputError(f"{name} must be true or false")


def uuid_param(params: QueryParams, name: str) -> str | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise InputError(f"{name} must be an id (UUID)") from exc


def taken_bound(params: QueryParams, name: str, *, end: bool) -> str | None:
    """An ISO date (the whole day, inclusive) or date-time (wall clock, offsets dropped: taken_at
    is the time the camera showed) as a Postgres timestamp literal."""
    raw = params.get(name)
    if not raw:
        return None
    if _DATE.fullmatch(raw):
        try:
            day = date.fromisoformat(raw)
        except ValueError as exc:
            raise InputError(f"{name} is not a valid date") from exc
        moment = datetime.combine(day, time.min)
        if end:
            moment += timedelta(days=1) - timedelta(microseconds=1)
        return moment.isoformat(sep=" ")
    return parse_timestamp(name, raw).replace(tzinfo=None).isoformat(sep=" ")


def page_params(params: QueryParams) -> tuple[int, str | None, str, str]:
    """limit, cursor, sort and order: what every listing takes."""
    limit = parse_bounded_int("limit", params.get("limit"), DEFAULT_PAGE, 1, MAX_PAGE)
    sort = choice(params, "sort", SORTS, "uploaded") or "uploaded"
    order = choice(params, "order", ORDERS, "desc") or "desc"
    return limit, params.get("cursor") or None, sort, order


def _exact(params: QueryParams, name: str) -> str | None:
    value = params.get(name)
    return check_text(name, value, max_length=200) if value else None


def list_query(params: QueryParams) -> ListQuery:
    """``GET /api/files``'s parameters; InputError (400) on any bad value."""
    limit, cursor, sort, order = page_params(params)
    return ListQuery(
        limit=limit,
        cursor=cursor,
        sort=sort,
        order=order,
        file_type=choice(params, "type", FILE_TYPES),
        status=choice(params, "status", PROCESSING_STATUSES),
        search=check_text("q", (params.get("q") or "").strip(), max_length=200) or None,
        favourite=flag(params, "favourite"),
        album_id=uuid_param(params, "album"),
        camera_make=_exact(params, "camera_make"),
        camera_model=_exact(params, "camera_model"),
        lens=_exact(params, "lens"),
        taken_from=taken_bound(params, "taken_from", end=False),
        taken_to=taken_bound(params, "taken_to", end=True),
        trashed=flag(params, "trashed"),
    )
