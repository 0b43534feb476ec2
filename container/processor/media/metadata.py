"""Camera metadata of every upload — images, camera RAW, video — read by ExifTool.

One place owns ``metadata["exif"]``: the viewer (frontend/src/viewer.ts reads ``md.exif``)
and the files table's ``taken_at`` / camera / lens columns are filled from it. Keys (all
optional): ``make``, ``model``, ``software``, ``exposure_time`` (s), ``f_number``,
``iso``, ``focal_length`` (mm), ``focal_length_35mm``, ``exposure_bias`` (EV),
``flash``, ``lens_make``, ``lens_model``, ``artist``, ``taken_at`` (ISO 8601, with the
UTC offset when the file says it), ``gps`` (``latitude``/``longitude`` in signed
degrees, ``altitude`` in metres), ``dng_version`` (DNG only).

Where each comes from, first found wins:

* EXIF (JPEG, HEIC, TIFF, PNG, WebP, JXL and every RAW format ExifTool reads — CR3 and
  others keep EXIF inside their own containers) for camera, lens, exposure and date
  (``DateTimeOriginal`` + ``OffsetTimeOriginal``, then ``CreateDate``, then ``ModifyDate``);
  maker notes and XMP fill gaps (lens names, dates);
* QuickTime/MP4 for video: make/model from Apple (``com.apple.quicktime.*``), Android
  (``com.android.manufacturer``/``model``) or Samsung (``©mak``/``©mod``) tags; the date
  from Apple's ``creationdate`` (local time with offset), else the movie header's
  ``creation_time`` (UTC by the specification, so ``+00:00``);
* GPS from ExifTool's composite position, which reads EXIF GPS, ISO 6709 locations
  (``©xyz``, Apple's ``location.ISO6709``) and 3GPP ``loci`` boxes alike.

A file ExifTool cannot read never fails the job: ``exif`` is then empty and
``exif_unavailable`` says why (not installed, timed out, crashed, unknown format).
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import math
import os
import re
import threading
from pathlib import Path
from typing import Any

from .exiftool import ExifToolError, ExifToolPool

log = logging.getLogger("processor.media.metadata")

#: Options for every command: JSON, family-0 group names (EXIF/QuickTime/XMP/... keep
#: same-named tags apart: QuickTime CreateDate is UTC, EXIF CreateDate local time),
#: files past 2 GB, no trailer scan of JPEGs.
COMMON_ARGS = ("-json", "-G0", "-api", "LargeFileSupport=1", "-fast", "-charset", "filename=utf8")

#: Tags asked for (``#`` = the numeric value, no print conversion).
TAGS = (
    "ExifTool:Error",
    "ExifTool:Warning",
    "EXIF:Make",
    "EXIF:Model",
    "EXIF:Software",
    "EXIF:Artist",
    "EXIF:LensMake",
    "EXIF:LensModel",
    "EXIF:DNGVersion",
    "EXIF:DateTimeOriginal",
    "EXIF:OffsetTimeOriginal",
    "EXIF:CreateDate",
    "EXIF:OffsetTimeDigitized",
    "EXIF:ModifyDate",
    "EXIF:OffsetTime",
    "EXIF:ExposureTime#",
    "EXIF:FNumber#",
    "EXIF:ISO#",
    "EXIF:FocalLength#",
    "EXIF:FocalLengthIn35mmFormat#",
    "EXIF:ExposureCompensation#",
    "EXIF:Flash#",
    "EXIF:GPSAltitude#",
    "EXIF:GPSAltitudeRef#",
    "MakerNotes:LensModel",
    "MakerNotes:Lens",
    "Composite:LensID",
    "Composite:GPSLatitude#",
    "Composite:GPSLongitude#",
    "Composite:GPSAltitude#",
    "XMP:Make",
    "XMP:Model",
    "XMP:LensModel",
    "XMP:Lens",
    "XMP:DateTimeOriginal",
    "XMP:DateCreated",
    "XMP:CreateDate",
    "QuickTime:Make",
    "QuickTime:Model",
    "QuickTime:Software",
    "QuickTime:AndroidMake",
    "QuickTime:AndroidManufacturer",
    "QuickTime:AndroidModel",
    "QuickTime:CreationDate",
    "QuickTime:CreateDate",
)

_TEXT = {
    "make": ("EXIF:Make", "QuickTime:Make", "QuickTime:AndroidMake", "QuickTime:AndroidManufacturer", "XMP:Make"),
    "model": ("EXIF:Model", "QuickTime:Model", "QuickTime:AndroidModel", "XMP:Model"),
    "software": ("EXIF:Software", "QuickTime:Software"),
    "lens_make": ("EXIF:LensMake",),
    "lens_model": (
        "EXIF:LensModel",
        "MakerNotes:LensModel",
        "XMP:LensModel",
        "Composite:LensID",
        "MakerNotes:Lens",
        "XMP:Lens",
    ),
    "artist": ("EXIF:Artist",),
    "dng_version": ("EXIF:DNGVersion",),
}
_NUMBERS: dict[str, tuple[str, int]] = {  # key: (tag, decimals; 0 = integer)
    "exposure_time": ("EXIF:ExposureTime", 6),
    "f_number": ("EXIF:FNumber", 2),
    "iso": ("EXIF:ISO", 0),
    "focal_length": ("EXIF:FocalLength", 2),
    "focal_length_35mm": ("EXIF:FocalLengthIn35mmFormat", 0),
}
#: (date tag, offset tag or None, offset when the format fixes it), in order of preference.
_DATES: tuple[tuple[str, str | None, str | None], ...] = (
    ("EXIF:DateTimeOriginal", "EXIF:OffsetTimeOriginal", None),
    ("QuickTime:CreationDate", None, None),  # Apple: local time with its offset
    ("XMP:DateTimeOriginal", None, None),
    ("XMP:DateCreated", None, None),
    ("EXIF:CreateDate", "EXIF:OffsetTimeDigitized", None),
    ("XMP:CreateDate", None, None),
    ("QuickTime:CreateDate", None, "+00:00"),  # movie header creation_time: UTC
    ("EXIF:ModifyDate", "EXIF:OffsetTime", None),
)
_MAX_TEXT = 256
_DATE_RE = re.compile(
    r"^(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_OFFSET_RE = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


# --- the shared reader ------------------------------------------------------------------

_pool: ExifToolPool | None = None
_pool_lock = threading.Lock()


def pool() -> ExifToolPool:
    """The processor's exiftool pool (one process per concurrent job, started on use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ExifToolPool(
                os.environ.get("MEDIAGATE_EXIFTOOL") or "exiftool",
                size=int(os.environ.get("MAX_CONCURRENCY") or 3),
                timeout=float(os.environ.get("MEDIAGATE_EXIFTOOL_TIMEOUT") or 30),
                common_args=COMMON_ARGS,
            )
        return _pool


