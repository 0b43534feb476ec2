"""Processing webhooks from the processor, and users' own webhook registrations.

``POST /webhook/processing-complete`` and ``/webhook/processing-failed`` accept only
events signed with ``WEBHOOK_SECRET`` within the tolerance window; each event id is
applied once (``webhook_events``), so deliveries can be retried safely. Their bodies are
capped at 64 KiB by the edge guard before anything is read, signed or not.

``POST /api/webhooks`` registers a user's URL only when ``netpolicy`` allows it (http(s),
valid port, no private/loopback/metadata address); the processor checks it again after
DNS resolution when it delivers. Each registration gets a Standard Webhooks secret
(``whsec_…``); ``GET /api/webhooks/{id}/deliveries`` shows the state of its events in the
outbox (attempts, last answer, next attempt, delivered or given up).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..netpolicy import UrlRejected, normalize_webhook_url
from ..strict import InputError, check_text, loads_json, parse_bounded_int, scrub_controls
from ..webhooks import SignatureError, new_secret, verify
from ..webhooks.outbox import MAX_LISTED, OutboxRepository
from .bodies import read_json
from .errors import authenticate, json_error

MAX_EVENT_ID = 200
MAX_ERROR = 4000
STATUS_BY_EVENT = {"processing-complete": "completed", "processing-failed": "failed"}


async def processing_event(request: Request) -> Response:
    services = request.app.state.services
    settings = services.settings
    kind = request.path_params["kind"]
    if kind not in STATUS_BY_EVENT:
        return json_error(404, f"unknown webhook {kind!r}")
    if not settings.webhook_secret:
        return json_error(503, "webhooks are not configured (WEBHOOK_SECRET)")
    body = await request.body()  # bounded by the edge guard (edge.WEBHOOK_BODY_LIMIT)
    try:
        verify(
            settings.webhook_secret,
            body,
            request.headers,
            now=services.clock.now(),
            tolerance=settings.webhook_tolerance_seconds,
        )
    except SignatureError as exc:
        return json_error(401, str(exc))
    try:
        event_id, file_id, error = _parse_event(body)
    except InputError as exc:
        return json_error(exc.status, f"invalid webhook event: {exc.message}")
    status = STATUS_BY_EVENT[kind]
    applied = await services.file_status.apply_event(event_id, kind, file_id, body.decode(), status, error)
    return JSONResponse({"ok": True, "duplicate": not applied})


def _parse_event(body: bytes) -> tuple[str, str, str | None]:
    """(id, file_id, error) of a signed event; InputError for anything the tables can't hold."""
    event: Any = loads_json(body)
    if not isinstance(event, dict):
        raise InputError("body must be a JSON object")
    event_id, file_id, error = event.get("id"), event.get("file_id"), event.get("error")
    if not isinstance(event_id, str | int) or isinstance(event_id, bool) or str(event_id) == "":
        raise InputError("id must be a non-empty string")
    event_id = check_text("id", str(event_id), max_length=MAX_EVENT_ID)
    try:
        file_id = str(uuid.UUID(file_id)) if isinstance(file_id, str) and len(file_id) <= 45 else ""
    except ValueError:
        file_id = ""
    if not file_id:
        raise InputError("file_id must be a file id (UUID)")
    if error is not None and not isinstance(error, str):
        raise InputError("error must be a string or null")
    if error is not None:
        error = scrub_controls(error[:MAX_ERROR])
    return event_id, file_id, error


async def register_webhook(request: Request) -> Response:
    services = request.app.state.services
    principal = authenticate(request)
    payload = await read_json(request)  # InputError → 400
    try:
        url = normalize_webhook_url(
            payload.get("url") if isinstance(payload, dict) else None,
            allow_private_addresses=services.settings.webhook_allow_private,
        )
    except UrlRejected as exc:
        return json_error(422, f"invalid webhook: {exc}")
    secret = new_secret()
    hook_id = await services.user_webhooks.add(principal.user_id, url, secret)
    return JSONResponse({"id": hook_id, "url": url, "secret": secret}, status_code=201)


async def list_webhooks(request: Request) -> Response:
    services = request.app.state.services
    principal = authenticate(request)
    return JSONResponse({"webhooks": await services.user_webhooks.list(principal.user_id)})


async def delete_webhook(request: Request) -> Response:
    services = request.app.state.services
    principal = authenticate(request)
    try:
        hook_id = str(uuid.UUID(request.path_params["hook_id"]))
    except ValueError:
        return json_error(404, "webhook not found")
    if not await services.user_webhooks.delete(principal.user_id, hook_id):
        return json_error(404, "webhook not found")
    return Response(status_code=204)


DEFAULT_DELIVERIES = 50


def _uuid_text(raw: str) -> str | None:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


async def list_deliveries(request: Request) -> Response:
    """The registration's events and their delivery state (404 for another user's)."""
    principal = authenticate(request)
    try:
        limit = parse_bounded_int("limit", request.query_params.get("limit"), DEFAULT_DELIVERIES, 1, MAX_LISTED)
    except InputError as exc:
        return json_error(exc.status, exc.message)
    hook_id = _uuid_text(request.path_params["hook_id"])
    outbox = OutboxRepository(request.app.state.services.db)
    rows = None if hook_id is None else await outbox.deliveries(principal.user_id, hook_id, limit)
    if rows is None:
        return json_error(404, "webhook not found")
    return JSONResponse({"deliveries": rows})


routes = [
    Route("/webhook/{kind}", processing_event, methods=["POST"]),
    Route("/api/webhooks", register_webhook, methods=["POST"]),
    Route("/api/webhooks", list_webhooks, methods=["GET"]),
    Route("/api/webhooks/{hook_id}", delete_webhook, methods=["DELETE"]),
    Route("/api/webhooks/{hook_id}/deliveries", list_deliveries, methods=["GET"]),
]
