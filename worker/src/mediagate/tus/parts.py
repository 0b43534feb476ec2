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
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..ports import ByteChunk, ObjectStore, StoreError
from .state import Part, StagedChunk, UploadState


def staging_key(upload_id: str, offset: int) -> str:
    return f"staging/{upload_id}/{offset:015d}"


class PartWriter:
    """Accumulates one PATCH body into ``state``; the caller decides when to commit it."""

    def __init__(self, store: ObjectStore, state: UploadState) -> None:
        self.store = store
        self.state = state
        self.buffer: list[ByteChunk] = []  # this part's body chunks so far (slices, never copies)
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
            view: ByteChunk = memoryview(chunk)  # immutable: slices of it are safe to keep
        elif isinstance(chunk, bytearray | memoryview):
            view = memoryview(bytes(chunk))  # the caller may reuse its buffer
        else:
            view = chunk
        while len(view):
            room = self.state.part_size - self.state.staged_size - self.buffered
            take = view[:room]
            self.buffer.append(take)
            self.buffered += len(take)
            view = view[len(take) :]
            if self.state.staged_size + self.buffered == self.state.part_size:
                await self._upload_part()
                flushed += 1
        return flushed

    def _reset(self) -> None:
        self.buffer = []  # replaced, never mutated: a part body being streamed keeps its list
        self.buffered = 0

    async def finish(self, *, final: bool) -> None:
        """End of body: upload the last part when the upload is complete, else stage the rest."""
        if final:
            if self.state.staged or self.buffer:
                await self._upload_part()
            return
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
        body = self._part_body(list(s.staged), self.buffer)
        etag = await self.store.upload_part(s.object_key, s.multipart_id, number, body, size)  # type: ignore[arg-type]
        s.parts.append(Part(number, etag, size))
        s.offset += self.buffered
        self.consumed.extend(s.staged)
        s.staged = []
        self._reset()

    async def _part_body(self, staged: list[StagedChunk], buffer: list[ByteChunk]) -> AsyncIterator[bytes | ByteChunk]:
        for chunk in staged:
            body = await self.store.get(chunk.key)
            if body is None:
                raise StoreError(f"staged chunk {chunk.key} is missing")
            async for data in body:
                yield data
        for piece in buffer:
            yield piece
