"""Every malformed input found in issue #14 is a 4xx with a JSON error, never a 500.

Real server process, real Postgres. Each case is one request; the answer must be a 4xx
whose body is ``{"error": ...}`` (HEAD-less), and the server must still be healthy.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import pytest
from support.stack import WEBHOOK_SECRET
from tus_helpers import OCTET, TUS, auth, create

FIVE_THOUSAND_DIGITS = "9" * 5000
DEEP_JSON = "[" * 100_000 + "]" * 100_000


def _signer(server):
    from mediagate.config import Settings
    from mediagate.files.links import LinkSigner
    from mediagate.ports import SystemClock

    return LinkSigner(Settings(jwt_secret=server.env["JWT_SECRET"]).signing_secret, SystemClock())


def _raw(value: str) -> bytes:
    """A header value as a client would send it: latin-1 when possible (``²`` is byte 0xB2,
    which servers decode back to ``²``), else UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


def _assert_json_4xx(r: httpx.Response) -> None:
    assert 400 <= r.status_code < 500, f"{r.status_code}: {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/json"), r.headers
    assert isinstance(r.json()["error"], str)


def _signed_event(body: bytes) -> dict[str, str]:
    from mediagate.webhooks import signed_headers

    return signed_headers(WEBHOOK_SECRET, int(time.time()), body)


@pytest.fixture()
def token(server, user_id):
    return server.token(user_id)


@pytest.fixture()
def upload_url(server, token):
    r = create(server.url, token, 100)
    assert r.status_code == 201
    return r.headers["Location"]


@pytest.mark.parametrize("value", ["²", "³", "¹", "٣", FIVE_THOUSAND_DIGITS, "-1", "1e3", "1 2"])
def test_upload_length_must_be_ascii_digits(server, token, value):
    r = httpx.post(server.url + "/api/upload", headers={**TUS, **auth(token), "Upload-Length": _raw(value)})
    _assert_json_4xx(r)
    assert r.status_code == 400


@pytest.mark.parametrize("value", ["²", "³", "¹", "٣", FIVE_THOUSAND_DIGITS])
def test_upload_offset_must_be_ascii_digits(server, token, upload_url, value):
    r = httpx.patch(upload_url, headers={**TUS, **OCTET, **auth(token), "Upload-Offset": _raw(value)}, content=b"x")
    _assert_json_4xx(r)
    assert r.status_code == 400


def test_nul_in_upload_metadata_is_400(server, token):
    meta = "filename " + base64.b64encode(b"a\x00b.jpg").decode()
    r = httpx.post(
        server.url + "/api/upload", headers={**TUS, **auth(token), "Upload-Length": "5", "Upload-Metadata": meta}
    )
    _assert_json_4xx(r)


@pytest.mark.parametrize("query", ["q=%00", "q=a%00b", "q=%01", "limit=%C2%B2", "limit=" + FIVE_THOUSAND_DIGITS])
def test_control_characters_and_bad_numbers_in_the_query_are_400(server, token, query):
    r = httpx.get(f"{server.url}/api/files?{query}", headers=auth(token))
    _assert_json_4xx(r)


@pytest.mark.parametrize("path", ["/api/files/bulk-delete", "/api/files/batch-download", "/api/webhooks"])
def test_deep_json_is_400_not_recursion_error(server, token, path):
    r = httpx.post(server.url + path, content=DEEP_JSON, headers={**auth(token), "Content-Type": "application/json"})
    _assert_json_4xx(r)
    assert r.status_code == 400


