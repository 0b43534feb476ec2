"""tus 1.0.0 over HTTP at ``/api/upload`` (POST creates; ``/api/upload/<id>`` for the rest).

The brief's ``/api/upload/init|chunk|complete`` map onto tus: ``init`` is creation
(``POST /api/upload/init`` is served as an alias of ``POST /api/upload``), ``chunk`` is
``PATCH /api/upload/<id>`` and ``complete`` happens by itself on the last byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ..ports import BODY_CHUNKS, BODY_TO_FILE, ByteChunk
from ..tus.engine import BodyInterrupted, PatchRequest
from ..tus.protocol import (
    CHECKSUM_ALGORITHMS,
    EXTENSIONS,
    FILE_ID_HEADER,
    OFFSET_CONTENT_TYPE,
    TUS_VERSION,
    TusError,
    format_metadata,
    http_date,
    parse_checksum,
    parse_metadata,
    parse_non_negative,
)
from ..tus.state import UploadState
from .errors import authenticate, json_error


def _tus_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {"Tus-Resumable": TUS_VERSION}
    if extra:
        headers.update(extra)
    return headers


def _require_version(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise TusError(412, f"Tus-Resumable must be {TUS_VERSION}", {"Tus-Version": TUS_VERSION})


def _offset_headers(state: UploadState) -> dict[str, str]:
    headers = {"Upload-Offset": str(state.offset)}
    if state.state == "active":
        headers["Upload-Expires"] = http_date(state.expires_at)
    if state.file_id is not None:
        headers[FILE_ID_HEADER] = state.file_id
    return headers


async def _body(request: Request) -> AsyncIterator[bytes | ByteChunk]:
    """The PATCH body. Where the server offers BODY_CHUNKS (the Worker), the bytes stay
    where the server holds them (JS memory) on their way to the object store."""
    chunks = (request.scope.get("extensions") or {}).get(BODY_CHUNKS)
    try:
        if chunks is not None:
            async for chunk in chunks["open"]():
                yield chunk
            return
        async for data in request.stream():
            yield data
    except (ClientDisconnect, ConnectionError) as exc:
        raise BodyInterrupted() from exc


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


def _patch_request(request: Request, offset: int) -> PatchRequest:
    content_length = parse_non_negative("Content-Length", request.headers.get("content-length"))
    to_file = (request.scope.get("extensions") or {}).get(BODY_TO_FILE)
    return PatchRequest(
        offset=offset,
        body=_body(request),
        content_length=content_length,
        checksum=parse_checksum(request.headers.get("upload-checksum")),
        upload_length=parse_non_negative("Upload-Length", request.headers.get("upload-length")),
        direct=to_file["body"] if to_file is not None and content_length else None,
    )


def _check_offset_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != OFFSET_CONTENT_TYPE:
        raise TusError(415, f"Content-Type must be {OFFSET_CONTENT_TYPE}")


async def options(request: Request) -> Response:
    services = request.app.state.services
    return Response(
        status_code=204,
        headers=_tus_headers(
            {
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": ",".join(EXTENSIONS),
                "Tus-Max-Size": str(services.settings.max_upload_size),
                "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
            }
        ),
    )


async def create(request: Request) -> Response:
    if request.method == "OPTIONS":
        return await options(request)
    services = request.app.state.services
    try:
        _require_version(request)
        principal = authenticate(request)
        length = parse_non_negative("Upload-Length", request.headers.get("upload-length"))
        defer = request.headers.get("upload-defer-length")
        if defer is not None and defer.strip() != "1":
            raise TusError(400, "Upload-Defer-Length must be 1")
        if (length is None) == (defer is None):
            raise TusError(400, "send exactly one of Upload-Length or Upload-Defer-Length: 1")
        if length is not None:
            services.tus.check_length(length)
        metadata = parse_metadata(request.headers.get("upload-metadata"))
        with_body = _has_body(request)
        if with_body:
            _check_offset_content_type(request)
            req = _patch_request(request, 0)
        state = await services.tus.create(principal, length, metadata)
    except TusError as exc:
        return json_error(exc.status, exc.message, _tus_headers(exc.headers))
    location = str(request.url_for("upload", upload_id=state.id))
    headers = _tus_headers({"Location": location, **_offset_headers(state)})
    if with_body and not state.is_complete:
        try:
            state = await services.tus.patch(principal, state.id, req)
        except TusError as exc:
            return json_error(exc.status, exc.message, {**headers, **_tus_headers(exc.headers)})
        headers.update(_offset_headers(state))
    return Response(status_code=201, headers=headers)


UPLOAD_METHODS = ("HEAD", "PATCH", "DELETE", "OPTIONS")


async def upload(request: Request) -> Response:
    """HEAD, PATCH and DELETE on one upload (POST with X-HTTP-Method-Override too).

    Anything else (GET included: an upload URL is not a download link) is 405 with
    ``Allow``, before the Tus-Resumable check so plain HTTP clients get the right answer."""
    method = request.method
    if method == "POST":
        method = request.headers.get("x-http-method-override", "POST").upper()
    if method == "OPTIONS":
        return await options(request)
    head = method == "HEAD"
    services = request.app.state.services
    upload_id = request.path_params["upload_id"]
    try:
        if method not in UPLOAD_METHODS:
            allow = ", ".join(UPLOAD_METHODS)
            raise TusError(405, f"method {method} is not allowed on an upload", {"Allow": allow})
        _require_version(request)
        principal = authenticate(request)
        if head:
            state = await services.tus.get(principal, upload_id)
            headers = _tus_headers({**_offset_headers(state), "Cache-Control": "no-store"})
            if state.length is None:
                headers["Upload-Defer-Length"] = "1"
            else:
                headers["Upload-Length"] = str(state.length)
            if state.metadata:
                headers["Upload-Metadata"] = format_metadata(state.metadata)
            return Response(status_code=200, headers=headers)
        if method == "PATCH":
            _check_offset_content_type(request)
            offset = parse_non_negative("Upload-Offset", request.headers.get("upload-offset"))
            if offset is None:
                raise TusError(400, "Upload-Offset is required")
            state = await services.tus.patch(principal, upload_id, _patch_request(request, offset))
            return Response(status_code=204, headers=_tus_headers(_offset_headers(state)))
        if method == "DELETE":
            await services.tus.terminate(principal, upload_id)
            return Response(status_code=204, headers=_tus_headers())
        raise AssertionError(f"unhandled upload method {method}")
    except TusError as exc:
        extra = {"Cache-Control": "no-store"} if head else {}
        return json_error(exc.status, exc.message, _tus_headers({**extra, **exc.headers}), head=head)


routes = [
    Route("/api/upload", create, methods=["POST", "OPTIONS"]),
    Route("/api/upload/init", create, methods=["POST", "OPTIONS"]),
    Route(
        "/api/upload/{upload_id}", upload, methods=["GET", "HEAD", "PATCH", "DELETE", "POST", "OPTIONS"], name="upload"
    ),
]
