"""Generators of real test media for the image/RAW/LOG processors (also used by bench/).

Everything is made here from scratch with Pillow, pidng and colour-science: JPEG/PNG/WebP
with EXIF orientation and camera tags, DNGs holding a synthetic Bayer mosaic (optionally
with an embedded JPEG or bitmap preview and an EXIF IFD), S-Log3 stills, broken files.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

RED, GREEN, BLUE, WHITE = (220, 20, 20), (20, 200, 20), (20, 20, 220), (250, 250, 250)
QUADRANTS = {"tl": RED, "tr": GREEN, "bl": BLUE, "br": WHITE}


def quadrant_image(width: int, height: int) -> np.ndarray:
    """uint8 (h, w, 3): top-left red, top-right green, bottom-left blue, bottom-right white."""
    arr = np.empty((height, width, 3), np.uint8)
    hh, hw = height // 2, width // 2
    arr[:hh, :hw], arr[:hh, hw:] = RED, GREEN
    arr[hh:, :hw], arr[hh:, hw:] = BLUE, WHITE
    return arr


def quadrant_colors(img: Image.Image) -> dict[str, tuple[int, ...]]:
    """Colour sampled at the centre of each quadrant of ``img`` (RGB)."""
    rgb = img.convert("RGB")
    w, h = rgb.size
    points = {"tl": (w // 4, h // 4), "tr": (3 * w // 4, h // 4)}
    points |= {"bl": (w // 4, 3 * h // 4), "br": (3 * w // 4, 3 * h // 4)}
    return {k: rgb.getpixel(p) for k, p in points.items()}


# EXIF orientation → how a viewer turns the *stored* pixels into the displayed picture,
# written from the EXIF spec's wording (exiftool names), independent of Pillow's table.
ORIENTATION_TO_DISPLAY = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirror horizontal
    3: lambda a: a[::-1, ::-1],  # rotate 180
    4: lambda a: a[::-1, :],  # mirror vertical
    5: lambda a: np.rot90(a[:, ::-1], 1),  # mirror horizontal, rotate 270 CW
    6: lambda a: np.rot90(a, -1),  # rotate 90 CW
    7: lambda a: np.rot90(a[:, ::-1], -1),  # mirror horizontal, rotate 90 CW
    8: lambda a: np.rot90(a, 1),  # rotate 270 CW
}


def stored_for_display(display: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels that, tagged with ``orientation``, display as ``display``."""
    forward = ORIENTATION_TO_DISPLAY[orientation]
    for candidate in (
        display,
        display[:, ::-1],
        display[::-1, ::-1],
        display[::-1, :],
        np.rot90(display, 1),
        np.rot90(display, -1),
        np.rot90(display[:, ::-1], 1),
        np.rot90(display[:, ::-1], -1),
    ):
        if forward(candidate).shape == display.shape and np.array_equal(forward(candidate), display):
            return np.ascontiguousarray(candidate)
    raise AssertionError(f"no inverse for orientation {orientation}")


