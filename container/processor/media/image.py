"""Still images (JPEG, PNG, WebP and the other safe Pillow formats) → web previews.

Each image yields four previews — grid (default 480 px long side) and viewer (2048 px)
in both WebP and JPEG, never upscaled, EXIF orientation applied, colour converted to
untagged sRGB (embedded ICC profiles honoured) and alpha flattened on white for JPEG —
plus a ThumbHash placeholder and JSON-safe metadata (dimensions, format; camera, lens,
date and GPS from :mod:`.metadata`).

Untrusted input is bounded: only the formats in :data:`SAFE_FORMATS` are opened, Pillow's
decompression-bomb guard is on (:data:`MAX_IMAGE_PIXELS`, env
``MEDIAGATE_MAX_IMAGE_PIXELS``; its warning is raised as an error process-wide) and any
decoder failure becomes a :class:`MediaError` with a readable reason.
:func:`write_previews` is shared with the RAW module.
"""

from __future__ import annotations

import base64
import io
import math
import os
import struct
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import thumbhash
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .metadata import exif_fields
from .result import MediaError, MediaOutput, ProcessResult

#: Largest accepted image, in pixels (100 MP by default).
MAX_IMAGE_PIXELS = int(os.environ.get("MEDIAGATE_MAX_IMAGE_PIXELS", "100000000"))
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# Pillow only *warns* between 1x and 2x the limit; make that an error too.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

#: Pillow plugins we let parse uploads (no EPS/PDF/PSD/etc. attack surface).
SAFE_FORMATS = (
    "JPEG",
    "MPO",
    "PNG",
    "WEBP",
    "GIF",
    "TIFF",
    "BMP",
    "AVIF",
    "HEIF",
    "JPEG2000",
    "PPM",
)
WEBP_QUALITY = 80
JPEG_QUALITY = 85
PLACEHOLDER_SIZE = 32  # ThumbHash keeps ≤7 DCT terms per axis; 32 px is plenty (max 100)
GRID = "preview/grid"
VIEWER = "preview/viewer"
#: ``on_thumbnail(path relative to out_dir, placeholder)``: the grid thumbnail is written.
OnThumbnail = Callable[[str, str], None]

_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    TypeError,
    ZeroDivisionError,
)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass
class Previews:
    """What :func:`write_previews` produced."""

    outputs: list[MediaOutput]
    preview: str
    thumbnail: str
    placeholder: str | None
    sizes: dict[str, list[int]]


def _open_formats() -> list[str]:
    """:data:`SAFE_FORMATS` that this Pillow build can open (e.g. no HEIF without plugin)."""
    Image.init()
    return [f for f in SAFE_FORMATS if f in Image.OPEN]


