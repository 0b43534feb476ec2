"""Where jobs come from: the local Postgres queue, or Cloudflare Queues' HTTP pull consumer.

Both give leased messages that must be acked, retried with a delay, or (after the last
attempt) dead-lettered; ``extend`` keeps a long job's lease alive where the backend can.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from mediagate.adapters.local.pg_queue import PostgresQueue


@dataclass(frozen=True)
class Lease:
    lease_id: str
    body: dict[str, Any]
    attempts: int


class JobSource(Protocol):
    async def pull(self, batch_size: int, visibility_timeout: float) -> list[Lease]: ...

    async def ack(self, lease_id: str) -> None: ...

    async def retry(self, lease_id: str, delay_seconds: float, reason: str) -> None: ...

    async def extend(self, lease_id: str, visibility_timeout: float) -> None: ...


class PostgresJobSource:
    def __init__(self, queue: PostgresQueue) -> None:
        self.queue = queue

    async def pull(self, batch_size: int, visibility_timeout: float) -> list[Lease]:
        leased = await self.queue.pull(batch_size=batch_size, visibility_timeout=visibility_timeout)
        return [Lease(m.lease_id, m.body, m.attempts) for m in leased]

    async def ack(self, lease_id: str) -> None:
        await self.queue.ack(lease_id)

    async def retry(self, lease_id: str, delay_seconds: float, reason: str) -> None:
        await self.queue.retry(lease_id, delay_seconds=delay_seconds, reason=reason)

    async def extend(self, lease_id: str, visibility_timeout: float) -> None:
        await self.queue.extend(lease_id, visibility_timeout)


class CloudflarePullSource:
    """Cloudflare Queues HTTP pull consumer (``/messages/pull`` and ``/messages/ack``).

    The dead-letter queue and max retries are the consumer's settings in wrangler.toml;
    Cloudflare moves a message there after its last retry.
    """

    API = "https://api.cloudflare.com/client/v4"

    def __init__(self, account_id: str, queue_id: str, token: str, client: httpx.AsyncClient | None = None) -> None:
        self.base = f"{self.API}/accounts/{account_id}/queues/{queue_id}/messages"
        self.client = client or httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {token}"})

    async def pull(self, batch_size: int, visibility_timeout: float) -> list[Lease]:
        r = await self.client.post(
            f"{self.base}/pull",
            json={"batch_size": batch_size, "visibility_timeout_ms": int(visibility_timeout * 1000)},
        )
        r.raise_for_status()
        messages = r.json().get("result", {}).get("messages", [])
        leases = []
        for m in messages:
            body = m.get("body")
            if isinstance(body, str):
                body = json.loads(body)
            leases.append(Lease(m["lease_id"], body, int(m.get("attempts", 1))))
        return leases

    async def ack(self, lease_id: str) -> None:
        r = await self.client.post(f"{self.base}/ack", json={"acks": [{"lease_id": lease_id}], "retries": []})
        r.raise_for_status()

    async def retry(self, lease_id: str, delay_seconds: float, reason: str) -> None:
        r = await self.client.post(
            f"{self.base}/ack",
            json={"acks": [], "retries": [{"lease_id": lease_id, "delay_seconds": int(delay_seconds)}]},
        )
        r.raise_for_status()

    async def extend(self, lease_id: str, visibility_timeout: float) -> None:
        """Pull leases cannot be extended: the visibility timeout must cover the longest job."""
