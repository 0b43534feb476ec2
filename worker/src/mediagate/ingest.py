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

import posixpath

from .classify import SNIFF_BYTES, classify
from .contracts import job_message
from .crashpoints import crash_point
from .enqueue import Enqueuer
from .job_repository import JobRepository
from .ports import ObjectStore
from .tus.state import UploadState


def display_name(metadata: dict[str, str], upload_id: str) -> str:
    """The client's file name without any directory part, or a fallback."""
    raw = metadata.get("filename") or metadata.get("name") or ""
    name = posixpath.basename(raw.replace("\\", "/")).strip()
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f")
    return name[:255] or f"upload-{upload_id[:8]}"


class Ingest:
    def __init__(self, store: ObjectStore, jobs: JobRepository, enqueuer: Enqueuer) -> None:
        self.store = store
        self.jobs = jobs
        self.enqueuer = enqueuer

    async def __call__(self, upload: UploadState) -> str:
        """Record the finished upload and queue its processing; returns the file id."""
        head = b""
        body = await self.store.get(upload.object_key, start=0, end=SNIFF_BYTES)
        if body is not None:
            async for chunk in body:
                head += chunk
        name = display_name(upload.metadata, upload.id)
        kind = classify(name, upload.metadata.get("filetype"), head)
        job = await self.jobs.create_for_upload(
            upload_id=upload.id,
            user_id=upload.user_id,
            object_key=upload.object_key,
            file_type=kind.file_type,
            mime_type=kind.mime_type,
            size=upload.length or 0,
            filename=name,
            metadata={"upload": {"metadata": upload.metadata}, "is_raw": kind.is_raw},
        )
        if job is not None:
            crash_point("ingest:after-rows")
        else:  # ingested by an earlier attempt: finish what it may not have
            job = await self.jobs.for_upload(upload.id)
            if job is None:
                raise RuntimeError(f"upload {upload.id}: files row neither inserted nor found")
            if job.queued:
                return job.file_id
        if job.job_id is None:  # a file without a job (not written by this code)
            return job.file_id
        await self.enqueuer.enqueue(
            job_message(
                job_id=job.job_id,
                file_id=job.file_id,
                user_id=upload.user_id,
                object_key=upload.object_key,
                file_type=kind.file_type,
                mime_type=kind.mime_type,
                filename=name,
                is_raw=kind.is_raw,
                metadata=upload.metadata,
            ),
            with_poster=kind.file_type == "video",
        )
        return job.file_id
