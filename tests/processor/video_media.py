"""Generators and inspectors of real test video for the video processor tests.

Clips come from ffmpeg's lavfi sources (``testsrc2`` picture, ``sine`` tone) in several
containers/codecs; helpers write .cube LUTs and read back keyframe times and frames.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: container suffix → (video codec args, audio codec args): one "typical" pairing each.
CODECS: dict[str, tuple[list[str], list[str]]] = {
    ".mp4": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "aac"]),
    ".mov": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "pcm_s16le"]),
    ".mkv": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "libopus"]),
    ".avi": (["-c:v", "mpeg4", "-q:v", "4"], ["-c:a", "libmp3lame"]),
}


def ffmpeg(*args: str, timeout: float = 120) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
        check=True,
        timeout=timeout,
        capture_output=True,
    )


def write_video(
    path: Path,
    *,
    size: str = "640x360",
    duration: float = 4.0,
    rate: int = 30,
    audio: bool = True,
    rotate: int | None = None,
    faststart: bool = False,
    source: str = "testsrc2",
) -> Path:
    """A ``testsrc2`` clip (+ 440 Hz tone) in the container given by ``path``'s suffix.

    ``rotate`` adds display-rotation metadata (mp4/mov) by remuxing: frames stay stored
    as ``size``. Sources have a single keyframe (ultrafast, default GOP), on purpose.
    ``source`` is the lavfi picture source (``smptebars`` is static, ``testsrc2`` moves).
    """
    vcodec, acodec = CODECS[path.suffix]
    args = ["-f", "lavfi", "-i", f"{source}=size={size}:rate={rate}:duration={duration}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration}"]
    args += vcodec + ([*acodec, "-shortest"] if audio else [])
    if faststart:
        args += ["-movflags", "+faststart"]
    target = path if rotate is None else path.with_name(f"unrotated-{path.name}")
    ffmpeg(*args, str(target))
    if rotate is not None:
        ffmpeg("-i", str(target), "-map", "0", "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}", str(path))
        target.unlink()
    return path


def truncate(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def write_cube(path: Path, fn: Callable[[float, float, float], tuple[float, float, float]], size: int = 5) -> Path:
    """A .cube 3D LUT (red varying fastest, as the format requires) computing ``fn(r, g, b)``."""
    lines = ['TITLE "test"', f"LUT_3D_SIZE {size}", "DOMAIN_MIN 0 0 0", "DOMAIN_MAX 1 1 1"]
    for b in range(size):
        for g in range(size):
            for r in range(size):
                rgb = fn(r / (size - 1), g / (size - 1), b / (size - 1))
                lines.append(" ".join(f"{c:.6f}" for c in rgb))
    path.write_text("\n".join(lines) + "\n")
    return path


def ffprobe_json(path: Path | str, *args: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", *args, str(path)],
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def keyframe_times(playlist: Path) -> list[float]:
    """Keyframe presentation times of a media playlist (from the packet flags)."""
    data = ffprobe_json(playlist, "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags")
    return [float(p["pts_time"]) for p in data["packets"] if "K" in p.get("flags", "")]


def video_stream(path: Path | str) -> dict:
    data = ffprobe_json(path, "-select_streams", "v:0", "-show_streams")
    return data["streams"][0]


def first_frame_rgb(path: Path | str) -> np.ndarray:
    """The first decoded frame of a file or playlist as uint8 RGB (h, w, 3)."""
    st = video_stream(path)
    w, h = int(st["width"]), int(st["height"])
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        timeout=60,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw[: w * h * 3], np.uint8).reshape(h, w, 3)
