"""The processing_jobs table as the core reads it: ingest's rows, queue message ids, admin figures.

Status transitions are not here: :mod:`mediagate.file_status` is their one writer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .contracts import JOB_TYPES
from .ports import Database, Row

RECENT_FAILURES = 20

_STATS_SQL = f"""
SELECT
  (SELECT COALESCE(json_object_agg(status, n), '{{}}'::json)
     FROM (SELECT COALESCE(status, 'queued') AS status, count(*) AS n FROM processing_jobs GROUP BY 1) s
  ) AS jobs_by_status,
  (SELECT count(*) FROM processing_jobs
     WHERE status = 'completed' AND completed_at >= LOCALTIMESTAMP - interval '1 hour') AS completed_last_hour,
  (SELECT count(*) FROM processing_jobs
     WHERE status = 'completed' AND completed_at >= LOCALTIMESTAMP - interval '24 hours') AS completed_last_24h,
  (SELECT avg(EXTRACT(EPOCH FROM completed_at - started_at))::float8 FROM processing_jobs
     WHERE status = 'completed' AND completed_at >= LOCALTIMESTAMP - interval '1 hour' AND started_at IS NOT NULL
  ) AS avg_processing_seconds_last_hour,
  (SELECT COALESCE(json_agg(r), '[]'::json) FROM (
     SELECT j.id::text AS job_id, j.file_id::text AS file_id, f.filename, f.user_id::text AS user_id,
            COALESCE(j.error_message, f.processing_error) AS error,
            COALESCE(j.completed_at, j.started_at, j.created_at) AS failed_at, j.attempts
     FROM processing_jobs j LEFT JOIN files f ON f.id = j.file_id
     WHERE j.status = 'failed'
     ORDER BY j.completed_at DESC NULLS LAST, j.created_at DESC
     LIMIT {RECENT_FAILURES}) r
  ) AS recent_failures
"""


@dataclass(frozen=True)
class IngestedJob:
    job_id: str | None  # None: the file has no job (never happens for new rows)
    file_id: str
    queued: bool  # its message was sent and recorded


class JobRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_for_upload(
        self,
        *,
        upload_id: str,
        user_id: str,
        object_key: str,
        file_type: str,
        mime_type: str,
        size: int,
        filename: str,
        metadata: dict[str, Any],
    ) -> IngestedJob | None:
        """The files row (``pending``) and its job in one statement; None when the upload
        already has its file (``files.upload_id`` is unique)."""
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
            user_id,
            object_key,
            file_type,
            mime_type,
            size,
            filename,
            upload_id,
            json.dumps(metadata),
            JOB_TYPES.get(file_type, "other"),
        )
        return IngestedJob(rows[0]["job_id"], rows[0]["file_id"], queued=False) if rows else None

    async def for_upload(self, upload_id: str) -> IngestedJob | None:
        """What an earlier ingest of this upload wrote (its first job)."""
        rows = await self.db.fetch(
            """SELECT f.id::text AS file_id, j.id::text AS job_id, j.queue_message_id
               FROM files f LEFT JOIN processing_jobs j ON j.file_id = f.id
               WHERE f.upload_id = $1 ORDER BY j.created_at LIMIT 1""",
            upload_id,
        )
        if not rows:
            return None
        row = rows[0]
        return IngestedJob(row["job_id"], row["file_id"], queued=row["queue_message_id"] is not None)

    async def record_message(self, job_id: str, message_id: str) -> None:
        """The queue's id of the job's message (the first one recorded wins)."""
        await self.db.execute(
            "UPDATE processing_jobs SET queue_message_id = $2 WHERE id = $1::uuid AND queue_message_id IS NULL",
            job_id,
            message_id,
        )

    async def retry_state(self, job_id: str) -> Row | None:
        """``status`` and ``has_file`` of a job (why a retry was refused); None when unknown."""
        rows = await self.db.fetch(
            """SELECT j.status, f.id IS NOT NULL AS has_file
               FROM processing_jobs j LEFT JOIN files f ON f.id = j.file_id WHERE j.id = $1::uuid""",
            job_id,
        )
        return rows[0] if rows else None

    async def stats(self) -> Row:
        """Jobs by status, throughput and the latest failures, in one round trip."""
        return (await self.db.fetch(_STATS_SQL))[0]
