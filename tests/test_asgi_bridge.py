"""The streaming ASGI bridge (``mediagate.adapters.cloudflare.asgi_bridge``) under CPython.

The bridge runs unchanged against :mod:`ffi`'s pure-Python stand-ins: requests are
JS-shaped namespaces (``method``, ``url``, ``headers``, ``body`` as a ``PyReadableStream``,
``cf``), responses come back as ``ffi.PyResponse`` with a ``PyReadableStream`` body when
streamed. tests/test_pyodide_worker.py runs the same code on Pyodide against JS streams.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import types
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from mediagate.adapters.cloudflare import asgi_bridge, ffi
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def run(coro):
    return asyncio.run(coro)


class Ctx:
    def __init__(self) -> None:
        self.pending: list[asyncio.Future[Any]] = []

    def waitUntil(self, future: asyncio.Future[Any]) -> None:  # the JS name
        self.pending.append(future)


class Source:
    """A request body of ``count`` pieces; ``pulled`` says how many were produced so far."""

    def __init__(self, count: int, size: int = 1000, fail_after: int | None = None) -> None:
        self.count, self.size, self.fail_after = count, size, fail_after
        self.pulled = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        for i in range(self.count):
            if self.fail_after is not None and i >= self.fail_after:
                raise ConnectionResetError("the client aborted the upload")
            self.pulled += 1
            await asyncio.sleep(0)
            yield bytes([i % 256]) * self.size

    @property
    def data(self) -> bytes:
        return b"".join(bytes([i % 256]) * self.size for i in range(self.count))


def request(
    url: str = "https://api.example.com/api/x",
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
    body: Any = None,
    cf: Any = None,
) -> SimpleNamespace:
    return SimpleNamespace(method=method, url=url, headers=headers or [], body=body, cf=cf)


# -- scope ------------------------------------------------------------------------------------


def test_scope_from_a_request():
    req = request(
        "https://api.example.com:8443/api/files/a%20b/%C3%A9?x=1&y=%20",
        method="post",
        headers=[("Content-Type", "text/plain"), ("CF-Connecting-IP", "203.0.113.9"), ("X-Thing", "caf\xe9")],
    )
    scope = asgi_bridge.build_scope(req)
    assert scope["type"] == "http" and scope["method"] == "POST"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["path"] == "/api/files/a b/é" and scope["raw_path"] == b"/api/files/a%20b/%C3%A9"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["scheme"] == "https" and scope["server"] == ("api.example.com", 8443)
    assert scope["client"] == ("203.0.113.9", 0)
    assert (b"content-type", b"text/plain") in scope["headers"]
    assert (b"x-thing", b"caf\xe9") in scope["headers"]  # header values are latin-1 bytes

    plain = asgi_bridge.build_scope(request("http://localhost/"))
    assert plain["server"] == ("localhost", 80) and plain["client"] is None and plain["path"] == "/"


def test_request_cf_location_replaces_client_headers():
    spoofed = [("X-Mediagate-Country", "US"), ("X-Mediagate-Continent", "NA"), ("Accept", "*/*")]
    scope = asgi_bridge.build_scope(request(headers=spoofed, cf=SimpleNamespace(country="DE", continent="EU")))
    location = [(k, v) for k, v in scope["headers"] if k.startswith(b"x-mediagate-")]
    assert sorted(location) == [(b"x-mediagate-continent", b"EU"), (b"x-mediagate-country", b"DE")]

    # cf without a continent: the client's continent header is still dropped.
    scope = asgi_bridge.build_scope(request(headers=spoofed, cf=SimpleNamespace(country="CH")))
    assert [(k, v) for k, v in scope["headers"] if k.startswith(b"x-mediagate-")] == [(b"x-mediagate-country", b"CH")]

    # No request.cf (local development, tests): the headers pass through.
    scope = asgi_bridge.build_scope(request(headers=spoofed))
    assert (b"x-mediagate-continent", b"NA") in scope["headers"]


def test_workers_py_request_wrapper_is_unwrapped():
    inner = request("https://x.example/y")
    wrapper = SimpleNamespace(js_object=inner)
    assert asgi_bridge.unwrap_request(wrapper) is inner
    assert asgi_bridge.unwrap_request(inner) is inner


# -- request bodies ------------------------------------------------------------------------------


def test_request_body_arrives_chunk_by_chunk_then_disconnect_after_the_response():
    source = Source(count=20)
    seen: dict[str, Any] = {"messages": []}

    async def app(scope, receive, send):
        while True:
            message = await receive()
            if not seen["messages"]:
                seen["pulled_at_first"] = source.pulled
            seen["messages"].append(message)
            if not message.get("more_body"):
                break

        async def late_receive():
            seen["late"] = await receive()

        waiter = asyncio.ensure_future(late_receive())
        await asyncio.sleep(0.01)
        seen["blocked_before_response"] = not waiter.done()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        await waiter

    async def go():
        req = request(method="PUT", body=ffi.PyReadableStream(source.chunks()))
        response = await asgi_bridge.fetch(app, req, Ctx())
        assert response.status == 200 and await response.read() == b"ok"

    run(go())
    messages = seen["messages"]
    assert seen["pulled_at_first"] == 1  # nothing was read ahead of the app
    assert len(messages) == 21 and all(m["type"] == "http.request" for m in messages)
    assert [m["more_body"] for m in messages] == [True] * 20 + [False]
    assert b"".join(m["body"] for m in messages) == source.data
    assert seen["blocked_before_response"] and seen["late"] == {"type": "http.disconnect"}


def test_no_body_is_one_empty_message():
    async def app(scope, receive, send):
        message = await receive()
        assert message == {"type": "http.request", "body": b"", "more_body": False}
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b""})

    async def go():
        response = await asgi_bridge.fetch(app, request(), Ctx())
        assert response.status == 200 and await response.read() == b""

    run(go())


def test_byte_stream_body_crosses_in_large_byob_steps():
    """A byte stream (every request body in workerd) is read with readAtLeast into one
    reused buffer: the app gets 1 MiB messages, not the runtime's 4 KiB pieces."""
    source = Source(count=700, size=4096)  # 2.73 MiB in 4 KiB pieces
    body = ffi.PyReadableStream(source.chunks(), byte_stream=True)
    sizes: list[int] = []
    received = bytearray()

    async def app(scope, receive, send):
        while True:
            message = await receive()
            if message["body"]:
                sizes.append(len(message["body"]))
                received.extend(message["body"])
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body", "body": b""})

    async def go():
        headers = [("Content-Length", str(700 * 4096))]
        response = await asgi_bridge.fetch(app, request(method="PATCH", headers=headers, body=body), Ctx())
        assert response.status == 204

    run(go())
    assert bytes(received) == source.data
    mib = asgi_bridge.BODY_READ_STEP
    assert sizes == [mib, mib, 700 * 4096 - 2 * mib]
    assert body.reads == 4  # three steps and the end: 4 crossings instead of 701
    assert not body.locked


