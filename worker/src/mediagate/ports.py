"""The ports the core talks through. Adapters implement them for Cloudflare and locally.

Each port is deliberately small: what R2, Queues and Neon-over-HTTP can all do.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class ByteChunk(Protocol):
    """Body bytes that may live outside Python (a JS ``Uint8Array`` in the Worker): a
    length, slices that do not copy, and ``bytes(chunk)`` (which copies). Stores accept
    them wherever they accept ``bytes`` chunks."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice, /) -> ByteChunk: ...

    def __bytes__(self) -> bytes: ...


# One chunk of a body as stores take it. ``memoryview`` behaves as a ByteChunk but is
# named apart: it converts through the buffer protocol, not ``__bytes__``.
Chunk = bytes | memoryview | ByteChunk
ByteStream = AsyncIterable[Chunk]


# An ASGI extension (scope["extensions"] key) a server may offer for request bodies:
# {"open": () -> AsyncIterator[ByteChunk]} reads the body as ByteChunks that stay where the
# server holds them (Workers: JS memory), instead of receive()'s bytes. A body that
# breaks off raises ConnectionError. Only before receive() read any of the body; after
# open(), receive() answers as after the last body message.
BODY_CHUNKS = "mediagate.request.body_chunks"

# An ASGI extension a local server may offer for a request body framed by Content-Length:
# {"body": BodyToFile} moves the body's next bytes into a file without Python touching them
# (socket -> file in the kernel). Bytes it moves are not seen by receive(), which goes on
# with what is left; once the whole body was moved, receive() answers as after the last
# body message.
BODY_TO_FILE = "mediagate.request.body_to_file"


class BodyToFile(Protocol):
    """The rest of a request body, which the server can write into a file itself."""

    async def into_file(self, fd: int, offset: int, count: int) -> int:
        """Write the body's next ``count`` bytes to ``fd`` at ``offset``; returns how many
        were written: fewer only when the body broke off (the peer went away or stalled),
        and then the connection is closed and the body is over."""


class StoreError(Exception):
    """The object store refused an operation (e.g. a multipart rule was broken)."""


class NoSuchUpload(StoreError):
    """The multipart upload id is unknown: never created, aborted, or already completed.

    R2 invalidates an upload id when it completes, so a completion retried after a crash
    gets this; the caller then looks for the assembled object instead."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class CompletedPart:
    number: int
    etag: str


@dataclass(frozen=True)
class ListedObject:
    key: str
    size: int
    uploaded: float  # seconds since the epoch: when the object was last written


@dataclass(frozen=True)
class ObjectPage:
    objects: list[ListedObject]
    cursor: str | None  # pass back for the next page; None when the listing is done


@dataclass(frozen=True)
class MultipartUploadInfo:
    key: str
    upload_id: str
    initiated: float  # seconds since the epoch


class ObjectBody(Protocol):
    info: ObjectInfo

    def __aiter__(self) -> AsyncIterator[bytes]: ...


class ObjectStore(Protocol):
    """An R2-shaped object store: whole-object put/get plus multipart uploads."""

    async def put(
        self, key: str, data: bytes | ByteStream, *, content_type: str | None = None, size: int | None = None
    ) -> ObjectInfo:
        """Store an object. ``size`` is a stream's exact length: R2 then streams it instead of
        collecting it in memory; a stream of another length raises StoreError, nothing stored."""

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> ObjectBody | None:
        """Return the object body for bytes [start, end) or None when missing."""

    async def head(self, key: str) -> ObjectInfo | None: ...

    async def delete(self, keys: Sequence[str]) -> None: ...

    async def list_keys(self, prefix: str) -> list[str]: ...

    async def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """Start a multipart upload and return its upload id."""

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes | ByteStream, size: int) -> str:
        """Store part ``number`` (exactly ``size`` bytes) and return its ETag."""

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[CompletedPart]) -> ObjectInfo: ...

    async def abort_multipart(self, key: str, upload_id: str) -> None: ...


# -- optional abilities of an ObjectStore ---------------------------------------------------
#
# tusd-style composition: an ability a store may have is an interface of its own, and the
# wiring (Services) is told explicitly which object provides it; nothing probes a store for
# methods. A runtime without it uses the ObjectStore methods above.

AsgiSend = Callable[[dict[str, Any]], Awaitable[None]]


class SendableBody(Protocol):
    """An object's bytes [start, end) that the serving runtime can send itself."""

    info: ObjectInfo

    async def send(self, send: AsgiSend, extensions: Mapping[str, Any]) -> None:
        """Send the whole response body (after ``http.response.start``) through ``send``,
        with the server's ASGI ``extensions`` when it has one that moves the bytes without
        Python (Workers: the object's JS stream to the Response; a file server:
        ``http.response.zerocopy``), else as ``http.response.body`` messages."""


