"""The trash: restore, bulk restore, purge now, empty.

Files get here by ``DELETE /api/files/{id}`` or bulk delete (``files_routes``); the cron
sweep purges what stayed longer than ``TRASH_RETENTION_DAYS``. Purging goes through
:class:`mediagate.files.deletion.FileDeleter`, like every permanent delete.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..services import Services
from .errors import authenticate, json_error
from .files_routes import BadRequest, get_file, parse_ids, path_uuid


async def restore(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    file_id = path_uuid(request, "file_id")
    if not file_id or await services.files.get(principal.user_id, file_id) is None:
        return json_error(404, "file not found")
    await services.files.restore(principal.user_id, [file_id])  # not trashed: nothing to do
    return await get_file(request)


async def _bulk(request: Request) -> tuple[Services, str, list[str]] | Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    try:
        return services, principal.user_id, await parse_ids(request)
    except BadRequest as exc:
        return json_error(exc.status, str(exc))


async def bulk_restore(request: Request) -> Response:
    parsed = await _bulk(request)
    if isinstance(parsed, Response):
        return parsed
    services, user_id, ids = parsed
    return JSONResponse({"restored": len(await services.files.restore(user_id, ids))})


async def bulk_purge(request: Request) -> Response:
    """Delete for good now (trashed or not); others' and unknown ids are not counted."""
    parsed = await _bulk(request)
    if isinstance(parsed, Response):
        return parsed
    services, user_id, ids = parsed
    return JSONResponse({"purged": len(await services.deleter.delete(user_id, ids))})


async def empty_trash(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    return JSONResponse({"purged": await services.deleter.empty_trash(principal.user_id)})


routes = [
    Route("/api/files/bulk-restore", bulk_restore, methods=["POST"]),
    Route("/api/files/bulk-purge", bulk_purge, methods=["POST"]),
    Route("/api/files/{file_id}/restore", restore, methods=["POST"]),
    Route("/api/trash/empty", empty_trash, methods=["POST"]),
]
