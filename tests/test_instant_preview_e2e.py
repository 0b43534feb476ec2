"""Instant previews in real Chromium: a video plays seconds after its last upload byte.

The real local server and processor (Postgres, ffmpeg), the built web app, and
``frontend/e2e/instant.mjs`` driving Debian's chromium with playwright-core: upload through
Uppy, open the viewer at once, wait for the first decoded frame, check that playback
advances, then (for the HLS case) wait for the ladder and check the open player moved to the
full ladder. Meanwhile the growing media playlist is read from the store several times and
validated with ``m3u8`` (media sequence monotonic, segments only appended, never rewritten).

Costs are kept low: a 60 s 1080p MPEG-2 clip (cheap to make and decode, not playable by
browsers, so the viewer needs the progressive HLS rung) with the stack's ``ultrafast`` ladder,
and a 20 s 720p H.264/AAC MP4 for direct play of the original.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
from pathlib import Path

import m3u8
import psycopg
import pytest
from support.stack import Processor, Server, shared_tmpdir
from support.tools import requires
from test_web_e2e import CHROMIUM, FRONTEND, build_frontend

pytestmark = requires(
    Path(CHROMIUM).exists() and (FRONTEND / "node_modules" / "playwright-core").is_dir(),
    "/usr/bin/chromium and frontend/node_modules",
)


def make_clip(path: Path, seconds: int, size: str, video: list[str], audio: list[str]) -> Path:
    src = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}"]
    tone = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    cmd = ["ffmpeg", "-v", "error", "-y", *src, *tone, *video, *audio, "-shortest", str(path)]
    subprocess.run(cmd, check=True, timeout=300)
    return path


@pytest.fixture(scope="module")
def instant_stack(postgres):
    dist = build_frontend()
    database_url = postgres.create_database()
    server = Server(database_url, shared_tmpdir("mediagate-instant-"), env={"FRONTEND_DIR": str(dist)}).start()
    processor = Processor(server).start()  # ultrafast, 720/480/360
    yield server, database_url
    processor.stop()
    server.stop()


def run_instant(server: Server, user: str, clip: Path, tmp_path: Path, **extra) -> dict:
    config = {"baseUrl": server.url, "token": server.token(user), "file": str(clip), "artifacts": str(tmp_path)}
    config.update(extra)
    proc = subprocess.run(
        ["node", "e2e/instant.mjs", json.dumps(config)], cwd=FRONTEND, capture_output=True, text=True, timeout=600
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    result = json.loads(lines[-1])
    assert result["ok"], f"{result.get('error')}\n{proc.stderr[-4000:]}"
    return result


def assert_seamless_handover(result: dict) -> None:
    """The ladder replaced what played mid-playback without emptying the element or a stall then."""
    handover = result["handover"]
    print("hand-over:", json.dumps(handover), "events:", json.dumps(result["playback_events"]))
    assert not handover["ended"] and not handover["paused"], handover  # a slow playbackRate keeps it playing
    assert handover["source_changes"] == 0, result["playback_events"]
    # from just before the hand-over to the end: no visible stall (Chrome may report a `waiting`
    # of a few ms as the new instance's first segments land: shorter than a frame, not counted)
    after = [e for e in result["playback_events"] if e["at_s"] >= handover["at_s"] - 5]
    stalls = [e for e in after if e["kind"] == "stall"]
    resumed = [e for e in after if e["kind"] == "resumed"]
    assert len(resumed) == len(stalls) and all(e["stall_ms"] < 40 for e in resumed), after
    # nor a frozen picture after it (new segments appended over frames at the playhead would re-decode)
    frozen = [
        e
        for e in result["playback_events"]
        if e["kind"] == "frame gap" and e["gap_ms"] > 1000 and e["at_s"] >= handover["at_s"] - 5
    ]
    assert not frozen, result["playback_events"]
    # and the stream still ends at its end (not waiting at its last frame)
    assert result["reached_end"]["ended"], result["reached_end"]


class PlaylistWatcher(threading.Thread):
    """Reads the lowest rung's media playlist from the store while it grows."""

    def __init__(self, server: Server, database_url: str, name: str) -> None:
        super().__init__(daemon=True)
        self.server, self.db, self.name = server, database_url, name
        self.snapshots: list[m3u8.M3U8] = []
        self.segments: dict[str, str] = {}  # uri -> sha256 when first seen
        self.rewritten: list[str] = []
        self.stop_at = time.monotonic() + 600

    def run(self) -> None:
        key = None
        while time.monotonic() < self.stop_at:
            with psycopg.connect(self.db) as conn:
                row = conn.execute(
                    "SELECT id::text, hls_playlist_key, processing_status FROM files WHERE filename = %s", (self.name,)
                ).fetchone()
            if row and row[1] and key is None:
                key = row[1]
            if key:
                hls = self.server.data_dir / "store" / "objects" / key.rsplit("/", 1)[0]
                master = m3u8.load(str(hls / "master.m3u8"))
                low = min(master.playlists, key=lambda p: p.stream_info.resolution[1])
                pl = m3u8.load(str(hls / low.uri))
                if not self.snapshots or [s.uri for s in pl.segments] != [s.uri for s in self.snapshots[-1].segments]:
                    self.snapshots.append(pl)
                for seg in pl.segments:
                    digest = hashlib.sha256((hls / Path(low.uri).parent / seg.uri).read_bytes()).hexdigest()
                    if self.segments.setdefault(seg.uri, digest) != digest:
                        self.rewritten.append(seg.uri)
                if row[2] in ("completed", "failed") and pl.is_endlist:
                    return
            time.sleep(0.5)


