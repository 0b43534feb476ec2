"""Benchmark: instant previews as a user sees them in Chromium (not a timed test).

Starts a private Postgres, the real local server (with the built web app) and processor
(production ladder: 1080/720/480, ``veryfast``), then measures:

* **first frame**: from the last upload byte (Uppy's last PATCH answered) to the first decoded
  frame in the viewer opened at once (``frontend/e2e/instant.mjs``: ``requestVideoFrameCallback``),
  for generated 1080p30 clips of each duration, as H.264/AAC MP4 (browsers play the original:
  direct play) and as MPEG-2 (they cannot: the growing first HLS rung via hls.js);
* **stalls**: ``waiting`` events after playback started, while the clip plays from its first
  frame to its end (``--watch``; real time, so 5 min clips take 5 min each);
* **JPEG under video load**: three 30 s 1080p videos are submitted, and once they are
  processing a 2400x1600 JPEG is; time until its thumbnail is recorded, and until done.

Aims (issue #10): first frame ≤ 1 s (direct play) / ≤ 3 s (HLS), the same for 30 s and 5 min;
0 stalls; JPEG thumbnail ≤ 2 s under video load. The CPU of the whole pipeline vs the bare
ladder is ``bench/process_video.py``'s job. The machine may be shared: the 1-min load average
is printed with every figure.

    .venv/bin/python bench/instant_preview.py [--durations 30,300] [--codecs h264,mpeg2] [--watch]
    .venv/bin/python bench/instant_preview.py --durations ''     # the JPEG measurement alone
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "worker" / "src"))

from support.stack import Postgres, Processor, Server, shared_tmpdir  # noqa: E402
from tus_helpers import create, patch  # noqa: E402

FRONTEND = REPO / "frontend"

CODECS = {
    "h264": (".mp4", ["-c:v", "libx264", "-preset", "veryfast", "-b:v", "12M", "-maxrate", "12M", "-bufsize", "12M",
                      "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart"]),
    "mpeg2": (".mkv", ["-c:v", "mpeg2video", "-b:v", "15M", "-maxrate", "15M", "-bufsize", "8M", "-g", "15",
                       "-c:a", "aac"]),
}  # fmt: skip


def load() -> float:
    return os.getloadavg()[0]


def make_clip(cache: Path, codec: str, seconds: int) -> Path:
    suffix, args = CODECS[codec]
    path = cache / f"bench-{codec}-{seconds}s-1080p{suffix}"
    if not path.exists():
        tmp = path.with_name("tmp-" + path.name)
        src = ["-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}"]
        tone = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        subprocess.run(["ffmpeg", "-v", "error", "-y", *src, *tone, *args, "-shortest", str(tmp)], check=True)
        tmp.rename(path)
    return path


def discard(server: Server, user: str, db: str, file_id: str | None) -> None:
    """Purge a measured file: its transcode stops (the processor sees the row gone)."""
    if file_id:
        httpx.delete(  # purged, not trashed: a trashed file's transcode goes on
            f"{server.url}/api/files/{file_id}",
            params={"permanent": "true"},
            headers={"Authorization": f"Bearer {server.token(user)}"},
        )
    wait_idle(db)


def wait_idle(db: str, timeout: float = 3600) -> None:
    """Until no job is queued or running (each measurement starts on an idle processor)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(db) as conn:
            n = conn.execute("SELECT count(*) FROM processing_jobs WHERE status IN ('queued', 'processing')").fetchone()
        if n[0] == 0:
            return
        time.sleep(1)


def upload(server: Server, user: str, data: bytes, name: str) -> str:
    token = server.token(user)
    r = create(server.url, token, len(data), filename=name)
    location = r.headers["Location"]
    offset, chunk = 0, 50 * 1024 * 1024
    while offset < len(data):
        part = data[offset : offset + chunk]
        assert patch(location, token, offset, part).status_code == 204
        offset += len(part)
    return location.rsplit("/", 1)[1]


def file_row(db: str, upload_id: str) -> dict | None:
    with psycopg.connect(db, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "SELECT processing_status, thumbnail_key FROM files WHERE upload_id = %s", (upload_id,)
        ).fetchone()


