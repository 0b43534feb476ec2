"""The one writer of a file's processing status (and of its job's status, which moves with it).

``files.processing_status`` is what the UI shows; ``processing_jobs.status`` is what the
admin page and retries read. Every transition of either lives here, whoever triggers it:

* the processor: :meth:`start`, :meth:`progress`, :meth:`complete`, :meth:`fail`;
* the Worker's signed processing webhooks: :meth:`apply_event`;
* the dead-letter queue's consumer (Cloudflare): :meth:`dead_lettered`;
* an admin retry: :meth:`reset_for_retry`, and :meth:`fail_unqueued` when the queue
  refuses the retried message.

The transitions to ``completed`` and ``failed`` queue the owner's webhook events in the same
statement (:mod:`mediagate.webhooks.outbox`). A file starts ``pending`` (the ingest's insert).
Each transition is one statement (Neon's SQL-over-HTTP has no interactive transactions) that
moves the job and its file together: no reader sees a job ``failed`` whose file is still
``processing``, and a processor stopped mid-write cannot leave them so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .ports import Database, Row
from .webhooks.outbox import FILE_EVENT_COLUMNS, event_rows

# The owner's webhook events, queued in the statement that changes the status (mediagate.webhooks.outbox).
COMPLETED_EVENTS = event_rows("changed", event_type="'processing-complete'", job_id="$12::text")
FAILED_EVENTS = event_rows(
    "changed",
    event_type="'processing-failed'",
    job_id="$3::text",
    extra="jsonb_build_object('attempts', (SELECT attempts FROM processing_jobs WHERE id = $3::text::uuid))",
)
DEAD_LETTER_EVENTS = event_rows(
    "changed",
    event_type="'processing-failed'",
    job_id="$1::text",
    extra="jsonb_build_object('attempts', $4::int)",  # deliveries made
)
DEAD_LETTER_REASON = "processing did not run: the job exhausted its {attempts} deliveries (dead-lettered)"

# Resets the job and its file in one statement; no row when the job is not failed
# (or its file is gone). Another retry racing this one finds the job 'queued'.
_RESET_FOR_RETRY = """
WITH j AS (
  UPDATE processing_jobs SET status = 'queued', error_message = NULL, progress = 0, started_at = NULL,
         completed_at = NULL, queue_message_id = NULL
  WHERE id = $1::uuid AND status = 'failed' AND EXISTS (SELECT 1 FROM files WHERE files.id = processing_jobs.file_id)
  RETURNING id, file_id),
f AS (
  UPDATE files SET processing_status = 'pending', processing_error = NULL, processing_progress = 0, updated_at = NOW()
  FROM j WHERE files.id = j.file_id
  RETURNING files.id, files.user_id, files.original_key, files.file_type, files.mime_type, files.filename,
            files.metadata)
SELECT j.id::text AS job_id, f.id::text AS file_id, f.user_id::text AS user_id, f.original_key, f.file_type,
       f.mime_type, f.filename, f.metadata
FROM j JOIN f ON f.id = j.file_id
"""

# A failed attempt: the job, and on the final attempt ($4) its file with the owner's
# processing-failed webhook events, in one statement.
_FAIL = f"""
WITH job AS (
  UPDATE processing_jobs SET status = CASE WHEN $4::boolean THEN 'failed' ELSE 'queued' END, error_message = $2,
         completed_at = CASE WHEN $4::boolean THEN NOW() ELSE NULL END
  WHERE id = $3::text::uuid),
changed AS (
  UPDATE files SET processing_status = 'failed', processing_error = $2, updated_at = NOW()
  WHERE id = $1::uuid AND $4::boolean RETURNING {FILE_EVENT_COLUMNS}),
