"""Real tus clients against the real server: tuspy (Python) and tus-js-client (Node).

Every upload goes over HTTP to a server process backed by the private Postgres; the
stored object is checked byte for byte (sha256), the upload's HEAD, and the rows that
the last byte creates (files, processing_jobs, queue_messages). Interrupted uploads are
resumed from a *fresh* client process that knows only the upload URL.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from support.files import sha256_file, write_random_file
from support.stack import REPO, Server, shared_tmpdir
from support.tools import requires
from tusclient import client as tus_client

MB = 1_000_000
BIG = 50 * MB
NODE = shutil.which("node")
TUS_JS = REPO / "tests" / "js" / "tus_upload.mjs"
HAVE_TUS_JS = NODE is not None and (REPO / "node_modules" / "tus-js-client").is_dir()
needs_tus_js = requires(HAVE_TUS_JS, "node and node_modules/tus-js-client (npm install)")


# -- helpers ------------------------------------------------------------------------------


def upload_id_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def stored_path(server: Server, user_id: str, url: str) -> Path:
    return server.data_dir / "store" / "objects" / "originals" / user_id / upload_id_of(url)


def tus_head(url: str, token: str) -> httpx.Response:
    return httpx.head(url, headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}, timeout=10)


def fetch_one(database_url: str, sql: str, *params: Any) -> dict[str, Any] | None:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchone()


FILE_SQL = "SELECT *, id::text AS id, user_id::text AS user_id FROM files WHERE upload_id = %s"
JOB_SQL = "SELECT *, id::text AS id, file_id::text AS file_id FROM processing_jobs WHERE file_id = %s::uuid"
MESSAGE_SQL = (  # the job's message, not a video's fast-lane poster message
    "SELECT id::text AS id, queue, body FROM queue_messages WHERE body->>'file_id' = %s AND body->>'step' IS NULL"
)


def ingested(database_url: str, upload_id: str, timeout: float = 10) -> dict[str, Any]:
    """The files/processing_jobs/queue_messages rows for an upload (waits briefly for them)."""
    deadline = time.monotonic() + timeout
    while (file := fetch_one(database_url, FILE_SQL, upload_id)) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"no files row for upload {upload_id}")
        time.sleep(0.05)
    count = fetch_one(database_url, "SELECT count(*) AS n FROM files WHERE upload_id = %s", upload_id)
    assert count is not None and count["n"] == 1
    job = fetch_one(database_url, JOB_SQL, file["id"])
    message = fetch_one(database_url, MESSAGE_SQL, file["id"])
    return {"file": file, "job": job, "message": message}


def assert_complete(
    server: Server, database_url: str, user_id: str, token: str, url: str, source: Path, sha: str
) -> dict:
    """The object matches the source, HEAD says complete, and the ingest rows are consistent."""
    size = source.stat().st_size
    stored = stored_path(server, user_id, url)
    assert stored.is_file(), f"no stored object at {stored}"
    assert stored.stat().st_size == size
    assert sha256_file(stored) == sha
    head = tus_head(url, token)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(size)
    rows = ingested(database_url, upload_id_of(url))
    file, job, message = rows["file"], rows["job"], rows["message"]
    assert file["user_id"] == user_id
    assert file["file_size"] == size
    assert file["original_key"] == f"originals/{user_id}/{upload_id_of(url)}"
    assert file["upload_status"] == "completed"
    assert job is not None and job["status"] == "queued"
    assert message is not None
    assert job["queue_message_id"] == message["id"]
    body = message["body"]
    assert body["job_id"] == job["id"]
    assert body["file_id"] == file["id"]
    assert body["object_key"] == file["original_key"]
    assert body["user_id"] == user_id
    return rows


def run_tus_js(*args: str, timeout: float = 60) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([NODE, str(TUS_JS), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)  # type: ignore[list-item]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"tus_upload.mjs printed nothing (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return proc.returncode, json.loads(lines[-1])


# tuspy in its own interpreter: only the URL (and the file) survive between the two runs.
TUSPY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from tusclient import client
    endpoint, url, path, token, chunk, stop_at = sys.argv[1:7]
    tus = client.TusClient(endpoint, headers={"Authorization": "Bearer " + token})
    if url == "-":
        uploader = tus.uploader(path, chunk_size=int(chunk), metadata={"filename": "resumed.bin",
                                "filetype": "application/octet-stream"}, upload_checksum=True)
    else:
        uploader = tus.uploader(path, url=url, chunk_size=int(chunk), upload_checksum=True)
    start = uploader.offset
    uploader.upload(stop_at=int(stop_at) if stop_at != "-" else None)
    print(json.dumps({"url": uploader.url, "start": start, "offset": uploader.offset}))
    """
)


