"""The files API: list (sorts, filters), one file, edit, previews, downloads (regional), delete.

``DELETE`` moves a file to the trash (``trash_routes`` restores and purges);
``?permanent=true`` purges at once. Every endpoint needs a token and only ever sees the
token user's own files; anything else is a 404, never a 403 (no hint that a file id exists).
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..contracts import output_prefix
from ..files.cursor import CursorError
from ..services import Services
from ..strict import InputError, has_control
from .bodies import read_json, read_patch
from .errors import authenticate, json_error
from .listing import MAX_FACET, flag, list_query

MAX_BULK = 500
MAX_NAME = 255


class BadRequest(InputError):
    """A refused request body or parameter; the app answers it like any InputError (4xx JSON)."""


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
        "filename": row["filename"],
        "original_filename": row["original_filename"],
        "favourite": row["favourite"],
        "trashed_at": row["trashed_at"],
        "taken_at": row["taken_at"],
        "camera_make": row["camera_make"],
        "camera_model": row["camera_model"],
        "lens": row["lens"],
    }


def as_uuid(raw: str) -> str:
    """An id as a canonical UUID, or "" (which no row has: a 404, never a 500)."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return ""


def path_uuid(request: Request, name: str) -> str:
    return as_uuid(request.path_params[name])


def _file_id(request: Request) -> str:
    return path_uuid(request, "file_id")


async def list_files(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    try:
        query = list_query(request.query_params)
        if query.album_id and not await services.albums.exists(principal.user_id, query.album_id):
            return json_error(404, "album not found")
        page = await services.files.page(principal.user_id, query)
    except CursorError as exc:
        return json_error(400, str(exc))
    except InputError as exc:
        return json_error(exc.status, exc.message)
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
    item["album_ids"] = await services.files.album_ids(row["id"])
    return JSONResponse(item, headers={"Cache-Control": "private, no-store"})


def check_filename(value: object) -> str:
    """A display name: 1..255 characters after trimming, no control characters, no / or \\."""
    if not isinstance(value, str):
        raise InputError("filename must be a string", 422)
    name = value.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise InputError(f"filename must be 1..{MAX_NAME} characters", 422)
    if has_control(name) or "/" in name or "\\" in name:
        raise InputError("filename must not contain control characters, / or \\", 422)
    return name


async def update_file(request: Request) -> Response:
    """``PATCH {"filename"?, "favourite"?}``: rename (downloads and ZIPs use the new name), (un)favourite."""
    services: Services = request.app.state.services
    principal = authenticate(request)
    payload = await read_patch(request, frozenset({"filename", "favourite"}), '{"filename"?: str, "favourite"?: bool}')
    filename = check_filename(payload["filename"]) if "filename" in payload else None
    favourite = payload.get("favourite")
    if favourite is not None and not isinstance(favourite, bool):
        return json_error(422, "favourite must be true or false")
    file_id = _file_id(request)
    if not file_id or not await services.files.update(
        principal.user_id, file_id, filename=filename, favourite=favourite
    ):
        return json_error(404, "file not found")
    return await get_file(request)


async def facets(request: Request) -> Response:
    """Distinct camera makes, models and lenses of the user's live files, for filter pickers."""
    services: Services = request.app.state.services
    principal = authenticate(request)
    body = await services.files.facets(principal.user_id, MAX_FACET)
    return JSONResponse(body, headers={"Cache-Control": "private, no-store"})


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
    """To the trash; ``?permanent=true`` purges the original, derived objects, rows and jobs now."""
    services: Services = request.app.state.services
    principal = authenticate(request)
    permanent = flag(request.query_params, "permanent")
    file_id = _file_id(request)
    if not file_id:
        return json_error(404, "file not found")
    if permanent:
        done = await services.deleter.delete(principal.user_id, [file_id])
    else:
        done = await services.files.trash(principal.user_id, [file_id])
    if not done:
        return json_error(404, "file not found")
    return Response(status_code=204)


async def delete_by_path_id(
    request: Request, name: str, what: str, delete: Callable[[str, str], Awaitable[bool]]
) -> Response:
    """``DELETE .../{name}``: 204 when ``delete(user id, id)`` found the caller's row, else 404."""
    principal = authenticate(request)
    row_id = path_uuid(request, name)
    if not row_id or not await delete(principal.user_id, row_id):
        return json_error(404, f"{what} not found")
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
    """Move many files to the trash."""
    services: Services = request.app.state.services
    principal = authenticate(request)
    ids = await parse_ids(request)
    trashed = await services.files.trash(principal.user_id, ids)
    found = set(trashed)
    return JSONResponse({"trashed": len(trashed), "ids": trashed, "not_found": [i for i in ids if i not in found]})


routes = [
    Route("/api/files", list_files, methods=["GET"]),
    Route("/api/files/facets", facets, methods=["GET"]),
    Route("/api/files/bulk-delete", bulk_delete, methods=["POST"]),
    Route("/api/files/{file_id}", get_file, methods=["GET"]),
    Route("/api/files/{file_id}", update_file, methods=["PATCH"]),
    Route("/api/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/api/files/{file_id}/preview", preview, methods=["GET"]),
    Route("/api/files/{file_id}/download", download, methods=["GET"]),
]
