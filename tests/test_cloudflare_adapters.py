"""The Cloudflare adapters under CPython, against JS-shaped fakes and real components.

* ``R2ObjectStore`` talks to ``FakeR2Bucket``: async methods with the R2 binding's names,
  argument shapes and result attributes (``key``, ``size``, ``etag``, ``httpMetadata``,
  ``body`` streams read with ``getReader()``), backed by the real ``LocalObjectStore`` so
  R2's multipart rules are enforced; stream bodies must have a known length, as on R2.
* The real tus engine runs through the Starlette app (httpx.ASGITransport) on R2ObjectStore
  with the local Postgres, and once more with ``NeonHttpDatabase`` speaking Neon's
  SQL-over-HTTP to ``tests/support/neon_http_fixture.py`` (a protocol-faithful endpoint on
  the same real Postgres).
* ``CloudflareQueue.send`` and the Worker entry (with a stand-in ``workers`` module).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import importlib
import json
import os
import sys
import time
import types
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import psycopg
import pytest
from mediagate.adapters.cloudflare import asgi_bridge, ffi
from mediagate.adapters.cloudflare.neon_http import NeonDbError, NeonHttpDatabase, make_httpx_fetch, prepare_value
from mediagate.adapters.cloudflare.queue_producer import CloudflareQueue, QueueSendError
from mediagate.adapters.cloudflare.queue_stats import JobTableQueueStats
from mediagate.adapters.cloudflare.r2_store import R2ObjectStore
from mediagate.adapters.cloudflare.worker import build_services
from mediagate.adapters.local.fs_store import LocalObjectStore
from mediagate.adapters.local.postgres import PostgresDatabase
from mediagate.api.app import create_app
from mediagate.auth import issue_token
from mediagate.config import Settings
from mediagate.ports import CompletedPart, Database, NoSuchUpload, StoreError
from mediagate.services import Services
from mediagate.webhooks import signed_headers
from support.neon_http_fixture import NeonHttpFixture
from tus_helpers import OCTET, TUS, metadata

MIB = 1024 * 1024
SECRET = "test-secret-for-cloudflare-adapter-tests"
NEON_URL = "http://neon.test/sql"


def run(coro):
    return asyncio.run(coro)


# -- a JS-shaped R2 binding ------------------------------------------------------------------


class FakeJsError(Exception):
    """A rejected JS promise as Python sees it (like ``pyodide.ffi.JsException``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _field(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def _opt(options: Any, name: str) -> Any:
    if options is None:
        return None
    return options.get(name) if isinstance(options, dict) else getattr(options, name, None)


async def _drain(stream: ffi.PyReadableStream) -> AsyncIterator[bytes]:
    """Read a stream the way the JS runtime does: getReader() and read() until done."""
    reader = stream.getReader()
    while True:
        result = await reader.read()
        if result.done:
            return
        yield bytes(result.value)


class FakeDate:
    """A JS ``Date`` as Pyodide proxies it: ``getTime()`` in milliseconds."""

    def __init__(self, seconds: float) -> None:
        self._ms = seconds * 1000

    def getTime(self) -> float:
        return self._ms


class FakeR2Bucket:
    """The R2 binding's surface (put/get/head/delete/list/createMultipartUpload/
    resumeMultipartUpload) on a LocalObjectStore. Results are attribute objects like the
    JsProxies Pyodide hands back; missing optional properties raise AttributeError."""

    def __init__(self, local: LocalObjectStore) -> None:
        self.local = local
        self.etags: dict[str, str] = {}
        self.delete_batches: list[int] = []
        self.list_calls = 0
        self.part_bodies: list[tuple[str, int | None]] = []  # (kind, known length) per uploadPart
        self.bodies: list[ffi.PyReadableStream] = []  # every object body get() handed out
        self.uploaded: dict[str, float] = {}  # key -> when written (R2's ``uploaded`` Date)

    def _object(self, key: str, size: int, content_type: str | None) -> SimpleNamespace:
        http = SimpleNamespace(contentType=content_type) if content_type else SimpleNamespace()
        etag = self.etags.get(key, "0" * 32)
        return SimpleNamespace(
            key=key,
            size=size,
            etag=etag,
            httpEtag=f'"{etag}"',
            httpMetadata=http,
            customMetadata=SimpleNamespace(),
            version=uuid.uuid4().hex,
            storageClass="Standard",
            uploaded=FakeDate(self.uploaded.get(key, time.time())),
        )

    @staticmethod
    def _body(value: Any) -> tuple[bytes | AsyncIterator[bytes], int, str]:
        if value is None:
            return b"", 0, "null"
        if isinstance(value, str):
            data = value.encode()
            return data, len(data), "string"
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value), len(value), "bytes"
        if isinstance(value, ffi.PyReadableStream):
            if value.known_length is None:
                raise FakeJsError(
                    "TypeError: Provided readable stream must have a known length (request/response body or "
                    "readable half of FixedLengthStream)"
                )
            return _drain(value), value.known_length, "stream"
        raise FakeJsError(f"TypeError: unsupported body type {type(value).__name__}")

    async def put(self, key: str, value: Any, options: Any = None) -> SimpleNamespace:
        data, size, _ = self._body(value)
        content_type = _opt(_opt(options, "httpMetadata"), "contentType")
        try:
            if isinstance(data, bytes):
                info = await self.local.put(key, data, content_type=content_type)
            else:
                written = 0

                async def counted() -> AsyncIterator[bytes]:
                    nonlocal written
                    async for chunk in data:
                        written += len(chunk)
                        yield chunk

                info = await self.local.put(key, counted(), content_type=content_type)
                if written != size:
                    raise FakeJsError(f"put: stream delivered {written} of {size} bytes")
        except StoreError as exc:
            raise FakeJsError(f"put: {exc} (10001)") from exc
        self.etags[key] = uuid.uuid4().hex
        return self._object(key, info.size, content_type)

    async def head(self, key: str) -> SimpleNamespace | None:
        info = await self.local.head(key)
        return None if info is None else self._object(key, info.size, info.content_type)

    async def get(self, key: str, options: Any = None) -> SimpleNamespace | None:
        info = await self.local.head(key)
        if info is None:
            return None
        start, end = 0, info.size
        range_ = _opt(options, "range")
        if range_ is not None:
            offset = _opt(range_, "offset") or 0
            length = _opt(range_, "length")
            if offset >= info.size:  # R2 (like S3) refuses a range that starts at/after the end
                raise FakeJsError("get: The requested range is not satisfiable (10039)")
            start = offset
            end = info.size if length is None else min(info.size, offset + length)
        body = await self.local.get(key, start=start, end=end)
        assert body is not None
        obj = self._object(key, info.size, info.content_type)
        obj.body = ffi.PyReadableStream(body, known_length=end - start, byte_stream=True)  # R2: a byte stream
        obj.bodyUsed = False
        self.bodies.append(obj.body)
        return obj

    async def delete(self, keys: Any) -> None:
        batch = [keys] if isinstance(keys, str) else list(keys)
        if len(batch) > 1000:
            raise FakeJsError("delete: You can only delete up to 1000 keys at once (10013)")
        self.delete_batches.append(len(batch))
        await self.local.delete(batch)

    async def list(self, options: Any = None) -> SimpleNamespace:
        self.list_calls += 1
        prefix = _opt(options, "prefix") or ""
        limit = _opt(options, "limit") or 1000
        if not 1 <= limit <= 1000:
            raise FakeJsError("list: limit must be within 1..1000 (10022)")
        cursor = _opt(options, "cursor")
        start = int(cursor.split(":", 1)[1]) if cursor else 0
        keys = await self.local.list_keys(prefix)
        page = keys[start : start + limit]
        objects = []
        for key in page:
            info = await self.local.head(key)
            assert info is not None
            objects.append(self._object(key, info.size, info.content_type))
        truncated = start + limit < len(keys)
        result = SimpleNamespace(objects=objects, truncated=truncated, delimitedPrefixes=[])
        if truncated:
            result.cursor = f"c:{start + limit}"
        return result

    async def createMultipartUpload(self, key: str, options: Any = None) -> FakeMultipartUpload:
        content_type = _opt(_opt(options, "httpMetadata"), "contentType")
        upload_id = await self.local.create_multipart(key, content_type=content_type)
        return FakeMultipartUpload(self, key, upload_id)

    def resumeMultipartUpload(self, key: str, upload_id: str) -> FakeMultipartUpload:  # sync, as on R2
        return FakeMultipartUpload(self, key, upload_id)


class FakeMultipartUpload:
    def __init__(self, bucket: FakeR2Bucket, key: str, upload_id: str) -> None:
        self.bucket = bucket
        self.key = key
        self.uploadId = upload_id

    async def uploadPart(self, part_number: int, value: Any) -> SimpleNamespace:
        data, size, kind = self.bucket._body(value)
        self.bucket.part_bodies.append((kind, getattr(value, "known_length", None)))
        try:
            etag = await self.bucket.local.upload_part(self.key, self.uploadId, part_number, data, size)
        except StoreError as exc:
            code = "10024" if "NoSuchUpload" in str(exc) else "10048"
            raise FakeJsError(f"uploadPart: {exc} ({code})") from exc
        return SimpleNamespace(partNumber=part_number, etag=etag)

    async def complete(self, uploaded_parts: Any) -> SimpleNamespace:
        parts = [CompletedPart(int(_field(p, "partNumber")), str(_field(p, "etag"))) for p in uploaded_parts]
        try:
            info = await self.bucket.local.complete_multipart(self.key, self.uploadId, parts)
        except StoreError as exc:
            raise FakeJsError(f"complete: {exc} (10025)") from exc
        self.bucket.etags[self.key] = f"{uuid.uuid4().hex}-{len(parts)}"
        return self.bucket._object(self.key, info.size, info.content_type)

    async def abort(self) -> None:
        upload_dir = self.bucket.local.multipart / self.uploadId
        if not upload_dir.exists():
            raise FakeJsError("abort: The specified multipart upload does not exist. (10024)")
        await self.bucket.local.abort_multipart(self.key, self.uploadId)


class BindingWrapper:
    """Like workers-py's ``_BindingWrapper``: the raw binding sits in ``_binding``."""

    def __init__(self, binding: Any) -> None:
        self._binding = binding

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the adapter must use the raw binding, not wrapper.{name}")


class FakeQueue:
    """The Queues producer binding: ``send(body, options)`` resolves to nothing."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[Any, Any]] = []
        self.fail = fail

    async def send(self, body: Any, options: Any = None) -> None:
        if self.fail:
            raise FakeJsError("send: Queue send failed: queue does not exist (10107)")
        self.sent.append((body, options))


class FakeClock:
    def __init__(self) -> None:
        self.t = time.time()

    def now(self) -> float:
        return self.t


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _read(store: R2ObjectStore, key: str, **kw: int) -> bytes | None:
    body = await store.get(key, **kw)
    if body is None:
        return None
    return b"".join([chunk async for chunk in body])


def _r2(tmp_path: Path) -> tuple[R2ObjectStore, FakeR2Bucket]:
    bucket = FakeR2Bucket(LocalObjectStore(tmp_path / "r2"))
    return R2ObjectStore(bucket), bucket


# -- R2ObjectStore ------------------------------------------------------------------------------------


def test_r2_objects_put_get_range_head(tmp_path):
    async def go() -> None:
        store, _ = _r2(tmp_path)
        info = await store.put("a/obj", b"0123456789", content_type="text/plain")
        assert (info.key, info.size, info.content_type) == ("a/obj", 10, "text/plain")
        assert info.etag
        head = await store.head("a/obj")
        assert head is not None and head.size == 10 and head.content_type == "text/plain"

        assert await _read(store, "a/obj") == b"0123456789"
        assert await _read(store, "a/obj", start=2, end=5) == b"234"
        assert await _read(store, "a/obj", start=7) == b"789"
        assert await _read(store, "a/obj", start=0, end=4096) == b"0123456789"  # clamped, like a file read
        assert await _read(store, "a/obj", start=10, end=20) == b""  # R2 refuses; the adapter clamps
        assert await _read(store, "a/obj", start=5, end=5) == b""
        body = await store.get("a/obj", start=3, end=4)
        assert body is not None and body.info.size == 10  # info describes the object, not the range

        await store.put("empty", b"")  # no content type: httpMetadata.contentType is absent
        empty = await store.head("empty")
        assert empty is not None and empty.size == 0 and empty.content_type is None
        assert await _read(store, "empty", start=0, end=4096) == b""  # any range of an empty object

        assert await store.get("missing") is None
        assert await store.get("missing", start=0, end=10) is None
        assert await store.head("missing") is None

    run(go())


def test_r2_bodies_cross_into_python_per_mib(tmp_path):
    """R2 object bodies are byte streams: iterating one reads 1 MiB steps with a BYOB
    reader (readAtLeast), whatever size the pieces have underneath."""

    async def go() -> None:
        store, bucket = _r2(tmp_path)
        data = os.urandom(3 * MIB + 5)
        await store.put("big", data)
        body = await store.get("big")
        assert body is not None
        sizes = [len(chunk) async for chunk in body]
        assert sizes == [MIB, MIB, MIB, 5] and bucket.bodies[-1].reads == 5
        body = await store.get("big", start=10, end=30)  # a small range: a small buffer
        assert body is not None and body.length == 20
        assert [c async for c in body] == [data[10:30]]

    run(go())


def test_r2_sendable_body_is_the_js_stream(tmp_path):
    """DirectSend: with the bridge's js_stream extension the R2 body stream itself is sent
    (no Python iteration); without it, http.response.body messages."""

    async def go() -> None:
        store, bucket = _r2(tmp_path)
        data = os.urandom(2 * MIB + 1)
        await store.put("obj", data)
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        body = await store.open_sendable("obj", start=1, end=MIB + 1)
        assert body is not None and body.info.size == len(data)
        await body.send(send, {asgi_bridge.JS_STREAM: {}})
        assert sent == [{"type": asgi_bridge.JS_STREAM, "stream": bucket.bodies[-1]}]
        assert bucket.bodies[-1].reads == 0  # Python never read it

        sent.clear()
        body = await store.open_sendable("obj", start=1, end=MIB + 1)
        assert body is not None
        await body.send(send, {})
        assert b"".join(m["body"] for m in sent) == data[1 : MIB + 1]
        assert [m["more_body"] for m in sent] == [True, False]
        assert await store.open_sendable("missing") is None

    run(go())


def test_signed_downloads_send_r2_streams_with_the_same_headers(tmp_path):
    """serve_object through the bridge: with the store's DirectSend ability the Response
    body is R2's stream itself, with exactly the headers (Content-Length, Content-Range,
    ETag, caching) of the Python-iterated fallback, for whole objects and ranges."""

    async def go() -> None:
        store, bucket = _r2(tmp_path)
        data = os.urandom(3 * MIB + 7)
        await store.put("originals/u/v", data, content_type="video/mp4")
        clock = FakeClock()
        seen: dict[tuple[bool, str | None], tuple[int, list[tuple[str, str]], bytes]] = {}
        for direct in (False, True):
            services = Services(
                settings=_settings(),
                store=store,
                db=SimpleNamespace(),
                queue=CloudflareQueue(FakeQueue()),
                queue_stats=JobTableQueueStats(SimpleNamespace()),
                clock=clock,
                direct_send=store if direct else None,
            )
            app = create_app(services)
            url = services.links.url("https://files.example", "originals/u/v", "v", 600, download_name="clip.mp4")
            for range_ in (None, "bytes=1000-2000999", "bytes=-10"):
                headers = [("Range", range_)] if range_ else []
                req = SimpleNamespace(method="GET", url=url, headers=headers, body=None, cf=None)
                pending: list[Any] = []
                ctx = SimpleNamespace(waitUntil=pending.append)
                response = await asgi_bridge.fetch(app, req, ctx)
                if direct:
                    assert response.body is bucket.bodies[-1]  # R2's stream, untouched by Python
                    assert response.body.reads == 0
                body = await response.read()
                for task in pending:
                    await task
                seen[(direct, range_)] = (response.status, sorted(response.headers), body)
        for range_ in (None, "bytes=1000-2000999", "bytes=-10"):
            assert seen[(True, range_)] == seen[(False, range_)], range_
        status, headers, body = seen[(True, "bytes=1000-2000999")]
        assert status == 206 and body == data[1000:2001000]
        assert ("content-range", f"bytes 1000-2000999/{len(data)}") in headers
        assert ("content-length", "2000000") in headers
        status, headers, body = seen[(True, None)]
        assert status == 200 and body == data and ("content-length", str(len(data))) in headers
        assert any(k == "etag" for k, _ in headers) and any(k == "cache-control" for k, _ in headers)

    run(go())


def test_r2_put_streams(tmp_path):
    async def go() -> None:
        store, _ = _r2(tmp_path)
        data = os.urandom(300_001)
        info = await store.put("s/known", _chunks(data, 65_536), size=len(data))
        assert info.size == len(data)
        assert await _read(store, "s/known") == data

        info = await store.put("s/unknown", _chunks(data, 10_000))  # unknown size: collected first
        assert info.size == len(data) and await _read(store, "s/unknown") == data

        with pytest.raises(StoreError, match="more than the declared"):
            await store.put("s/long", _chunks(data, 65_536), size=len(data) - 1)
        with pytest.raises(StoreError, match="ended after"):
            await store.put("s/short", _chunks(data, 65_536), size=len(data) + 1)
        assert await store.head("s/long") is None and await store.head("s/short") is None

    run(go())


def test_r2_delete_batches_and_list_pages(tmp_path):
    async def go() -> None:
        store, bucket = _r2(tmp_path)
        keys = [f"many/{i:05d}" for i in range(2345)]
        for key in keys:
            await bucket.local.put(key, b"x")
        await bucket.local.put("other/1", b"y")

        bucket.list_calls = 0
        assert await store.list_keys("many/") == keys
        assert bucket.list_calls == 3  # 1000 + 1000 + 345, following the cursor
        assert await store.list_keys("other/") == ["other/1"]
        assert await store.list_keys("none/") == []

        await store.delete([*keys, keys[0]])  # duplicates are harmless
        assert bucket.delete_batches == [1000, 1000, 345]
        assert await store.list_keys("many/") == []
        await store.delete([])
        assert bucket.delete_batches == [1000, 1000, 345]

    run(go())


def test_r2_multipart_streams_parts_and_enforces_rules(tmp_path):
    async def go() -> None:
        store, bucket = _r2(tmp_path)
        part1, part2 = os.urandom(5 * MIB), os.urandom(123_457)
        upload_id = await store.create_multipart("mp/ok", content_type="video/mp4")
        etag1 = await store.upload_part("mp/ok", upload_id, 1, _chunks(part1, 1 * MIB + 3), len(part1))
        etag2 = await store.upload_part("mp/ok", upload_id, 2, part2, len(part2))
        assert bucket.part_bodies == [("stream", len(part1)), ("bytes", None)]
        info = await store.complete_multipart("mp/ok", upload_id, [CompletedPart(1, etag1), CompletedPart(2, etag2)])
        assert (info.size, info.content_type) == (len(part1) + len(part2), "video/mp4")
        assert await _read(store, "mp/ok") == part1 + part2

        # R2's equal-part rule surfaces as StoreError at complete time.
        bad = await store.create_multipart("mp/bad")
        etags = []
        for n, size in enumerate([6 * MIB, 5 * MIB, 1], start=1):
            etags.append(CompletedPart(n, await store.upload_part("mp/bad", bad, n, b"\0" * size, size)))
        with pytest.raises(StoreError, match="differ in size"):
            await store.complete_multipart("mp/bad", bad, etags)

        await store.abort_multipart("mp/bad", bad)
        await store.abort_multipart("mp/bad", bad)  # already gone: treated as aborted
        assert bucket.local.open_multipart_count() == 0
        with pytest.raises(StoreError, match="NoSuchUpload"):
            await store.upload_part("mp/bad", bad, 1, b"x", 1)
        with pytest.raises(StoreError, match="part number"):
            await store.upload_part("mp/ok", upload_id, 10_001, b"x", 1)
        with pytest.raises(StoreError, match="declared"):
            await store.upload_part("mp/ok", upload_id, 1, b"xy", 1)

    run(go())


def test_r2_complete_of_a_completed_upload_is_no_such_upload(tmp_path):
    """R2 retires the id on complete; a retried completion must be told apart from a
    refused one (the tus completion then checks for the object)."""

    async def go() -> None:
        store, _ = _r2(tmp_path)
        upload_id = await store.create_multipart("k")
        etag = await store.upload_part("k", upload_id, 1, b"x" * 10, 10)
        assert (await store.complete_multipart("k", upload_id, [CompletedPart(1, etag)])).size == 10
        with pytest.raises(NoSuchUpload, match=r"does not exist"):
            await store.complete_multipart("k", upload_id, [CompletedPart(1, etag)])
        other = await store.create_multipart("k2")
        await store.upload_part("k2", other, 1, b"y" * 10, 10)
        with pytest.raises(StoreError) as refused:
            await store.complete_multipart("k2", other, [CompletedPart(1, "wrong")])
        assert not isinstance(refused.value, NoSuchUpload)

    run(go())


def test_r2_list_objects_pages_with_upload_times(tmp_path):
    async def go() -> None:
        store, bucket = _r2(tmp_path)
        for i in range(5):
            await store.put(f"derived/{i}", b"abc")
        bucket.uploaded["derived/0"] = 1_000_000.0
        page = await store.list_objects("derived/", limit=2)
        assert [(o.key, o.size) for o in page.objects] == [("derived/0", 3), ("derived/1", 3)]
        assert page.objects[0].uploaded == 1_000_000.0 and abs(page.objects[1].uploaded - time.time()) < 60
        keys = [o.key for o in page.objects]
        while page.cursor:
            page = await store.list_objects("derived/", cursor=page.cursor, limit=2)
            keys += [o.key for o in page.objects]
        assert keys == [f"derived/{i}" for i in range(5)]

    run(go())


def test_r2_upload_part_stream_errors(tmp_path):
    class ClientGone(Exception):
        pass

    async def failing() -> AsyncIterator[bytes]:
        yield b"a" * 1000
        raise ClientGone("body interrupted")

    async def go() -> None:
        store, _ = _r2(tmp_path)
        upload_id = await store.create_multipart("mp/err")
        # An error of the body's source propagates as itself, not as a StoreError.
        with pytest.raises(ClientGone):
            await store.upload_part("mp/err", upload_id, 1, failing(), 5000)
        # A body of the wrong length never reaches R2 as a part.
        with pytest.raises(StoreError, match="ended after 4 of the declared 5"):
            await store.upload_part("mp/err", upload_id, 1, _chunks(b"abcd", 2), 5)
        with pytest.raises(StoreError, match="more than the declared 3"):
            await store.upload_part("mp/err", upload_id, 1, _chunks(b"abcd", 2), 3)
        # R2 failing mid-stream (unknown upload) is a StoreError, and the pump is not left hanging.
        with pytest.raises(StoreError, match="NoSuchUpload"):
            await store.upload_part("mp/err", "0" * 32, 1, _chunks(b"abcd" * 1000, 100), 4000)
        await store.abort_multipart("mp/err", upload_id)
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    run(go())


def test_r2_store_unwraps_workers_binding_wrapper(tmp_path):
    async def go() -> None:
        bucket = FakeR2Bucket(LocalObjectStore(tmp_path / "r2"))
        store = R2ObjectStore(BindingWrapper(bucket))
        assert store.bucket is bucket
        await store.put("k", b"v")
        assert await _read(store, "k") == b"v"

    run(go())


# -- CloudflareQueue -----------------------------------------------------------------------------------


def test_cloudflare_queue_send():
    async def go() -> None:
        binding = FakeQueue()
        queue = CloudflareQueue(binding)
        body = {"v": 1, "job_id": "4b0f8d9e-0000-4000-8000-000000000001", "options": {"colorspace": "slog3"}}
        assert await queue.send(body) == body["job_id"]
        assert await queue.send(body, delay_seconds=30) == body["job_id"]
        assert binding.sent == [
            (body, {"contentType": "json"}),
            (body, {"contentType": "json", "delaySeconds": 30}),
        ]
        synthetic = await queue.send({"kind": "ping"})
        assert uuid.UUID(synthetic)  # no job_id: a random id stands in for the unknown message id

        with pytest.raises(QueueSendError, match="128 KB"):
            await queue.send({"job_id": "x", "blob": "x" * 130_000})
        with pytest.raises(QueueSendError, match="delay_seconds"):
            await queue.send(body, delay_seconds=50_000)
        with pytest.raises(QueueSendError, match="does not exist"):
            await CloudflareQueue(FakeQueue(fail=True)).send(body)
        assert len(binding.sent) == 3

    run(go())


# -- NeonHttpDatabase ------------------------------------------------------------------------------------


class NeonClient:
    """NeonHttpDatabase wired to the fixture endpoint through httpx.ASGITransport."""

    def __init__(self, database_url: str) -> None:
        self.fixture = NeonHttpFixture()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.fixture.app))
        self.db = NeonHttpDatabase(database_url, make_httpx_fetch(self.client), endpoint=NEON_URL)

    async def close(self) -> None:
        await self.client.aclose()
        await self.fixture.close()


def test_neon_prepare_value_matches_the_driver():
    assert prepare_value(None) is None
    assert prepare_value(True) == "true" and prepare_value(False) == "false"
    assert prepare_value(42) == "42" and prepare_value(5.0) == "5" and prepare_value(1.25) == "1.25"
    assert prepare_value(float("inf")) == "Infinity" and prepare_value(float("nan")) == "NaN"
    assert prepare_value({"a": [1, None]}) == '{"a": [1, null]}'
    assert prepare_value([1, None, 'q"b\\']) == '{"1",NULL,"q\\"b\\\\"}'
    assert prepare_value([[1, 2], [3]]) == '{{"1","2"},{"3"}}'
    assert prepare_value(b"\x00\xff") == "\\x00ff"
    assert prepare_value(Decimal("2.50")) == "2.50"


def test_neon_endpoint_and_connection_string():
    db = NeonHttpDatabase("postgresql://u:p@ep-cool-name-123.us-east-2.aws.neon.tech/neondb?sslmode=require")
    assert db.endpoint == "https://api.us-east-2.aws.neon.tech/sql"
    assert db.headers["Neon-Raw-Text-Output"] == "true" and db.headers["Neon-Array-Mode"] == "true"
    for bad in ("", "http://u@h/db", "postgresql://h/db", "postgresql://u@h"):
        with pytest.raises(ValueError):
            NeonHttpDatabase(bad)


def test_neon_http_types_rowcounts_and_errors(fresh_database_url):
    async def go() -> None:
        neon = NeonClient(fresh_database_url)
        db = neon.db
        try:
            when = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
            uid = uuid.uuid4()
            [row] = await db.fetch(
                """SELECT $1::int8 AS i8, $2::int4 AS i4, $3::int2 AS i2, $4::float8 AS f8, $5::numeric AS num,
                          $6::bool AS yes, $7::bool AS no, $8::text AS txt, $9::jsonb AS jb, $10::json AS js,
                          $11::int[] AS arr, $12::uuid AS id, $13::timestamptz AS ts, $14::bytea AS raw,
                          $15::text AS nothing, $16::bigint AS whole""",
                2**40,
                7,
                -3,
                1.5,
                Decimal("2.25"),
                True,
                False,
                'he said "hi"',
                {"a": [1, None], "b": "c"},
                "[1, 2]",  # a list would be sent as a Postgres array literal, as by the driver and psycopg
                [1, None, 3],
                uid,
                when,
                b"\x00\xff",
                None,
                5.0,
            )
            assert row["i8"] == 2**40 and row["i4"] == 7 and row["i2"] == -3
            assert row["f8"] == 1.5 and row["num"] == 2.25
            assert row["yes"] is True and row["no"] is False
            assert row["txt"] == 'he said "hi"'
            assert row["jb"] == {"a": [1, None], "b": "c"} and row["js"] == [1, 2]
            assert row["arr"] == "{1,NULL,3}"  # other types stay Postgres text
            assert row["id"] == str(uid)
            assert row["ts"].startswith("2026-03-04")
            assert row["raw"] == "\\x00ff"
            assert row["nothing"] is None and row["whole"] == 5

            assert await db.execute("CREATE TABLE neon_t (id int PRIMARY KEY, v text)") == 0  # rowCount null
            assert await db.execute("INSERT INTO neon_t VALUES ($1, $2), ($3, $4)", 1, "a", 2, None) == 2
            assert await db.execute("UPDATE neon_t SET v = $1", "z") == 2
            assert await db.fetch("SELECT id, v FROM neon_t ORDER BY id") == [{"id": 1, "v": "z"}, {"id": 2, "v": "z"}]
            assert await db.fetch("UPDATE neon_t SET v = 'y' WHERE id = 99") == []
            assert await db.fetch("SELECT 1 AS x WHERE false") == []
            assert await db.execute("DELETE FROM neon_t WHERE id = $1", 1) == 1

            with pytest.raises(NeonDbError) as err:
                await db.execute("INSERT INTO neon_t VALUES ($1, $2)", 2, "dup")
            assert err.value.code == "23505" and "duplicate key" in str(err.value)
            assert err.value.constraint == "neon_t_pkey" and err.value.status == 400
            with pytest.raises(NeonDbError, match="syntax error") as err:
                await db.fetch("SELEC 1")
            assert err.value.code == "42601"

            sent = neon.fixture.requests[-1]
            assert sent["headers"]["neon-connection-string"] == fresh_database_url
            assert sent["headers"]["neon-raw-text-output"] == "true"
            assert sent["headers"]["neon-array-mode"] == "true"
            assert sent["body"] == {"query": "SELEC 1", "params": []}
        finally:
            await neon.close()

        async def down(*_a: Any) -> tuple[int, Any]:
            raise OSError("connection refused")

        async def broken(*_a: Any) -> tuple[int, Any]:
            return 502, "<html>bad gateway</html>"

        with pytest.raises(NeonDbError, match="Error connecting to database: connection refused"):
            await NeonHttpDatabase(fresh_database_url, down, endpoint=NEON_URL).fetch("SELECT 1")
        with pytest.raises(NeonDbError, match="HTTP status 502") as err:
            await NeonHttpDatabase(fresh_database_url, broken, endpoint=NEON_URL).fetch("SELECT 1")
        assert err.value.status == 502

        async def not_postgres(*_a: Any) -> tuple[int, Any]:  # Neon's shape for a non-Postgres error
            return 400, {"message": "invalid isolation level", "code": "", "severity": "", "detail": None}

        with pytest.raises(NeonDbError, match="invalid isolation level") as err:
            await NeonHttpDatabase(fresh_database_url, not_postgres, endpoint=NEON_URL).fetch("SELECT 1")
        assert err.value.code is None and str(err.value) == "invalid isolation level"

    run(go())


# -- the real tus engine through the app ------------------------------------------------------------------


def _settings() -> Settings:
    return Settings(jwt_secret=SECRET, part_size=5 * MIB, max_upload_size=1_000_000_000, upload_ttl_seconds=3600)


async def _tus_upload(client: httpx.AsyncClient, token: str, data: bytes, sizes: list[int], **meta: str) -> str:
    auth = {"Authorization": f"Bearer {token}"}
    r = await client.post(
        "/api/upload", headers={**TUS, **auth, "Upload-Length": str(len(data)), "Upload-Metadata": metadata(**meta)}
    )
    assert r.status_code == 201, r.text
    url = r.headers["Location"]
    offset = 0
    for size in [*sizes, len(data) - sum(sizes)]:
        chunk = data[offset : offset + size]
        r = await client.patch(url, headers={**TUS, **OCTET, **auth, "Upload-Offset": str(offset)}, content=chunk)
        assert r.status_code == 204, r.text
        offset += size
        assert r.headers["Upload-Offset"] == str(offset)
    r = await client.head(url, headers={**TUS, **auth})
    assert r.status_code == 200 and r.headers["Upload-Offset"] == str(len(data))
    return url


ODD_SIZES = [700_001, 2 * MIB + 3, 3 * MIB + 5, 1, 5 * MIB + 7]  # then the rest


async def _run_tus_flow(db: Database, tmp_path: Path) -> tuple[Services, FakeR2Bucket, FakeQueue]:
    store, bucket = _r2(tmp_path)
    queue_binding = FakeQueue()
    services = Services(
        settings=_settings(),
        store=store,
        db=db,
        queue=CloudflareQueue(queue_binding),
        queue_stats=JobTableQueueStats(db),
    )
    app = create_app(services)
    user_id = str(uuid.uuid4())
    token = issue_token(SECRET, user_id)
    data = os.urandom(12 * MIB + 12_345)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mediagate.test") as client:
        assert (await client.get("/api/health")).json() == {"status": "ok"}
        url = await _tus_upload(client, token, data, ODD_SIZES, filename="clip.mp4", filetype="video/mp4")
    upload_id = url.rsplit("/", 1)[1]
    key = f"originals/{user_id}/{upload_id}"

    stored = await _read(store, key)
    assert stored is not None and hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    info = await store.head(key)
    assert info is not None and info.content_type == "video/mp4"
    # Three 5 MiB-or-less parts, each streamed to R2 through a FixedLengthStream of its size.
    assert [kind for kind, _ in bucket.part_bodies] == ["stream"] * 3
    assert [length for _, length in bucket.part_bodies] == [5 * MIB, 5 * MIB, len(data) - 10 * MIB]
    assert await store.list_keys(f"staging/{upload_id}/") == []
    assert bucket.local.open_multipart_count() == 0

    [(body, options)] = queue_binding.sent
    assert options == {"contentType": "json"}
    assert body["object_key"] == key and body["user_id"] == user_id and body["file_type"] == "video"
    rows = await db.fetch(
        """SELECT j.queue_message_id, f.file_size, f.upload_id FROM processing_jobs j
           JOIN files f ON f.id = j.file_id WHERE j.id = $1::uuid""",
        body["job_id"],
    )
    assert rows == [{"queue_message_id": body["job_id"], "file_size": len(data), "upload_id": upload_id}]
    return services, bucket, queue_binding


def test_tus_engine_on_r2_with_local_postgres(fresh_database_url, tmp_path):
    async def go() -> None:
        db = PostgresDatabase(fresh_database_url, max_size=4)
        await db.open()
        try:
            await _run_tus_flow(db, tmp_path)
        finally:
            await db.close()

    run(go())


def test_tus_patches_through_the_bridge_keep_bytes_in_js(fresh_database_url, tmp_path, monkeypatch):
    """Through the ASGI bridge a PATCH body is read with the BODY_CHUNKS extension: 1 MiB
    JsChunks (BYOB reads) go from the request stream to uploadPart's FixedLengthStream
    as they are; only a tail that is staged (not a whole part) is ever copied into Python.
    Odd PATCH sizes, a PATCH that breaks off and a checksummed PATCH keep tus semantics."""
    copies: list[int] = []
    real_bytes = ffi.JsChunk.__bytes__

    def counted_bytes(chunk: ffi.JsChunk) -> bytes:
        copies.append(len(chunk))
        return real_bytes(chunk)

    monkeypatch.setattr(ffi.JsChunk, "__bytes__", counted_bytes)

    async def go() -> None:
        db = PostgresDatabase(fresh_database_url, max_size=4)
        await db.open()
        try:
            store, bucket = _r2(tmp_path)
            services = Services(
                settings=_settings(),
                store=store,
                db=db,
                queue=CloudflareQueue(FakeQueue()),
                queue_stats=JobTableQueueStats(db),
            )
            app = create_app(services)
            token = issue_token(SECRET, str(uuid.uuid4()))
            auth = {"Authorization": f"Bearer {token}"}

            async def call(method: str, path: str, headers: dict[str, str], body: bytes | None = None, **kw: Any):
                stream = None
                if body is not None:
                    pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]
                    if kw.get("fail_after") is not None:
                        pieces = pieces[: kw["fail_after"]]

                    async def source() -> AsyncIterator[bytes]:
                        for piece in pieces:
                            yield piece
                        if kw.get("fail_after") is not None:
                            raise ConnectionResetError("the client aborted the upload")

                    stream = ffi.PyReadableStream(source(), known_length=len(body), byte_stream=True)
                    headers = {**headers, "Content-Length": str(len(body))}
                req = SimpleNamespace(
                    method=method, url=f"https://api.test{path}", headers=list(headers.items()), body=stream, cf=None
                )
                pending: list[Any] = []
                response = await asgi_bridge.fetch(app, req, SimpleNamespace(waitUntil=pending.append))
                for task in pending:
                    await task
                return response

            data = os.urandom(12 * MIB + 12_345)
            r = await call("POST", "/api/upload", {**TUS, **auth, "Upload-Length": str(len(data))})
            assert r.status == 201
            path = urllib.parse.urlsplit(r.header("location")).path
            offset = 0
            # 5 MiB exactly (one part, no copy), 3 MiB + 1 (staged), then a PATCH that breaks
            # off after 2 MiB, then the rest.
            for size, fail_after in ((5 * MIB, None), (3 * MIB + 1, None), (4 * MIB, 512), (None, None)):
                chunk = data[offset:] if size is None else data[offset : offset + size]
                headers = {**TUS, **OCTET, **auth, "Upload-Offset": str(offset)}
                r = await call("PATCH", path, headers, chunk, fail_after=fail_after)
                assert r.status == 204, await r.read()
                offset = int(r.header("upload-offset"))
                if fail_after is not None:
                    assert offset == 8 * MIB + 1 + 2 * MIB  # what arrived before the break is kept
            assert offset == len(data)
            upload_id = path.rsplit("/", 1)[1]
            [row] = await db.fetch("SELECT object_key FROM uploads WHERE id = $1", upload_id)
            assert await _read(store, row["object_key"]) == data
            # Parts: 5 MiB streamed straight from the request, then parts that begin with a
            # staged tail. Copies into Python: only the staged tails (3 MiB + 1 in its four
            # 1 MiB-step chunks, then the 1 byte left when the third PATCH broke off).
            assert [length for _, length in bucket.part_bodies] == [5 * MIB, 5 * MIB, len(data) - 10 * MIB]
            assert copies == [MIB, MIB, MIB, 1, 1], copies
            copies.clear()

            # A checksummed PATCH (hashed in Python) still works on JsChunks.
            r = await call("POST", "/api/upload", {**TUS, **auth, "Upload-Length": "3000"})
            path = urllib.parse.urlsplit(r.header("location")).path
            body = os.urandom(3000)
            digest = base64.b64encode(hashlib.sha1(body).digest()).decode()
            checksum = {"Upload-Checksum": f"sha1 {digest}"}
            r = await call("PATCH", path, {**TUS, **OCTET, **auth, "Upload-Offset": "0", **checksum}, body)
            assert r.status == 204 and r.header("upload-offset") == "3000"
            assert copies == [3000]  # the checksum is computed in Python: the one copy
        finally:
            await db.close()

    run(go())


def test_tus_engine_on_r2_with_neon_http(fresh_database_url, tmp_path):
    async def go() -> None:
        neon = NeonClient(fresh_database_url)
        try:
            await _run_tus_flow(neon.db, tmp_path)
            assert len(neon.fixture.requests) > 10  # every statement went over SQL-over-HTTP

            # Expiry (the cron job): an abandoned upload's multipart upload and staged bytes go.
            store, bucket = _r2(tmp_path / "second")
            clock = FakeClock()
            services = Services(
                settings=_settings(),
                store=store,
                db=neon.db,
                queue=CloudflareQueue(FakeQueue()),
                queue_stats=JobTableQueueStats(neon.db),
                clock=clock,
            )
            token = issue_token(SECRET, str(uuid.uuid4()))
            app = create_app(services)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                auth = {"Authorization": f"Bearer {token}"}
                r = await client.post("/api/upload", headers={**TUS, **auth, "Upload-Length": str(20 * MIB)})
                url = r.headers["Location"]
                r = await client.patch(
                    url, headers={**TUS, **OCTET, **auth, "Upload-Offset": "0"}, content=os.urandom(5 * MIB + 99)
                )
                assert r.headers["Upload-Offset"] == str(5 * MIB + 99)
            upload_id = url.rsplit("/", 1)[1]
            assert len(await store.list_keys(f"staging/{upload_id}/")) == 1
            assert bucket.local.open_multipart_count() == 1
            clock.t += 3601
            assert await services.tus.cleanup() == {"expired": 1, "finalized": 0}
            assert await store.list_keys(f"staging/{upload_id}/") == []
            assert bucket.local.open_multipart_count() == 0
            [row] = await neon.db.fetch("SELECT state FROM uploads WHERE id = $1", upload_id)
            assert row == {"state": "expired"}
        finally:
            await neon.close()

    run(go())


def test_processing_webhook_is_recorded_and_applied_together_over_neon_http(fresh_database_url, tmp_path):
    """A lost request while a processing webhook is applied leaves nothing half-done: the
    retried delivery is not a "duplicate" and the file's status is set."""
    secret = "webhook-secret-for-neon-test"

    async def go() -> None:
        fixture = NeonHttpFixture()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=fixture.app))
        http = make_httpx_fetch(client)
        dropped: list[str] = []

        async def flaky(url: str, method: str, headers: dict[str, str], body: str) -> tuple[int, Any]:
            if not dropped and "UPDATE files SET processing_status" in body:
                dropped.append(body)
                raise OSError("connection reset")
            return await http(url, method, headers, body)

        db = NeonHttpDatabase(fresh_database_url, flaky, endpoint=NEON_URL)
        [file] = await db.fetch(
            """INSERT INTO files (user_id, original_key, file_type, mime_type, file_size)
               VALUES ($1::uuid, 'originals/x', 'image', 'image/jpeg', 1) RETURNING id::text AS id""",
            str(uuid.uuid4()),
        )
        settings = Settings(jwt_secret=SECRET, webhook_secret=secret)
        store, _bucket = _r2(tmp_path)
        services = Services(
            settings=settings,
            store=store,
            db=db,
            queue=CloudflareQueue(FakeQueue()),
            queue_stats=JobTableQueueStats(db),
        )
        app = create_app(services)
        event = json.dumps({"id": "evt-neon-1", "file_id": file["id"]}).encode()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:

                async def deliver() -> httpx.Response:
                    headers = signed_headers(secret, int(time.time()), event)
                    return await api.post("/webhook/processing-complete", content=event, headers=headers)

                assert (await deliver()).status_code == 500 and dropped
                retried = await deliver()
                assert retried.status_code == 200 and retried.json() == {"ok": True, "duplicate": False}
                assert (await deliver()).json() == {"ok": True, "duplicate": True}
            [row] = await db.fetch("SELECT processing_status FROM files WHERE id = $1::uuid", file["id"])
            assert row == {"processing_status": "completed"}
        finally:
            await client.aclose()
            await fixture.close()

    run(go())


