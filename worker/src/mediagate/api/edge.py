"""The edge guard: malformed or oversized requests are refused before any handler runs.

Why here and not in each handler: a handler that calls ``request.body()`` has already
lost — a 600 MiB POST to a webhook route sat whole in memory before its size check, and
``Content-Length: 2000000000`` left a handler waiting for bytes that never came. This
ASGI middleware (inside CORS, so refusals keep CORS headers) bounds every request:

- path and query: bounded length, no NUL or control characters (400/414);
- body: ``Content-Length`` is checked up front (413 at once, nothing read); the body is
  then counted as it streams and cut off past the route's limit (413), and a sender that
  takes longer than ``BODY_TIMEOUT_SECONDS`` for a bounded body gets 408. Both refusals
  carry ``Connection: close`` so the server stops reading the rest.

tus routes (``/api/upload…``) are exempt from the byte limit: PATCH streams gigabytes
part by part, and the tus engine bounds it by ``Upload-Length`` and ``MAX_UPLOAD_SIZE``;
so are the processor's storage writes, bounded by their grant (see ``body_limit``).
Pure ASGI and asyncio (Pyodide-safe): the same guard runs in the Worker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from ..strict import InputError, has_control, parse_uint

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

KIB = 1024
WEBHOOK_BODY_LIMIT = 64 * KIB  # signed processing events are a few hundred bytes
JSON_BODY_LIMIT = 256 * KIB  # the largest JSON request (500 ids) is ~20 KiB
BODY_TIMEOUT_SECONDS = 30.0
MAX_PATH = 4096
MAX_QUERY = 8192


class BodyTooLarge(Exception):
    """The body passed its route's limit while streaming (HTTP 413)."""


class BodyTimeout(Exception):
    """The client did not finish a bounded body in time (HTTP 408)."""


def body_limit(path: str) -> int | None:
    """Bytes a route may receive; None for routes that bound their own streams: tus (the
    engine: ``Upload-Length``, ``MAX_UPLOAD_SIZE``) and processor storage writes (a required
    ``Content-Length`` within the grant's ``max_put_bytes``, checked before reading)."""
    if path == "/api/upload" or path.startswith("/api/upload/"):
        return None
    if path.startswith("/api/processor-storage/"):
        return None
    if path.startswith("/webhook/"):
        return WEBHOOK_BODY_LIMIT
    return JSON_BODY_LIMIT


def _header(scope: Message, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _check_target(scope: Message) -> None:
    path = scope.get("path") or ""
    if len(path) > MAX_PATH:
        raise InputError(f"path longer than {MAX_PATH} characters", 414)
    if has_control(path):
        raise InputError("path must not contain control characters")
    query: bytes = scope.get("query_string") or b""
    if len(query) > MAX_QUERY:
        raise InputError(f"query string longer than {MAX_QUERY} bytes", 414)
    if query and any(b < 0x20 or b == 0x7F for b in unquote_to_bytes(query)):
        raise InputError("query must not contain control characters")


async def _refuse(send: Send, status: int, message: str, *, close: bool = False) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class EdgeGuard:
    def __init__(self, app: Callable[..., Awaitable[None]], *, body_timeout: float = BODY_TIMEOUT_SECONDS) -> None:
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope.get("path") or "")
        try:
            _check_target(scope)
            declared = parse_uint("Content-Length", _header(scope, b"content-length"))
        except InputError as exc:
            await _refuse(send, exc.status, exc.message, close=True)
            return
        if limit is None:
            await self.app(scope, receive, send)
            return
        if declared is not None and declared > limit:
            await _refuse(send, 413, f"body larger than {limit} bytes", close=True)
            return

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        received = 0
        body_done = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # later calls only wait for a disconnect (streaming responses)
                return await receive()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise BodyTimeout()
            try:
                message = await asyncio.wait_for(receive(), remaining)
            except TimeoutError as exc:
                raise BodyTimeout() from exc
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(send, 413, f"body larger than {limit} bytes", close=True)
        except BodyTimeout:
            if started:
                raise
            await _refuse(send, 408, f"body not received within {self.body_timeout:g} seconds", close=True)
