"""Where the pull loop gets jobs: the local Postgres queue (``make dev``, tests).

A source gives leased messages that the runner settles with its :class:`JobOutcome`
(:func:`apply_outcome`): acked, retried with a delay, or dead-lettered; ``extend`` keeps a
long job's lease alive. On Cloudflare the
processor does not pull: the Worker's queue consumer pushes each job to ``POST /jobs``
(``PULL_ENABLED=0``), so there is no Cloudflare source here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from mediagate.adapters.local.pg_queue import PostgresQueue
from mediagate.contracts import ACK, DEAD, JobOutcome


@dataclass(frozen=True)
class Lease:
    lease_id: str
    body: dict[str, Any]
    attempts: int


class JobSource(Protocol):
    async def pull(self, batch_size: int, visibility_timeout: float) -> list[Lease]: ...

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

    async def pull(self, batch_size: int, visibility_timeout: float) -> list[Lease]:
        leased = await self.queue.pull(batch_size=batch_size, visibility_timeout=visibility_timeout)
        return [Lease(m.lease_id, m.body, m.attempts) for m in leased]

    async def ack(self, lease_id: str) -> None:
        await self.queue.ack(lease_id)

    async def retry(self, lease_id: str, delay_seconds: float, reason: str) -> None:
        await self.queue.retry(lease_id, delay_seconds=delay_seconds, reason=reason)

    async def dead_letter(self, lease_id: str, reason: str) -> None:
        await self.queue.dead_letter(lease_id, reason)

    async def extend(self, lease_id: str, visibility_timeout: float) -> None:
        await self.queue.extend(lease_id, visibility_timeout)
