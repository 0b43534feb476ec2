"""A filesystem object store that behaves like R2, multipart rules included.

Objects live under ``<root>/objects/<key>``; a multipart upload under
``<root>/multipart/<upload id>/``: one ``data`` file in which part n is written at its
final offset (n - 1) * P (P = the size of part 1; R2 wants every part but the last the same
size), and a small record per part (etag, size, offset) written atomically after its
bytes. So every byte is written once: completing validates and renames ``data`` into
place. ``complete_multipart`` enforces R2's rules (all parts but the last the same size
and at least 5 MiB, the last no larger, at most 10,000 parts, ETags matching) so any
violation by the tus engine fails tests here rather than in production; parts that do
not fit the layout (out of order, larger than part 1) get a file of their own and are
copied at completion. Objects are written to a temporary file and renamed into place, so
a killed process never leaves a half-written object (the temporary files it may leave
are removed by ``remove_stale_temp_files``, which the local server's sweep calls); a part
killed mid-write has no record, so it was never uploaded.

Completing a multipart upload is crash-safe like R2's: the object is renamed into place
first, then the upload id is retired (``upload.json`` goes, atomically) and only then are
the records removed, so a kill at any point leaves either a completable upload or an
assembled object with an unknown upload id (``NoSuchUpload``; a manifest whose ``data``
is gone was renamed into place, and answers ``NoSuchUpload`` too).
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import fcntl
import json
import os
import queue
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from io import BufferedWriter
from pathlib import Path
from typing import Any

from ...ports import (
    AsgiSend,
    BodyToFile,
    ByteStream,
    Chunk,
    CompletedPart,
    DirectSend,
    ListedObject,
    MultipartLister,
    MultipartUploadInfo,
    NoSuchUpload,
    ObjectBody,
    ObjectInfo,
    ObjectLister,
    ObjectPage,
    ObjectStore,
    PartFromBody,
    SendableBody,
    StoreError,
)

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000
READ_CHUNK = 1024 * 1024
DATA = "data"  # a multipart upload's bytes, parts in place


def _concatenate(sources: list[tuple[Path, int, int]], target: Path) -> None:
    """Join (file, offset, size) ranges in the kernel (copy_file_range), falling back to a
    buffered copy."""
    with open(target, "wb") as out:
        for source, offset, size in sources:
            with open(source, "rb") as src:
                src.seek(offset)
                remaining = size
                try:
                    while remaining > 0:
                        n = os.copy_file_range(src.fileno(), out.fileno(), remaining)
                        if n == 0:
                            break
                        remaining -= n
                except OSError:
                    src.seek(offset + size - remaining)
                    while remaining > 0:
                        data = src.read(min(4 * READ_CHUNK, remaining))
                        if not data:
                            break
                        out.write(data)
                        remaining -= len(data)
            if remaining:
                raise StoreError(f"InvalidPart: {source.name} holds fewer bytes than recorded")


IOV_MAX = 1024  # buffers per pwritev


async def _flock(fd: int, timeout: float = 30.0) -> None:
    """Take an exclusive flock on ``fd`` without blocking the event loop."""
    waited = 0.0
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if waited >= timeout:
                raise StoreError("multipart upload is busy (another part write holds it)") from None
            await asyncio.sleep(0.05)
            waited += 0.05


Buffer = bytes | bytearray | memoryview


def _pwritev(fd: int, buffers: list[Buffer], offset: int) -> None:
    while buffers:
        n = os.pwritev(fd, buffers, offset)
        offset += n
        while buffers and n >= len(buffers[0]):
            n -= len(buffers[0])
            buffers.pop(0)
        if buffers and n:
            buffers[0] = memoryview(buffers[0])[n:]


WAKE_BYTES = 1024 * 1024  # a part writer thread is woken once about this much is waiting


class _PartFileWriter:
    """One thread that writes one part's body at its offset while the body arrives.

    The event loop appends chunks to a deque (atomic, no syscall) and wakes the thread
    only when it sleeps and about ``WAKE_BYTES`` are waiting (or at the end); the thread
    writes whatever has arrived with one ``pwritev``, so batches grow by themselves when
    the disk is slower than the network. Before, every MiB cost a thread-pool submission,
    a future and a wake-up of the event loop: under load the largest Python-level item
    in the server's profile (every wake-up is a chance for the OS to switch threads while
    the loop holds the GIL). The chunks are the body's own (held by the tus part writer
    until the part is recorded), so waiting here costs no memory."""

    def __init__(self, fd: int, offset: int) -> None:
        # Its own descriptor (same open file, same flock): a caller that stops waiting
        # (cancelled) and closes ``fd`` cannot make this thread write into a reused number.
        self.fd = os.dup(fd)
        self.offset = offset
        self.chunks: collections.deque[Buffer] = collections.deque()
        self.waiting = 0  # bytes appended since the thread was last woken
        self.closed = False
        self.sleeping = False
        self.wake: queue.SimpleQueue[None] = queue.SimpleQueue()
        self.error: OSError | None = None
        loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = loop.create_future()
        self.thread = threading.Thread(target=self._run, args=(loop,), name="part-writer", daemon=True)
        self.thread.start()

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._drain()
        finally:
            os.close(self.fd)
            with contextlib.suppress(RuntimeError):  # the loop is gone (shutdown): nobody waits
                loop.call_soon_threadsafe(_resolve, self.done)

    def _drain(self) -> None:
        offset = self.offset
        while True:
            batch: list[Buffer] = []
            while self.chunks and len(batch) < IOV_MAX:
                batch.append(self.chunks.popleft())
            if batch:
                size = sum(len(b) for b in batch)
                if self.error is None:
                    try:
                        _pwritev(self.fd, batch, offset)
                    except OSError as exc:  # e.g. ENOSPC: reported at the end, the rest is skipped
                        self.error = exc
                offset += size
                continue
            if self.closed and not self.chunks:
                return  # ``closed`` is set after the last append: nothing can follow
            self.sleeping = True
            if self.chunks or self.closed:  # appended meanwhile: no wake-up may be lost
                self.sleeping = False
                continue
            self.wake.get()

    def write(self, chunk: Buffer) -> None:
        self.chunks.append(chunk)
        self.waiting += len(chunk)
        if self.waiting >= WAKE_BYTES:
            self._wake()

    def _wake(self) -> None:
        self.waiting = 0
        if self.sleeping:
            self.sleeping = False
            self.wake.put(None)

    async def close(self) -> None:
        """Wait until every chunk written so far is on disk (or failed)."""
        self.closed = True
        self._wake()
        await asyncio.shield(self.done)
        if self.error is not None:
            raise StoreError(f"could not write the part: {self.error}") from self.error


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _write_at(fd: int, offset: int, data: bytes | ByteStream, size: int) -> None:
    """Write exactly ``size`` bytes of ``data`` at ``offset``, in a thread while the
    server keeps reading the socket (see :class:`_PartFileWriter`). Never writes past
    ``offset + size``; returns only once every byte is written, also when ``data`` fails."""
    if isinstance(data, bytes | bytearray | memoryview):
        if len(data) != size:
            raise StoreError(f"body was {len(data)} bytes, declared {size}")
        await asyncio.to_thread(_pwritev, fd, [data], offset)
        return
    writer = _PartFileWriter(fd, offset)
    received = 0
    try:
        async for chunk in data:
            if not isinstance(chunk, bytes | bytearray | memoryview):
                chunk = bytes(chunk)  # a ByteChunk held elsewhere
            if received + len(chunk) > size:
                raise StoreError(f"body is longer than the declared {size} bytes")
            received += len(chunk)
            writer.write(chunk)
    finally:
        await writer.close()  # the fd stays open (and flocked) until the thread is done with it
    if received != size:
        raise StoreError(f"body was {received} bytes, declared {size}")


ZEROCOPY = "http.response.zerocopy"  # ASGI extension: the server sends from a file descriptor


class FileBody(ObjectBody, SendableBody):
    """An async byte stream over a byte range of a file; as a
    :class:`~mediagate.ports.SendableBody` it is sent with ``http.response.zerocopy``
    (sendfile) when the server offers that extension, else read in 1 MiB steps."""

    def __init__(self, path: Path, info: ObjectInfo, start: int, end: int) -> None:
        self.path = path
        self.info = info
        self.start = start
        self.end = end

    async def __aiter__(self) -> AsyncIterator[bytes]:
        remaining = self.end - self.start
        with open(self.path, "rb") as fh:
            fh.seek(self.start)
            while remaining > 0:
                data = fh.read(min(READ_CHUNK, remaining))
                if not data:
                    break
                remaining -= len(data)
                yield data

    async def send(self, send: AsgiSend, extensions: Mapping[str, Any]) -> None:
        count = max(0, self.end - self.start)
        if ZEROCOPY in extensions and count:
            with open(self.path, "rb") as fh:
                await send({"type": ZEROCOPY, "file": fh, "offset": self.start, "count": count, "more_body": False})
            return
        async for chunk in self:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class LocalObjectStore(ObjectStore, DirectSend, ObjectLister, MultipartLister, PartFromBody):
    # upload_part may be called as a part's bytes arrive (tus/parts.py): the write
    # overlaps the network read
    streams_parts = True

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.multipart = self.root / "multipart"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.multipart.mkdir(parents=True, exist_ok=True)

    # -- helpers -----------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """Map a key to a path, refusing anything that could escape the store."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in key:
            raise StoreError(f"invalid object key {key!r}")
        if any(len(p.encode("utf-8", "surrogatepass")) > 255 for p in parts):  # NAME_MAX: else OSError
            raise StoreError("invalid object key: a segment is longer than 255 bytes")
        return self.objects.joinpath(*parts)

    def _upload_dir(self, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise StoreError("invalid multipart upload id")
        return self.multipart / upload_id

    @staticmethod
    def _open_new(path: Path) -> BufferedWriter:
        """Create ``path`` for writing, making its directory (again, if a sweep just
        removed it as empty)."""
        for attempt in range(3):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                return open(path, "wb")
            except FileNotFoundError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    async def _write(cls, path: Path, data: bytes | ByteStream, expected: int | None = None) -> int:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        written = 0
        try:
            with cls._open_new(tmp) as fh:
                # Writes run in a thread so the server keeps reading the socket meanwhile.
                if isinstance(data, bytes | bytearray | memoryview):
                    await asyncio.to_thread(fh.write, data)
                    written = len(data)
                else:
                    async for chunk in data:
                        if not isinstance(chunk, bytes | memoryview):
                            chunk = bytes(chunk)  # a ByteChunk held elsewhere
                        await asyncio.to_thread(fh.write, chunk)
                        written += len(chunk)
            if expected is not None and written != expected:
                raise StoreError(f"body was {written} bytes, declared {expected}")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return written

    def _meta_path(self, path: Path) -> Path:
        return path.with_name(f".{path.name}.meta")

    # -- objects -------------------------------------------------------------------------

    async def put(
        self, key: str, data: bytes | ByteStream, *, content_type: str | None = None, size: int | None = None
    ) -> ObjectInfo:
        path = self.path_for(key)
        size = await self._write(path, data, size)
        self._write_meta(path, content_type)
        return ObjectInfo(key, size, content_type)

    def _write_meta(self, path: Path, content_type: str | None) -> None:
        meta = self._meta_path(path)
        if content_type:
            meta.write_text(json.dumps({"content_type": content_type}))
        else:
            meta.unlink(missing_ok=True)

    async def head(self, key: str) -> ObjectInfo | None:
        path = self.path_for(key)
        try:
            size = path.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        content_type = None
        meta = self._meta_path(path)
        if meta.exists():
            content_type = json.loads(meta.read_text()).get("content_type")
        return ObjectInfo(key, size, content_type)

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> FileBody | None:
        info = await self.head(key)
        if info is None:
            return None
        stop = info.size if end is None else min(end, info.size)
        return FileBody(self.path_for(key), info, max(0, start), max(start, stop))

    async def open_sendable(self, key: str, *, start: int = 0, end: int | None = None) -> FileBody | None:
        """:class:`~mediagate.ports.DirectSend`: the file range, sendfile where the server can."""
        return await self.get(key, start=start, end=end)

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            path = self.path_for(key)
            path.unlink(missing_ok=True)
            self._meta_path(path).unlink(missing_ok=True)

    async def list_keys(self, prefix: str) -> list[str]:
        return sorted(self._walk(prefix))

    def _walk(self, prefix: str) -> dict[str, Path]:
        """Every object key under ``prefix`` and its file (only the prefix's directory is walked)."""
        base = self.objects
        dirs = prefix.split("/")[:-1]
        if any(d in ("", ".", "..") for d in dirs) or "\x00" in prefix:
            return {}  # no key has such a prefix, and the walk must not leave the store
        top = base.joinpath(*dirs)
        found: dict[str, Path] = {}
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                if name.startswith("."):
                    continue
                path = os.path.join(dirpath, name)
                key = os.path.relpath(path, base).replace(os.sep, "/")
                if key.startswith(prefix):
                    found[key] = Path(path)
        return found

    async def list_objects(self, prefix: str, *, cursor: str | None = None, limit: int = 1000) -> ObjectPage:
        """One page of objects in key order; the cursor is the last key of the page."""
        found = self._walk(prefix)
        keys = sorted(found)
        start = bisect.bisect_right(keys, cursor) if cursor else 0
        page: list[ListedObject] = []
        for key in keys[start : start + limit]:
            try:
                st = found[key].stat()
            except FileNotFoundError:
                continue  # deleted meanwhile
            page.append(ListedObject(key, st.st_size, st.st_mtime))
        more = start + limit < len(keys)
        return ObjectPage(page, keys[start + limit - 1] if more else None)

    def remove_stale_temp_files(self, older_than_seconds: float) -> int:
        """Remove temporary files a killed writer left behind, metadata of objects a killed
        delete removed, and directories left empty.

        Local housekeeping (R2 has neither): only files and directories untouched for
        ``older_than_seconds`` go, so a write in progress keeps its temporary file."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for root in (self.objects, self.multipart):
            for dirpath, dirs, files in os.walk(root, topdown=False):
                for name in files:
                    orphan_meta = name.startswith(".") and name.endswith(".meta") and name[1:-5] not in files
                    if (name.startswith(".") and name.endswith(".tmp")) or orphan_meta:
                        path = Path(dirpath, name)
                        try:
                            if path.stat().st_mtime < cutoff:
                                path.unlink()
                                removed += 1
                        except FileNotFoundError:
                            pass
                here = Path(dirpath)
                if root is self.objects and here != root and not dirs and not files:
                    try:
                        if here.stat().st_mtime < cutoff:
                            here.rmdir()
                    except OSError:
                        pass  # not empty any more, or gone
        return removed

    # -- multipart -------------------------------------------------------------------------
    #
    # One data file per multipart upload (``<id>/data``): part n is written in place at
    # (n - 1) * P, P being the size of part 1 (all parts but the last are that size under
    # R2's rules), so completing is validate + truncate + rename and every byte is written
    # once. Each part has a record ``part-NNNNN.json`` (etag, size, offset) written
    # atomically after its bytes: a part without a record was never uploaded, and a part
    # being rewritten loses its old record before its bytes are touched. A part that
    # cannot go in place (out of order, or larger than P) is written to its own file
    # ``part-NNNNN`` instead and copied at completion (the engine never does that).

    async def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        self.path_for(key)
        upload_id = uuid.uuid4().hex
        d = self._upload_dir(upload_id)
        d.mkdir(parents=True)
        (d / DATA).touch()  # before the manifest: an upload with a manifest but no data was assembled
        (d / "upload.json").write_text(json.dumps({"key": key, "content_type": content_type}))
        return upload_id

    def _load_upload(self, key: str, upload_id: str) -> tuple[Path, dict[str, Any]]:
        d = self._upload_dir(upload_id)
        try:
            meta = json.loads((d / "upload.json").read_text())
        except FileNotFoundError as exc:
            raise NoSuchUpload(f"NoSuchUpload: multipart upload {upload_id} does not exist") from exc
        if meta["key"] != key:
            raise StoreError("multipart upload belongs to another key")
        return d, meta

    @staticmethod
    def _record(d: Path, number: int) -> dict[str, Any] | None:
        try:
            record: dict[str, Any] = json.loads((d / f"part-{number:05d}.json").read_text())
            return record
        except FileNotFoundError:
            return None

    @staticmethod
    def _write_record(d: Path, number: int, record: dict[str, Any]) -> None:
        path = d / f"part-{number:05d}.json"
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes | ByteStream, size: int) -> str:
        async with self._part_target(key, upload_id, number, size) as (d, fd, offset):
            if offset is not None:
                await _write_at(fd, offset, data, size)
                (d / f"part-{number:05d}").unlink(missing_ok=True)
            else:
                await self._write(d / f"part-{number:05d}", data, expected=size)
            return self._record_part(d, number, size, offset)

    async def upload_part_from_body(
        self, key: str, upload_id: str, number: int, head: Sequence[Chunk], body: BodyToFile, size: int
    ) -> tuple[str | None, bytes]:
        """:class:`~mediagate.ports.PartFromBody`: ``head`` is written, then the server writes
        the rest of the part into the data file at its offset itself (socket -> file, see
        local/socket_body.py). A body that breaks off leaves no record; the bytes it sent
        are read back for the caller to keep (less than one part)."""
        buffers: list[Buffer] = [c if isinstance(c, bytes | memoryview) else bytes(c) for c in head]
        skip = sum(len(b) for b in buffers)
        if skip > size:
            raise StoreError(f"part head is {skip} bytes, the part {size}")
        async with self._part_target(key, upload_id, number, size) as (d, fd, offset):
            out = fd
            tmp = d / f".part-{number:05d}.{uuid.uuid4().hex}.tmp"
            if offset is None:  # not in the layout (the engine never does this): a file of its own
                out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                at = offset or 0
                if buffers:
                    await asyncio.to_thread(_pwritev, out, buffers, at)
                try:
                    got = await body.into_file(out, at + skip, size - skip)
                except OSError as exc:  # e.g. ENOSPC (the connection was closed: the body is over)
                    raise StoreError(f"could not write the part: {exc}") from exc
                if got != size - skip:
                    return None, await asyncio.to_thread(os.pread, out, got, at + skip)
                if offset is None:
                    os.replace(tmp, d / f"part-{number:05d}")
                else:
                    (d / f"part-{number:05d}").unlink(missing_ok=True)
            finally:
                if out != fd:
                    os.close(out)
                    tmp.unlink(missing_ok=True)
            return self._record_part(d, number, size, offset), b""

    @contextlib.asynccontextmanager
    async def _part_target(
        self, key: str, upload_id: str, number: int, size: int
    ) -> AsyncIterator[tuple[Path, int, int | None]]:
        """Where part ``number`` goes: (upload dir, the data file's fd, flocked, the part's
        offset in it or None for a file of its own). Its old record is gone by then."""
        d, _ = self._load_upload(key, upload_id)
        if not 1 <= number <= MAX_PARTS:
            raise StoreError(f"part number {number} outside 1..{MAX_PARTS}")
        if size > MAX_PART_SIZE:
            raise StoreError("part larger than 5 GiB")
        try:
            fd = os.open(d / DATA, os.O_RDWR)
        except FileNotFoundError as exc:  # assembled (or aborted) meanwhile
            raise NoSuchUpload(f"NoSuchUpload: multipart upload {upload_id} was completed") from exc
        try:
            # One writer per upload at a time (a request whose lock went stale may still be
            # writing): parts of one upload never interleave their bytes.
            await _flock(fd)
            self._load_upload(key, upload_id)  # retired while waiting?
            first = self._record(d, 1)
            (d / f"part-{number:05d}.json").unlink(missing_ok=True)  # before its bytes change
            offset: int | None = None
            if number == 1:
                others = any(
                    (r := self._record(d, int(p.name[5:10]))) is not None and r["offset"] is not None
                    for p in d.glob("part-*.json")
                    if p.name != "part-00001.json"
                )
                if not others or (first is not None and first["offset"] == 0 and first["size"] == size):
                    offset = 0  # sets (or keeps) P
            elif first is not None and first["offset"] == 0 and size <= first["size"]:
                offset = (number - 1) * first["size"]
            yield d, fd, offset
        finally:
            os.close(fd)  # releases the flock

    def _record_part(self, d: Path, number: int, size: int, offset: int | None) -> str:
        """Record a part whose bytes are in place; returns its new ETag."""
        etag = uuid.uuid4().hex
        self._write_record(d, number, {"etag": etag, "size": size, "offset": offset})
        return etag

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[CompletedPart]) -> ObjectInfo:
        d, meta = self._load_upload(key, upload_id)
        if not parts:
            raise StoreError("complete_multipart needs at least one part")
        if len(parts) > MAX_PARTS:
            raise StoreError(f"more than {MAX_PARTS} parts")
        numbers = [p.number for p in parts]
        if numbers != sorted(set(numbers)):
            raise StoreError("InvalidPartOrder: part numbers must be ascending and unique")
        if not (d / DATA).exists():
            # Renamed into place by an earlier complete killed before retiring the id: as on
            # R2 the id is unknown now (the caller checks the object).
            self._retire(d)
            raise NoSuchUpload(f"NoSuchUpload: multipart upload {upload_id} was completed")
        records = []
        for p in parts:
            record = self._record(d, p.number)
            if record is None:
                self._load_upload(key, upload_id)  # retired meanwhile by a concurrent complete: NoSuchUpload
                raise StoreError(f"InvalidPart: part {p.number} was never uploaded")
            if record["etag"] != p.etag:
                raise StoreError(f"InvalidPart: ETag mismatch for part {p.number}")
            records.append(record)
        sizes = [r["size"] for r in records]
        if len(sizes) > 1:
            body = sizes[:-1]
            if len(set(body)) != 1:
                raise StoreError(f"InvalidPart: non-trailing parts differ in size {sorted(set(body))}")
            if body[0] < MIN_PART_SIZE:
                raise StoreError(f"EntityTooSmall: parts must be at least {MIN_PART_SIZE} bytes")
            if sizes[-1] > body[0]:
                raise StoreError("InvalidPart: the last part is larger than the others")
        total = sum(sizes)
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        in_place = all(r["offset"] == i * sizes[0] for i, r in enumerate(records)) and numbers == list(
            range(1, len(parts) + 1)
        )
        if in_place:
            # Parts already lie where they belong: cut off anything past the last one (a part
            # uploaded but not listed) and rename. Repeating after a kill does the same.
            fd = os.open(d / DATA, os.O_RDWR)
            try:
                await _flock(fd)
                os.ftruncate(fd, total)
                self._write_meta(target, meta.get("content_type"))
                os.replace(d / DATA, target)
            finally:
                os.close(fd)
        else:
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            sources = [
                (d / DATA, r["offset"], r["size"]) if r["offset"] is not None else (d / f"part-{n:05d}", 0, r["size"])
                for n, r in zip(numbers, records, strict=True)
            ]
            try:
                await asyncio.to_thread(_concatenate, sources, tmp)
                if (await asyncio.to_thread(os.path.getsize, tmp)) != total:
                    self._load_upload(key, upload_id)  # parts removed under us by a concurrent complete
                    raise StoreError("InternalError: assembled object has the wrong size")
                self._write_meta(target, meta.get("content_type"))
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        self._retire(d)
        return ObjectInfo(key, total, meta.get("content_type"))

    @staticmethod
    def _retire(d: Path) -> None:
        """End a multipart upload: its manifest first (from then on the id is unknown, as
        on R2 after complete or abort), then the parts."""
        (d / "upload.json").unlink(missing_ok=True)
        shutil.rmtree(d, ignore_errors=True)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abort; an unknown id counts as aborted. A directory whose manifest is already
        gone (a kill while retiring it) is removed too."""
        try:
            d = self._upload_dir(upload_id)
        except StoreError:
            return  # not an id this store ever handed out
        try:
            meta = json.loads((d / "upload.json").read_text())
        except FileNotFoundError:
            shutil.rmtree(d, ignore_errors=True)
            return
        if meta["key"] != key:
            return
        self._retire(d)

    async def list_multipart_uploads(self, *, limit: int = 1000) -> list[MultipartUploadInfo]:
        """Multipart uploads in progress, oldest first; a remnant without a manifest is
        listed with an empty key (aborting it removes it)."""
        found = []
        for d in self.multipart.iterdir():
            if not d.is_dir():
                continue
            manifest = d / "upload.json"
            try:
                key = json.loads(manifest.read_text())["key"]
                initiated = manifest.stat().st_mtime
            except FileNotFoundError:
                try:
                    key, initiated = "", d.stat().st_mtime
                except FileNotFoundError:
                    continue
            found.append(MultipartUploadInfo(key, d.name, initiated))
        found.sort(key=lambda u: u.initiated)
        return found[:limit]

    def open_multipart_count(self) -> int:
        """How many multipart uploads are in progress (tests check cleanup aborts them)."""
        return sum(1 for p in self.multipart.iterdir() if p.is_dir())
