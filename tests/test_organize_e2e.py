"""Organize and share in real Chromium (issue 11): the real server serving the built web app,
the real processor (ffmpeg, Pillow), real Postgres, and ``frontend/e2e/organize.mjs`` driving
Debian's chromium with playwright-core.

Files are uploaded over tus and processed first (a short H.264 clip and three JPEGs with EXIF
dates); the browser then: opens a file with a click and follows it in the URL (Back closes the
viewer, Forward reopens it), reloads deep links to a file and an album, renames inline and stars a
file, makes an album from a checkbox + Ctrl-click selection, shares it, opens the share page in a
fresh context without a token (grid, viewer, the video plays), revokes it (the page says not found
at once), trashes a file and undoes from the toast, restores from the trash page, sorts and groups.
The API is checked here afterwards.
"""

from __future__ import annotations

import io
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image
from support.stack import REPO, Server
from support.web_app import CHROMIUM, needs_chromium, run_script
from tus_helpers import create, patch

ARTIFACTS = REPO / "test-artifacts" / "organize"

pytestmark = needs_chromium


def jpeg(color: tuple[int, int, int], taken: str) -> bytes:
    """A small JPEG with an EXIF DateTimeOriginal."""
    img = Image.new("RGB", (640, 480), color)
    exif = Image.Exif()
    exif[0x010F] = "MediagateCam"
    exif.get_ifd(0x8769)[0x9003] = taken
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=85)
    return buf.getvalue()


def clip(path) -> bytes:
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=6"]
    cmd += ["-f", "lavfi", "-i", "sine=frequency=440:duration=6", "-c:v", "libx264", "-preset", "ultrafast"]
    cmd += ["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)]
    subprocess.run(cmd, check=True, timeout=120)
    return path.read_bytes()


def upload(server: Server, token: str, data: bytes, name: str) -> None:
    r = create(server.url, token, len(data), filename=name)
    assert r.status_code == 201, r.text
    assert patch(r.headers["Location"], token, 0, data).status_code == 204


@pytest.mark.timeout(600)
def test_organize_and_share_in_chromium(web_app, tmp_path):
    server, _ = web_app
    user = str(uuid.uuid4())
    token = server.token(user)
    headers = {"Authorization": f"Bearer {token}"}
    video = "harbour clip.mp4"
    photos = ["alpine lake.jpg", "beach sunset.jpg", "city night.jpg"]
    upload(server, token, clip(tmp_path / "clip.mp4"), video)
    colors = [(40, 90, 160), (200, 120, 60), (20, 20, 60)]
    dates = ["2024:05:03 10:00:00", "2024:05:20 18:30:00", "2023:11:02 21:00:00"]
    originals = {name: jpeg(color, taken) for name, color, taken in zip(photos, colors, dates, strict=True)}
    for name, data in originals.items():
        upload(server, token, data, name)
    scratch = "scratch notes.txt"
    upload(server, token, b"to be purged\n" * 100, scratch)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        items = httpx.get(f"{server.url}/api/files", headers=headers).json()["items"]
        if len(items) == 5 and all(i["processing_status"] == "completed" for i in items):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"processing did not finish: {items}")
    # The grid groups by the taken_at the processor read from EXIF.
    taken = {i["name"]: (i["taken_at"] or "")[:10] for i in items}
    assert taken == {video: "", scratch: "", photos[0]: "2024-05-03", photos[1]: "2024-05-20", photos[2]: "2023-11-02"}

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    config = {
        "baseUrl": server.url,
        "token": token,
        "chromium": CHROMIUM,
        "artifacts": str(ARTIFACTS),
        "video": video,
        "photos": photos,
        "renameTo": "renamed beach.jpg",
        "albumName": "Summer trip",
        "scratch": scratch,
    }
    steps = run_script("organize.mjs", config, ARTIFACTS / "organize.log", timeout=480)

    # The shared video played in the guest context (currentTime advanced).
    played = next(v for k, v in steps.items() if k.startswith("the share page works"))
    assert played["t2"] > played["t1"] > 0

    # What the UI did is what the API now says.
    items = {i["id"]: i for i in httpx.get(f"{server.url}/api/files", headers=headers).json()["items"]}
    by_name = {i["name"]: i for i in items.values()}
    assert set(by_name) == {video, "alpine lake.jpg", "renamed beach.jpg", "city night.jpg"}, by_name.keys()
    assert by_name["renamed beach.jpg"]["favourite"] is True
    assert [i["name"] for i in items.values() if i["favourite"]] == ["renamed beach.jpg"]
    made = next(v for k, v in steps.items() if k.startswith("make an album"))
    album_id = made["albumId"]
    in_album = httpx.get(f"{server.url}/api/files", params={"album": album_id}, headers=headers).json()["items"]
    assert {i["name"] for i in in_album} == {"alpine lake.jpg", "city night.jpg"}  # the video was removed
    album = httpx.get(f"{server.url}/api/albums/{album_id}", headers=headers).json()
    assert album["name"] == "Summer trip" and album["file_count"] == 2
    assert album["cover_file_id"] == made["cover"] and album["cover_thumbnail_url"]
    shares = httpx.get(f"{server.url}/api/shares", params={"album_id": album_id}, headers=headers).json()["items"]
    assert len(shares) == 1 and shares[0]["revoked_at"] and shares[0]["views"] >= 1
    assert httpx.get(f"{server.url}/api/public/shares/{shares[0]['token']}").status_code == 404
    trashed = httpx.get(f"{server.url}/api/files", params={"trashed": "true"}, headers=headers).json()["items"]
    assert trashed == []  # undone, restored, or emptied

    # The file share let the guest download the original, byte for byte, under its name.
    shared = next(v for k, v in steps.items() if k.startswith("share one file"))
    assert shared["suggested"] == photos[0]
    assert Path(shared["file"]).read_bytes() == originals[photos[0]]
    file_shares = httpx.get(
        f"{server.url}/api/shares", params={"file_id": by_name[photos[0]]["id"]}, headers=headers
    ).json()["items"]
    assert len(file_shares) == 1 and file_shares[0]["allow_download"] and file_shares[0]["expires_at"]

    # Emptying the trash deleted the scratch file for good.
    purged = next(v for k, v in steps.items() if k.startswith("empty the trash"))["id"]
    assert httpx.get(f"{server.url}/api/files/{purged}", headers=headers).status_code == 404
    grouped = next(v for k, v in steps.items() if k.startswith("sort by name"))["headers"]
    assert "May 2024" in grouped and "November 2023" in grouped, grouped
