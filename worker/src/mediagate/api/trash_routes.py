"""The trash: restore, bulk restore, purge now, empty.

Files get here by ``DELETE /api/files/{id}`` or bulk delete (``files_routes``); the cron
sweep purges what stayed longer than ``TRASH_RETENTION_DAYS``. Purging goes through
:class:`mediagate.files.deletion.FileDeleter`, like every permanent delete.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..services import Services
from .errors import authenticate, json_error
from .files_routes import get_file, parse_ids, path_uuid


async def restore(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = authenticate(request)
    file_id = path_uuid(request, "file_id")
    if not file_id or await services.files.get(principal.user_id, file_id) is None:
        return json_error(404, "file not found")
    await services.files.restore(principal.user_id, [file_id])  # not trashed: nothing to do
    return await get_file(request)


BulkAction = Callable[[Services, str, list[str]], Awaitable[list[str]]]


async def _bulk(request: Request, result: str, action: BulkAction) -> Response:
    """``{"ids": [...]}`` → ``{result: how many the action applied to}``."""
    services: Services = request.app.state.services
    principal = authenticate(request)
    ids = await parse_ids(request)
    return JSONResponse({result: len(await action(services, principal.user_id, ids))})


async def bulk_restore(request: Request) -> Response:
    return await _bulk(request, "restored", lambda services, user, ids: services.files.restore(user, ids))


async def bulk_purge(request: Request) -> Response:
    """Delete for good now (trashed or not); others' and unknown ids are not counted."""
    return await _bulk(request, "purged", lambda services, user, ids: services.deleter.delete(user, ids))


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
