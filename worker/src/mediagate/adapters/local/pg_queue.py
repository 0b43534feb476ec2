"""A durable job queue on Postgres, shaped like Cloudflare Queues' pull consumer API.

``send`` enqueues; ``pull`` leases up to ``batch_size`` visible messages for
``visibility_timeout`` seconds (a leased message reappears if not acked in time, e.g.
when its consumer was killed); ``ack`` deletes; ``retry`` makes a message visible again
after a delay. A message pulled more than ``max_attempts`` times goes to
``queue_dead_letters`` instead of being delivered again. Every operation is a single
statement with ``FOR UPDATE SKIP LOCKED``, safe with any number of consumers.

``send`` also notifies :data:`WAKE_CHANNEL` (payload: the queue's name) when the message is
visible at once, so an idle consumer that LISTENs starts it without waiting for its next poll
(the processor's ``QueueWakeups``). Within a queue, whole jobs are leased before *steps* of a
job (messages with a ``step``, e.g. a video's early poster): a photo queued at the same time
as a poster message goes first (Cloudflare Queues has no such order; see wrangler.toml).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...ports import Clock, Database, FileMessagePurge, JobQueue, QueueStats, SystemClock, json_value

#: NOTIFY channel of every local queue: a message was sent (payload: the queue's name).
WAKE_CHANNEL = "mediagate_queue"


@dataclass(frozen=True)
class LeasedMessage:
    id: str
    lease_id: str
    body: dict[str, Any]
    attempts: int


class PostgresQueue(JobQueue):
    def __init__(self, db: Database, name: str, *, max_attempts: int = 3, clock: Clock | None = None) -> None:
        self.db = db
        self.name = name
        self.max_attempts = max_attempts
        self.clock = clock or SystemClock()

    async def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        rows = await self.db.fetch(
            """WITH sent AS (
                 INSERT INTO queue_messages (queue, body, visible_at)
                 VALUES ($1, $2::jsonb, to_timestamp($3::float8)) RETURNING id)
               SELECT id::text AS id, CASE WHEN $4::boolean THEN pg_notify($5, $1) END AS woke FROM sent""",
            self.name,
            json.dumps(body),
            self.clock.now() + delay_seconds,
            delay_seconds <= 0,
            WAKE_CHANNEL,
        )
        return str(rows[0]["id"])

    async def pull(
        self, *, batch_size: int = 1, visibility_timeout: float = 300, steps: bool | None = None
    ) -> list[LeasedMessage]:
        """Lease up to ``batch_size`` visible messages; ``steps`` True/False: only steps of jobs
        (messages with a ``step``) / only whole jobs (the processor's poster slot / job slots)."""
        await self._dead_letter_exhausted()
        kind = "" if steps is None else f" AND (body ? 'step') = {'true' if steps else 'false'}"
        lease = uuid.uuid4().hex
        now = self.clock.now()
        rows = await self.db.fetch(
            """WITH picked AS (
                 SELECT id FROM queue_messages
                 WHERE queue = $1 AND visible_at <= to_timestamp($2::float8) AND attempts < $5::int"""
            + kind
            + """
                 ORDER BY body ? 'step', visible_at, created_at
                 LIMIT $3::int FOR UPDATE SKIP LOCKED)
               UPDATE queue_messages m
               SET attempts = m.attempts + 1, lease_id = $4 || ':' || m.id::text,
                   visible_at = to_timestamp($2::float8 + $6::float8)
               FROM picked WHERE m.id = picked.id
               RETURNING m.id::text AS id, m.lease_id, m.body, m.attempts""",
            self.name,
            now,
            batch_size,
            lease,
            self.max_attempts,
            visibility_timeout,
        )
        return [LeasedMessage(r["id"], r["lease_id"], json_value(r["body"]), int(r["attempts"])) for r in rows]

    async def ack(self, lease_id: str) -> bool:
        return await self.db.execute("DELETE FROM queue_messages WHERE lease_id = $1", lease_id) == 1

    async def retry(self, lease_id: str, *, delay_seconds: float = 0, reason: str | None = None) -> str:
        """Release a leased message for another attempt, or dead-letter it when attempts are used up.

        Returns ``"retried"``, ``"dead"`` or ``"unknown"`` (the lease expired and was re-taken)."""
        dead = await self.db.fetch(
            """WITH gone AS (
                 DELETE FROM queue_messages WHERE lease_id = $1 AND attempts >= $2::int
                 RETURNING id, queue, body, attempts, created_at)
               INSERT INTO queue_dead_letters (id, queue, body, attempts, reason, created_at)
               SELECT id, queue, body, attempts, $3, created_at FROM gone RETURNING id""",
            lease_id,
            self.max_attempts,
            reason,
        )
        if dead:
            return "dead"
        n = await self.db.execute(
            """UPDATE queue_messages SET lease_id = NULL, visible_at = to_timestamp($2::float8)
               WHERE lease_id = $1""",
            lease_id,
            self.clock.now() + delay_seconds,
        )
        return "retried" if n == 1 else "unknown"

    async def dead_letter(self, lease_id: str, reason: str) -> bool:
        """Move a leased message to the dead letters now (its consumer gave up on it)."""
        rows = await self.db.fetch(
            """WITH gone AS (
                 DELETE FROM queue_messages WHERE lease_id = $1
                 RETURNING id, queue, body, attempts, created_at)
               INSERT INTO queue_dead_letters (id, queue, body, attempts, reason, created_at)
               SELECT id, queue, body, attempts, $2, created_at FROM gone RETURNING id""",
            lease_id,
            reason,
        )
        return bool(rows)

    async def extend(self, lease_id: str, visibility_timeout: float) -> bool:
        """Keep a long-running job's lease: it stays invisible for another ``visibility_timeout``."""
        n = await self.db.execute(
            "UPDATE queue_messages SET visible_at = to_timestamp($2::float8) WHERE lease_id = $1",
            lease_id,
            self.clock.now() + visibility_timeout,
        )
        return n == 1

    async def _dead_letter_exhausted(self) -> None:
        """Messages whose every attempt timed out (consumer killed each time) go to the DLQ."""
        await self.db.execute(
            """WITH gone AS (
                 DELETE FROM queue_messages
                 WHERE queue = $1 AND attempts >= $2::int AND visible_at <= to_timestamp($3::float8)
                 RETURNING id, queue, body, attempts, created_at)
               INSERT INTO queue_dead_letters (id, queue, body, attempts, reason, created_at)
               SELECT id, queue, body, attempts, 'visibility timeout after the last attempt', created_at
               FROM gone""",
            self.name,
            self.max_attempts,
            self.clock.now(),
        )

    async def depth(self) -> int:
        rows = await self.db.fetch("SELECT count(*) AS n FROM queue_messages WHERE queue = $1", self.name)
        return int(rows[0]["n"])


class PostgresQueueStats(QueueStats, FileMessagePurge):
    """QueueStats and FileMessagePurge of the local queues (every lane), from their tables.

    Depth counts messages not yet acked, leased ones included; dead letters are the rows
    of ``queue_dead_letters``."""

    def __init__(self, db: Database, queues: Sequence[str]) -> None:
        self.db = db
        self.queues = list(queues)

    async def depth(self) -> int:
        rows = await self.db.fetch(
            "SELECT count(*) AS n FROM queue_messages WHERE queue = ANY($1::text[])", self.queues
        )
        return int(rows[0]["n"])

    async def dead_letters(self) -> int:
        rows = await self.db.fetch(
            "SELECT count(*) AS n FROM queue_dead_letters WHERE queue = ANY($1::text[])", self.queues
        )
        return int(rows[0]["n"])

    async def purge_files(self, file_ids: Sequence[str]) -> int:
        if not file_ids:
            return 0
        return await self.db.execute(
            "DELETE FROM queue_messages WHERE queue = ANY($1::text[]) AND body->>'file_id' = ANY($2::text[])",
            self.queues,
            list(file_ids),
        )