def run_tuspy(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", TUSPY_SCRIPT, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def png_bytes(width: int = 16, height: int = 16) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 16 % 256, y * 16 % 256, 128)) for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tus_server(database_url: str) -> Iterator[Server]:
    """Our own server with a known size limit (the shared one may be configured small), with
    its upload process (the tests check it stored the bytes)."""
    data_dir = shared_tmpdir("mediagate-clients-")
    srv = Server(database_url, data_dir, env={"MAX_UPLOAD_SIZE": str(1 << 30)}).start()
    yield srv
    srv.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture()
def token(tus_server: Server, user_id: str) -> str:
    return tus_server.token(user_id)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("tus-clients") / "big.bin"
    return path, write_random_file(path, BIG)


# -- tests --------------------------------------------------------------------------------


def test_tuspy_uploads_50mb_in_5_5mb_chunks(
    tus_server: Server, database_url: str, user_id: str, token: str, big_file: tuple[Path, str]
) -> None:
    path, sha = big_file
    written = tus_server.uploads.written_bytes()
    tus = tus_client.TusClient(tus_server.url + "/api/upload", headers={"Authorization": f"Bearer {token}"})
    uploader = tus.uploader(
        str(path),
        chunk_size=5_500_000,
        metadata={"filename": "big.bin", "filetype": "application/octet-stream"},
        upload_checksum=True,  # Upload-Checksum: sha1 on every PATCH
    )
    uploader.upload()
    assert uploader.offset == BIG
    assert tus_server.uploads.written_bytes() - written >= BIG  # the upload process stored the bytes

    rows = assert_complete(tus_server, database_url, user_id, token, uploader.url, path, sha)
    file = rows["file"]
    assert file["filename"] == "big.bin"
    assert file["file_type"] == "other"
    assert file["metadata"]["upload"]["metadata"] == {"filename": "big.bin", "filetype": "application/octet-stream"}
    assert rows["job"]["job_type"] == "other"


def test_tuspy_interrupted_then_resumed_by_a_fresh_process(
    tus_server: Server, database_url: str, user_id: str, token: str, big_file: tuple[Path, str]
) -> None:
    path, sha = big_file
    endpoint = tus_server.url + "/api/upload"
    first = run_tuspy(endpoint, "-", str(path), token, "5500000", str(20 * MB))
    assert 20 * MB <= first["offset"] < BIG
    head = tus_head(first["url"], token)
    assert head.headers["Upload-Offset"] == str(first["offset"])  # what the client was told is durable
    assert fetch_one(database_url, "SELECT 1 FROM files WHERE upload_id = %s", upload_id_of(first["url"])) is None

    second = run_tuspy(endpoint, first["url"], str(path), token, "5500000", "-")
    assert second["start"] == first["offset"]  # resumed from the server's offset, not from 0
    assert second["offset"] == BIG

    rows = assert_complete(tus_server, database_url, user_id, token, first["url"], path, sha)
    assert rows["file"]["filename"] == "resumed.bin"


@needs_tus_js
def test_tus_js_client_interrupted_then_resumed_by_a_fresh_process(
    tus_server: Server, database_url: str, user_id: str, token: str, big_file: tuple[Path, str]
) -> None:
    path, sha = big_file
    written = tus_server.uploads.written_bytes()
    common = ["--file", str(path), "--chunk-size", "17000000", "--token", token]
    code, first = run_tus_js(
        "--endpoint",
        tus_server.url + "/api/upload",
        *common,
        "--metadata",
        "filename=from-node.bin,filetype=application/octet-stream",
        "--stop-after",
        str(20 * MB),
    )
    assert code == 3, first
    assert first["stopped"] is True
    assert first["bytes"] == 34 * MB  # two 17 MB chunks acknowledged
    assert tus_head(first["url"], token).headers["Upload-Offset"] == str(34 * MB)

    code, second = run_tus_js("--resume-url", first["url"], *common)
    assert code == 0, second
    assert second == {"url": first["url"], "bytes": BIG}
    assert tus_server.uploads.written_bytes() - written >= BIG  # the upload process stored the bytes

    rows = assert_complete(tus_server, database_url, user_id, token, first["url"], path, sha)
    assert rows["file"]["filename"] == "from-node.bin"


def test_tuspy_png_metadata_and_sniffed_type(
    tus_server: Server, database_url: str, user_id: str, token: str, tmp_path: Path
) -> None:
    path = tmp_path / "pic"
    path.write_bytes(png_bytes())
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    tus = tus_client.TusClient(tus_server.url + "/api/upload", headers={"Authorization": f"Bearer {token}"})
    # A unicode name, and a declared type that is wrong: the content decides the mime type.
    metadata = {"filename": "Café ☕ shot.png", "filetype": "application/octet-stream"}
    uploader = tus.uploader(str(path), chunk_size=5_500_000, metadata=metadata)
    uploader.upload()

    rows = assert_complete(tus_server, database_url, user_id, token, uploader.url, path, sha)
    file = rows["file"]
    assert file["filename"] == "Café ☕ shot.png"
    assert (file["file_type"], file["mime_type"]) == ("image", "image/png")
    assert file["metadata"]["upload"]["metadata"] == metadata
    assert rows["job"]["job_type"] == "image_preview"
    assert (rows["message"]["body"]["file_type"], rows["message"]["body"]["mime_type"]) == ("image", "image/png")
    assert rows["message"]["body"]["filename"] == "Café ☕ shot.png"


@needs_tus_js
@requires(shutil.which("ffmpeg"), "`ffmpeg`")
def test_tus_js_client_mp4_is_a_video(
    tus_server: Server, database_url: str, user_id: str, token: str, tmp_path: Path
) -> None:
    path = tmp_path / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=d=1:s=160x120", "-pix_fmt", "yuv420p", str(path)],
        check=True,
        timeout=60,
    )
    sha = sha256_file(path)
    code, out = run_tus_js(
        "--endpoint",
        tus_server.url + "/api/upload",
        "--file",
        str(path),
        "--chunk-size",
        "17000000",
        "--token",
        token,
        "--metadata",
        "filename=clip.mp4,filetype=video/mp4",
    )
    assert code == 0, out

    rows = assert_complete(tus_server, database_url, user_id, token, out["url"], path, sha)
    file = rows["file"]
    assert file["filename"] == "clip.mp4"
    assert file["file_type"] == "video"
    assert file["mime_type"] == "video/mp4"
    assert rows["job"]["job_type"] == "video_transcode"