def first_frame(server: Server, user: str, clip: Path, watch: bool, duration: int, artifacts: Path) -> dict:
    config = {
        "baseUrl": server.url,
        "token": server.token(user),
        "file": str(clip),
        "artifacts": str(artifacts),
        "watchSeconds": duration + 15 if watch else 0,
        "timeoutMs": 1_800_000,
    }
    proc = subprocess.run(["node", "e2e/instant.mjs", json.dumps(config)], cwd=FRONTEND, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"ok": False, "error": proc.stderr[-2000:]}
    return json.loads(lines[-1])


def phases(db: str, r: dict) -> dict:
    """Where the time to the first frame went, from the job's timestamps (same clock).

    ``ingest``: last byte → job queued; ``queue``: queued → started; ``to_playable``: started →
    the first rung published (HLS only); ``viewer``: the rest (status poll, signed link,
    hls.js or the original's first Range reads, decode). From the last byte: ``tile`` (the
    file's tile in the grid), ``clicked`` (Playwright's click on it returned), ``viewer_open``.
    """
    if not r.get("file_id") or not r.get("last_byte_at") or not r.get("first_frame_at"):
        return {}
    with psycopg.connect(db) as conn:
        row = conn.execute(
            """SELECT EXTRACT(EPOCH FROM created_at) * 1000, EXTRACT(EPOCH FROM started_at) * 1000,
                      EXTRACT(EPOCH FROM playable_at) * 1000
                 FROM processing_jobs WHERE file_id = %s ORDER BY created_at LIMIT 1""",
            (r["file_id"],),
        ).fetchone()
    if not row:
        return {}
    last, created, started, playable = float(r["last_byte_at"]), *(float(x) if x else None for x in row)
    out = {"ingest_ms": round(created - last) if created else None}
    if created and started:
        out["queue_ms"] = round(started - created)
    if r.get("engine_at_first_frame") != "direct" and started and playable:
        out["to_playable_ms"] = round(playable - started)
        out["viewer_ms"] = round(float(r["first_frame_at"]) - playable)
    else:
        out["viewer_ms"] = round(float(r["first_frame_at"]) - last)
    out["tile_ms"] = r.get("tile_after_last_byte_ms")
    out["clicked_ms"] = r.get("clicked_after_last_byte_ms")
    out["viewer_open_ms"] = r.get("viewer_open_after_last_byte_ms")
    return out


def jpeg_under_load(server: Server, db: str, user: str, cache: Path) -> dict:
    video = make_clip(cache, "h264", 30).read_bytes()
    ids = [upload(server, user, video, f"load-{i}-{uuid.uuid4().hex[:6]}.mp4") for i in range(3)]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = [file_row(db, i) for i in ids]
        if sum(1 for r in rows if r and r["processing_status"] == "processing") >= 2:
            break
        time.sleep(0.2)
    buf = io.BytesIO()
    Image.effect_mandelbrot((2400, 1600), (-2, -1.2, 1, 1.2), 60).convert("RGB").save(buf, "JPEG", quality=90)
    t0 = time.monotonic()
    load_before = load()
    jpeg = upload(server, user, buf.getvalue(), f"photo-{uuid.uuid4().hex[:6]}.jpg")
    uploaded = time.monotonic() - t0
    last_byte = time.time()
    thumb = done = None
    while time.monotonic() - t0 < 300 and done is None:
        row = file_row(db, jpeg)
        if row and row["thumbnail_key"] and thumb is None:
            thumb = time.monotonic() - t0
        if row and row["processing_status"] in ("completed", "failed"):
            done = time.monotonic() - t0
        time.sleep(0.05)
    videos = [file_row(db, i)["processing_status"] for i in ids]
    return {
        "upload_s": round(uploaded, 3),
        "thumbnail_after_last_byte_s": round(thumb - uploaded, 3) if thumb else None,
        "done_after_last_byte_s": round(done - uploaded, 3) if done else None,
        "phases": job_phases(db, jpeg, last_byte),
        "videos_at_that_time": videos,
        "load_before": round(load_before, 2),
    }


