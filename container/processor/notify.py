"""Completion webhooks: signed POSTs to the Worker and to users' own endpoints, with retries."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

import httpx
from mediagate.webhooks import signed_headers

from .status import StatusStore

log = logging.getLogger("processor.notify")

ATTEMPTS = 4
BASE_DELAY = 0.5


async def post_signed(
    client: httpx.AsyncClient, url: str, secret: str, payload: dict[str, Any]
) -> tuple[int, int | None, str | None]:
    """POST with retries on network errors and 5xx/429; returns (attempts, status, error)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    status: int | None = None
    error: str | None = None
    for attempt in range(1, ATTEMPTS + 1):
        try:
            r = await client.post(url, content=body, headers=signed_headers(secret, int(time.time()), body))
            status, error = r.status_code, None
            if r.status_code < 500 and r.status_code != 429:
                return attempt, status, None if r.is_success else r.text[:500]
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        if attempt < ATTEMPTS:
            await asyncio.sleep(BASE_DELAY * 2 ** (attempt - 1))
    return ATTEMPTS, status, error


class Notifier:
    def __init__(self, worker_url: str, secret: str, status: StatusStore) -> None:
        self.worker_url = worker_url
        self.secret = secret
        self.status = status
        self.client = httpx.AsyncClient(timeout=10)

    async def send(self, event: str, message: dict[str, Any], extra: dict[str, Any]) -> None:
        """event: 'processing-complete' or 'processing-failed'."""
        payload = {
            # One id per event (its deliveries retry with the same id; a later attempt is a new event).
            "id": f"{message['job_id']}:{event}:{uuid.uuid4().hex[:12]}",
            "event": event,
            "job_id": message["job_id"],
            "file_id": message["file_id"],
            "user_id": message["user_id"],
            "filename": message.get("filename"),
            "file_type": message.get("file_type"),
            "occurred_at": int(time.time()),
            **extra,
        }
        if self.worker_url and self.secret:
            attempts, status, error = await post_signed(
                self.client, f"{self.worker_url}/webhook/{event}", self.secret, payload
            )
            if error or status is None or status >= 300:
                log.warning("webhook %s to the Worker failed after %d attempts: %s %s", event, attempts, status, error)
        for hook in await self.status.user_webhooks(message["user_id"]):
            attempts, status, error = await post_signed(self.client, hook["url"], hook["secret"], payload)
            await self.status.record_delivery(hook["id"], payload["id"], attempts, status, error)

    async def close(self) -> None:
        await self.client.aclose()
