"""A streaming ASGI bridge for the Python Worker: one JS ``Request`` in, one JS ``Response`` out.

workers-py's ``asgi.fetch`` reads the whole request body into memory before the app
runs, so a tus PATCH of up to ~100 MB would sit whole in a 128 MB isolate. This bridge
streams both ways instead, with nothing but the :mod:`ffi` helpers and asyncio (no
threads, Pyodide-safe):

* **Request body.** ``receive()`` reads the JS body stream one step per call and answers
  one ``http.request`` message per step with ``more_body=True``, then an empty one with
  ``more_body=False``. A byte stream (any request body in workerd) is read with a BYOB
  reader, ``readAtLeast(1 MiB)`` into one reused buffer (:func:`ffi.async_iter_js_stream`),
  so a body crosses into Python per MiB, not in the runtime's 4 KiB pieces (each crossing
  costs far more CPU than copying the bytes); other streams are read chunk by chunk.
  Nothing is read ahead of the app, so back-pressure reaches the client. After the body,
  ``receive()`` waits until the response is complete (or the client is gone) and then answers
  ``http.disconnect``, as the ASGI spec expects. A body that fails to read (the client
  aborted the upload) answers ``http.disconnect`` at once: tus keeps what arrived.
* **Response.** ``http.response.start`` is held until the first ``http.response.body``
  message. A complete body (``more_body`` false) becomes a plain ``Response``; otherwise
  the ``Response`` gets the readable side of an :class:`ffi.ResponseStream` and is
  returned at once, while the app's task keeps producing: each ``send`` returns once its
  chunk is queued (one chunk at most), so a slow client slows the app down and memory
  stays at about a chunk or two; the last message waits until the client has read
  everything. A declared Content-Length is kept (the stream is piped through a
  ``FixedLengthStream``). ``ctx.waitUntil`` holds the isolate until the app's task
  ends. HEAD requests and the null-body statuses (101, 103, 204, 205, 304) get a null
  body; whatever body the app sends for them is dropped.
* **Request bodies that stay in JS.** A request with a body also offers the
  ``mediagate.request.body_chunks`` extension (:data:`mediagate.ports.BODY_CHUNKS`):
  ``open()`` returns the body as :class:`ffi.JsChunk` s, 1 MiB BYOB reads into fresh JS
  buffers that Python only holds handles to; the tus PATCH path streams them on to R2
  ``uploadPart`` (through the part's ``FixedLengthStream``) without copying a byte into
  Python. A body that breaks off raises ``ConnectionError``.
* **JS bodies.** The scope advertises the ``http.response.js_stream`` extension
  (:data:`JS_STREAM`): after ``http.response.start`` the app may send
  ``{"type": "http.response.js_stream", "stream": <JS ReadableStream>}`` instead of body
  messages, and that stream becomes the Response body as it is. The R2 store sends object
  bodies this way (downloads, previews, HLS), so those bytes never enter Python.
* **Errors.** An exception (or no response at all) before the response is returned gives
  a 500 JSON ``{"error": ...}``, never the runtime's error page; after streaming started
  the body is errored, so the client sees a broken body rather than a silently short
  one. When the client goes away (the body is cancelled) the app's next ``send`` raises
  ``OSError`` (ASGI HTTP spec 2.4, so Starlette streams without a disconnect-listener
  task).

The scope carries ``client`` from ``CF-Connecting-IP`` and ``server``/``scheme`` from the
URL. When the request has ``request.cf``, its ``country`` and ``continent`` replace any
client-sent ``X-Mediagate-Country`` / ``X-Mediagate-Continent`` headers (the files API
picks the download region from them; a client cannot spoof its location). No lifespan
events are sent: the app has no startup or shutdown handlers.

Under CPython the same code runs against :mod:`ffi`'s pure-Python stand-ins
(``PyReadableStream``, ``PyResponse``); see
tests/test_asgi_bridge.py. tests/test_pyodide_worker.py runs it on Pyodide.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote, urlsplit

from ...ports import BODY_CHUNKS
from . import ffi

log = logging.getLogger("mediagate.asgi")

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
# The ASGI extension (scope["extensions"] key and message type) that sends a JS
# ReadableStream as the whole response body: {"type": JS_STREAM, "stream": <ReadableStream>}
# after http.response.start. The runtime then moves the bytes (an R2 object body goes
# straight to the Response); Python never iterates them. Mediagate's own, like ASGI's
# http.response.zerocopy / http.response.pathsend for files.
JS_STREAM = "http.response.js_stream"
BODY_READ_STEP = ffi.READ_STEP  # request bodies cross into Python this many bytes at a time
NULL_BODY_STATUSES = frozenset({101, 103, 204, 205, 304})
LOCATION_HEADERS = {"country": b"x-mediagate-country", "continent": b"x-mediagate-continent"}

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

_running: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones


def unwrap_request(request: Any) -> Any:
    """The JS ``Request`` behind a workers-py ``Request`` wrapper (or the request itself)."""
    inner = ffi.js_get(request, "js_object")
    return request if inner is None else inner


def build_scope(request: Any) -> dict[str, Any]:
    """The ASGI HTTP scope of a JS ``Request``."""
    url = urlsplit(str(request.url))
    scheme = url.scheme or "https"
    raw_path = url.path or "/"
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in ffi.header_pairs(request.headers)
    ]
    cf = ffi.js_get(request, "cf")
    if cf is not None:  # production: trust Cloudflare's geolocation over client headers
        headers = [(k, v) for k, v in headers if k not in LOCATION_HEADERS.values()]
        for field, header in LOCATION_HEADERS.items():
            value = ffi.js_get(cf, field)
            if value is not None and str(value):
                headers.append((header, str(value).encode("latin-1")))
    client_ip = next((v.decode("latin-1") for k, v in headers if k == b"cf-connecting-ip"), None)
    port = url.port or (443 if scheme in ("https", "wss") else 80)
    return {
        "type": "http",
        "asgi": dict(ASGI_VERSION),
        "http_version": "1.1",
        "method": str(request.method).upper(),
        "scheme": scheme,
        "path": unquote(raw_path),
        "raw_path": raw_path.encode("latin-1", errors="replace"),
        "query_string": url.query.encode("latin-1", errors="replace"),
        "root_path": "",
        "headers": headers,
        "client": (client_ip, 0) if client_ip else None,
        "server": (url.hostname or "", port),
        "state": {},
        "extensions": {JS_STREAM: {}},
    }


def error_response(status: int, message: str) -> Any:
    """A JSON ``{"error": message}`` response."""
    body = json.dumps({"error": message}).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    return ffi.new_response(ffi.to_js_bytes(body), status, headers)


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length":
            value = value.strip()
            return int(value) if value.isdigit() else None
    return None


class _Exchange:
    """One request/response: the ASGI ``receive``/``send`` pair and the app's task."""

    def __init__(self, request: Any, scope: dict[str, Any]) -> None:
        self.scope = scope
        self.head = scope["method"] == "HEAD"
        body = ffi.js_get(request, "body")
        self._js_body = body
        self._body: AsyncGenerator[bytes, None] | None = None
        self._step = BODY_READ_STEP
        if body is not None:
            length = _content_length([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]])
            self._step = BODY_READ_STEP if length is None else max(1, min(BODY_READ_STEP, length))
            self._body = ffi.async_iter_js_stream(body, step=self._step)
            scope["extensions"] = {**scope.get("extensions", {}), BODY_CHUNKS: {"open": self._open_chunks}}
        self._body_started = False  # receive() has read from the body
        self._request_done = False  # the last http.request (or a disconnect) was delivered
        self._read_lock = asyncio.Lock()
        self.response: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.finished = asyncio.Event()  # the response is complete, or can no longer complete
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._started = False
        self._null_body = False
        self._complete = False
        self._stream: ffi.ResponseStream | None = None
        self.disconnected = False  # a body write failed: the client stopped reading

    # -- receive ------------------------------------------------------------------------

    async def receive(self) -> Message:
        async with self._read_lock:
            while not self._request_done:
                if self._body is None:  # no body at all: one empty message
                    self._request_done = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                try:
                    self._body_started = True
                    chunk = await self._body.__anext__()
                except StopAsyncIteration:
                    self._request_done = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                except Exception as exc:
                    self._request_done = True
                    log.info("request body of %s %s broke off: %s", self.scope["method"], self.scope["path"], exc)
                    return {"type": "http.disconnect"}
                if chunk:
                    return {"type": "http.request", "body": chunk, "more_body": True}
        await self.finished.wait()
        return {"type": "http.disconnect"}

    def _open_chunks(self) -> AsyncIterator[ffi.JsChunk]:
        """The BODY_CHUNKS extension: the body as chunks that stay in JS memory (1 MiB
        BYOB steps); receive() then answers as after the last body message."""
        if self._body_started or self._request_done:
            raise RuntimeError("the request body was already read through receive()")
        self._request_done = True
        return self._js_chunks()

    async def _js_chunks(self) -> AsyncIterator[ffi.JsChunk]:
        try:
            async for chunk in ffi.js_chunks(self._js_body, step=self._step):
                yield chunk
        except Exception as exc:
            log.info("request body of %s %s broke off: %s", self.scope["method"], self.scope["path"], exc)
            raise ConnectionError(f"the request body broke off: {exc}") from exc

    # -- send ---------------------------------------------------------------------------

    def _resolve(self, response: Any) -> None:
        if not self.response.done():
            self.response.set_result(response)

    def _finish(self) -> None:
        self._complete = True
        self.finished.set()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self._started:
                raise RuntimeError("http.response.start sent twice")
            self._started = True
            self._status = int(message["status"])
            self._headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers") or ()]
            if self.head or self._status in NULL_BODY_STATUSES:
                self._null_body = True
                self._resolve(ffi.new_response(None, self._status, self._headers))
            return
        if kind == JS_STREAM:
            self._send_js_stream(message["stream"])
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        if not self._started:
            raise RuntimeError("http.response.body before http.response.start")
        if self._complete:
            if self.disconnected:
                raise OSError("the client disconnected")
            raise RuntimeError("http.response.body after the response was complete")
        body = bytes(message.get("body") or b"")
        more = bool(message.get("more_body", False))
        if self._null_body:
            if not more:
                self._finish()
            return
        if self._stream is None:
            if not more:  # the whole body at once: no stream needed
                self._resolve(ffi.new_response(ffi.to_js_bytes(body), self._status, self._headers))
                self._finish()
                return
            self._stream = ffi.ResponseStream(_content_length(self._headers))
            self._resolve(ffi.new_response(self._stream.readable, self._status, self._headers))
        try:
            if body:
                await self._stream.write(body)
            if not more:
                await self._stream.close()
        except ffi.ResponseGone as exc:
            self.disconnected = True
            self._finish()
            raise OSError(f"the client disconnected: {exc}") from exc
        if not more:
            self._finish()

    def _send_js_stream(self, stream: Any) -> None:
        """The JS_STREAM extension: ``stream`` is the whole body, handed to the Response as
        it is (the runtime sends it; an R2 object body keeps its known length)."""
        if not self._started:
            raise RuntimeError(f"{JS_STREAM} before http.response.start")
        if self._complete or self._stream is not None:
            raise RuntimeError(f"{JS_STREAM} after the body started")
        if self._null_body:
            try:
                stream.cancel()
            except Exception:
                pass
        else:
            self._resolve(ffi.new_response(stream, self._status, self._headers))
        self._finish()

    def _abort(self, reason: str) -> None:
        self.finished.set()
        if self._stream is not None and not self._complete:
            self._complete = True
            self._stream.abort(reason)

    # -- the app's task -------------------------------------------------------------------

    async def run(self, app: ASGIApp) -> None:
        what = f"{self.scope['method']} {self.scope['path']}"
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            if not self.response.done():
                log.error("the app failed before responding to %s", what, exc_info=exc)
                self._resolve(error_response(500, "internal error: the request failed before a response was sent"))
            elif self.disconnected:
                log.info("client went away during %s: %s", what, exc)
            else:
                log.error("the app failed after its response to %s started", what, exc_info=exc)
            self._abort(f"response failed: {type(exc).__name__}")
            if not isinstance(exc, Exception):
                raise  # cancellation and friends
        else:
            if not self.response.done():
                log.error("the app sent no complete response to %s", what)
                self._resolve(error_response(500, "internal error: the application sent no response"))
            elif not self._complete:
                log.error("the app returned before finishing its response to %s", what)
            self._abort("the application ended its response early")
        finally:
            self.finished.set()
            if self._body is not None:
                try:
                    await self._body.aclose()  # releases the reader's lock
                except Exception:
                    pass


async def fetch(app: ASGIApp, request: Any, ctx: Any = None) -> Any:
    """Serve ``request`` (a JS ``Request`` or workers-py wrapper) with the ASGI ``app``.

    Returns the JS ``Response`` as soon as its headers are known; a streamed body keeps
    being written by the app's task, which ``ctx.waitUntil`` keeps alive."""
    request = unwrap_request(request)
    try:
        scope = build_scope(request)
    except Exception:
        log.exception("could not read the request")
        return error_response(400, "malformed request")
    exchange = _Exchange(request, scope)
    task = asyncio.ensure_future(exchange.run(app))
    _running.add(task)
    task.add_done_callback(_running.discard)
    try:
        response = await asyncio.shield(exchange.response)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not task.done():
        ffi.wait_until(ctx, task)
    return response
