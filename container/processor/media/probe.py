"""ffprobe → a small, JSON-safe description of a video upload (or a readable MediaError)."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from .ffrun import FFPROBE, run_tool
from .result import MediaError

PROBE_TIMEOUT = float(os.environ.get("MEDIAGATE_PROBE_TIMEOUT", "30"))
MAX_FPS = 60  # faster sources are halved until they fit (120 → 60, 100 → 50)
#: ffprobe formats that are still images (or text), not videos.
_STILL_FORMATS = ("image2", "tty", "gif_pipe", "webp_pipe")
_HDR_TRANSFERS = ("smpte2084", "arib-std-b67")  # PQ, HLG


def _rational(value: Any) -> Fraction | None:
    """ffprobe rationals ("30000/1001", "0/0", "16:9") and numbers → Fraction, or None if unusable."""
    try:
        frac = Fraction(str(value).replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        return None
    return frac if frac > 0 else None


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f == f and f > 0 else None  # NaN/negative/zero → None


def _rotation(stream: dict) -> int:
    """Clockwise degrees (0/90/180/270) the player turns the frames for display.

    Same convention as ffmpeg's autorotate and the legacy ``rotate`` tag; ffprobe's display
    matrix ``rotation`` is counter-clockwise, hence the sign flip.
    """
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            try:
                return round(-float(side["rotation"]) / 90) * 90 % 360
            except (TypeError, ValueError):
                break
    try:
        return round(float((stream.get("tags") or {}).get("rotate", 0)) / 90) * 90 % 360
    except (TypeError, ValueError):
        return 0


def output_fps(stream: dict) -> Fraction:
    """The frame rate we encode at: the average rate (VFR-safe), halved until ≤ MAX_FPS."""
    fps = _rational(stream.get("avg_frame_rate"))
    if fps is None or fps > 1000:
        fps = _rational(stream.get("r_frame_rate"))
    if fps is None or fps > 1000:
        fps = Fraction(30)
    fps = fps.limit_denominator(1001)
    while fps > MAX_FPS:
        fps /= 2
    return fps


#: What Chromium-family browsers (and Safari/Firefox for MP4) play in a <video> element as is.
_DIRECT_PLAY = {
    "mp4": ({"h264", "av1", "vp9"}, {"aac", "mp3", "opus", "flac"}),
    "webm": ({"vp8", "vp9", "av1"}, {"opus", "vorbis"}),
}
_8BIT_420 = {"yuv420p", "yuvj420p"}


def direct_play(format_name: str, video: dict, audio: dict | None, audios: list[dict], transfer: Any) -> bool:
    """Whether browsers can play the original as is over Range requests while the ladder encodes.

    MP4/MOV (ffprobe ``mov,mp4,...``) with H.264 (8-bit 4:2:0, not High 10/4:2:2), VP9 or AV1,
    and WebM (``matroska,webm``, tagged ``webm``) with VP8/VP9/AV1; audio none or one of the
    codecs above. HDR, interlaced, rotated-by-matrix sources play too (the browser applies
    rotation), but interlaced or HDR ones would look wrong: those wait for the ladder.
    """
    names = set(format_name.split(","))
    if "mp4" in names or "mov" in names:
        family = "mp4"
    elif "webm" in names:
        family = "webm"
    else:
        return False
    vcodecs, acodecs = _DIRECT_PLAY[family]
    if video.get("codec_name") not in vcodecs:
        return False
    if video.get("codec_name") == "h264" and video.get("pix_fmt") not in _8BIT_420:
        return False
    if video.get("field_order") not in (None, "progressive", "unknown") or transfer in _HDR_TRANSFERS:
        return False
    return audio is None or (audio.get("codec_name") in acodecs and len(audios) >= 1)


def probe_video(path: str | Path) -> dict:
    """Describe a video file; raise MediaError if it is not a playable video.

    Keys: duration (s), format, size_bytes, bitrate (bit/s or None), video_codec,
    video_profile, pix_fmt, width/height (coded), sar, rotation (clockwise degrees),
    display_width/display_height (after SAR and rotation), fps (float, as encoded),
    fps_rational ("30000/1001"), source_fps, audio_codec/audio_channels/audio_sample_rate
    (None without audio), has_audio, video_stream_index/audio_stream_index, interlaced,
    hdr (PQ/HLG transfer), color (space/transfer/primaries/range).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError(f"cannot read the upload: {exc.strerror or exc}") from exc
    if size == 0:
        raise MediaError("empty file (0 bytes)")
    out = run_tool(
        [FFPROBE, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        timeout=PROBE_TIMEOUT,
        what="not a readable video file",
        paths=[str(path)],
    )
    try:
        data = json.loads(out or "{}")
    except json.JSONDecodeError as exc:
        raise MediaError("not a readable video file: ffprobe returned no usable description") from exc
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    format_name = str(fmt.get("format_name", ""))
    if format_name in _STILL_FORMATS or format_name.endswith("_pipe"):
        raise MediaError(f"not a video: {format_name.removesuffix('_pipe')} still image or text file")
    videos = [
        s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if not videos:
        kind = "audio-only file" if audios else "file"
        raise MediaError(f"not a video: {kind} without a video stream")
    v = videos[0]
    a = audios[0] if audios else None
    width, height = int(v.get("width") or 0), int(v.get("height") or 0)
    if width <= 0 or height <= 0:
        raise MediaError(f"not a playable video: {v.get('codec_name', 'unknown')} stream has no picture size")
    duration = _float(fmt.get("duration")) or _float(v.get("duration"))
    if duration is None:
        raise MediaError("not a playable video: no duration (a still image or an empty stream)")
    sar = _rational(v.get("sample_aspect_ratio")) or Fraction(1)
    rotation = _rotation(v)
    disp_w, disp_h = round(width * sar) if sar != 1 else width, height
    if rotation in (90, 270):
        disp_w, disp_h = disp_h, disp_w
    fps = output_fps(v)
    src_fps = _rational(v.get("avg_frame_rate")) or _rational(v.get("r_frame_rate"))
    bitrate = _float(fmt.get("bit_rate"))
    transfer = v.get("color_transfer")
    return {
        "duration": round(duration, 3),
        "format": format_name,
        "creation_time": (fmt.get("tags") or {}).get("creation_time"),  # QuickTime/MP4: when recorded
        "size_bytes": size,
        "bitrate": int(bitrate) if bitrate else None,
        "video_stream_index": int(v.get("index", 0)),
        "audio_stream_index": int(a.get("index", 0)) if a else None,
        "video_codec": v.get("codec_name"),
        "video_profile": v.get("profile"),
        "pix_fmt": v.get("pix_fmt"),
        "width": width,
        "height": height,
        "sar": f"{sar.numerator}:{sar.denominator}",
        "rotation": rotation,
        "display_width": disp_w,
        "display_height": disp_h,
        "fps": round(float(fps), 3),
        "fps_rational": f"{fps.numerator}/{fps.denominator}",
        "source_fps": round(float(src_fps), 3) if src_fps else None,
        "audio_codec": a.get("codec_name") if a else None,
        "audio_channels": a.get("channels") if a else None,
        "audio_sample_rate": int(a["sample_rate"]) if a and str(a.get("sample_rate", "")).isdigit() else None,
        "has_audio": a is not None,
        "interlaced": v.get("field_order") not in (None, "progressive", "unknown"),
        "hdr": transfer in _HDR_TRANSFERS,
        "color": {
            "space": v.get("color_space"),
            "transfer": transfer,
            "primaries": v.get("color_primaries"),
            "range": v.get("color_range"),
        },
        "direct_play": direct_play(format_name, v, a, audios, transfer),
    }
