"""Where the pull loop gets jobs: the local Postgres queue (``make dev``, tests).

A source gives leased messages that the runner settles with its :class:`JobOutcome`
(:func:`apply_outcome`): acked, retried with a delay, or dead-lettered; ``extend`` keeps a
long job's lease alive. On Cloudflare the
processor does not pull: the Worker's queue consumer pushes each job to ``POST /jobs``
(``PULL_ENABLED=0``), so there is no Cloudflare source here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from mediagate.adapters.local.pg_queue import WAKE_CHANNEL, PostgresQueue
from mediagate.contracts import ACK, DEAD, JobOutcome

log = logging.getLogger("processor.jobsource")


@dataclass(frozen=True)
class Lease:
    lease_id: str
    body: dict[str, Any]
    attempts: int


class JobSource(Protocol):
    async def pull(self, batch_size: int, visibility_timeout: float, steps: bool | None = None) -> list[Lease]:
        """Lease messages; ``steps`` True/False: only steps of jobs (a video's poster) / only jobs."""
        ...

    async def ack(self, lease_id: str) -> None: ...

    async def retry(self, lease_id: str, delay_seconds: float, reason: str) -> None: ...

    async def dead_letter(self, lease_id: str, reason: str) -> None: ...

    async def extend(self, lease_id: str, visibility_timeout: float) -> None: ...


async def apply_outcome(source: JobSource, lease: Lease, outcome: JobOutcome) -> None:
    """Settle a pulled lease as the runner decided."""
    if outcome.action == ACK:
        await source.ack(lease.lease_id)
    elif outcome.action == DEAD:
        await source.dead_letter(lease.lease_id, outcome.reason)
    else:
        await source.retry(lease.lease_id, outcome.delay_seconds, outcome.reason)


class PostgresJobSource(JobSource):
    def __init__(self, queue: PostgresQueue) -> None:
        self.queue = queue

    async def pull(self, batch_size: int, visibility_timeout: float, steps: bool | None = None) -> list[Lease]:
        leased = await self.queue.pull(batch_size=batch_size, visibility_timeout=visibility_timeout, steps=steps)
        return [Lease(m.lease_id, m.body, m.attempts) for m in leased]

    async def ack(self, lease_id: str) -> None:
        await self.queue.ack(lease_id)

    async def retry(self, lease_id: str, delay_seconds: float, reason: str) -> None:
        await self.queue.retry(lease_id, delay_seconds=delay_seconds, reason=reason)

    async def dead_letter(self, lease_id: str, reason: str) -> None:
        await self.queue.dead_letter(lease_id, reason)

    async def extend(self, lease_id: str, visibility_timeout: float) -> None:
        await self.queue.extend(lease_id, visibility_timeout)


class QueueWakeups:
    """LISTENs to the local queues' NOTIFY (``pg_queue.WAKE_CHANNEL``) and calls ``wake`` on
    each message sent, so an idle pull loop starts a job at once instead of at its next poll
    (``POLL_INTERVAL`` stays as the fallback: a lost connection only costs that latency)."""

    def __init__(self, dsn: str, wake: Callable[[], None], *, retry_seconds: float = 2.0) -> None:
        self.dsn = dsn
        self.wake = wake
        self.retry_seconds = retry_seconds
        self.listening = asyncio.Event()  # tests: set once LISTEN is in effect

    async def run_forever(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {WAKE_CHANNEL}")
                    self.listening.set()
                    self.wake()  # anything sent while not listening
                    async for _ in conn.notifies():
                        self.wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarted, say: poll meanwhile, reconnect
                self.listening.clear()
                log.warning("queue wake-ups lost (%s); polling until reconnected", exc)
            await asyncio.sleep(self.retry_seconds)
