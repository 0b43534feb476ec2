"""Per-user rate limits: fixed one-minute windows counted in Postgres.

Two budgets, each ``N`` requests per minute per user (``0`` disables one):

* ``uploads`` (``RATE_LIMIT_UPLOADS``): upload creations, ``POST /api/upload`` and
  ``POST /api/upload/init``;
* ``api`` (``RATE_LIMIT_API``): every other ``/api/*`` request too, except
  ``/api/health``, signed object links (``/api/objects/*``, their signature is the
  authorisation), the processor's storage grants (``/api/processor-storage/*``, a video
  job writes hundreds of segments) and the tus ``PATCH``/``HEAD`` of an upload in progress (a large upload
  is thousands of chunks; it was limited when it was created).

Callers are keyed by the user id of a valid bearer token, or by the client address for
requests without one; the public share endpoints (``/api/public/*``) are always keyed by
the client address (a token there would otherwise let one caller spend others' budgets). Every limited request costs one atomic statement —
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on ``rate_limits`` (one row per key
and window, both budgets in the same statement) — which also deletes windows older than
two minutes on about 1% of requests, so the table stays small without a cron job. For
GET/HEAD the count runs concurrently with the handler (the response waits for the
verdict), so a read pays no extra sequential round trip; anything else is counted before
it runs, so a refused request changes nothing.

Over the limit: 429 ``{"error": ...}`` with ``Retry-After`` (seconds until the window
resets); every limited response carries ``RateLimit-Limit``, ``RateLimit-Remaining``
and ``RateLimit-Reset``. The middleware is pure ASGI and sits inside the CORS middleware,
so a 429 still has CORS headers. If the database cannot be reached the request goes on
(fail open): the request itself will meet the same database anyway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from dataclasses import dataclass
from typing import Any

from .auth import AuthError, principal_from_header
from .ports import Clock, Database, SystemClock
from .tus.protocol import TUS_VERSION

log = logging.getLogger("mediagate.ratelimit")

WINDOW_SECONDS = 60
KEEP_SECONDS = 120  # windows older than this are garbage
CLEANUP_PROBABILITY = 0.01

UPLOADS = "uploads"
API = "api"

_UPLOAD_CREATION_PATHS = ("/api/upload", "/api/upload/init")
_IN_PROGRESS_METHODS = ("PATCH", "HEAD")
SAFE_METHODS = ("GET", "HEAD")


def budgets_for(method: str, path: str, override: str | None = None) -> tuple[str, ...]:
    """The budgets a request counts against (also used on the OpenAPI path templates).

    ``override`` is ``X-HTTP-Method-Override`` (tus clients behind proxies that only
    allow POST send PATCH/HEAD/DELETE that way)."""
    method = method.upper()
    if method == "OPTIONS" or not path.startswith("/api/"):
        return ()
    path = path.rstrip("/") or "/"
    if path == "/api/health" or path.startswith(("/api/objects/", "/api/processor-storage/")):
        return ()
    if path.startswith("/api/upload/") and path != "/api/upload/init":
        effective = (override or method).upper() if method == "POST" else method
        if effective in _IN_PROGRESS_METHODS:
            return ()
        return (API,)
    if method == "POST" and path in _UPLOAD_CREATION_PATHS:
        return (UPLOADS, API)
    return (API,)


@dataclass(frozen=True)
class Verdict:
    budget: str
    limit: int
    count: int
    reset_after: int  # seconds until the window ends

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


def _sql(n: int) -> str:
    values = ", ".join(f"(${i + 3}, $1::bigint, 1)" for i in range(n))
    return f"""WITH gc AS (DELETE FROM rate_limits WHERE $2::bigint > 0 AND window_start < $2::bigint)
               INSERT INTO rate_limits (key, window_start, count) VALUES {values}
               ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1
               RETURNING key, count"""


_SQL = {1: _sql(1), 2: _sql(2)}


class RateLimiter:
    def __init__(
        self,
        db: Database,
        limits: dict[str, int],
        *,
        clock: Clock | None = None,
        window: int = WINDOW_SECONDS,
        cleanup_probability: float = CLEANUP_PROBABILITY,
    ) -> None:
        self.db = db
        self.limits = {name: n for name, n in limits.items() if n > 0}
        self.clock = clock or SystemClock()
        self.window = window
        self.cleanup_probability = cleanup_probability

    @property
    def enabled(self) -> bool:
        return bool(self.limits)

    async def hit(self, identity: str, budgets: tuple[str, ...]) -> list[Verdict]:
        """Count one request against ``budgets`` for ``identity``; one verdict per active budget."""
        active = [b for b in budgets if b in self.limits]
        if not active:
            return []
        now = self.clock.now()
        start = int(now // self.window) * self.window
        reset_after = max(1, math.ceil(start + self.window - now))
        cleanup_before = start - KEEP_SECONDS if random.random() < self.cleanup_probability else 0
        keys = {f"{b}:{identity}": b for b in active}
        rows = await self.db.fetch(_SQL[len(keys)], start, cleanup_before, *keys)
        counts = {keys[r["key"]]: int(r["count"]) for r in rows}
        return [Verdict(b, self.limits[b], counts.get(b, 0), reset_after) for b in active]


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def client_identity(scope: dict[str, Any], jwt_secret: str) -> str:
    """``u:<user id>`` for a valid bearer token, else ``ip:<client address>`` (always the
    address for the public share endpoints)."""
    authorization = _header(scope, b"authorization")
    if authorization and not str(scope.get("path") or "").startswith("/api/public/"):
        try:
            return "u:" + principal_from_header(jwt_secret, authorization).user_id
        except AuthError:
            pass  # the route answers 401; meanwhile count it against the address
    client = scope.get("client")
    if client and client[0]:
        return "ip:" + str(client[0])
    # Cloudflare's ASGI bridge has no peer address; Cloudflare sets this header itself.
    return "ip:" + (_header(scope, b"cf-connecting-ip") or "unknown")


def _limit_headers(verdict: Verdict) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(verdict.limit).encode()),
        (b"ratelimit-remaining", str(verdict.remaining).encode()),
        (b"ratelimit-reset", str(verdict.reset_after).encode()),
    ]


def _add_headers(message: dict[str, Any], verdicts: list[Verdict]) -> dict[str, Any]:
    """Report the tightest budget on a response that was let through."""
    if not verdicts:
        return message
    tightest = min(verdicts, key=lambda v: v.remaining)
    return {**message, "headers": [*message.get("headers", []), *_limit_headers(tightest)]}


def _with_headers(send: Any, verdicts: list[Verdict]) -> Any:
    if not verdicts:
        return send

    async def send_with_headers(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = _add_headers(message, verdicts)
        await send(message)

    return send_with_headers


class RateLimitMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware: streaming bodies pass untouched)."""

    def __init__(self, app: Any, *, services: Any) -> None:
        self.app = app
        settings = services.settings
        self.jwt_secret = settings.jwt_secret
        self.limiter = RateLimiter(
            services.db, {UPLOADS: settings.rate_limit_uploads, API: settings.rate_limit_api}, clock=services.clock
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        budgets = budgets_for(method, scope["path"], _header(scope, b"x-http-method-override"))
        if not budgets:
            await self.app(scope, receive, send)
            return
        if method in SAFE_METHODS:
            await self._overlapped(scope, receive, send, budgets)
            return
        # Anything that may change state is counted before it runs: a refused upload
        # creation creates nothing.
        verdicts = await self._hit(scope, budgets)
        refused = next((v for v in verdicts if not v.allowed), None)
        if refused is not None:
            await self._refuse(scope, send, refused)
            return
        await self.app(scope, receive, _with_headers(send, verdicts))

    async def _overlapped(self, scope: dict[str, Any], receive: Any, send: Any, budgets: tuple[str, ...]) -> None:
        """GET/HEAD: the count runs while the handler does, so the check adds no round trip.

        The handler's response waits for the verdict; a refused request's response is
        dropped (reads have no side effects) and the 429 is sent instead."""
        check = asyncio.ensure_future(self._hit(scope, budgets))
        refused: Verdict | None = None

        async def gated_send(message: dict[str, Any]) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                verdicts = await check
                refused = next((v for v in verdicts if not v.allowed), None)
                if refused is None:
                    message = _add_headers(message, verdicts)
            if refused is None:
                await send(message)

        try:
            await self.app(scope, receive, gated_send)
        finally:
            if not check.done():
                await asyncio.wait([check])  # never leave the query running unobserved
        if refused is not None:
            await self._refuse(scope, send, refused)

    async def _hit(self, scope: dict[str, Any], budgets: tuple[str, ...]) -> list[Verdict]:
        try:
            return await self.limiter.hit(client_identity(scope, self.jwt_secret), budgets)
        except Exception:
            log.warning("rate limit check failed; letting the request through", exc_info=True)
            return []

    async def _refuse(self, scope: dict[str, Any], send: Any, verdict: Verdict) -> None:
        what = "upload creations" if verdict.budget == UPLOADS else "API requests"
        message = f"rate limit exceeded: at most {verdict.limit} {what} per minute; retry in {verdict.reset_after} s"
        body = b"" if scope["method"] == "HEAD" else json.dumps({"error": message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(verdict.reset_after).encode()),
            (b"cache-control", b"no-store"),
            *_limit_headers(verdict),
        ]
        if scope["path"].startswith("/api/upload"):
            headers.append((b"tus-resumable", TUS_VERSION.encode()))
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
