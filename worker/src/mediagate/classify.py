"""Decide a file's ``file_type`` and ``mime_type`` from its name, declared type and first bytes.

The sniffed content wins over the extension for known media signatures (a PNG named
``.mov`` is an image); the extension decides for formats with no reliable magic
(most RAW files are TIFF containers) and the declared ``filetype`` is the last resort.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import filetype

from .contracts import IMAGE_EXTENSIONS, RAW_EXTENSIONS, VIDEO_EXTENSIONS

SNIFF_BYTES = 8192


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
