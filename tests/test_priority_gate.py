"""Interactive requests first (mediagate.local.priority): bulk bodies yield, never stall.

The gate's rules in process, then the real server: uploads streaming while listings run
back to back end byte-identical, and every listing answers.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

import httpx
from mediagate.local.priority import PriorityGate
from tus_helpers import create, original_key, patch

MIB = 1024 * 1024


def test_bulk_readers_wait_for_interactive_requests_but_not_forever():
    async def go() -> None:
        gate = PriorityGate(max_priority_seconds=0.5, max_wait_seconds=0.2)
        resumed: list[str] = []
        leave = gate.enter()
        assert gate.busy
        gate.wait("a", lambda: resumed.append("a"))
        gate.wait("b", lambda: resumed.append("b"))
        await asyncio.sleep(0.01)
        assert resumed == []  # held while the interactive request runs
        leave()
        leave()  # idempotent: the count does not go below zero
        assert resumed == ["a", "b"] and not gate.busy and gate.active == 0

        # A reader waits at most max_wait_seconds, even while requests keep coming.
        leave = gate.enter()
        started = time.monotonic()
        gate.wait("c", lambda: resumed.append("c"))
        while "c" not in resumed:
            await asyncio.sleep(0.01)
        assert 0.15 < time.monotonic() - started < 0.45
        assert gate.busy  # ... its request still counts
        # An interactive request's priority ends by itself after max_priority_seconds.
        await asyncio.sleep(0.5)
        assert not gate.busy
        leave()
        assert gate.active == 0
        # A forgotten reader (its connection went away) is never resumed.
        leave = gate.enter()
        gate.wait("d", lambda: resumed.append("d"))
        gate.forget("d")
        leave()
        await asyncio.sleep(0.25)
        assert "d" not in resumed

    asyncio.run(go())


def test_uploads_streaming_under_back_to_back_listings_end_byte_identical(make_server, user_id):
    server = make_server({"UPLOAD_YIELD_MS": "10"})
    token = server.token(user_id)
    uploads = [os.urandom(24 * MIB + 1234) for _ in range(3)]
    results: dict[int, tuple[int, str]] = {}

    def upload(i: int, data: bytes) -> None:
        url = create(server.url, token, len(data), filename=f"p{i}.bin").headers["Location"]
        offset = 0
        for size in (16 * MIB, len(data) - 16 * MIB):  # bulk PATCHes, the second completes it
            r = patch(url, token, offset, data[offset : offset + size])
            assert r.status_code == 204, r.text
            offset += size
        results[i] = (offset, url)

    threads = [threading.Thread(target=upload, args=(i, d)) for i, d in enumerate(uploads)]
    for t in threads:
        t.start()
    statuses = []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        while any(t.is_alive() for t in threads):
            statuses.append(client.get(server.url + "/api/files", params={"limit": 5}).status_code)
    for t in threads:
        t.join(120)
    assert len(statuses) > 3 and set(statuses) == {200}
    assert sorted(results) == [0, 1, 2]
    for i, data in enumerate(uploads):
        offset, url = results[i]
        assert offset == len(data)
        assert server.store.read(original_key(user_id, url)) == data
