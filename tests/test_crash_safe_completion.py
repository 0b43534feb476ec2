"""Completion survives a kill at any point; the storage sweep collects what kills leave.

Real server processes, real Postgres, the real filesystem store. The test hook
``MEDIAGATE_CRASH_AT`` (mediagate/crashpoints.py) stops the server exactly between two
completion or ingest steps; the chaos test kills it from outside at random moments too.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid

import psycopg
import pytest
from mediagate import crashpoints
from support.chaos import CHAOS_ENV, CRASH_POINTS, Chaos, leftovers
from tus_helpers import create, head, patch

MIB = 1024 * 1024
SERVER_ENV = {"UPLOAD_PART_SIZE": str(5 * MIB), "UPLOAD_LOCK_STALE_SECONDS": "1", "CLEANUP_INTERVAL": "3600"}


def _upload_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _row(database_url: str, upload_id: str) -> tuple[str, str | None]:
    with psycopg.connect(database_url) as conn:
        state, file_id = conn.execute("SELECT state, file_id::text FROM uploads WHERE id = %s", (upload_id,)).fetchone()
    return state, file_id


def _rows_of(database_url: str, upload_id: str) -> tuple[int, list[tuple[str | None]], int]:
    """(files rows, [queue message id per job], queue messages) for one upload."""
    with psycopg.connect(database_url) as conn:
        files = conn.execute("SELECT count(*) FROM files WHERE upload_id = %s", (upload_id,)).fetchone()[0]
        jobs = conn.execute(
            """SELECT j.queue_message_id FROM processing_jobs j JOIN files f ON f.id = j.file_id
               WHERE f.upload_id = %s""",
            (upload_id,),
        ).fetchall()
        messages = conn.execute(
            """SELECT count(*) FROM queue_messages q JOIN files f ON q.body->>'file_id' = f.id::text
               WHERE f.upload_id = %s AND q.body->>'step' IS NULL""",  # not a video's poster message
            (upload_id,),
        ).fetchone()[0]
    return files, jobs, messages


def _crash_then_restart(srv, point: str, token: str, data: bytes) -> str:
    """Upload ``data`` (a part, staged bytes, then the rest) on a server armed to die at
    ``point`` during the completion; returns the upload URL once the server died there."""
    url = create(srv.url, token, len(data), filename="crash.mp4").headers["Location"]
    assert patch(url, token, 0, data[: 6 * MIB]).status_code == 204  # one part + 1 MiB staged
    try:
        patch(url, token, 6 * MIB, data[6 * MIB :])
    except Exception:
        pass
    assert srv.wait_exit(10) == crashpoints.EXIT_CODE, f"the server did not die at {point}"
    srv.log.close()
    srv.env.pop("MEDIAGATE_CRASH_AT")
    srv.start()
    return url


def test_every_crash_point_is_tested():
    assert set(CRASH_POINTS) == set(crashpoints.POINTS)


@pytest.mark.parametrize("point", crashpoints.POINTS)
def test_a_kill_at_any_completion_step_is_finished_by_the_next_head(make_server, database_url, user_id, point):
    """The issue's bug: a crash after assembly left an upload whose every resume answered
    500. Now the next HEAD (after the dead server's lock goes stale) finishes it."""
    srv = make_server({**SERVER_ENV, "MEDIAGATE_CRASH_AT": point})
    token = srv.token(user_id)
    data = os.urandom(12 * MIB + 321)
    url = _crash_then_restart(srv, point, token, data)
    upload_id = _upload_id(url)

    time.sleep(1.2)  # the killed request's lock goes stale
    r = head(url, token)
    assert r.status_code == 200, r.text
    offset = int(r.headers["Upload-Offset"])
    if point == "completion:before-completing":  # the last part was never recorded: resend it
        # From the acknowledged offset, or from the part boundary when a periodic commit
        # of the killed PATCH recorded its first part (UPLOAD_COMMIT_INTERVAL_MS).
        assert offset in (6 * MIB, 10 * MIB)
        assert patch(url, token, offset, data[offset:]).status_code == 204
    else:
        assert offset == len(data)
    state, file_id = _row(database_url, upload_id)
    assert (state, file_id is not None) == ("completed", True)

    stored = srv.store.read(f"originals/{user_id}/{upload_id}")
    assert stored is not None and hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    files, jobs, messages = _rows_of(database_url, upload_id)
    assert files == 1 and len(jobs) == 1 and jobs[0][0] is not None
    assert messages == (2 if point == "ingest:after-send" else 1)  # at-least-once: one duplicate at most
    assert srv.store.keys(f"staging/{upload_id}/") == []
    assert not any((srv.data_dir / "store" / "multipart").iterdir())
    assert head(url, token).status_code == 200  # and stays finished
    assert _rows_of(database_url, upload_id)[0] == 1


@pytest.mark.parametrize("point", ["completion:after-completing", "completion:after-assemble", "ingest:after-rows"])
def test_the_cleanup_sweep_finishes_an_interrupted_completion_without_a_client(
    make_server, database_url, user_id, point
):
    srv = make_server({**SERVER_ENV, "MEDIAGATE_CRASH_AT": point})
    token = srv.token(user_id)
    data = os.urandom(11 * MIB)
    srv.env["CLEANUP_INTERVAL"] = "0.3"  # for the restarted server
    url = _crash_then_restart(srv, point, token, data)
    upload_id = _upload_id(url)
    deadline = time.monotonic() + 15
    while _row(database_url, upload_id)[1] is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _row(database_url, upload_id)[0] == "completed"
    files, jobs, _ = _rows_of(database_url, upload_id)
    assert files == 1 and len(jobs) == 1 and jobs[0][0] is not None
    assert srv.store.read(f"originals/{user_id}/{upload_id}") == data


def test_a_patch_on_a_completing_upload_finishes_it(make_server, database_url, user_id):
    srv = make_server({**SERVER_ENV, "MEDIAGATE_CRASH_AT": "completion:after-assemble"})
    token = srv.token(user_id)
    data = os.urandom(7 * MIB)
    url = _crash_then_restart(srv, "completion:after-assemble", token, data)
    time.sleep(1.2)
    r = patch(url, token, len(data), b"")
    assert r.status_code == 204 and int(r.headers["Upload-Offset"]) == len(data)
    assert _row(database_url, _upload_id(url))[0] == "completed"


def test_chaos_random_kills_lose_nothing_and_leave_nothing(make_server, fresh_database_url):
    """Random SIGKILLs (some just after a final PATCH's last byte) and crash-point exits:
    every upload ends byte-identical, once, and after the sweep nothing is left over."""
    srv = make_server(CHAOS_ENV, database=fresh_database_url)
    srv.kill()
    srv.log.close()
    seed = int(os.environ.get("CHAOS_SEED", "0")) or uuid.uuid4().int % 10**6
    chaos = Chaos(srv, fresh_database_url, str(uuid.uuid4()), seed=seed, max_size=11 * MIB)
    outcome = chaos.run(int(os.environ.get("CHAOS_KILLS", "8")), life_timeout=4)
    print(f"seed {seed}: {outcome.summary()}")
    assert outcome.completed > 0
    assert outcome.lost == [] and outcome.corrupted == [] and outcome.duplicate_rows == [], outcome.summary()
    assert outcome.leftover_count == 0, outcome.summary()
    assert leftovers(srv.data_dir / "store", fresh_database_url) == outcome.leftovers


def test_an_active_upload_holding_every_byte_is_finished(make_server, database_url, user_id):
    """A body ending exactly on a part boundary commits offset == length while still
    'active'; a kill before 'completing' is recorded must not strand it (a client that
    sees offset == length never PATCHes again). Same for an empty upload killed inside
    its creation."""
    # A commit after every part (as a periodic commit may land on the last one)
    srv = make_server(
        {**SERVER_ENV, "UPLOAD_COMMIT_INTERVAL_MS": "0", "MEDIAGATE_CRASH_AT": "completion:before-completing"}
    )
    token = srv.token(user_id)
    data = os.urandom(10 * MIB)  # exactly two parts
    url = create(srv.url, token, len(data)).headers["Location"]
    try:
        patch(url, token, 0, data)
    except Exception:
        pass
    assert srv.wait_exit(10) == crashpoints.EXIT_CODE
    assert _row(database_url, _upload_id(url)) == ("active", None)
    srv.log.close()
    srv.start()  # still armed: the empty upload's creation dies at the same point
    try:
        create(srv.url, token, 0)
    except Exception:
        pass
    assert srv.wait_exit(10) == crashpoints.EXIT_CODE
    srv.log.close()
    srv.env.pop("MEDIAGATE_CRASH_AT")
    srv.start()
    with psycopg.connect(database_url) as conn:
        [(empty_id,)] = conn.execute(
            "SELECT id FROM uploads WHERE user_id = %s AND upload_length = 0", (user_id,)
        ).fetchall()
    time.sleep(1.2)
    for upload_id, content in ((_upload_id(url), data), (empty_id, b"")):
        r = head(f"{srv.url}/api/upload/{upload_id}", token)
        assert r.status_code == 200 and int(r.headers["Upload-Offset"]) == len(content)
        assert _row(database_url, upload_id)[0] == "completed"
        assert _rows_of(database_url, upload_id)[0] == 1
        assert srv.store.read(f"originals/{user_id}/{upload_id}") == content
    assert not any((srv.data_dir / "store" / "multipart").iterdir())
