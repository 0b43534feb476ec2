"""The whole path: tus upload → queue → processor → outputs, DB state and signed webhooks.

Real server and processor processes, real Postgres, real ffmpeg/Pillow/rawpy.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import numpy as np
import psycopg
import pytest
import standardwebhooks
from mediagate.job_delivery import delivery_headers
from mediagate.webhooks import sign, signed_headers, verify
from PIL import Image
from support.stack import WEBHOOK_SECRET, Processor, Server, free_port, shared_tmpdir
from tus_helpers import auth, create, patch


@pytest.fixture(scope="module")
def stack(postgres):
    url = postgres.create_database()
    # The test receivers listen on 127.0.0.1: WEBHOOK_ALLOW_PRIVATE is the test/dev-only escape hatch
    # (tests/test_webhook_policy.py checks the refusals with it off).
    server = Server(url, shared_tmpdir("mediagate-e2e-"), env={"WEBHOOK_ALLOW_PRIVATE": "1"}).start()
    yield server, url
    server.stop()


@pytest.fixture()
def processor(stack):
    server, _ = stack
    procs: list[Processor] = []

    def start(env: dict[str, str] | None = None) -> Processor:
        p = Processor(server, env=env).start()
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop()


def upload(server: Server, user: str, data: bytes, name: str, **meta: str) -> str:
    token = server.token(user)
    r = create(server.url, token, len(data), filename=name, **meta)
    assert r.status_code == 201, r.text
    if data:
        assert patch(r.headers["Location"], token, 0, data).status_code == 204
    return r.headers["Location"].rsplit("/", 1)[1]


def file_row(db_url: str, upload_id: str) -> dict:
    with psycopg.connect(db_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            """SELECT f.*, j.id AS job_id, j.status AS job_status, j.error_message, j.attempts, j.started_at,
                      j.completed_at, j.playable_at, j.progress
               FROM files f JOIN processing_jobs j ON j.file_id = f.id WHERE f.upload_id = %s""",
            (upload_id,),
        ).fetchone()


def queued_message(db_url: str, upload_id: str) -> dict:
    """The job message the ingest queued for an upload (what a push delivery carries)."""
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            """SELECT body FROM queue_messages
               WHERE body->>'file_id' = (SELECT id::text FROM files WHERE upload_id = %s)""",
            (upload_id,),
        ).fetchone()[0]


def wait_done(db_url: str, upload_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = file_row(db_url, upload_id)
        if row and row["processing_status"] in ("completed", "failed") and row["job_status"] in ("completed", "failed"):
            return row
        time.sleep(0.25)
    raise AssertionError(f"processing did not finish: {file_row(db_url, upload_id)}")


def webhook_events(db_url: str, file_id) -> dict[str, dict]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT event, payload FROM webhook_events WHERE file_id = %s", (file_id,)).fetchall()
    return {event: payload for event, payload in rows}


def wait_webhook(db_url: str, file_id, event: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = webhook_events(db_url, file_id)
        if event in events:
            return events[event]
        time.sleep(0.2)
    raise AssertionError(f"no {event} webhook for {file_id}")


def store_path(server: Server, key: str) -> Path:
    return server.data_dir / "store" / "objects" / key


def jpeg_with_orientation(width: int, height: int, orientation: int) -> bytes:
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[: height // 4, : width // 4] = (255, 0, 0)
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "MediagateCam"
    from io import BytesIO

    buf = BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=90)
    return buf.getvalue()


def make_video(
    path: Path, *, seconds: float = 3, size: str = "640x360", audio: bool = True, extra: tuple[str, ...] = ()
) -> bytes:
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", *extra, str(path)]
    subprocess.run(cmd, check=True, timeout=120)
    return path.read_bytes()


def test_image_is_processed_with_previews_metadata_and_webhook(stack, processor, user_id):
    server, db = stack
    processor()
    upload_id = upload(server, user_id, jpeg_with_orientation(800, 400, 6), "rotated.jpg")
    row = wait_done(db, upload_id)
    assert row["processing_status"] == "completed", row["processing_error"]
    assert row["job_status"] == "completed" and row["started_at"] <= row["completed_at"]
    assert row["processing_progress"] == 100
    media = row["metadata"]["media"]
    assert (media["width"], media["height"]) == (400, 800)  # EXIF orientation 6 applied
    assert media["exif"] == {"make": "MediagateCam"}  # read by the processor's exiftool
    preview = store_path(server, row["preview_key"])
    thumb = store_path(server, row["thumbnail_key"])
    assert row["preview_key"].startswith(f"derived/{row['id']}/")
    with Image.open(preview) as im:
        assert im.height > im.width
    with Image.open(thumb) as im:
        assert max(im.size) <= 480
    assert row["placeholder"]
    event = wait_webhook(db, row["id"], "processing-complete")
    assert event["status"] == "completed" and event["preview_key"] == row["preview_key"]

    preview = httpx.get(f"{server.url}/api/files/{row['id']}/preview", headers=auth(server.token(user_id))).json()
    assert len(preview["variants"]) >= 4  # grid + viewer, WebP + JPEG
    for path, url in preview["variants"].items():
        r = httpx.get(url)
        assert r.status_code == 200, path
        assert r.headers["content-type"] == ("image/webp" if path.endswith(".webp") else "image/jpeg")
    listed = httpx.get(f"{server.url}/api/files", headers=auth(server.token(user_id))).json()["items"]
    item = next(i for i in listed if i["id"] == str(row["id"]))
    assert item["placeholder"] == row["placeholder"] and httpx.get(item["thumbnail_url"]).status_code == 200


def test_other_files_complete_without_preview(stack, processor, user_id):
    server, db = stack
    processor()
    upload_id = upload(server, user_id, os.urandom(1000), "data.bin")
    row = wait_done(db, upload_id)
    assert (row["file_type"], row["processing_status"], row["preview_key"]) == ("other", "completed", None)


def test_bad_media_fails_with_reasons_and_webhooks_while_good_jobs_go_on(stack, processor, user_id, tmp_path):
    server, db = stack
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 400 MP of zeros: tiny file, huge image
    video = make_video(tmp_path / "ok.mp4", seconds=2)
    bad = {
        "notes.jpg": b"this is a text file, not a JPEG\n" * 20,
        "empty.png": b"",
        "broken.dng": b"II*\x00" + os.urandom(4000),
        "cut.mp4": video[: len(video) // 3],
        "bomb.png": bomb.read_bytes(),
    }
    uploads = {name: upload(server, user_id, data, name) for name, data in bad.items()}
    good = upload(server, user_id, jpeg_with_orientation(64, 64, 1), "good.jpg")
    processor()
    for name, upload_id in uploads.items():
        row = wait_done(db, upload_id)
        assert row["processing_status"] == "failed", name
        assert row["processing_error"] and len(row["processing_error"]) > 10, name
        assert row["job_status"] == "failed" and row["error_message"] == row["processing_error"]
        event = wait_webhook(db, row["id"], "processing-failed")
        assert event["error"] == row["processing_error"]
    assert wait_done(db, good)["processing_status"] == "completed"


def test_video_full_path_hls_poster_and_first_playable(stack, processor, user_id, tmp_path):
    server, db = stack
    processor()
    shot = ("-metadata", "creation_time=2024-05-06T07:08:09Z", "-metadata", "location=+52.5200-001.5000/")
    upload_id = upload(server, user_id, make_video(tmp_path / "clip.mov", seconds=4, extra=shot), "clip.mov")
    row = wait_done(db, upload_id, timeout=180)
    assert row["processing_status"] == "completed", row["processing_error"]
    master = store_path(server, row["hls_playlist_key"])
    assert master.name == "master.m3u8"
    import m3u8

    playlist = m3u8.load(str(master))
    assert playlist.is_variant and playlist.playlists
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(master), "-f", "null", "-"], check=True, timeout=120)
    assert store_path(server, row["preview_key"]).stat().st_size > 0
    assert row["playable_at"] is not None and row["playable_at"] <= row["completed_at"]
    assert row["metadata"]["media"]["duration"] == pytest.approx(4, abs=0.2)
    assert row["metadata"]["media"]["exif"] == {
        "taken_at": "2024-05-06T07:08:09+00:00",
        "gps": {"latitude": 52.52, "longitude": -1.5},
    }

    # The preview API's signed HLS link covers the whole rendition tree (relative URIs).
    preview = httpx.get(f"{server.url}/api/files/{row['id']}/preview", headers=auth(server.token(user_id))).json()
    master_url = preview["hls_url"]
    master_text = httpx.get(master_url)
    assert master_text.status_code == 200
    assert master_text.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    variant = m3u8.loads(master_text.text, uri=master_url).playlists[0]
    media = httpx.get(variant.absolute_uri)
    assert media.status_code == 200
    rendition = m3u8.loads(media.text, uri=variant.absolute_uri)
    segment = httpx.get(rendition.segments[0].absolute_uri)
    assert segment.status_code == 200 and len(segment.content) > 1000
    assert preview["preview_url"] and httpx.get(preview["preview_url"]).headers["content-type"] == "image/jpeg"


def test_concurrency_limit_holds(stack, processor, user_id, tmp_path):
    server, db = stack
    data = make_video(tmp_path / "c.mp4", seconds=4, size="640x360")
    ids = [upload(server, user_id, data, f"c{i}.mp4") for i in range(6)]
    proc = processor({"MAX_CONCURRENCY": "3", "VIDEO_CONCURRENCY": "3", "HLS_RUNGS": "360"})
    rows = [wait_done(db, i, timeout=300) for i in ids]
    assert all(r["processing_status"] == "completed" for r in rows)
    events = sorted([(r["started_at"], 1) for r in rows] + [(r["completed_at"], -1) for r in rows])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak <= 3
    assert proc.health()["peak_running"] == 3  # it did use the capacity, and never more


def test_lanes_quick_work_never_waits_behind_videos(stack, processor, user_id, tmp_path):
    """Default lanes: at most 2 videos at once, and a JPEG sent while 3 videos wait or run is
    processed at once (its own lane), not after them; each video's poster comes before its ladder."""
    server, db = stack
    data = make_video(tmp_path / "lane.mp4", seconds=10, size="1280x720")
    videos = [upload(server, user_id, data, f"lane{i}.mp4") for i in range(3)]
    proc = processor({"HLS_RUNGS": "720,360", "VIDEO_PRESET": "veryfast"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(file_row(db, v)["processing_status"] == "processing" for v in videos) < 2:
        time.sleep(0.1)
    t0 = time.monotonic()
    jpeg = upload(server, user_id, jpeg_with_orientation(1200, 800, 1), "quick.jpg")
    image = wait_done(db, jpeg, timeout=60)
    waited = time.monotonic() - t0
    assert image["processing_status"] == "completed" and image["thumbnail_key"]
    rows = [wait_done(db, v, timeout=300) for v in videos]
    assert all(r["processing_status"] == "completed" for r in rows)
    assert image["completed_at"] < min(r["completed_at"] for r in rows), "the JPEG waited for the videos"
    assert waited < 15, f"JPEG took {waited:.1f} s under video load"
    events = sorted([(r["started_at"], 1) for r in rows] + [(r["completed_at"], -1) for r in rows])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2  # the video lane's concurrency
    health = proc.health()
    assert health["running"] == 0 and health["video_concurrency"] == 2
    for r in rows:
        assert r["file_type"] == "video"
        timings = r["metadata"]["media"]["timings"]
        assert timings["poster_s"] < timings["first_playable_s"] < timings["total_s"]
    with psycopg.connect(db) as conn:
        queues = {row[0] for row in conn.execute("SELECT queue FROM queue_messages").fetchall()}
    assert not queues  # every message of both lanes was acked


def test_a_queued_videos_poster_comes_from_the_fast_lane(stack, processor, user_id, tmp_path):
    """With the only video slot busy, the second video's poster is made by its fast-lane poster
    message at once (its job still queued), and the transcode later keeps the same outputs."""
    server, db = stack
    data = make_video(tmp_path / "busy.mp4", seconds=20, size="1280x720")
    processor({"HLS_RUNGS": "720,360", "VIDEO_CONCURRENCY": "1", "MAX_CONCURRENCY": "2"})
    first = upload(server, user_id, data, "busy-first.mp4")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and file_row(db, first)["processing_status"] != "processing":
        time.sleep(0.05)
    t0 = time.monotonic()
    second = upload(server, user_id, data, "busy-second.mp4")
    row = file_row(db, second)
    while time.monotonic() - t0 < 30 and not (row and row["thumbnail_key"]):
        time.sleep(0.05)
        row = file_row(db, second)
    waited = time.monotonic() - t0
    assert row["thumbnail_key"], "no early poster for the queued video"
    assert row["processing_status"] == "pending" and row["started_at"] is None, "the poster waited for a video slot"
    assert file_row(db, first)["processing_status"] == "processing"
    assert waited < 15, f"early poster took {waited:.1f} s"
    assert row["metadata"]["media"]["direct_play"] is True and row["metadata"]["media"]["duration"] > 19
    assert store_path(server, row["thumbnail_key"]).read_bytes()[:3] == b"\xff\xd8\xff"
    done = [wait_done(db, i, timeout=300) for i in (first, second)]
    assert all(r["processing_status"] == "completed" for r in done)
    assert done[1]["thumbnail_key"] == row["thumbnail_key"] and done[1]["preview_key"] == row["preview_key"]
    with psycopg.connect(db) as conn:
        assert not conn.execute("SELECT queue FROM queue_messages").fetchall()  # poster messages acked


def test_killed_processor_job_is_redelivered_and_completes(stack, processor, user_id, tmp_path):
    server, db = stack
    data = make_video(tmp_path / "long.mp4", seconds=12, size="960x540")
    env = {"VISIBILITY_TIMEOUT": "3", "HEARTBEAT_INTERVAL": "1", "VIDEO_PRESET": "veryfast", "HLS_RUNGS": "540,360"}
    first = processor(env)
    upload_id = upload(server, user_id, data, "long.mp4")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = file_row(db, upload_id)
        if row and row["job_status"] == "processing":
            break
        time.sleep(0.1)
    time.sleep(1)
    first.kill()
    assert file_row(db, upload_id)["processing_status"] == "processing"
    processor(env)
    row = wait_done(db, upload_id, timeout=240)
    assert row["processing_status"] == "completed", row["processing_error"]
    assert row["attempts"] == 2
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(store_path(server, row["hls_playlist_key"])), "-f", "null", "-"],
        check=True,
        timeout=120,
    )


