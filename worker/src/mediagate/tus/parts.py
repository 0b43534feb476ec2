"""Map arbitrary tus PATCH bodies onto equal-size multipart parts.

R2 (like S3) needs every part but the last to be the same size, so one part size is
chosen per upload and never changes. Bytes of a PATCH that do not fill a whole part are
staged as a small object of their own (one new key per PATCH, never rewritten: R2 allows
about one write per second per key) and prepended to the next part. Memory stays bounded
by one part size whatever the upload or chunk size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..ports import ObjectStore, StoreError
from .state import Part, StagedChunk, UploadState


def staging_key(upload_id: str, offset: int) -> str:
    return f"staging/{upload_id}/{offset:015d}"


class PartWriter:
    """Accumulates one PATCH body into ``state``; the caller decides when to commit it."""

    def __init__(self, store: ObjectStore, state: UploadState) -> None:
        self.store = store
        self.state = state
        self.buffer = bytearray()
        self.consumed: list[StagedChunk] = []  # staged objects folded into parts: delete after commit
        self.created: list[StagedChunk] = []  # staged objects this PATCH wrote: delete if discarded

    @property
    def pending(self) -> int:
        """Bytes received but not yet durable (neither in a part nor staged)."""
        return len(self.buffer)

    async def feed(self, chunk: bytes) -> int:
        """Add body bytes; returns how many whole parts were uploaded as a result."""
        flushed = 0
        view = memoryview(chunk)
        while view:
            room = self.state.part_size - self.state.staged_size - len(self.buffer)
            take = view[:room]
            self.buffer += take
            view = view[len(take) :]
            if self.state.staged_size + len(self.buffer) == self.state.part_size:
                await self._upload_part()
                flushed += 1
        return flushed

    async def finish(self, *, final: bool) -> None:
        """End of body: upload the last part when the upload is complete, else stage the rest."""
        if final:
            if self.state.staged or self.buffer:
                await self._upload_part()
            return
        if self.buffer:
            key = staging_key(self.state.id, self.state.offset)
            await self.store.put(key, bytes(self.buffer), content_type="application/octet-stream")
            chunk = StagedChunk(key, len(self.buffer))
            self.state.staged.append(chunk)
            self.created.append(chunk)
            self.state.offset += len(self.buffer)
            self.buffer = bytearray()

    async def discard(self) -> None:
        """Forget this PATCH: remove the staged objects it wrote (its parts get rewritten later)."""
        self.buffer = bytearray()
        if self.created:
            await self.store.delete([c.key for c in self.created])
            self.created = []

    async def _upload_part(self) -> None:
        s = self.state
        if s.multipart_id is None:
            raise StoreError("upload has no multipart upload")
        number = len(s.parts) + 1
        size = s.staged_size + len(self.buffer)
        if number > 10_000:
            raise StoreError("upload would need more than 10,000 parts")
        etag = await self.store.upload_part(s.object_key, s.multipart_id, number, self._part_body(list(s.staged)), size)
        s.parts.append(Part(number, etag, size))
        s.offset += len(self.buffer)
        self.consumed.extend(s.staged)
        s.staged = []
        self.buffer = bytearray()

    async def _part_body(self, staged: list[StagedChunk]) -> AsyncIterator[bytes]:
        for chunk in staged:
            body = await self.store.get(chunk.key)
            if body is None:
                raise StoreError(f"staged chunk {chunk.key} is missing")
            async for data in body:
                yield data
        if self.buffer:
            yield self.buffer  # no copy: the buffer is replaced, not mutated, once the part is stored
