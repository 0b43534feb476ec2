"""Map arbitrary tus PATCH bodies onto equal-size multipart parts.

R2 (like S3) needs every part but the last to be the same size, so one part size is
chosen per upload and never changes. Bytes of a PATCH that do not fill a whole part are
staged as a small object of their own (one new key per PATCH, never rewritten: R2 allows
about one write per second per key) and prepended to the next part. Memory stays bounded
by one part size whatever the upload or chunk size.

Body chunks are kept as they came (``bytes`` as ``memoryview`` slices, or
:class:`~mediagate.ports.ByteChunk` objects such as JS-held bytes in the Worker) and handed
to the store one by one: nothing is copied into one part-sized Python buffer, so bytes
that never entered Python do not have to.

A store that sets ``streams_parts`` (the local one) receives a part while its bytes
arrive, not after the whole part was buffered: when the PATCH's declared length shows the
part will be filled, ``upload_part`` starts at its first byte, fed through a queue, so
the disk write overlaps the network read. The chunks are still kept until the part is
done: a body that ends early fails that part upload (never recorded) and its bytes are
staged as usual.

A store given as ``PartFromBody`` (the local one, with a server that offers the body as
``BodyToFile``) takes whole parts straight from the body instead: the engine hands it the
part's bytes already read (``buffer``) and the store has the server move the rest from the
socket into place. Such a part is never streamed; a body that ends inside it comes back
as bytes and is staged like any other remainder.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from ..ports import BodyToFile, ByteChunk, Chunk, ObjectStore, PartFromBody, StoreError
from .state import Part, StagedChunk, UploadState

_END = object()  # queue markers of a streamed part: complete, or abandoned
_ABORT = object()


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # an abandoned part's failure is expected: not "never retrieved"


def staging_key(upload_id: str, offset: int) -> str:
    return f"staging/{upload_id}/{offset:015d}"


class PartWriter:
    """Accumulates one PATCH body into ``state``; the caller decides when to commit it."""

    def __init__(
        self,
        store: ObjectStore,
        state: UploadState,
        body_end: int | None = None,
        direct: PartFromBody | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.body_end = body_end  # where this PATCH's body will end in the upload, when declared
        # set when whole parts may come straight from the body (see part_from_body)
        self.direct = direct
        self.streams = bool(getattr(store, "streams_parts", False))
        # the part being streamed into the store: its chunks, then _END or _ABORT
        self.queue: asyncio.Queue[Any] | None = None
        self.task: asyncio.Task[str] | None = None
        self.buffer: list[memoryview | ByteChunk] = []  # this part's body chunks so far (slices, never copies)
        self.buffered = 0
        self.consumed: list[StagedChunk] = []  # staged objects folded into parts: delete after commit
        self.created: list[StagedChunk] = []  # staged objects this PATCH wrote: delete if discarded

    @property
    def pending(self) -> int:
        """Bytes received but not yet durable (neither in a part nor staged)."""
        return self.buffered

    async def feed(self, chunk: bytes | ByteChunk) -> int:
        """Add body bytes; returns how many whole parts were uploaded as a result."""
        flushed = 0
        if isinstance(chunk, bytes):
            view: memoryview | ByteChunk = memoryview(chunk)  # immutable: slices of it are safe to keep
        elif isinstance(chunk, bytearray | memoryview):
            view = memoryview(bytes(chunk))  # the caller may reuse its buffer
        else:
            view = chunk
        while len(view):
            room = self.state.part_size - self.state.staged_size - self.buffered
            take = view[:room]
            if not self.buffered and self.streams:
                self._maybe_stream()
            self.buffer.append(take)
            self.buffered += len(take)
            if self.queue is not None:
                self.queue.put_nowait(take)
            view = view[len(take) :]
            if self.state.staged_size + self.buffered == self.state.part_size:
                await self._upload_part()
                flushed += 1
        return flushed

    def _reset(self) -> None:
        self.buffer = []  # replaced, never mutated: a part body being streamed keeps its list
        self.buffered = 0

    def _maybe_stream(self) -> None:
        """At a part's first new byte: start its upload now if this body will fill it."""
        s = self.state
        if self.body_end is None or s.multipart_id is None or len(s.parts) >= 10_000:
            return
        if self.direct is not None and not s.staged:
            return  # the store takes this part from the body (whole_part_ahead)
        start = s.offset - s.staged_size  # where the part begins in the upload
        size = s.part_size
        if s.length is not None and s.length - start < size:
            size = s.length - start  # the last part
        if self.body_end < start + size:
            return
        self.queue = asyncio.Queue()
        body = self._streamed_body(list(s.staged), self.queue)
        number = len(s.parts) + 1
        self.task = asyncio.ensure_future(self.store.upload_part(s.object_key, s.multipart_id, number, body, size))
        self.task.add_done_callback(_retrieve)

    def whole_part_ahead(self) -> int:
        """The size of the part being filled when the store may take the rest of it straight
        from the body (``PartFromBody``): nothing of it is staged and this body's declared
        rest fills it. Else 0."""
        s = self.state
        if self.direct is None or s.staged or self.queue is not None or self.body_end is None:
            return 0
        if s.multipart_id is None or len(s.parts) >= 10_000:
            return 0
        size = s.part_size
        if s.length is not None:
            size = min(size, s.length - s.offset)
        return size if size > self.buffered and self.body_end >= s.offset + size else 0

    async def part_from_body(self, body: BodyToFile, size: int) -> int:
        """Store the part being filled (``size``, from ``whole_part_ahead``): the bytes
        buffered for it, then the rest straight from ``body``. Returns the body bytes taken;
        when the body broke off first they stay buffered (staged by ``finish``, as when a
        streamed part is cut)."""
        s = self.state
        assert s.multipart_id is not None and self.direct is not None  # whole_part_ahead checked
        number = len(s.parts) + 1
        head = list(self.buffer)
        etag, partial = await self.direct.upload_part_from_body(s.object_key, s.multipart_id, number, head, body, size)
        if etag is None:
            self.direct = None  # the body is over: nothing more may come from it
            if partial:
                await self.feed(partial)
            return len(partial)
        taken = size - self.buffered
        s.parts.append(Part(number, etag, size))
        s.offset += self.buffered
        self._reset()
        s.offset += taken
        return taken

    def abandon(self) -> None:
        """Let a streamed part upload end by itself (failing): for paths that cannot await."""
        if self.queue is not None:
            self.queue.put_nowait(_ABORT)
        self.queue = self.task = None

    async def _stop_stream(self) -> None:
        """The body ended before the streamed part was full: that part upload fails (and
        is never recorded); the caller stages the buffered bytes instead."""
        if self.queue is None or self.task is None:
            return
        self.queue.put_nowait(_ABORT)
        try:
            await self.task
        except Exception:  # the expected failure of an abandoned part
            pass
        self.queue = self.task = None

    async def _streamed_body(self, staged: list[StagedChunk], queue: asyncio.Queue[Any]) -> AsyncIterator[Chunk]:
        async for data in self._part_body(staged, []):
            yield data
        while True:
            piece = await queue.get()
            if piece is _END:
                return
            if piece is _ABORT:
                raise StoreError("the body ended before the part was full")
            yield piece

    async def finish(self, *, final: bool) -> None:
        """End of body: upload the last part when the upload is complete, else stage the rest."""
        if final:
            if self.state.staged or self.buffer:
                await self._upload_part()
            return
        await self._stop_stream()
        if self.buffer:
            key = staging_key(self.state.id, self.state.offset)
            data = b"".join(c if isinstance(c, memoryview) else bytes(c) for c in self.buffer)
            await self.store.put(key, data, content_type="application/octet-stream")
            chunk = StagedChunk(key, self.buffered)
            self.state.staged.append(chunk)
            self.created.append(chunk)
            self.state.offset += self.buffered
            self._reset()

    async def discard(self) -> None:
        """Forget this PATCH: remove the staged objects it wrote (its parts get rewritten later)."""
        await self._stop_stream()
        self._reset()
        if self.created:
            await self.store.delete([c.key for c in self.created])
            self.created = []

    async def _upload_part(self) -> None:
        s = self.state
        if s.multipart_id is None:
            raise StoreError("upload has no multipart upload")
        number = len(s.parts) + 1
        size = s.staged_size + self.buffered
        if number > 10_000:
            raise StoreError("upload would need more than 10,000 parts")
        if self.task is not None and self.queue is not None:
            self.queue.put_nowait(_END)
            task, self.queue, self.task = self.task, None, None
            etag = await task
        else:
            body = self._part_body(list(s.staged), self.buffer)
            etag = await self.store.upload_part(s.object_key, s.multipart_id, number, body, size)
        s.parts.append(Part(number, etag, size))
        s.offset += self.buffered
        self.consumed.extend(s.staged)
        s.staged = []
        self._reset()

    async def _part_body(self, staged: list[StagedChunk], buffer: list[memoryview | ByteChunk]) -> AsyncIterator[Chunk]:
        for chunk in staged:
            body = await self.store.get(chunk.key)
            if body is None:
                raise StoreError(f"staged chunk {chunk.key} is missing")
            async for data in body:
                yield data
        for piece in buffer:
            yield piece
