"""The local upload process (mediagate.local.handover + upload_server): the API process hands
tus PATCH connections to it, and serves them itself whenever it is not there.

Real processes, real Postgres, real sockets. Who served a response is visible: the upload
process adds ``X-Mediagate-Upload-Process: <its pid>`` to every response it sends."""

from __future__ import annotations

import hashlib
import os
import socket
import time

import httpx
import pytest

PROCESS = "x-mediagate-upload-process"
MIB = 1024 * 1024


def _tus(token: str) -> dict[str, str]:
    return {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}


def _create(client: httpx.Client, base: str, size: int) -> str:
    r = client.post(base + "/api/upload", headers={"Upload-Length": str(size)})
    assert r.status_code == 201, r.text
    return r.headers["Location"]


def _patch(client: httpx.Client, url: str, offset: int, chunk: bytes) -> httpx.Response:
    return client.patch(
        url, content=chunk, headers={"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    )


def _stored(srv, user_id: str, url: str) -> bytes:
    return srv.store.read(f"originals/{user_id}/{url.rsplit('/', 1)[1]}")


def test_a_patch_is_served_by_the_upload_process_and_its_connection_stays_there(make_server, user_id):
    srv = make_server()
    assert srv.uploads is not None and srv.uploads.alive()
    token = srv.token(user_id)
    data = os.urandom(3 * MIB + 12345)
    with httpx.Client(headers=_tus(token), timeout=30) as client:
        url = _create(client, srv.url, len(data))  # creation: the API process
        offset = 0
        for chunk in (data[: MIB + 7], data[MIB + 7 : 2 * MIB], data[2 * MIB :]):  # one keep-alive connection
            r = _patch(client, url, offset, chunk)
            assert r.status_code == 204, r.text
            assert r.headers.get(PROCESS) == str(srv.uploads.pid)
            offset += len(chunk)
        # The same connection now belongs to the upload process: every later request too.
        r = client.head(url)
        assert r.status_code == 200 and r.headers["Upload-Offset"] == str(len(data))
        assert r.headers.get(PROCESS) == str(srv.uploads.pid)
        r = client.get(srv.url + "/api/files")
        assert r.status_code == 200 and r.headers.get(PROCESS) == str(srv.uploads.pid)
    assert _stored(srv, user_id, url) == data
    with httpx.Client(headers=_tus(token)) as fresh:  # a listing on its own connection: the API
        r = fresh.get(srv.url + "/api/files")
        assert r.status_code == 200 and PROCESS not in r.headers
        assert len(r.json()["items"]) == 1  # the file the upload made


def test_a_pipelined_patch_with_its_body_in_the_same_read_is_handed_over_whole(make_server, user_id):
    """Head, body and a pipelined HEAD in one send: the upload process gets every byte."""
    srv = make_server()
    token = srv.token(user_id)
    body = os.urandom(200_000)
    with httpx.Client(headers=_tus(token)) as client:
        url = _create(client, srv.url, len(body))
    path = url.split(str(srv.port), 1)[1]
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer {token}\r\n"
        f"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    after = f"HEAD {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(head + body + after)
        sock.settimeout(30)
        answer = b""
        while answer.count(b"\r\n\r\n") < 2:
            piece = sock.recv(65536)
            assert piece, answer
            answer += piece
    first, second = answer.split(b"\r\n\r\n")[:2]
    assert first.startswith(b"HTTP/1.1 204") and f"{PROCESS}: {srv.uploads.pid}".encode() in first
    assert second.startswith(b"HTTP/1.1 200") and f"upload-offset: {len(body)}".encode() in second.lower()
    assert _stored(srv, user_id, url) == body


def test_without_upload_processes_the_api_serves_patches(make_server, user_id):
    srv = make_server({"UPLOAD_PROCESSES": "0"})
    assert srv.uploads is None
    token = srv.token(user_id)
    data = os.urandom(MIB)
    with httpx.Client(headers=_tus(token)) as client:
        url = _create(client, srv.url, len(data))
        r = _patch(client, url, 0, data)
        assert r.status_code == 204 and PROCESS not in r.headers
    assert _stored(srv, user_id, url) == data


def test_upload_process_killed_mid_upload_the_client_resumes_through_the_api_then_it_is_back(make_server, user_id):
    srv = make_server({"UPLOAD_PART_SIZE": str(5 * MIB), "UPLOAD_LOCK_STALE_SECONDS": "1"})
    token = srv.token(user_id)
    data = os.urandom(40 * MIB + 3)
    with httpx.Client(headers=_tus(token), timeout=30) as client:
        url = _create(client, srv.url, len(data))

        def body():  # 1 MiB at a time; the upload process is killed -9 half way
            for start in range(0, len(data), MIB):
                if start == 20 * MIB:
                    time.sleep(0.5)  # its parts are written
                    srv.uploads.kill()
                yield data[start : start + MIB]

        headers = {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
        with pytest.raises(httpx.TransportError):  # the connection the upload process held drops
            client.patch(url, content=body(), headers={**headers, "Content-Length": str(len(data))})
    served_by_api = []
    with httpx.Client(headers=_tus(token), timeout=30) as client:  # a tus client resumes
        offset = int(client.head(url).headers["Upload-Offset"])
        assert offset < len(data)  # (the cut PATCH was never acknowledged)
        while offset < len(data):
            end = min(len(data), offset + 4 * MIB)
            r = _patch(client, url, offset, data[offset:end])
            if r.status_code == 423:  # the dead process's lock, until it goes stale: retry (as tus clients do)
                time.sleep(0.5)
                continue
            assert r.status_code == 204, r.text
            served_by_api.append(PROCESS not in r.headers)
            offset = int(r.headers["Upload-Offset"])
            if len(served_by_api) == 2:
                srv.uploads.start()  # what the supervisor does
    assert served_by_api[:2] == [True, True]  # the API served them while it was down
    assert _stored(srv, user_id, url) == data
    assert hashlib.sha256(_stored(srv, user_id, url)).digest() == hashlib.sha256(data).digest()
    # Back: a new connection's PATCH goes to the new upload process again.
    with httpx.Client(headers=_tus(token), timeout=30) as client:
        url2 = _create(client, srv.url, 10)
        r = _patch(client, url2, 0, b"0123456789")
        assert r.status_code == 204 and r.headers.get(PROCESS) == str(srv.uploads.pid)


def test_a_stopped_upload_process_finishes_its_patch_and_the_api_takes_over(make_server, user_id):
    """SIGTERM: the PATCH in progress completes, the socket goes, new PATCHes are the API's."""
    srv = make_server()
    token = srv.token(user_id)
    data = os.urandom(8 * MIB)
    with httpx.Client(headers=_tus(token), timeout=30) as client:
        url = _create(client, srv.url, len(data))

        def body():  # 1 MiB every 0.1 s; the upload process is told to stop after 3
            for start in range(0, len(data), MIB):
                if start == 3 * MIB:
                    srv.uploads.proc.terminate()
                time.sleep(0.1)
                yield data[start : start + MIB]

        r = client.patch(
            url,
            content=body(),
            headers={
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(len(data)),
            },
        )
        assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(data))
        assert r.headers.get(PROCESS) == str(srv.uploads.pid)
    assert srv.uploads.proc.wait(10) in (0, -15)  # uvicorn re-raises the SIGTERM it handled
    assert not os.path.exists(srv.uploads.socket)
    assert _stored(srv, user_id, url) == data
    with httpx.Client(headers=_tus(token), timeout=30) as client:
        url = _create(client, srv.url, 3)
        r = _patch(client, url, 0, b"abc")
        assert r.status_code == 204 and PROCESS not in r.headers