events AS ({FAILED_EVENTS})
SELECT count(*) FROM changed
"""


class FileStatus:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self, job_id: str, file_id: str) -> bool:
        """Mark the job running; False when the file was deleted (the job is cancelled)."""
        rows = await self.db.fetch(
            """WITH job AS (
                 UPDATE processing_jobs SET status = 'processing', started_at = NOW(), completed_at = NULL,
                   attempts = attempts + 1, progress = 0, error_message = NULL WHERE id = $1::uuid
               ), changed AS (
                 UPDATE files SET processing_status = 'processing', processing_progress = 0,
                   processing_error = NULL, updated_at = NOW() WHERE id = $2::uuid RETURNING id
               )
               SELECT count(*) AS n FROM changed""",
            job_id,
            file_id,
        )
        return int(rows[0]["n"]) == 1

    async def progress(self, job_id: str, file_id: str, percent: float) -> bool:
        """Record progress; False when the file is gone (purged: the job should stop)."""
        pct = max(0.0, min(100.0, float(percent)))
        await self.db.execute("UPDATE processing_jobs SET progress = $2::real WHERE id = $1::uuid", job_id, pct)
        rows = await self.db.fetch(
            "UPDATE files SET processing_progress = $2::real WHERE id = $1::uuid RETURNING id", file_id, pct
        )
        return bool(rows)

    async def complete(
        self, job_id: str, file_id: str, fields: dict[str, Any], *, camera: Mapping[str, str | None] | None = None
    ) -> bool:
        """Record outputs (and ``camera``: ``taken_at``, ``camera_make``, ``camera_model``,
        ``lens`` when known); False when the file disappeared meanwhile (outputs must be discarded)."""
        camera = camera or {}
        rows = await self.db.fetch(
            f"""WITH changed AS (
                 UPDATE files SET processing_status = 'completed', processing_progress = 100, processing_error = NULL,
                   preview_key = $2, thumbnail_key = $3, hls_playlist_key = COALESCE($4, hls_playlist_key),
                   placeholder = $5, metadata = COALESCE(metadata, '{{}}'::jsonb)
                     || jsonb_build_object('media', $6::jsonb, 'outputs', $7::jsonb),
                   taken_at = COALESCE($8::timestamp, taken_at), camera_make = COALESCE($9, camera_make),
                   camera_model = COALESCE($10, camera_model), lens = COALESCE($11, lens),
                   updated_at = NOW()
                 WHERE id = $1::uuid RETURNING {FILE_EVENT_COLUMNS}
               ), events AS ({COMPLETED_EVENTS}
               ), job AS (
                 UPDATE processing_jobs SET status = 'completed', progress = 100, completed_at = NOW(),
                   error_message = NULL WHERE id = $12::text::uuid
               )
               SELECT count(*) AS n FROM changed""",
            file_id,
            fields.get("preview_key"),
            fields.get("thumbnail_key"),
            fields.get("hls_playlist_key"),
            fields.get("placeholder"),
            json.dumps(fields.get("metadata") or {}),
            json.dumps(fields.get("outputs") or []),
            camera.get("taken_at"),
            camera.get("camera_make"),
            camera.get("camera_model"),
            camera.get("lens"),
            job_id,
        )
        return int(rows[0]["n"]) == 1

    async def fail(self, job_id: str, file_id: str, reason: str, *, final: bool) -> None:
        """A failed attempt: final ones fail the file; others go back to 'queued' for a retry."""
        await self.db.execute(_FAIL, file_id, reason, job_id, final)

    async def apply_event(
        self, event_id: str, kind: str, file_id: str, payload: str, status: str, error: str | None
    ) -> bool:
        """Apply a signed processing event once; False when its id was seen before.

        One statement: recording the event and applying it commit together. As two, a
        failure between them would leave the event recorded but unapplied, and every
        retried delivery would then be answered "duplicate"."""
        inserted = await self.db.fetch(
            """WITH event AS (
                 INSERT INTO webhook_events (id, event, file_id, payload) VALUES ($1, $2, $3::uuid, $4::jsonb)
                 ON CONFLICT (id) DO NOTHING RETURNING id
               ), applied AS (
                 UPDATE files SET processing_status = $5, processing_error = $6, updated_at = NOW()
                 WHERE id = $3::uuid AND processing_status IS DISTINCT FROM $5 AND EXISTS (SELECT 1 FROM event)
               )
               SELECT id FROM event""",
            event_id,
            kind,
            file_id,
            payload,
            status,
            error if status == "failed" else None,
        )
        return bool(inserted)

    async def dead_lettered(self, message: dict[str, Any], attempts: int) -> bool:
        """A job message reached the dead-letter queue: stamp its job (the Cloudflare dead-letter
        count) and fail the job and file unless the job finished. True when the file was failed.

        The processor fails a file itself on the last attempt it *runs*; a job whose deliveries
        never reached a processor (container down, start timeouts, a crash loop) is failed here."""
        job_id, file_id = str(message.get("job_id") or ""), str(message.get("file_id") or "")
        if not job_id or not file_id:
            return False
        reason = DEAD_LETTER_REASON.format(attempts=attempts)
        rows = await self.db.fetch(
            f"""WITH job AS (
                 UPDATE processing_jobs j SET dead_lettered_at = COALESCE(j.dead_lettered_at, NOW()),
                   status = CASE WHEN o.settled THEN j.status ELSE 'failed' END,
                   error_message = CASE WHEN o.settled THEN j.error_message ELSE $3 END,
                   completed_at = CASE WHEN o.settled THEN j.completed_at ELSE NOW() END
                 FROM (SELECT id, COALESCE(status, 'queued') IN ('completed', 'failed') AS settled
                       FROM processing_jobs WHERE id::text = $1 AND file_id::text = $2) o
                 WHERE j.id = o.id
                 RETURNING j.file_id, o.settled
               ), changed AS (
                 UPDATE files SET processing_status = 'failed', processing_error = $3, updated_at = NOW()
                 WHERE id IN (SELECT file_id FROM job WHERE NOT settled) RETURNING {FILE_EVENT_COLUMNS}
               ), events AS ({DEAD_LETTER_EVENTS})
               SELECT id::text AS id FROM changed""",
            job_id,
            file_id,
            reason,
            attempts,
        )
        return bool(rows)

    async def reset_for_retry(self, job_id: str) -> Row | None:
        """Put a failed job and its file back to queued/pending; the files row (for the message),
        or None when the job is not failed or its file is gone."""
        rows = await self.db.fetch(_RESET_FOR_RETRY, job_id)
        return rows[0] if rows else None

    async def fail_unqueued(self, job_id: str, reason: str) -> None:
        """A reset job whose message the queue refused: failed again, with why."""
        await self.db.execute(
            """WITH j AS (UPDATE processing_jobs SET status = 'failed', error_message = $2, completed_at = LOCALTIMESTAMP
                          WHERE id = $1::uuid AND status = 'queued' RETURNING file_id)
               UPDATE files SET processing_status = 'failed', processing_error = $2, updated_at = NOW()
               FROM j WHERE files.id = j.file_id""",
            job_id,
            reason,
        )
