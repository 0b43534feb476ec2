"""Jobs that exhausted their deliveries: fail them visibly instead of leaving them pending.

The processor fails a file itself on the last attempt it *runs*. A job whose deliveries
never reached a processor (container down, start timeouts, a crash loop) ends in the
dead-letter queue without anyone having told the file; the dead-letter consumer calls
:func:`fail_dead_letter` for each such message so the file shows ``failed`` with a reason
and the job row says so too, and its owner's ``processing-failed`` webhook events are
queued in the same statement. Jobs that already finished are left alone.
"""

from __future__ import annotations

from typing import Any

from .ports import Database
from .webhooks.outbox import FILE_EVENT_COLUMNS, event_rows

# the owner's processing-failed webhook events, queued with the change (mediagate.webhooks.outbox)
DEAD_LETTER_EVENTS = event_rows(
    "changed",
    event_type="'processing-failed'",
    job_id="$1::text",
    extra="jsonb_build_object('attempts', $4::int)",  # deliveries made
)
REASON = "processing did not run: the job exhausted its {attempts} deliveries (dead-lettered)"


async def fail_dead_letter(db: Database, message: dict[str, Any], attempts: int) -> bool:
    """Fail the message's job and file unless the job finished; True when something changed.

    One statement: over Neon's HTTP endpoint each statement is its own transaction."""
    job_id, file_id = str(message.get("job_id") or ""), str(message.get("file_id") or "")
    if not job_id or not file_id:
        return False
    reason = REASON.format(attempts=attempts)
    rows = await db.fetch(
        f"""WITH job AS (
             UPDATE processing_jobs SET status = 'failed', error_message = $3, completed_at = NOW()
             WHERE id::text = $1 AND file_id::text = $2 AND status NOT IN ('completed', 'failed')
             RETURNING file_id
           ), changed AS (
             UPDATE files SET processing_status = 'failed', processing_error = $3, updated_at = NOW()
             WHERE id IN (SELECT file_id FROM job) RETURNING {FILE_EVENT_COLUMNS}
           ), events AS ({DEAD_LETTER_EVENTS})
           SELECT id::text AS id FROM changed""",
        job_id,
        file_id,
        reason,
        attempts,
    )
    return bool(rows)
