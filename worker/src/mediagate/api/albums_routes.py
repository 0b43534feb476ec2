"""Albums: create, list, rename, choose a cover, delete, add and remove files.

An album's contents are listed by ``GET /api/files?album=<id>`` (every sort and filter).
Another user's album, or any file id that is not the user's, is a 404.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..albums.repository import AlbumNotFound
from ..files.cursor import CursorError
from ..services import Services
from ..strict import InputError, has_control, parse_bounded_int
from .bodies import read_json, read_patch
from .errors import authenticate, json_error
from .files_routes import as_uuid, base_url, delete_by_path_id, derived_url, parse_ids, path_uuid

MAX_ALBUM_NAME = 200
NO_STORE = {"Cache-Control": "private, no-store"}


def album_item(services: Services, base: str, row: dict[str, Any]) -> dict[str, Any]:
    cover = row["cover_id"]
    return {
        "id": row["id"],
        "name": row["name"],
        "file_count": row["file_count"],
        "cover_file_id": row["cover_file_id"],
        "cover_thumbnail_url": derived_url(services, base, cover, row["cover_thumbnail_key"]) if cover else None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def check_album_name(value: object) -> str:
    if not isinstance(value, str):
        raise InputError("name must be a string", 422)
    name = value.strip()
    if not 1 <= len(name) <= MAX_ALBUM_NAME or has_control(name):
        raise InputError(f"name must be 1..{MAX_ALBUM_NAME} characters without control characters", 422)
    return name


async def list_albums(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    limit = parse_bounded_int("limit", request.query_params.get("limit"), 50, 1, 200)
    try:
        page = await services.albums.page(principal.user_id, limit, request.query_params.get("cursor") or None)
    except CursorError as exc:
        return json_error(400, str(exc))
    base = base_url(request)
    items = [album_item(services, base, r) for r in page.items]
    return JSONResponse({"items": items, "next_cursor": page.next_cursor}, headers=NO_STORE)


async def create_album(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    payload = await read_json(request)
    if not isinstance(payload, dict) or set(payload) != {"name"}:
        return json_error(422, 'body must be {"name": str}')
    row = await services.albums.create(principal.user_id, check_album_name(payload["name"]))
    return JSONResponse(album_item(services, base_url(request), row), status_code=201, headers=NO_STORE)


async def get_album(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    album_id = path_uuid(request, "album_id")
    row = await services.albums.get(principal.user_id, album_id) if album_id else None
    if row is None:
        return json_error(404, "album not found")
    return JSONResponse(album_item(services, base_url(request), row), headers=NO_STORE)


async def update_album(request: Request) -> Response:
    """``PATCH {"name"?, "cover_file_id"?: id|null}``; the cover must be one of the album's files."""
    services: Services = request.app.state.services
    principal = authenticate(request)
    payload = await read_patch(
        request, frozenset({"name", "cover_file_id"}), '{"name"?: str, "cover_file_id"?: str|null}'
    )
    name = check_album_name(payload["name"]) if "name" in payload else None
    cover = payload.get("cover_file_id")
    if cover is not None:
        if not isinstance(cover, str):
            return json_error(422, "cover_file_id must be a file id or null")
        cover = as_uuid(cover)
        if not cover:
            return json_error(422, "cover_file_id must be a file id (UUID) or null")
    album_id = path_uuid(request, "album_id")
    if not album_id or not await services.albums.exists(principal.user_id, album_id):
        return json_error(404, "album not found")
    if not await services.albums.update(
        principal.user_id, album_id, name=name, cover=cover, set_cover="cover_file_id" in payload
    ):
        return json_error(404, "cover file not found in this album")
    return await get_album(request)


async def delete_album(request: Request) -> Response:
    """The album goes; its files stay."""
    services: Services = request.app.state.services
    return await delete_by_path_id(request, "album_id", "album", services.albums.delete)


async def _members(request: Request, add: bool) -> Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    ids = await parse_ids(request)
    album_id = path_uuid(request, "album_id")
    try:
        if not album_id:
            raise AlbumNotFound("album not found")
        if add:
            return JSONResponse({"added": await services.albums.add_files(principal.user_id, album_id, ids)})
        return JSONResponse({"removed": await services.albums.remove_files(principal.user_id, album_id, ids)})
    except AlbumNotFound as exc:
        return json_error(404, str(exc))


async def add_files(request: Request) -> Response:
    """Add up to 500 of the user's files (idempotent); any id not theirs: 404, nothing added."""
    return await _members(request, add=True)


async def remove_files(request: Request) -> Response:
    return await _members(request, add=False)


routes = [
    Route("/api/albums", list_albums, methods=["GET"]),
    Route("/api/albums", create_album, methods=["POST"]),
    Route("/api/albums/{album_id}", get_album, methods=["GET"]),
    Route("/api/albums/{album_id}", update_album, methods=["PATCH"]),
    Route("/api/albums/{album_id}", delete_album, methods=["DELETE"]),
    Route("/api/albums/{album_id}/files", add_files, methods=["POST"]),
    Route("/api/albums/{album_id}/files/remove", remove_files, methods=["POST"]),
]