def test_transient_failures_retry_with_backoff_then_dead_letter(stack, processor, user_id):
    server, db = stack
    upload_id = upload(server, user_id, jpeg_with_orientation(32, 32, 1), "gone.jpg")
    row = file_row(db, upload_id)
    store_path(server, row["original_key"]).unlink()  # the original vanished: not the media's fault
    processor({"QUEUE_MAX_ATTEMPTS": "3", "RETRY_BASE_DELAY": "0.3"})
    row = wait_done(db, upload_id, timeout=60)
    assert row["processing_status"] == "failed" and row["attempts"] == 3
    assert "missing" in row["processing_error"]
    dead = None
    for _ in range(50):  # the queue settles the lease right after the file is marked failed
        with psycopg.connect(db) as conn:
            dead = conn.execute(
                "SELECT attempts, reason FROM queue_dead_letters WHERE body->>'file_id' = %s", (str(row["id"]),)
            ).fetchone()
        if dead:
            break
        time.sleep(0.2)
    assert dead is not None and dead[0] == 3 and "missing" in dead[1]
    assert wait_webhook(db, row["id"], "processing-failed")["attempts"] == 3


def push(proc, body, attempts: int = 1, secret: str = WEBHOOK_SECRET) -> httpx.Response:
    """POST /jobs as the Worker's queue consumer does: a signed delivery."""
    raw = json.dumps(body).encode()
    return httpx.post(
        proc.url + "/jobs", content=raw, headers=delivery_headers(secret, int(time.time()), attempts, raw), timeout=60
    )


