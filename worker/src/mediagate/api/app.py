"""The ASGI application shared by the Worker and the local server."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..auth import AuthError
from ..ports import StoreError
from ..ratelimit import RateLimitMiddleware
from ..services import Services
from ..strict import InputError
from ..tus.protocol import ALLOWED_HEADERS, EXPOSED_HEADERS
from . import (
    admin_routes,
    albums_routes,
    batch_routes,
    files_routes,
    objects_routes,
    openapi,
    processor_storage_routes,
    public_share_routes,
    shares_routes,
    trash_routes,
    tus_routes,
    webhook_routes,
)
from .edge import EdgeGuard
from .errors import auth_error_handler, json_error

log = logging.getLogger("mediagate.api")


async def health(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        await services.db.fetch("SELECT 1 AS ok")
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "database": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})


async def not_found(request: Request, exc: Exception) -> Response:
    return json_error(404, f"no route for {request.url.path}", head=request.method == "HEAD")


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    message = f"method {request.method} not allowed on {request.url.path}"
    return json_error(405, message, headers, head=request.method == "HEAD")


async def input_error(request: Request, exc: Exception) -> Response:
    """Malformed input found by a strict parser anywhere below a route: 4xx, never 500."""
    assert isinstance(exc, InputError)
    return json_error(exc.status, exc.message, head=request.method == "HEAD")


async def store_error(request: Request, exc: Exception) -> Response:
    """The object store refused an operation: a JSON 502 the client may retry, not a bare 500."""
    log.warning("store error on %s %s: %s", request.method, request.url.path, exc)
    return json_error(502, "the object store refused the operation; retry later", head=request.method == "HEAD")


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_error(500, "internal error; the request was not applied", head=request.method == "HEAD")


def create_app(services: Services, *, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    routes: list[BaseRoute] = [
        Route("/api/health", health, methods=["GET"]),
        *tus_routes.routes,
        *batch_routes.routes,
        *trash_routes.routes,
        *files_routes.routes,
        *albums_routes.routes,
        *shares_routes.routes,
        *public_share_routes.routes,
        *objects_routes.routes,
        *processor_storage_routes.routes,
        *webhook_routes.routes,
        *admin_routes.routes,
        *openapi.routes,
        *extra_routes,
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=list(services.settings.cors_origins),
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=list(ALLOWED_HEADERS),
            expose_headers=[
                *list(EXPOSED_HEADERS),
                "Content-Disposition",
                "Content-Range",
                "Accept-Ranges",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
            max_age=86400,
        ),
        Middleware(
            EdgeGuard, body_timeout=services.settings.body_timeout_seconds
        ),  # inside CORS: refusals keep CORS headers; before any DB work
        Middleware(RateLimitMiddleware, services=services),  # inside CORS: a 429 keeps CORS headers
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            AuthError: auth_error_handler,
            InputError: input_error,
            StoreError: store_error,
            404: not_found,
            405: method_not_allowed,
            500: internal_error,
        },
    )
    app.state.services = services
    return app
