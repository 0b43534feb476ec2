"""The outbox delivery loop: sends users' queued webhook events, outside any job slot.

Runs beside the pull loop in the processor process, on both runtimes (see the README's
"Webhooks"): claims due rows from :class:`mediagate.webhooks.outbox.OutboxRepository`,
POSTs each once (Standard Webhooks signature with the endpoint's secret, the event's
fixed ``webhook-id``), and records the answer. A 2xx is delivered; network errors, 5xx,
408 and 429 are retried with exponential backoff until the policy's attempts or age run
out; any other answer, or a URL the address policy refuses after DNS resolution, is
final. Each attempt goes to the vetted, pinned address (:mod:`.outbound`), never follows
redirects and ignores proxies from the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import httpx
from mediagate.webhooks.outbox import OutboxRepository, Pending, RetryPolicy

from .notify import TIMEOUT, post_once
from .outbound import AddressResolver, Target, vetted_target

log = logging.getLogger("processor.webhooks")

BATCH = 16
PRUNE_EVERY = 3600.0  # seconds between deletions of settled events past the retention


class WebhookSender:
    def __init__(
        self,
        outbox: OutboxRepository,
        *,
        policy: RetryPolicy,
        poll_interval: float = 1.0,
        allow_private: bool = False,
        resolver: AddressResolver | None = None,
    ) -> None:
        self.outbox = outbox
        self.policy = policy
        self.poll_interval = poll_interval
        self.allow_private = allow_private
        self.resolver = resolver
        # No proxies from the environment (they would resolve names themselves), no
        # redirects, no pooled connections shared between names on one IP.
        self.client = httpx.AsyncClient(
            timeout=TIMEOUT,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self.sent = 0
        self._stop = asyncio.Event()

    async def _target(self, url: str) -> Target:
        return await vetted_target(url, allow_private=self.allow_private, resolver=self.resolver)

    async def run_forever(self) -> None:
        pruned_at = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - pruned_at >= PRUNE_EVERY:
                    pruned_at = time.monotonic()
                    await self.outbox.prune(self.policy.retention)
                busy = await self.deliver_due() > 0
            except Exception:
                log.exception("webhook outbox round failed")
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.poll_interval)

    async def deliver_due(self, limit: int = BATCH) -> int:
        """One round: claim up to ``limit`` due rows and attempt each; the number claimed."""
        rows = await self.outbox.claim(limit, self.policy.lease)
        await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def _deliver(self, row: Pending) -> None:
        body = json.dumps(row.payload, separators=(",", ":")).encode()
        result = await post_once(self.client, row.url, row.secret, body, row.event_id, target=self._target)
        try:
            if result.delivered:
                assert result.status is not None
                await self.outbox.delivered(row.id, result.status)
                self.sent += 1
                return
            retry_in = self.policy.delay(row.attempts) if result.retryable else None
            retrying = await self.outbox.failed(
                row.id, result.status, result.error or "failed", retry_in=retry_in, policy=self.policy
            )
            log.info("webhook %s attempt %d: %s %s", row.event_id, row.attempts, result.status, result.error)
            if not retrying:
                log.warning("webhook %s to %s given up: %s", row.event_id, row.url, result.error)
        except Exception:  # the lease runs out and the row is tried again
            log.exception("webhook %s: outcome not recorded", row.event_id)

    async def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        await self.client.aclose()
