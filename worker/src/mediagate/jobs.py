"""The processing job model and the queue message contract.

A job message (JSON, well under Cloudflare Queues' 128 KB limit)::

    {
      "v": 1,                       # contract version
      "job_id": "<uuid>",           # processing_jobs.id
      "file_id": "<uuid>",          # files.id
      "user_id": "<uuid>",
      "job_type": "video_transcode" | "image_preview" | "other",
      "lane": "fast" | "video",      # which queue / concurrency lane (see below)
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

Lanes: quick work (images, RAW, other files) never waits behind video transcodes. Video
jobs go to the *video* lane, everything else to the *fast* lane; each lane is its own queue
(:func:`lane_queue`: the base name for ``fast``, ``<base>-video`` for ``video``) with its own
concurrency (processor ``FAST_CONCURRENCY`` = 1, ``VIDEO_CONCURRENCY`` = 2 by default; the
total stays ≤ ``MAX_CONCURRENCY`` = 3 per container, and the fast lane may borrow video
slots that are idle). A video's poster is its job's first step (about a second in), and,
so that the grid shows it at once even while every video slot is busy, the ingest also sends a
*poster message* (:func:`poster_message`: the same job, ``"step": "poster"``) to the fast
lane: it makes the poster from the first keyframes only if the transcode has not started yet,
and is dropped otherwise (best effort: the transcode makes the poster anyway).

``storage`` (see :mod:`mediagate.files.grants`) lets a processor with
``STORE_BACKEND=worker`` read the original and write outputs through the Worker without
bucket keys. It is added on the way to the processor (the Cloudflare queue consumer mints
a fresh one per delivery) or, locally, by the ingest when ``JOB_STORAGE_GRANTS=1``;
consumers that read the store directly ignore it.

Consumers must be idempotent: a message can be delivered more than once (after a
visibility timeout or a retry). Outputs are written under ``output_prefix`` with fixed
names, so a re-run overwrites rather than duplicates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

CONTRACT_VERSION = 1
LANES = ("fast", "video")
JOB_TYPES = {"video": "video_transcode", "image": "image_preview", "other": "other"}
OPTION_KEYS = ("colorspace",)
STORAGE_KEY = "storage"
#: ``message["step"]`` of a fast-lane poster message (absent on ordinary job messages).
POSTER_STEP = "poster"


def lane(file_type: str) -> str:
    """The processing lane of a file type: ``video`` for videos, ``fast`` for everything else."""
    return "video" if file_type == "video" else "fast"


def lane_queue(base: str, lane_name: str) -> str:
    """The queue of a lane: ``base`` for the fast lane, ``<base>-video`` for the video lane."""
    return base if lane_name == "fast" else f"{base}-{lane_name}"


def message_lane(message: Mapping[str, Any]) -> str:
    """A message's lane (messages from before lanes existed: by file type)."""
    value = message.get("lane")
    return value if value in LANES else lane(str(message.get("file_type") or ""))


class _Sender(Protocol):
    async def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str: ...


class LaneQueues:
    """A JobQueue that sends each message to its lane's queue."""

    def __init__(self, queues: Mapping[str, _Sender]) -> None:
        self.queues = dict(queues)

    async def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        target = self.queues.get(message_lane(body)) or self.queues["fast"]
        return await target.send(body, delay_seconds=delay_seconds)

    def __getattr__(self, name: str) -> Any:  # depth(), binding… of the fast lane's queue
        if name == "queues":
            raise AttributeError(name)
        return getattr(self.queues["fast"], name)


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


def poster_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """The fast-lane companion of a video job message: make the poster now (see above)."""
    return {**message, "lane": "fast", "step": POSTER_STEP}


def is_poster_message(message: Mapping[str, Any]) -> bool:
    return message.get("step") == POSTER_STEP


def with_storage(message: dict[str, Any], grant: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``message`` carrying ``grant`` (replacing an older one)."""
    return {**message, STORAGE_KEY: grant}
