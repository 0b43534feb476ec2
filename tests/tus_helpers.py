"""Small helpers for speaking tus by hand in tests (httpx, no client library)."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
from support.files import sha256_file  # noqa: F401 - re-exported for tests

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {"Content-Type": "application/offset+octet-stream"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(base: str, token: str, length: int | None, **meta: str) -> httpx.Response:
    headers = {**TUS, **auth(token)}
    if length is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(length)
    if meta:
        headers["Upload-Metadata"] = metadata(**meta)
    return httpx.post(base + "/api/upload", headers=headers)


def patch(url: str, token: str, offset: int, body: bytes, **extra: str) -> httpx.Response:
    headers = {**TUS, **OCTET, **auth(token), "Upload-Offset": str(offset), **extra}
    return httpx.patch(url, headers=headers, content=body, timeout=60)


def head(url: str, token: str) -> httpx.Response:
    return httpx.head(url, headers={**TUS, **auth(token)})


def stored_object(data_dir: Path, user_id: str, upload_url: str) -> Path:
    """The local store's file for a completed upload (local-runtime tests only)."""
    return data_dir / "store" / "objects" / original_key(user_id, upload_url)


def original_key(user_id: str, upload_url: str) -> str:
    """Where a completed upload's bytes live in the object store (either runtime)."""
    return f"originals/{user_id}/{upload_url.rsplit('/', 1)[1]}"


def staged_bytes(server, upload_url: str) -> int:
    """Bytes an unfinished upload holds in staged (not yet part-sized) objects."""
    keys = server.store.keys(f"staging/{upload_url.rsplit('/', 1)[1]}/")
    return sum(len(server.store.read(k) or b"") for k in keys)


def resume_to_the_end(server, user_id: str, url: str, token: str, data: bytes, offset: int) -> None:
    """PATCH the rest of ``data`` from ``offset`` (waiting out a 423 while a cut request
    still holds the lock) and check the stored object is ``data`` (local runtime)."""
    import hashlib
    import time

    for _ in range(50):
        r = patch(url, token, offset, data[offset:])
        if r.status_code != 423:
            break
        time.sleep(0.2)
    assert r.status_code == 204, r.text
    stored = stored_object(server.data_dir, user_id, url)
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(data).digest()
