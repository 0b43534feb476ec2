"""The tus engine: create, inspect, append to and terminate uploads.

HTTP-agnostic: the API layer turns requests into calls here and ``TusError`` into
responses. All state goes through ``UploadRepository`` and all bytes through the
``ObjectStore`` port, so the same engine runs in the Worker and locally.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass

from ..auth import Principal
from ..config import Settings
from ..crashpoints import crash_point
from ..ports import BodyToFile, ByteChunk, Clock, ObjectStore, PartFromBody
from .completion import Completion, Finalizer
from .parts import PartWriter
from .protocol import CHECKSUM_ALGORITHMS, CHECKSUM_MISMATCH, TusError
from .state import UploadRepository, UploadState

log = logging.getLogger("mediagate.tus")
# (user_id, upload_id, original_key): delete the file a completed upload became.
FileDiscarder = Callable[[str, str, str], Awaitable[object]]


class BodyInterrupted(Exception):
    """The client went away mid-body (raised by the API layer's body iterator)."""


@dataclass(frozen=True)
class PatchRequest:
    offset: int
    body: AsyncIterable[bytes | ByteChunk]
    content_length: int | None = None
    checksum: tuple[str, bytes] | None = None
    upload_length: int | None = None
    # The same body, able to move its bytes into the store itself (ports.BODY_TO_FILE);
    # used for whole parts when the engine was given a PartFromBody store.
    direct: BodyToFile | None = None


def original_key(user_id: str, upload_id: str) -> str:
    return f"originals/{user_id}/{upload_id}"


class TusEngine:
    def __init__(
        self,
        settings: Settings,
        store: ObjectStore,
        uploads: UploadRepository,
        clock: Clock,
        finalize: Finalizer,
        discard_file: FileDiscarder,
        part_from_body: PartFromBody | None = None,
    ) -> None:
        self.settings = settings
        self.part_from_body = part_from_body
        self.store = store
        self.uploads = uploads
        self.clock = clock
        self.finalize = finalize
        self.discard_file = discard_file
        self.completion = Completion(store, uploads, clock, finalize)

    # -- lookups -------------------------------------------------------------------

    async def get(self, principal: Principal, upload_id: str) -> UploadState:
        """The caller's upload: 404 when unknown or someone else's, 410 when expired.

        An upload whose completion a crash interrupted is finished here first (when its
        lock is free), so the client's resume (HEAD, then PATCH if needed) ends in a
        completed upload rather than an error."""
        state = await self.uploads.get(upload_id) if _valid_id(upload_id) else None
        return await self._checked(principal, state)

    async def _checked(self, principal: Principal, state: UploadState | None) -> UploadState:
        """``get``'s verdict on a row already read."""
        if state is None or state.user_id != principal.user_id or state.state == "terminated":
            raise TusError(404, "upload not found")
        if state.state == "expired" or (
            state.state == "active" and not state.is_unfinished and state.expires_at < self.clock.now()
        ):
            raise TusError(410, "upload expired")
        if state.is_unfinished:
            try:
                state = await self.finish(state)
            except TusError:
                raise  # e.g. the bytes cannot be assembled: the client must know
            except Exception:  # e.g. the queue is down: the bytes are safe, the sweep retries
                log.exception("could not finish upload %s", state.id)
            if state.state == "terminated":  # its file was deleted meanwhile
                raise TusError(404, "upload not found")
        return state

    async def finish(self, state: UploadState) -> UploadState:
        """Run the completion steps left undone on ``state`` under its lock. A held lock
        (the completing request itself, or a dead one not yet stale) leaves it as it is."""
        token = uuid.uuid4().hex
        locked = await self.uploads.acquire_lock(state.id, token, self.clock.now(), self.settings.lock_stale_seconds)
        if locked is None:
            return state
        try:
            if locked.is_unfinished and locked.state == "active":
                await self._complete(locked, PartWriter(self.store, locked), token, locked.offset)
            elif locked.is_unfinished:
                await self.completion.run(locked, token)
            return locked
        finally:
            await self.uploads.release_lock(state.id, token)

    # -- creation ------------------------------------------------------------------

    def check_length(self, length: int) -> None:
        if length > self.settings.max_upload_size:
            raise TusError(413, f"upload is larger than the maximum of {self.settings.max_upload_size} bytes")

    async def create(self, principal: Principal, length: int | None, metadata: dict[str, str]) -> UploadState:
        if length is not None:
            self.check_length(length)
        upload_id = uuid.uuid4().hex
        key = original_key(principal.user_id, upload_id)
        content_type = metadata.get("filetype") or "application/octet-stream"
        multipart_id = await self.store.create_multipart(key, content_type=content_type[:100])
        state = UploadState(
            id=upload_id,
            user_id=principal.user_id,
            length=length,
            offset=0,
            metadata=metadata,
            object_key=key,
            multipart_id=multipart_id,
            part_size=self.settings.part_size,
            expires_at=self.clock.now() + self.settings.upload_ttl_seconds,
        )
        await self.uploads.insert(state)
        if length == 0:
            await self._complete_empty(state)
        return state

    async def _complete_empty(self, state: UploadState) -> None:
        token = uuid.uuid4().hex
        locked = await self.uploads.acquire_lock(state.id, token, self.clock.now(), self.settings.lock_stale_seconds)
        if locked is None:  # someone is finishing it already (it is full from the start)
            return
        try:
            await self._complete(locked, PartWriter(self.store, locked), token, from_offset=locked.offset)
            state.state, state.file_id = locked.state, locked.file_id
        finally:
            await self.uploads.release_lock(state.id, token)

    # -- PATCH -----------------------------------------------------------------------

    async def patch(self, principal: Principal, upload_id: str, req: PatchRequest) -> UploadState:
        """Append a body. The common case costs two database round trips whatever the body
        size: one statement reads the upload and takes its lock, one commits the progress
        and releases the lock (plus a commit per UPLOAD_COMMIT_INTERVAL_MS of a long body)."""
        if not _valid_id(upload_id):
            raise TusError(404, "upload not found")
        token = uuid.uuid4().hex
        now = self.clock.now()
        row, locked = await self.uploads.lock_for_append(
            upload_id, principal.user_id, req.offset, token, now, self.settings.lock_stale_seconds
        )
        if not locked or row is None:
            return await self._patch_slow(principal, await self._checked(principal, row), req)
        # The statement checked owner, state, expiry, fullness, offset and lock.
        try:
            if req.upload_length is not None:
                row = await self._declare_length(row, req.upload_length)
            if req.content_length is not None:
                self._check_room(row, req.offset + req.content_length)
        except BaseException:
            await self.uploads.release_lock(upload_id, token)
            raise
        return await self._write_locked(row, req, token)

    async def _patch_slow(self, principal: Principal, state: UploadState, req: PatchRequest) -> UploadState:
        """A PATCH the one-statement lock did not take: the answers for uploads that cannot
        take these bytes now (404, 409, 410, 423; an interrupted completion is finished
        first), and a lock that came free meanwhile."""
        upload_id = state.id
        if req.offset != state.offset:
            raise TusError(409, f"Upload-Offset {req.offset} does not match the current offset {state.offset}")
        if req.upload_length is not None:
            state = await self._declare_length(state, req.upload_length)
        if state.is_complete or state.is_completing:
            if req.content_length:
                raise TusError(409, "upload is already complete")
            if state.is_completing:  # being finished by another request right now
                raise TusError(423, "upload is completing; retry shortly", {"Retry-After": "1"})
            return state
        if req.content_length is not None:
            self._check_room(state, req.offset + req.content_length)

        token = uuid.uuid4().hex
        now = self.clock.now()
        locked = await self.uploads.acquire_lock(upload_id, token, now, self.settings.lock_stale_seconds)
        if locked is None:
            raise TusError(423, "upload is locked by another request; retry shortly", {"Retry-After": "1"})
        if locked.offset != req.offset:
            await self.uploads.release_lock(upload_id, token)
            raise TusError(409, f"Upload-Offset {req.offset} does not match the current offset {locked.offset}")
        return await self._write_locked(locked, req, token)

    async def _write_locked(self, state: UploadState, req: PatchRequest, token: str) -> UploadState:
        """``_write`` under the lock ``token`` holds; the lock is given up on every path
        (by ``_write``'s last commit when it ends in one, else by a statement of its own)."""
        released = False
        try:
            state, released = await self._write(state, req, token)
            return state
        finally:
            if not released:
                await self.uploads.release_lock(state.id, token)

    async def _declare_length(self, state: UploadState, length: int) -> UploadState:
        if state.length is not None:
            if state.length != length:
                raise TusError(400, "Upload-Length cannot change once set")
            return state
        self.check_length(length)
        if length < state.offset:
            raise TusError(400, "Upload-Length is smaller than the bytes already received")
        await self.uploads.set_length(state.id, length)
        state.length = length
        return state

    def _check_room(self, state: UploadState, end: int) -> None:
        limit = state.length if state.length is not None else self.settings.max_upload_size
        if end > limit:
            what = "Upload-Length" if state.length is not None else "the maximum upload size"
            raise TusError(413, f"body would end at byte {end}, beyond {what} ({limit})")

    async def _write(self, state: UploadState, req: PatchRequest, token: str) -> tuple[UploadState, bool]:
        """Stream the body into parts; (state, whether the last commit released the lock)."""
        start = state.offset
        committed_offset = start
        body_end = None if req.content_length is None else start + req.content_length
        hasher = CHECKSUM_ALGORITHMS[req.checksum[0]]() if req.checksum else None
        # Whole parts may come straight from the body into the store (the local server:
        # socket -> file); bytes that need hashing, and the ends around parts, pass through here.
        direct = req.direct if self.part_from_body is not None and hasher is None else None
        writer = PartWriter(self.store, state, body_end, self.part_from_body if direct is not None else None)
        received = 0
        interrupted = False
        last_beat = self.clock.now()
        interval = min(self.settings.commit_interval_ms / 1000, self.settings.lock_stale_seconds / 3)
        chunks = aiter(req.body)
        try:
            while True:
                size = writer.whole_part_ahead() if direct is not None else 0
                if size:
                    assert direct is not None
                    expected = size - writer.buffered
                    taken = await writer.part_from_body(direct, size)
                    received += taken
                    if taken < expected:
                        interrupted = True  # the body broke off (the server closed the connection)
                        break
                else:
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        break
                    if not chunk:
                        continue
                    received += len(chunk)
                    self._check_room(state, start + received)
                    if hasher is not None:
                        hasher.update(chunk if isinstance(chunk, bytes | bytearray | memoryview) else bytes(chunk))
                    await writer.feed(chunk)
                now = self.clock.now()
                if now - last_beat < interval:
                    continue  # the hot path: no database round trip per chunk or per part
                # Parts that became durable are committed at most every UPLOAD_COMMIT_INTERVAL_MS, not
                # one by one: nothing is acknowledged before the commit at the end of this
                # PATCH, so a kill before then only loses bytes the client was never told
                # about, and the periodic commit bounds what it must resend. A commit beats
                # the lock's heartbeat; without new parts (a slow client) the heartbeat alone.
                if hasher is None and state.offset != committed_offset:
                    await self._commit(state, writer, token, committed_offset)
                    committed_offset = state.offset
                elif not await self.uploads.heartbeat(state.id, token, now):
                    raise TusError(409, "upload was taken over by another request")
                last_beat = now
        except BodyInterrupted:
            interrupted = True
        except TusError:
            await writer.discard()
            if hasher is None and state.offset != committed_offset:
                await self._commit(state, writer, token, committed_offset)
            raise
        except BaseException:
            writer.abandon()  # a part streaming into the store must not wait for more forever
            raise

        if req.content_length is not None and not interrupted and received != req.content_length:
            interrupted = True
        if hasher is not None and req.checksum is not None:
            if interrupted:
                await writer.discard()
                raise TusError(400, "body ended early; a checksummed chunk is kept only when complete")
            assert req.checksum is not None  # hasher is made from it
            if not hmac.compare_digest(hasher.digest(), req.checksum[1]):
                await writer.discard()
                raise TusError(CHECKSUM_MISMATCH, f"{req.checksum[0]} checksum mismatch; the chunk was discarded")

        end = start + received
        if not interrupted and state.length is not None and end == state.length:
            await self._complete(state, writer, token, committed_offset)
            return state, False
        await writer.finish(final=False)
        if committed_offset != start and state.offset == committed_offset and not writer.consumed:
            return state, False  # the body ended on a part boundary: its last part's commit saved it all
        await self._commit(state, writer, token, committed_offset, release=True)
        return state, True

    async def _commit(
        self, state: UploadState, writer: PartWriter, token: str, from_offset: int, *, release: bool = False
    ) -> None:
        now = self.clock.now()
        if state.state == "active":
            state.expires_at = now + self.settings.upload_ttl_seconds
        if not await self.uploads.commit(state, token=token, from_offset=from_offset, now=now, release=release):
            await writer.discard()
            raise TusError(409, "upload changed during this request; HEAD it and resume")
        if writer.consumed:
            await self.store.delete([c.key for c in writer.consumed])
            writer.consumed = []
        writer.created = []

    async def _complete(self, state: UploadState, writer: PartWriter, token: str, from_offset: int) -> None:
        """Last byte: upload the final part, record the intent (``completing`` with the part
        list), then run the completion steps; see :mod:`.completion` for why this order."""
        await writer.finish(final=True)
        crash_point("completion:before-completing")
        state.state = "completing"
        await self._commit(state, writer, token, from_offset)
        crash_point("completion:after-completing")
        await self.completion.run(state, token)

    # -- termination and expiry ------------------------------------------------------

    async def terminate(self, principal: Principal, upload_id: str) -> None:
        """tus termination: the upload and everything it produced go, complete or not.

        The termination extension answers 204 for finished and unfinished uploads alike
        (tus-js-client treats 409 as retryable). A completed upload's file is deleted the
        way the files API deletes it (row, jobs, queue messages, original, derived
        objects); later requests for the upload answer 404."""
        await self.get(principal, upload_id)
        token = uuid.uuid4().hex
        locked = await self.uploads.acquire_lock(upload_id, token, self.clock.now(), self.settings.lock_stale_seconds)
        if locked is None:
            raise TusError(423, "upload is locked by another request; retry shortly", {"Retry-After": "1"})
        if locked.is_complete:
            await self.discard_file(principal.user_id, upload_id, locked.object_key)
        else:
            await self._discard_bytes(locked)
        await self.uploads.delete(upload_id)

    async def _discard_bytes(self, state: UploadState) -> None:
        if state.multipart_id:
            await self.store.abort_multipart(state.object_key, state.multipart_id)
        keys = [s.key for s in state.staged]
        keys += await self.store.list_keys(f"staging/{state.id}/")
        if keys:
            await self.store.delete(sorted(set(keys)))

    async def cleanup(self) -> dict[str, int]:
        """Expire stale uploads (abort their multipart uploads, drop staged bytes) and
        finish uploads whose completion was interrupted (``UploadState.is_unfinished``),
        each under its lock. An upload that cannot be finished (its bytes are gone) is
        logged and tried again next time."""
        expired = 0
        for state in await self.uploads.expired(self.clock.now()):
            token = uuid.uuid4().hex
            locked = await self.uploads.acquire_lock(
                state.id, token, self.clock.now(), self.settings.lock_stale_seconds
            )
            if locked is None:
                continue
            await self._discard_bytes(locked)
            await self.uploads.mark(state.id, "expired")
            expired += 1
        finalized = 0
        for state in await self.uploads.unfinished(self.clock.now() - self.settings.lock_stale_seconds):
            try:
                finished = await self.finish(state)
            except Exception:  # one broken upload must not stop the sweep
                log.exception("could not finish upload %s", state.id)
                continue
            if finished.is_complete and finished.file_id is not None and state.is_unfinished:
                finalized += 1
        return {"expired": expired, "finalized": finalized}


def _valid_id(upload_id: str) -> bool:
    return len(upload_id) == 32 and all(c in "0123456789abcdef" for c in upload_id)
