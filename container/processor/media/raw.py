"""Camera RAW (CR2, CR3, NEF, ARW, DNG, RAF, ORF, RW2, … — whatever LibRaw reads) → previews.

Preview source, chosen per file (recorded as ``metadata["preview_source"]``):

1. **Embedded preview** (``extract_thumb()``, ~0.1 ms; most cameras embed a full-size
   JPEG). Used when it is big enough — its long side is at least the viewer size, or,
   for RAWs smaller than the viewer size, at least 90 % of the RAW's own long side — and
   its aspect ratio is within 5 % of the developed image's (some cameras pad previews
   with black bars). Same idea as Immich's "extract embedded preview" option. JPEGs are
   decoded with Pillow ``draft()`` straight to about the viewer size; bitmap thumbnails
   are taken as is. LibRaw's ``sizes.flip`` is applied (the embedded preview is stored
   in sensor orientation; its own EXIF orientation is ignored).
2. **Half-size demosaic** otherwise: ``postprocess(half_size=True, use_camera_wb=True,
   output_bps=8)`` — LibRaw already applies the flip and renders BT.709-gamma sRGB.

Previews are written by :func:`image.write_previews` (same sizes/formats as images);
camera metadata comes from :mod:`.metadata` (ExifTool reads every RAW format LibRaw does).
LibRaw failures become :class:`MediaError` with a readable reason.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rawpy
from mediagate import contracts
from PIL import Image

from .image import OnThumbnail, decode, decode_errors, fit, write_previews
from .metadata import exif_fields
from .result import MediaError, ProcessResult

#: Extensions routed here (the shared contract; LibRaw sniffs the content itself).
RAW_EXTENSIONS = frozenset(contracts.RAW_EXTENSIONS)
#: Largest accepted RAW (developed pixels). Above the image limit: medium-format sensors
#: reach 100–150 MP, and RAW file size grows with the pixel count (no bomb ratio).
MAX_RAW_PIXELS = int(os.environ.get("MEDIAGATE_MAX_RAW_PIXELS", "250000000"))
MIN_PREVIEW_FRACTION = 0.9  # of the RAW's long side, when that is below the viewer size
MAX_ASPECT_DIFF = 0.05

_LIBRAW_REASONS: list[tuple[type[Exception], str]] = [
    (rawpy.LibRawFileUnsupportedError, "not a RAW format LibRaw can read"),
    (rawpy.LibRawIOError, "RAW file is truncated or unreadable"),
    (rawpy.LibRawDataError, "RAW file data is corrupt"),
    (rawpy.LibRawRequestForNonexistentImageError, "RAW file has no image"),
    (rawpy.LibRawTooBigError, "RAW image is too large to process"),
    (rawpy.LibRawUnsufficientMemoryError, "not enough memory to decode this RAW file"),
    (rawpy.LibRawMemPoolOverflowError, "RAW file needs too much memory to decode"),
    (rawpy.LibRawBadCropError, "RAW file has an invalid crop"),
    (rawpy.LibRawCancelledByCallbackError, "RAW decoding was cancelled"),
]


def _libraw_message(exc: Exception) -> str:
    """LibRaw error text (rawpy passes it as bytes)."""
    arg = exc.args[0] if exc.args else ""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return text.strip() or type(exc).__name__


def raw_error(exc: Exception) -> MediaError:
    """Map a rawpy/LibRaw exception to a MediaError with a readable reason."""
    for cls, reason in _LIBRAW_REASONS:
        if isinstance(exc, cls):
            return MediaError(f"{reason} ({_libraw_message(exc)})")
    return MediaError(f"RAW decoding failed: {_libraw_message(exc)}")


# --- helpers -------------------------------------------------------------------------


def apply_flip(img: Image.Image, flip: int) -> Image.Image:
    """Apply LibRaw's ``sizes.flip`` (dcraw bits: 1 = mirror x, 2 = mirror y, 4 = transpose).

    Cameras use 0 (none), 3 (180°), 5 (90° counter-clockwise), 6 (90° clockwise).
    """
    if flip & 2:
        img = img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    if flip & 1:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if flip & 4:
        img = img.transpose(Image.Transpose.TRANSPOSE)
    return img


def _embedded_preview(
    raw: rawpy.RawPy, viewer_size: int, full_size: tuple[int, int]
) -> tuple[Image.Image | None, dict[str, Any]]:
    """The embedded preview if usable (see module doc), plus info on what was found."""
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None, {"found": False}
    except rawpy.LibRawError as exc:
        return None, {"found": False, "error": _libraw_message(exc)}
    info: dict[str, Any] = {"found": True}
    img: Image.Image
    try:
        with decode_errors("embedded preview"):
            if thumb.format == rawpy.ThumbFormat.JPEG:
                info["format"] = "jpeg"
                with warnings.catch_warnings():
                    # A full-size preview of a >100 MP sensor is legitimate: the RAW's own
                    # size was checked against MAX_RAW_PIXELS (Pillow still errors at 2x).
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    # rawpy gives bytes for a JPEG thumbnail, an array for a bitmap one.
                    img = Image.open(io.BytesIO(thumb.data), formats=["JPEG"])  # type: ignore[arg-type]
                if img.width * img.height > MAX_RAW_PIXELS:
                    raise MediaError(f"embedded preview too large ({img.width}x{img.height})")
            else:
                info["format"] = "bitmap"
                img = Image.fromarray(np.ascontiguousarray(thumb.data, dtype=np.uint8))
    except MediaError as exc:
        return None, {**info, "rejected": str(exc)}
    tw, th = img.size
    info.update(width=tw, height=th)
    fw, fh = full_size
    need = min(viewer_size, MIN_PREVIEW_FRACTION * max(fw, fh))
    if max(tw, th) < need:
        info["rejected"] = f"too small (long side {max(tw, th)} < {round(need)})"
        return None, info
    if fh and th and abs((tw / th) / (fw / fh) - 1) > MAX_ASPECT_DIFF:
        info["rejected"] = f"aspect ratio {tw}x{th} differs from the RAW's {fw}x{fh}"
        return None, info
    try:
        with decode_errors("embedded preview"):
            img = decode(img, viewer_size).convert("RGB")
    except MediaError as exc:
        info["rejected"] = str(exc)
        return None, info
    return apply_flip(fit(img, viewer_size), raw.sizes.flip), info


# --- entry point ---------------------------------------------------------------------


def process_raw(
    src: str | Path,
    out_dir: str | Path,
    *,
    grid_size: int = 480,
    viewer_size: int = 2048,
    log_curve: str | None = None,
    on_thumbnail: OnThumbnail | None = None,
) -> ProcessResult:
    """Make previews, placeholder and camera metadata for one RAW file.

    ``log_curve`` marks a camera set to a LOG picture profile: it is applied to the
    embedded preview (which the camera rendered in that profile) but not to a LibRaw
    demosaic, which renders Rec.709 from sensor data itself; ``metadata["color"]`` says
    which. Raises :class:`MediaError` for files LibRaw cannot read.
    """
    curve = None
    if log_curve is not None:
        from .log import color_metadata, normalize_curve

        curve = normalize_curve(log_curve)
    if os.stat(src).st_size == 0:
        raise MediaError("empty file (0 bytes)")
    try:
        raw = rawpy.imread(str(src))
    except rawpy.LibRawError as exc:
        raise raw_error(exc) from exc
    with raw:
        s = raw.sizes
        width, height = (s.height, s.width) if s.flip & 4 else (s.width, s.height)
        if width <= 0 or height <= 0:
            raise MediaError(f"RAW file has invalid dimensions {s.width}x{s.height}")
        if width * height > MAX_RAW_PIXELS:
            raise MediaError(f"RAW image is too large to process: {width}x{height} exceeds {MAX_RAW_PIXELS:,} pixels")
        img, thumb_info = _embedded_preview(raw, viewer_size, (s.width, s.height))
        source = f"embedded_{thumb_info.get('format')}"
        if img is None:
            source = "half_size_demosaic"
            try:
                rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
            except rawpy.LibRawError as exc:
                raise raw_error(exc) from exc
            img = Image.fromarray(rgb)
        camera = exif_fields(src)
        dng_version = camera["exif"].pop("dng_version", None)
        metadata: dict[str, Any] = {
            "kind": "raw",
            "format": "DNG" if dng_version else Path(src).suffix[1:].upper(),
            "width": width,
            "height": height,
            "raw_width": s.raw_width,
            "raw_height": s.raw_height,
            "flip": s.flip,
            "cfa": raw.color_desc.decode("ascii", "replace"),
            "preview_source": source,
            "embedded_preview": thumb_info,
            **camera,
        }
        if dng_version:
            metadata["dng_version"] = dng_version
    embedded = source.startswith("embedded")
    previews = write_previews(
        img,
        out_dir,
        grid_size=grid_size,
        viewer_size=viewer_size,
        log_curve=curve if embedded else None,
        on_thumbnail=on_thumbnail,
    )
    metadata["previews"] = previews.sizes
    if curve:
        if embedded:
            metadata["color"] = {**color_metadata(curve), "applied_to": "embedded_preview"}
        else:
            metadata["color"] = {
                "source_curve": "camera_raw",
                "output": "Rec.709",
                "log_curve_ignored": curve,
            }
    return ProcessResult(
        outputs=previews.outputs,
        metadata=metadata,
        preview=previews.preview,
        thumbnail=previews.thumbnail,
        placeholder=previews.placeholder,
    )
