"""``POST /api/files/batch-download``: signed links, or one streamed store-only ZIP.

``{"ids": [...], "mode": "links"}`` answers JSON links (regional, like single
downloads). ``"mode": "zip"`` streams a ZIP of the originals: Content-Length is known up
front, members are read from the store one after another as the client reads, so memory
stays flat whatever the total size; ZIP64 past 4 GiB; names (the display names, after a
rename) sanitised and de-duplicated. Trashed files are left out (reported missing).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Awaitable, Callable
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..files.zipstream import ZipMember, safe_member_names, stream_zip, zip_size
from ..ports import StoreError
from ..services import Services
from .bodies import read_json
from .errors import authenticate, json_error
from .files_routes import BadRequest, download_link, parse_ids
from .objects_routes import content_disposition


def _modified(created_at: str) -> float:
    try:
        return datetime.fromisoformat(created_at).timestamp()
    except ValueError:
        return time.time()


def _opener(services: Services, key: str) -> Callable[[], Awaitable[AsyncIterable[bytes]]]:
    async def open_member() -> AsyncIterable[bytes]:
        body = await services.store.get(key)
        if body is None:
            raise StoreError(f"{key} disappeared while zipping")
        return body

    return open_member


async def batch_download(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    try:
        ids = await parse_ids(request)
        payload = await read_json(request)  # parsed once by parse_ids, cached
        mode = payload.get("mode", "zip")
        if mode not in ("zip", "links"):
            raise BadRequest('mode must be "zip" or "links"', 422)
    except BadRequest as exc:
        return json_error(exc.status, str(exc))
    rows = await services.files.get_many(principal.user_id, ids, include_trashed=False)
    if not rows:
        return json_error(404, "none of these files exist")
    missing = [i for i in ids if i not in {r["id"] for r in rows}]
    if mode == "links":
        return JSONResponse(
            {"files": [download_link(services, request, r) for r in rows], "not_found": missing},
            headers={"Cache-Control": "private, no-store"},
        )
    names = safe_member_names([r["filename"] for r in rows])
    members = [
        ZipMember(
            name=name,
            size=r["file_size"],
            modified=_modified(r["created_at"]),
            open=_opener(services, r["original_key"]),
        )
        for name, r in zip(names, rows, strict=True)
    ]
    archive = f"mediagate-{len(members)}-files.zip"
    headers = {
        "Content-Length": str(zip_size(members)),
        "Content-Disposition": content_disposition(archive),
        "Cache-Control": "private, no-store",
        "X-Mediagate-Missing": ",".join(missing),
    }
    return StreamingResponse(stream_zip(members), media_type="application/zip", headers=headers)


routes = [Route("/api/files/batch-download", batch_download, methods=["POST"])]
