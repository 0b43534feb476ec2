"""Admin API against a real server, real Postgres and (for retries) a real processor."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from support.stack import Processor
from tus_helpers import auth, create, patch

QUEUE = "mediagate-jobs"


@pytest.fixture()
def admin_server(make_server, fresh_database_url):
    """A server on its own database, so the stats are exactly what a test inserted."""
    return make_server(database=fresh_database_url)


def admin(srv) -> dict[str, str]:
    return auth(srv.token(str(uuid.uuid4()), role="admin"))


def db_url(srv) -> str:
    return srv.env["DATABASE_URL"]


def sql(srv, query: str, *params):
    with psycopg.connect(db_url(srv), row_factory=dict_row) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else None


def insert_job(
    srv,
    status: str,
    *,
    user: str | None = None,
    filename: str = "clip.mp4",
    file_type: str = "video",
    error: str | None = None,
    finished_ago: float | None = None,
    took: float = 10,
    attempts: int = 1,
    metadata: dict | None = None,
) -> tuple[str, str]:
    """A files row and its processing job; ``finished_ago`` seconds before now it completed or failed."""
    user = user or str(uuid.uuid4())
    file_status = {"queued": "pending"}.get(status, status)
    row = sql(
        srv,
        """WITH f AS (
             INSERT INTO files (user_id, original_key, file_type, mime_type, file_size, filename, upload_status,
               processing_status, processing_error, metadata)
             VALUES (%s, %s, %s, 'video/mp4', 1234, %s, 'completed', %s, %s, %s::jsonb) RETURNING id)
           INSERT INTO processing_jobs (file_id, job_type, status, error_message, attempts, started_at, completed_at)
           SELECT id, 'video_transcode', %s, %s, %s,
                  LOCALTIMESTAMP - make_interval(secs => %s::float8 + %s::float8),
                  LOCALTIMESTAMP - make_interval(secs => %s::float8)
           FROM f RETURNING id::text AS job_id, file_id::text AS file_id""",
        user,
        f"originals/{user}/{uuid.uuid4().hex}",
        file_type,
        filename,
        file_status,
        error,
        json.dumps(metadata or {"upload": {"metadata": {"filename": filename}}, "is_raw": False}),
        status,
        error,
        attempts,
        finished_ago or 0,
        took,
        finished_ago or 0,
    )[0]
    if finished_ago is None:
        sql(srv, "UPDATE processing_jobs SET completed_at = NULL WHERE id = %s", row["job_id"])
    return row["job_id"], row["file_id"]


def test_admin_endpoints_need_an_admin_token(server):
    job = str(uuid.uuid4())
    for method, path in [("GET", "/api/admin/stats"), ("POST", f"/api/admin/jobs/{job}/retry")]:
        anonymous = httpx.request(method, server.url + path)
        assert anonymous.status_code == 401 and anonymous.json()["error"]
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        user = httpx.request(method, server.url + path, headers=auth(server.token(str(uuid.uuid4()))))
        assert user.status_code == 403 and "admin" in user.json()["error"]
        expired = httpx.request(method, server.url + path, headers=auth(server.token(str(uuid.uuid4()), ttl=-10)))
        assert expired.status_code == 401


def test_stats(admin_server):
    srv = admin_server
    for _ in range(2):
        insert_job(srv, "queued")
    insert_job(srv, "processing")
    insert_job(srv, "completed", finished_ago=60, took=10)
    insert_job(srv, "completed", finished_ago=600, took=30)
    insert_job(srv, "completed", finished_ago=3 * 3600, took=100)  # 24 h only
    insert_job(srv, "completed", finished_ago=3 * 86400)  # neither
    failed = [
        insert_job(srv, "failed", filename=f"bad{i}.jpg", error=f"broken {i}", finished_ago=100 + i, attempts=3)
        for i in range(25)
    ]
    sql(
        srv,
        "INSERT INTO queue_messages (queue, body) VALUES (%s, '{}'), (%s, '{}'), (%s, '{}'), ('other', '{}')",
        QUEUE,
        QUEUE,
        QUEUE,
    )
    sql(
        srv,
        """INSERT INTO queue_dead_letters (id, queue, body, attempts, reason, created_at)
           VALUES (gen_random_uuid(), %s, '{}', 3, 'gave up', NOW())""",
        QUEUE,
    )
    r = httpx.get(srv.url + "/api/admin/stats", headers=admin(srv))
    assert r.status_code == 200, r.text
    stats = r.json()
    assert stats["queue_depth"] == 3  # the local queue: rows of this queue not yet acked
    assert stats["queued_jobs"] == 2
    assert stats["jobs_by_status"] == {"queued": 2, "processing": 1, "completed": 4, "failed": 25}
    assert stats["dead_letters"] == 1
    throughput = stats["throughput"]
    assert throughput["completed_last_hour"] == 2
    assert throughput["completed_last_24h"] == 3
    assert throughput["avg_processing_seconds_last_hour"] == pytest.approx(20, abs=0.01)
    assert throughput["per_minute_last_hour"] == pytest.approx(2 / 60, abs=0.001)
    recent = stats["recent_failures"]
    assert len(recent) == 20
    assert [f["job_id"] for f in recent] == [job for job, _ in failed[:20]]  # newest (least ago) first
    first = recent[0]
    assert first["file_id"] == failed[0][1] and first["filename"] == "bad0.jpg"
    assert first["error"] == "broken 0" and first["attempts"] == 3
    assert uuid.UUID(first["user_id"]) and first["failed_at"]


def test_empty_stats(admin_server):
    stats = httpx.get(admin_server.url + "/api/admin/stats", headers=admin(admin_server)).json()
    assert stats["queue_depth"] == 0 and stats["dead_letters"] == 0 and stats["recent_failures"] == []
    assert stats["jobs_by_status"] == {"queued": 0, "processing": 0, "completed": 0, "failed": 0}
    assert stats["throughput"]["avg_processing_seconds_last_hour"] is None


def test_retry_requeues_a_failed_job_with_a_rebuilt_message(admin_server):
    srv = admin_server
    user = str(uuid.uuid4())
    meta = {"upload": {"metadata": {"filename": "a7s.mp4", "colorspace": "slog3", "other": "x"}}, "is_raw": True}
    job_id, file_id = insert_job(
        srv, "failed", user=user, filename="a7s.mp4", error="ffmpeg died", finished_ago=5, attempts=3, metadata=meta
    )
    r = httpx.post(srv.url + f"/api/admin/jobs/{job_id}/retry", headers=admin(srv))
    assert r.status_code == 202, r.text
    assert r.json()["job_id"] == job_id and r.json()["status"] == "queued"
    [job] = sql(srv, "SELECT * FROM processing_jobs WHERE id = %s", job_id)
    assert job["status"] == "queued" and job["error_message"] is None and job["completed_at"] is None
    assert job["attempts"] == 3  # kept
    [file] = sql(srv, "SELECT * FROM files WHERE id = %s", file_id)
    assert file["processing_status"] == "pending" and file["processing_error"] is None
    [message] = sql(
        srv, "SELECT id::text AS id, queue, body FROM queue_messages WHERE id::text = %s", job["queue_message_id"]
    )
    assert message["queue"] == QUEUE + "-video"  # a video: the video lane's queue
    assert message["body"] == {
        "v": 1,
        "job_id": job_id,
        "file_id": file_id,
        "user_id": user,
        "job_type": "video_transcode",
        "lane": "video",
        "object_key": file["original_key"],
        "output_prefix": f"derived/{file_id}/",
        "file_type": "video",
        "mime_type": "video/mp4",
        "filename": "a7s.mp4",
        "is_raw": True,
        "options": {"colorspace": "slog3"},
    }
    again = httpx.post(srv.url + f"/api/admin/jobs/{job_id}/retry", headers=admin(srv))
    assert again.status_code == 409 and "queued" in again.json()["error"]
    assert sql(srv, "SELECT count(*) AS n FROM queue_messages")[0]["n"] == 1


@pytest.mark.parametrize(
    ("job", "status"),
    [("not-a-uuid", 400), (str(uuid.uuid4()), 404), ("completed", 409), ("processing", 409)],
)
def test_retry_refusals(admin_server, job, status):
    srv = admin_server
    if job in ("completed", "processing"):
        job, _ = insert_job(srv, job, finished_ago=1 if job == "completed" else None)
    r = httpx.post(srv.url + f"/api/admin/jobs/{job}/retry", headers=admin(srv))
    assert r.status_code == status, r.text
    assert r.json()["error"]
    assert sql(srv, "SELECT count(*) AS n FROM queue_messages")[0]["n"] == 0


def wait_job(srv, job_filter: str, param: str, predicate, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        rows = sql(
            srv,
            f"""SELECT j.id::text AS job_id, j.status, j.attempts, j.error_message, j.queue_message_id,
                       f.id::text AS file_id, f.processing_status, f.processing_error
                FROM processing_jobs j JOIN files f ON f.id = j.file_id WHERE {job_filter}""",
            param,
        )
        row = rows[0] if rows else None
        if row and predicate(row):
            return row
        time.sleep(0.2)
    raise AssertionError(f"job did not get there: {row}")


def wait_failed_webhook(srv, job_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if sql(srv, "SELECT 1 FROM webhook_events WHERE id LIKE %s", f"{job_id}:processing-failed:%"):
            return
        time.sleep(0.2)
    raise AssertionError("no processing-failed webhook")


def test_retry_a_job_the_processor_failed(admin_server):
    srv = admin_server
    user = str(uuid.uuid4())
    token = srv.token(user)
    data = b"this is a text file, not a JPEG\n" * 20
    r = create(srv.url, token, len(data), filename="notes.jpg")
    assert r.status_code == 201, r.text
    upload_id = r.headers["Location"].rsplit("/", 1)[1]
    assert patch(r.headers["Location"], token, 0, data).status_code == 204

    processor = Processor(srv).start()
    try:
        failed = wait_job(srv, "f.upload_id = %s", upload_id, lambda j: j["status"] == "failed")
        wait_failed_webhook(srv, failed["job_id"])  # settled: no late event can undo the retry
    finally:
        processor.stop()
    assert failed["attempts"] == 1 and failed["error_message"]
    stats = httpx.get(srv.url + "/api/admin/stats", headers=admin(srv)).json()
    assert stats["jobs_by_status"]["failed"] == 1 and stats["queue_depth"] == 0
    [failure] = stats["recent_failures"]
    assert failure["job_id"] == failed["job_id"] and failure["filename"] == "notes.jpg"
    assert failure["user_id"] == user and failure["error"] == failed["error_message"]

    r = httpx.post(srv.url + f"/api/admin/jobs/{failed['job_id']}/retry", headers=admin(srv))
    assert r.status_code == 202, r.text
    queued = wait_job(srv, "j.id = %s", failed["job_id"], lambda j: True)
    assert queued["status"] == "queued" and queued["attempts"] == 1 and queued["error_message"] is None
    assert queued["processing_status"] == "pending" and queued["processing_error"] is None
    [message] = sql(srv, "SELECT body FROM queue_messages WHERE id::text = %s", queued["queue_message_id"])
    assert message["body"]["job_id"] == failed["job_id"] and message["body"]["filename"] == "notes.jpg"
    assert message["body"]["job_type"] == "image_preview"
    stats = httpx.get(srv.url + "/api/admin/stats", headers=admin(srv)).json()
    assert stats["queue_depth"] == 1 and stats["jobs_by_status"]["queued"] == 1

    # the re-queued message is a real job: the processor takes it again (and it fails again)
    processor = Processor(srv).start()
    try:
        again = wait_job(srv, "j.id = %s", failed["job_id"], lambda j: j["status"] == "failed")
    finally:
        processor.stop()
    assert again["attempts"] == 2 and again["processing_status"] == "failed"


TRANSITIONS = {  # FileStatus method -> (the job's status before, the job's and the file's after)
    "start": ("queued", "processing", "processing"),
    "complete": ("processing", "completed", "completed"),
    "fail": ("processing", "failed", "failed"),
}


@pytest.mark.parametrize("locked", ["files", "processing_jobs"])
def test_no_reader_sees_a_job_moved_without_its_file(fresh_database_url, locked):
    """Each transition commits the job and its file together. Written as two statements, a
    reader (the admin page, the retry test above) saw a job 'failed' while its file was still
    'processing', and a processor stopped between them left them so until the message was
    delivered again. Here the row of one table is locked while the transition runs: once the
    writer waits on it, the other table's row must not have changed either."""
    import asyncio
    import threading

    from mediagate.adapters.local.postgres import PostgresDatabase
    from mediagate.file_status import FileStatus

    db = SimpleNamespace(env={"DATABASE_URL": fresh_database_url})  # what insert_job and sql read of a server

    for method, (before, job_after, file_after) in TRANSITIONS.items():
        job_id, file_id = insert_job(db, before)
        row = {"files": file_id, "processing_jobs": job_id}[locked]

        async def transition(method: str = method, job_id: str = job_id, file_id: str = file_id) -> None:
            database = PostgresDatabase(fresh_database_url, max_size=1)
            await database.open()
            try:
                status = FileStatus(database)
                if method == "start":
                    await status.start(job_id, file_id)
                elif method == "complete":
                    await status.complete(job_id, file_id, {"metadata": {}})
                else:
                    await status.fail(job_id, file_id, "broken", final=True)
            finally:
                await database.close()

        with psycopg.connect(fresh_database_url) as locker:
            locker.execute(f"SELECT 1 FROM {locked} WHERE id = %s FOR UPDATE", (row,))
            writer = threading.Thread(target=asyncio.run, args=(transition(),))
            writer.start()
            deadline = time.monotonic() + 30
            while not sql(
                db, "SELECT 1 FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", locker.info.backend_pid
            ):
                assert time.monotonic() < deadline, f"{method} never touched the locked {locked} row"
                time.sleep(0.05)
            [seen] = sql(
                db,
                """SELECT j.status, f.processing_status FROM processing_jobs j JOIN files f ON f.id = j.file_id
                   WHERE j.id = %s""",
                job_id,
            )
            assert seen == {"status": before, "processing_status": {"queued": "pending"}.get(before, before)}, method
            locker.rollback()
        writer.join(30)
        assert not writer.is_alive(), method
        [after] = sql(
            db,
            "SELECT j.status, f.processing_status FROM processing_jobs j JOIN files f ON f.id = j.file_id WHERE j.id = %s",
            job_id,
        )
        assert after == {"status": job_after, "processing_status": file_after}, method


