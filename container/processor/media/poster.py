"""Video poster: ffmpeg's ``thumbnail`` filter picks a representative early frame.

ffmpeg decodes only the first :data:`POSTER_WINDOW` seconds, samples them at
:data:`SAMPLE_FPS`, scales to the viewer size (and applies the LOG LUT if any), converts to
RGB with the source's matrix and pipes one raw frame out; Pillow writes the viewer and grid
JPEGs and the ThumbHash placeholder (same format as still images).
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
POSTER_WINDOW = 8.0  # seconds decoded from the start
SAMPLE_FPS = 3  # frames per second considered by `thumbnail`
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


def make_poster(src: str | Path, out_dir: str | Path, info: dict, *, lut: str | None = None) -> Poster:
    """Write ``preview/viewer.jpg`` (≤1280 px long side) and ``preview/grid.jpg`` (≤480 px)."""
    out = Path(out_dir)
    (out / "preview").mkdir(parents=True, exist_ok=True)
    w, h = fit_even(info["display_width"], info["display_height"], VIEWER_LONG_SIDE)
    window = min(POSTER_WINDOW, max(float(info["duration"]), 0.1))
    frames = max(1, int(window * SAMPLE_FPS))
    matrix = color_matrix(info)
    chain = ["bwdif=mode=send_frame"] if info.get("interlaced") else []
    chain += [f"fps={SAMPLE_FPS}", f"scale={w}:{h}:in_color_matrix={matrix}", "setsar=1"]
    if lut is not None:
        chain += ["format=rgb48le", f"lut3d=file={lut}:interp=tetrahedral"]
    chain += ["format=rgb24", f"thumbnail=n={frames}"]
    cmd = [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-t", f"{window:.3f}", "-an", "-sn", "-dn"]
    cmd += [
        "-i",
        str(src),
        "-map",
        f"0:{info.get('video_stream_index', 'v:0')}",
        "-vf",
        ",".join(chain),
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "pipe:1",
    ]
    raw = run_tool_bytes(cmd, timeout=60 + window * 10, what="poster", paths=[str(src)])
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
