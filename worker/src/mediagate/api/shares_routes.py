"""Share links, owner side: create for a file or an album, list, revoke.

The public side (no token) is ``public_share_routes``. A share's token is 192 random
bits; its page is ``<base>/#/s/<token>`` in the web app.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..services import Services
from ..strict import InputError
from .bodies import read_json
from .errors import authenticate, json_error
from .files_routes import as_uuid, base_url, delete_by_path_id
from .listing import uuid_param

DEFAULT_EXPIRY = 7 * 86400
MIN_EXPIRY, MAX_EXPIRY = 60, 365 * 86400
MAX_LISTED = 200
NO_STORE = {"Cache-Control": "private, no-store"}


def share_item(base: str, row: dict[str, Any]) -> dict[str, Any]:
    kind = "file" if row["file_id"] else "album"
    return {
        "id": row["id"],
        "token": row["token"],
        "url": f"{base}/#/s/{row['token']}",
        "kind": kind,
        "target_id": row["file_id"] or row["album_id"],
        "expires_at": row["expires_at"],
        "allow_download": row["allow_download"],
        "views": row["views"],
        "created_at": row["created_at"],
        "revoked_at": row["revoked_at"],
    }


def _expiry(payload: dict[str, Any]) -> int | None:
    if "expires_in_seconds" not in payload:
        return DEFAULT_EXPIRY
    value = payload["expires_in_seconds"]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_EXPIRY <= value <= MAX_EXPIRY:
        raise InputError(f"expires_in_seconds must be an integer in {MIN_EXPIRY}..{MAX_EXPIRY} or null", 422)
    return value


async def create_share(request: Request) -> Response:
    """``{"file_id"|"album_id", "expires_in_seconds"?, "allow_download"?}`` → 201 share."""
    services: Services = request.app.state.services
    principal = authenticate(request)
    payload = await read_json(request)
    allowed = {"file_id", "album_id", "expires_in_seconds", "allow_download"}
    if not isinstance(payload, dict) or set(payload) - allowed or ("file_id" in payload) == ("album_id" in payload):
        return json_error(422, 'body must name exactly one of "file_id" or "album_id"')
    raw_target = payload.get("file_id", payload.get("album_id"))
    target = as_uuid(raw_target) if isinstance(raw_target, str) else ""
    if not target:
        return json_error(422, "the target must be an id (UUID)")
    allow_download = payload.get("allow_download", False)
    if not isinstance(allow_download, bool):
        return json_error(422, "allow_download must be true or false")
    expires_in = _expiry(payload)
    file_id, album_id = (target, None) if "file_id" in payload else (None, target)
    if not await services.shares.target_exists(principal.user_id, file_id=file_id, album_id=album_id):
        return json_error(404, f"{'file' if file_id else 'album'} not found")
    row = await services.shares.create(
        principal.user_id,
        secrets.token_urlsafe(24),
        file_id=file_id,
        album_id=album_id,
        expires_in=expires_in,
        allow_download=allow_download,
    )
    return JSONResponse(share_item(base_url(request), row), status_code=201, headers=NO_STORE)


async def list_shares(request: Request) -> Response:
    """The user's shares, newest first (``?file_id=`` or ``?album_id=`` narrows)."""
    services: Services = request.app.state.services
    principal = authenticate(request)
    file_id = uuid_param(request.query_params, "file_id")
    album_id = uuid_param(request.query_params, "album_id")
    rows = await services.shares.list(principal.user_id, file_id=file_id, album_id=album_id, limit=MAX_LISTED)
    base = base_url(request)
    return JSONResponse({"items": [share_item(base, r) for r in rows]}, headers=NO_STORE)


async def revoke_share(request: Request) -> Response:
    """Idempotent; every link handed out through the share stops at once (objects_routes)."""
    services: Services = request.app.state.services
    return await delete_by_path_id(request, "share_id", "share", services.shares.revoke)


routes = [
    Route("/api/shares", list_shares, methods=["GET"]),
    Route("/api/shares", create_share, methods=["POST"]),
    Route("/api/shares/{share_id}", revoke_share, methods=["DELETE"]),
]
