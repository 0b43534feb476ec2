"""The one place that touches the Pyodide FFI (``js``, ``pyodide.ffi``).

In the Workers runtime (Pyodide, ``sys.platform == "emscripten"``) these helpers convert
between Python and JavaScript values and drive Web streams. Under CPython they fall back
to pass-through conversions and to small pure-Python stand-ins for the Web stream classes
(``PyFixedLengthStream``, ``PyReadableStream``), so the adapters run unchanged against
JS-shaped Python fakes in tests. Nothing here blocks or uses threads.

Conventions the adapters rely on:

* JavaScript ``null``/``undefined`` may reach Python as ``None`` or as Pyodide's
  ``jsnull``; test with :func:`is_nullish`, read optional properties with :func:`js_get`.
* Python ``dict``/``list`` values are *not* converted implicitly when passed to a JS
  method (they would arrive as PyProxies): wrap them with :func:`to_js_obj`.
* Bytes cross as a ``Uint8Array`` copy owned by JavaScript (:func:`to_js_bytes`), so a
  pending write never points into Python memory.
* A Python task handed to ``ctx.waitUntil`` crosses as a real JS ``Promise``
  (:func:`promise_for`), never as an implicit proxy (Pyodide destroys those when the call
  returns).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar

from ...ports import ByteChunk, ByteStream

IN_WORKERS = sys.platform == "emscripten"
_T = TypeVar("_T")

if IN_WORKERS:  # pragma: no cover - exercised only inside the Workers runtime
    import js as js  # re-exported: the adapters reach JS globals as ffi.js
    from pyodide.ffi import create_once_callable as _create_once_callable
    from pyodide.ffi import create_proxy as _create_proxy
    from pyodide.ffi import to_js as _to_js

    try:
        from pyodide.ffi import jsnull as _jsnull
    except ImportError:  # older Pyodide: JS null converts to None
        _jsnull = None
else:
    js = None
    _to_js = None
    _jsnull = None


class StreamLengthError(ValueError):
    """A body fed into a fixed-length stream had more or fewer bytes than declared."""


# -- values --------------------------------------------------------------------------------


def is_nullish(value: Any) -> bool:
    """True for Python ``None`` and for JavaScript ``null``/``undefined``."""
    return value is None or (_jsnull is not None and value is _jsnull)


def js_get(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` or ``default`` when the property is missing, ``undefined`` or ``null``."""
    if is_nullish(obj):
        return default
    try:
        value = getattr(obj, name)
    except AttributeError:
        return default
    return default if is_nullish(value) else value


def unwrap_binding(binding: Any) -> Any:
    """The raw JS binding behind a workers-py ``_BindingWrapper`` (or the binding itself).

    Recent workers-py wraps R2/KV/D1 bindings so Python values convert implicitly and
    results come back converted with ``to_py``. The adapters do their own explicit
    conversions, so they talk to the raw binding and get documented Pyodide semantics.
    """
    inner = getattr(binding, "_binding", None)
    return binding if is_nullish(inner) else inner


def to_js_obj(value: Any) -> Any:
    """A ``dict`` (or list of dicts) as a plain JS object/array; pass-through under CPython."""
    if IN_WORKERS:  # pragma: no cover
        return _to_js(value, dict_converter=js.Object.fromEntries)
    return value


class JsChunk:
    """Bytes that stay in JavaScript: a ``Uint8Array`` (a ``memoryview`` under CPython)
    behind the :class:`~mediagate.ports.ByteChunk` interface. ``len()`` and slices
    (``subarray``) do not copy; ``bytes(chunk)`` does; :func:`to_js_bytes` hands the array
    back to JS as it is."""

    __slots__ = ("array",)

    def __init__(self, array: Any) -> None:
        self.array = array

    def __len__(self) -> int:
        return int(self.array.byteLength) if IN_WORKERS else len(self.array)

    def __getitem__(self, index: slice) -> JsChunk:
        start, stop, _ = index.indices(len(self))
        if IN_WORKERS:  # pragma: no cover
            return JsChunk(self.array.subarray(start, max(start, stop)))
        return JsChunk(self.array[start:stop])

    def __bytes__(self) -> bytes:
        return to_py_bytes(self.array)


