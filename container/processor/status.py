"""Job and file status in Postgres: what the UI and the admin page read."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from mediagate.jobs import job_message
from mediagate.ports import Database, json_value
from mediagate.webhooks.outbox import FILE_EVENT_COLUMNS, event_rows

FAILED_EVENTS = event_rows(
    "changed",
    event_type="'processing-failed'",
    job_id="$3::text",
    extra="jsonb_build_object('attempts', (SELECT attempts FROM processing_jobs WHERE id = $3::text::uuid))",
)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """A camera string as the filters match it: trimmed, NUL-free, at most 200 characters."""
    if not isinstance(value, str):
        return None
    text = value.replace("\x00", "").strip()[:200]
    return text or None


def taken_at(metadata: dict[str, Any]) -> str | None:
    """When the picture was taken: EXIF DateTimeOriginal (``exif.taken_at``), for video the
    container's ``creation_time`` (probe). The camera's wall clock (any offset dropped), and
    only plausible dates: cameras write ``0000:00:00`` when unset."""
    exif, tags = _dict(metadata.get("exif")), _dict(metadata.get("tags"))
    for raw in (exif.get("taken_at"), metadata.get("creation_time"), tags.get("creation_time")):
        if not isinstance(raw, str) or len(raw) > 40:
            continue
        try:
            moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        if 1800 <= moment.year <= 2999:
            return moment.replace(tzinfo=None).isoformat(sep=" ")
    return None


def camera_fields(metadata: dict[str, Any]) -> dict[str, str | None]:
    """The columns the library sorts and filters by (migration 007), from the metadata."""
    exif = _dict(metadata.get("exif"))
    return {
        "taken_at": taken_at(metadata),
        "camera_make": _text(exif.get("make")),
        "camera_model": _text(exif.get("model")),
        "lens": _text(exif.get("lens_model")),
    }


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

    async def poster(self, file_id: str, fields: dict[str, Any], media: dict[str, Any]) -> None:
        """The poster/thumbnail exists before the ladder: the grid and viewer show it at once.

        ``media`` (probe facts incl. ``direct_play``) goes to ``metadata.media`` until the
        completion replaces it with the full metadata."""
        await self.db.execute(
            """UPDATE files SET preview_key = $2, thumbnail_key = $3, placeholder = $4,
                 metadata = COALESCE(metadata, '{}'::jsonb) || jsonb_build_object('media', $5::jsonb),
                 updated_at = NOW()
               WHERE id = $1::uuid""",
            file_id,
            fields.get("preview_key"),
            fields.get("thumbnail_key"),
            fields.get("placeholder"),
            json.dumps(media),
        )

    async def playable(self, job_id: str, file_id: str, hls_key: str) -> None:
        await self.db.execute(
            "UPDATE processing_jobs SET playable_at = COALESCE(playable_at, NOW()) WHERE id = $1::uuid", job_id
        )
        await self.db.execute(
            "UPDATE files SET hls_playlist_key = $2, updated_at = NOW() WHERE id = $1::uuid", file_id, hls_key
        )

    async def complete(self, job_id: str, file_id: str, fields: dict[str, Any]) -> bool:
        """Record outputs and the date taken / camera columns; False when the file disappeared
        meanwhile (outputs must be discarded). The owner's ``processing-complete`` webhook
        events are queued in the same statement."""
        camera = camera_fields(fields.get("metadata") or {})
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
               ), events AS ({event_rows("changed", event_type="'processing-complete'", job_id="$12::text")})
               SELECT count(*) AS n FROM changed""",
            file_id,
            fields.get("preview_key"),
            fields.get("thumbnail_key"),
            fields.get("hls_playlist_key"),
            fields.get("placeholder"),
            json.dumps(fields.get("metadata") or {}),
            json.dumps(fields.get("outputs") or []),
            camera["taken_at"],
            camera["camera_make"],
            camera["camera_model"],
            camera["lens"],
            job_id,
        )
        await self.db.execute(
            """UPDATE processing_jobs SET status = 'completed', progress = 100, completed_at = NOW(),
                 error_message = NULL WHERE id = $1::uuid""",
            job_id,
        )
        return int(rows[0]["n"]) == 1

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
        if final:  # the owner's processing-failed events are queued with the change
            await self.db.execute(
                f"""WITH changed AS (
                     UPDATE files SET processing_status = 'failed', processing_error = $2, updated_at = NOW()
                     WHERE id = $1::uuid RETURNING {FILE_EVENT_COLUMNS}
                   ), events AS ({FAILED_EVENTS})
                   SELECT count(*) FROM changed""",
                file_id,
                reason,
                job_id,
            )

    async def job_message(self, job_id: str) -> dict[str, Any] | None:
        """The job message as the database says it is (None for an unknown job).

        A delivered message is trusted for its job id only: which file, whose original
        (``object_key``), where outputs go and how to treat it all come from the rows the
        Worker wrote at ingest, so a forged or stale message cannot point a job at another
        user's object."""
        rows = await self.db.fetch(
            """SELECT j.id::text AS job_id, f.id::text AS file_id, f.user_id::text AS user_id,
                      f.original_key, f.file_type, f.mime_type, f.filename, f.metadata
               FROM processing_jobs j JOIN files f ON f.id = j.file_id WHERE j.id::text = $1""",
            job_id,
        )
        if not rows:
            return None
        row = rows[0]
        meta = json_value(row["metadata"]) or {}
        upload_meta = (meta.get("upload") or {}).get("metadata") or {}
        return job_message(
            job_id=row["job_id"],
            file_id=row["file_id"],
            user_id=row["user_id"],
            object_key=row["original_key"],
            file_type=row["file_type"],
            mime_type=row["mime_type"] or "",
            filename=row["filename"] or "",
            is_raw=bool(meta.get("is_raw")),
            metadata={k: str(v) for k, v in upload_meta.items() if isinstance(v, str)},
        )
