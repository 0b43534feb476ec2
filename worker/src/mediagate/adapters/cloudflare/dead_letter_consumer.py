"""The dead-letter queue's consumer: every message there fails its job and file.

Cloudflare moves a job message to ``mediagate-jobs-dlq`` after ``max_retries`` failed
deliveries (wrangler.toml). This Worker consumes that queue too (``Default.queue`` tells the
two apart by ``batch.queue``) and records the outcome with
:func:`mediagate.dead_letters.fail_dead_letter`. A message is acked once recorded; a
database error retries it, so no dead letter is dropped unrecorded.
"""

from __future__ import annotations

import logging
from typing import Any

from ...dead_letters import fail_dead_letter
from ...ports import Database
from .container_dispatch import message_body
from .ffi import js_get, maybe_await, unwrap_binding

log = logging.getLogger("mediagate.dead_letters")


async def consume_dead_letters(batch: Any, db: Database, max_attempts: int) -> list[str]:
    """Fail each message's job; returns what happened per message (for the logs)."""
    done: list[str] = []
    for message in list(js_get(unwrap_binding(batch), "messages", []) or []):
        body = message_body(message)
        try:
            changed = await fail_dead_letter(db, body, max_attempts)
        except Exception as exc:
            log.error("dead letter %s not recorded: %s", body.get("job_id"), exc)
            await maybe_await(message.retry())
            done.append(f"{body.get('job_id')}=retry")
            continue
        await maybe_await(message.ack())
        done.append(f"{body.get('job_id')}={'failed' if changed else 'already settled'}")
    return done