def job_phases(db: str, upload_id: str, last_byte: float) -> dict:
    """The JPEG's job timestamps from its last byte: queued, started (leased), completed."""
    with psycopg.connect(db) as conn:
        row = conn.execute(
            """SELECT EXTRACT(EPOCH FROM j.created_at), EXTRACT(EPOCH FROM j.started_at),
                      EXTRACT(EPOCH FROM j.completed_at)
                 FROM processing_jobs j JOIN files f ON f.id = j.file_id WHERE f.upload_id = %s""",
            (upload_id,),
        ).fetchone()
    names = ("queued_s", "started_s", "completed_s")
    return {k: round(float(v) - last_byte, 3) for k, v in zip(names, row or (), strict=False) if v is not None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--durations", default="30,300", help="clip lengths in seconds")
    ap.add_argument("--codecs", default="h264,mpeg2")
    ap.add_argument("--watch", action="store_true", help="play every clip to its end and count stalls")
    ap.add_argument("--rungs", default="1080,720,480")
    ap.add_argument("--preset", default="veryfast")
    ap.add_argument("--skip-jpeg", action="store_true")
    ap.add_argument("--cache", help="directory keeping the generated clips between runs")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; clips are interleaved within each round")
    ap.add_argument("--keep", action="store_true", help="let each transcode finish instead of deleting the file")
    ap.add_argument("--processor-log", type=Path, help="copy the processor's log (at INFO: per-job step times) here")
    args = ap.parse_args()
    subprocess.run(["npm", "run", "--silent", "build"], cwd=FRONTEND, check=True, capture_output=True)
    cache = Path(args.cache) if args.cache else shared_tmpdir("mediagate-bench-clips-")
    cache.mkdir(parents=True, exist_ok=True)
    artifacts = shared_tmpdir("mediagate-bench-instant-")
    pg = Postgres()
    data_dir = shared_tmpdir("mediagate-bench-")
    server = processor = None
    try:
        db = pg.create_database("bench_instant")
        server = Server(db, data_dir, env={"FRONTEND_DIR": str(FRONTEND / "dist")}).start()
        log_level = "INFO" if args.processor_log else "WARNING"
        env = {"HLS_RUNGS": args.rungs, "VIDEO_PRESET": args.preset, "LOG_LEVEL": log_level}
        processor = Processor(server, env=env).start()
        user = str(uuid.uuid4())
        print(f"ladder {args.rungs}, preset {args.preset}, cores {os.cpu_count()}", flush=True)
        samples: dict[str, list[float]] = {}
        for rnd in range(args.repeat):
            for seconds in [int(s) for s in args.durations.split(",") if s.strip()]:
                for codec in args.codecs.split(","):
                    clip = make_clip(cache, codec, seconds)
                    wait_idle(db)
                    before = load()
                    r = first_frame(server, user, clip, args.watch, seconds, artifacts)
                    fields = {
                        k: r.get(k)
                        for k in (
                            "first_frame_after_last_byte_ms",
                            "engine_at_first_frame",
                            "status_at_first_frame",
                            "progress_at_first_frame",
                            "stalls",
                            "stall_ms",
                            "frame_gaps",
                            "max_frame_gap_ms",
                            "playback_events",
                            "watched_to",
                            "error",
                        )
                        if r.get(k) is not None
                    }
                    fields["phases"] = phases(db, r)
                    if r.get("first_frame_after_last_byte_ms") is not None:
                        samples.setdefault(f"{seconds} s {codec}", []).append(r["first_frame_after_last_byte_ms"])
                    print(
                        f"[{rnd + 1}] {seconds:4d} s {codec:6s} (load {before:.2f}): {json.dumps(fields)}", flush=True
                    )
                    if args.keep:
                        wait_idle(db)
                    else:
                        discard(server, user, db, r.get("file_id"))
        for name, values in samples.items():
            print(f"median first frame {name}: {statistics.median(values):.0f} ms of {sorted(values)}", flush=True)
        if not args.skip_jpeg:
            wait_idle(db)
            print(f"JPEG while 3 videos process: {json.dumps(jpeg_under_load(server, db, user, cache))}", flush=True)
    finally:
        if processor:
            processor.stop()
            if args.processor_log:
                shutil.copyfile(data_dir / f"processor-{processor.port}.log", args.processor_log)
        if server:
            server.stop()
        pg.remove()
        shutil.rmtree(data_dir, ignore_errors=True)  # the uploads and outputs (clips stay in --cache)


if __name__ == "__main__":
    main()
