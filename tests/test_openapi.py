"""The OpenAPI description: valid OpenAPI 3.1, served without a token, and in step with the routes."""

from __future__ import annotations

import re

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _template(path: str) -> str:
    """Starlette's ``{name:converter}`` → OpenAPI's ``{name}``."""
    return re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)


def app_operations(routes, prefix: str = "") -> dict[str, set[str]]:
    """path → methods of every Route, through Mounts; the static frontend and OPTIONS left out."""
    found: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, Mount):
            if isinstance(route.app, StaticFiles):
                continue
            for path, methods in app_operations(route.routes, prefix + route.path).items():
                found.setdefault(path, set()).update(methods)
        elif isinstance(route, Route):
            methods = {m.lower() for m in (route.methods or {"GET"})} - {"options"}
            found.setdefault(_template(prefix + route.path), set()).update(methods)
        else:
            raise AssertionError(f"unexpected route type {route!r}: teach this test about it")
    return found


def spec_operations(spec: dict) -> dict[str, set[str]]:
    return {path: {m for m in item if m in METHODS} - {"options"} for path, item in spec["paths"].items()}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from mediagate.local.server import build_app

    frontend = tmp_path_factory.mktemp("frontend")
    (frontend / "index.html").write_text("<!doctype html>")
    env = {
        "DATABASE_URL": "postgresql://unused@127.0.0.1:1/unused",
        "JWT_SECRET": "openapi-test",
        "DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "FRONTEND_DIR": str(frontend),
    }
    return build_app(env)


def test_spec_is_valid_openapi_31():
    from mediagate.api.openapi import SPEC

    assert SPEC["openapi"].startswith("3.1")
    validate(SPEC)
    schemes = SPEC["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def test_every_route_is_described_and_every_operation_is_routed(app):
    from mediagate.api.openapi import SPEC

    assert any(isinstance(r, Mount) and isinstance(r.app, StaticFiles) for r in app.routes), "frontend mount expected"
    routed = app_operations(app.routes)
    described = spec_operations(SPEC)
    assert set(routed) == set(described), (
        f"routed but not described: {sorted(set(routed) - set(described))}; "
        f"described but not routed: {sorted(set(described) - set(routed))}"
    )
    for path, methods in routed.items():
        spec_methods = described[path]
        # Starlette answers HEAD on every GET route by itself; describing it is optional there
        implicit = {"head"} if "get" in methods else set()
        assert methods - implicit <= spec_methods, f"{path}: {sorted(methods - implicit - spec_methods)} not described"
        assert spec_methods <= methods, f"{path}: {sorted(spec_methods - methods)} described but not routed"


def test_key_protocol_details_are_described():
    from mediagate.api.openapi import SPEC

    paths = SPEC["paths"]
    patch = paths["/api/upload/{upload_id}"]["patch"]
    for status in ("204", "400", "401", "404", "409", "410", "412", "413", "415", "423", "460"):
        assert status in patch["responses"], status
    assert "429" not in patch["responses"], "tus PATCH of an upload in progress is not rate limited"
    assert "429" in paths["/api/upload"]["post"]["responses"]
    assert "429" not in paths["/api/health"]["get"]["responses"]
    assert "429" not in paths["/api/objects/{token}/{path}"]["get"]["responses"]
    assert paths["/api/objects/{token}/{path}"]["get"]["security"] == []
    assert "403" in paths["/api/admin/stats"]["get"]["responses"]
    hook_headers = {p["name"] for p in paths["/webhook/{kind}"]["post"]["parameters"]}
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= hook_headers
    assert set(SPEC["webhooks"]) == {"processing-complete", "processing-failed"}
    batch = paths["/api/files/batch-download"]["post"]
    assert {"application/json", "application/zip"} <= set(batch["responses"]["200"]["content"])


def test_served_without_a_token(server):
    r = httpx.get(server.url + "/api/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    spec = r.json()
    validate(spec)
    assert spec["servers"] == [{"url": server.url}]
    assert "/api/files" in spec["paths"]
