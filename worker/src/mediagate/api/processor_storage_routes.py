"""The processor's storage access through job-scoped grants (:mod:`mediagate.files.grants`).

``/api/processor-storage/<token>/original`` (GET, HEAD; Range) and
``/api/processor-storage/<token>/outputs/<path>`` (PUT, HEAD, DELETE). The grant token is
the only authorisation: it names one original and one ``derived/<file_id>/`` prefix.

A PUT is one output in one request, so it stays under the Workers request-body limit:
``Content-Length`` is required (R2 needs the length to stream a body instead of holding
it) and at most the grant's ``max_put_bytes``, checked before a byte is read; the body is
streamed into the store chunk by chunk and a body that does not match its declared length
stores nothing. The processor keeps every output under the limit (see
``processor.storage.WorkerProcessorStore``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..files.grants import ROUTE_PREFIX, Grant, GrantError, verify
from ..ports import StoreError
from ..services import Services
from .errors import json_error
from .objects_routes import guess_type, serve_key


class BodyTooLong(Exception):
    pass


def _grant(request: Request) -> Grant:
    services: Services = request.app.state.services
    return verify(services.links, request.path_params["token"])


async def read_original(request: Request) -> Response:
    """GET/HEAD the job's original, Range supported (the same serving as signed links)."""
    try:
        grant = _grant(request)
    except GrantError as exc:
        return json_error(403, str(exc), head=request.method == "HEAD")
    return await serve_key(request, grant.object_key, grant.expires)


async def _bounded(stream: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """The request body, refusing to go past its declared length."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > size:
            raise BodyTooLong()
        if chunk:
            yield chunk


async def _put(request: Request, grant: Grant, key: str) -> Response:
    services: Services = request.app.state.services
    declared = request.headers.get("content-length")
    if declared is None:
        return json_error(411, "Content-Length is required: one output per request, at most max_put_bytes")
    try:
        size = int(declared)
        if size < 0:
            raise ValueError
    except ValueError:
        return json_error(400, "invalid Content-Length")
    if size > grant.max_put_bytes:
        return json_error(
            413, f"output of {size} bytes exceeds the grant's limit of {grant.max_put_bytes} bytes per request"
        )
    content_type = request.headers.get("content-type") or guess_type(key, None)
    try:
        info = await services.store.put(key, _bounded(request.stream(), size), content_type=content_type, size=size)
    except BodyTooLong:
        return json_error(400, f"body longer than its Content-Length of {size} bytes; nothing stored")
    except StoreError as exc:
        return json_error(400, f"output not stored: {exc}")
    except ClientDisconnect:
        return json_error(400, "the client went away before the body was complete; nothing stored")
    return JSONResponse({"key": key, "size": info.size, "content_type": content_type}, status_code=201)


async def _delete(request: Request, grant: Grant, path: str) -> Response:
    services: Services = request.app.state.services
    if path:
        keys = [grant.output_key(path)]
    else:
        keys = await services.store.list_keys(grant.output_prefix)
    keys = [k for k in keys if k.startswith(grant.output_prefix)]
    await services.store.delete(keys)
    return JSONResponse({"deleted": len(keys)})


async def _head(request: Request, key: str) -> Response:
    services: Services = request.app.state.services
    info = await services.store.head(key)
    if info is None:
        return Response(status_code=404)
    headers = {"Content-Length": str(info.size), "Content-Type": guess_type(key, info.content_type)}
    if info.etag:
        headers["ETag"] = f'"{info.etag}"'
    return Response(status_code=200, headers=headers)


async def outputs(request: Request) -> Response:
    """PUT/HEAD/DELETE under the grant's ``derived/<file_id>/`` prefix."""
    method = request.method
    path = request.path_params["path"]
    try:
        grant = _grant(request)
        if method == "DELETE":
            return await _delete(request, grant, path)
        key = grant.output_key(path)
    except GrantError as exc:
        return json_error(403, str(exc), head=method == "HEAD")
    if method == "HEAD":
        return await _head(request, key)
    return await _put(request, grant, key)


routes = [
    Route(f"{ROUTE_PREFIX}/{{token}}/original", read_original, methods=["GET", "HEAD"]),
    Route(f"{ROUTE_PREFIX}/{{token}}/outputs/{{path:path}}", outputs, methods=["PUT", "HEAD", "DELETE"]),
]
