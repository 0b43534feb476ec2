"""Request bodies as JSON, parsed strictly once per request.

The bytes are bounded by the edge guard (``edge.py``) before any handler reads them;
here they are parsed with ``strict.loads_json`` (UTF-8, depth-limited, no NUL), so a
100,000-deep array is a 400, not a ``RecursionError`` 500.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ..strict import InputError, loads_json

_MISSING = object()


async def read_json(request: Request) -> Any:
    """The request's JSON body; raises ``strict.InputError`` (400) when it is not JSON."""
    cached = getattr(request.state, "json_body", _MISSING)
    if cached is not _MISSING:
        return cached
    value = loads_json(await request.body())
    request.state.json_body = value
    return value


async def read_patch(request: Request, allowed: frozenset[str], shape: str) -> dict[str, Any]:
    """A PATCH body: a JSON object with at least one of ``allowed`` and nothing else (else 422)."""
    payload = await read_json(request)
    if not isinstance(payload, dict) or not payload or set(payload) - allowed:
        raise InputError(f"body must be {shape} with at least one field", 422)
    return payload
