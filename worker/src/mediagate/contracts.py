"""The facts the Worker, the processor and the OpenAPI description must agree on.

One module so they cannot drift apart: the job message (its shape and version), the
statuses of files and jobs, the file types, which extensions are camera RAW (every
format LibRaw reads) and the content types of uploads and of derived outputs. The
processor imports this module from the shared ``mediagate`` package (the container image
copies ``worker/src/mediagate`` next to ``processor``); it is pure Python with no imports
beyond the standard library, so both runtimes load it.

A job message (JSON, well under Cloudflare Queues' 128 KB limit)::

    {
      "v": 1,                       # contract version
      "job_id": "<uuid>",           # processing_jobs.id
      "file_id": "<uuid>",          # files.id
      "user_id": "<uuid>",
      "job_type": "video_transcode" | "image_preview" | "other",
      "lane": "fast" | "video",      # which queue / concurrency lane (mediagate.jobs)
      "object_key": "originals/<user>/<upload>",   # the original in the object store
      "output_prefix": "derived/<file_id>/",       # where every output goes
      "file_type": "video" | "image" | "other",
      "mime_type": "video/mp4",
      "filename": "clip.mp4",
      "is_raw": false,
      "options": {"colorspace": "slog3"},           # from Upload-Metadata, optional
      "storage": {                                  # optional: a job-scoped storage grant
        "read_url": "<worker>/api/processor-storage/<token>/original",
        "write_url": "<worker>/api/processor-storage/<token>/outputs/",
        "object_key": "originals/<user>/<upload>",
        "output_prefix": "derived/<file_id>/",
        "expires": 1767225600,                      # unix seconds
        "max_put_bytes": 99614720                   # per PUT (one output per request)
      }
    }

``storage`` (see :mod:`mediagate.files.grants`) lets a processor with
``STORE_BACKEND=worker`` read the original and write outputs through the Worker without
bucket keys. It is added on the way to the processor (the Cloudflare queue consumer mints
a fresh one per delivery) or, locally, by the enqueue service when ``JOB_STORAGE_GRANTS=1``;
consumers that read the store directly ignore it.

Consumers must be idempotent: a message can be delivered more than once (after a
visibility timeout or a retry). Outputs are written under ``output_prefix`` with fixed
names, so a re-run overwrites rather than duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# -- statuses and types ---------------------------------------------------------------------

FILE_TYPES = ("video", "image", "other")
#: files.processing_status
PROCESSING_STATUSES = ("pending", "processing", "completed", "failed")
#: processing_jobs.status
JOB_STATUSES = ("queued", "processing", "completed", "failed")

# -- the job message ------------------------------------------------------------------------

CONTRACT_VERSION = 1
LANES = ("fast", "video")
JOB_TYPES = {"video": "video_transcode", "image": "image_preview", "other": "other"}
OPTION_KEYS = ("colorspace",)
STORAGE_KEY = "storage"
#: ``message["step"]`` of a fast-lane poster message (absent on ordinary job messages).
POSTER_STEP = "poster"
#: Keys a job message must carry (the processor's push endpoint refuses others with 422).
REQUIRED_MESSAGE_KEYS = ("job_id", "file_id", "user_id", "object_key", "output_prefix", "file_type")


def lane(file_type: str) -> str:
    """The processing lane of a file type: ``video`` for videos, ``fast`` for everything else."""
    return "video" if file_type == "video" else "fast"


def output_prefix(file_id: str) -> str:
    return f"derived/{file_id}/"


def job_message(
    *,
    job_id: str,
    file_id: str,
    user_id: str,
    object_key: str,
    file_type: str,
    mime_type: str,
    filename: str,
    is_raw: bool,
    metadata: dict[str, str],
) -> dict[str, Any]:
    """The message for one job. An unknown ``file_type`` is processed as ``other``."""
    if file_type not in JOB_TYPES:
        file_type = "other"
    return {
        "v": CONTRACT_VERSION,
        "job_id": job_id,
        "file_id": file_id,
        "user_id": user_id,
        "job_type": JOB_TYPES[file_type],
        "lane": lane(file_type),
        "object_key": object_key,
        "output_prefix": output_prefix(file_id),
        "file_type": file_type,
        "mime_type": mime_type,
        "filename": filename,
        "is_raw": is_raw,
        "options": {k: metadata[k] for k in OPTION_KEYS if metadata.get(k)},
    }


def message_for_file(job_id: str, file: Mapping[str, Any]) -> dict[str, Any]:
    """The job message of a files row as the ingest wrote it (``id`` or ``file_id``,
    ``user_id``, ``original_key``, ``file_type``, ``mime_type``, ``filename``, ``metadata``
    with ``is_raw`` and the upload's metadata). Used by admin retries and by the processor,
    which trusts a delivered message for its job id only."""
    meta = file.get("metadata")
    meta = json.loads(meta) if isinstance(meta, str) else (meta or {})
    upload_meta = (meta.get("upload") or {}).get("metadata") or {}
    is_raw = meta.get("is_raw")
    return job_message(
        job_id=job_id,
        file_id=str(file.get("file_id") or file.get("id")),
        user_id=str(file["user_id"]),
        object_key=str(file["original_key"]),
        file_type=str(file["file_type"]),
        mime_type=str(file.get("mime_type") or ""),
        filename=str(file.get("filename") or ""),
        is_raw=is_raw is True or str(is_raw).lower() in ("true", "1", "t"),
        metadata={str(k): v for k, v in upload_meta.items() if isinstance(v, str)},
    )


def with_storage(message: dict[str, Any], grant: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``message`` carrying ``grant`` (replacing an older one)."""
    return {**message, STORAGE_KEY: grant}


def poster_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """The fast-lane companion of a video job message: make the poster now (see :mod:`mediagate.jobs`)."""
    return {**message, "lane": "fast", "step": POSTER_STEP}


def is_poster_message(message: Mapping[str, Any]) -> bool:
    return message.get("step") == POSTER_STEP


# -- upload content types -------------------------------------------------------------------

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

#: Camera RAW: every extension of a format LibRaw reads (LibRaw's supported-cameras list,
#: as digiKam's ``drawfiles.cpp`` and rawpy's users name them). Most are TIFF containers with
#: no magic of their own, so the extension decides; the processor develops them with rawpy
#: (LibRaw sniffs the content itself and fails readably when it cannot).
RAW_EXTENSIONS = {
    ".3fr": "image/x-hasselblad-3fr",
    ".ari": "image/x-arri-ari",
    ".arq": "image/x-sony-arq",
    ".arw": "image/x-sony-arw",
    ".bay": "image/x-casio-bay",
    ".bmq": "image/x-nucore-bmq",
    ".cap": "image/x-phaseone-cap",
    ".cine": "image/x-phantom-cine",
    ".cr2": "image/x-canon-cr2",
    ".cr3": "image/x-canon-cr3",
    ".crw": "image/x-canon-crw",
    ".cs1": "image/x-sinar-cs1",
    ".dc2": "image/x-kodak-dc2",
    ".dcr": "image/x-kodak-dcr",
    ".dcs": "image/x-kodak-dcs",
    ".dng": "image/x-adobe-dng",
    ".drf": "image/x-kodak-drf",
    ".dsc": "image/x-kodak-dsc",
    ".eip": "image/x-phaseone-eip",
    ".erf": "image/x-epson-erf",
    ".fff": "image/x-hasselblad-fff",
    ".ia": "image/x-sinar-ia",
    ".iiq": "image/x-phaseone-iiq",
    ".k25": "image/x-kodak-k25",
    ".kc2": "image/x-kodak-kc2",
    ".kdc": "image/x-kodak-kdc",
    ".mdc": "image/x-minolta-mdc",
    ".mef": "image/x-mamiya-mef",
    ".mfw": "image/x-mamiya-mfw",
    ".mos": "image/x-leaf-mos",
    ".mrw": "image/x-minolta-mrw",
    ".nef": "image/x-nikon-nef",
    ".nrw": "image/x-nikon-nrw",
    ".orf": "image/x-olympus-orf",
    ".ori": "image/x-olympus-ori",
    ".pef": "image/x-pentax-pef",
    ".ptx": "image/x-pentax-ptx",
    ".pxn": "image/x-logitech-pxn",
    ".qtk": "image/x-apple-qtk",
    ".raf": "image/x-fuji-raf",
    ".raw": "image/x-panasonic-raw",
    ".rdc": "image/x-ricoh-rdc",
    ".rw2": "image/x-panasonic-rw2",
    ".rwl": "image/x-leica-rwl",
    ".rwz": "image/x-rawzor-rwz",
    ".sr2": "image/x-sony-sr2",
    ".srf": "image/x-sony-srf",
    ".srw": "image/x-samsung-srw",
    ".sti": "image/x-sinar-sti",
    ".x3f": "image/x-sigma-x3f",
}

# -- derived outputs ------------------------------------------------------------------------

#: Content types of what the processor writes under ``output_prefix`` (served as stored).
OUTPUT_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".vtt": "text/vtt; charset=utf-8",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
}

