"""The storage sweep: orphans go, anything in use stays, and each run is bounded.

In process, on the real adapters (Postgres, the filesystem store with R2's rules) and the
real tus engine; objects are aged by setting their mtime, which is what the local store
reports as an object's upload time.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mediagate.adapters.local.fs_store import LocalObjectStore
from mediagate.adapters.local.pg_queue import PostgresQueue, PostgresQueueStats
from mediagate.adapters.local.postgres import PostgresDatabase
from mediagate.auth import Principal
from mediagate.config import Settings
from mediagate.services import Services
from mediagate.tus.engine import PatchRequest
from mediagate.tus.parts import staging_key

MIB = 1024 * 1024
GRACE = 3600


def run(coro):
    return asyncio.run(coro)


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _age(root: Path, seconds: float = 2 * GRACE, *, keep: tuple[Path, ...] = ()) -> None:
    """Make every stored object and multipart upload look ``seconds`` old (except ``keep``)."""
    then = time.time() - seconds
    for path in root.rglob("*"):
        if path.is_file() and path not in keep:
            os.utime(path, (then, then))


async def _services(database_url: str, root: Path, *, batch: int = 1000) -> Services:
    db = PostgresDatabase(database_url, max_size=4)
    await db.open()
    store = LocalObjectStore(root)
    settings = Settings(
        jwt_secret="x", part_size=5 * MIB, lock_stale_seconds=10, sweep_grace_seconds=GRACE, sweep_batch=batch
    )
    return Services(
        settings=settings,
        store=store,
        db=db,
        queue=PostgresQueue(db, "sweep-test"),
        queue_stats=PostgresQueueStats(db, ["sweep-test"]),
        lister=store,
        multipart_lister=store,
    )


async def _upload(services: Services, user: Principal, data: bytes, length: int | None = None) -> str:
    state = await services.tus.create(user, len(data) if length is None else length, {"filename": "a.bin"})
    if data:
        await services.tus.patch(user, state.id, PatchRequest(0, _body(data), len(data)))
    return state.id


def test_orphans_are_collected_and_everything_in_use_is_kept(fresh_database_url, tmp_path):
    async def go() -> None:
        services = await _services(fresh_database_url, tmp_path)
        store: LocalObjectStore = services.store  # type: ignore[assignment]
        db = services.db
        user = Principal(str(uuid.uuid4()))
        try:
            # In use: an active upload (a part + a listed staged chunk), a completed file
            # with derived outputs, an upload mid-completion ('completing'), a completed
            # upload whose files row is not written yet, an active upload whose PATCH holds
            # the lock right now (its new staged chunk is not listed yet).
            active = await _upload(services, user, os.urandom(6 * MIB), length=20 * MIB)
            done = await _upload(services, user, os.urandom(1000))
            [done_file] = await db.fetch("SELECT id::text AS id FROM files WHERE upload_id = $1", done)
            derived = f"derived/{done_file['id']}/preview/grid.webp"
            await store.put(derived, b"webp")
            completing = await _upload(services, user, os.urandom(500))
            long_ago = "updated_at = now() - interval '1 hour'"  # the cleanup leaves fresh ones to their request
            await db.execute(
                f"UPDATE uploads SET state = 'completing', file_id = NULL, {long_ago} WHERE id = $1", completing
            )
            await db.execute("DELETE FROM files WHERE upload_id = $1", completing)
            finalizing = await _upload(services, user, os.urandom(400))
            await db.execute(f"UPDATE uploads SET file_id = NULL, {long_ago} WHERE id = $1", finalizing)
            await db.execute("DELETE FROM files WHERE upload_id = $1", finalizing)
            writing = await _upload(services, user, os.urandom(100), length=10 * MIB)
            await db.execute("UPDATE uploads SET lock_token = 't', lock_heartbeat = now() WHERE id = $1", writing)
            in_flight = staging_key(writing, 100)
            await store.put(in_flight, b"new bytes")
            keep = {
                staging_key(active, 5 * MIB),
                f"originals/{user.user_id}/{done}",
                derived,
                f"originals/{user.user_id}/{completing}",
                f"originals/{user.user_id}/{finalizing}",
                staging_key(writing, 0),
                in_flight,
            }
            # Garbage: a staged chunk a kill left (never listed by its active upload), the
            # staging of an upload that no longer exists, an original nobody refers to,
            # the original and outputs of a deleted file, outputs under a bad name, a
            # multipart upload no row names (a kill between create and the row).
            orphan_staged = staging_key(active, 7 * MIB)
            await store.put(orphan_staged, b"killed before commit")
            gone = uuid.uuid4().hex
            deleted = await _upload(services, user, os.urandom(300))
            [deleted_file] = await db.fetch("SELECT id::text AS id FROM files WHERE upload_id = $1", deleted)
            await db.execute("DELETE FROM files WHERE upload_id = $1", deleted)
            garbage = {
                orphan_staged,
                staging_key(gone, 0),
                f"originals/{user.user_id}/{uuid.uuid4().hex}",
                f"originals/{user.user_id}/{deleted}",
                f"derived/{deleted_file['id']}/hls/master.m3u8",
                f"derived/{uuid.uuid4()}/poster.jpg",
                "derived/not-a-uuid/x",
            }
            for key in garbage - {orphan_staged, f"originals/{user.user_id}/{deleted}"}:
                await store.put(key, b"junk")
            lost_multipart = await store.create_multipart(f"originals/{user.user_id}/{uuid.uuid4().hex}")
            young = f"originals/{user.user_id}/{uuid.uuid4().hex}"
            await store.put(young, b"being written a moment ago")
            young_multipart = await store.create_multipart(f"originals/{user.user_id}/{uuid.uuid4().hex}")
            [completing_row] = await db.fetch("SELECT multipart_id FROM uploads WHERE id = $1", completing)
            [active_row] = await db.fetch("SELECT multipart_id FROM uploads WHERE id = $1", active)

            _age(
                tmp_path,
                keep=(store.path_for(young), store.multipart / young_multipart / "upload.json"),
            )
            before = set(await store.list_keys(""))
            assert garbage | keep | {young} <= before

            result = await services.maintenance()
            after = set(await store.list_keys(""))
            assert after & garbage == set(), sorted(after & garbage)
            assert keep | {young} <= after, sorted((keep | {young}) - after)
            assert result["swept_deleted"] == len(garbage)
            multipart = {u.upload_id for u in await store.list_multipart_uploads()}
            assert lost_multipart not in multipart
            assert {young_multipart, active_row["multipart_id"]} <= multipart
            # 'completing' completed meanwhile (maintenance finishes it first); either way it was never aborted
            assert result["swept_aborted"] == 1
            # The interrupted uploads were finished by the same maintenance run.
            for upload_id in (completing, finalizing):
                [row] = await db.fetch("SELECT state, file_id FROM uploads WHERE id = $1", upload_id)
                assert row["state"] == "completed" and row["file_id"] is not None
            assert completing_row["multipart_id"] is not None

            # A second run finds nothing more to do.
            again = await services.maintenance()
            assert again["swept_deleted"] == 0 and again["swept_aborted"] == 0
        finally:
            await db.close()  # type: ignore[attr-defined]

    run(go())


@pytest.mark.parametrize("batch", [3, 1000])
def test_each_run_examines_at_most_a_batch_per_prefix_and_resumes(fresh_database_url, tmp_path, batch):
    async def go() -> None:
        services = await _services(fresh_database_url, tmp_path, batch=batch)
        store: LocalObjectStore = services.store  # type: ignore[assignment]
        try:
            orphans = [f"derived/{uuid.uuid4()}/out.bin" for _ in range(7)]
            orphans += [f"staging/{uuid.uuid4().hex}/{0:015d}" for _ in range(5)]
            for key in orphans:
                await store.put(key, b"x")
            _age(tmp_path)
            runs = []
            while await store.list_keys("") and len(runs) < 10:
                result = await services.sweep.run()
                runs.append(result)
                assert result.examined <= 3 * batch  # one page per prefix
                assert result.deleted <= 2 * batch  # derived/ and staging/ hold garbage here
            assert await store.list_keys("") == []
            if batch == 3:
                assert [r.deleted for r in runs] == [6, 5, 1]
            else:
                assert [r.deleted for r in runs] == [12]
            [row] = await services.db.fetch("SELECT cursor FROM storage_sweep_cursors WHERE prefix = 'derived/'")
            assert row["cursor"] is None  # wrapped: the next run starts over
        finally:
            await services.db.close()  # type: ignore[attr-defined]

    run(go())


def test_sweep_is_off_with_batch_zero_and_without_a_lister(fresh_database_url, tmp_path):
    async def go() -> None:
        services = await _services(fresh_database_url, tmp_path, batch=0)
        try:
            await services.store.put("derived/x/y", b"x")
            _age(tmp_path)
            assert (await services.sweep.run()).deleted == 0
            services.sweep.batch, services.sweep.lister, services.sweep.multipart_lister = 10, None, None
            assert (await services.sweep.run()).examined == 0
            assert await services.store.list_keys("") == ["derived/x/y"]
        finally:
            await services.db.close()  # type: ignore[attr-defined]

    run(go())


def test_local_store_lists_pages_and_removes_stale_temp_files(tmp_path):
    async def go() -> None:
        store = LocalObjectStore(tmp_path)
        keys = [f"a/{i:02d}" for i in range(5)] + ["b/x"]
        for key in keys:
            await store.put(key, b"12345")
        page = await store.list_objects("a/", limit=2)
        assert [o.key for o in page.objects] == ["a/00", "a/01"] and page.cursor == "a/01"
        assert all(o.size == 5 and abs(o.uploaded - time.time()) < 60 for o in page.objects)
        page = await store.list_objects("a/", cursor=page.cursor, limit=2)
        assert [o.key for o in page.objects] == ["a/02", "a/03"]
        page = await store.list_objects("a/", cursor=page.cursor, limit=2)
        assert [o.key for o in page.objects] == ["a/04"] and page.cursor is None
        # A killed writer's temporary file and an emptied directory go once stale; an
        # object's metadata whose object a killed delete removed goes too.
        tmp = store.objects / "staging" / "u" / ".000.abc.tmp"
        tmp.parent.mkdir(parents=True)
        tmp.write_bytes(b"half")
        meta = store.objects / "b" / ".gone.meta"
        meta.write_text("{}")
        fresh = store.objects / "a" / ".05.def.tmp"
        fresh.write_bytes(b"in progress")
        empty = store.objects / "staging" / "v"
        empty.mkdir()
        _age(tmp_path, keep=(fresh,))
        old = time.time() - 7200
        os.utime(empty, (old, old))
        assert store.remove_stale_temp_files(GRACE) == 2
        assert not tmp.exists() and not meta.exists() and fresh.exists()
        assert not empty.exists()
        assert await store.list_keys("") == sorted(keys)

    run(go())


def test_a_file_deleted_before_its_upload_recorded_it_is_not_resurrected(fresh_database_url, tmp_path):
    """Killed between the files row and the upload's file id, then the user deleted the
    file (row and original): finishing the upload must not write the rows again."""

    async def go() -> None:
        services = await _services(fresh_database_url, tmp_path)
        db = services.db
        user = Principal(str(uuid.uuid4()))
        try:
            upload_id = await _upload(services, user, os.urandom(300))
            [row] = await db.fetch("SELECT object_key FROM uploads WHERE id = $1", upload_id)
            await db.execute(
                "UPDATE uploads SET file_id = NULL, updated_at = now() - interval '1 hour' WHERE id = $1", upload_id
            )
            await db.execute("DELETE FROM files WHERE upload_id = $1", upload_id)
            await services.store.delete([row["object_key"]])
            await services.maintenance()
            [row] = await db.fetch("SELECT state FROM uploads WHERE id = $1", upload_id)
            assert row["state"] == "terminated"
            assert await db.fetch("SELECT id FROM files WHERE upload_id = $1", upload_id) == []
        finally:
            await db.close()  # type: ignore[attr-defined]

    run(go())
