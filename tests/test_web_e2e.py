"""The web app end to end in real Chromium: the real server (serving frontend/dist), the
real processor, real Postgres, and frontend/e2e/run.mjs driving Debian's chromium with
playwright-core.

Covered: sign-in, uploads of a generated video and photos through Uppy's Dashboard (tus),
live processing status and failure reasons in the grid, the video viewer playing the HLS
ladder (hls.js; ``currentTime`` advances) with storyboard thumbnails on the seek bar, the
image viewer (arrow keys, zoom, Esc, focus trapped and returned), keyboard navigation of
the WAI-ARIA grid, checkbox/Shift-click/Space/Ctrl-A selection (a plain click opens the viewer), a batch ZIP download whose
contents are checked here byte for byte, delete to the trash with an Undo toast, filters and search, an
upload interrupted by a page reload and resumed from the server's offset, session expiry,
the admin page with a retry, a phone-sized screen, and 10,000 files scrolled to the end.
Screenshots land in test-artifacts/web/ (gitignored).
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path

import httpx
import psycopg
import pytest
from PIL import Image, ImageDraw, ImageFilter
from support.stack import REPO
from support.web_app import (  # noqa: F401 - FRONTEND, build_frontend: test_instant_preview_e2e imports them from here
    CHROMIUM,
    FRONTEND,
    build_frontend,
    needs_chromium,
    run_script,
)

ARTIFACTS = REPO / "test-artifacts" / "web"
SAMPLE_PHOTO = Path("/usr/share/libjxl-testdata/jxl/flower/flower.png.im_q85_444.jpg")
RESUME_SIZE = 120 * 1024 * 1024  # > 2 tus chunks of 50 MiB
BIG_LIBRARY = 10_050

pytestmark = needs_chromium


def make_video(path: Path, seconds: int = 6) -> Path:
    source = ["-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}"]
    tone = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-b:a", "96k"]
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", str(path)]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *source, *tone, *encode], check=True, timeout=120)
    return path


def make_photo(path: Path, width: int = 2400, height: int = 1600) -> Path:
    """A landscape-like JPEG (sky gradient, sun, ridges) made with Pillow."""
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=(int(20 + 200 * t * t), int(60 + 90 * t), int(140 + 60 * (1 - t))))
    draw.ellipse([width * 0.62, height * 0.19, width * 0.79, height * 0.44], fill=(255, 210, 140))
    for i in range(7):
        x = i * width * 0.175 - 100
        peak = height * (0.51 + 0.04 * math.sin(i))
        draw.polygon(
            [(x, height), (x + width * 0.16, peak), (x + width * 0.32, height)],
            fill=(20 + i * 6, 30 + i * 5, 50 + i * 4),
        )
    img.filter(ImageFilter.GaussianBlur(1.5)).save(path, "JPEG", quality=90)
    return path


def thumbhash_b64(rgb: tuple[int, int, int], other: tuple[int, int, int]) -> str:
    import thumbhash

    img = Image.new("RGB", (32, 24), rgb)
    ImageDraw.Draw(img).ellipse([14, 4, 30, 20], fill=other)
    hashed = thumbhash.rgba_to_thumb_hash(32, 24, list(img.convert("RGBA").tobytes()))
    return base64.b64encode(bytes(hashed)).decode()


def seed_library(database_url: str, user: str, count: int) -> None:
    """`count` finished files for one user, straight into Postgres (no objects behind them)."""
    palette = [
        thumbhash_b64((30, 60, 120), (250, 200, 120)),
        thumbhash_b64((20, 90, 60), (200, 230, 120)),
        thumbhash_b64((110, 40, 60), (240, 160, 90)),
        thumbhash_b64((50, 50, 70), (150, 170, 220)),
        thumbhash_b64((90, 70, 30), (230, 220, 200)),
    ]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """INSERT INTO files (user_id, original_key, file_type, mime_type, file_size, upload_status,
                                  processing_status, processing_progress, filename, placeholder, metadata,
                                  created_at, updated_at)
               SELECT %s::uuid, 'originals/seed/' || g, CASE WHEN g %% 4 = 0 THEN 'video' ELSE 'image' END,
                      CASE WHEN g %% 4 = 0 THEN 'video/mp4' ELSE 'image/jpeg' END, 1000000 + g * 997, 'completed',
                      'completed', 100,
                      CASE WHEN g %% 4 = 0 THEN 'clip_' ELSE 'IMG_' END || lpad(g::text, 5, '0')
                        || CASE WHEN g %% 4 = 0 THEN '.mp4' ELSE '.jpg' END,
                      (%s::text[])[1 + g %% 5],
                      jsonb_build_object('media', jsonb_build_object('width', 6000, 'height', 4000,
                        'duration', CASE WHEN g %% 4 = 0 THEN 30 + g %% 90 END)),
                      TIMESTAMP '2024-01-01' + g * INTERVAL '1 minute', NOW()
               FROM generate_series(1, %s) AS g""",
            (user, palette, count),
        )


@pytest.mark.timeout(900)
def test_web_app_end_to_end_in_chromium(web_app, tmp_path):
    server, database_url = web_app
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    media = tmp_path / "media"
    media.mkdir()
    video = make_video(media / "Harbour timelapse.mp4")
    photo = make_photo(media / "Sunset ridge.jpg")
    files = [video, photo]
    if SAMPLE_PHOTO.exists():
        files.append(Path(shutil.copy(SAMPLE_PHOTO, media / "Flower macro.jpg")))
    broken = media / "broken-scan.jpg"
    broken.write_bytes(b"this is a text file, not a JPEG\n" * 60)
    document = media / "Contract draft.pdf"
    document.write_bytes(b"%PDF-1.4\n" + os.urandom(180_000))
    files += [broken, document]
    resume = media / "camera-backup.bin"
    with open(resume, "wb") as f:
        for _ in range(RESUME_SIZE // (8 << 20)):
            f.write(os.urandom(8 << 20))

    user = str(uuid.uuid4())
    big_user = str(uuid.uuid4())
    seed_library(database_url, big_user, BIG_LIBRARY)
    config = {
        "baseUrl": server.url,
        "token": server.token(user),
        "adminToken": server.token(str(uuid.uuid4()), role="admin"),
        "expiredToken": server.token(user, ttl=-60),
        "bigUserToken": server.token(big_user),
        "files": [str(p) for p in files],
        "video": video.name,
        "photo": photo.name,
        "failing": broken.name,
        "deleteName": document.name,
        "resumeFile": str(resume),
        "artifacts": str(ARTIFACTS),
        "chromium": CHROMIUM,
    }
    steps = run_script("run.mjs", config, ARTIFACTS / "e2e.log", timeout=900)

    # HLS played through hls.js (MSE with H.264/AAC) and the storyboard was used.
    played = next(v for k, v in steps.items() if k.startswith("video viewer"))
    assert played["player"]["engine"] in ("hls.js", "native") and played["t2"] > played["t1"] > 1
    assert played["player"]["storyboard"] > 0

    # The viewer's download button saved the original photo.
    viewed = next(v for k, v in steps.items() if k.startswith("viewer:"))
    assert Path(viewed["singleFile"]).read_bytes() == photo.read_bytes()

    # The ZIP the browser downloaded holds every selected original, byte for byte.
    zip_step = next(v for k, v in steps.items() if "ZIP" in k)
    with zipfile.ZipFile(zip_step["file"]) as archive:
        assert archive.testzip() is None
        members = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    assert set(members) == {p.name for p in files}
    for p in files:
        assert hashlib.sha256(members[p.name]).digest() == hashlib.sha256(p.read_bytes()).digest(), p.name

    # The upload resumed after the reload is complete and intact on the server.
    resumed = next(v for k, v in steps.items() if k.startswith("an upload interrupted"))
    assert resumed["offsets"][0] >= 50 * 1024 * 1024
    headers = {"Authorization": f"Bearer {server.token(user)}"}
    listed = httpx.get(f"{server.url}/api/files", params={"q": resume.name}, headers=headers).json()["items"]
    assert [i["size"] for i in listed] == [RESUME_SIZE]
    link = httpx.get(f"{server.url}/api/files/{listed[0]['id']}/download", headers=headers).json()
    digest = hashlib.sha256()
    with httpx.stream("GET", link["url"], timeout=60) as r:
        for chunk in r.iter_bytes():
            digest.update(chunk)
    assert digest.digest() == hashlib.sha256(resume.read_bytes()).digest()

    # Deleted through the UI; gone from the API.
    names = {i["name"] for i in httpx.get(f"{server.url}/api/files", headers=headers).json()["items"]}
    assert document.name not in names and photo.name in names

    big = next(v for k, v in steps.items() if k.startswith("10,000"))
    assert big["lastIndex"] >= BIG_LIBRARY - 1 and big["maxCellsInDom"] < 400
    for name in (
        "02-library-empty",
        "05-library",
        "06-viewer-video",
        "07-viewer-image",
        "08-selection",
        "13-admin",
        "14-phone-library",
    ):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000, name
