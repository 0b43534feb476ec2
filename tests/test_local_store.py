"""The filesystem store must refuse what R2 refuses, so the engine can't ship a violation."""

from __future__ import annotations

import asyncio
import os

import pytest
from mediagate.adapters.local.fs_store import LocalObjectStore
from mediagate.ports import CompletedPart, StoreError

MIB = 1024 * 1024


def run(coro):
    return asyncio.run(coro)


async def _upload(store: LocalObjectStore, sizes: list[int]) -> tuple[str, list[CompletedPart]]:
    upload_id = await store.create_multipart("obj/key")
    parts = []
    for n, size in enumerate(sizes, start=1):
        etag = await store.upload_part("obj/key", upload_id, n, bytes([n % 256]) * size, size)
        parts.append(CompletedPart(n, etag))
    return upload_id, parts


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ([6 * MIB, 5 * MIB, 1], "differ in size"),
        ([4 * MIB, 4 * MIB, 1], "EntityTooSmall"),
        ([5 * MIB, 6 * MIB], "last part is larger"),
    ],
)
def test_multipart_rules_are_enforced(tmp_path, sizes, message):
    async def go() -> None:
        store = LocalObjectStore(tmp_path)
        upload_id, parts = await _upload(store, sizes)
        with pytest.raises(StoreError, match=message):
            await store.complete_multipart("obj/key", upload_id, parts)

    run(go())


def test_valid_multipart_assembles_in_order(tmp_path):
    async def go() -> bytes:
        store = LocalObjectStore(tmp_path)
        upload_id, parts = await _upload(store, [5 * MIB, 5 * MIB, 3])
        info = await store.complete_multipart("obj/key", upload_id, parts)
        assert info.size == 10 * MIB + 3
        assert store.open_multipart_count() == 0
        body = await store.get("obj/key", start=5 * MIB - 1, end=5 * MIB + 1)
        return b"".join([c async for c in body])

    assert run(go()) == b"\x01\x02"


def test_part_limits_and_etags(tmp_path):
    async def go() -> None:
        store = LocalObjectStore(tmp_path)
        upload_id = await store.create_multipart("k")
        with pytest.raises(StoreError, match="part number"):
            await store.upload_part("k", upload_id, 10_001, b"x", 1)
        with pytest.raises(StoreError, match="declared"):
            await store.upload_part("k", upload_id, 1, b"xy", 1)
        etag = await store.upload_part("k", upload_id, 1, b"x", 1)
        with pytest.raises(StoreError, match="ETag"):
            await store.complete_multipart("k", upload_id, [CompletedPart(1, etag + "0")])
        with pytest.raises(StoreError, match="never uploaded"):
            await store.complete_multipart("k", upload_id, [CompletedPart(1, etag), CompletedPart(2, "e")])
        await store.abort_multipart("k", upload_id)
        with pytest.raises(StoreError, match="NoSuchUpload"):
            await store.upload_part("k", upload_id, 1, b"x", 1)

    run(go())


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "", "a//b"])
def test_keys_cannot_escape_the_store(tmp_path, key):
    store = LocalObjectStore(tmp_path)
    with pytest.raises(StoreError):
        run(store.put(key, b"x"))


def test_sendable_body_uses_zerocopy_when_the_server_offers_it(tmp_path):
    """DirectSend locally: ``http.response.zerocopy`` (sendfile) with the file and the
    range when the ASGI server has the extension, else 1 MiB body messages."""
    store = LocalObjectStore(tmp_path)
    data = bytes(range(256)) * 10_000
    sent: list[dict] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.zerocopy":
            fh = message["file"]
            fh.seek(message["offset"])
            message = {**message, "read": fh.read(message["count"])}
        sent.append(message)

    async def go() -> None:
        await store.put("a/b", data)
        body = await store.open_sendable("a/b", start=100, end=2_000_100)
        assert body is not None and body.info.size == len(data)
        await body.send(send, {"http.response.zerocopy": {}})
        assert [m["type"] for m in sent] == ["http.response.zerocopy"]
        assert sent[0]["offset"] == 100 and sent[0]["count"] == 2_000_000 and sent[0]["read"] == data[100:2_000_100]
        sent.clear()
        body = await store.open_sendable("a/b", start=100, end=2_000_100)
        assert body is not None
        await body.send(send, {})
        assert b"".join(m["body"] for m in sent) == data[100:2_000_100] and sent[-1]["more_body"] is False
        assert await store.open_sendable("missing") is None

    asyncio.run(go())


async def _stream(*chunks: bytes):
    for chunk in chunks:
        yield chunk


def _inode(path) -> int:
    return path.stat().st_ino