@pytest.mark.timeout(900)
def test_hls_plays_while_the_ladder_encodes(instant_stack, user_id, tmp_path):
    """60 s of 1080p browsers cannot play (MPEG-2): the viewer plays the growing first rung."""
    server, db = instant_stack
    clip = make_clip(
        tmp_path / "long-1080p.mkv", 60, "1920x1080", ["-c:v", "mpeg2video", "-q:v", "6", "-g", "15"], ["-c:a", "aac"]
    )
    watcher = PlaylistWatcher(server, db, clip.name)
    watcher.start()
    result = run_instant(
        server, user_id, clip, tmp_path, untilComplete=True, timeoutMs=420_000, playbackRate=0.25, toEnd=True
    )
    watcher.join(60)
    assert result["direct_play"] is False
    assert result["engine_at_first_frame"] == "hls.js"
    assert result["status_at_first_frame"] == "processing", "it played only after processing completed"
    assert result["current_time"][1] > result["current_time"][0]
    assert result["final"]["engine"] == "hls.js" and result["final"]["levels"] == 3
    # still playing when the ladder took over: the element kept its MediaSource and buffer
    assert_seamless_handover(result)
    assert not [e for e in result["playback_events"] if e["kind"] == "element switched"]
    # after the inherited buffer, the ladder's own rungs played (not only the low rung)
    assert result["reached_end"]["max_level"] > 360, result["reached_end"]
    # the growing playlist, as stored at several moments
    snaps = watcher.snapshots
    assert len(snaps) >= 2 and not snaps[0].is_endlist and snaps[-1].is_endlist
    previous: list[str] = []
    for pl in snaps:
        assert pl.playlist_type == "event" and (pl.media_sequence or 0) == 0
        uris = [s.uri for s in pl.segments]
        assert uris[: len(previous)] == previous
        previous = uris
    assert not watcher.rewritten
    # at the end: every rung in the master, each media playlist closed
    with psycopg.connect(db) as conn:
        key = conn.execute("SELECT hls_playlist_key FROM files WHERE id = %s::uuid", (result["file_id"],)).fetchone()[0]
    hls = server.data_dir / "store" / "objects" / key.rsplit("/", 1)[0]
    master = m3u8.load(str(hls / "master.m3u8"))
    assert sorted(p.stream_info.resolution[1] for p in master.playlists) == [360, 480, 720]
    for uri in [p.uri for p in master.playlists] + [m.uri for m in master.media]:
        assert m3u8.load(str(hls / uri)).is_endlist, uri
    print("instant HLS:", json.dumps({k: v for k, v in result.items() if k != "final"}))


@pytest.mark.timeout(600)
def test_direct_play_of_a_browser_playable_original(instant_stack, user_id, tmp_path):
    """H.264/AAC MP4: the original plays through its signed link right after the upload."""
    server, _ = instant_stack
    clip = make_clip(
        tmp_path / "phone.mp4",
        20,
        "1280x720",
        ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
        ["-c:a", "aac"],
    )
    result = run_instant(
        server, user_id, clip, tmp_path, untilComplete=True, timeoutMs=240_000, playbackRate=0.5, toEnd=True
    )
    # the viewer may try a likely-playable original before the probe answers (None), never after a "no"
    assert result["direct_play"] in (True, None)
    assert result["final_direct_play"] is True  # the probe confirmed it
    assert result["engine_at_first_frame"] == "direct"
    # the tile came from the upload's answer (the file fetched by id), not a list refresh
    assert result["tile_by_id"] and result["lists_before_tile"] == 0, result
    assert result["final"]["engine"] == "hls.js"  # switched to the ladder once it was ready
    # ... in a standby element that took over at the playhead: no emptied element, no stall
    assert_seamless_handover(result)
    switched = [e for e in result["playback_events"] if e["kind"] == "element switched"]
    assert len(switched) == 1 and -0.1 <= switched[0]["media_jump_s"] <= 0.5, result["playback_events"]
    print("instant direct:", json.dumps({k: v for k, v in result.items() if k != "final"}))
