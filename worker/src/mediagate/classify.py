"""Decide a file's ``file_type`` and ``mime_type`` from its name, declared type and first bytes.

The sniffed content wins over the extension for known media signatures (a PNG named
``.mov`` is an image); the extension decides for formats with no reliable magic
(most RAW files are TIFF containers) and the declared ``filetype`` is the last resort.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import filetype

SNIFF_BYTES = 8192

VIDEO_EXTENSIONS = {
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".mxf": "application/mxf",
}
IMAGE_EXTENSIONS = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".heic": "image/heic",
    ".avif": "image/avif",
}
RAW_EXTENSIONS = {
    ".cr2": "image/x-canon-cr2",
    ".cr3": "image/x-canon-cr3",
    ".crw": "image/x-canon-crw",
    ".nef": "image/x-nikon-nef",
    ".nrw": "image/x-nikon-nrw",
    ".arw": "image/x-sony-arw",
    ".srf": "image/x-sony-srf",
    ".sr2": "image/x-sony-sr2",
    ".dng": "image/x-adobe-dng",
    ".raf": "image/x-fuji-raf",
    ".orf": "image/x-olympus-orf",
    ".rw2": "image/x-panasonic-rw2",
    ".pef": "image/x-pentax-pef",
    ".srw": "image/x-samsung-srw",
    ".3fr": "image/x-hasselblad-3fr",
    ".iiq": "image/x-phaseone-iiq",
    ".x3f": "image/x-sigma-x3f",
}


@dataclass(frozen=True)
class Classification:
    file_type: str  # 'video' | 'image' | 'other'
    mime_type: str
    is_raw: bool = False


def _extension(filename: str) -> str:
    return posixpath.splitext(filename.lower())[1]


def classify(filename: str, declared_type: str | None, head: bytes) -> Classification:
    """Classify an upload; ``head`` is its first bytes (up to SNIFF_BYTES, may be empty)."""
    ext = _extension(filename)
    if ext in RAW_EXTENSIONS:
        return Classification("image", RAW_EXTENSIONS[ext], is_raw=True)
    kind = filetype.guess(head) if head else None
    if kind is not None:
        mime = kind.mime
        if mime.startswith("video/") or mime in ("application/mxf",):
            return Classification("video", mime)
        if mime.startswith("image/") and mime != "image/tiff":
            return Classification("image", mime)
        if mime == "image/tiff":
            return Classification("image", IMAGE_EXTENSIONS.get(ext, mime))
        return Classification("other", mime)
    # No known signature (or an empty file): trust the extension, so that a text file
    # named .jpg becomes an image job that fails with a readable reason.
    if ext in VIDEO_EXTENSIONS:
        return Classification("video", VIDEO_EXTENSIONS[ext])
    if ext in IMAGE_EXTENSIONS:
        return Classification("image", IMAGE_EXTENSIONS[ext])
    declared = (declared_type or "").strip().lower()
    if declared and "/" in declared and len(declared) <= 100:
        return Classification("other", declared)
    return Classification("other", "application/octet-stream")