def test_push_delivery_endpoint(stack, processor, user_id):
    server, db = stack
    proc = processor({"PULL_ENABLED": "0"})
    upload_id = upload(server, user_id, jpeg_with_orientation(40, 30, 1), "pushed.jpg")
    body = queued_message(db, upload_id)
    # Unsigned, wrongly signed or with a changed delivery count: refused, nothing runs.
    assert httpx.post(proc.url + "/jobs", json=body, timeout=60).status_code == 401
    assert push(proc, body, secret="not-the-secret").status_code == 401
    raw = json.dumps(body).encode()
    tampered = {**delivery_headers(WEBHOOK_SECRET, int(time.time()), 1, raw), "x-attempts": "3"}
    assert httpx.post(proc.url + "/jobs", content=raw, headers=tampered).status_code == 401
    big = b"{" + b" " * (300 * 1024) + b"}"
    assert (
        httpx.post(proc.url + "/jobs", content=big, headers=delivery_headers(WEBHOOK_SECRET, 0, 1, big)).status_code
        == 413
    )
    assert file_row(db, upload_id)["processing_status"] == "pending"
    assert httpx.get(proc.url + "/healthz").json()["processed"] == 0
    r = push(proc, body)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"]["action"] == "ack"
    assert file_row(db, upload_id)["processing_status"] == "completed"
    # pushed jobs run in the service's one Runner: its counters are the production ones
    assert httpx.get(proc.url + "/healthz").json()["processed"] == 1
    assert push(proc, {"job_id": "x"}).status_code == 422
    raw = b"not json"
    assert (
        httpx.post(
            proc.url + "/jobs", content=raw, headers=delivery_headers(WEBHOOK_SECRET, int(time.time()), 1, raw)
        ).status_code
        == 400
    )


