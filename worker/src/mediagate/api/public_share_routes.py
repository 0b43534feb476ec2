"""Share pages without a token: ``/api/public/shares/{token}[/files[/{file_id}]]``.

Unknown, revoked, expired or trashed targets are all the same 404, decided by the
database in the same statement as the read. Items carry only what a viewer needs (no
object keys, no user id, no metadata beyond dimensions and duration), and every object
URL is signed *and bound to the share* (``sh``/``f`` claims), so the object route stops
serving it the moment the share is revoked. Rate-limited per client address.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..contracts import output_prefix
from ..files.cursor import CursorError
from ..files.links import ShareBinding
from ..files.repository import ListQuery
from ..services import Services
from ..strict import InputError
from .errors import json_error
from .files_routes import base_url, direct_play, path_uuid, playable
from .listing import page_params

NO_STORE = {"Cache-Control": "private, no-store"}
GONE = "share not found"


def _bound_url(services: Services, base: str, share_id: str, row: dict[str, Any], key: str | None) -> str | None:
    prefix = output_prefix(row["id"])
    if not key or not key.startswith(prefix):
        return None
    ttl = services.settings.preview_ttl_seconds
    return services.links.url(base, prefix, key[len(prefix) :], ttl, share=ShareBinding(share_id, row["id"]))


def public_item(services: Services, base: str, share: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """A file as a share shows it: no keys, no owner, no EXIF beyond size and duration."""
    media = row["metadata"].get("media") or {}
    prefix = output_prefix(row["id"])
    storyboard = (media.get("storyboard") or {}).get("vtt") if isinstance(media.get("storyboard"), dict) else None
    poster = row["preview_key"] if row["file_type"] == "video" else None
    item: dict[str, Any] = {
        "id": row["id"],
        "filename": row["filename"],
        "name": row["filename"],
        "file_type": row["file_type"],
        "type": row["file_type"],
        "mime_type": row["mime_type"],
        "file_size": row["file_size"],
        "size": row["file_size"],
        "created_at": row["created_at"],
        "taken_at": row["taken_at"],
        "processing_status": row["processing_status"],
        "playable": playable(row),
        "direct_play": direct_play(row),
        "placeholder": row["placeholder"],
        "width": media.get("display_width") or media.get("width"),
        "height": media.get("display_height") or media.get("height"),
        "duration": media.get("duration"),
        "preview_url": _bound_url(services, base, share["id"], row, row["preview_key"]),
        "thumbnail_url": _bound_url(services, base, share["id"], row, row["thumbnail_key"] or row["preview_key"]),
        "hls_url": _bound_url(services, base, share["id"], row, row["hls_playlist_key"]),
        "poster_url": _bound_url(services, base, share["id"], row, poster),
        "storyboard_url": _bound_url(services, base, share["id"], row, prefix + storyboard)
        if isinstance(storyboard, str)
        else None,
    }
    if share["allow_download"]:
        binding = ShareBinding(share["id"], row["id"])
        ttl = services.settings.download_ttl_seconds
        name = row["filename"]
        item["download_url"] = services.links.url(
            base, row["original_key"], name, ttl, download_name=name, share=binding
        )
    return item


ShareHandler = Callable[[Request, Services, dict[str, Any]], Awaitable[Response]]


def with_share(*, count_view: bool) -> Callable[[ShareHandler], Callable[[Request], Awaitable[Response]]]:
    """Run the handler with the live share named by the path's token, or answer 404."""

    def wrap(handler: ShareHandler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            services: Services = request.app.state.services
            token = request.path_params["token"]
            share = await services.shares.open(token, count_view=count_view) if 0 < len(token) <= 100 else None
            if share is None:
                return json_error(404, GONE)
            return await handler(request, services, share)

        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


@with_share(count_view=True)
async def share_page(request: Request, services: Services, share: dict[str, Any]) -> Response:
    """What the share page shows first; counts one view."""
    base = base_url(request)
    body: dict[str, Any] = {
        "kind": "file" if share["file_id"] else "album",
        "name": share["name"],
        "allow_download": share["allow_download"],
        "expires_at": share["expires_at"],
        "file": None,
        "album": None,
    }
    if share["file_id"]:
        row = await services.files.get(share["user_id"], share["file_id"])
        if row is None:
            return json_error(404, GONE)
        body["file"] = public_item(services, base, share, row)
    else:
        album = await services.albums.get(share["user_id"], share["album_id"])
        if album is None:
            return json_error(404, GONE)
        body["album"] = {"name": album["name"], "file_count": album["file_count"]}
    return JSONResponse(body, headers=NO_STORE)


@with_share(count_view=False)
async def share_files(request: Request, services: Services, share: dict[str, Any]) -> Response:
    """An album share's files, keyset-paginated in any sort (a file share: its one file)."""
    base = base_url(request)
    if share["file_id"]:
        row = await services.files.get(share["user_id"], share["file_id"])
        items = [public_item(services, base, share, row)] if row else []
        return JSONResponse({"items": items, "next_cursor": None}, headers=NO_STORE)
    try:
        limit, cursor, sort, order = page_params(request.query_params)
        query = ListQuery(limit=limit, cursor=cursor, sort=sort, order=order, album_id=share["album_id"])
        page = await services.files.page(share["user_id"], query)
    except CursorError as exc:
        return json_error(400, str(exc))
    except InputError as exc:
        return json_error(exc.status, exc.message)
    items = [public_item(services, base, share, r) for r in page.items]
    return JSONResponse({"items": items, "next_cursor": page.next_cursor}, headers=NO_STORE)


@with_share(count_view=False)
async def share_file(request: Request, services: Services, share: dict[str, Any]) -> Response:
    """One file of the share (it must belong to the share and not be trashed)."""
    file_id = path_uuid(request, "file_id")
    if not file_id or not await services.shares.covers(share["id"], file_id):
        return json_error(404, "file not found")
    row = await services.files.get(share["user_id"], file_id)
    if row is None:
        return json_error(404, "file not found")
    return JSONResponse(public_item(services, base_url(request), share, row), headers=NO_STORE)


routes = [
    Route("/api/public/shares/{token}", share_page, methods=["GET"]),
    Route("/api/public/shares/{token}/files", share_files, methods=["GET"]),
    Route("/api/public/shares/{token}/files/{file_id}", share_file, methods=["GET"]),
]