@pytest.mark.parametrize(
    "created_at",
    ["2024-W01-1", "2024-W01", "2024-001", "20240101T000000", "2024-02-30T00:00:00", "0000-01-01T00:00:00"],
)
def test_cursor_with_a_non_rfc3339_date_is_400(server, token, created_at):
    raw = json.dumps([created_at, str(uuid.uuid4())]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    r = httpx.get(server.url + "/api/files", params={"cursor": cursor}, headers=auth(token))
    _assert_json_4xx(r)


@pytest.mark.parametrize("path", ["a%00b.webp", "x" * 300 + ".webp", "/".join(["abcd"] * 1000), "a/%0d%0a/b"])
def test_signed_link_paths_are_bounded_and_clean(server, path):
    prefix = f"derived/{uuid.uuid4()}/"
    url = _signer(server).url(server.url, prefix, "x", 600).rsplit("/", 1)[0] + "/" + path
    r = httpx.get(url)
    _assert_json_4xx(r)
    assert httpx.head(url).status_code in (400, 414)


def test_range_numbers_are_bounded(server, user_id, token):
    data = b"0123456789"
    url = create(server.url, token, len(data), filename="r.bin").headers["Location"]
    assert httpx.patch(url, headers={**TUS, **OCTET, **auth(token), "Upload-Offset": "0"}, content=data).is_success
    key = f"originals/{user_id}/{url.rsplit('/', 1)[1]}"
    link = _signer(server).url(server.url, key, "r.bin", 600)
    r = httpx.get(link, headers={"Range": f"bytes={FIVE_THOUSAND_DIGITS}-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == "bytes */10", r.text
    for header in (
        f"bytes=-{FIVE_THOUSAND_DIGITS}",
        f"bytes=0-{FIVE_THOUSAND_DIGITS}",
        f"bytes=0{FIVE_THOUSAND_DIGITS}-",
    ):
        r = httpx.get(link, headers={"Range": header})
        if header.startswith("bytes=0") and header.endswith("-"):
            assert r.status_code == 416, header
            continue
        assert r.status_code == 206 and r.content == data, (header, r.status_code)
        assert r.headers["Content-Range"] == "bytes 0-9/10"
    assert httpx.get(link, headers={"Range": _raw("bytes=²-")}).status_code == 200  # not a byte range: ignored
    r = httpx.get(link, headers={"Range": "bytes=2-4"})
    assert r.status_code == 206 and r.content == b"234"


def test_suffix_range_of_an_empty_object_is_416(server, user_id, token):
    r = create(server.url, token, 0, filename="empty.bin")
    assert r.status_code == 201
    key = f"originals/{user_id}/{r.headers['Location'].rsplit('/', 1)[1]}"
    link = _signer(server).url(server.url, key, "empty.bin", 600)
    for header in ("bytes=-1", "bytes=0-", "bytes=0-0"):
        r = httpx.get(link, headers={"Range": header})
        assert r.status_code == 416, (header, r.status_code, r.headers)
        assert r.headers["Content-Range"] == "bytes */0"
    assert httpx.get(link).status_code == 200


@pytest.mark.parametrize(
    "event",
    [
        {"id": "evt-x", "file_id": "x"},
        {"id": "evt-obj", "file_id": "00000000-0000-4000-8000-000000000000", "error": {"nested": True}},
        {"id": "evt-nul\u0000", "file_id": "00000000-0000-4000-8000-000000000000"},
        {"id": "evt-nul-err", "file_id": "00000000-0000-4000-8000-000000000000", "error": "a\u0000b"},
        {"id": {"a": 1}, "file_id": "00000000-0000-4000-8000-000000000000"},
        [1, 2, 3],
    ],
)
def test_signed_webhook_events_are_validated(server, event):
    body = json.dumps(event).encode()
    r = httpx.post(server.url + "/webhook/processing-failed", content=body, headers=_signed_event(body))
    _assert_json_4xx(r)
    assert r.status_code == 400


@pytest.mark.parametrize("stamp", ["²", "١٧٠٠٠٠٠٠٠٠", FIVE_THOUSAND_DIGITS])
def test_webhook_timestamp_must_be_ascii_digits(server, stamp):
    body = b'{"id":"t","file_id":"00000000-0000-4000-8000-000000000000"}'
    headers = {**_signed_event(body), "webhook-timestamp": _raw(stamp)}
    r = httpx.post(server.url + "/webhook/processing-complete", content=body, headers=headers)
    _assert_json_4xx(r)
    assert r.status_code == 401


def test_nul_in_path_parameters_is_400(server, token):
    for path in ("/api/webhooks/%00", "/api/files/%00", "/api/upload/%00"):
        r = httpx.delete(server.url + path, headers={**TUS, **auth(token)})
        _assert_json_4xx(r)


def test_server_is_still_healthy(server):
    assert httpx.get(server.url + "/api/health").status_code == 200
