"""The API process hands tus PATCH connections to the upload process (local server only).

One uvicorn event loop serving both the API and upload bodies makes a listing wait behind
upload chunks (listing p99 81 ms under 20 uploads even with priority.py). So when a
request head is complete and it is a tus ``PATCH /api/upload/<id>``, the API process sends
the connection itself to the upload process (upload_server.py): the socket's file
descriptor over a Unix socket (``SCM_RIGHTS``) together with the raw bytes of the request
read so far (its head and any body bytes that came with it), then forgets the connection
without closing it for the peer. The upload process parses those bytes again with the same
protocol and app, and serves this request and every later one on that connection.
Nothing is proxied: no upload byte passes through the API process after the handover.

The handover happens only at a clean request boundary: the request began at the start of
a read (so its raw bytes are known exactly), no earlier response on the connection is
still being written, and nothing waits in the transport's write buffer. Otherwise, or when
the upload process cannot be reached (not started, restarting, crashed, or its queue full),
the API serves the request itself, as it did before, and logs the change of state once.
One ``SOCK_SEQPACKET`` message carries the descriptor and the bytes, so a send either
hands everything over or nothing (then the bytes are parsed here instead).

The link is checked to be held by a process of this user (``SO_PEERCRED``) before any
connection goes through it. ``UPLOAD_PROCESSES=0`` turns all of this off.

Measured (``bench/api.py --load-only``, 20 uploads + 3 transcodes, 3 interleaved runs
each, medians; the shared 2-core box with other sessions' work, load average 3-28 during
the runs): listing p50 5.9 ms / p99 46 ms with the upload process against 24 / 288 ms
without, uploads 203 against 280 MB/s in aggregate (medians of rounds). Under heavier
foreign load (17-47) p99 was 128 against 300 ms, and at nice 5 the upload process got a
third of the rate (17 against 57 MB/s): other sessions' nice-0 processes outranked it
(``UPLOAD_NICE=0`` kept the rate there, at p99 143-277 ms).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

import httptools

from .http_limits import BoundedHttpToolsProtocol

log = logging.getLogger("mediagate.local.handover")

UPLOAD_PATH_PREFIX = b"/api/upload/"
MAX_MESSAGE_BYTES = 1024 * 1024  # one handover: a request head (<= 64 KiB) + at most a few reads
RETRY_SECONDS = 1.0  # an unreachable upload process is tried again after this long


def enabled(env: dict[str, str]) -> bool:
    return env.get("UPLOAD_PROCESSES", "1") != "0"


def niceness(env: dict[str, str]) -> int:
    """The upload process's CPU priority offset (``UPLOAD_NICE``, 5): interactive requests win."""
    return int(env.get("UPLOAD_NICE", "5"))


def socket_path(env: dict[str, str]) -> str:
    """Where the upload process listens: ``UPLOAD_SOCKET``, else next to the data (one per
    API port), else in the temp dir when that path is too long for a Unix socket."""
    if env.get("UPLOAD_SOCKET"):
        return env["UPLOAD_SOCKET"]
    name = f"upload-{env.get('PORT', '8787')}.sock"
    path = str(Path(env.get("DATA_DIR", "data")) / name)
    if len(os.fsencode(path)) > 100:
        path = f"/tmp/mediagate-{os.getuid()}-{name}"
    return path


