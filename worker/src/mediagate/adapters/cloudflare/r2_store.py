"""The ObjectStore port on the Workers R2 binding.

Thin by design: each port method is one or two binding calls, with the conversions done
in :mod:`.ffi`. Stream bodies go to R2 through a ``FixedLengthStream`` of the declared
size (R2 refuses a stream whose length it cannot know); the bytes are pumped chunk by
chunk with back-pressure, so a 5+ MiB part never sits in memory twice. Every error the
binding throws surfaces as :class:`~mediagate.ports.StoreError`; errors raised by the
*source* of a stream (for example a client that went away) propagate unchanged.

R2's multipart rules (equal part sizes, 5 MiB minimum, at most 10,000 parts) are enforced
by R2 itself at ``complete`` time; the tus engine keeps them and keeps the part list
(the binding has no ListParts).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ...ports import (
    AsgiSend,
    ByteStream,
    CompletedPart,
    DirectSend,
    ListedObject,
    NoSuchUpload,
    ObjectBody,
    ObjectInfo,
    ObjectLister,
    ObjectPage,
    ObjectStore,
    SendableBody,
    StoreError,
)
from .asgi_bridge import JS_STREAM
from .ffi import (
    READ_STEP,
    StreamLengthError,
    async_iter_js_stream,
    is_nullish,
    js_get,
    js_stream_from,
    maybe_await,
    to_js_bytes,
    to_js_obj,
    unwrap_binding,
)

MAX_DELETE_KEYS = 1000  # R2Bucket.delete accepts at most 1000 keys per call
LIST_LIMIT = 1000  # R2Bucket.list returns at most 1000 objects per page
MAX_PARTS = 10_000


class R2Body(ObjectBody, SendableBody):
    """An object body: ``info`` plus the (ranged) body stream of ``length`` bytes.

    Iterated, it crosses into Python per MiB (a BYOB reader, not R2's 4 KiB pieces). As a
    :class:`~mediagate.ports.SendableBody` it goes to the response without Python: through
    the bridge's ``http.response.js_stream`` extension the JS stream becomes the Response
    body as it is (and keeps its known length)."""

    def __init__(self, info: ObjectInfo, stream: Any, length: int | None = None) -> None:
        self.info = info
        self._stream = stream
        self.length = info.size if length is None else length

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if is_nullish(self._stream):
            return
        step = min(READ_STEP, self.length) or None
        async for chunk in async_iter_js_stream(self._stream, step=step):
            if chunk:
                yield chunk

    async def send(self, send: AsgiSend, extensions: Mapping[str, Any]) -> None:
        if not is_nullish(self._stream) and JS_STREAM in extensions:
            await send({"type": JS_STREAM, "stream": self._stream})
            return
        async for chunk in self:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _info(obj: Any, key: str) -> ObjectInfo:
    http = js_get(obj, "httpMetadata")
    content_type = js_get(http, "contentType")
    etag = js_get(obj, "etag")
    return ObjectInfo(
        key=str(js_get(obj, "key", key)),
        size=int(js_get(obj, "size", 0)),
        content_type=None if content_type is None else str(content_type),
        etag=None if etag is None else str(etag),
    )


def _message(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc)


def _is_no_such_upload(exc: BaseException) -> bool:
    text = _message(exc).lower()
    return "nosuchupload" in text or "10024" in text or "does not exist" in text


def _epoch(uploaded: Any) -> float:
    """An R2 object's ``uploaded`` (a JS Date) as epoch seconds; unknown means "just now",
    which the storage sweep treats as too young to collect."""
    if isinstance(uploaded, datetime):
        return uploaded.timestamp()
    get_time = None if is_nullish(uploaded) else js_get(uploaded, "getTime")
    if get_time is None:
        return time.time()
    return float(get_time()) / 1000.0


def _http_metadata(content_type: str | None) -> dict[str, Any] | None:
    return {"httpMetadata": {"contentType": content_type}} if content_type else None


class R2ObjectStore(ObjectStore, DirectSend, ObjectLister):
    def __init__(self, bucket: Any) -> None:
        self.bucket = unwrap_binding(bucket)

    # -- helpers -----------------------------------------------------------------------

    async def _call(self, what: str, awaitable: Callable[..., Any]) -> Any:  # called with no arguments
        try:
            return await maybe_await(awaitable())
        except Exception as exc:
            raise StoreError(f"R2 {what} failed: {_message(exc)}") from exc

    async def _send_stream(self, what: str, data: ByteStream, size: int, call: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``call(readable)`` while ``data`` (exactly ``size`` bytes) is pumped into it."""
        pump = js_stream_from(data, size)
        try:
            result = await call(pump.readable)
        except Exception as exc:
            cause = await pump.stop()
            if isinstance(cause, StreamLengthError):
                raise StoreError(f"R2 {what}: {cause}") from cause
            if cause is not None:
                raise cause from exc
            raise StoreError(f"R2 {what} failed: {_message(exc)}") from exc
        except BaseException:
            await pump.stop()
            raise
        try:
            await pump.wait()
        except StreamLengthError as exc:
            raise StoreError(f"R2 {what}: {exc}") from exc
        return result

    def _resume(self, key: str, upload_id: str) -> Any:
        return self.bucket.resumeMultipartUpload(key, upload_id)

    # -- objects -------------------------------------------------------------------------

    async def put(
        self, key: str, data: bytes | ByteStream, *, content_type: str | None = None, size: int | None = None
    ) -> ObjectInfo:
        """Store an object. A stream of unknown ``size`` is collected in memory first (R2
        needs the length up front): pass ``size`` for anything large, or use multipart."""
        options = _http_metadata(content_type)

        def put_call(value: Any) -> Any:
            if options is None:
                return self.bucket.put(key, value)
            return self.bucket.put(key, value, to_js_obj(options))

        if not isinstance(data, bytes | bytearray | memoryview) and size is None:
            data = b"".join([c if isinstance(c, bytes | memoryview) else bytes(c) async for c in data])
        if isinstance(data, bytes | bytearray | memoryview):
            if size is not None and len(data) != size:
                raise StoreError(f"R2 put {key}: body is {len(data)} bytes, declared {size}")
            obj = await self._call(f"put {key}", lambda: put_call(to_js_bytes(data)))
        else:
            assert size is not None
            obj = await self._send_stream(f"put {key}", data, size, lambda body: maybe_await(put_call(body)))
        if is_nullish(obj):  # put returns null only when an onlyIf condition failed (none set here)
            raise StoreError(f"R2 put {key} was not applied")
        return _info(obj, key)

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> R2Body | None:
        start = max(0, start)
        if end is not None and end <= start:
            info = await self.head(key)
            return None if info is None else R2Body(info, None, 0)
        ranged = start > 0 or end is not None
        try:
            obj = await self._get(key, start, end)
        except Exception as exc:
            if not ranged:
                raise StoreError(f"R2 get {key} failed: {_message(exc)}") from exc
            # R2 refuses a range starting at or past the end (InvalidRange, e.g. any range of
            # an empty object); the port's contract is to clamp, as a file read would. The
            # error's text differs between R2 ("... (10039)") and workerd's local R2
            # ("Unspecified error (0)"), so any failed ranged read is retried clamped to the
            # object's real size, and a second failure is the error.
            info = await self.head(key)
            if info is None:
                return None
            if start >= info.size:
                return R2Body(info, None, 0)
            stop = info.size if end is None else min(end, info.size)
            obj = await self._call(f"get {key}", lambda: self._get(key, start, stop))
        if is_nullish(obj):
            return None
        info = _info(obj, key)
        stop = info.size if end is None else min(end, info.size)
        return R2Body(info, js_get(obj, "body"), max(0, stop - start))

    async def open_sendable(self, key: str, *, start: int = 0, end: int | None = None) -> R2Body | None:
        """:class:`~mediagate.ports.DirectSend`: the body as R2 streams it (see :class:`R2Body`)."""
        return await self.get(key, start=start, end=end)

    def _get(self, key: str, start: int, end: int | None) -> Any:
        if start == 0 and end is None:
            return self.bucket.get(key)
        range_: dict[str, int] = {"offset": start}
        if end is not None:
            range_["length"] = end - start
        return self.bucket.get(key, to_js_obj({"range": range_}))

    async def head(self, key: str) -> ObjectInfo | None:
        obj = await self._call(f"head {key}", lambda: self.bucket.head(key))
        return None if is_nullish(obj) else _info(obj, key)

    async def delete(self, keys: Sequence[str]) -> None:
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), MAX_DELETE_KEYS):
            batch = unique[i : i + MAX_DELETE_KEYS]
            await self._call(f"delete of {len(batch)} keys", lambda batch=batch: self.bucket.delete(to_js_obj(batch)))

    async def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        cursor: str | None = None
        while True:
            options: dict[str, Any] = {"prefix": prefix, "limit": LIST_LIMIT}
            if cursor:
                options["cursor"] = cursor
            result = await self._call(f"list {prefix!r}", lambda options=options: self.bucket.list(to_js_obj(options)))
            for obj in js_get(result, "objects", []):
                keys.append(str(obj.key))
            cursor = js_get(result, "cursor")
            if not js_get(result, "truncated", False) or not cursor:
                break
        return sorted(keys)

    async def list_objects(self, prefix: str, *, cursor: str | None = None, limit: int = LIST_LIMIT) -> ObjectPage:
        """One page of ``list`` (the ObjectLister ability): keys, sizes and upload times."""
        options: dict[str, Any] = {"prefix": prefix, "limit": max(1, min(limit, LIST_LIMIT))}
        if cursor:
            options["cursor"] = cursor
        result = await self._call(f"list {prefix!r}", lambda: self.bucket.list(to_js_obj(options)))
        objects = [
            ListedObject(str(obj.key), int(js_get(obj, "size", 0)), _epoch(js_get(obj, "uploaded")))
            for obj in js_get(result, "objects", [])
        ]
        next_cursor = js_get(result, "cursor")
        more = bool(js_get(result, "truncated", False)) and bool(next_cursor)
        return ObjectPage(objects, str(next_cursor) if more else None)

    # -- multipart -------------------------------------------------------------------------

    async def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        options = _http_metadata(content_type)
        if options is None:
            upload = await self._call(f"createMultipartUpload {key}", lambda: self.bucket.createMultipartUpload(key))
        else:
            upload = await self._call(
                f"createMultipartUpload {key}",
                lambda: self.bucket.createMultipartUpload(key, to_js_obj(options)),
            )
        return str(upload.uploadId)

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes | ByteStream, size: int) -> str:
        if not 1 <= number <= MAX_PARTS:
            raise StoreError(f"part number {number} outside 1..{MAX_PARTS}")
        upload = await self._call(f"resumeMultipartUpload {key}", lambda: self._resume(key, upload_id))
        what = f"uploadPart {number} of {key}"
        if isinstance(data, bytes | bytearray | memoryview):
            if len(data) != size:
                raise StoreError(f"R2 {what}: body is {len(data)} bytes, declared {size}")
            part = await self._call(what, lambda: upload.uploadPart(number, to_js_bytes(data)))
        else:
            part = await self._send_stream(what, data, size, lambda body: maybe_await(upload.uploadPart(number, body)))
        return str(part.etag)

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[CompletedPart]) -> ObjectInfo:
        upload = await self._call(f"resumeMultipartUpload {key}", lambda: self._resume(key, upload_id))
        uploaded = [{"partNumber": p.number, "etag": p.etag} for p in parts]
        try:
            obj = await maybe_await(upload.complete(to_js_obj(uploaded)))
        except Exception as exc:
            # R2 retires the id on complete: a retried completion lands here (the caller
            # then checks for the object).
            kind = NoSuchUpload if _is_no_such_upload(exc) else StoreError
            raise kind(f"R2 complete of {key} failed: {_message(exc)}") from exc
        return _info(obj, key)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abort; an upload that no longer exists (completed, aborted, or expired by R2's
        7-day rule) counts as aborted, like the local store."""
        try:
            upload = await maybe_await(self._resume(key, upload_id))
            await maybe_await(upload.abort())
        except Exception as exc:
            if _is_no_such_upload(exc):
                return
            raise StoreError(f"R2 abort of {key} failed: {_message(exc)}") from exc
