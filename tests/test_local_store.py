"""The filesystem store must refuse what R2 refuses, so the engine can't ship a violation."""

from __future__ import annotations

import asyncio

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