def to_js_bytes(data: bytes | bytearray | memoryview | ByteChunk) -> Any:
    """Bytes as a ``Uint8Array`` copy owned by JS (a :class:`JsChunk`: its own array, no
    copy); the bytes themselves under CPython."""
    if isinstance(data, JsChunk):
        return data.array if IN_WORKERS else bytes(data.array)
    if not isinstance(data, bytes | bytearray | memoryview):
        data = bytes(data)  # another ByteChunk
    if IN_WORKERS:  # pragma: no cover
        view = memoryview(data).cast("B")
        array = js.Uint8Array.new(len(view))
        if len(view):
            array.assign(view)
        return array
    return bytes(data)


def to_py_bytes(value: Any) -> bytes:
    """A ``Uint8Array``/``ArrayBuffer`` (JsProxy) or a Python buffer as ``bytes``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    data: bytes = value.to_bytes()  # a JsProxy: its bytes, copied
    return data


async def maybe_await(value: Any) -> Any:
    """Await a JS promise (or Python awaitable); return anything else unchanged.

    Some binding methods are synchronous (``R2Bucket.resumeMultipartUpload``); calling
    through this keeps the adapter correct if one ever becomes a promise."""
    if inspect.isawaitable(value):
        return await value
    return value


# -- streams ---------------------------------------------------------------------------------


class _Chunk:
    """What ``reader.read()`` resolves to: ``{done, value}`` with attribute access."""

    __slots__ = ("done", "value")

    def __init__(self, done: bool, value: Any = None) -> None:
        self.done = done
        self.value = value


class PyReadableStream:
    """A pure-Python stand-in for a JS ``ReadableStream`` (CPython tests only).

    Built either from an async byte iterator (an R2 object body in a fake) or as the
    readable side of :class:`PyFixedLengthStream`. ``known_length`` mirrors what R2
    requires of a stream body: a length known up front (FixedLengthStream, request body).
    ``on_cancel(reason)`` is called when a reader cancels it (like a JS source's
    ``cancel``).
    """

    def __init__(
        self,
        source: AsyncIterable[bytes] | None = None,
        *,
        known_length: int | None = None,
        on_cancel: Callable[[Any], None] | None = None,
        byte_stream: bool = False,
    ) -> None:
        self._iter: AsyncIterator[bytes] | None = source.__aiter__() if source is not None else None
        self._on_cancel = on_cancel
        self._queue: asyncio.Queue[tuple[str, Any]] | None = None if source is not None else asyncio.Queue()
        self.known_length = known_length
        self.byte_stream = byte_stream  # like a JS byte stream (request/R2 bodies): BYOB readers work
        self.locked = False
        self._finished = False
        self._leftover = b""  # bytes a BYOB read pulled from the source but had no room for
        self.reads = 0  # read()/readAtLeast() calls answered: what would cross JS -> Python
        self.cancelled: Any = None  # the reason, once a reader cancelled the stream

    def _cancel(self, reason: Any) -> None:
        self._finished = True
        self.cancelled = reason if reason is not None else "cancelled"
        if self._on_cancel is not None:
            self._on_cancel(self.cancelled)

    def getReader(self, options: Mapping[str, Any] | None = None) -> _PyReader:  # JS API names from here on
        byob = (options or {}).get("mode") == "byob"
        if byob and not self.byte_stream:
            raise TypeError("Cannot get a BYOB reader for a stream that is not a byte stream")
        if self.locked:
            raise TypeError("ReadableStream is locked to a reader")
        self.locked = True
        return _PyBYOBReader(self) if byob else _PyReader(self)

    async def _pull(self) -> _Chunk:
        if self._leftover:
            data, self._leftover = self._leftover, b""
            return _Chunk(False, data)
        if self._finished:
            return _Chunk(True)
        if self._iter is not None:
            try:
                data = await self._iter.__anext__()
            except StopAsyncIteration:
                self._finished = True
                return _Chunk(True)
            return _Chunk(False, data)
        assert self._queue is not None
        kind, payload = await self._queue.get()
        self._queue.task_done()
        if kind == "chunk":
            return _Chunk(False, payload)
        self._finished = True
        if kind == "error":
            raise TypeError(f"stream errored: {payload}")
        return _Chunk(True)


class _PyReader:
    def __init__(self, stream: PyReadableStream) -> None:
        self._stream = stream

    async def read(self) -> _Chunk:
        self._stream.reads += 1
        return await self._stream._pull()

    def releaseLock(self) -> None:
        self._stream.locked = False

    async def cancel(self, reason: Any = None) -> None:
        self._stream._cancel(reason)


class _PyBYOBReader(_PyReader):
    """A ``ReadableStreamBYOBReader`` with workerd's ``readAtLeast(min, view)``: fills
    ``view`` with at least ``min`` bytes (fewer only at the end of the stream)."""

    async def readAtLeast(self, minimum: int, view: Any) -> _Chunk:
        stream = self._stream
        target = memoryview(view).cast("B")
        if minimum > len(target) or minimum < 1:
            raise TypeError("readAtLeast: minimum must be between 1 and the view's length")
        stream.reads += 1
        filled = 0
        while filled < minimum:
            chunk = await stream._pull()  # one readAtLeast is one crossing, however many chunks it takes
            if chunk.done:
                if filled == 0:
                    return _Chunk(True, target[:0])
                break
            data = to_py_bytes(chunk.value)
            take = min(len(data), len(target) - filled)
            target[filled : filled + take] = data[:take]
            filled += take
            if take < len(data):
                stream._leftover = data[take:]
        return _Chunk(False, target[:filled])


class _PyWriter:
    def __init__(self, stream: PyFixedLengthStream) -> None:
        self._stream = stream

    async def write(self, chunk: Any) -> None:
        s = self._stream
        data = to_py_bytes(chunk)
        s.written += len(data)
        if s.written > s.size:
            raise TypeError(f"FixedLengthStream: wrote {s.written} bytes, more than the expected {s.size}")
        queue = s.readable._queue
        assert queue is not None
        queue.put_nowait(("chunk", data))
        await queue.join()  # like a JS stream with highWaterMark 0: resolve once read

    async def close(self) -> None:
        s = self._stream
        if s.written != s.size:
            raise TypeError(f"FixedLengthStream: closed after {s.written} of {s.size} bytes")
        assert s.readable._queue is not None
        s.readable._queue.put_nowait(("end", None))

    async def abort(self, reason: Any = None) -> None:
        assert self._stream.readable._queue is not None
        self._stream.readable._queue.put_nowait(("error", reason))

    def releaseLock(self) -> None:
        pass


class _PyWritable:
    def __init__(self, stream: PyFixedLengthStream) -> None:
        self._stream = stream

    def getWriter(self) -> _PyWriter:
        return _PyWriter(self._stream)


class PyFixedLengthStream:
    """A pure-Python stand-in for the Workers ``FixedLengthStream`` (CPython tests only)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.written = 0
        self.readable = PyReadableStream(known_length=size)
        self.writable = _PyWritable(self)


