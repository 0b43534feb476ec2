"""Job and file status in Postgres: what the UI and the admin page read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mediagate.contracts import message_for_file
from mediagate.file_status import FileStatus


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


class StatusStore(FileStatus):
    """The processor's view of the tables: status transitions are :class:`FileStatus`'s (their
    one owner, shared with the Worker); here the early outputs, users' webhooks and the job
    message as the database says it is."""

    async def complete(
        self, job_id: str, file_id: str, fields: dict[str, Any], *, camera: Mapping[str, str | None] | None = None
    ) -> bool:
        """Record outputs with the date taken / camera columns (by default read from the metadata)."""
        if camera is None:
            camera = camera_fields(fields.get("metadata") or {})
        return await super().complete(job_id, file_id, fields, camera=camera)

    async def poster(
        self, file_id: str, fields: dict[str, Any], media: dict[str, Any], *, only_if_missing: bool = False
    ) -> bool:
        """The poster/thumbnail exists before the ladder: the grid and viewer show it at once.

        ``media`` (probe facts incl. ``direct_play``) goes to ``metadata.media`` until the
        completion replaces it with the full metadata. ``only_if_missing`` (the fast lane's
        early poster): written only while the file has no thumbnail and is not completed, so
        it never overwrites the transcode's. True when the row was updated."""
        guard = (
            " AND thumbnail_key IS NULL AND processing_status IN ('pending', 'processing')" if only_if_missing else ""
        )
        rows = await self.db.fetch(
            """UPDATE files SET preview_key = $2, thumbnail_key = $3, placeholder = $4,
                 metadata = COALESCE(metadata, '{}'::jsonb) || jsonb_build_object('media', $5::jsonb),
                 updated_at = NOW()
               WHERE id = $1::uuid"""
            + guard
            + " RETURNING id",
            file_id,
            fields.get("preview_key"),
            fields.get("thumbnail_key"),
            fields.get("placeholder"),
            json.dumps(media),
        )
        return bool(rows)

    async def thumbnail(self, file_id: str, thumbnail_key: str, placeholder: str) -> None:
        """A still's grid thumbnail exists before the rest of its job: the grid shows it at once
        (the completion writes the same key again, with the viewer size)."""
        await self.db.execute(
            """UPDATE files SET thumbnail_key = $2, placeholder = $3, updated_at = NOW()
               WHERE id = $1::uuid AND processing_status IN ('pending', 'processing')""",
            file_id,
            thumbnail_key,
            placeholder,
        )

    async def poster_pending(self, file_id: str, *, job_id: str | None = None) -> bool:
        """True while the file has no thumbnail and (given ``job_id``) that job has not started."""
        job = " AND EXISTS (SELECT 1 FROM processing_jobs j WHERE j.id::text = $2 AND j.status = 'queued')"
        rows = await self.db.fetch(
            "SELECT 1 AS ok FROM files WHERE id = $1::uuid AND thumbnail_key IS NULL"
            " AND processing_status IN ('pending', 'processing')" + (job if job_id else ""),
            *([file_id, job_id] if job_id else [file_id]),
        )
        return bool(rows)

    async def playable(self, job_id: str, file_id: str, hls_key: str) -> None:
        await self.db.execute(
            "UPDATE processing_jobs SET playable_at = COALESCE(playable_at, NOW()) WHERE id = $1::uuid", job_id
        )
        await self.db.execute(
            "UPDATE files SET hls_playlist_key = $2, updated_at = NOW() WHERE id = $1::uuid", file_id, hls_key
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
        return message_for_file(rows[0]["job_id"], rows[0]) if rows else None
