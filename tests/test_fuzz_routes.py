"""Property-based fuzzing of every route of the real local server: no input is a 5xx.

Driven by the server's own ``/api/openapi.json``: Hypothesis picks an operation, fills
its path, query and header parameters from adversarial alphabets (non-ASCII digits,
5000-digit numbers, NUL and control characters, over-long segments), adds tus headers,
a valid/invalid/missing token and a body (none, random bytes, JSON of any shape and
depth, or a correctly signed processing event), and sends it to a real server process on
real Postgres. Every answer must be below 500, and every 4xx with a body must be JSON.
Bounded: ``MAX_EXAMPLES`` requests, no shrinking (the failing request is printed
whole); the test asserts it ran in under 60 s.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from support.stack import WEBHOOK_SECRET
from tus_helpers import OCTET, TUS, auth, create, patch

MAX_EXAMPLES = 1200

_TRICKY = ["", "²", "³", "¹", "٣", "0", "-1", "1e9", "9" * 5000, "\x00", "a\x00b", "../..", "%00", " ", "\r\n"]
_ADVERSARIAL_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(_TRICKY),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=250, max_size=320),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
# What a client can put in a header: latin-1 without CR/LF/NUL (h11 refuses those on send).
_HEADER_VALUE = st.one_of(
    st.sampled_from(["1", "0", "²", "³", "9" * 5000, "bytes=-1", "bytes=0-", "bytes=" + "9" * 5000 + "-", "1.0.0"]),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60),
    st.integers(min_value=0, max_value=2**64).map(str),
).map(lambda s: s.encode("latin-1", "replace").strip() or b"x")
_METADATA = st.dictionaries(
    st.sampled_from(["filename", "filetype", "colorspace"]), _ADVERSARIAL_TEXT, min_size=1, max_size=3
).map(
    lambda d: ",".join(
        f"{k} {base64.b64encode(v.encode('utf-8', 'surrogatepass')).decode()}".strip() for k, v in d.items()
    )
)
_TIMESTAMPS = st.one_of(
    st.sampled_from(["2024-W01-1", "2024-001", "20240101T000000", "2026-01-01T00:00:00", "0001-01-01", "9999-12-31"]),
    st.datetimes().map(lambda d: d.isoformat()),
    _ADVERSARIAL_TEXT,
)
_CURSOR = st.one_of(
    _ADVERSARIAL_TEXT,
    st.tuples(_TIMESTAMPS, st.one_of(st.uuids().map(str), _ADVERSARIAL_TEXT)).map(
        lambda t: base64.urlsafe_b64encode(json.dumps(list(t)).encode()).decode().rstrip("=")
    ),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _ADVERSARIAL_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_ADVERSARIAL_TEXT, children, max_size=4),
    max_leaves=12,
)
_URLS = st.one_of(
    st.sampled_from(
        [
            "https://example.com/h",
            "http://127.0.0.1:8788/jobs",
            "http://[::1",
            "http://a:99999/",
            "http://2130706433/",
            "http://x/\r\n",
            "http://[::ffff:10.0.0.1]/",
            "http://0x7f.1/",
            "http://" + "a" * 300 + ".com/",
        ]
    ),
    _ADVERSARIAL_TEXT,
)
_DEEP = st.sampled_from([50, 2000, 100_000]).map(lambda n: ("[" * n + "]" * n).encode())
# Framing headers are the client library's job (and checked with raw sockets in test_body_limits.py).
_FRAMING = {"content-length", "transfer-encoding", "host", "connection"}
_KNOWN_KEYS = ["ids", "mode", "url", "id", "file_id", "error", "event"]


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method == "parameters":
                continue
            ops.append((path, method.upper(), {**op, "parameters": [*shared, *op.get("parameters", [])]}))
    return ops


@pytest.fixture()
def fuzz_target(make_server, user_id):
    srv = make_server({"RATE_LIMIT_API": "0", "RATE_LIMIT_UPLOADS": "0", "BODY_TIMEOUT_SECONDS": "5"})
    token = srv.token(user_id)
    spec = httpx.get(srv.url + "/api/openapi.json").json()
    components = spec["components"].get("parameters", {})
    # Real ids so some requests reach deep into handlers.
    upload_url = create(srv.url, token, 10, filename="fuzz.bin").headers["Location"]
    done_url = create(srv.url, token, 3, filename="done.bin").headers["Location"]
    assert patch(done_url, token, 0, b"abc").status_code == 204
    files = httpx.get(srv.url + "/api/files", headers=auth(token)).json()["items"]
    link = httpx.get(f"{srv.url}/api/files/{files[0]['id']}/download", headers=auth(token)).json()["url"]
    real = {
        "upload_id": [upload_url.rsplit("/", 1)[1], done_url.rsplit("/", 1)[1]],
        "file_id": [f["id"] for f in files],
        "token": [link.split("/api/objects/")[1].split("/")[0]],
        "path": [link.rsplit("/", 1)[1]],
        "kind": ["processing-complete", "processing-failed"],
    }
    return srv, token, spec, components, real


def _resolve(param: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in param:
        return components[param["$ref"].rsplit("/", 1)[1]]
    return param


def test_no_route_answers_5xx(fuzz_target):
    srv, token, spec, components, real = fuzz_target
    operations = _operations(spec)
    admin = srv.token(str(uuid.uuid4()), role="admin")
    started = time.monotonic()
    seen: dict[int, int] = {}
    client = httpx.Client(timeout=15)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # no shrinking: the failing request is printed whole, and time stays bounded
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    )
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        path, method, op = data.draw(st.sampled_from(operations), label="operation")
        if data.draw(st.integers(0, 9)) == 0:
            method = data.draw(st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"]))
        url_path = path
        query: dict[str, str] = {}
        headers: dict[str, bytes | str] = {}
        for raw_param in op["parameters"]:
            param = _resolve(raw_param, components)
            name, where = param["name"], param["in"]
            if where == "path":
                pool = real.get(name, [])
                value = data.draw(st.sampled_from(pool) if pool and data.draw(st.booleans()) else _ADVERSARIAL_TEXT)
                safe = "/" if name == "path" else ""
                url_path = url_path.replace("{" + name + "}", quote(value, safe=safe) or "x")
            elif where == "query" and data.draw(st.booleans()):
                query[name] = data.draw(_CURSOR if name == "cursor" else _ADVERSARIAL_TEXT)
            elif where == "header" and name.lower() not in _FRAMING and data.draw(st.integers(0, 9)) < 7:
                headers[name] = data.draw(_METADATA if name == "Upload-Metadata" else _HEADER_VALUE)
        if data.draw(st.integers(0, 9)) < 8:
            headers.update({**TUS, **OCTET})
        for name in ("Upload-Length", "Upload-Offset", "Upload-Metadata", "Range", "Tus-Resumable"):
            if data.draw(st.integers(0, 5)) == 0:
                headers[name] = data.draw(_METADATA if name == "Upload-Metadata" else _HEADER_VALUE)
        who = data.draw(st.sampled_from(["user"] * 6 + ["admin", "garbage", "none"]))
        if who != "none":
            headers.update(auth({"user": token, "admin": admin, "garbage": "x.y.z"}[who]))
        kind = data.draw(st.sampled_from(["none", "bytes", "json", "known", "known", "signed", "signed", "deep"]))
        body: bytes | None = None
        if kind == "bytes":
            body = data.draw(st.binary(max_size=2048))
        elif kind == "json":
            body = json.dumps(data.draw(_JSON)).encode()
        elif kind == "deep":
            body = data.draw(_DEEP)
        elif kind == "known":
            ids = st.lists(st.one_of(st.sampled_from(real["file_id"]), st.uuids().map(str), _ADVERSARIAL_TEXT))
            shaped = {"ids": ids, "url": _URLS, "mode": st.sampled_from(["zip", "links", "tar", ""])}
            keys = data.draw(st.lists(st.sampled_from(_KNOWN_KEYS), max_size=4, unique=True))
            body = json.dumps({k: data.draw(st.one_of(shaped.get(k, _JSON), _JSON)) for k in keys}).encode()
        elif kind == "signed":
            from mediagate.webhooks import signed_headers

            event_id = st.one_of(st.uuids().map(str), _ADVERSARIAL_TEXT, _JSON)
            file_id = st.one_of(st.sampled_from([*real["file_id"], "x", None]), _ADVERSARIAL_TEXT, _JSON)
            event = {"id": data.draw(event_id), "file_id": data.draw(file_id)}
            if data.draw(st.booleans()):
                event["error"] = data.draw(_JSON)
            body = json.dumps(event).encode()
            headers.update(signed_headers(WEBHOOK_SECRET, int(time.time()), body))
        if body is not None and "Content-Type" not in headers and data.draw(st.booleans()):
            headers["Content-Type"] = "application/json"
        if method in ("GET", "HEAD", "OPTIONS") and data.draw(st.booleans()):
            body = None
        r = client.request(method, srv.url + url_path, params=query, headers=headers, content=body)
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        assert r.status_code < 500, (
            f"{method} {url_path} {query} {headers} {body!r:.300} -> {r.status_code} {r.text[:300]}"
        )
        if 400 <= r.status_code < 500 and method != "HEAD" and r.content:
            assert r.headers.get("content-type", "").startswith("application/json"), (method, url_path, r.text[:200])

    try:
        fuzz()
    finally:
        client.close()
    elapsed = time.monotonic() - started
    print(f"fuzz: {sum(seen.values())} requests in {elapsed:.1f} s, statuses {dict(sorted(seen.items()))}")
    assert elapsed < 60, f"fuzzing took {elapsed:.0f} s"
    assert sum(seen.values()) >= 100, seen
    assert any(200 <= s < 300 for s in seen), f"nothing got through: {seen}"
    assert httpx.get(srv.url + "/api/health").status_code == 200
