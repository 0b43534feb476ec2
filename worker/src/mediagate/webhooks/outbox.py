"""The webhook outbox: users' events as rows, written with the change that causes them.

A file's status change and the events it owes its owner's endpoints commit in one
statement (``event_rows`` is a CTE body the status writer adds to its UPDATE), so a crash
after the change cannot lose an event and a rolled-back change sends none. A delivery
loop (the processor's ``processor.webhook_sender``) claims due rows, POSTs each once and
records the answer: delivered, retried later with exponential backoff, or given up after
``max_attempts`` or ``max_age``. Nothing of this runs inside a processing slot.

Every statement here is single and atomic (Neon over HTTP runs them as well as psycopg).
The owner reads a registration's delivery state through ``deliveries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..ports import Database, json_value

# Columns a status writer's CTE must RETURN for ``event_rows``.
FILE_EVENT_COLUMNS = (
    "id, user_id, filename, file_type, processing_status, processing_error, "
    "preview_key, thumbnail_key, hls_playlist_key, placeholder"
)
MAX_ERROR_TEXT = 500
MAX_LISTED = 200


def event_rows(changed: str, *, event_type: str, job_id: str, extra: str = "'{}'::jsonb") -> str:
    """SQL (an ``INSERT``) queuing one event per webhook of each changed file's owner.

    ``changed`` names a CTE returning ``FILE_EVENT_COLUMNS``; ``event_type``, ``job_id`` and
    ``extra`` (a jsonb merged into ``data``) are SQL expressions, usually placeholders. The
    payload follows the Standard Webhooks shape ``{type, timestamp, data}``; one event id
    (the ``webhook-id`` of every attempt) per event, shared by the owner's endpoints."""
    return f"""INSERT INTO webhook_outbox (event_id, webhook_id, event_type, payload)
       SELECT e.event_id, w.id, {event_type}, jsonb_build_object(
                'type', {event_type},
                'timestamp', to_char(NOW() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'data', jsonb_build_object(
                  'file_id', c.id, 'job_id', {job_id}, 'filename', c.filename, 'file_type', c.file_type,
                  'status', c.processing_status, 'error', c.processing_error, 'preview_key', c.preview_key,
                  'thumbnail_key', c.thumbnail_key, 'hls_playlist_key', c.hls_playlist_key,
                  'placeholder', c.placeholder) || {extra})
       FROM {changed} c
       JOIN user_webhooks w ON w.user_id = c.user_id
       CROSS JOIN (SELECT 'msg_' || replace(gen_random_uuid()::text, '-', '') AS event_id) e"""


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again: ``base × 2^(attempt-1)`` capped at ``cap``; give up after
    ``max_attempts`` attempts or once the event is ``max_age`` seconds old."""

    base: float = 5.0
    cap: float = 3600.0
    max_attempts: int = 12
    max_age: float = 86400.0
    lease: float = 60.0  # a claimed row is retried after this if its sender died mid-attempt
    retention: float = 30 * 86400.0  # settled events stay visible to their owner this long

    def delay(self, attempts: int) -> float:
        return min(self.cap, self.base * 2.0 ** max(0, attempts - 1))


@dataclass(frozen=True)
class Pending:
    """A claimed outbox row: one attempt to make now."""

    id: int
    event_id: str
    payload: dict[str, Any]
    attempts: int  # including this one
    url: str
    secret: str


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, limit: int, lease_seconds: float) -> list[Pending]:
        """Due rows, leased: counted as attempted and hidden for ``lease_seconds`` so a
        second sender skips them and a sender that dies leaves them to be retried."""
        rows = await self.db.fetch(
            """UPDATE webhook_outbox o
                 SET attempts = o.attempts + 1, last_attempt_at = NOW(),
                     next_at = NOW() + make_interval(secs => $2::float8)
               FROM user_webhooks w
               WHERE w.id = o.webhook_id AND o.id IN (
                 SELECT id FROM webhook_outbox
                 WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= NOW()
                 ORDER BY next_at LIMIT $1::int FOR UPDATE SKIP LOCKED)
               RETURNING o.id, o.event_id, o.payload, o.attempts, w.url, w.secret""",
            limit,
            lease_seconds,
        )
        return [
            Pending(
                id=int(r["id"]),
                event_id=str(r["event_id"]),
                payload=json_value(r["payload"]),
                attempts=int(r["attempts"]),
                url=str(r["url"]),
                secret=str(r["secret"]),
            )
            for r in rows
        ]

    async def delivered(self, row_id: int, status: int) -> None:
        await self.db.execute(
            """UPDATE webhook_outbox SET delivered_at = NOW(), last_status = $2::int, last_error = NULL
               WHERE id = $1::bigint""",
            row_id,
            status,
        )

    async def failed(
        self, row_id: int, status: int | None, error: str, *, retry_in: float | None, policy: RetryPolicy
    ) -> bool:
        """Record a failed attempt; retry after ``retry_in`` seconds unless it is None (final)
        or the policy's attempts or age are used up. True when the row will be retried."""
        rows = await self.db.fetch(
            """UPDATE webhook_outbox SET last_status = $2::int, last_error = $3,
                 failed_at = CASE WHEN $4::float8 IS NULL OR attempts >= $5::int
                                    OR created_at <= NOW() - make_interval(secs => $6::float8)
                                  THEN NOW() END,
                 next_at = NOW() + make_interval(secs => COALESCE($4::float8, 0))
               WHERE id = $1::bigint RETURNING failed_at IS NULL AS retrying""",
            row_id,
            status,
            error[:MAX_ERROR_TEXT],
            retry_in,
            policy.max_attempts,
            policy.max_age,
        )
        return bool(rows and rows[0]["retrying"])

    async def prune(self, older_than_seconds: float) -> int:
        """Forget settled events (delivered or given up) older than the retention."""
        return await self.db.execute(
            """DELETE FROM webhook_outbox WHERE (delivered_at IS NOT NULL OR failed_at IS NOT NULL)
                 AND created_at < NOW() - make_interval(secs => $1::float8)""",
            older_than_seconds,
        )

    async def has_due(self) -> bool:
        """Whether an event is due now (the Cloudflare cron then wakes a processor to send it)."""
        rows = await self.db.fetch(
            """SELECT EXISTS (SELECT 1 FROM webhook_outbox
                 WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= NOW()) AS due"""
        )
        return bool(rows[0]["due"])

    async def due_count(self) -> int:
        """Rows waiting to be sent (due now or later): what a sender still has to do."""
        rows = await self.db.fetch(
            "SELECT count(*) AS n FROM webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL"
        )
        return int(rows[0]["n"])

    async def deliveries(self, user_id: str, webhook_id: str, limit: int) -> list[dict[str, Any]] | None:
        """The registration's events, newest first; None when it is not the user's."""
        rows = await self.db.fetch(
            """SELECT o.event_id, o.event_type, o.attempts, o.last_status, o.last_error,
                      o.next_at, o.last_attempt_at, o.delivered_at, o.failed_at, o.created_at, w.id AS hook
               FROM user_webhooks w LEFT JOIN webhook_outbox o ON o.webhook_id = w.id
               WHERE w.id::text = $1 AND w.user_id = $2::uuid
               ORDER BY o.id DESC NULLS LAST LIMIT $3::int""",
            webhook_id,
            user_id,
            max(1, min(limit, MAX_LISTED)),
        )
        if not rows:
            return None
        return [_delivery(r) for r in rows if r["event_id"] is not None]


def _delivery(row: dict[str, Any]) -> dict[str, Any]:
    state = "delivered" if row["delivered_at"] else "failed" if row["failed_at"] else "pending"
    return {
        "event_id": row["event_id"],
        "type": row["event_type"],
        "state": state,
        "attempts": row["attempts"],
        "last_status": row["last_status"],
        "last_error": row["last_error"],
        "next_at": _iso(row["next_at"]) if state == "pending" else None,
        "last_attempt_at": _iso(row["last_attempt_at"]),
        "delivered_at": _iso(row["delivered_at"]),
        "failed_at": _iso(row["failed_at"]),
        "created_at": _iso(row["created_at"]),
    }


def _iso(value: Any) -> str | None:
    """A timestamp column as ISO 8601 (psycopg gives datetimes, Neon over HTTP strings)."""
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