class DirectSend(Protocol):
    """The ability to hand an object's bytes to the HTTP response without Python copying
    them (downloads, previews, HLS objects). Same range semantics as ``ObjectStore.get``."""

    async def open_sendable(self, key: str, *, start: int = 0, end: int | None = None) -> SendableBody | None: ...


class PartFromBody(Protocol):
    """The ability to store a whole multipart part straight from a request body (the local
    store: socket -> part file at its offset, no Python-level bytes). Same part rules as
    ``ObjectStore.upload_part``."""

    async def upload_part_from_body(
        self, key: str, upload_id: str, number: int, head: Sequence[Chunk], body: BodyToFile, size: int
    ) -> tuple[str | None, bytes]:
        """Part ``number`` (``size`` bytes): the ``head`` chunks, then the rest from ``body``;
        (its ETag, b""). When the body broke off first, (None, the bytes of ``body`` that
        did arrive) and no part is recorded."""


class ObjectLister(Protocol):
    """Page through objects under a prefix with their age (R2's ``list`` with a cursor).

    Needed by the storage sweep to find objects no row references."""

    async def list_objects(self, prefix: str, *, cursor: str | None = None, limit: int = 1000) -> ObjectPage: ...


class MultipartLister(Protocol):
    """List multipart uploads still in progress (S3's ListMultipartUploads).

    The R2 Workers binding cannot; R2 aborts incomplete uploads itself after 7 days (the
    bucket's default lifecycle rule). The local store can, so its sweep aborts uploads
    that no row references (e.g. a crash between ``create_multipart`` and the row)."""

    async def list_multipart_uploads(self, *, limit: int = 1000) -> list[MultipartUploadInfo]: ...


Row = dict[str, Any]


def json_value(value: Any) -> Any:
    """A JSON/JSONB column as Python: psycopg decodes it, Neon over HTTP may hand back text."""
    return json.loads(value) if isinstance(value, str) else value


class Database(Protocol):
    """SQL with PostgreSQL ``$1`` placeholders, one statement per call (Neon HTTP-friendly).

    The core never holds an interactive transaction: every state change is a single
    atomic statement (conditional UPDATEs, CTEs), so the same SQL runs over Neon's
    SQL-over-HTTP and over a local psycopg pool.
    """

    async def fetch(self, sql: str, *params: Any) -> list[Row]: ...

    async def execute(self, sql: str, *params: Any) -> int:
        """Run a statement and return the number of affected rows."""


class JobQueue(Protocol):
    """The producer side of the processing queue (Cloudflare Queues ``send``)."""

    async def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        """Enqueue a JSON message and return its message id (may be synthetic)."""


# -- what a job queue can tell and do besides sending --------------------------------------
#
# The same composition as the store's abilities: each is an interface of its own, the
# runtime's wiring hands Services the object that provides it, and nothing probes a queue
# for methods. Each runtime answers from what it really has: locally the queue tables,
# on Cloudflare what Queues exposes plus the ``processing_jobs`` rows.


class QueueDepth(Protocol):
    """How many job messages the queue still holds (waiting or delivered but not acked)."""

    async def depth(self) -> int: ...


class DeadLetterCount(Protocol):
    """How many job messages exhausted their deliveries and were dead-lettered."""

    async def dead_letters(self) -> int: ...


class QueueStats(QueueDepth, DeadLetterCount, Protocol):
    """Both figures the admin stats show; every runtime has them."""


class FileMessagePurge(Protocol):
    """Drop the queued messages of deleted files before they are delivered.

    Optional: Cloudflare Queues cannot remove a message once sent; there a deleted file's
    message is dropped when delivered (its job row is gone with the file)."""

    async def purge_files(self, file_ids: Sequence[str]) -> int:
        """Remove messages whose ``file_id`` is one of ``file_ids``; returns how many."""


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""


class SystemClock(Clock):
    def now(self) -> float:
        return time.time()
