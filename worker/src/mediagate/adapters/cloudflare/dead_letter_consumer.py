"""The dead-letter queue's consumer: every message there is a dead letter of its job.

Cloudflare moves a job message to ``mediagate-jobs-dlq`` after ``max_retries`` failed
deliveries (wrangler.toml). This Worker consumes that queue too (``Default.queue`` tells the
two apart by ``batch.queue``) and records each through the file status owner
(:meth:`mediagate.file_status.FileStatus.dead_lettered`): the job is stamped (the admin
stats' dead-letter count on Cloudflare) and, unless it finished, it and its file fail with a
reason. A message is acked once recorded; a database error retries it, so no dead letter
is dropped unrecorded.
"""

from __future__ import annotations

import logging
from typing import Any

from ...file_status import FileStatus
from .container_dispatch import message_body
from .ffi import js_get, maybe_await, unwrap_binding

log = logging.getLogger("mediagate.dead_letters")


async def consume_dead_letters(batch: Any, status: FileStatus, max_attempts: int) -> list[str]:
    """Record each message's dead letter; returns what happened per message (for the logs)."""
    done: list[str] = []
    for message in list(js_get(unwrap_binding(batch), "messages", []) or []):
        body = message_body(message)
        try:
            changed = await status.dead_lettered(body, max_attempts)
        except Exception as exc:
            log.error("dead letter %s not recorded: %s", body.get("job_id"), exc)
            await maybe_await(message.retry())
            done.append(f"{body.get('job_id')}=retry")
            continue
        await maybe_await(message.ack())
        done.append(f"{body.get('job_id')}={'failed' if changed else 'already settled'}")
    return done
