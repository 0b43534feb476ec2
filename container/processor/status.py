"""Job and file status in Postgres: what the UI and the admin page read."""

from __future__ import annotations

import json
from typing import Any

from mediagate.ports import Database


class StatusStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self, job_id: str, file_id: str) -> bool:
        """Mark the job running; False when the file was deleted (the job is cancelled)."""
        n = await self.db.execute(
            """UPDATE files SET processing_status = 'processing', processing_progress = 0,
                 processing_error = NULL, updated_at = NOW() WHERE id = $1::uuid""",
            file_id,
        )
        await self.db.execute(
            """UPDATE processing_jobs SET status = 'processing', started_at = NOW(), completed_at = NULL,
                 attempts = attempts + 1, progress = 0, error_message = NULL WHERE id = $1::uuid""",
            job_id,
        )
        return n == 1

    async def progress(self, job_id: str, file_id: str, percent: float) -> None:
        pct = max(0.0, min(100.0, float(percent)))
        await self.db.execute("UPDATE processing_jobs SET progress = $2::real WHERE id = $1::uuid", job_id, pct)
        await self.db.execute("UPDATE files SET processing_progress = $2::real WHERE id = $1::uuid", file_id, pct)

    async def playable(self, job_id: str, file_id: str, hls_key: str) -> None:
        await self.db.execute(
            "UPDATE processing_jobs SET playable_at = COALESCE(playable_at, NOW()) WHERE id = $1::uuid", job_id
        )
        await self.db.execute("UPDATE files SET hls_playlist_key = $2 WHERE id = $1::uuid", file_id, hls_key)

    async def complete(self, job_id: str, file_id: str, fields: dict[str, Any]) -> bool:
        """Record outputs; False when the file disappeared meanwhile (outputs must be discarded)."""
        n = await self.db.execute(
            """UPDATE files SET processing_status = 'completed', processing_progress = 100, processing_error = NULL,
                 preview_key = $2, thumbnail_key = $3, hls_playlist_key = COALESCE($4, hls_playlist_key),
                 placeholder = $5, metadata = COALESCE(metadata, '{}'::jsonb)
                   || jsonb_build_object('media', $6::jsonb, 'outputs', $7::jsonb),
                 updated_at = NOW()
               WHERE id = $1::uuid""",
            file_id,
            fields.get("preview_key"),
            fields.get("thumbnail_key"),
            fields.get("hls_playlist_key"),
            fields.get("placeholder"),
            json.dumps(fields.get("metadata") or {}),
            json.dumps(fields.get("outputs") or []),
        )
        await self.db.execute(
            """UPDATE processing_jobs SET status = 'completed', progress = 100, completed_at = NOW(),
                 error_message = NULL WHERE id = $1::uuid""",
            job_id,
        )
        return n == 1

    async def fail(self, job_id: str, file_id: str, reason: str, *, final: bool) -> None:
        """A failed attempt: final ones fail the file; others go back to 'queued' for a retry."""
        status = "failed" if final else "queued"
        await self.db.execute(
            """UPDATE processing_jobs SET status = $2::varchar, error_message = $3,
                 completed_at = CASE WHEN $2::varchar = 'failed' THEN NOW() ELSE NULL END WHERE id = $1::uuid""",
            job_id,
            status,
            reason,
        )
        if final:
            await self.db.execute(
                """UPDATE files SET processing_status = 'failed', processing_error = $2, updated_at = NOW()
                   WHERE id = $1::uuid""",
                file_id,
                reason,
            )

    async def user_webhooks(self, user_id: str) -> list[dict[str, Any]]:
        return await self.db.fetch(
            "SELECT id::text AS id, url, secret FROM user_webhooks WHERE user_id = $1::uuid", user_id
        )

    async def record_delivery(
        self, webhook_id: str, event_id: str, attempts: int, status: int | None, error: str | None
    ) -> None:
        await self.db.execute(
            """INSERT INTO webhook_deliveries (webhook_id, event_id, attempts, status_code, error, delivered)
               VALUES ($1::uuid, $2, $3::int, $4::int, $5, $6::boolean)""",
            webhook_id,
            event_id,
            attempts,
            status,
            error,
            status is not None and 200 <= status < 300,
        )