def listening(path: str) -> bool:
    """The upload process accepts connections at ``path`` (its readiness check)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as probe:
            probe.connect(path)
        return True
    except OSError:
        return False


class UploadLink:
    """The API's end of the Unix socket to the upload process; reconnects lazily."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock: socket.socket | None = None
        self.retry_at = 0.0
        self.state = "unknown"  # "up" / "down": logged when it changes
        self.handed_over = 0

    def send(self, fd: int, data: bytes) -> bool:
        """Hand ``fd`` and ``data`` to the upload process; False if nothing was sent."""
        for attempt in (0, 1):  # a broken link (upload process restarted) is redialled once
            sock = self._connected()
            if sock is None:
                return False
            try:
                socket.send_fds(sock, [data], [fd], socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return False  # its queue is full: serve this one here
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:
                    return False
                self._drop(f"{exc.strerror or exc}")
                if attempt == 0:
                    self.retry_at = 0.0
                continue
            self.handed_over += 1
            self._say("up")
            return True
        return False

    def _connected(self) -> socket.socket | None:
        if self.sock is not None:
            return self.sock
        if time.monotonic() < self.retry_at:
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.setblocking(False)  # a full backlog (upload process stuck) fails at once: served here
        try:
            sock.connect(self.path)
            _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            if uid != os.getuid():
                raise OSError(errno.EPERM, f"held by uid {uid}, not ours")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MAX_MESSAGE_BYTES)
        except OSError as exc:
            sock.close()
            self.retry_at = time.monotonic() + RETRY_SECONDS
            self._say("down", f"{exc.strerror or exc}")
            return None
        self.sock = sock
        return sock

    def _drop(self, why: str) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.retry_at = time.monotonic() + RETRY_SECONDS
        self._say("down", why)

    def _say(self, state: str, why: str = "") -> None:
        if state == self.state:
            return
        if state == "up":
            log.info("upload process at %s: tus PATCH connections are handed to it", self.path)
        else:
            log.warning("upload process unavailable at %s (%s): serving uploads in the API process", self.path, why)
        self.state = state

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _is_tus_patch(method: bytes, url: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    if not url.startswith(UPLOAD_PATH_PREFIX):
        return False
    if method == b"PATCH":
        return True
    return method == b"POST" and any(n == b"x-http-method-override" and v.upper() == b"PATCH" for n, v in headers)


class HandoverProtocol(BoundedHttpToolsProtocol):
    """The API's protocol: a tus PATCH at a clean request boundary leaves for the upload process."""

    link: UploadLink | None = None  # set on the class built by ``protocol``

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle = True  # no request begun since the last one completed
        self._raw: list[bytes] | None = None  # reads since the current request began at a read's start
        self._leaving = False  # the current request goes to the upload process
        self._stay = False  # the handover of the current request failed: serve it here

    def data_received(self, data: bytes) -> None:
        if self._leaving:
            return
        if self._idle:
            self._raw = [data]
        elif self._raw is not None:
            self._raw.append(data)
        super().data_received(data)
        if self._leaving:
            self._hand_over()

    def on_message_begin(self) -> None:
        self._idle = False
        if not self._leaving:
            super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self._leaving:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._leaving:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._leaving:
            return
        raw, self._raw = self._raw, None
        stay, self._stay = self._stay, False
        if raw is not None and not stay and self._may_leave():
            self._raw = raw
            self._leaving = True  # the parser reads on to the end of this read: ignore it
            self._awaiting_head = False  # (no head limits on bytes that are not parsed here)
            self._cancel_timer()
            return
        super().on_headers_complete()

    def _may_leave(self) -> bool:
        if self.link is None or not _is_tus_patch(self.parser.get_method(), self.url, self.headers):
            return False
        cycle = getattr(self, "cycle", None)  # an earlier request on this connection
        if cycle is not None and not cycle.response_complete:
            return False
        return not self.transport.is_closing() and self.transport.get_write_buffer_size() == 0

    def on_body(self, body: bytes) -> None:
        if not self._leaving:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._leaving:
            return
        super().on_message_complete()
        self._idle = True
        self._raw = None

    def _hand_over(self) -> None:
        data = b"".join(self._raw or ())
        self._raw = None
        sock = self.transport.get_extra_info("socket")
        assert self.link is not None
        if sock is not None and self.link.send(sock.fileno(), data):
            self.transport.abort()  # closes only this process's descriptor: no FIN, no RST
            return
        # Not handed over: parse the same bytes here, as if the upload process did not exist.
        self._leaving = False
        self._stay = True
        self._idle = True
        self._awaiting_head, self._head_bytes = True, 0
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # as uvicorn sets its parser up
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.data_received(data)


def protocol(base: type[BoundedHttpToolsProtocol], link: UploadLink | None) -> type[BoundedHttpToolsProtocol]:
    """``base`` (configured limits) with the handover; ``link`` None turns it off."""
    if link is None:
        return base
    return type("HandoverHttpToolsProtocol", (HandoverProtocol, base), {"link": link})


def close_link(proto: type[BoundedHttpToolsProtocol]) -> None:
    link = getattr(proto, "link", None)
    if isinstance(link, UploadLink):
        link.close()
