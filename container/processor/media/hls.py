"""HLS ladder: rung planning, the ffmpeg ladder command, and the measured master playlist.

Rungs are named by their *short side* ("1080p" is 1920x1080 landscape or 1080x1920
portrait), so a portrait phone video gets the same pixel budget as a landscape one instead
of a 608x1080 "1080p". Layout under ``hls/``::

    master.m3u8            written by us from measured segment sizes
    480p/index.m3u8        one directory per rung (init_N.mp4 + seg_NNNNN.m4s)
    audio/index.m3u8       one AAC rendition shared by all rungs (EXT-X-MEDIA group)
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import m3u8

from .ffrun import FFMPEG
from .result import MediaError

SEGMENT_SECONDS = 6
KEYFRAME_SECONDS = 2
#: Segments (and keyframe interval) of the lowest rung when it runs on its own ahead of the
#: ladder: a player of the growing EVENT playlist re-reads it every target duration, so 1 s
#: segments let it see new media every second (see media/video.py). Its keyframes include
#: every ladder keyframe, so rungs still switch on keyframes.
PROGRESSIVE_SEGMENT_SECONDS = 1
CRF = 21
AUDIO_BITRATE = "128k"
AUDIO_GROUP = "audio"
AUDIO_DIR = "audio"
AAC_LC = "mp4a.40.2"
BITS_PER_PIXEL = 0.1  # maxrate cap at 30 fps: 1080p ≈ 6.2 Mbit/s, 720p ≈ 2.8, 480p ≈ 1.2
START_RUNG = 720  # listed first in the master: where players start before measuring bandwidth
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")


@dataclass(frozen=True)
class Rung:
    """One rendition of the ladder."""

    name: str  # "480p": directory name and var_stream_map name
    short_side: int
    width: int
    height: int
    maxrate_kbps: int

    @property
    def playlist(self) -> str:
        return f"{self.name}/index.m3u8"


def even_dim(x: float) -> int:
    return max(2, round(x / 2) * 2)


def plan_ladder(info: dict, rungs: Sequence[int] = (1080, 720, 480)) -> list[Rung]:
    """Rungs (ascending) at or below the source's short side, keeping the display aspect.

    A source smaller than every rung gets one rung at its own (even) size.
    """
    dw, dh = int(info["display_width"]), int(info["display_height"])
    short = min(dw, dh)
    chosen = sorted({int(r) for r in rungs if 0 < int(r) <= short})
    if not chosen:
        chosen = [max(2, short - short % 2)]
    fps = float(info.get("fps") or 30)
    fps_factor = (fps / 30) ** 0.75
    out: list[Rung] = []
    for s in chosen:
        if dw >= dh:
            w, h = even_dim(dw * s / dh), s
        else:
            w, h = s, even_dim(dh * s / dw)
        w, h = min(w, max(2, dw - dw % 2)), min(h, max(2, dh - dh % 2))
        maxrate = max(300, round(w * h * 30 * BITS_PER_PIXEL * fps_factor / 1000))
        out.append(Rung(name=f"{s}p", short_side=s, width=w, height=h, maxrate_kbps=maxrate))
    return out


def color_matrix(info: dict) -> str:
    space = (info.get("color") or {}).get("space") or ""
    if space in ("bt470bg", "smpte170m"):
        return "bt601"
    if space.startswith("bt2020"):
        return "bt2020"
    if space == "bt709":
        return "bt709"
    return "bt709" if min(info["display_width"], info["display_height"]) >= 720 else "bt601"


def safe_filter_path(path: str | Path, scratch: Path) -> str:
    """A path that needs no escaping inside a filtergraph (copied into ``scratch`` if needed)."""
    p = str(Path(path).resolve())
    if _SAFE_PATH.match(p):
        return p
    fd, tmp = tempfile.mkstemp(suffix=Path(path).suffix, dir=scratch)
    os.close(fd)
    shutil.copyfile(path, tmp)
    return tmp


def video_filters(rung: Rung, *, lut: str | None, matrix: str) -> str:
    """Scale (+ optional LOG→Rec.709 LUT) chain for one rung; output is yuv420p, SAR 1.

    The LUT is applied after downscaling: same result within interpolation error, and
    converting + looking up 480p costs a fraction of doing it at the source size.
    """
    if lut is None:
        return f"scale={rung.width}:{rung.height},setsar=1,format=yuv420p"
    return (
        f"scale={rung.width}:{rung.height}:in_color_matrix={matrix},setsar=1,format=rgb48le,"
        f"lut3d=file={lut}:interp=tetrahedral,"
        "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
    )


def build_ladder_command(
    src: str | Path,
    hls_dir: str | Path,
    rungs: Sequence[Rung],
    info: dict,
    *,
    audio: bool,
    lut: str | None = None,
    preset: str = "veryfast",
    event: bool = False,
    decode_args: Sequence[str] = (),
    segment_seconds: int = SEGMENT_SECONDS,
    keyframe_seconds: int = KEYFRAME_SECONDS,
) -> list[str]:
    """One ffmpeg run encoding ``rungs`` (and the AAC rendition if ``audio``) to HLS fMP4.

    Keyframes every ``keyframe_seconds`` (2 s) by timestamp (``-force_key_frames``) with
    ``-g``/``-keyint_min`` set to the same interval and scene-cut off, so separate runs over the
    same source produce identical keyframe and segment boundaries (a run with shorter keyframe
    intervals that divide 2 s has all of the ladder's, and more). ``lut`` must be filtergraph-safe
    (see :func:`safe_filter_path`). ``event``: media playlists are ``EVENT`` playlists that
    ffmpeg rewrites (atomically, ``temp_file``) after every finished segment and closes with
    ``EXT-X-ENDLIST``, so they can be published while the run goes on. ``decode_args`` are
    input (decoder) options placed before ``-i``. ``segment_seconds`` must be a multiple of
    the keyframe interval so rungs with different segment lengths still switch on keyframes.
    """
    if KEYFRAME_SECONDS % keyframe_seconds:
        raise ValueError(f"keyframe interval {keyframe_seconds} s does not divide {KEYFRAME_SECONDS} s")
    if segment_seconds % keyframe_seconds:
        raise ValueError(f"segment length {segment_seconds} s is not a multiple of {keyframe_seconds} s")
    if not rungs and not audio:
        raise ValueError("nothing to encode")
    hls_dir = Path(hls_dir)
    fps = Fraction(info["fps_rational"])
    gop = max(1, round(float(fps) * keyframe_seconds))
    matrix = color_matrix(info)
    cmd = [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-y"]
    if not audio:
        cmd += ["-an"]
    cmd += ["-sn", "-dn", *decode_args, "-i", str(src)]
    maps: list[str] = []
    streams: list[str] = []
    if rungs:
        deint = "bwdif=mode=send_frame," if info.get("interlaced") else ""
        pre = f"[0:{info.get('video_stream_index', 'v')}]{deint}fps={fps.numerator}/{fps.denominator}"
        if len(rungs) == 1:
            graph = f"{pre},{video_filters(rungs[0], lut=lut, matrix=matrix)}[v0]"
        else:
            labels = "".join(f"[s{i}]" for i in range(len(rungs)))
            parts = [f"{pre},split={len(rungs)}{labels}"]
            parts += [f"[s{i}]{video_filters(r, lut=lut, matrix=matrix)}[v{i}]" for i, r in enumerate(rungs)]
            graph = ";".join(parts)
        cmd += ["-filter_complex", graph]
        for i, r in enumerate(rungs):
            maps += ["-map", f"[v{i}]"]
            streams.append(f"v:{i},{'agroup:' + AUDIO_GROUP + ',' if audio else ''}name:{r.name}")
    if audio:
        idx = info.get("audio_stream_index")
        maps += ["-map", f"0:{idx}" if idx is not None else "0:a:0"]
        streams.append(f"a:0,agroup:{AUDIO_GROUP},name:{AUDIO_DIR}")
    cmd += maps
    if rungs:
        cmd += ["-c:v", "libx264", "-preset", preset, "-profile:v", "high", "-pix_fmt", "yuv420p", "-crf", str(CRF)]
        for i, r in enumerate(rungs):
            cmd += [f"-maxrate:v:{i}", f"{r.maxrate_kbps}k", f"-bufsize:v:{i}", f"{2 * r.maxrate_kbps}k"]
        cmd += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
        cmd += ["-force_key_frames", f"expr:gte(t,n_forced*{keyframe_seconds})"]
        if lut is not None:
            cmd += ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ac", "2", "-ar", "48000"]
    cmd += ["-map_metadata", "-1", "-map_chapters", "-1", "-max_muxing_queue_size", "4096"]
    cmd += [
        "-f",
        "hls",
        "-hls_time",
        str(segment_seconds),
        "-hls_playlist_type",
        "event" if event else "vod",
        "-hls_segment_type",
        "fmp4",
        "-hls_flags",
        "independent_segments+temp_file" if event else "independent_segments",
        "-hls_segment_filename",
        str(hls_dir / "%v" / "seg_%05d.m4s"),
        "-var_stream_map",
        " ".join(streams),
        str(hls_dir / "%v" / "index.m3u8"),
    ]
    return cmd


# --- measuring what was written ------------------------------------------------------


@dataclass
class Measured:
    """Bit rates of one media playlist, from its segment files."""

    playlist: str  # relative to the hls dir
    peak_bps: int  # HLS "peak segment bit rate" (RFC 8216bis §4.4.6.2)
    average_bps: int
    duration: float
    segments: int
    files: list[str]  # playlist, init section and segments, relative to the hls dir


def peak_bitrate(sizes: Sequence[int], durations: Sequence[float], target: float) -> float:
    """Largest bit rate of any run of contiguous segments lasting 0.5–1.5 × target duration.

    Falls back to the overall average when no run qualifies (a clip shorter than half a
    target duration).
    """
    best = 0.0
    for i in range(len(sizes)):
        total_bytes, total_dur = 0, 0.0
        for j in range(i, len(sizes)):
            total_bytes += sizes[j]
            total_dur += durations[j]
            if total_dur > 1.5 * target:
                break
            if total_dur >= 0.5 * target:
                best = max(best, total_bytes * 8 / total_dur)
    if best == 0.0 and sum(durations) > 0:
        best = sum(sizes) * 8 / sum(durations)
    return best


def measure_playlist(hls_dir: str | Path, playlist: str) -> Measured:
    """Parse a VOD media playlist (``m3u8``) and measure its segments on disk."""
    hls_dir = Path(hls_dir)
    path = hls_dir / playlist
    try:
        pl = m3u8.load(str(path))
    except (OSError, ValueError) as exc:
        raise MediaError(f"HLS packaging failed: cannot read {playlist}: {exc}") from exc
    base = Path(playlist).parent
    files = [playlist]
    if pl.segment_map:
        files.append(str(base / pl.segment_map[0].uri))
    sizes, durations = [], []
    for seg in pl.segments:
        rel = str(base / seg.uri)
        files.append(rel)
        sizes.append((hls_dir / rel).stat().st_size)
        durations.append(float(seg.duration))
    if not sizes or sum(durations) <= 0:
        raise MediaError(f"HLS packaging failed: {playlist} has no segments (empty video?)")
    target = float(pl.target_duration or SEGMENT_SECONDS)
    total = sum(durations)
    return Measured(
        playlist=playlist,
        peak_bps=math.ceil(peak_bitrate(sizes, durations, target)),
        average_bps=math.ceil(sum(sizes) * 8 / total),
        duration=round(total, 3),
        segments=len(sizes),
        files=files,
    )


def avc_codec_string(init_segment: str | Path) -> str:
    """RFC 6381 ``avc1.PPCCLL`` from the avcC box of an fMP4 init segment."""
    data = Path(init_segment).read_bytes()
    pos = data.find(b"avcC")
    if pos < 0 or len(data) < pos + 8:
        raise MediaError(f"HLS packaging failed: no avcC box in {Path(init_segment).name}")
    profile, compat, level = data[pos + 5], data[pos + 6], data[pos + 7]
    return f"avc1.{profile:02x}{compat:02x}{level:02x}"


def write_master(
    hls_dir: str | Path,
    rungs: Sequence[Rung],
    *,
    fps: float,
    audio: bool,
    name: str = "master.m3u8",
) -> list[dict]:
    """Write the master playlist from measured segments; return per-rung stats.

    BANDWIDTH / AVERAGE-BANDWIDTH are the video rendition's peak / average plus the audio
    rendition's (each variant is played with the audio group). Written atomically.
    """
    hls_dir = Path(hls_dir)
    aud = measure_playlist(hls_dir, f"{AUDIO_DIR}/index.m3u8") if audio else None
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if aud is not None:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="Audio",DEFAULT=YES,AUTOSELECT=YES,'
            f'CHANNELS="2",URI="{aud.playlist}"'
        )
    start = min(rungs, key=lambda r: (abs(r.short_side - START_RUNG), -r.short_side))
    ordered = [start, *sorted((r for r in rungs if r is not start), key=lambda r: -r.short_side)]
    stats: list[dict] = []
    for r in ordered:
        m = measure_playlist(hls_dir, r.playlist)
        codecs = avc_codec_string(hls_dir / m.files[1]) + (f",{AAC_LC}" if aud else "")
        bandwidth = m.peak_bps + (aud.peak_bps if aud else 0)
        average = m.average_bps + (aud.average_bps if aud else 0)
        attrs = [
            f"BANDWIDTH={bandwidth}",
            f"AVERAGE-BANDWIDTH={average}",
            f'CODECS="{codecs}"',
            f"RESOLUTION={r.width}x{r.height}",
            f"FRAME-RATE={fps:.3f}",
        ]
        if aud:
            attrs.append(f'AUDIO="{AUDIO_GROUP}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), r.playlist]
        stats.append(
            {
                **asdict(r),
                "playlist": r.playlist,
                "bandwidth": bandwidth,
                "average_bandwidth": average,
                "video_peak_bps": m.peak_bps,
                "video_average_bps": m.average_bps,
                "codecs": codecs,
                "segments": m.segments,
                "duration": m.duration,
            }
        )
    tmp = hls_dir / f".{name}.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, hls_dir / name)
    return stats


def rendition_files(hls_dir: str | Path, playlists: Sequence[str]) -> list[str]:
    """All files (relative to ``hls_dir``) referenced by the given media playlists."""
    out: list[str] = []
    for p in playlists:
        out += measure_playlist(hls_dir, p).files
    return out
