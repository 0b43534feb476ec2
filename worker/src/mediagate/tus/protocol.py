"""tus 1.0.0 wire details: versions, extensions, header parsing and formatting."""

from __future__ import annotations

import base64
import binascii
import hashlib
from email.utils import formatdate

from ..strict import InputError, has_control, parse_uint

TUS_VERSION = "1.0.0"
EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "termination",
    "expiration",
    "checksum",
)
CHECKSUM_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
MAX_METADATA_BYTES = 8192

# Status 460 is tus' "Checksum Mismatch".
CHECKSUM_MISMATCH = 460

EXPOSED_HEADERS = (
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Defer-Length",
    "Upload-Metadata",
    "Upload-Expires",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Retry-After",
    "Mediagate-File-Id",
)
#: On a completed upload's PATCH/HEAD answer: the id of the file it became, so a client can
#: GET /api/files/<id> at once (the web app opens the new tile without a list refresh).
FILE_ID_HEADER = "Mediagate-File-Id"
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Defer-Length",
    "Upload-Metadata",
    "Upload-Offset",
    "Upload-Checksum",
    "Upload-Concat",
    "X-HTTP-Method-Override",
    "X-Requested-With",
    "X-Mediagate-Region",
)


class TusError(Exception):
    """A protocol-level refusal: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def parse_metadata(raw: str | None) -> dict[str, str]:
    """Decode ``Upload-Metadata``: comma-separated ``key base64value`` pairs."""
    if not raw or not raw.strip():
        return {}
    if len(raw) > MAX_METADATA_BYTES:
        raise TusError(400, f"Upload-Metadata is larger than {MAX_METADATA_BYTES} bytes")
    result: dict[str, str] = {}
    for pair in raw.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        key = key.strip()
        if not key or any(c in key for c in " ,") or not key.isascii() or has_control(key):
            raise TusError(400, f"Upload-Metadata has an invalid key {key!r}")
        if key in result:
            raise TusError(400, f"Upload-Metadata repeats the key {key!r}")
        value = value.strip()
        try:
            decoded = base64.b64decode(value, validate=True) if value else b""
            text = decoded.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise TusError(400, f"Upload-Metadata value for {key!r} is not base64 of UTF-8 text") from exc
        if has_control(text):
            raise TusError(400, f"Upload-Metadata value for {key!r} contains control characters")
        result[key] = text
    return result


def format_metadata(metadata: dict[str, str]) -> str:
    parts = []
    for key, value in metadata.items():
        if value == "":
            parts.append(key)
        else:
            parts.append(f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}")
    return ",".join(parts)


def parse_checksum(raw: str | None) -> tuple[str, bytes] | None:
    """Decode ``Upload-Checksum: <algorithm> <base64 digest>``."""
    if raw is None:
        return None
    algorithm, _, encoded = raw.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise TusError(
            400, f"unsupported checksum algorithm {algorithm!r}; use one of {', '.join(CHECKSUM_ALGORITHMS)}"
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error as exc:
        raise TusError(400, "Upload-Checksum digest is not valid base64") from exc
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise TusError(400, f"Upload-Checksum digest has the wrong length for {algorithm}")
    return algorithm, digest


def parse_non_negative(name: str, raw: str | None) -> int | None:
    """A tus numeric header (ASCII digits only, at most 19 of them) or None when absent."""
    try:
        return parse_uint(name, raw)
    except InputError as exc:
        raise TusError(400, exc.message) from exc


def http_date(epoch_seconds: float) -> str:
    """RFC 7231 IMF-fixdate, as ``Upload-Expires`` requires."""
    return formatdate(epoch_seconds, usegmt=True)
