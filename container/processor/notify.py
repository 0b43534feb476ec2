"""Completion webhooks: signed POSTs to the Worker and to users' own endpoints, with retries.

Delivery never escapes the job: whatever goes wrong (a refused or malformed URL, DNS,
TLS, timeouts, a receiver answering garbage) is caught, retried when it may be
transient, and recorded in ``webhook_deliveries``; the job settles regardless. Users'
URLs go through ``outbound.vetted_target`` (the address policy, after DNS resolution);
the Worker's own URL (``WORKER_URL``) is operator configuration and is trusted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from mediagate.netpolicy import UrlRejected, allow_private
from mediagate.webhooks import signed_headers

from .outbound import Target, vetted_target
from .status import StatusStore

log = logging.getLogger("processor.notify")

ATTEMPTS = 4
BASE_DELAY = 0.5
MAX_ERROR_TEXT = 500
TIMEOUT = httpx.Timeout(10.0)

Resolver = Callable[[str], Awaitable[Target]]


async def _trusted(url: str) -> Target:
    return Target(url, {})


async def post_signed(
    client: httpx.AsyncClient,
    url: str,
    secret: str,
    payload: dict[str, Any],
    *,
    target: Resolver = _trusted,
) -> tuple[int, int | None, str | None]:
    """POST with retries on any error and on 5xx/429; returns (attempts, status, error).

    ``target`` turns the URL into where to connect (for users' URLs: the vetted, pinned
    address). A URL the policy refuses is not retried: the answer would not change."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    status: int | None = None
    error: str | None = None
    for attempt in range(1, ATTEMPTS + 1):
        try:
            where = await target(url)
            headers = {**signed_headers(secret, int(time.time()), body), **where.headers}
            async with client.stream(
                "POST", where.url, content=body, headers=headers, extensions=where.extensions
            ) as r:
                status, error = r.status_code, None
                if r.status_code < 500 and r.status_code != 429:
                    return attempt, status, None if r.is_success else await _excerpt(r)
                error = await _excerpt(r)
        except UrlRejected as exc:
            return attempt, None, f"refused: {exc}"[:MAX_ERROR_TEXT]
        except Exception as exc:  # any failure is a failed attempt, never the job's failure
            status, error = None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT]
        if attempt < ATTEMPTS:
            await asyncio.sleep(BASE_DELAY * 2 ** (attempt - 1))
    return ATTEMPTS, status, error


async def _excerpt(response: httpx.Response) -> str:
    """The start of a response body, read without buffering a huge one."""
    text = b""
    async for chunk in response.aiter_bytes():
        text += chunk
        if len(text) >= MAX_ERROR_TEXT:
            break
    return (f"HTTP {response.status_code}: " + text[:MAX_ERROR_TEXT].decode("utf-8", "replace"))[:MAX_ERROR_TEXT]


class Notifier:
    def __init__(self, worker_url: str, secret: str, status: StatusStore, *, allow_private: bool | None = None) -> None:
        self.worker_url = worker_url
        self.secret = secret
        self.status = status
        self.client = httpx.AsyncClient(timeout=TIMEOUT)
        # Users' endpoints: no proxies from the environment (they would resolve names
        # themselves), no redirects, no pooled connections shared between names on one IP.
        self.user_client = httpx.AsyncClient(
            timeout=TIMEOUT,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self.allow_private = _env_allow_private() if allow_private is None else allow_private

    async def _user_target(self, url: str) -> Target:
        return await vetted_target(url, allow_private=self.allow_private)

    async def send(self, event: str, message: dict[str, Any], extra: dict[str, Any]) -> None:
        """event: 'processing-complete' or 'processing-failed'. Never raises."""
        try:
            await self._send(event, message, extra)
        except Exception:
            log.exception("webhook %s for job %s could not be delivered", event, message.get("job_id"))

    async def _send(self, event: str, message: dict[str, Any], extra: dict[str, Any]) -> None:
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
            try:
                attempts, status, error = await post_signed(
                    self.user_client, hook["url"], hook["secret"], payload, target=self._user_target
                )
                await self.status.record_delivery(hook["id"], payload["id"], attempts, status, error)
            except Exception:
                log.exception("delivery to user webhook %s could not be recorded", hook.get("id"))

    async def close(self) -> None:
        await self.client.aclose()
        await self.user_client.aclose()


def _env_allow_private() -> bool:
    return allow_private(os.environ)