def test_push_answers_the_jobs_outcome(stack, processor, user_id):
    """The same outcome the pull loop applies to its lease: retry after N s, then dead."""
    server, db = stack
    proc = processor({"PULL_ENABLED": "0", "QUEUE_MAX_ATTEMPTS": "3", "RETRY_BASE_DELAY": "4"})
    upload_id = upload(server, user_id, jpeg_with_orientation(32, 32, 1), "vanishing.jpg")
    row = file_row(db, upload_id)
    store_path(server, row["original_key"]).unlink()  # a transient failure: not the media's fault
    with psycopg.connect(db) as conn:
        body = conn.execute(
            "SELECT body FROM queue_messages WHERE body->>'file_id' = %s", (str(row["id"]),)
        ).fetchone()[0]
    first = push(proc, body, attempts=1)
    assert first.status_code == 503 and first.headers["Retry-After"] == "4"
    assert first.json()["outcome"]["action"] == "retry" and first.json()["detail"]["retry_after"] == 4
    assert file_row(db, upload_id)["job_status"] == "queued"
    second = push(proc, body, attempts=2)
    assert second.status_code == 503 and second.headers["Retry-After"] == "8"  # backoff doubles
    last = push(proc, body, attempts=3)
    assert last.status_code == 200 and last.json()["outcome"]["action"] == "dead"
    assert "missing" in last.json()["outcome"]["reason"]
    row = file_row(db, upload_id)
    assert row["processing_status"] == "failed" and row["job_status"] == "failed"
    assert httpx.get(proc.url + "/healthz").json()["processed"] == 0


