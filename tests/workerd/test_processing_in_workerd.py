"""The whole processing path in the Cloudflare runtime, for a video, an image and a RAW:

tus upload -> R2 (workerd's local R2) -> Queues producer -> the Worker's queue consumer ->
``ProcessorContainer`` Durable Object (forwarding to the local processor: no Docker here) ->
processor reading the original and writing outputs through the job's signed storage grant
(the Worker serves them from R2) -> signed webhook back to the Worker -> previews and HLS
served by the Worker through signed links.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import m3u8
from PIL import Image
from support.stack import REPO
from test_processing_e2e import jpeg_with_orientation, make_video, upload, wait_done, wait_webhook
from tus_helpers import auth

sys.path.insert(0, str(REPO / "tests" / "processor"))

import image_media


def _preview(server, user_id: str, file_id: str) -> dict:
    r = httpx.get(f"{server.url}/api/files/{file_id}/preview", headers=auth(server.token(user_id)), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _variants_served(preview: dict) -> None:
    assert len(preview["variants"]) >= 4  # grid + viewer, WebP + JPEG
    for path, url in preview["variants"].items():
        r = httpx.get(url, timeout=30)
        assert r.status_code == 200, path
        assert r.headers["content-type"] == ("image/webp" if path.endswith(".webp") else "image/jpeg")
        assert len(r.content) > 100


def _queues_delivered(server) -> list[str]:
    """Queues whose consumer ran, from Miniflare's ``QUEUE <name> <acked>/<total>`` log lines."""
    log = re.sub(r"\x1b\[[0-9;]*m", "", (server.data_dir / "wrangler.log").read_text(errors="replace"))
    return re.findall(r"QUEUE ([\w-]+) \d+/\d+", log)


def _wait_delivered(server, queue: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while queue not in _queues_delivered(server) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert queue in _queues_delivered(server), f"{queue} never delivered: {_queues_delivered(server)}"


def test_image_is_processed_in_workerd(server, user_id):
    db = server.env["DATABASE_URL"]
    upload_id = upload(server, user_id, jpeg_with_orientation(800, 400, 6), "rotated.jpg")
    row = wait_done(db, upload_id, timeout=120)
    assert row["processing_status"] == "completed", row["processing_error"]
    assert (row["metadata"]["media"]["width"], row["metadata"]["media"]["height"]) == (400, 800)
    assert row["preview_key"].startswith(f"derived/{row['id']}/")
    assert server.store.keys(f"derived/{row['id']}/")  # the outputs are in R2
    event = wait_webhook(db, row["id"], "processing-complete")
    assert event["status"] == "completed"
    _variants_served(_preview(server, user_id, row["id"]))
    _wait_delivered(server, "mediagate-jobs")  # the fast lane

    # Deleting the file removes the original and every derived object from R2.
    r = httpx.delete(
        f"{server.url}/api/files/{row['id']}?permanent=true", headers=auth(server.token(user_id)), timeout=30
    )
    assert r.status_code == 204
    assert server.store.keys(f"derived/{row['id']}/") == []
    assert server.store.read(row["original_key"]) is None
    assert httpx.get(f"{server.url}/api/files/{row['id']}", headers=auth(server.token(user_id))).status_code == 404


def test_raw_is_processed_in_workerd(server, user_id, tmp_path: Path):
    db = server.env["DATABASE_URL"]
    dng = image_media.write_dng(tmp_path / "synth.dng", image_media.scene_linear(600, 400), make="Mediagate")
    upload_id = upload(server, user_id, dng.read_bytes(), "synth.dng")
    row = wait_done(db, upload_id, timeout=120)
    assert row["processing_status"] == "completed", row["processing_error"]
    assert "Mediagate" in str(row["metadata"]), row["metadata"]  # LibRaw's camera metadata came through
    preview = _preview(server, user_id, row["id"])
    _variants_served(preview)
    with Image.open(io.BytesIO(server.store.read(row["preview_key"]))) as im:
        assert im.width > im.height  # the 600x400 scene


def test_video_is_processed_in_workerd(server, user_id, tmp_path: Path):
    db = server.env["DATABASE_URL"]
    upload_id = upload(server, user_id, make_video(tmp_path / "clip.mp4", seconds=4), "clip.mp4")
    row = wait_done(db, upload_id, timeout=240)
    assert row["processing_status"] == "completed", row["processing_error"]
    assert row["hls_playlist_key"].endswith("master.m3u8")
    preview = _preview(server, user_id, row["id"])
    master_url = preview["hls_url"]
    master = httpx.get(master_url, timeout=30)
    assert master.status_code == 200
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    variant = m3u8.loads(master.text, uri=master_url).playlists[0]
    rendition = m3u8.loads(httpx.get(variant.absolute_uri, timeout=30).text, uri=variant.absolute_uri)
    assert rendition.is_endlist and rendition.segments
    segment = httpx.get(rendition.segments[0].absolute_uri, timeout=30)
    assert segment.status_code == 200 and len(segment.content) > 1000
    # ffmpeg plays the whole ladder from the Worker's signed links, as a player would.
    subprocess.run(["ffmpeg", "-v", "error", "-i", master_url, "-f", "null", "-"], check=True, timeout=180)
    assert httpx.get(preview["preview_url"], timeout=30).headers["content-type"] == "image/jpeg"
    assert wait_webhook(db, row["id"], "processing-complete")["status"] == "completed"
    # the video lane: its own queue (JOBS_VIDEO), consumed by the same Worker
    _wait_delivered(server, "mediagate-jobs-video")  # the only video of this module
    assert preview["playable"] is True and preview["direct_play"] is True