def _fixed_length_stream(size: int) -> Any:
    if IN_WORKERS:  # pragma: no cover
        return js.FixedLengthStream.new(size)
    return PyFixedLengthStream(size)


class _ConsumerGone(Exception):
    """A write to the stream failed: the consumer stopped reading (it reports its own error)."""


class StreamPump:
    """Feeds an async byte iterator into a ``FixedLengthStream(size)`` while a consumer
    (R2 ``put``/``uploadPart``) reads its ``readable`` side.

    Writes wait for the consumer (back-pressure), so memory stays at about one chunk. The
    pump counts bytes itself and fails with :class:`StreamLengthError` before the stream
    would, so the caller gets a clear error. ``error`` holds a failure of the *producer*
    side (the source iterator raised, or the length was wrong) and is set before the
    writable side is aborted, so a caller whose consumer then failed reports the cause,
    not the consumer's "stream aborted". A failed write (the consumer gave up first) is
    not recorded: the consumer's own error is the one to report.
    """

    def __init__(self, chunks: ByteStream, size: int) -> None:
        stream = _fixed_length_stream(size)
        self.size = size
        self.readable = stream.readable
        self.written = 0
        self.error: BaseException | None = None
        self._writer = stream.writable.getWriter()
        self._task = asyncio.ensure_future(self._pump(chunks))

    async def _write(self, op: str, *args: Any) -> None:
        try:
            await getattr(self._writer, op)(*args)
        except Exception as exc:
            raise _ConsumerGone(f"{op} failed: {exc}") from exc

    async def _pump(self, chunks: ByteStream) -> None:
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                self.written += len(chunk)
                if self.written > self.size:
                    raise StreamLengthError(f"body has more than the declared {self.size} bytes")
                await self._write("write", to_js_bytes(chunk))
            if self.written != self.size:
                raise StreamLengthError(f"body ended after {self.written} of the declared {self.size} bytes")
            await self._write("close")
        except (_ConsumerGone, asyncio.CancelledError):
            raise
        except BaseException as exc:
            self.error = exc
            try:
                await self._writer.abort(str(exc) or type(exc).__name__)
            except Exception:
                pass  # the stream may already be errored or closed
            raise

    async def wait(self) -> None:
        """Wait for the pump to finish after the consumer succeeded; re-raises its error."""
        await self._task

    async def stop(self) -> BaseException | None:
        """After the consumer failed: cancel a pump still blocked on a write and return
        the producer-side error that caused the failure, if there was one."""
        if not self._task.done():
            self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass  # cancelled just now, or a producer error kept in self.error
        return self.error