def test_a_job_naming_another_users_object_processes_its_own_file(stack, processor, user_id):
    """The message is trusted for its job id only: object key, prefix and file come from the rows."""
    server, db = stack
    proc = processor({"PULL_ENABLED": "0"})
    mine = upload(server, user_id, jpeg_with_orientation(60, 40, 1), "mine.jpg")
    other_user = str(uuid.uuid4())
    theirs = upload(server, other_user, jpeg_with_orientation(40, 60, 1), "theirs.jpg")
    body = queued_message(db, mine)
    with psycopg.connect(db) as conn:
        their_key = conn.execute("SELECT original_key FROM files WHERE upload_id = %s", (theirs,)).fetchone()[0]
    forged = {**body, "object_key": their_key, "user_id": other_user, "output_prefix": "derived/elsewhere/"}
    assert push(proc, forged).status_code == 200
    row = file_row(db, mine)
    assert row["processing_status"] == "completed"
    assert row["preview_key"].startswith(f"derived/{row['id']}/")
    assert (row["metadata"]["media"]["width"], row["metadata"]["media"]["height"]) == (60, 40)  # my image, not theirs
    assert not (server.data_dir / "store" / "objects" / "derived" / "elsewhere").exists()
    ghost = {**body, "job_id": str(uuid.uuid4())}
    assert push(proc, ghost).status_code == 200  # unknown job: dropped (acked), nothing processed


