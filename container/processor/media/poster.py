"""Video poster: ffmpeg's ``thumbnail`` filter picks a representative early keyframe.

ffmpeg decodes only the *keyframes* (``-skip_frame nokey``) of the first
:data:`POSTER_WINDOW` seconds — phones and cameras put one every 0.5–2 s, and decoding
those is ~30x cheaper than decoding every frame, which matters because the poster is made
while the upper rungs are still encoding. Frames are scaled to the viewer size (LOG LUT
applied if any), converted to RGB with the source's matrix, and the most representative of
up to :data:`CANDIDATES` is piped out; Pillow writes the viewer and grid JPEGs and the
ThumbHash placeholder (same format as still images).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .ffrun import FFMPEG, run_tool_bytes
from .hls import color_matrix, even_dim
from .image import thumbhash_placeholder
from .result import MediaError, MediaOutput

VIEWER_LONG_SIDE = 1280
GRID_LONG_SIDE = 480
POSTER_WINDOW = 30.0  # seconds from the start whose keyframes are candidates
CANDIDATES = 20  # keyframes compared by `thumbnail` (buffered at viewer size)
#: The fast lane's early poster (a queued video's, while photos may wait for the same slot):
#: the keyframes of the first 3 s only — 0.35 s vs 1.0 s wall for 30 s of 1080p H.264 with a
#: 1 s GOP on the loaded 2-core box. The transcode's own poster (full window) replaces it.
QUICK_WINDOW = 3.0
QUICK_CANDIDATES = 3
JPEG_QUALITY = 85
VIEWER = "preview/viewer.jpg"
GRID = "preview/grid.jpg"


@dataclass
class Poster:
    outputs: list[MediaOutput]
    preview: str
    thumbnail: str
    placeholder: str
    sizes: dict[str, list[int]]


def fit_even(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Scale (never up) so the long side fits ``long_side``; even dimensions."""
    scale = min(1.0, long_side / max(width, height))
    return even_dim(width * scale), even_dim(height * scale)


def make_poster(
    src: str | Path, out_dir: str | Path, info: dict, *, lut: str | None = None, quick: bool = False
) -> Poster:
    """Write ``preview/viewer.jpg`` (≤1280 px long side) and ``preview/grid.jpg`` (≤480 px).

    ``quick``: candidates from the first :data:`QUICK_WINDOW` seconds only (the early poster)."""
    out = Path(out_dir)
    (out / "preview").mkdir(parents=True, exist_ok=True)
    w, h = fit_even(info["display_width"], info["display_height"], VIEWER_LONG_SIDE)
    window = min(QUICK_WINDOW if quick else POSTER_WINDOW, max(float(info["duration"]), 0.1))
    candidates = QUICK_CANDIDATES if quick else CANDIDATES
    matrix = color_matrix(info)
    # keyframes alone cannot feed a temporal deinterlacer: keep one field (spatial only)
    chain = ["field=top"] if info.get("interlaced") else []
    chain += [f"scale={w}:{h}:in_color_matrix={matrix}", "setsar=1"]
    if lut is not None:
        chain += ["format=rgb48le", f"lut3d=file={lut}:interp=tetrahedral"]
    chain += ["format=rgb24", f"thumbnail=n={candidates}"]
    cmd = [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-skip_frame", "nokey", "-t", f"{window:.3f}"]
    cmd += ["-an", "-sn", "-dn", "-i", str(src), "-map", f"0:{info.get('video_stream_index', 'v:0')}"]
    cmd += ["-vf", ",".join(chain), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    raw = run_tool_bytes(cmd, timeout=60 + window, what="poster", paths=[str(src)])
    if len(raw) < w * h * 3:
        raise MediaError("poster: the video has no decodable frame in its first seconds")
    viewer = Image.frombytes("RGB", (w, h), raw[: w * h * 3])
    gw, gh = fit_even(w, h, GRID_LONG_SIDE)
    grid = viewer.resize((gw, gh), Image.Resampling.LANCZOS, reducing_gap=3.0) if (gw, gh) != (w, h) else viewer
    viewer.save(out / VIEWER, "JPEG", quality=JPEG_QUALITY, progressive=True)
    grid.save(out / GRID, "JPEG", quality=JPEG_QUALITY, progressive=True)
    return Poster(
        outputs=[MediaOutput(VIEWER, "image/jpeg"), MediaOutput(GRID, "image/jpeg")],
        preview=VIEWER,
        thumbnail=GRID,
        placeholder=thumbhash_placeholder(grid),
        sizes={"viewer": [w, h], "grid": [gw, gh]},
    )