def test_small_byte_stream_body_reads_no_more_than_its_length():
    source = Source(count=3, size=10)
    body = ffi.PyReadableStream(source.chunks(), byte_stream=True)
    seen: list[bytes] = []

    async def app(scope, receive, send):
        while (message := await receive())["more_body"]:
            seen.append(message["body"])
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body", "body": b""})

    async def go():
        await asgi_bridge.fetch(app, request(method="PUT", headers=[("content-length", "30")], body=body), Ctx())

    run(go())
    assert seen == [source.data]


def test_js_stream_extension_hands_the_stream_to_the_response():
    """``http.response.js_stream``: the JS stream becomes the Response body as it is (the
    bytes never pass through Python); headers and status are kept."""
    stream = ffi.PyReadableStream(Source(count=4).chunks(), known_length=4000, byte_stream=True)
    headers = [(b"content-length", b"4000"), (b"etag", b'"abc"'), (b"content-range", b"bytes 0-3999/9000")]

    async def app(scope, receive, send):
        assert asgi_bridge.JS_STREAM in scope["extensions"]
        await send({"type": "http.response.start", "status": 206, "headers": headers})
        await send({"type": asgi_bridge.JS_STREAM, "stream": stream})

    async def go():
        ctx = Ctx()
        response = await asgi_bridge.fetch(app, request(), ctx)
        assert response.status == 206 and response.body is stream
        assert response.header("content-length") == "4000" and response.header("etag") == '"abc"'
        assert response.header("content-range") == "bytes 0-3999/9000"
        assert await response.read() == Source(count=4).data
        for pending in ctx.pending:
            await pending

    run(go())