def test_parts_are_written_once_in_place_and_completion_renames(tmp_path):
    """Every byte is written once: the parts lie at their final offsets in one data file,
    which completing renames into place (same inode), no part files, no copy."""

    async def go() -> None:
        store = LocalObjectStore(tmp_path)
        upload_id = await store.create_multipart("obj/key")
        d = tmp_path / "multipart" / upload_id
        parts = []
        sizes = [5 * MIB, 5 * MIB, 3]
        for n, size in enumerate(sizes, start=1):
            body = bytes([n]) * size
            etag = await store.upload_part("obj/key", upload_id, n, _stream(body[:1000], body[1000:]), size)
            parts.append(CompletedPart(n, etag))
        assert sorted(p.name for p in d.iterdir()) == [
            "data",
            "part-00001.json",
            "part-00002.json",
            "part-00003.json",
            "upload.json",
        ]
        inode = _inode(d / "data")
        info = await store.complete_multipart("obj/key", upload_id, parts)
        assert info.size == 10 * MIB + 3
        target = tmp_path / "objects" / "obj" / "key"
        assert _inode(target) == inode
        assert target.read_bytes() == b"".join(bytes([n]) * s for n, s in enumerate(sizes, start=1))
        assert store.open_multipart_count() == 0

    run(go())


def test_rewritten_and_unlisted_parts_in_place(tmp_path):
    """A part uploaded again replaces the old bytes and etag (the old etag is refused); a
    part uploaded but not listed is cut off at completion; a body longer than declared is
    refused before it reaches the next part's bytes."""

    async def go() -> None:
        store = LocalObjectStore(tmp_path)
        upload_id = await store.create_multipart("k")
        e1 = await store.upload_part("k", upload_id, 1, b"a" * 5 * MIB, 5 * MIB)
        old2 = await store.upload_part("k", upload_id, 2, b"b" * 5 * MIB, 5 * MIB)
        e3 = await store.upload_part("k", upload_id, 3, b"c" * 10, 10)
        with pytest.raises(StoreError, match="longer than the declared"):
            await store.upload_part("k", upload_id, 1, _stream(b"x" * 5 * MIB, b"y"), 5 * MIB)
        with pytest.raises(StoreError, match="never uploaded"):  # the failed rewrite lost part 1
            await store.complete_multipart("k", upload_id, [CompletedPart(1, e1)])
        e1 = await store.upload_part("k", upload_id, 1, b"a" * 5 * MIB, 5 * MIB)
        e2 = await store.upload_part("k", upload_id, 2, b"B" * 5 * MIB, 5 * MIB)
        with pytest.raises(StoreError, match="ETag"):
            await store.complete_multipart("k", upload_id, [CompletedPart(1, e1), CompletedPart(2, old2)])
        info = await store.complete_multipart("k", upload_id, [CompletedPart(1, e1), CompletedPart(2, e2)])
        assert info.size == 10 * MIB
        data = (tmp_path / "objects" / "k").read_bytes()
        assert data == b"a" * 5 * MIB + b"B" * 5 * MIB
        assert e3  # listed nowhere: its bytes were cut off

    run(go())


def test_parts_outside_the_layout_are_assembled_by_copy(tmp_path):
    """Out-of-order parts and part numbers with gaps still assemble (R2 allows both)."""

    async def go() -> None:
        store = LocalObjectStore(tmp_path)
        upload_id = await store.create_multipart("k")
        e3 = await store.upload_part("k", upload_id, 3, b"c" * 7, 7)  # before part 1: P unknown
        e1 = await store.upload_part("k", upload_id, 1, b"a" * 5 * MIB, 5 * MIB)
        e5 = await store.upload_part("k", upload_id, 5, b"e" * 5 * MIB, 5 * MIB)
        with pytest.raises(StoreError, match="differ in size"):
            await store.complete_multipart(
                "k", upload_id, [CompletedPart(1, e1), CompletedPart(3, e3), CompletedPart(5, e5)]
            )
        info = await store.complete_multipart("k", upload_id, [CompletedPart(1, e1), CompletedPart(5, e5)])
        assert info.size == 10 * MIB
        assert (tmp_path / "objects" / "k").read_bytes() == b"a" * 5 * MIB + b"e" * 5 * MIB

        upload_id = await store.create_multipart("k2")
        e2 = await store.upload_part("k2", upload_id, 2, b"b" * 7, 7)  # before part 1: its own file
        e1 = await store.upload_part("k2", upload_id, 1, b"a" * 5 * MIB, 5 * MIB)
        info = await store.complete_multipart("k2", upload_id, [CompletedPart(1, e1), CompletedPart(2, e2)])
        assert (tmp_path / "objects" / "k2").read_bytes() == b"a" * 5 * MIB + b"b" * 7

    run(go())


