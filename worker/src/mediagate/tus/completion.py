"""The steps after an upload's last byte, each safe to repeat after a crash at any point.

Assembling the object is not reversible: the store retires the multipart upload id (R2
answers "no such upload" afterwards; the local store does the same) and the parts are
gone. So the intent is recorded first: the engine commits state ``completing`` together
with the final part list *before* asking the store to assemble. From then on every step
can be run again by whoever finds the upload unfinished (a HEAD or PATCH of the owner, or
the cleanup sweep), always under the upload's lock:

1. assemble: ``complete_multipart``; ``NoSuchUpload`` means an earlier attempt already
   assembled it, which is checked (the object exists with the upload's length) rather
   than assumed;
2. ``completing`` -> ``completed`` (a conditional UPDATE under the lock);
3. delete every staged remainder under ``staging/<upload>/`` (their bytes are in the
   parts since the final part was uploaded; a kill may have left ones the row never
   listed);
4. finalize (files row, job row, queue message: itself idempotent, see ingest.py) and
   record the file id on the upload, which ends it.

A kill between any two steps leaves a state from which the list above, run again,
reaches the same end: the object with the right bytes, one files row, one job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..crashpoints import crash_point
from ..ports import Clock, CompletedPart, NoSuchUpload, ObjectStore, StoreError
from .protocol import TusError
from .state import UploadRepository, UploadState

Finalizer = Callable[[UploadState], Awaitable[str]]


def staging_prefix(upload_id: str) -> str:
    return f"staging/{upload_id}/"


class Completion:
    def __init__(self, store: ObjectStore, uploads: UploadRepository, clock: Clock, finalize: Finalizer) -> None:
        self.store = store
        self.uploads = uploads
        self.clock = clock
        self.finalize = finalize

    async def run(self, state: UploadState, token: str) -> None:
        """Finish ``state`` (``completing``, or ``completed`` without a file) under ``token``'s lock."""
        if state.is_complete and await self.store.head(state.object_key) is None:
            # Completed earlier, then its file was deleted (row and object) before the
            # upload recorded the file id: writing the rows again would resurrect a file
            # without bytes. The upload ends here instead.
            await self.uploads.mark(state.id, "terminated")
            state.state = "terminated"
            return
        if state.is_completing:
            await self.assemble(state)
            crash_point("completion:after-assemble")
            if not await self.uploads.mark_completed(state.id, token, self.clock.now()):
                raise TusError(409, "upload changed during completion; HEAD it again")
            state.state = "completed"
            crash_point("completion:after-completed")
        if not state.is_complete:
            raise TusError(409, f"upload is {state.state}, not completing")
        await self.drop_staging(state)
        crash_point("completion:after-staging-cleanup")
        if state.file_id is None:
            file_id = await self.finalize(state)
            crash_point("completion:after-finalize")
            await self.uploads.set_file(state.id, file_id)
            state.file_id = file_id

    async def assemble(self, state: UploadState) -> None:
        """Make the object exist with the upload's bytes; a repeat finds it made."""
        length = state.length or 0
        try:
            if not state.parts:  # an empty upload: no part can be empty on R2
                await self.store.put(state.object_key, b"", content_type=state.metadata.get("filetype"))
                if state.multipart_id:
                    await self.store.abort_multipart(state.object_key, state.multipart_id)
                return
            if sum(p.size for p in state.parts) != length:
                raise StoreError(f"the parts hold {sum(p.size for p in state.parts)} bytes, not {length}")
            parts = [CompletedPart(p.number, p.etag) for p in state.parts]
            try:
                await self.store.complete_multipart(state.object_key, state.multipart_id or "", parts)
            except NoSuchUpload:
                info = await self.store.head(state.object_key)
                if info is None or info.size != length:
                    raise
                # Assembled by an earlier attempt that died before recording it.
        except StoreError as exc:
            raise TusError(500, f"could not assemble the upload: {exc}") from exc

    async def drop_staging(self, state: UploadState) -> None:
        keys = [s.key for s in state.staged] + await self.store.list_keys(staging_prefix(state.id))
        if keys:
            await self.store.delete(sorted(set(keys)))