def js_stream_from(chunks: ByteStream, size: int) -> StreamPump:
    """Start streaming ``chunks`` (exactly ``size`` bytes) into a fixed-length stream.

    Pass ``pump.readable`` to the consumer, then ``await pump.wait()`` after it succeeded,
    or ``await pump.stop()`` after it failed."""
    return StreamPump(chunks, size)


READ_STEP = 1 << 20  # bytes per JS -> Python crossing when a stream is read in large steps


def _new_view(size: int) -> Any:
    """A fresh byte view for a BYOB read: a JS ``Uint8Array`` (a ``bytearray`` under CPython)."""
    if IN_WORKERS:  # pragma: no cover
        return js.Uint8Array.new(size)
    return bytearray(size)


def _whole_view(value: Any) -> Any:
    """The whole buffer behind the view a BYOB read returned, to read into again (a JS read
    transfers the buffer it was given, so the old view is detached)."""
    if IN_WORKERS:  # pragma: no cover
        return js.Uint8Array.new(value.buffer)
    return value.obj


def _byob_reader(readable: Any) -> Any:
    """A BYOB reader with workerd's ``readAtLeast`` for ``readable``, or None (not a byte
    stream, or a runtime without ``readAtLeast``: Node, browsers); the stream stays unlocked then."""
    try:
        reader = readable.getReader(to_js_obj({"mode": "byob"}))
    except Exception:
        return None
    if js_get(reader, "readAtLeast") is None:  # pragma: no cover - a standard BYOB reader only
        reader.releaseLock()
        return None
    return reader


async def _read_js_stream(
    readable: Any, step: int | None, element: Callable[[Any], _T | None], *, reuse_buffer: bool
) -> AsyncGenerator[_T, None]:
    """The one read loop of :func:`async_iter_js_stream` and :func:`js_chunks`.

    With ``step``, a byte stream is read ``readAtLeast(step, view)``: into one buffer read
    into again with ``reuse_buffer`` (``element`` must copy what it keeps), else a fresh one
    per read. Anything else is read with the default reader, one chunk per read. ``element``
    turns each read's value into what is yielded; None (an empty read) yields nothing."""
    reader = _byob_reader(readable) if step else None
    try:
        if reader is not None:
            assert step is not None
            view = _new_view(step)
            while True:
                result = await reader.readAtLeast(step, view)
                if result.done:
                    break
                item = element(result.value)
                if item is not None:
                    yield item
                view = _whole_view(result.value) if reuse_buffer else _new_view(step)
            return
        reader = readable.getReader()
        while True:
            result = await reader.read()
            if result.done:
                break
            item = element(result.value)
            if item is not None:
                yield item
    finally:
        if reader is not None:
            try:
                reader.releaseLock()
            except Exception:
                pass  # a read still pending keeps the lock; nothing to release then


def _py_bytes(value: Any) -> bytes | None:
    """A read's value as ``bytes`` (a copy: the BYOB buffer is read into again); None when empty."""
    return to_py_bytes(value) or None


def _js_chunk(value: Any) -> JsChunk | None:
    """A read's value kept in JS as a :class:`JsChunk` (under CPython a read-only view, of a
    BYOB read's own buffer or of a copy of the default reader's chunk); None when empty."""
    if not IN_WORKERS:
        value = memoryview(value).toreadonly() if isinstance(value, memoryview) else memoryview(bytes(value))
    chunk = JsChunk(value)
    return chunk if len(chunk) else None


def async_iter_js_stream(readable: Any, *, step: int | None = None) -> AsyncGenerator[bytes, None]:
    """Read a JS ``ReadableStream`` (or :class:`PyReadableStream`) as Python ``bytes`` chunks.

    With ``step``, a byte stream (request bodies, R2 object bodies) is read with a BYOB
    reader, ``readAtLeast(step, view)`` into one reused buffer, so the bytes cross into
    Python about ``step`` at a time instead of in the runtime's 4 KiB pieces (each crossing
    costs far more CPU than the copy: Python stays out of the byte path's per-chunk cost).
    Chunks are then ``step`` bytes except the last. Anything else falls back to the
    default reader, one chunk per read."""
    return _read_js_stream(readable, step, _py_bytes, reuse_buffer=True)