@contextmanager
def decode_errors(what: str = "image") -> Iterator[None]:
    """Turn Pillow's failures on bad input into :class:`MediaError` with a clear reason."""
    try:
        yield
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(f"{what} is too large to process (limit {Image.MAX_IMAGE_PIXELS:,} pixels): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise MediaError(f"not a supported {what} file (accepted: {', '.join(SAFE_FORMATS)})") from exc
    except _DECODE_ERRORS as exc:
        detail = str(exc) or type(exc).__name__
        if "truncated" in detail.lower():
            raise MediaError(f"{what} file is truncated: {detail}") from exc
        raise MediaError(f"{what} file is corrupt or unreadable: {detail}") from exc


def open_image(src: str | Path, *, max_pixels: int | None = None) -> Image.Image:
    """Open (header only) an untrusted image, enforcing the format list and pixel limit."""
    size = os.stat(src).st_size  # a missing file is our bug, not bad media: let it raise
    if size == 0:
        raise MediaError("empty file (0 bytes)")
    limit = min(max_pixels or MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS)
    with decode_errors():
        im = Image.open(src, formats=_open_formats())
    w, h = im.size
    if w <= 0 or h <= 0:
        raise MediaError(f"image has invalid dimensions {w}x{h}")
    if w * h > limit:
        im.close()
        raise MediaError(f"image is too large to process: {w}x{h} exceeds {limit:,} pixels")
    return im


def decode(im: Image.Image, long_side: int) -> Image.Image:
    """Load pixel data, letting JPEG decode at a reduced scale (``draft``) ≥ ``long_side``."""
    w, h = im.size
    if im.format in ("JPEG", "MPO") and max(w, h) > long_side:
        scale = long_side / max(w, h)
        im.draft(None, (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
    with decode_errors():
        im.load()
    return im


def normalize_mode(im: Image.Image) -> Image.Image:
    """Bring any Pillow mode to one of RGB, RGBA, L, LA or CMYK (resizable, savable)."""
    mode = im.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return im
    if mode in ("P", "PA"):
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I") or mode == "F":  # 16/32-bit greyscale (e.g. 16-bit PNG)
        arr = np.asarray(im, dtype=np.float32)
        peak = 65535.0 if mode.startswith("I;16") or float(arr.max(initial=0)) > 255 else 255.0
        if mode == "F" and float(arr.max(initial=0)) <= 1.0:
            peak = 1.0
        return Image.fromarray(np.clip(arr * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8), "L")
    if mode in ("RGBa", "La"):
        return im.convert(mode.upper())
    return im.convert("RGB")


def fit(img: Image.Image, long_side: int) -> Image.Image:
    """Scale down so the long side is ``long_side`` (never up). Returns ``img`` if it fits."""
    w, h = img.size
    if max(w, h) <= long_side:
        return img
    scale = long_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def to_srgb(img: Image.Image, icc_profile: bytes | None) -> tuple[Image.Image, str | None]:
    """Return an RGB/RGBA image in sRGB (via the embedded ICC profile when there is one).

    Also returns the embedded profile's description (None without a profile). A broken
    profile is ignored rather than failing the upload.
    """
    desc = None
    if icc_profile:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            desc = ImageCms.getProfileDescription(src).strip() or "embedded"
            if img.mode in ("RGB", "RGBA", "CMYK") and "srgb" not in desc.lower():
                out_mode = "RGBA" if img.mode == "RGBA" else "RGB"
                converted = ImageCms.profileToProfile(
                    img, src, _SRGB, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode=out_mode
                )
                if converted is not None:
                    img = converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass
    if img.mode == "LA":
        return img.convert("RGBA"), desc
    if img.mode not in ("RGB", "RGBA"):
        return img.convert("RGB"), desc
    return img, desc


def flatten(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Composite an RGBA image over an opaque background (for JPEG); RGB passes through."""
    if img.mode != "RGBA":
        return img if img.mode == "RGB" else img.convert("RGB")
    base = Image.new("RGB", img.size, background)
    base.paste(img, mask=img.getchannel("A"))
    return base


def thumbhash_placeholder(img: Image.Image) -> str:
    """Base64 ThumbHash of ``img`` (downscaled to :data:`PLACEHOLDER_SIZE` px first).

    Alpha is flattened on white first: PyPI ``thumbhash`` 0.1.2 crashes on (and would
    mis-encode) translucent pixels, and the grid JPEG is flattened the same way.
    """
    small = flatten(fit(img, PLACEHOLDER_SIZE)).convert("RGBA")
    hash_bytes = thumbhash.rgba_to_thumb_hash(small.width, small.height, list(small.tobytes()))
    return base64.b64encode(bytes(hash_bytes)).decode("ascii")


def write_previews(
    img: Image.Image,
    out_dir: str | Path,
    *,
    grid_size: int = 480,
    viewer_size: int = 2048,
    log_curve: str | None = None,
    on_thumbnail: OnThumbnail | None = None,
) -> Previews:
    """Write grid/viewer previews (WebP + JPEG each) of an oriented RGB/RGBA image.

    ``log_curve`` (already validated) converts log-encoded pixels to Rec.709 first.
    Files land in ``out_dir/preview/``; returned paths are relative to ``out_dir``.
    The grid WebP and the placeholder come first and are handed to ``on_thumbnail(path,
    placeholder)`` before the viewer size is encoded: the grid shows a photo's thumbnail at
    ~45 % of its CPU (the 2048 px WebP is the largest single cost).
    """
    out = Path(out_dir)
    (out / "preview").mkdir(parents=True, exist_ok=True)
    viewer = fit(img, viewer_size)
    if log_curve is not None:
        from .log import apply_log_lut  # local: OCIO only needed for LOG uploads

        viewer = apply_log_lut(flatten(viewer), log_curve)
    grid = fit(viewer, grid_size)
    placeholder = thumbhash_placeholder(grid)
    outputs: list[MediaOutput] = []
    for stem, im in ((GRID, grid), (VIEWER, viewer)):
        im.save(out / f"{stem}.webp", "WEBP", quality=WEBP_QUALITY, method=4)
        outputs.append(MediaOutput(f"{stem}.webp", "image/webp"))
        if stem == GRID and on_thumbnail is not None:
            on_thumbnail(f"{GRID}.webp", placeholder)
        flatten(im).save(out / f"{stem}.jpg", "JPEG", quality=JPEG_QUALITY, progressive=True)
        outputs.append(MediaOutput(f"{stem}.jpg", "image/jpeg"))
    return Previews(
        outputs=outputs,
        preview=f"{VIEWER}.webp",
        thumbnail=f"{GRID}.webp",
        placeholder=placeholder,
        sizes={"viewer": list(viewer.size), "grid": list(grid.size)},
    )


# --- entry point ----------------------------------------------------------------------


def process_image(
    src: str | Path,
    out_dir: str | Path,
    *,
    grid_size: int = 480,
    viewer_size: int = 2048,
    log_curve: str | None = None,
    max_pixels: int | None = None,
    on_thumbnail: OnThumbnail | None = None,
) -> ProcessResult:
    """Make previews, placeholder and metadata for one still image.

    ``log_curve`` (e.g. "slog3", from upload metadata ``colorspace``) marks a LOG still:
    pixels are converted to Rec.709 and ``metadata["color"]`` records it.
    Raises :class:`MediaError` for bad, unsupported or oversized images.
    """
    curve = None
    if log_curve is not None:
        from .log import color_metadata, normalize_curve

        curve = normalize_curve(log_curve)
    im = open_image(src, max_pixels=max_pixels)
    with im:
        fmt, mode, (w, h) = im.format, im.mode, im.size
        frames = getattr(im, "n_frames", 1)
        with decode_errors():
            orientation = im.getexif().get(0x0112, 1)
        icc = im.info.get("icc_profile")
        decode(im, viewer_size)
        with decode_errors():
            oriented = ImageOps.exif_transpose(im) or im
            img = fit(normalize_mode(oriented), viewer_size)
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    img, icc_desc = to_srgb(img, None if curve else icc)
    # One band's extrema are (min, max); Pillow's annotation also covers multi-band images.
    has_alpha = img.mode == "RGBA" and img.getchannel("A").getextrema()[0] < 255  # type: ignore[operator]
    if not has_alpha and img.mode == "RGBA":
        img = img.convert("RGB")
    previews = write_previews(
        img, out_dir, grid_size=grid_size, viewer_size=viewer_size, log_curve=curve, on_thumbnail=on_thumbnail
    )
    metadata: dict[str, Any] = {
        "kind": "image",
        "format": fmt,
        "mode": mode,
        "width": w,
        "height": h,
        "orientation": orientation if isinstance(orientation, int) else 1,
        "has_alpha": has_alpha,
        "icc_profile": icc_desc,
        **exif_fields(src),
        "previews": previews.sizes,
    }
    if frames > 1:
        metadata["frames"] = frames
    if curve:
        metadata["color"] = color_metadata(curve)
    return ProcessResult(
        outputs=previews.outputs,
        metadata=metadata,
        preview=previews.preview,
        thumbnail=previews.thumbnail,
        placeholder=previews.placeholder,
    )
