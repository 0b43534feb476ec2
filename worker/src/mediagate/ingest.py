"""What happens on an upload's last byte: the files row, the job row and the queue message.

Idempotent per upload, so a crash between the steps is repaired by running it again (the
tus completion does, from a HEAD or the cleanup sweep). Two steps can be interrupted:

* the files and processing_jobs rows are written by one statement (``files.upload_id``
  is unique: a second run inserts nothing);
* the queue message is sent after the rows and its id recorded on the job. A run that
  finds the job without a message id sends it: a kill between the send and the record
  makes that a second copy of the message, which delivery already allows for
  (at-least-once; consumers are idempotent).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from typing import Any

from .classify import SNIFF_BYTES, classify
from .crashpoints import crash_point
from .jobs import JOB_TYPES, job_message, with_storage
from .ports import Database, JobQueue, ObjectStore
from .tus.state import UploadState


def display_name(metadata: dict[str, str], upload_id: str) -> str:
    """The client's file name without any directory part, or a fallback."""
    raw = metadata.get("filename") or metadata.get("name") or ""
    name = posixpath.basename(raw.replace("\\", "/")).strip()
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f")
    return name[:255] or f"upload-{upload_id[:8]}"


class Ingest:
    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        queue: JobQueue,
        grants: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.queue = queue
        self.grants = grants  # locally (JOB_STORAGE_GRANTS=1): a storage grant rides in the message

    def with_grant(self, message: dict[str, Any]) -> dict[str, Any]:
        """The message as queued: with a storage grant when this runtime attaches one."""
        grant = self.grants(message) if self.grants else None
        return with_storage(message, grant) if grant else message

    async def __call__(self, upload: UploadState) -> str:
        """Record the finished upload and queue its processing; returns the file id."""
        head = b""
        body = await self.store.get(upload.object_key, start=0, end=SNIFF_BYTES)
        if body is not None:
            async for chunk in body:
                head += chunk
        name = display_name(upload.metadata, upload.id)
        kind = classify(name, upload.metadata.get("filetype"), head)
        size = upload.length or 0
        rows = await self.db.fetch(
            """WITH f AS (
                 INSERT INTO files (user_id, original_key, file_type, mime_type, file_size, upload_status,
                   processing_status, filename, upload_id, metadata)
                 VALUES ($1::uuid, $2, $3, $4, $5::bigint, 'completed', 'pending', $6, $7, $8::jsonb)
                 ON CONFLICT (upload_id) DO NOTHING
                 RETURNING id)
               INSERT INTO processing_jobs (file_id, job_type)
               SELECT id, $9 FROM f
               RETURNING id::text AS job_id, file_id::text AS file_id""",
            upload.user_id,
            upload.object_key,
            kind.file_type,
            kind.mime_type,
            size,
            name,
            upload.id,
            json.dumps({"upload": {"metadata": upload.metadata}, "is_raw": kind.is_raw}),
            JOB_TYPES[kind.file_type],
        )
        file_id: str  # both SELECTs cast it to text
        if rows:
            job_id, file_id = rows[0]["job_id"], rows[0]["file_id"]
            crash_point("ingest:after-rows")
        else:  # ingested by an earlier attempt: finish what it may not have
            existing = await self.db.fetch(
                """SELECT f.id::text AS file_id, j.id::text AS job_id, j.queue_message_id
                   FROM files f LEFT JOIN processing_jobs j ON j.file_id = f.id
                   WHERE f.upload_id = $1 ORDER BY j.created_at LIMIT 1""",
                upload.id,
            )
            if not existing:
                raise RuntimeError(f"upload {upload.id}: files row neither inserted nor found")
            file_id, job_id = existing[0]["file_id"], existing[0]["job_id"]
            if job_id is None or existing[0]["queue_message_id"] is not None:
                return file_id
        message = job_message(
            job_id=job_id,
            file_id=file_id,
            user_id=upload.user_id,
            object_key=upload.object_key,
            file_type=kind.file_type,
            mime_type=kind.mime_type,
            filename=name,
            is_raw=kind.is_raw,
            metadata=upload.metadata,
        )
        message_id = await self.queue.send(self.with_grant(message))
        crash_point("ingest:after-send")
        await self.db.execute(
            "UPDATE processing_jobs SET queue_message_id = $2 WHERE id = $1::uuid AND queue_message_id IS NULL",
            job_id,
            message_id,
        )
        return file_id