def js_chunks(readable: Any, *, step: int) -> AsyncGenerator[JsChunk, None]:
    """Read a JS ``ReadableStream`` as :class:`JsChunk` s that stay in JS memory: a byte
    stream with ``readAtLeast(step)`` into a fresh buffer per step (the chunks are kept
    until their part is stored, so buffers are not reused), anything else chunk by chunk.
    Only handles cross into Python, never the bytes."""
    return _read_js_stream(readable, step, _js_chunk, reuse_buffer=False)


# -- serving: requests, responses, waitUntil -------------------------------------------------


class PyResponse:
    """A pure-Python stand-in for a JS ``Response`` (CPython tests only): ``status``, the
    header pairs, and ``body``: ``None``, ``bytes`` or a :class:`PyReadableStream`."""

    def __init__(self, body: Any, status: int, headers: Sequence[tuple[str, str]]) -> None:
        self.body = body
        self.status = status
        self.headers = list(headers)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    async def read(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes | bytearray | memoryview):
            return bytes(self.body)
        return b"".join([chunk async for chunk in async_iter_js_stream(self.body)])


def header_pairs(headers: Any) -> list[tuple[str, str]]:
    """A JS ``Headers`` (or, under CPython, a mapping or pairs) as ``(name, value)`` strings."""
    if is_nullish(headers):
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def new_response(body: Any, status: int, headers: Sequence[tuple[str, str]]) -> Any:
    """A JS ``Response``: ``body`` is ``None``, a ``Uint8Array`` (:func:`to_js_bytes`) or a
    ``ReadableStream``; repeated header names (``Set-Cookie``) are kept."""
    if IN_WORKERS:  # pragma: no cover
        js_headers = js.Headers.new()
        for name, value in headers:
            js_headers.append(name, value)
        return js.Response.new(body, to_js_obj({"status": status, "headers": js_headers}))
    return PyResponse(body, status, headers)


class ResponseGone(Exception):
    """The consumer of a :class:`ResponseStream` cancelled it (the client went away)."""


