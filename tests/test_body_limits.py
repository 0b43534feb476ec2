"""Every request body is bounded before it is read (issue #14, item 2), against the real server.

A 600 MiB POST used to take the API from 118 MiB to 1.24 GiB, and ``Content-Length:
2000000000`` hung the handler. Here the server's RSS and peak RSS (``/proc/<pid>/status``)
stay flat while 600 MiB bodies are refused, oversized ``Content-Length`` is answered at
once, slow senders time out, and oversized request heads are refused; tus PATCH still
streams bodies larger than any JSON limit.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from tus_helpers import OCTET, TUS, auth, create, stored_object

MIB = 1024 * 1024
BIG = 600 * MIB


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def _memory(srv) -> tuple[int, int]:
    """(VmRSS, VmHWM) of the server process, in MiB."""
    pid = srv.proc.pid
    return _status_kib(pid, "VmRSS") // 1024, _status_kib(pid, "VmHWM") // 1024


def _exchange(port: int, head: bytes, body_chunks, *, timeout: float = 30) -> tuple[bytes, int, float]:
    """Send a raw request while a second thread reads the answer.

    Returns (response, bytes sent, seconds until the response head arrived)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(timeout)
    response = bytearray()
    answered = threading.Event()
    answered_at: list[float] = []

    def read() -> None:
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                response.extend(data)
                if b"\r\n\r\n" in response and not answered_at:
                    answered_at.append(time.monotonic())
                    answered.set()
        except OSError:
            pass
        answered.set()

    reader = threading.Thread(target=read, daemon=True)
    started = time.monotonic()
    sock.sendall(head)
    reader.start()
    sent = 0
    try:
        for chunk in body_chunks:
            if answered.is_set():
                break
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass  # the server closed the connection after refusing: expected
    answered.wait(timeout)
    elapsed = (answered_at[0] if answered_at else time.monotonic()) - started
    reader.join(5)
    sock.close()
    return bytes(response), sent, elapsed


def _chunks(total: int, size: int = MIB, *, chunked: bool = False):
    block = b"\0" * size
    for _ in range(total // size):
        yield (b"%x\r\n" % size + block + b"\r\n") if chunked else block
    if chunked:
        yield b"0\r\n\r\n"


def _status(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split(b" ", 2)[1])


@pytest.fixture()
def srv(make_server):
    return make_server({"BODY_TIMEOUT_SECONDS": "2", "HEADER_TIMEOUT_SECONDS": "2"})


@pytest.mark.parametrize("path", ["/webhook/processing-complete", "/api/files/bulk-delete"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_600_mib_body_is_refused_with_flat_memory(srv, user_id, path, framing):
    rss_before, peak_before = _memory(srv)
    headers = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    headers.append(f"Authorization: Bearer {srv.token(user_id)}")
    if framing == "chunked":
        headers.append("Transfer-Encoding: chunked")
    else:
        headers.append(f"Content-Length: {BIG}")
    head = ("\r\n".join(headers) + "\r\n\r\n").encode()
    response, sent, elapsed = _exchange(srv.port, head, _chunks(BIG, chunked=framing == "chunked"))
    assert _status(response) == 413, response[:300]
    assert b'"error"' in response
    rss_after, peak_after = _memory(srv)
    assert rss_after - rss_before < 40, f"RSS grew from {rss_before} to {rss_after} MiB"
    assert peak_after - peak_before < 40, f"peak RSS grew from {peak_before} to {peak_after} MiB"
    assert sent < BIG or elapsed < 30
    assert httpx.get(srv.url + "/api/health").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/webhook/processing-complete"),
        ("POST", "/api/webhooks"),
        ("POST", "/api/files/batch-download"),
        ("GET", "/api/files"),
    ],
)
def test_huge_content_length_is_answered_at_once(srv, user_id, method, path):
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {srv.token(user_id)}\r\n"
        "Content-Type: application/json\r\nContent-Length: 2000000000\r\n\r\n"
    ).encode()
    response, _, elapsed = _exchange(srv.port, head, iter(()), timeout=10)
    assert _status(response) == 413, response[:300]
    assert elapsed < 2, f"took {elapsed:.1f} s"


def test_json_body_over_the_limit_is_413_json(srv, user_id):
    body = b'{"ids": ["' + b"a" * (300 * 1024) + b'"]}'
    r = httpx.post(srv.url + "/api/files/bulk-delete", content=body, headers=auth(srv.token(user_id)))
    assert r.status_code == 413 and "error" in r.json()


def test_slow_sender_gets_408(srv, user_id):
    head = (
        "POST /api/webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {srv.token(user_id)}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    ).encode()

    def trickle():
        yield b'{"url": '
        time.sleep(4)  # BODY_TIMEOUT_SECONDS is 2 on this server

    response, _, elapsed = _exchange(srv.port, head, trickle(), timeout=10)
    assert _status(response) == 408, response[:300]
    assert 1.5 < elapsed < 4, elapsed


def test_oversized_request_head_is_431(srv):
    r = httpx.get(srv.url + "/api/health", headers={"X-Big": "a" * (100 * 1024)})
    assert r.status_code == 431 and "error" in r.json()
    many = {f"X-H{i}": "b" * 100 for i in range(1000)}
    assert httpx.get(srv.url + "/api/health", headers=many).status_code == 431
    assert httpx.get(srv.url + "/api/health").status_code == 200


def test_slow_request_head_gets_408(srv):
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.settimeout(10)
    started = time.monotonic()
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
    response = sock.recv(65536)
    elapsed = time.monotonic() - started
    sock.close()
    assert _status(response) == 408, response[:300]
    assert 1.5 < elapsed < 6, elapsed


def test_tus_patch_still_streams_past_the_json_limit(srv, user_id):
    token = srv.token(user_id)
    data = os.urandom(3 * MIB)
    url = create(srv.url, token, len(data), filename="big.bin").headers["Location"]
    r = httpx.patch(url, headers={**TUS, **OCTET, **auth(token), "Upload-Offset": "0"}, content=data, timeout=60)
    assert r.status_code == 204, r.text
    assert stored_object(srv.data_dir, user_id, url).read_bytes() == data
