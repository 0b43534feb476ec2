"""Serve stored objects behind signed links, with HTTP Range and honest headers.

Locally (and on Cloudflare when no public bucket domain is configured) the API serves
originals, previews and HLS trees itself; the link's signature is the authorisation. A
link handed out through a share link is also bound to that share: it is served only while
the share is live and covers the file (one indexed query), so a revoke stops it at once.
"""

from __future__ import annotations

import mimetypes
import posixpath
import re
from collections.abc import Mapping
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..contracts import OUTPUT_CONTENT_TYPES
from ..files.links import LinkError
from ..ports import SendableBody, StoreError
from ..services import Services
from ..strict import InputError, check_path, parse_uint_saturating
from .errors import json_error

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
MAX_TOKEN = 4096


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range → [start, end) or None for the whole object (multi-ranges: whole).

    Bounds are ASCII digits; any length is accepted but saturates (``bytes=0-<5000
    digits>`` is the whole object, ``bytes=<5000 digits>-`` is past the end) without a
    5000-digit ``int()``. Any range of an empty object is unsatisfiable (RFC 9110
    §14.1.2): ``bytes=-1`` on 0 bytes is 416, never ``bytes 0--1/0``."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if size == 0:
        raise RangeNotSatisfiable()
    cap = size + 1  # anything larger means the same as "past the end"
    if first == "":
        length = parse_uint_saturating("suffix length", last, cap)
        if length == 0:
            raise RangeNotSatisfiable()
        return max(0, size - length), size
    start = parse_uint_saturating("range start", first, cap)
    end = size if last == "" else min(size, parse_uint_saturating("range end", last, cap) + 1)
    if start >= size or end <= start:
        raise RangeNotSatisfiable()
    return start, end


def content_disposition(name: str) -> str:
    """RFC 6266: an ASCII fallback plus the exact UTF-8 name (RFC 5987)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def guess_type(key: str, stored: str | None) -> str:
    ext = posixpath.splitext(key)[1].lower()
    if ext in OUTPUT_CONTENT_TYPES:
        return OUTPUT_CONTENT_TYPES[ext]
    return stored or mimetypes.guess_type(key)[0] or "application/octet-stream"


class SendableResponse(Response):
    """A response whose body the store's :class:`~mediagate.ports.SendableBody` sends itself
    (R2: the object's JS stream straight to the Workers Response; files: sendfile), so
    Python does not carry the bytes. Headers are exactly the ones given."""

    def __init__(
        self,
        body: SendableBody,
        status_code: int,
        headers: Mapping[str, str],
        background: BackgroundTask | None = None,
    ) -> None:
        self.sendable = body
        self.status_code = status_code
        self.background = background
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await self.sendable.send(send, scope.get("extensions") or {})
        if self.background is not None:
            await self.background()


def cache_control(key: str, max_age: int) -> str:
    """Playlists may grow (HLS EVENT while the ladder encodes): always revalidated. Segments and
    everything else never change under their name while the link lives."""
    if key.endswith(".m3u8"):
        return "private, no-cache"
    immutable = ", immutable" if key.endswith((".m4s", ".mp4")) and "/hls/" in key else ""
    return f"private, max-age={max(0, max_age)}{immutable}"


async def serve_object(request: Request) -> Response:
    services: Services = request.app.state.services
    head = request.method == "HEAD"
    token, path = request.path_params["token"], request.path_params["path"]
    try:
        if len(token) > MAX_TOKEN:
            raise LinkError("invalid link signature")
        check_path("object path", path)
        key, claims = services.links.resolve(token, path)
        check_path("object key", key, max_length=2048)
    except LinkError as exc:
        return json_error(403, str(exc), head=head)
    except InputError as exc:
        return json_error(exc.status, exc.message, head=head)
    if claims.share_id is not None and (
        claims.file_id is None or not await services.shares.covers(claims.share_id, claims.file_id)
    ):
        return json_error(404, "share not found", head=head)
    return await serve_key(request, key, claims.expires, claims.download_name)


async def serve_key(request: Request, key: str, expires: int, download_name: str | None = None) -> Response:
    """GET/HEAD of one stored object whose access was already authorised (until ``expires``)."""
    services: Services = request.app.state.services
    head = request.method == "HEAD"
    try:
        info = await services.store.head(key)
    except StoreError:
        info = None  # a key the store cannot even name does not exist
    if info is None:
        return json_error(404, "object not found", head=head)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": guess_type(key, info.content_type),
        "Cache-Control": cache_control(key, expires - int(services.clock.now())),
        "X-Content-Type-Options": "nosniff",
    }
    if info.etag:
        headers["ETag"] = f'"{info.etag}"'
    if download_name:
        headers["Content-Disposition"] = content_disposition(download_name)
    try:
        byte_range = parse_range(request.headers.get("range"), info.size)
    except RangeNotSatisfiable:
        return json_error(416, "range not satisfiable", {"Content-Range": f"bytes */{info.size}"}, head=head)
    start, end = byte_range or (0, info.size)
    status = 206 if byte_range else 200
    if byte_range:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{info.size}"
    headers["Content-Length"] = str(end - start)
    if head:
        return Response(status_code=status, headers=headers)
    if services.direct_send is not None:  # the bytes go from the store to the client without Python
        sendable = await services.direct_send.open_sendable(key, start=start, end=end)
        if sendable is None:
            return json_error(404, "object not found")
        return SendableResponse(sendable, status, headers)
    body = await services.store.get(key, start=start, end=end)
    if body is None:
        return json_error(404, "object not found")
    return StreamingResponse(body.__aiter__(), status_code=status, headers=headers)


routes = [Route("/api/objects/{token}/{path:path}", serve_object, methods=["GET", "HEAD"])]
