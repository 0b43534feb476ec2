"""Queueing a job: the one path from a job's rows to a message on the queue.

Used by the ingest (an upload's last byte) and by an admin retry. The message is built from
the files row (:func:`mediagate.contracts.job_message`), gets a storage grant when this
runtime attaches one, is sent, and its id is recorded on the job. A kill between the send
and the record makes a later ingest run send a second copy, which delivery already allows
for (at-least-once; consumers are idempotent).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .contracts import job_message, with_storage
from .crashpoints import crash_point
from .job_repository import JobRepository
from .ports import JobQueue, json_value

Grants = Callable[[dict[str, Any]], dict[str, Any] | None]


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "t")


def message_for_file(job_id: str, file: Mapping[str, Any]) -> dict[str, Any]:
    """The job message of a files row (``id``/``file_id``, ``user_id``, ``original_key``,
    ``file_type``, ``mime_type``, ``filename``, ``metadata`` as the ingest wrote it)."""
    meta = json_value(file.get("metadata")) or {}
    upload_meta = (meta.get("upload") or {}).get("metadata") or {}
    return job_message(
        job_id=job_id,
        file_id=str(file.get("file_id") or file.get("id")),
        user_id=str(file["user_id"]),
        object_key=str(file["original_key"]),
        file_type=str(file["file_type"]),
        mime_type=str(file.get("mime_type") or ""),
        filename=str(file.get("filename") or ""),
        is_raw=_truthy(meta.get("is_raw")),
        metadata={str(k): str(v) for k, v in upload_meta.items() if isinstance(v, str)},
    )


class Enqueuer:
    def __init__(self, queue: JobQueue, jobs: JobRepository, grants: Grants | None = None) -> None:
        self.queue = queue
        self.jobs = jobs
        self.grants = grants  # locally (JOB_STORAGE_GRANTS=1): a storage grant rides in the message

    def with_grant(self, message: dict[str, Any]) -> dict[str, Any]:
        """The message as queued: with a storage grant when this runtime attaches one."""
        grant = self.grants(message) if self.grants else None
        return with_storage(message, grant) if grant else message

    async def enqueue(self, message: dict[str, Any]) -> str:
        """Send the job's message and record its id; returns the id. Queue errors propagate."""
        message_id = await self.queue.send(self.with_grant(message))
        crash_point("ingest:after-send")
        await self.jobs.record_message(str(message["job_id"]), message_id)
        return message_id