def test_stats_on_the_cloudflare_wiring(admin_server, tmp_path):
    """Cloudflare's QueueStats answers from processing_jobs (Queues cannot be counted from a
    Worker): depth = jobs not yet acked, dead letters = jobs the dead-letter consumer got.
    The local queue tables are not read (rows put there are ignored)."""
    import asyncio

    from mediagate.adapters.cloudflare.queue_stats import JobTableQueueStats
    from mediagate.adapters.local.fs_store import LocalObjectStore
    from mediagate.adapters.local.pg_queue import PostgresQueue
    from mediagate.adapters.local.postgres import PostgresDatabase
    from mediagate.api.app import create_app
    from mediagate.config import Settings
    from mediagate.file_status import FileStatus
    from mediagate.services import Services

    srv = admin_server
    lost, _ = insert_job(srv, "queued", file_type="image")
    insert_job(srv, "queued")
    insert_job(srv, "processing")
    insert_job(srv, "completed", finished_ago=60)
    broken, broken_file = insert_job(srv, "failed", error="decoder said no", finished_ago=30)
    sql(srv, "INSERT INTO queue_messages (queue, body) VALUES (%s, '{}'), (%s, '{}')", QUEUE, QUEUE)

    async def go() -> dict:
        db = PostgresDatabase(db_url(srv), max_size=2)
        await db.open()
        try:
            rows = sql(
                srv,
                "SELECT id::text AS job, file_id::text AS file FROM processing_jobs WHERE id IN (%s, %s)",
                lost,
                broken,
            )
            status = FileStatus(db)
            for row in rows:  # what the dead-letter queue's consumer does per message
                await status.dead_lettered({"job_id": row["job"], "file_id": row["file"]}, 3)
            services = Services(
                settings=Settings(jwt_secret=srv.env["JWT_SECRET"]),
                store=LocalObjectStore(tmp_path),
                db=db,
                queue=PostgresQueue(db, "unused"),
                queue_stats=JobTableQueueStats(db),
            )
            transport = httpx.ASGITransport(app=create_app(services))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                r = await client.get("/api/admin/stats", headers=admin(srv))
                assert r.status_code == 200, r.text
                return r.json()
        finally:
            await db.close()

    stats = asyncio.run(go())
    assert stats["dead_letters"] == 2
    assert stats["queue_depth"] == 2  # one queued + one processing: the dead-lettered one is failed now
    assert stats["jobs_by_status"] == {"queued": 1, "processing": 1, "completed": 1, "failed": 2}
    [lost_row] = sql(
        srv,
        "SELECT j.status, f.processing_status, f.processing_error FROM processing_jobs j "
        "JOIN files f ON f.id = j.file_id WHERE j.id = %s",
        lost,
    )
    assert lost_row["status"] == "failed" and lost_row["processing_status"] == "failed"
    assert "dead-lettered" in lost_row["processing_error"]
    [broken_row] = sql(srv, "SELECT processing_error FROM files WHERE id = %s", broken_file)
    assert broken_row["processing_error"] == "decoder said no"  # already settled: left as it was


def test_deleting_a_file_purges_its_queued_messages_through_the_queue(admin_server):
    """Locally the queue can drop a deleted file's message (FileMessagePurge); other files keep theirs."""
    srv = admin_server
    user = str(uuid.uuid4())
    _, gone_file = insert_job(srv, "queued", user=user)
    _, kept_file = insert_job(srv, "queued", user=user)
    for file_id in (gone_file, kept_file):
        sql(
            srv,
            "INSERT INTO queue_messages (queue, body) VALUES (%s, %s::jsonb)",
            QUEUE,
            json.dumps({"file_id": file_id}),
        )
    r = httpx.delete(srv.url + f"/api/files/{gone_file}?permanent=true", headers=auth(srv.token(user)))
    assert r.status_code in (200, 204), r.text
    left = sql(srv, "SELECT body->>'file_id' AS f FROM queue_messages")
    assert [row["f"] for row in left] == [kept_file]
    stats = httpx.get(srv.url + "/api/admin/stats", headers=admin(srv)).json()
    assert stats["queue_depth"] == 1