# -- the Worker entry -----------------------------------------------------------------------------------------


@pytest.fixture()
def entry_module(monkeypatch):
    """Import worker/src/entry.py with a stand-in ``workers`` runtime module."""
    served: list[tuple[Any, Any, Any]] = []

    class WorkerEntrypoint:
        def __init__(self, ctx: Any, env: Any) -> None:
            self.ctx = ctx
            self.env = env

    async def asgi_fetch(app: Any, request: Any, env: Any, ctx: Any = None) -> Any:
        raise AssertionError("the entry must serve through mediagate's streaming bridge")

    async def bridge_fetch(app: Any, request: Any, ctx: Any = None) -> Any:
        served.append((app, request, ctx))
        return "response"

    workers = types.ModuleType("workers")
    workers.WorkerEntrypoint = WorkerEntrypoint  # type: ignore[attr-defined]
    workers.DurableObject = WorkerEntrypoint  # type: ignore[attr-defined]  # same (ctx, env) shape
    workers.asgi = types.SimpleNamespace(fetch=asgi_fetch)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "workers", workers)
    sys.modules.pop("entry", None)
    module = importlib.import_module("entry")
    monkeypatch.setattr(module.asgi_bridge, "fetch", bridge_fetch)
    module.served = served
    yield module
    sys.modules.pop("entry", None)