def test_kill_between_rename_and_retire_answers_no_such_upload(tmp_path):
    """A complete killed after renaming the data into place but before retiring the id:
    the repeat answers NoSuchUpload (as R2 does) and the object is there, whole."""

    async def go() -> None:
        from mediagate.ports import NoSuchUpload

        store = LocalObjectStore(tmp_path)
        upload_id, parts = await _upload(store, [5 * MIB, 4])
        d = tmp_path / "multipart" / upload_id
        target = tmp_path / "objects" / "obj" / "key"
        target.parent.mkdir(parents=True)
        os.truncate(d / "data", 5 * MIB + 4)
        (d / "data").rename(target)  # what complete does before _retire
        assert [u.upload_id for u in await store.list_multipart_uploads()] == [upload_id]
        with pytest.raises(NoSuchUpload):
            await store.complete_multipart("obj/key", upload_id, parts)
        assert store.open_multipart_count() == 0
        assert (await store.head("obj/key")).size == 5 * MIB + 4
        with pytest.raises(NoSuchUpload):
            await store.upload_part("obj/key", upload_id, 1, b"x", 1)

    run(go())


def test_a_part_streamed_in_many_pieces_lands_in_order_and_a_failed_body_leaves_no_record(tmp_path):
    """The part writer thread takes whatever arrived since its last write: thousands of
    small pieces still land in order at the part's offset. A body that fails midway
    fails the part (no record: never uploaded) once the thread let go of the file, and
    no writer thread or descriptor is left behind."""
    import threading

    async def pieces(data: bytes, size: int, fail_at: int | None = None):
        for i in range(0, len(data), size):
            if fail_at is not None and i >= fail_at:
                raise StoreError("client went away")
            yield data[i : i + size]
            if i % (64 * size) == 0:
                await asyncio.sleep(0)  # let the writer catch up now and then

    async def go() -> None:
        store = LocalObjectStore(tmp_path)
        upload_id = await store.create_multipart("obj/key")
        d = tmp_path / "multipart" / upload_id
        one, two = os.urandom(5 * MIB), os.urandom(5 * MIB)
        fds = len(os.listdir("/proc/self/fd"))
        etag1 = await store.upload_part("obj/key", upload_id, 1, pieces(one, 4099), len(one))
        with pytest.raises(StoreError, match="client went away"):
            await store.upload_part("obj/key", upload_id, 2, pieces(two, 1000, fail_at=3 * MIB), len(two))
        assert not (d / "part-00002.json").exists()
        for _ in range(100):  # the thread resolves the future as its last step, then ends
            if not [t for t in threading.enumerate() if t.name == "part-writer"]:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("a part writer thread outlived its part")
        assert len(os.listdir("/proc/self/fd")) == fds
        etag2 = await store.upload_part("obj/key", upload_id, 2, pieces(two, 65536), len(two))
        await store.complete_multipart("obj/key", upload_id, [CompletedPart(1, etag1), CompletedPart(2, etag2)])
        assert (tmp_path / "objects" / "obj" / "key").read_bytes() == one + two

    run(go())


class _PipeBody:
    """A ``BodyToFile`` whose bytes come through a real pipe (as socket_body.py's through
    a socket): ``into_file`` writes them with os.pwrite; ``cut`` ends the body there."""

    def __init__(self, data: bytes, cut: int | None = None) -> None:
        self.data = data if cut is None else data[:cut]
        self.taken = 0

    async def into_file(self, fd: int, offset: int, count: int) -> int:
        r, w = os.pipe()
        try:
            piece = self.data[self.taken : self.taken + count]
            self.taken += len(piece)
            moved = 0
            for i in range(0, len(piece), 65536):
                os.write(w, piece[i : i + 65536])
                moved += os.pwrite(fd, os.read(r, 65536), offset + moved)
            return moved
        finally:
            os.close(r)
            os.close(w)


def test_parts_from_a_body_in_place_out_of_place_and_cut(tmp_path):
    """PartFromBody (the local server's socket -> file path): the head chunks and then the
    body's bytes form the part, in place or (out of the layout) in a file of their own; a
    body cut short records nothing and hands back exactly the bytes it sent."""

    async def go() -> None:
        store = LocalObjectStore(tmp_path)
        upload_id = await store.create_multipart("obj/key")
        d = tmp_path / "multipart" / upload_id
        one, two = os.urandom(6 * MIB), os.urandom(2 * MIB + 3)
        # part 2 first: no part 1 yet, so it cannot go in place
        etag2, rest = await store.upload_part_from_body(
            "obj/key", upload_id, 2, [memoryview(two)[:1000]], _PipeBody(two[1000:]), len(two)
        )
        assert etag2 is not None and rest == b""
        assert (d / "part-00002").read_bytes() == two
        etag, rest = await store.upload_part_from_body(
            "obj/key", upload_id, 1, [one[:7]], _PipeBody(one[7:], cut=3 * MIB + 1), len(one)
        )
        assert etag is None and rest == one[7 : 7 + 3 * MIB + 1]
        assert not (d / "part-00001.json").exists()
        etag1, rest = await store.upload_part_from_body("obj/key", upload_id, 1, [], _PipeBody(one), len(one))
        assert etag1 is not None and rest == b""
        await store.complete_multipart("obj/key", upload_id, [CompletedPart(1, etag1), CompletedPart(2, etag2)])
        assert (tmp_path / "objects" / "obj" / "key").read_bytes() == one + two
        assert not d.exists()

    run(go())