def camera_exif(orientation: int = 1, *, gps: bool = True) -> Image.Exif:
    """EXIF with camera, lens, exposure, date and (optionally) GPS tags."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Mediagate"
    exif[0x0110] = "TestCam X100"
    sub = exif.get_ifd(0x8769)
    sub[0x829A] = IFDRational(1, 250)  # ExposureTime
    sub[0x829D] = IFDRational(28, 10)  # FNumber
    sub[0x8827] = 400  # ISO
    sub[0x9003] = "2024:05:06 07:08:09"  # DateTimeOriginal
    sub[0x9011] = "+02:00"  # OffsetTimeOriginal
    sub[0x920A] = IFDRational(50, 1)  # FocalLength
    sub[0xA434] = "Mediagate 50mm F2.8"  # LensModel
    if gps:
        g = exif.get_ifd(0x8825)
        g[1], g[2] = "N", (IFDRational(52), IFDRational(31), IFDRational(12))
        g[3], g[4] = "W", (IFDRational(1), IFDRational(30), IFDRational(0))
        g[5], g[6] = b"\x00", IFDRational(1234, 10)
    return exif


def write_image(path: Path, arr: np.ndarray, *, exif: Image.Exif | None = None, **save) -> Path:
    """Save an array with Pillow; format from the suffix (JPEG/PNG/WebP)."""
    img = Image.fromarray(arr)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}[path.suffix.lower()]
    if fmt in ("JPEG", "WEBP"):
        save.setdefault("quality", 95)
    if exif is not None:
        save["exif"] = exif.tobytes()
    img.save(path, fmt, **save)
    return path


def write_oriented(path: Path, display: np.ndarray, orientation: int) -> Path:
    """An image file whose pixels, once ``orientation`` is applied, show ``display``."""
    return write_image(path, stored_for_display(display, orientation), exif=camera_exif(orientation))


def png_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A tiny, valid-looking PNG whose header claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


# --- DNG ------------------------------------------------------------------------------


def bayer_mosaic(rgb: np.ndarray, black: int = 256, white: int = 65535) -> np.ndarray:
    """RGGB uint16 mosaic of a linear float RGB image (values 0–1)."""
    h, w, _ = rgb.shape
    mosaic = np.empty((h, w), np.float32)
    mosaic[0::2, 0::2] = rgb[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = rgb[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = rgb[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = rgb[1::2, 1::2, 2]
    return (black + np.clip(mosaic, 0, 1) * (white - black)).astype(np.uint16)


_TYPE_FMT = {1: "B", 2: "s", 3: "H", 4: "I", 5: "II", 7: "B"}
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}


def _append_ifd(buf: bytearray, entries: list[tuple[int, int, object]], next_ifd: int = 0) -> int:
    """Append a TIFF IFD (tag, type, values) with its out-of-line data; return its offset."""
    while len(buf) % 4:
        buf.append(0)
    start = len(buf)
    entries = sorted(entries, key=lambda e: e[0])
    data_at = start + 2 + 12 * len(entries) + 4
    head, data = struct.pack("<H", len(entries)), bytearray()
    for tag, typ, value in entries:
        if typ == 2:
            raw = str(value).encode("ascii") + b"\0"
            count = len(raw)
        else:
            values = list(value) if isinstance(value, list | tuple) else [value]
            count = len(values)
            flat = [x for v in values for x in (v if typ == 5 else (v,))]
            raw = struct.pack("<" + _TYPE_FMT[typ][0] * len(flat), *flat)
        if len(raw) <= 4:
            head += struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\0")
        else:
            head += struct.pack("<HHII", tag, typ, count, data_at + len(data))
            data += raw + (b"\0" if len(raw) % 2 else b"")
    buf += head + struct.pack("<I", next_ifd) + data
    return start


def write_dng(
    path: Path,
    rgb_linear: np.ndarray,
    *,
    orientation: int = 1,
    preview: Image.Image | None = None,
    preview_kind: str = "jpeg",
    make: str = "Mediagate",
    model: str = "Synth 1",
) -> Path:
    """A 16-bit uncompressed DNG (pidng) of a Bayer mosaic of ``rgb_linear`` (h, w, 3).

    Adds EXIF (ISO, date, lens) and GPS IFDs and, optionally, a preview IFD (``preview`` in
    sensor orientation, as JPEG or uncompressed 8-bit RGB "bitmap") chained after IFD0,
    where LibRaw's ``extract_thumb()`` finds it.
    """
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import CalibrationIlluminant, CFAPattern, PhotometricInterpretation

    h, w, _ = rgb_linear.shape
    t = DNGTags()
    for tag, value in (
        (Tag.ImageWidth, w),
        (Tag.ImageLength, h),
        (Tag.TileWidth, w),
        (Tag.TileLength, h),
        (Tag.Orientation, orientation),
        (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
        (Tag.SamplesPerPixel, 1),
        (Tag.BitsPerSample, 16),
        (Tag.CFARepeatPatternDim, [2, 2]),
        (Tag.CFAPattern, CFAPattern.RGGB),
        (Tag.BlackLevel, 256),
        (Tag.WhiteLevel, 65535),
        (Tag.ColorMatrix1, [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1], [1, 1]]),
        (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
        (Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]),
        (Tag.Make, make),
        (Tag.Model, model),
        (Tag.UniqueCameraModel, f"{make} {model}"),
        (Tag.ExposureTime, [[1, 250]]),
        (Tag.FNumber, [[28, 10]]),
        (Tag.FocalLength, [[50, 1]]),
        (Tag.DateTime, "2024:05:06 07:08:09"),
        (Tag.Artist, "Ada Lovelace"),
    ):
        t.set(tag, value)
    writer = RAW2DNG()
    writer.options(t, path="", compress=False)
    buf = bytearray(writer.convert(bayer_mosaic(rgb_linear)))

    # Rewrite IFD0 at the end with an ExifIFD pointer added, then chain the preview IFD.
    ifd0 = struct.unpack_from("<I", buf, 4)[0]
    n = struct.unpack_from("<H", buf, ifd0)[0]
    old_entries = [bytes(buf[ifd0 + 2 + 12 * i : ifd0 + 14 + 12 * i]) for i in range(n)]
    exif_ifd = _append_ifd(
        buf,
        [
            (0x8827, 3, 400),  # ISO
            (0x9003, 2, "2024:05:06 07:08:09"),
            (0x829A, 5, [(1, 250)]),
            (0x829D, 5, [(28, 10)]),
            (0x920A, 5, [(50, 1)]),
            (0xA433, 2, "Mediagate Optics"),
            (0xA434, 2, "Mediagate 50mm F2.8"),
        ],
    )
    gps_ifd = _append_ifd(
        buf,
        [
            (1, 2, "N"),
            (2, 5, [(52, 1), (31, 1), (12, 1)]),
            (3, 2, "W"),
            (4, 5, [(1, 1), (30, 1), (0, 1)]),
            (6, 5, [(1234, 10)]),
        ],
    )
    preview_ifd = 0
    if preview is not None:
        pv = preview.convert("RGB")
        if preview_kind == "jpeg":
            out = io.BytesIO()
            pv.save(out, "JPEG", quality=92)
            strip, comp, photometric = out.getvalue(), 7, 6
        else:
            strip, comp, photometric = pv.tobytes(), 1, 2
        while len(buf) % 4:
            buf.append(0)
        strip_at = len(buf)
        buf += strip
        preview_ifd = _append_ifd(
            buf,
            [
                (254, 4, 1),  # NewSubfileType: reduced-resolution image
                (256, 4, pv.width),
                (257, 4, pv.height),
                (258, 3, [8, 8, 8]),
                (259, 3, comp),
                (262, 3, photometric),
                (273, 4, strip_at),
                (277, 3, 3),
                (278, 4, pv.height),
                (279, 4, len(strip)),
                (284, 3, 1),
            ],
        )
    while len(buf) % 4:
        buf.append(0)
    new_ifd0 = len(buf)
    entries = [*old_entries, struct.pack("<HHII", 34665, 4, 1, exif_ifd), struct.pack("<HHII", 34853, 4, 1, gps_ifd)]
    entries.sort(key=lambda e: struct.unpack_from("<H", e)[0])
    buf += struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", preview_ifd)
    struct.pack_into("<I", buf, 4, new_ifd0)
    path.write_bytes(bytes(buf))
    return path


def scene_linear(width: int, height: int) -> np.ndarray:
    """Linear RGB test scene: left half red, right half blue, a grey band at the top."""
    rgb = np.zeros((height, width, 3), np.float32)
    rgb[:, : width // 2] = (0.6, 0.05, 0.05)
    rgb[:, width // 2 :] = (0.05, 0.1, 0.6)
    rgb[: height // 8] = 0.18
    return rgb


# --- LOG ------------------------------------------------------------------------------


def slog3_still(path: Path, width: int = 256, height: int = 128) -> Path:
    """An S-Log3 encoded still: grey ramp (top half) and an 18 % grey patch (bottom half).

    The ramp goes from 1/64 to 4x of 18 % grey, evenly in stops, left to right.
    """
    import warnings

    with warnings.catch_warnings():  # "SciPy/Matplotlib not available" notices
        warnings.simplefilter("ignore")
        import colour

    stops = np.linspace(-6, 4.5, width, dtype=np.float64)
    ramp = 0.18 * 2.0**stops
    lin = np.empty((height, width), np.float64)
    lin[: height // 2] = ramp
    lin[height // 2 :] = 0.18
    code = np.asarray(colour.models.log_encoding_SLog3(lin))
    arr = np.repeat((np.clip(code, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=2)
    Image.fromarray(arr).save(path, "PNG")
    return path
