"""The files API: list, one file, previews, downloads (regional), delete, bulk delete.

Every endpoint needs a token and only ever sees the token user's own files; anything
else is a 404, never a 403 (no hint that a file id exists).
"""

from __future__ import annotations

import posixpath
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..contracts import FILE_TYPES, PROCESSING_STATUSES, output_prefix
from ..files.cursor import CursorError
from ..services import Services
from ..strict import InputError, check_text, parse_bounded_int
from .bodies import read_json
from .errors import authenticate, json_error

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_BULK = 500


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _relative(key: str | None, prefix: str) -> str | None:
    return key[len(prefix) :] if key and key.startswith(prefix) else None


def derived_url(services: Services, base: str, file_id: str, key: str | None) -> str | None:
    """A signed link to one derived object, scoped to the file's whole output prefix."""
    prefix = output_prefix(file_id)
    rel = _relative(key, prefix)
    if rel is None:
        return None
    return services.links.url(base, prefix, rel, services.settings.preview_ttl_seconds)


#: Containers browsers may play as is; the probe (``metadata.media.direct_play``) has the last word.
DIRECT_PLAY_TYPES = ("video/mp4", "video/quicktime", "video/webm")


def playable(row: dict[str, Any]) -> bool:
    """HLS exists: the lowest rung is published from its first segment (the ladder may still run)."""
    return row["file_type"] == "video" and bool(row["hls_playlist_key"]) and row["processing_status"] != "failed"


def direct_play(row: dict[str, Any]) -> bool | None:
    """Can the browser play the original itself? True/False once probed; None (unknown) before,
    for a container browsers often play (the viewer may try it and fall back)."""
    if row["file_type"] != "video":
        return False
    probed = (row["metadata"].get("media") or {}).get("direct_play")
    if probed is not None:
        return bool(probed)
    return None if (row["mime_type"] or "") in DIRECT_PLAY_TYPES else False