def test_js_stream_extension_for_head_cancels_the_stream_and_misuse_fails(caplog):
    stream = ffi.PyReadableStream(Source(count=2).chunks())

    async def head_app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2000")]})
        await send({"type": asgi_bridge.JS_STREAM, "stream": SimpleNamespace(cancel=lambda: stream._cancel(None))})

    async def late_app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": asgi_bridge.JS_STREAM, "stream": stream})

    async def go():
        response = await asgi_bridge.fetch(head_app, request(method="HEAD"), Ctx())
        assert response.status == 200 and response.body is None and stream.cancelled is not None
        ctx = Ctx()
        response = await asgi_bridge.fetch(late_app, request(), ctx)
        for pending in ctx.pending:
            await pending
        with pytest.raises(TypeError):  # the body already started: it is errored, not swapped
            await response.read()

    run(go())


def test_broken_request_body_is_a_disconnect():
    source = Source(count=10, fail_after=3)
    got: list[dict] = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            got.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": [(b"upload-offset", b"3000")]})
        await send({"type": "http.response.body", "body": b""})

    async def go():
        response = await asgi_bridge.fetch(app, request(method="PATCH", body=ffi.PyReadableStream(source.chunks())))
        assert response.status == 204 and response.body is None and response.header("upload-offset") == "3000"

    run(go())
    assert [m["type"] for m in got] == ["http.request"] * 3 + ["http.disconnect"]


# -- responses ---------------------------------------------------------------------------------------


def test_complete_body_is_a_plain_response_with_repeated_headers():
    async def app(scope, receive, send):
        headers = [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": b"created"})

    async def go():
        ctx = Ctx()
        response = await asgi_bridge.fetch(app, request(), ctx)
        assert response.status == 201 and response.body == b"created"
        assert [v for k, v in response.headers if k == "set-cookie"] == ["a=1", "b=2"]

    run(go())


def test_streamed_response_returns_early_with_back_pressure():
    progress = {"sent": 0}

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"50")]})
        for i in range(10):
            await send({"type": "http.response.body", "body": bytes([i]) * 5, "more_body": True})
            progress["sent"] += 1
        await send({"type": "http.response.body", "body": b""})
        progress["done"] = True

    async def go():
        ctx = Ctx()
        response = await asgi_bridge.fetch(app, request(), ctx)
        assert response.status == 200 and isinstance(response.body, ffi.PyReadableStream)
        assert response.body.known_length == 50  # a FixedLengthStream on Workers
        [task] = ctx.pending  # the app's task, kept alive by ctx.waitUntil
        await asyncio.sleep(0.05)
        assert progress["sent"] <= 2 and not task.done()  # nobody reads: the app waits
        reader = response.body.getReader()
        chunks = []
        while not (chunk := await reader.read()).done:
            chunks.append(chunk.value)
        assert chunks == [bytes([i]) * 5 for i in range(10)]
        await task
        assert progress.get("done") is True

    run(go())


def test_unknown_length_streams_without_a_known_length():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b", "more_body": False})

    async def go():
        response = await asgi_bridge.fetch(app, request(), Ctx())
        assert response.body.known_length is None and await response.read() == b"ab"

    run(go())


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 204), ("GET", 304)])
def test_null_body_for_head_204_304(method, status):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"7")]})
        await send({"type": "http.response.body", "body": b"ignored", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def go():
        ctx = Ctx()
        response = await asgi_bridge.fetch(app, request(method=method), ctx)
        assert response.status == status and response.body is None and response.header("content-length") == "7"
        for task in ctx.pending:
            await task

    run(go())


# -- errors and disconnects --------------------------------------------------------------------------


def test_error_before_the_response_is_500_json(caplog):
    async def boom(scope, receive, send):
        raise RuntimeError("secret detail")

    async def silent(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})

    async def go():
        for app in (boom, silent):
            response = await asgi_bridge.fetch(app, request(), Ctx())
            assert response.status == 500 and response.header("content-type") == "application/json"
            body = json.loads(response.body)
            assert isinstance(body["error"], str) and "secret detail" not in body["error"]

    run(go())
    assert "the app failed before responding" in caplog.text


def test_error_after_a_complete_response_leaves_it_alone():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"fine"})
        raise RuntimeError("too late")

    async def go():
        ctx = Ctx()
        response = await asgi_bridge.fetch(app, request(), ctx)
        assert response.status == 200 and response.body == b"fine"
        for task in ctx.pending:
            await task  # the bridge logged it; the task itself does not fail

    run(go())


