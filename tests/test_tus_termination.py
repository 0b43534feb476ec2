"""tus termination as the spec says, checked with tus-js-client's own termination calls.

``DELETE`` answers 204 for completed and unfinished uploads alike (a 409 made
tus-js-client retry five times); a completed upload's file goes the way the files API
deletes it (original, derived objects, rows, queued jobs) and later requests are 404.
``GET`` on an upload URL is 405 with ``Allow``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import httpx
import psycopg
import pytest
from support.stack import REPO
from support.tools import requires
from tus_helpers import OCTET, TUS, auth, create, head, patch, stored_object

NODE = shutil.which("node")
TERMINATE_JS = REPO / "tests" / "js" / "tus_terminate.mjs"
HAVE_TUS_JS = NODE is not None and (REPO / "node_modules" / "tus-js-client").is_dir()
MIB = 1024 * 1024


def _terminate_with_tus_js(server, token: str, path, mode: str) -> dict:
    args = ["--endpoint", server.url + "/api/upload", "--file", str(path), "--token", token, "--mode", mode]
    proc = subprocess.run(
        [NODE, str(TERMINATE_JS), *args],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"tus_terminate.mjs printed nothing (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(lines[-1])


def _file_state(server, upload_id: str) -> dict:
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        files = conn.execute("SELECT id FROM files WHERE upload_id = %s", (upload_id,)).fetchall()
        uploads = conn.execute("SELECT count(*) FROM uploads WHERE id = %s", (upload_id,)).fetchone()[0]
        jobs = conn.execute(
            "SELECT count(*) FROM processing_jobs j JOIN files f ON f.id = j.file_id WHERE f.upload_id = %s",
            (upload_id,),
        ).fetchone()[0]
    return {"files": [str(r[0]) for r in files], "uploads": uploads, "jobs": jobs}


def _queued(server, file_id: str) -> int:
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        return conn.execute("SELECT count(*) FROM queue_messages WHERE body->>'file_id' = %s", (file_id,)).fetchone()[0]


@requires(HAVE_TUS_JS, "node and node_modules/tus-js-client")
def test_tus_js_client_terminates_a_completed_upload_at_the_first_try(server, user_id, tmp_path):
    token = server.token(user_id)
    path = tmp_path / "done.bin"
    path.write_bytes(os.urandom(2 * MIB))
    out = _terminate_with_tus_js(server, token, path, "completed")
    assert "error" not in out, out
    assert out["statuses"] == [204], out
    assert out["ms"] < 1000, "a retry (1 s delay) would mean the first DELETE was refused"
    upload_id = out["url"].rsplit("/", 1)[1]
    assert head(out["url"], token).status_code == 404
    assert _file_state(server, upload_id) == {"files": [], "uploads": 0, "jobs": 0}
    assert not stored_object(server.data_dir, user_id, out["url"]).exists()


@requires(HAVE_TUS_JS, "node and node_modules/tus-js-client")
def test_tus_js_client_abort_true_terminates_an_unfinished_upload(server, user_id, tmp_path):
    token = server.token(user_id)
    path = tmp_path / "partial.bin"
    path.write_bytes(os.urandom(12 * MIB))
    out = _terminate_with_tus_js(server, token, path, "unfinished")
    assert "error" not in out, out
    assert out["statuses"] == [204], out
    assert out["ms"] < 1000
    upload_id = out["url"].rsplit("/", 1)[1]
    assert head(out["url"], token).status_code == 404
    assert _file_state(server, upload_id)["uploads"] == 0
    store = server.data_dir / "store"
    leftovers = [p for d in store.rglob(f"*{upload_id}*") for p in [d, *d.rglob("*")] if p.is_file()]
    assert leftovers == [], leftovers


def test_delete_of_a_completed_upload_deletes_its_file_like_the_files_api(server, user_id):
    token = server.token(user_id)
    data = os.urandom(4096)
    url = create(server.url, token, len(data), filename="gone.bin").headers["Location"]
    assert patch(url, token, 0, data).status_code == 204
    upload_id = url.rsplit("/", 1)[1]
    state = _file_state(server, upload_id)
    (file_id,) = state["files"]
    derived = server.data_dir / "store" / "objects" / "derived" / file_id / "preview"
    derived.mkdir(parents=True)
    (derived / "grid.webp").write_bytes(b"fake preview")

    r = httpx.delete(url, headers={**TUS, **auth(token)})
    assert r.status_code == 204 and r.headers["Tus-Resumable"] == "1.0.0"
    assert _file_state(server, upload_id) == {"files": [], "uploads": 0, "jobs": 0}
    assert _queued(server, file_id) == 0
    assert not stored_object(server.data_dir, user_id, url).exists()
    assert not any(p.is_file() for p in derived.parent.rglob("*"))
    assert httpx.get(f"{server.url}/api/files/{file_id}", headers=auth(token)).status_code == 404
    # later requests for the upload: 404
    assert head(url, token).status_code == 404
    assert httpx.delete(url, headers={**TUS, **auth(token)}).status_code == 404
    assert patch(url, token, len(data), b"x").status_code == 404


def test_others_cannot_terminate_my_completed_upload(server, user_id):
    import uuid

    token = server.token(user_id)
    url = create(server.url, token, 3, filename="mine.bin").headers["Location"]
    assert patch(url, token, 0, b"abc").status_code == 204
    other = server.token(str(uuid.uuid4()))
    assert httpx.delete(url, headers={**TUS, **auth(other)}).status_code == 404
    assert head(url, token).status_code == 200
    assert stored_object(server.data_dir, user_id, url).read_bytes() == b"abc"


@pytest.mark.parametrize("headers", [{}, TUS, "auth"])
def test_get_on_an_upload_url_is_405_with_allow(server, user_id, headers):
    token = server.token(user_id)
    url = create(server.url, token, 10).headers["Location"]
    sent = {**TUS, **auth(token)} if headers == "auth" else headers
    for target in (url, server.url + "/api/upload/" + "0" * 32):
        r = httpx.get(target, headers=sent)
        assert r.status_code == 405, (target, r.status_code, r.text)
        assert set(r.headers["Allow"].replace(" ", "").split(",")) == {"HEAD", "PATCH", "DELETE", "OPTIONS"}
        assert "error" in r.json()
    override = httpx.post(url, headers={**TUS, **auth(token), "X-HTTP-Method-Override": "GET"})
    assert override.status_code == 405
    # the upload itself is untouched
    assert patch(url, token, 0, b"0123456789", **OCTET).status_code == 204
