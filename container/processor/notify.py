"""Completion webhooks to the Worker: signed POSTs (Standard Webhooks, see
:mod:`mediagate.webhooks`) with a few retries.

Delivery never escapes the job and never holds its slot: it runs in the background, and
whatever goes wrong is caught and logged (the processor has written the file's status
itself). Users' webhooks do not
go through here: they are queued in the outbox with the status change and sent by
:mod:`processor.webhook_sender`, outside the job's slot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from mediagate.netpolicy import UrlRejected
from mediagate.webhooks import signed_headers

from .outbound import Target

log = logging.getLogger("processor.notify")

ATTEMPTS = 4
BASE_DELAY = 0.5
MAX_ERROR_TEXT = 500
TIMEOUT = httpx.Timeout(10.0)

Resolver = Callable[[str], Awaitable[Target]]


async def _trusted(url: str) -> Target:
    return Target(url, {})


@dataclass(frozen=True)
class Attempt:
    """One POST's outcome: ``status`` (None without an answer), ``error`` (None on 2xx), and
    whether trying again could help (network errors, 5xx, 408, 429; not a refused URL)."""

    status: int | None
    error: str | None
    retryable: bool

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def post_once(
    client: httpx.AsyncClient,
    url: str,
    secret: str,
    body: bytes,
    event_id: str,
    *,
    target: Resolver = _trusted,
) -> Attempt:
    """One signed POST. ``target`` turns the URL into where to connect (for users' URLs:
    the vetted, pinned address). Never raises."""
    try:
        where = await target(url)
        headers = {**signed_headers(secret, int(time.time()), body, event_id=event_id), **where.headers}
        async with client.stream("POST", where.url, content=body, headers=headers, extensions=where.extensions) as r:
            if r.is_success:
                return Attempt(r.status_code, None, False)
            retryable = r.status_code >= 500 or r.status_code in (408, 429)
            return Attempt(r.status_code, await _excerpt(r), retryable)
    except UrlRejected as exc:  # the policy's answer would not change
        return Attempt(None, f"refused: {exc}"[:MAX_ERROR_TEXT], False)
    except Exception as exc:  # any failure is a failed attempt, never the caller's failure
        return Attempt(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT], True)


async def post_signed(
    client: httpx.AsyncClient, url: str, secret: str, payload: dict[str, Any], *, event_id: str
) -> tuple[int, int | None, str | None]:
    """POST with a few quick retries (same event id); returns (attempts, status, error)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    result = Attempt(None, None, True)
    for attempt in range(1, ATTEMPTS + 1):
        result = await post_once(client, url, secret, body, event_id)
        if not result.retryable:
            return attempt, result.status, result.error
        if attempt < ATTEMPTS:
            await asyncio.sleep(BASE_DELAY * 2 ** (attempt - 1))
    return ATTEMPTS, result.status, result.error


async def _excerpt(response: httpx.Response) -> str:
    """The start of a response body, read without buffering a huge one."""
    text = b""
    async for chunk in response.aiter_bytes():
        text += chunk
        if len(text) >= MAX_ERROR_TEXT:
            break
    return (f"HTTP {response.status_code}: " + text[:MAX_ERROR_TEXT].decode("utf-8", "replace"))[:MAX_ERROR_TEXT]


class Notifier:
    def __init__(self, worker_url: str, secret: str) -> None:
        self.worker_url = worker_url
        self.secret = secret
        self.client = httpx.AsyncClient(timeout=TIMEOUT)
        self.tasks: set[asyncio.Task[None]] = set()

    def dispatch(self, event: str, message: dict[str, Any], extra: dict[str, Any]) -> None:
        """Send in the background: a slow or unreachable Worker must not hold the job's
        processing slot (the file's status is already in the database)."""
        task = asyncio.create_task(self.send(event, message, extra))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def send(self, event: str, message: dict[str, Any], extra: dict[str, Any]) -> None:
        """event: 'processing-complete' or 'processing-failed'. Never raises."""
        try:
            await self._send(event, message, extra)
        except Exception:
            log.exception("webhook %s for job %s could not be delivered", event, message.get("job_id"))

    async def _send(self, event: str, message: dict[str, Any], extra: dict[str, Any]) -> None:
        if not (self.worker_url and self.secret):
            return
        event_id = f"{message['job_id']}:{event}:{uuid.uuid4().hex[:12]}"
        payload = {
            # One id per event (its deliveries retry with the same id; a later attempt is a new event).
            "id": event_id,
            "event": event,
            "job_id": message["job_id"],
            "file_id": message["file_id"],
            "user_id": message["user_id"],
            "filename": message.get("filename"),
            "file_type": message.get("file_type"),
            "occurred_at": int(time.time()),
            **extra,
        }
        attempts, status, error = await post_signed(
            self.client, f"{self.worker_url}/webhook/{event}", self.secret, payload, event_id=event_id
        )
        if error or status is None or status >= 300:
            log.warning("webhook %s to the Worker failed after %d attempts: %s %s", event, attempts, status, error)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await self.client.aclose()
