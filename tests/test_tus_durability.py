"""Crash safety, concurrency, expiry and part mapping against real server processes."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from tus_helpers import OCTET, TUS, auth, create, head, patch, resume_to_the_end, sha256_file, stored_object

MIB = 1024 * 1024


def _slow_body(data: bytes, chunk: int, delay: float, started: threading.Event | None = None):
    for i in range(0, len(data), chunk):
        if started is not None and i > 0:
            started.set()
        yield data[i : i + chunk]
        time.sleep(delay)


def test_mixed_chunk_sizes_map_onto_equal_parts(server, user_id):
    """Chunks of odd sizes (smaller and larger than a part) still give R2-valid parts."""
    token = server.token(user_id)
    sizes = [3 * MIB + 7, 5_500_000, 17_000_000, 1, 9 * MIB, 2 * MIB + 123]
    data = os.urandom(sum(sizes))
    url = create(server.url, token, len(data), filename="mixed.bin").headers["Location"]
    offset = 0
    for size in sizes:
        r = patch(url, token, offset, data[offset : offset + size])
        assert r.status_code == 204, r.text
        offset += size
        assert int(r.headers["Upload-Offset"]) == offset
    stored = stored_object(server.data_dir, user_id, url)
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(data).digest()
    upload_id = url.rsplit("/", 1)[1]
    assert not [p for p in (server.data_dir / "store" / "objects" / "staging").glob(upload_id + "/*")]


def test_kill_9_mid_upload_then_resume_from_acknowledged_offset(make_server, tmp_path, user_id):
    srv = make_server({"UPLOAD_LOCK_STALE_SECONDS": "2"})
    token = srv.token(user_id)
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(30 * MIB))
    data = source.read_bytes()
    url = create(srv.url, token, len(data), filename="crash.bin").headers["Location"]
    assert patch(url, token, 0, data[: 10 * MIB + 11]).status_code == 204
    acknowledged = 10 * MIB + 11

    # A slow PATCH is in flight when the server dies.
    started = threading.Event()

    def send() -> None:
        try:
            httpx.patch(
                url,
                headers={**TUS, **OCTET, **auth(token), "Upload-Offset": str(acknowledged)},
                content=_slow_body(data[acknowledged:], 256 * 1024, 0.02, started),
                timeout=30,
            )
        except httpx.HTTPError:
            pass

    t = threading.Thread(target=send)
    t.start()
    assert started.wait(10)
    time.sleep(0.5)
    srv.kill()
    t.join(30)

    srv.start()  # same port, database and data directory
    offset = int(head(url, token).headers["Upload-Offset"])
    assert acknowledged <= offset < len(data)

    from tusclient import client

    tus = client.TusClient(srv.url + "/api/upload", headers=auth(token))
    uploader = tus.uploader(str(source), url=url, chunk_size=5_500_000, retries=10, retry_delay=1)
    assert uploader.get_offset() == offset  # the client resumes where the server says
    uploader.upload()
    assert sha256_file(stored_object(srv.data_dir, user_id, url)) == sha256_file(source)


def test_concurrent_patches_one_wins_other_gets_423_or_409(server, user_id):
    token = server.token(user_id)
    data = os.urandom(12 * MIB)
    url = create(server.url, token, len(data)).headers["Location"]
    started = threading.Event()
    results: dict[str, int] = {}

    def slow() -> None:
        r = httpx.patch(
            url,
            headers={**TUS, **OCTET, **auth(token), "Upload-Offset": "0"},
            content=_slow_body(data, 512 * 1024, 0.03, started),
            timeout=60,
        )
        results["slow"] = r.status_code

    t = threading.Thread(target=slow)
    t.start()
    assert started.wait(10)
    other = patch(url, token, 0, b"X" * MIB)
    t.join(60)
    assert other.status_code in (409, 423)
    assert "error" in other.json()
    assert results["slow"] == 204
    assert stored_object(server.data_dir, user_id, url).read_bytes() == data


def test_simultaneous_patches_never_corrupt(server, user_id):
    token = server.token(user_id)
    data = os.urandom(6 * MIB)
    url = create(server.url, token, len(data)).headers["Location"]
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def go(payload: bytes) -> None:
        barrier.wait()
        codes.append(patch(url, token, 0, payload).status_code)

    threads = [threading.Thread(target=go, args=(data[: 3 * MIB],)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(204) >= 1
    assert all(c in (204, 409, 423) for c in codes)
    offset = int(head(url, token).headers["Upload-Offset"])
    assert offset == 3 * MIB
    assert patch(url, token, offset, data[offset:]).status_code == 204
    assert stored_object(server.data_dir, user_id, url).read_bytes() == data


def test_expired_uploads_get_410_and_are_cleaned_up(make_server, user_id, database_url):
    srv = make_server({"UPLOAD_TTL_SECONDS": "1", "CLEANUP_INTERVAL": "0.5"})
    token = srv.token(user_id)
    url = create(srv.url, token, 20 * MIB).headers["Location"]
    assert patch(url, token, 0, os.urandom(9 * MIB)).status_code == 204  # one part + staged bytes
    upload_id = url.rsplit("/", 1)[1]
    store = srv.data_dir / "store"
    assert any((store / "multipart").iterdir())
    deadline = time.monotonic() + 15
    state = None
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            state = conn.execute("SELECT state FROM uploads WHERE id = %s", (upload_id,)).fetchone()[0]
        if state == "expired":
            break
        time.sleep(0.3)
    assert state == "expired"
    assert head(url, token).status_code == 410
    assert patch(url, token, 9 * MIB, b"x").status_code == 410
    assert not any((store / "multipart").iterdir()), "the multipart upload was not aborted"
    assert not [p for p in (store / "objects" / "staging").glob(upload_id + "/*")]


def test_expiry_is_reported_before_cleanup_runs(make_server, user_id):
    srv = make_server({"UPLOAD_TTL_SECONDS": "1", "CLEANUP_INTERVAL": "3600"})
    token = srv.token(user_id)
    url = create(srv.url, token, 10).headers["Location"]
    time.sleep(1.5)
    assert head(url, token).status_code == 410


def test_last_byte_writes_file_job_and_queue_message(server, user_id, database_url):
    token = server.token(user_id)
    png = Path(__file__).parent / "fixtures_tiny.png"
    from PIL import Image

    Image.new("RGB", (8, 8), (255, 0, 0)).save(png)
    data = png.read_bytes()
    png.unlink()
    url = create(server.url, token, len(data), filename="dir/red dot.png", filetype="image/png").headers["Location"]
    assert patch(url, token, 0, data).status_code == 204
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            """SELECT f.id, f.filename, f.file_type, f.mime_type, f.file_size, f.original_key, f.upload_status,
                      j.status, j.job_type, j.queue_message_id
               FROM files f JOIN processing_jobs j ON j.file_id = f.id WHERE f.user_id = %s""",
            (user_id,),
        ).fetchone()
        assert row is not None
        file_id, name, ftype, mime, size, key, upload_status, jstatus, jtype, msg_id = row
        assert (name, ftype, mime, size, jstatus, jtype) == (
            "red dot.png",
            "image",
            "image/png",
            len(data),
            "queued",
            "image_preview",
        )
        assert key == f"originals/{user_id}/{url.rsplit('/', 1)[1]}"
        assert upload_status == "completed"
        body = conn.execute("SELECT body FROM queue_messages WHERE id = %s::uuid", (msg_id,)).fetchone()[0]
    assert body["file_id"] == str(file_id) and body["object_key"] == key and body["v"] == 1
    assert body["output_prefix"] == f"derived/{file_id}/"


@pytest.mark.parametrize(
    ("name", "head_bytes", "expected"),
    [
        ("clip.mov", b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", ("video", "video/quicktime")),
        ("notes.jpg", b"just some text", ("image", "image/jpeg")),
        ("photo.bin", b"\x89PNG\r\n\x1a\n" + b"\0" * 30, ("image", "image/png")),
        ("IMG_0001.CR2", b"II*\x00\x10\x00\x00\x00CR", ("image", "image/x-canon-cr2")),
        ("archive.zip", b"PK\x03\x04" + b"\0" * 30, ("other", "application/zip")),
        ("readme", b"", ("other", "application/octet-stream")),
    ],
)
def test_classification(name, head_bytes, expected):
    from mediagate.classify import classify

    c = classify(name, None, head_bytes)
    assert (c.file_type, c.mime_type) == expected


def test_body_cut_inside_a_part_streaming_to_the_store_keeps_its_bytes(server, user_id):
    """The local store receives a part while its bytes arrive (parts.py, streams_parts):
    a body cut in the middle of such a part must not lose or corrupt anything. The part's
    upload fails unrecorded, its bytes so far are staged, and the resume completes."""
    import socket
    from urllib.parse import urlsplit

    token = server.token(user_id)
    data = os.urandom(20 * MIB + 5)
    url = create(server.url, token, len(data)).headers["Location"]
    cut = 12 * MIB + 7  # part 1 whole, part 2 (declared to be filled) half sent
    target = urlsplit(url)
    with socket.create_connection((target.hostname, target.port)) as sock:
        head_lines = [
            f"PATCH {target.path} HTTP/1.1",
            f"Host: {target.hostname}:{target.port}",
            f"Authorization: Bearer {token}",
            "Tus-Resumable: 1.0.0",
            "Content-Type: application/offset+octet-stream",
            "Upload-Offset: 0",
            f"Content-Length: {len(data)}",
        ]
        sock.sendall(("\r\n".join(head_lines) + "\r\n\r\n").encode())
        sock.sendall(data[:cut])
        time.sleep(1.0)  # the server has read what was sent
    deadline = time.monotonic() + 10
    while True:  # the cut request releases its lock once it has staged the rest
        r = head(url, token)
        offset = int(r.headers["Upload-Offset"])
        if offset > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert 8 * MIB <= offset <= cut
    resume_to_the_end(server, user_id, url, token, data, offset)