def test_worker_entry_builds_once_and_runs_cleanup(entry_module, fresh_database_url, tmp_path, monkeypatch):
    async def go() -> None:
        neon = NeonClient(fresh_database_url)
        fetch = make_httpx_fetch(neon.client)
        monkeypatch.setattr(entry_module, "build_services", lambda env: build_services(env, fetch=fetch))
        bucket = FakeR2Bucket(LocalObjectStore(tmp_path / "r2"))
        jobs = FakeQueue()
        env = SimpleNamespace(
            BUCKET=BindingWrapper(bucket),
            JOBS=jobs,
            JWT_SECRET=SECRET,
            DATABASE_URL=fresh_database_url,
            NEON_SQL_ENDPOINT=NEON_URL,
            MAX_UPLOAD_SIZE="1000000000",
            UPLOAD_PART_SIZE=str(5 * MIB),
            UPLOAD_TTL_SECONDS="600",
        )
        try:
            worker = entry_module.Default(SimpleNamespace(), env)
            assert await worker.fetch("request-1") == "response"
            assert await entry_module.Default(SimpleNamespace(), env).fetch("request-2") == "response"
            (app1, req1, _), (app2, _, _) = entry_module.served
            assert app1 is app2 and req1 == "request-1"  # one app per isolate
            services = app1.state.services
            assert services.store.bucket is bucket and services.queue.queues["fast"].binding is jobs
            assert services.settings.part_size == 5 * MIB and services.settings.upload_ttl_seconds == 600
            assert services.db.endpoint == NEON_URL

            # An upload whose expiry passed is expired by the cron handler.
            user_id = str(uuid.uuid4())
            async with await psycopg.AsyncConnection.connect(fresh_database_url, autocommit=True) as conn:
                await conn.execute(
                    """INSERT INTO uploads (id, user_id, upload_length, upload_offset, metadata, object_key,
                         multipart_id, part_size, parts, staged, state, expires_at)
                       VALUES (%s, %s, 10, 0, '{}', %s, NULL, %s, '[]', '[]', 'active', now() - interval '1 hour')""",
                    (uuid.uuid4().hex, user_id, f"originals/{user_id}/x", 5 * MIB),
                )
            await worker.scheduled(SimpleNamespace(cron="*/15 * * * *"), env, SimpleNamespace())
            rows = await services.db.fetch("SELECT state FROM uploads WHERE user_id = $1::uuid", user_id)
            assert rows == [{"state": "expired"}]
        finally:
            await neon.close()

    run(go())