def test_worker_webhook_rejects_bad_signatures_and_replays(stack):
    server, _ = stack
    body = json.dumps({"id": "evt-1", "file_id": "00000000-0000-4000-8000-000000000000"}).encode()
    url = server.url + "/webhook/processing-complete"
    now = int(time.time())
    forged = {
        **signed_headers(WEBHOOK_SECRET, now, body, event_id="e1"),
        "webhook-signature": sign("wrong", "e1", now, body),
    }
    assert httpx.post(url, content=body, headers=forged).status_code == 401
    stale = signed_headers(WEBHOOK_SECRET, now - 3600, body)
    r = httpx.post(url, content=body, headers=stale)
    assert r.status_code == 401 and "window" in r.json()["error"]
    assert httpx.post(url, content=body).status_code == 401
    ok = httpx.post(url, content=body, headers=signed_headers(WEBHOOK_SECRET, now, body))
    assert ok.status_code == 200 and ok.json() == {"ok": True, "duplicate": False}
    again = httpx.post(url, content=body, headers=signed_headers(WEBHOOK_SECRET, now, body))
    assert again.json()["duplicate"] is True


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_user_webhook_gets_signed_events(stack, processor, user_id):
    server, _db = stack
    port = free_port()
    httpd = HTTPServer(("127.0.0.1", port), _Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        token = server.token(user_id)
        r = httpx.post(server.url + "/api/webhooks", json={"url": f"http://127.0.0.1:{port}/hook"}, headers=auth(token))
        assert r.status_code == 201
        secret = r.json()["secret"]
        bad = httpx.post(server.url + "/api/webhooks", json={"url": "ftp://x"}, headers=auth(token))
        assert bad.status_code == 422
        processor({"WEBHOOK_ALLOW_PRIVATE": "1"})
        upload(server, user_id, jpeg_with_orientation(50, 50, 1), "hooked.jpg")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _Receiver.received:
            time.sleep(0.2)
        headers, body = _Receiver.received[0]
        assert secret.startswith("whsec_")
        event = standardwebhooks.Webhook(secret).verify(body, headers)  # as a receiver would
        assert event["type"] == "processing-complete" and event["data"]["status"] == "completed"
        assert verify(secret, body, {k.lower(): v for k, v in headers.items()}, now=time.time()).startswith("msg_")
    finally:
        httpd.shutdown()


def test_deleting_a_file_while_its_job_runs_discards_the_outputs(stack, processor, user_id, tmp_path):
    server, db = stack
    proc = processor({"VIDEO_PRESET": "veryfast", "HLS_RUNGS": "540,360"})
    upload_id = upload(server, user_id, make_video(tmp_path / "doomed.mp4", seconds=40, size="960x540"), "doomed.mp4")
    deadline = time.monotonic() + 60
    row = None
    while time.monotonic() < deadline:
        row = file_row(db, upload_id)
        if row and row["job_status"] == "processing":
            break
        time.sleep(0.1)
    assert row and row["job_status"] == "processing"
    file_id = str(row["id"])
    r = httpx.delete(  # purged, not trashed: a trashed file's job keeps its outputs for a restore
        f"{server.url}/api/files/{file_id}", params={"permanent": "true"}, headers=auth(server.token(user_id))
    )
    assert r.status_code == 204
    derived = server.data_dir / "store" / "objects" / "derived" / file_id
    deleted_at = time.monotonic()
    deadline = deleted_at + 120
    while time.monotonic() < deadline and proc.health()["running"]:
        time.sleep(0.3)
    assert proc.health()["running"] == 0
    # the transcode stopped (progress checks see the file gone), not ran its 40 s clip to the end
    assert time.monotonic() - deleted_at < 15, "the deleted file's transcode ran on"
    leftovers = [p for p in derived.rglob("*") if p.is_file()] if derived.exists() else []
    assert leftovers == [], f"outputs of a deleted file survived: {leftovers[:5]}"
    assert not store_path(server, row["original_key"]).exists()
    assert webhook_events(db, row["id"]) == {}  # no completion announced for a deleted file


@pytest.fixture(scope="module")
def grant_stack(postgres):
    """A server that puts a storage grant in every job message (JOB_STORAGE_GRANTS=1)."""
    url = postgres.create_database()
    server = Server(url, shared_tmpdir("mediagate-e2e-grants-"), env={"JOB_STORAGE_GRANTS": "1"})
    server.env["WORKER_URL"] = server.url
    server.start()
    yield server, url
    server.stop()


def test_processor_reaches_storage_only_through_the_jobs_grant(grant_stack, user_id, tmp_path):
    """STORE_BACKEND=worker with a DATA_DIR of its own: every byte goes through the grant."""
    server, db = grant_stack
    elsewhere = shared_tmpdir("mediagate-processor-own-")
    proc = Processor(server, env={"STORE_BACKEND": "worker", "DATA_DIR": str(elsewhere)}).start()
    try:
        image_upload = upload(server, user_id, jpeg_with_orientation(800, 400, 6), "granted.jpg")
        video_upload = upload(server, user_id, make_video(tmp_path / "g.mp4", seconds=2, size="320x240"), "g.mp4")
        row = wait_done(db, image_upload)
        assert row["processing_status"] == "completed", row["processing_error"]
        prefix = f"derived/{row['id']}/"
        assert row["preview_key"].startswith(prefix) and row["thumbnail_key"].startswith(prefix)
        with Image.open(store_path(server, row["preview_key"])) as im:
            assert im.height > im.width  # the real preview, written through the grant
        preview = httpx.get(f"{server.url}/api/files/{row['id']}/preview", headers=auth(server.token(user_id))).json()
        for path, url in preview["variants"].items():
            r = httpx.get(url)
            assert r.status_code == 200, path
            assert r.headers["content-type"] == ("image/webp" if path.endswith(".webp") else "image/jpeg")

        video = wait_done(db, video_upload, timeout=180)
        assert video["processing_status"] == "completed", video["processing_error"]
        assert video["playable_at"] is not None
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(store_path(server, video["hls_playlist_key"])), "-f", "null", "-"],
            check=True,
            timeout=120,
        )
        assert not [p for p in elsewhere.rglob("*") if p.is_file() and "processor-" not in p.name]
    finally:
        proc.stop()


def test_worker_store_without_a_grant_fails_the_job_with_the_reason(grant_stack, user_id):
    server, db = grant_stack
    proc = Processor(server, env={"STORE_BACKEND": "worker", "PULL_ENABLED": "0"}).start()
    try:
        upload_id = upload(server, user_id, jpeg_with_orientation(40, 30, 1), "nogrant.jpg")
        body = queued_message(db, upload_id)
        assert "storage" in body
        bare = {k: v for k, v in body.items() if k != "storage"}
        r = push(proc, bare, attempts=3)
        # the last attempt: the outcome is dead (the consumer's retry then dead-letters it)
        assert r.status_code == 200 and r.json()["outcome"]["action"] == "dead"
        row = file_row(db, upload_id)
        assert row["processing_status"] == "failed" and "storage grant" in row["processing_error"]
        # The same message with its grant goes through push delivery.
        r = push(proc, body)
        assert r.status_code == 200 and r.json()["outcome"]["action"] == "ack", r.text
        assert file_row(db, upload_id)["processing_status"] == "completed"
    finally:
        proc.stop()
