"""Database round trips per tus PATCH: the bound the engine's hot path promises.

In process, on the real adapters (Postgres, the filesystem store with R2's rules) and the
real tus engine; the Database port is wrapped to count statements. A PATCH that appends
to an upload costs two round trips whatever its size (one statement reads the upload and
takes its lock, one commits and releases it); each fallback still answers as before.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from mediagate.adapters.local.fs_store import LocalObjectStore
from mediagate.adapters.local.pg_queue import PostgresQueue
from mediagate.adapters.local.postgres import PostgresDatabase
from mediagate.auth import Principal
from mediagate.config import Settings
from mediagate.ports import Row
from mediagate.services import Services
from mediagate.tus.engine import PatchRequest
from mediagate.tus.protocol import TusError
from mediagate.tus.state import UploadState

MIB = 1024 * 1024
PART = 5 * MIB


class CountingDatabase:
    """The real Database port, counting the statements that reach Postgres."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self.statements: list[str] = []

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        self.statements.append(sql)
        return await self.db.fetch(sql, *params)

    async def execute(self, sql: str, *params: Any) -> int:
        self.statements.append(sql)
        return await self.db.execute(sql, *params)


async def _pieces(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _services(database_url: str, root: Path) -> tuple[Services, CountingDatabase]:
    real = PostgresDatabase(database_url, max_size=4)
    await real.open()
    db = CountingDatabase(real)
    store = LocalObjectStore(root)
    settings = Settings(jwt_secret="x", part_size=PART, lock_stale_seconds=10, commit_interval_ms=60_000)
    services = Services(settings=settings, store=store, db=db, queue=PostgresQueue(db, "round-trips"))
    return services, db


async def _patch(
    services: Services, db: CountingDatabase, user: Principal, upload_id: str, offset: int, data: bytes
) -> tuple[UploadState, int]:
    db.statements.clear()
    state = await services.tus.patch(user, upload_id, PatchRequest(offset, _pieces(data), len(data)))
    return state, len(db.statements)


Scenario = Callable[[Services, CountingDatabase], Awaitable[None]]


def _run(database_url: str, root: Path, scenario: Scenario) -> None:
    async def go() -> None:
        services, db = await _services(database_url, root)
        try:
            await scenario(services, db)
        finally:
            await db.db.close()

    asyncio.run(go())


def test_an_appending_patch_costs_two_round_trips_whatever_its_size(fresh_database_url, tmp_path):
    async def scenario(services: Services, db: CountingDatabase) -> None:
        user = Principal(str(uuid.uuid4()))
        data = os.urandom(3 * PART + 12345)
        state = await services.tus.create(user, len(data) + 100, {"filename": "a.bin"})
        # Two whole parts in one PATCH, then a remainder that is staged, then a PATCH
        # that folds the staged bytes into a part: two statements each.
        offset = 0
        for size in (2 * PART, 1000, PART - 1000, 11345):
            st, trips = await _patch(services, db, user, state.id, offset, data[offset : offset + size])
            offset += size
            assert st.offset == offset
            assert trips == 2, db.statements
        # The lock was released by the commit: a HEAD-style read sees it free, and the
        # next PATCH takes it at once.
        [row] = await db.db.fetch("SELECT lock_token, upload_offset FROM uploads WHERE id = $1", state.id)
        assert row["lock_token"] is None and row["upload_offset"] == offset
        # The last PATCH completes the upload (more statements: the completion steps).
        st, _ = await _patch(services, db, user, state.id, offset, data[offset:] + b"z" * 100)
        assert st.is_complete and st.file_id is not None
        stored = services.store.path_for(st.object_key).read_bytes()  # type: ignore[attr-defined]
        assert stored == data + b"z" * 100

    _run(fresh_database_url, tmp_path, scenario)


def test_patches_the_one_statement_lock_refuses_answer_as_before(fresh_database_url, tmp_path):
    async def scenario(services: Services, db: CountingDatabase) -> None:
        user = Principal(str(uuid.uuid4()))
        other = Principal(str(uuid.uuid4()))
        state = await services.tus.create(user, 100, {})
        with pytest.raises(TusError) as err:  # someone else's upload
            await _patch(services, db, other, state.id, 0, b"x")
        assert err.value.status == 404
        with pytest.raises(TusError) as err:  # wrong offset: nothing locked, nothing written
            await _patch(services, db, user, state.id, 5, b"x")
        assert err.value.status == 409
        await db.execute("UPDATE uploads SET lock_token = 'held', lock_heartbeat = now() WHERE id = $1", state.id)
        with pytest.raises(TusError) as err:  # a live lock
            await _patch(services, db, user, state.id, 0, b"x")
        assert err.value.status == 423
        [row] = await db.db.fetch("SELECT lock_token FROM uploads WHERE id = $1", state.id)
        assert row["lock_token"] == "held"  # a refused PATCH never touches someone else's lock
        await db.execute(  # a stale one is taken over in the same statement
            "UPDATE uploads SET lock_heartbeat = now() - interval '1 hour' WHERE id = $1", state.id
        )
        st, trips = await _patch(services, db, user, state.id, 0, b"y" * 40)
        assert st.offset == 40 and trips == 2
        await db.execute("UPDATE uploads SET expires_at = to_timestamp($2) WHERE id = $1", state.id, time.time() - 5)
        with pytest.raises(TusError) as err:
            await _patch(services, db, user, state.id, 40, b"x")
        assert err.value.status == 410
        [row] = await db.db.fetch("SELECT lock_token, upload_offset FROM uploads WHERE id = $1", state.id)
        assert row["lock_token"] is None and row["upload_offset"] == 40

    _run(fresh_database_url, tmp_path, scenario)


def test_a_deferred_length_is_declared_under_the_same_lock(fresh_database_url, tmp_path):
    async def scenario(services: Services, db: CountingDatabase) -> None:
        user = Principal(str(uuid.uuid4()))
        state = await services.tus.create(user, None, {})
        st, trips = await _patch(services, db, user, state.id, 0, b"a" * 10)
        assert st.offset == 10 and trips == 2
        db.statements.clear()
        req = PatchRequest(10, _pieces(b"b" * 5), 5, upload_length=15)
        st = await services.tus.patch(user, state.id, req)
        assert st.is_complete and st.length == 15
        path = services.store.path_for(st.object_key)  # type: ignore[attr-defined]
        assert path.read_bytes() == b"a" * 10 + b"b" * 5

    _run(fresh_database_url, tmp_path, scenario)