class ResponseStream:
    """A streamed response body fed from Python: ``readable`` goes into the ``Response``,
    the producer awaits :meth:`write` per chunk and :meth:`close` at the end.

    The readable side is a ``ReadableStream`` over a Python *pull source* (``pull`` and
    ``cancel`` callbacks, high-water mark 0), not a writer on a ``TransformStream``: Python
    then never awaits a JS stream promise. That matters because Pyodide turns every JS
    promise into a future as it crosses, and one rejected with a value that is not an
    ``Error`` (``cancel("reason")``, ``cancel()``) can never settle that future: a writer
    awaiting ``write()`` after the client went away would hang. Here the consumer's
    ``cancel(reason)`` is a plain call into Python, whatever the reason.

    Back-pressure: :meth:`write` returns once its chunk is queued, and only one chunk is
    queued, so the producer runs at most a chunk ahead of the consumer. :meth:`close`
    returns once the consumer has read everything. With a known ``length`` the readable
    is piped through a ``FixedLengthStream(length)``, so the runtime sends that
    Content-Length rather than chunked encoding (and errors the body on a length
    mismatch). Under CPython ``readable`` is a :class:`PyReadableStream`.
    """

    def __init__(self, length: int | None = None) -> None:
        self.length = length
        self.cancelled: str | None = None
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=1)
        self._ended = asyncio.Event()  # the consumer took the end (or cancelled, or it errored)
        self._closed = False
        self._error: str | None = None
        self._proxies: list[Any] = []
        if IN_WORKERS:  # pragma: no cover
            self.readable = self._js_readable(length)
        else:
            self.readable = PyReadableStream(self._chunks(), known_length=length, on_cancel=self._on_cancel)

    # producer side

    async def write(self, data: bytes) -> None:
        if self.cancelled is not None:
            raise ResponseGone(self.cancelled)
        await self._queue.put(("chunk", data))
        if self.cancelled is not None:
            raise ResponseGone(self.cancelled)

    async def close(self) -> None:
        if self.cancelled is None:
            await self._queue.put(("end", None))
            await self._ended.wait()
        self._closed = True
        if self.cancelled is not None:
            raise ResponseGone(self.cancelled)

    def abort(self, reason: str) -> None:
        """Error the body after the chunk already queued (the consumer sees a broken
        stream); no-op once it ended."""
        if self._closed or self._ended.is_set():
            return
        self._closed = True
        self._error = reason
        if self._queue.empty():
            self._queue.put_nowait(("error", reason))

    # consumer side

    async def _next(self) -> tuple[str, Any]:
        if self._queue.empty() and self._error is not None:
            kind, payload = "error", self._error
        else:
            kind, payload = await self._queue.get()
        if kind != "chunk":
            self._ended.set()
        return kind, payload

    def _on_cancel(self, reason: Any) -> None:
        self.cancelled = str(reason) if not is_nullish(reason) else "cancelled"
        self._ended.set()
        while not self._queue.empty():  # wake a producer blocked on a full queue
            self._queue.get_nowait()

    async def _chunks(self) -> AsyncIterator[bytes]:  # the CPython stand-in's source
        while True:
            kind, payload = await self._next()
            if kind == "end":
                return
            if kind == "error":
                raise TypeError(f"stream errored: {payload}")
            yield payload

    def _js_readable(self, length: int | None) -> Any:  # pragma: no cover - Workers only
        loop = asyncio.get_running_loop()

        def release() -> None:
            proxies, self._proxies = self._proxies, []
            for proxy in proxies:
                proxy.destroy()

        async def pull_one(controller: Any) -> None:
            try:
                kind, payload = await self._next()
                if kind == "chunk":
                    controller.enqueue(to_js_bytes(payload))
                    return
                if kind == "end":
                    controller.close()
                else:
                    controller.error(js.Error.new(str(payload)))
            except Exception as exc:  # the stream was cancelled meanwhile, or similar
                try:
                    controller.error(js.Error.new(str(exc)))
                except Exception:
                    pass
            loop.call_soon(release)

        pulling: list[asyncio.Future[None]] = []

        def pull(controller: Any) -> Any:  # never called again before its promise settles
            task = asyncio.ensure_future(pull_one(controller))
            pulling[:] = [task]
            return promise_for(task)

        def cancel(reason: Any) -> None:
            self._on_cancel(reason)
            for task in pulling:
                task.cancel()  # a pull waiting for a chunk that will never come
            loop.call_soon(release)

        self._proxies = [_create_proxy(pull), _create_proxy(cancel)]
        source = to_js_obj({"pull": self._proxies[0], "cancel": self._proxies[1]})
        readable = js.ReadableStream.new(source, to_js_obj({"highWaterMark": 0}))
        if length is not None and js_get(js.globalThis, "FixedLengthStream") is not None:
            readable = readable.pipeThrough(js.FixedLengthStream.new(length))
        return readable


def promise_for(future: asyncio.Future[Any]) -> Any:
    """A JS ``Promise`` that settles (always fulfilled) when ``future`` is done; the future
    itself under CPython. Failures are the task's own business (it logs them)."""
    if not IN_WORKERS:
        return future

    def executor(resolve: Any, reject: Any) -> None:  # pragma: no cover
        future.add_done_callback(lambda _done: resolve())

    return js.Promise.new(_create_once_callable(executor))  # pragma: no cover


def wait_until(ctx: Any, future: asyncio.Future[Any]) -> bool:
    """``ctx.waitUntil(future)`` so the runtime keeps the isolate until ``future`` is done;
    False when ``ctx`` has no ``waitUntil``."""
    if js_get(ctx, "waitUntil") is None:
        return False
    ctx.waitUntil(promise_for(future))
    return True


# -- fetch ------------------------------------------------------------------------------------


async def js_fetch(url: str, method: str, headers: dict[str, str], body: str | None) -> tuple[int, Any]:
    """HTTP through the Workers ``fetch``: returns ``(status, parsed JSON or text)``."""
    if not IN_WORKERS:
        raise RuntimeError("js.fetch is only available inside the Workers runtime; inject a fetch callable")
    init: dict[str, Any] = {"method": method, "headers": headers}  # pragma: no cover
    if body is not None:  # pragma: no cover
        init["body"] = body
    response = await js.fetch(url, to_js_obj(init))  # pragma: no cover
    text = await response.text()  # pragma: no cover
    try:  # pragma: no cover
        return int(response.status), json.loads(text)
    except ValueError:  # pragma: no cover
        return int(response.status), text


async def global_fetch(url: str, request: Any) -> Any:
    """``fetch(url, request)`` in the Workers runtime: re-send a JS ``Request`` (method,
    headers and body stream) to another URL and return the JS ``Response`` untouched."""
    if not IN_WORKERS:
        raise RuntimeError("the global fetch is only available inside the Workers runtime; inject a fetch callable")
    return await js.fetch(url, request)  # pragma: no cover
