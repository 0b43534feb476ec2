"""Processing webhooks from the processor, and users' own webhook registrations.

``POST /webhook/processing-complete`` and ``/webhook/processing-failed`` accept only
events signed with ``WEBHOOK_SECRET`` within the tolerance window; each event id is
applied once (``webhook_events``), so deliveries can be retried safely.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify
from .errors import authenticate, json_error

MAX_WEBHOOK_BODY = 64 * 1024
STATUS_BY_EVENT = {"processing-complete": "completed", "processing-failed": "failed"}


async def processing_event(request: Request) -> Response:
    services = request.app.state.services
    settings = services.settings
    kind = request.path_params["kind"]
    if kind not in STATUS_BY_EVENT:
        return json_error(404, f"unknown webhook {kind!r}")
    if not settings.webhook_secret:
        return json_error(503, "webhooks are not configured (WEBHOOK_SECRET)")
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BODY:
        return json_error(413, "webhook body too large")
    try:
        verify(
            settings.webhook_secret,
            body,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            now=services.clock.now(),
            tolerance=settings.webhook_tolerance_seconds,
        )
    except SignatureError as exc:
        return json_error(401, str(exc))
    try:
        event = json.loads(body)
        event_id, file_id = str(event["id"]), str(event["file_id"])
    except (ValueError, KeyError, TypeError):
        return json_error(400, "webhook body must be JSON with id and file_id")
    status = STATUS_BY_EVENT[kind]
    # One statement: recording the event and applying it commit together. As two, a failure
    # between them would leave the event recorded but unapplied, and every retried delivery
    # would then be answered "duplicate".
    inserted = await services.db.fetch(
        """WITH event AS (
             INSERT INTO webhook_events (id, event, file_id, payload) VALUES ($1, $2, $3::uuid, $4::jsonb)
             ON CONFLICT (id) DO NOTHING RETURNING id
           ), applied AS (
             UPDATE files SET processing_status = $5, processing_error = $6, updated_at = NOW()
             WHERE id = $3::uuid AND processing_status IS DISTINCT FROM $5 AND EXISTS (SELECT 1 FROM event)
           )
           SELECT id FROM event""",
        event_id,
        kind,
        file_id,
        body.decode(),
        status,
        event.get("error") if status == "failed" else None,
    )
    return JSONResponse({"ok": True, "duplicate": not inserted})


def _public_url(url: object) -> str:
    if not isinstance(url, str) or len(url) > 2000:
        raise ValueError("url must be a string")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("url must be an absolute http(s) URL")
    return url


async def register_webhook(request: Request) -> Response:
    services = request.app.state.services
    principal = authenticate(request)
    try:
        payload = await request.json()
        url = _public_url(payload.get("url") if isinstance(payload, dict) else None)
    except ValueError as exc:
        return json_error(422, f"invalid webhook: {exc}")
    secret = secrets.token_urlsafe(32)
    rows = await services.db.fetch(
        "INSERT INTO user_webhooks (user_id, url, secret) VALUES ($1::uuid, $2, $3) RETURNING id::text AS id",
        principal.user_id,
        url,
        secret,
    )
    return JSONResponse({"id": rows[0]["id"], "url": url, "secret": secret}, status_code=201)


async def list_webhooks(request: Request) -> Response:
    services = request.app.state.services
    principal = authenticate(request)
    rows = await services.db.fetch(
        "SELECT id::text AS id, url FROM user_webhooks WHERE user_id = $1::uuid ORDER BY created_at", principal.user_id
    )
    return JSONResponse({"webhooks": rows})


async def delete_webhook(request: Request) -> Response:
    services = request.app.state.services
    principal = authenticate(request)
    hook_id = request.path_params["hook_id"]
    n = await services.db.execute(
        "DELETE FROM user_webhooks WHERE id::text = $1 AND user_id = $2::uuid", hook_id, principal.user_id
    )
    if n == 0:
        return json_error(404, "webhook not found")
    return Response(status_code=204)


routes = [
    Route("/webhook/{kind}", processing_event, methods=["POST"]),
    Route("/api/webhooks", register_webhook, methods=["POST"]),
    Route("/api/webhooks", list_webhooks, methods=["GET"]),
    Route("/api/webhooks/{hook_id}", delete_webhook, methods=["DELETE"]),
]