# -- a job's outcome ------------------------------------------------------------------------

ACK, RETRY, DEAD = "ack", "retry", "dead"


@dataclass(frozen=True)
class JobOutcome:
    """What the processor decided about one delivery, for whoever holds the message.

    ``ack``: settled (completed, failed for good with a readable reason, cancelled or
    unknown); ``retry``: deliver again after ``delay_seconds``; ``dead``: the last attempt
    failed, the job and file are failed, the message goes to the dead letters. The pull loop
    applies it to its lease; the push endpoint sends it back in its answer (``outcome``)."""

    action: str
    delay_seconds: float = 0.0
    reason: str = ""

    def __post_init__(self) -> None:
        if self.action not in (ACK, RETRY, DEAD):
            raise ValueError(f"unknown job outcome {self.action!r}")

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "delay_seconds": self.delay_seconds, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Any) -> JobOutcome | None:
        """The outcome in a push answer; None when there is none (or it is malformed)."""
        if not isinstance(data, dict) or data.get("action") not in (ACK, RETRY, DEAD):
            return None
        delay = data.get("delay_seconds")
        delay = float(delay) if isinstance(delay, int | float) and not isinstance(delay, bool) else 0.0
        reason = data.get("reason")
        return cls(str(data["action"]), max(0.0, delay), reason if isinstance(reason, str) else "")