def file_item(services: Services, base: str, row: dict[str, Any]) -> dict[str, Any]:
    media = row["metadata"].get("media") or {}
    return {
        "id": row["id"],
        "name": row["filename"],
        "size": row["file_size"],
        "type": row["file_type"],
        "mime_type": row["mime_type"],
        "upload_status": row["upload_status"],
        "processing_status": row["processing_status"],
        "progress": row["processing_progress"],
        "error": row["processing_error"],
        "thumbnail_url": derived_url(services, base, row["id"], row["thumbnail_key"] or row["preview_key"]),
        "placeholder": row["placeholder"],
        "playable": playable(row),
        "direct_play": direct_play(row),
        "width": media.get("display_width") or media.get("width"),
        "height": media.get("display_height") or media.get("height"),
        "duration": media.get("duration"),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    try:
        return parse_bounded_int(name, request.query_params.get(name), default, low, high)
    except InputError as exc:
        raise BadRequest(exc.message) from exc


def _choice_param(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and value not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}")
    return value


def _file_id(request: Request) -> str:
    raw = request.path_params["file_id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return ""


async def list_files(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    try:
        limit = _int_param(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
        file_type = _choice_param(request, "type", FILE_TYPES)
        status = _choice_param(request, "status", PROCESSING_STATUSES)
        search = check_text("q", (request.query_params.get("q") or "").strip(), max_length=200) or None
        page = await services.files.page(
            principal.user_id,
            limit=limit,
            cursor=request.query_params.get("cursor") or None,
            file_type=file_type,
            status=status,
            search=search,
        )
    except (BadRequest, CursorError, InputError) as exc:
        return json_error(getattr(exc, "status", 400), str(exc))
    base = base_url(request)
    return JSONResponse(
        {"items": [file_item(services, base, r) for r in page.items], "next_cursor": page.next_cursor},
        headers={"Cache-Control": "private, no-store"},
    )


async def _own_file(request: Request) -> tuple[Services, dict[str, Any]] | Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    file_id = _file_id(request)
    row = await services.files.get(principal.user_id, file_id) if file_id else None
    if row is None:
        return json_error(404, "file not found")
    return services, row


async def get_file(request: Request) -> Response:
    found = await _own_file(request)
    if isinstance(found, Response):
        return found
    services, row = found
    item = file_item(services, base_url(request), row)
    item["metadata"] = row["metadata"].get("media") or {}
    return JSONResponse(item, headers={"Cache-Control": "private, no-store"})


async def preview(request: Request) -> Response:
    found = await _own_file(request)
    if isinstance(found, Response):
        return found
    services, row = found
    base = base_url(request)
    prefix = output_prefix(row["id"])
    variants: dict[str, str] = {}
    for path in row["metadata"].get("outputs") or []:
        if posixpath.splitext(path)[1] in (".jpg", ".jpeg", ".webp", ".png", ".vtt") and not path.startswith("hls/"):
            variants[path] = services.links.url(base, prefix, path, services.settings.preview_ttl_seconds)
    return JSONResponse(
        {
            "id": row["id"],
            "type": row["file_type"],
            "processing_status": row["processing_status"],
            "placeholder": row["placeholder"],
            "preview_url": derived_url(services, base, row["id"], row["preview_key"]),
            "thumbnail_url": derived_url(services, base, row["id"], row["thumbnail_key"]),
            "hls_url": derived_url(services, base, row["id"], row["hls_playlist_key"]),
            "playable": playable(row),
            "direct_play": direct_play(row),
            "direct_url": direct_url(services, base, row),
            "progress": row["processing_progress"],
            "variants": variants,
            "expires_in": services.settings.preview_ttl_seconds,
        },
        headers={"Cache-Control": "private, no-store"},
    )


def direct_url(services: Services, base: str, row: dict[str, Any]) -> str | None:
    """A signed inline link (Range) to the original, for direct play while the ladder encodes."""
    if direct_play(row) is False:
        return None
    ttl = services.settings.preview_ttl_seconds
    return services.links.url(base, row["original_key"], row["filename"], ttl)


def download_link(services: Services, request: Request, row: dict[str, Any]) -> dict[str, Any]:
    """A signed link to the original on the region nearest to the caller."""
    choice = services.regions.choose(
        explicit=request.headers.get("x-mediagate-region") or request.query_params.get("region"),
        country=request.headers.get("x-mediagate-country") or request.headers.get("cf-ipcountry"),
        continent=request.headers.get("x-mediagate-continent"),
    )
    base = choice.region.base_url or base_url(request)
    ttl = services.settings.download_ttl_seconds
    url = services.links.url(base, row["original_key"], row["filename"], ttl, download_name=row["filename"])
    return {
        "id": row["id"],
        "name": row["filename"],
        "size": row["file_size"],
        "url": url,
        "expires_in": ttl,
        "region": choice.region.name,
        "region_reason": choice.reason,
    }


async def download(request: Request) -> Response:
    found = await _own_file(request)
    if isinstance(found, Response):
        return found
    services, row = found
    return JSONResponse(download_link(services, request, row), headers={"Cache-Control": "private, no-store"})


async def delete_file(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    file_id = _file_id(request)
    deleted = await services.deleter.delete(principal.user_id, [file_id]) if file_id else []
    if not deleted:
        return json_error(404, "file not found")
    return Response(status_code=204)


async def parse_ids(request: Request) -> list[str]:
    try:
        payload = await read_json(request)
    except InputError as exc:
        raise BadRequest(exc.message, exc.status) from exc
    ids = payload.get("ids") if isinstance(payload, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise BadRequest('body must be {"ids": ["<file id>", ...]} with at least one id', 422)
    if len(ids) > MAX_BULK:
        raise BadRequest(f"at most {MAX_BULK} ids per request", 422)
    try:
        return list(dict.fromkeys(str(uuid.UUID(i)) for i in ids))
    except ValueError as exc:
        raise BadRequest("every id must be a file id (UUID)", 422) from exc


async def bulk_delete(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    try:
        ids = await parse_ids(request)
    except BadRequest as exc:
        return json_error(exc.status, str(exc))
    deleted = await services.deleter.delete(principal.user_id, ids)
    return JSONResponse({"deleted": deleted, "not_found": [i for i in ids if i not in set(deleted)]})


routes = [
    Route("/api/files", list_files, methods=["GET"]),
    Route("/api/files/bulk-delete", bulk_delete, methods=["POST"]),
    Route("/api/files/{file_id}", get_file, methods=["GET"]),
    Route("/api/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/api/files/{file_id}/preview", preview, methods=["GET"]),
    Route("/api/files/{file_id}/download", download, methods=["GET"]),
]
