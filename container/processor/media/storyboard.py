"""Storyboard: a JPEG sprite of small thumbnails plus a WebVTT index (``sprite#xywh=``).

Thumbnails come from the *lowest HLS rung*, decoding keyframes only (``-skip_frame
nokey``): that rung already has a keyframe every 1 or 2 s (so the spacing does not depend on
the source's GOP; tiles are at least ``MIN_TILE_SECONDS`` apart), the LOG LUT is already applied, and decoding a few hundred 480p keyframes
takes well under a second. Keyframe times come from ffprobe's packet list (no decoding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .ffrun import FFMPEG, FFPROBE, run_tool, run_tool_bytes
from .hls import even_dim
from .result import MediaError, MediaOutput

THUMB_WIDTH = 160
MAX_TILES = 100  # longer videos take every m-th keyframe
MIN_TILE_SECONDS = 2.0  # a tile per 2 s at most, whatever the rung's keyframe interval
COLUMNS = 10
JPEG_QUALITY = 80
SPRITE = "storyboard/sprite.jpg"
VTT = "storyboard/storyboard.vtt"


@dataclass
class Storyboard:
    outputs: list[MediaOutput]
    sprite: str
    vtt: str
    tile_width: int
    tile_height: int
    columns: int
    rows: int
    interval: float  # nominal seconds between tiles
    tiles: int


def keyframe_times(playlist: str | Path) -> list[float]:
    """Presentation times of the keyframes of a media playlist (demux only)."""
    out = run_tool(
        [
            FFPROBE,
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
            str(playlist),
        ],
        timeout=120,
        what="storyboard",
        paths=[str(playlist)],
    )
    times = []
    for line in out.splitlines():
        pts, _, flags = line.partition(",")
        if "K" in flags:
            try:
                times.append(float(pts))
            except ValueError:
                continue
    return sorted(times)


def _ts(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def make_storyboard(
    playlist: str | Path, out_dir: str | Path, *, width: int, height: int, duration: float
) -> Storyboard:
    """Write ``storyboard/sprite.jpg`` and ``storyboard/storyboard.vtt`` from a rung playlist.

    ``width``/``height`` are the rung's dimensions (for the tile aspect ratio).
    """
    out = Path(out_dir)
    (out / "storyboard").mkdir(parents=True, exist_ok=True)
    times = keyframe_times(playlist)
    if not times:
        raise MediaError("storyboard: the encoded video has no keyframes")
    start = times[0]
    times = [t - start for t in times]
    spacing = times[-1] / (len(times) - 1) if len(times) > 1 else MIN_TILE_SECONDS
    step = max(1, round(MIN_TILE_SECONDS / spacing), math.ceil(len(times) / MAX_TILES))
    chosen = times[::step]
    tw, th = THUMB_WIDTH, even_dim(THUMB_WIDTH * height / width)
    vf = f"select='not(mod(n\\,{step}))',scale={tw}:{th},setsar=1,format=rgb24"
    cmd = [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-skip_frame", "nokey", "-an", "-i", str(playlist)]
    cmd += ["-vf", vf, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    raw = run_tool_bytes(cmd, timeout=60 + duration * 0.2, what="storyboard", paths=[str(playlist)])
    frame_bytes = tw * th * 3
    count = min(len(raw) // frame_bytes, len(chosen))
    if count == 0:
        raise MediaError("storyboard: no keyframe could be decoded")
    cols = min(COLUMNS, count)
    rows = math.ceil(count / cols)
    sprite = Image.new("RGB", (cols * tw, rows * th))
    cues = ["WEBVTT", ""]
    name = Path(SPRITE).name
    for i in range(count):
        tile = Image.frombytes("RGB", (tw, th), raw[i * frame_bytes : (i + 1) * frame_bytes])
        x, y = (i % cols) * tw, (i // cols) * th
        sprite.paste(tile, (x, y))
        begin = chosen[i]
        end = chosen[i + 1] if i + 1 < count else max(duration, begin + 0.001)
        cues += [f"{_ts(begin)} --> {_ts(end)}", f"{name}#xywh={x},{y},{tw},{th}", ""]
    sprite.save(out / SPRITE, "JPEG", quality=JPEG_QUALITY)
    (out / VTT).write_text("\n".join(cues))
    return Storyboard(
        outputs=[MediaOutput(SPRITE, "image/jpeg"), MediaOutput(VTT, "text/vtt")],
        sprite=SPRITE,
        vtt=VTT,
        tile_width=tw,
        tile_height=th,
        columns=cols,
        rows=rows,
        interval=round(step * spacing, 3),
        tiles=count,
    )
