"""Queueing a job: the one path from a job's rows to a message on the queue.

Used by the ingest (an upload's last byte) and by an admin retry. The message is built from
the files row (:func:`mediagate.contracts.message_for_file`), gets a storage grant when this
runtime attaches one, is sent, and its id is recorded on the job. A kill between the send
and the record makes a later ingest run send a second copy, which delivery already allows
for (at-least-once; consumers are idempotent).

The ingest also asks for a video's fast-lane poster message
(:func:`mediagate.contracts.poster_message`), sent once after the job message; losing it costs
only the early poster, so it is best effort (logged, never raised).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .contracts import poster_message, with_storage
from .crashpoints import crash_point
from .job_repository import JobRepository
from .ports import JobQueue

log = logging.getLogger("mediagate.enqueue")

Grants = Callable[[dict[str, Any]], dict[str, Any] | None]


class Enqueuer:
    def __init__(self, queue: JobQueue, jobs: JobRepository, grants: Grants | None = None) -> None:
        self.queue = queue
        self.jobs = jobs
        self.grants = grants  # locally (JOB_STORAGE_GRANTS=1): a storage grant rides in the message

    def with_grant(self, message: dict[str, Any]) -> dict[str, Any]:
        """The message as queued: with a storage grant when this runtime attaches one."""
        grant = self.grants(message) if self.grants else None
        return with_storage(message, grant) if grant else message

    async def enqueue(self, message: dict[str, Any], *, with_poster: bool = False) -> str:
        """Send the job's message and record its id; returns the id. Queue errors propagate."""
        message_id = await self.queue.send(self.with_grant(message))
        crash_point("ingest:after-send")
        if with_poster:
            await self.send_poster(message)
        await self.jobs.record_message(str(message["job_id"]), message_id)
        return message_id

    async def send_poster(self, message: dict[str, Any]) -> None:
        """Queue a video's fast-lane poster message; a failure only loses the early poster."""
        try:
            await self.queue.send(self.with_grant(poster_message(message)))
        except Exception:
            log.warning("job %s: the poster message could not be queued", message.get("job_id"), exc_info=True)
