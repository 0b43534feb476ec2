"""tus 1.0.0 conformance of /api/upload against the real server: one test per rule."""

from __future__ import annotations

import base64
import hashlib
import os

import httpx
import pytest
from tus_helpers import OCTET, TUS, auth, create, head, metadata, original_key, patch, staged_bytes

MIB = 1024 * 1024


@pytest.fixture()
def token(server, user_id):
    return server.token(user_id)


def test_options_advertises_version_extensions_size_and_checksums(server):
    r = httpx.options(server.url + "/api/upload")
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0"
    ext = r.headers["Tus-Extension"].split(",")
    for name in ("creation", "creation-with-upload", "creation-defer-length", "termination", "expiration", "checksum"):
        assert name in ext
    assert int(r.headers["Tus-Max-Size"]) == 5_000_000_000
    assert set(r.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256", "md5"}


def test_creation_returns_location_expiry_and_head_reports_state(server, token):
    r = create(server.url, token, 100, filename="a.txt", filetype="text/plain")
    assert r.status_code == 201, r.text
    url = r.headers["Location"]
    assert url.startswith(server.url + "/api/upload/")
    assert "GMT" in r.headers["Upload-Expires"]
    h = head(url, token)
    assert h.status_code == 200
    assert h.headers["Upload-Offset"] == "0"
    assert h.headers["Upload-Length"] == "100"
    assert h.headers["Cache-Control"] == "no-store"
    assert h.headers["Upload-Metadata"] == metadata(filename="a.txt", filetype="text/plain")
    assert h.content == b""


def test_patch_appends_and_completes(server, token, user_id):
    data = os.urandom(3000)
    url = create(server.url, token, len(data), filename="x.bin").headers["Location"]
    r1 = patch(url, token, 0, data[:1000])
    assert r1.status_code == 204 and r1.headers["Upload-Offset"] == "1000"
    assert "Mediagate-File-Id" not in r1.headers  # no file before the last byte
    r2 = patch(url, token, 1000, data[1000:])
    assert r2.status_code == 204 and r2.headers["Upload-Offset"] == "3000"
    assert server.store.read(original_key(user_id, url)) == data
    # the last byte's answer (and a later HEAD) name the file it became: GET it at once
    file_id = r2.headers["Mediagate-File-Id"]
    assert head(url, token).headers["Mediagate-File-Id"] == file_id
    got = httpx.get(f"{server.url}/api/files/{file_id}", headers=auth(token))
    assert got.status_code == 200 and got.json()["name"] == "x.bin"


def test_wrong_tus_resumable_is_412(server, token):
    r = httpx.post(server.url + "/api/upload", headers={"Tus-Resumable": "0.2.2", "Upload-Length": "5", **auth(token)})
    assert r.status_code == 412
    assert r.headers["Tus-Version"] == "1.0.0"
    assert "error" in r.json()


def test_missing_tus_resumable_on_patch_is_412(server, token):
    url = create(server.url, token, 10).headers["Location"]
    r = httpx.patch(url, headers={**OCTET, **auth(token), "Upload-Offset": "0"}, content=b"x")
    assert r.status_code == 412


def test_offset_mismatch_is_409(server, token):
    url = create(server.url, token, 10).headers["Location"]
    r = patch(url, token, 5, b"hello")
    assert r.status_code == 409
    assert head(url, token).headers["Upload-Offset"] == "0"


def test_wrong_content_type_is_415(server, token):
    url = create(server.url, token, 10).headers["Location"]
    r = httpx.patch(
        url, headers={**TUS, **auth(token), "Upload-Offset": "0", "Content-Type": "text/plain"}, content=b"hello"
    )
    assert r.status_code == 415
    assert "application/offset+octet-stream" in r.json()["error"]


def test_creation_over_max_size_is_413(server, token):
    r = create(server.url, token, 5_000_000_001)
    assert r.status_code == 413
    assert "maximum" in r.json()["error"]


def test_patch_beyond_length_is_413_and_keeps_data(server, token):
    url = create(server.url, token, 4).headers["Location"]
    r = patch(url, token, 0, b"toolong")
    assert r.status_code == 413
    assert head(url, token).headers["Upload-Offset"] == "0"


def test_configured_max_size_applies_to_deferred_uploads(make_server, user_id):
    srv = make_server({"MAX_UPLOAD_SIZE": str(6 * MIB)})
    token = srv.token(user_id)
    assert httpx.options(srv.url + "/api/upload").headers["Tus-Max-Size"] == str(6 * MIB)
    assert create(srv.url, token, 6 * MIB + 1).status_code == 413
    url = create(srv.url, token, None).headers["Location"]
    assert patch(url, token, 0, b"\0" * (6 * MIB + 1)).status_code == 413


def test_unknown_upload_is_404(server, token):
    assert head(server.url + "/api/upload/" + "0" * 32, token).status_code == 404
    assert patch(server.url + "/api/upload/" + "f" * 32, token, 0, b"x").status_code == 404
    assert head(server.url + "/api/upload/not-an-id", token).status_code == 404


def test_missing_or_bad_token_is_401(server, token):
    assert httpx.post(server.url + "/api/upload", headers={**TUS, "Upload-Length": "1"}).status_code == 401
    bad = httpx.post(server.url + "/api/upload", headers={**TUS, "Upload-Length": "1", **auth(token + "x")})
    assert bad.status_code == 401
    assert "error" in bad.json()
    url = create(server.url, token, 10).headers["Location"]
    assert httpx.head(url, headers=TUS).status_code == 401


def test_expired_token_is_401(server, user_id):
    from mediagate.auth import issue_token

    old = issue_token(server.env["JWT_SECRET"], user_id, ttl_seconds=-10)
    r = httpx.post(server.url + "/api/upload", headers={**TUS, "Upload-Length": "1", **auth(old)})
    assert r.status_code == 401 and "expired" in r.json()["error"]


def test_other_users_upload_is_404(server, token):
    url = create(server.url, token, 10).headers["Location"]
    other = server.token("00000000-0000-4000-8000-000000000001")
    assert head(url, other).status_code == 404
    assert patch(url, other, 0, b"x").status_code == 404
    assert httpx.delete(url, headers={**TUS, **auth(other)}).status_code == 404
    assert head(url, token).status_code == 200


def test_creation_with_upload(server, token, user_id):
    data = b"hello world"
    r = httpx.post(
        server.url + "/api/upload",
        headers={**TUS, **OCTET, **auth(token), "Upload-Length": str(len(data) + 5)},
        content=data,
    )
    assert r.status_code == 201
    assert r.headers["Upload-Offset"] == str(len(data))
    url = r.headers["Location"]
    assert patch(url, token, len(data), b"12345").status_code == 204
    assert server.store.read(original_key(user_id, url)) == data + b"12345"


def test_creation_with_upload_wrong_content_type_is_415(server, token):
    r = httpx.post(
        server.url + "/api/upload",
        headers={**TUS, **auth(token), "Upload-Length": "5", "Content-Type": "text/plain"},
        content=b"hello",
    )
    assert r.status_code == 415


def test_defer_length(server, token, user_id):
    url = create(server.url, token, None).headers["Location"]
    h = head(url, token)
    assert h.headers["Upload-Defer-Length"] == "1" and "Upload-Length" not in h.headers
    assert patch(url, token, 0, b"abc").status_code == 204
    r = patch(url, token, 3, b"def", **{"Upload-Length": "6"})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "6"
    assert head(url, token).headers["Upload-Length"] == "6"
    assert server.store.read(original_key(user_id, url)) == b"abcdef"


def test_bad_creation_headers_are_400(server, token):
    base = {**TUS, **auth(token)}
    assert httpx.post(server.url + "/api/upload", headers=base).status_code == 400
    both = {**base, "Upload-Length": "1", "Upload-Defer-Length": "1"}
    assert httpx.post(server.url + "/api/upload", headers=both).status_code == 400
    assert httpx.post(server.url + "/api/upload", headers={**base, "Upload-Length": "-1"}).status_code == 400
    bad_meta = {**base, "Upload-Length": "1", "Upload-Metadata": "filename !!notbase64"}
    assert httpx.post(server.url + "/api/upload", headers=bad_meta).status_code == 400


def test_missing_upload_offset_is_400(server, token):
    url = create(server.url, token, 10).headers["Location"]
    r = httpx.patch(url, headers={**TUS, **OCTET, **auth(token)}, content=b"x")
    assert r.status_code == 400


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5"])
def test_checksum_accepts_matching_chunk(server, token, algorithm):
    data = os.urandom(777)
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    url = create(server.url, token, 1000).headers["Location"]
    r = patch(url, token, 0, data, **{"Upload-Checksum": f"{algorithm} {digest}"})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "777"


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5"])
def test_checksum_mismatch_is_460_and_discards_chunk(server, token, user_id, algorithm):
    data = os.urandom(500)
    wrong = base64.b64encode(hashlib.new(algorithm, b"other").digest()).decode()
    url = create(server.url, token, 1000).headers["Location"]
    assert patch(url, token, 0, data[:200]).status_code == 204
    r = patch(url, token, 200, data[200:], **{"Upload-Checksum": f"{algorithm} {wrong}"})
    assert r.status_code == 460
    assert head(url, token).headers["Upload-Offset"] == "200"
    assert staged_bytes(server, url) == 200  # the rejected bytes were dropped


def test_unsupported_checksum_algorithm_is_400(server, token):
    url = create(server.url, token, 10).headers["Location"]
    r = patch(url, token, 0, b"abc", **{"Upload-Checksum": "crc32 AAAA"})
    assert r.status_code == 400


def test_termination(server, token):
    url = create(server.url, token, 10 * MIB).headers["Location"]
    assert patch(url, token, 0, os.urandom(MIB)).status_code == 204
    r = httpx.delete(url, headers={**TUS, **auth(token)})
    assert r.status_code == 204
    assert head(url, token).status_code == 404
    assert staged_bytes(server, url) == 0


def test_x_http_method_override(server, token, user_id):
    url = create(server.url, token, 5).headers["Location"]
    r = httpx.post(
        url,
        headers={**TUS, **OCTET, **auth(token), "Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH"},
        content=b"abcde",
    )
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "5"
    url2 = create(server.url, token, 5).headers["Location"]
    r = httpx.post(url2, headers={**TUS, **auth(token), "X-HTTP-Method-Override": "DELETE"})
    assert r.status_code == 204
    assert head(url2, token).status_code == 404


def test_cors_on_success_and_errors(server, token):
    origin = {"Origin": "https://app.example"}
    pre = httpx.options(
        server.url + "/api/upload/abc",
        headers={
            **origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "upload-offset,tus-resumable,authorization,content-type,upload-checksum",
        },
    )
    assert pre.status_code == 200
    assert "PATCH" in pre.headers["Access-Control-Allow-Methods"]
    allowed = pre.headers["Access-Control-Allow-Headers"].lower()
    for h in ("upload-offset", "tus-resumable", "authorization", "upload-checksum", "upload-metadata"):
        assert h in allowed
    r = httpx.post(server.url + "/api/upload", headers={**TUS, **origin, **auth(token), "Upload-Length": "3"})
    exposed = r.headers["Access-Control-Expose-Headers"].lower()
    for h in ("location", "upload-offset", "upload-length", "upload-expires", "tus-resumable", "upload-metadata"):
        assert h in exposed
    assert r.headers["Access-Control-Allow-Origin"] in ("*", "https://app.example")
    err = patch(r.headers["Location"], token, 2, b"x", Origin="https://app.example")
    assert err.status_code == 409
    assert err.headers["Access-Control-Allow-Origin"] in ("*", "https://app.example")
    assert "upload-offset" in err.headers["Access-Control-Expose-Headers"].lower()


def test_init_alias_creates_an_upload(server, token):
    r = httpx.post(server.url + "/api/upload/init", headers={**TUS, **auth(token), "Upload-Length": "3"})
    assert r.status_code == 201
    assert head(r.headers["Location"], token).status_code == 200


def test_zero_length_upload_completes_immediately(server, token, user_id):
    r = create(server.url, token, 0, filename="empty.txt")
    assert r.status_code == 201
    url = r.headers["Location"]
    assert head(url, token).headers["Upload-Offset"] == "0"
    assert server.store.read(original_key(user_id, url)) == b""


def test_web_app_html_is_revalidated_and_assets_cached(make_server, tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>x</title>")
    (tmp_path / "assets" / "app-abc123.js").write_text("console.log(1)")
    srv = make_server({"FRONTEND_DIR": str(tmp_path)})
    page = httpx.get(srv.url + "/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    asset = httpx.get(srv.url + "/assets/app-abc123.js")
    assert "immutable" in asset.headers["cache-control"]
    assert httpx.get(srv.url + "/api/nope").json()["error"]