def test_error_midstream_breaks_the_body():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("disk on fire")

    async def go():
        response = await asgi_bridge.fetch(app, request(), Ctx())
        reader = response.body.getReader()
        assert (await reader.read()).value == b"part"
        with pytest.raises(TypeError, match="stream errored"):
            await reader.read()

    run(go())


def test_app_returning_midstream_breaks_the_body():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})

    async def go():
        response = await asgi_bridge.fetch(app, request(), Ctx())
        with pytest.raises(TypeError, match="ended its response early"):
            await response.read()

    run(go())


def test_client_going_away_raises_oserror_in_the_app():
    seen: dict[str, Any] = {"sent": 0}

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x" * 100, "more_body": True})
                seen["sent"] += 1
        except OSError as exc:
            seen["error"] = exc
        seen["after"] = [await receive(), await receive()]  # the (empty) request, then the disconnect
        raise RuntimeError("the app gives up")  # logged quietly: the client is gone

    async def go():
        ctx = Ctx()
        response = await asgi_bridge.fetch(app, request(), ctx)
        reader = response.body.getReader()
        for _ in range(3):
            await reader.read()
        await reader.cancel("the reader stopped")
        await asyncio.wait_for(ctx.pending[0], 2)

    run(go())
    assert isinstance(seen["error"], OSError) and "the reader stopped" in str(seen["error"])
    assert seen["after"] == [{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"}]
    assert 3 <= seen["sent"] <= 5


# -- a real Starlette app -----------------------------------------------------------------------------


def test_starlette_streams_both_ways():
    received: list[int] = []

    async def upload(request: Request) -> Response:
        total = 0
        async for chunk in request.stream():
            if chunk:
                received.append(len(chunk))
                total += len(chunk)
        return JSONResponse({"bytes": total})

    async def download(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for i in range(8):
                yield bytes([i]) * 4096

        return StreamingResponse(body(), headers={"content-length": str(8 * 4096)})

    app = Starlette(routes=[Route("/up", upload, methods=["POST"]), Route("/down", download)])

    async def go():
        source = Source(count=12, size=5000)
        response = await asgi_bridge.fetch(
            app, request("http://t/up", "POST", body=ffi.PyReadableStream(source.chunks())), Ctx()
        )
        assert json.loads(response.body) == {"bytes": 60000}
        ctx = Ctx()
        response = await asgi_bridge.fetch(app, request("http://t/down"), ctx)
        assert response.body.known_length == 8 * 4096
        assert await response.read() == b"".join(bytes([i]) * 4096 for i in range(8))
        await ctx.pending[0]

    run(go())
    assert received == [5000] * 12


# -- the Worker entry -------------------------------------------------------------------------------------


@pytest.fixture()
def entry_module(monkeypatch):
    """worker/src/entry.py with a stand-in ``workers`` module (the SDK needs Pyodide)."""

    class WorkerEntrypoint:
        def __init__(self, ctx: Any, env: Any) -> None:
            self.ctx = ctx
            self.env = env

    workers = types.ModuleType("workers")
    workers.WorkerEntrypoint = WorkerEntrypoint  # type: ignore[attr-defined]
    workers.DurableObject = WorkerEntrypoint  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "workers", workers)
    sys.modules.pop("entry", None)
    module = importlib.import_module("entry")
    yield module
    sys.modules.pop("entry", None)


def test_entry_serves_through_the_bridge(entry_module, monkeypatch):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-path", scope["path"].encode())]})
        await send({"type": "http.response.body", "body": b"hi"})

    monkeypatch.setitem(entry_module._isolate, "app", app)
    response = run(entry_module.Default(Ctx(), SimpleNamespace()).fetch(request("https://w.example/api/health")))
    assert response.status == 200 and response.header("x-path") == "/api/health" and response.body == b"hi"


def test_entry_answers_500_json_when_the_env_is_unusable(entry_module, monkeypatch):
    monkeypatch.setattr(entry_module, "_isolate", {})
    env = SimpleNamespace(BUCKET=object(), JOBS=object())  # no JWT_SECRET, no DATABASE_URL
    response = run(entry_module.Default(Ctx(), env).fetch(request()))
    assert response.status == 500 and json.loads(response.body) == {
        "error": "service misconfigured; see the Worker logs"
    }