def close_pool() -> None:
    """Stop the exiftool processes (processor shutdown, interpreter exit)."""
    global _pool
    with _pool_lock:
        current, _pool = _pool, None
    if current is not None:
        current.close()


atexit.register(close_pool)


def read_tags(src: str | Path, exiftool: ExifToolPool | None = None) -> dict[str, Any]:
    """ExifTool's answer for :data:`TAGS` of one file (raises :class:`ExifToolError`)."""
    path = os.path.abspath(src)  # absolute: a name starting with "-" is never an option
    if "\n" in path or "\r" in path:  # exiftool reads its arguments one per line
        raise ExifToolError("file name has a line break")
    out, _err = (exiftool or pool()).execute([*(f"-{tag}" for tag in TAGS), path])
    try:
        rows = json.loads(out.decode("utf-8", "replace"))
    except ValueError as exc:
        raise ExifToolError(f"unreadable exiftool reply: {exc}") from exc
    if not isinstance(rows, list) or len(rows) != 1 or not isinstance(rows[0], dict):
        raise ExifToolError("exiftool returned no result for the file")
    return rows[0]


def exif_fields(src: str | Path, exiftool: ExifToolPool | None = None) -> dict[str, Any]:
    """``{"exif": {...}}`` for a file's metadata, plus ``exif_unavailable`` when unread.

    Never raises for anything the file or ExifTool does: metadata is a bonus, previews
    and playback are the job.
    """
    try:
        tags = read_tags(src, exiftool)
    except ExifToolError as exc:
        log.warning("metadata of %s unavailable: %s", Path(src).name, exc)
        return {"exif": {}, "exif_unavailable": str(exc)}
    if isinstance(error := tags.get("ExifTool:Error"), str):
        return {"exif": {}, "exif_unavailable": f"exiftool: {error}"}
    return {"exif": summarize(tags)}


