"""PATCH bodies written socket -> part file by the local server (local/socket_body.py).

Against a real server process with 5 MiB parts. Its debug log names every move
("body to file: X bytes written from the loop's buffer, Y moved from the socket"), so each
test knows the fast path was taken, not silently replaced by the ASGI body path.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from urllib.parse import urlsplit

import pytest
from tus_helpers import create, head, patch, resume_to_the_end, stored_object

MIB = 1024 * 1024
PART = 5 * MIB
MOVE = re.compile(rb"body to file: (\d+) bytes written from the loop's buffer, (\d+) moved from the socket")


@pytest.fixture()
def srv(make_server):
    return make_server({"UPLOAD_PART_SIZE": str(PART), "LOG_LEVEL": "DEBUG", "UPLOAD_STALL_SECONDS": "1"})


def moves(server) -> tuple[int, int]:
    """(bytes the fast path wrote from the loop's buffer, bytes it moved from the socket) so far,
    in whichever process served the PATCH (the API, or the upload process it handed it to)."""
    logs = [server.data_dir / f"{name}-{server.port}.log" for name in ("server", "uploads")]
    log = b"".join(path.read_bytes() for path in logs if path.exists())
    found = [(int(a), int(b)) for a, b in MOVE.findall(log)]
    return sum(a for a, _ in found), sum(b for _, b in found)


def whole_parts(start: int, end: int, length: int) -> int:
    """Bytes of the parts that lie wholly in [start, end) of an upload of ``length``."""
    total = 0
    for begin in range(0, length, PART):
        stop = min(begin + PART, length)
        if start <= begin and stop <= end:
            total += stop - begin
    return total


def _raw(url: str, token: str, offset: int, length: int, extra: str = "") -> tuple[socket.socket, bytes]:
    target = urlsplit(url)
    sock = socket.create_connection((target.hostname, target.port))
    lines = [
        f"PATCH {target.path} HTTP/1.1",
        f"Host: {target.hostname}:{target.port}",
        f"Authorization: Bearer {token}",
        "Tus-Resumable: 1.0.0",
        "Content-Type: application/offset+octet-stream",
        f"Upload-Offset: {offset}",
        f"Content-Length: {length}",
    ]
    return sock, ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def _offset_once_released(url: str, token: str, at_least: int) -> int:
    deadline = time.monotonic() + 15
    while True:  # the cut request releases its lock once it has staged the rest
        offset = int(head(url, token).headers["Upload-Offset"])
        if offset >= at_least or time.monotonic() > deadline:
            return offset
        time.sleep(0.1)


def test_odd_chunks_straddling_parts_are_byte_identical_and_whole_parts_skip_python(srv, user_id):
    token = srv.token(user_id)
    data = os.urandom(4 * PART + 3 * MIB + 12_345)
    url = create(srv.url, token, len(data)).headers["Location"]
    # PATCH ends inside parts, on a boundary, and the last part short: whole parts in each
    # body go socket -> file, the pieces around them (and staged bytes) the ASGI way.
    cuts = [PART + 2 * MIB + 3, 3 * PART, 3 * PART + 7, len(data)]
    offset = 0
    expected = 0
    for end in cuts:
        r = patch(url, token, offset, data[offset:end])
        assert r.status_code == 204, r.text
        assert int(r.headers["Upload-Offset"]) == end
        expected += whole_parts(offset, end, len(data))
        offset = end
    stored = stored_object(srv.data_dir, user_id, url)
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(data).digest()
    from_buffer, from_socket = moves(srv)
    # Only bytes of whole parts go this way, and all but those the loop had read already
    # (with a PATCH's head, or the rest of a read that ended the part before) skip Python.
    assert from_buffer + from_socket <= expected
    assert from_socket >= expected - 4 * 512 * 1024
    assert expected == 2 * PART + (len(data) - 4 * PART)  # parts 1, 3 and 5 (2 and 4 begin with staged bytes)


def test_checksummed_bodies_stay_on_the_hashing_path(srv, user_id):
    import base64

    token = srv.token(user_id)
    data = os.urandom(2 * PART)
    url = create(srv.url, token, len(data)).headers["Location"]
    digest = base64.b64encode(hashlib.sha1(data).digest()).decode()
    r = patch(url, token, 0, data, **{"Upload-Checksum": f"sha1 {digest}"})
    assert r.status_code == 204, r.text
    assert moves(srv) == (0, 0)
    assert stored_object(srv.data_dir, user_id, url).read_bytes() == data


def test_disconnect_inside_a_part_keeps_every_byte_sent_and_resumes(srv, user_id):
    token = srv.token(user_id)
    data = os.urandom(3 * PART + 1)
    url = create(srv.url, token, len(data)).headers["Location"]
    cut = PART + 2 * MIB + 3  # part 1 whole, part 2 cut (declared to be filled)
    sock, head_bytes = _raw(url, token, 0, len(data))
    with sock:
        sock.sendall(head_bytes + data[:cut])
        time.sleep(0.5)
    offset = _offset_once_released(url, token, cut)
    assert offset == cut  # the cut part's bytes were staged, not dropped
    assert moves(srv)[1] >= cut - 2 * 256 * 1024
    resume_to_the_end(srv, user_id, url, token, data, offset)


def test_a_stalled_body_is_cut_after_the_stall_timeout_and_resumes(srv, user_id):
    token = srv.token(user_id)
    data = os.urandom(2 * PART + 99)
    url = create(srv.url, token, len(data)).headers["Location"]
    sent = PART + MIB + 1
    sock, head_bytes = _raw(url, token, 0, len(data))
    with sock:
        sock.sendall(head_bytes + data[:sent])
        sock.settimeout(10)
        started = time.monotonic()
        while sock.recv(65536):  # UPLOAD_STALL_SECONDS=1: the server hangs up
            pass
        assert time.monotonic() - started < 8
    assert _offset_once_released(url, token, sent) == sent
    resume_to_the_end(srv, user_id, url, token, data, sent)


def test_the_next_request_on_the_connection_follows_a_moved_body(srv, user_id):
    token = srv.token(user_id)
    data = os.urandom(PART)
    url = create(srv.url, token, 2 * PART).headers["Location"]
    target = urlsplit(url)
    sock, head_bytes = _raw(url, token, 0, len(data))
    following = (
        f"HEAD {target.path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\r\n"
    ).encode()
    with sock:
        sock.sendall(head_bytes + data + following)  # pipelined: it must not be taken for body bytes
        sock.settimeout(10)
        answers = b""
        while answers.count(b"HTTP/1.1 ") < 2 or not answers.endswith(b"\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, answers
            answers += chunk
    first, second = answers.split(b"HTTP/1.1 ")[1:3]
    assert first.startswith(b"204") and b"upload-offset: 5242880" in first.lower()
    assert second.startswith(b"200") and b"upload-offset: 5242880" in second.lower()
    assert sum(moves(srv)) == PART


@pytest.mark.parametrize(
    ("length", "extra", "status"),
    [
        ("12abc", "", 400),  # malformed Content-Length
        (str(3 * PART), "Content-Length: 7\r\n", 400),  # two different lengths
        (str(3 * PART), "", 413),  # beyond Upload-Length: refused before any byte is read
    ],
)
def test_bad_or_too_long_bodies_are_4xx_before_any_move(srv, user_id, length, extra, status):
    token = srv.token(user_id)
    url = create(srv.url, token, 2 * PART).headers["Location"]
    target = urlsplit(url)
    request = (
        f"PATCH {target.path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: {length}\r\n{extra}\r\n"
    ).encode()
    with socket.create_connection((target.hostname, target.port)) as sock:
        sock.sendall(request + b"x" * 1000)
        sock.settimeout(10)
        answer = sock.recv(65536)
    assert answer.startswith(f"HTTP/1.1 {status}".encode()), answer[:200]
    assert moves(srv) == (0, 0)
    assert head(url, token).headers["Upload-Offset"] == "0"