def test_worker_env_requires_database_url():
    env = SimpleNamespace(BUCKET=object(), JOBS=object(), JWT_SECRET=SECRET)
    with pytest.raises(ValueError, match="DATABASE_URL"):
        build_services(env)
    with pytest.raises(ValueError, match="JWT_SECRET"):
        build_services(SimpleNamespace(DATABASE_URL="postgresql://u@h/db"))


def test_the_video_lane_binding_is_named_by_config_never_probed(tmp_path):
    """VIDEO_QUEUE_BINDING names the video lane's producer; a named binding that is missing
    fails the wiring instead of silently sending videos to the fast lane."""
    _store, bucket = _r2(tmp_path)
    fast, video = FakeQueue(), FakeQueue()
    base = {"BUCKET": bucket, "JOBS": fast, "JWT_SECRET": SECRET, "DATABASE_URL": "postgresql://u:p@h/db"}
    services = build_services(SimpleNamespace(**base, VIDEO_QUEUE_BINDING="JOBS_VIDEO", JOBS_VIDEO=video))
    assert services.queue.queues["video"].binding is video and services.queue.queues["fast"].binding is fast
    assert isinstance(services.queue_stats, JobTableQueueStats) and services.purge is None
    shared = build_services(SimpleNamespace(**base, JOBS_VIDEO=video))  # not configured: not used
    assert shared.queue.queues["video"].binding is fast
    with pytest.raises(ValueError, match="VIDEO_QUEUE_BINDING"):
        build_services(SimpleNamespace(**base, VIDEO_QUEUE_BINDING="JOBS_VIDEO"))