# --- ExifTool tags → our keys -----------------------------------------------------------


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    text = str(value).replace("\0", "").strip()[:_MAX_TEXT]
    return text if text and not text.startswith("Unknown") else None


def _number(value: Any) -> float | None:
    if isinstance(value, str):  # "400 0 0" (some ISO tags), "1/250" never (we ask for #)
        value = value.split()[0] if value.split() else ""
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _offset(value: Any) -> str | None:
    match = _OFFSET_RE.match(str(value).strip()) if isinstance(value, str) else None
    if not match or int(match[2]) > 23 or int(match[3]) > 59:
        return None
    return f"{match[1]}{match[2]}:{match[3]}"


def iso_datetime(value: Any, offset: Any = None) -> str | None:
    """An ExifTool/EXIF/XMP date ("2024:05:06 07:08:09[.123][+02:00|Z]") → ISO 8601.

    Seconds precision; the offset in the value wins over ``offset``; no offset when
    neither gives one. Unset dates ("0000:00:00 00:00:00") and impossible ones → None.
    """
    match = _DATE_RE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        return None
    year, month, day, hour, minute = (int(match[i]) for i in range(1, 6))
    try:
        stamp = dt.datetime(year, month, day, hour, minute, int(match[6] or 0)).isoformat()
    except ValueError:
        return None
    zone = match[7]
    if zone == "Z":
        return stamp + "+00:00"
    return stamp + (_offset(zone) or _offset(offset) or "")


def _taken_at(tags: dict[str, Any]) -> str | None:
    for tag, offset_tag, fixed in _DATES:
        stamp = iso_datetime(tags.get(tag), tags.get(offset_tag) if offset_tag else fixed)
        if stamp:
            return stamp
    return None


def _gps(tags: dict[str, Any]) -> dict[str, float] | None:
    lat, lon = _number(tags.get("Composite:GPSLatitude")), _number(tags.get("Composite:GPSLongitude"))
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180 or (lat == 0 and lon == 0):
        return None  # 0,0 is what receivers without a fix write
    out = {"latitude": round(lat, 7), "longitude": round(lon, 7)}
    alt = _number(tags.get("Composite:GPSAltitude"))
    if alt is None and (alt := _number(tags.get("EXIF:GPSAltitude"))) is not None:
        alt = -alt if _number(tags.get("EXIF:GPSAltitudeRef")) == 1 else alt
    if alt:  # 0 is what ISO 6709 / loci without an altitude decode to
        out["altitude"] = round(alt, 2)
    return out


def summarize(tags: dict[str, Any]) -> dict[str, Any]:
    """Our ``exif`` keys (module doc) from ExifTool's ``-json -G0`` tags for :data:`TAGS`."""
    result: dict[str, Any] = {}
    for key, sources in _TEXT.items():
        for tag in sources:
            if (text := _text(tags.get(tag))) is not None:
                result[key] = text
                break
    for key, (tag, decimals) in _NUMBERS.items():
        value = _number(tags.get(tag))
        if value is not None and value > 0:
            result[key] = int(value) if decimals == 0 else round(value, decimals)
    if (bias := _number(tags.get("EXIF:ExposureCompensation"))) is not None:
        result["exposure_bias"] = round(bias, 2)
    if (flash := _number(tags.get("EXIF:Flash"))) is not None:
        result["flash"] = int(flash)
    if taken_at := _taken_at(tags):
        result["taken_at"] = taken_at
    if gps := _gps(tags):
        result["gps"] = gps
    return result
