"""Errors as JSON: every refusal is a 4xx with ``{"error": message}``, never a bare 500."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..auth import AuthError, Principal, principal_from_header


def json_error(status: int, message: str, headers: dict[str, str] | None = None, *, head: bool = False) -> Response:
    if head:
        return Response(status_code=status, headers=headers)
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def authenticate(request: Request) -> Principal:
    """The token's principal; raises AuthError (turned into 401 by the app)."""
    services = request.app.state.services
    return principal_from_header(services.settings.jwt_secret, request.headers.get("authorization"))


async def auth_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    return json_error(401, str(exc), {"WWW-Authenticate": 'Bearer realm="mediagate"'}, head=request.method == "HEAD")
