"""Crash-safe completion and the storage sweep on R2, in the real runtime (workerd + Miniflare's R2).

R2 retires a multipart upload id when it completes: completing it again answers "no such
upload". A crash after R2's complete but before the row said so is simulated by putting
the row back to ``completing``; the next HEAD (and the cron trigger) must recognise the
assembled object and finish the upload, not fail it.
"""

from __future__ import annotations

import os
import time

import httpx
import psycopg
from tus_helpers import create, head, patch

MIB = 1024 * 1024


def _upload_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _cron(server) -> None:
    r = httpx.get(
        f"{server.url}/cdn-cgi/local/scheduled", params={"cron": "*/15 * * * *", "format": "json"}, timeout=60
    )
    assert r.status_code == 200 and r.json()["outcome"] == "ok", r.text


def _uploaded(server, user_id: str, data: bytes) -> tuple[str, str, str]:
    token = server.token(user_id)
    url = create(server.url, token, len(data), filename="clip.bin").headers["Location"]
    assert patch(url, token, 0, data[: 9 * MIB]).status_code == 204  # a part + staged bytes
    assert patch(url, token, 9 * MIB, data[9 * MIB :]).status_code == 204
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        file_id = conn.execute("SELECT id::text FROM files WHERE upload_id = %s", (_upload_id(url),)).fetchone()[0]
    return token, url, file_id


def _reset_to_completing(server, upload_id: str) -> None:
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        conn.execute(  # as a crashed request leaves it, a while ago
            """UPDATE uploads SET state = 'completing', file_id = NULL, updated_at = now() - interval '1 minute'
               WHERE id = %s""",
            (upload_id,),
        )


def _finished(server, upload_id: str) -> tuple[str, str | None, int, int]:
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        state, file_id = conn.execute("SELECT state, file_id::text FROM uploads WHERE id = %s", (upload_id,)).fetchone()
        files = conn.execute("SELECT count(*) FROM files WHERE upload_id = %s", (upload_id,)).fetchone()[0]
        jobs = conn.execute(
            "SELECT count(*) FROM processing_jobs j JOIN files f ON f.id = j.file_id WHERE f.upload_id = %s",
            (upload_id,),
        ).fetchone()[0]
    return state, file_id, files, jobs


def test_a_completion_whose_r2_multipart_id_is_already_completed_is_recognised(server, user_id):
    data = os.urandom(17 * MIB + 5)  # R2 parts of 8, 8 and 1 MiB
    token, url, file_id = _uploaded(server, user_id, data)
    upload_id = _upload_id(url)
    key = f"originals/{user_id}/{upload_id}"
    assert server.store.multipart_uploads(key) == [(key, 1)]  # completed in R2

    # Crash after R2's complete, before the row said so: the next HEAD finishes it.
    _reset_to_completing(server, upload_id)
    r = head(url, token)
    assert r.status_code == 200, r.text
    assert int(r.headers["Upload-Offset"]) == len(data)
    assert _finished(server, upload_id) == ("completed", file_id, 1, 1)

    # The same through the cron trigger, with no client at all.
    _reset_to_completing(server, upload_id)
    _cron(server)
    assert _finished(server, upload_id) == ("completed", file_id, 1, 1)
    assert server.store.read(key) == data
    assert server.store.keys(f"staging/{upload_id}/") == []


def test_the_cron_sweep_collects_an_orphaned_original_and_keeps_what_is_in_use(server, user_id):
    """A files row deleted by a request that died before deleting the objects leaves the
    original behind; the cron trigger's sweep (grace 3 s in this stack) removes it, and
    keeps the original of a live file and the staged bytes of an upload in progress."""
    _, orphan_url, orphan_file = _uploaded(server, user_id, os.urandom(9 * MIB + 1))
    _, live_url, _ = _uploaded(server, user_id, os.urandom(9 * MIB + 2))
    token = server.token(user_id)
    active_url = create(server.url, token, 20 * MIB).headers["Location"]
    assert patch(active_url, token, 0, os.urandom(9 * MIB)).status_code == 204
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        conn.execute("DELETE FROM files WHERE id = %s", (orphan_file,))
    orphan = f"originals/{user_id}/{_upload_id(orphan_url)}"
    live = f"originals/{user_id}/{_upload_id(live_url)}"
    staged = server.store.keys(f"staging/{_upload_id(active_url)}/")
    assert len(staged) == 1 and server.store.keys(orphan) == [orphan]
    time.sleep(3.5)  # past the grace period
    deadline = time.monotonic() + 60
    while server.store.keys(orphan) and time.monotonic() < deadline:
        _cron(server)  # one page per prefix per run: a busy test bucket may need several
    assert server.store.keys(orphan) == []
    assert server.store.keys(live) == [live]
    assert server.store.keys(f"staging/{_upload_id(active_url)}/") == staged
    assert head(active_url, token).headers["Upload-Offset"] == str(9 * MIB)
