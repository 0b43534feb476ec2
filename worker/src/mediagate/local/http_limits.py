"""Request-head limits for the local uvicorn server (httptools protocol).

uvicorn's httptools protocol has no limit on the request line plus headers and no
timeout for receiving them: a client could stream headers forever into memory, or hold
a connection open by sending one header byte a minute. This protocol counts the bytes of
each request head as they arrive and answers ``431`` past ``MAX_HEADER_BYTES``, and
``408`` when a started head is not complete within ``HEADER_TIMEOUT_SECONDS``. Bodies are
not counted here (the app's edge guard bounds them per route; tus PATCH streams). Body
pieces reach the app without uvicorn's two copies per byte (``_BodyChunks``), and the
body of a Content-Length request bypasses the parser (one more copy per byte saved).
A large such body yields the event loop to interactive requests (see priority.py), and
the app may have it written into files without the event loop (socket_body.py: the
protocol's part is ``_flush_held`` and ``_end_fixed_body``).

On Cloudflare the platform enforces the equivalent limits before the Worker runs (see
README, "Limits"), so this module is local-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from . import socket_body, zerocopy
from .priority import BULK_BODY_BYTES, GATE

MAX_HEADER_BYTES = 64 * 1024  # request line + all headers; Cloudflare allows 128 KB
HEADER_TIMEOUT_SECONDS = 30.0

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a refused request."""


class _BodyChunks:
    """A request body buffer that keeps the parser's ``bytes`` as they came.

    uvicorn appends every body piece to a ``bytearray`` and hands ``bytes(buffer)`` to the
    app: two copies of every uploaded byte. With this in its place a receive that finds
    one piece gets that very object, and several are joined once. It offers what uvicorn
    uses of its buffer: ``+=``, ``len`` and ``bytes()``."""

    __slots__ = ("chunks", "size")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    def __iadd__(self, data: bytes) -> _BodyChunks:
        self.chunks.append(data)
        self.size += len(data)
        return self

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        if len(self.chunks) == 1:
            return self.chunks[0]
        return b"".join(self.chunks)


def _fixed_length(headers: list[tuple[bytes, bytes]]) -> int:
    """The body length of a request framed by Content-Length alone (else 0: the parser
    handles chunked bodies, upgrades and anything unusual)."""
    length = None
    for name, value in headers:
        if name == b"transfer-encoding" or name == b"upgrade":
            return 0
        if name == b"content-length":
            if length is not None or not value.strip().isdigit():
                return 0
            length = int(value)
    return length or 0


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = MAX_HEADER_BYTES
    header_timeout = HEADER_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._body_left = 0  # body bytes still to come that the parser is bypassed for
        self._bulk = False  # this request's body is large: it yields to interactive ones
        self._held: list[bytes] | None = None  # body bytes read while yielding
        self._leave: Callable[[], None] | None = None  # ends this interactive request's priority

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._body_left > 0:
            if self._held is not None:  # read meanwhile (uvicorn resumed reading): hold it too
                self._held.append(data)
                self.transport.pause_reading()
                return
            if self._bulk and GATE.busy:  # an answer is being made: let it have the loop
                self._held = [data]
                self.transport.pause_reading()
                GATE.wait(self, self._resume_bulk)
                return
            self._bypass_parser(data)
            return
        if self._awaiting_head:
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._head_timer = asyncio.get_running_loop().call_later(self.header_timeout, self._head_too_slow)
        super().data_received(data)
        # Still inside the head after parsing all of it: the head alone is this big.
        if self._awaiting_head and self._head_bytes > self.max_header_bytes and not self._refused:
            self._refuse(431, f"request line and headers exceed {self.max_header_bytes} bytes")

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_bytes = 0
        self._cancel_timer()
        # A head that arrived within one read is only complete now: measure what was parsed.
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_header_bytes:
            self._refuse(431, f"request line and headers exceed {self.max_header_bytes} bytes")
            raise _Refused()  # stops the parser; uvicorn's 400 for it is suppressed below
        super().on_headers_complete()
        cycle = getattr(self, "cycle", None)
        if cycle is not None and cycle.scope is self.scope:
            zerocopy.install(cycle)  # before its task runs: downloads go out with sendfile
            self._body_left = _fixed_length(self.headers)
            self._bulk = self._body_left >= BULK_BODY_BYTES
            if self._bulk:
                socket_body.install(self, cycle)  # the app may have the body moved to a file
            if not self._bulk and GATE.enabled:
                self._end_priority()  # a pipelined predecessor's, if any
                self._leave = GATE.enter()

    def _resume_bulk(self) -> None:
        """No interactive request left (or this reader waited long enough): read on."""
        if self._held is None or self.transport.is_closing():
            return
        if not self.flow.read_paused:  # else uvicorn resumes when the app wants more
            self.transport.resume_reading()
        self._flush_held()

    def _flush_held(self) -> None:
        """Body bytes the gate held back go on now (socket_body takes them before the socket)."""
        held, self._held = self._held, None
        GATE.forget(self)
        for data in held or ():  # at least these go on now, even if another answer started meanwhile
            if self._body_left > 0:
                self._bypass_parser(data)
            else:
                self.data_received(data)

    def _end_priority(self) -> None:
        if self._leave is not None:
            self._leave()
            self._leave = None

    def on_response_complete(self) -> None:
        self._end_priority()
        super().on_response_complete()

    def _bypass_parser(self, data: bytes) -> None:
        """Body bytes of a Content-Length request go to the app as the very objects the
        event loop read (httptools would copy each piece once more, and parses nothing in
        a body). When the body is complete the parser, which still waits for it, is
        replaced by a fresh one for the next request on the connection."""
        body = data if len(data) <= self._body_left else data[: self._body_left]
        self.on_body(body)  # counts it down
        if self._body_left == 0:
            self._end_fixed_body()
            if len(body) < len(data):
                self.data_received(data[len(body) :])  # a pipelined next request

    def _end_fixed_body(self) -> None:
        """The bypassed body is complete (here or in socket_body): the request is."""
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # as uvicorn sets its parser up
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        self._body_left -= len(body)
        cycle = self.cycle
        if type(cycle.body) is bytearray:  # uvicorn starts each message with a fresh one
            pending = bytes(cycle.body)
            cycle.body = _BodyChunks()  # type: ignore[assignment]  # duck-types uvicorn's bytearray (see _BodyChunks)
            if pending:
                cycle.body += pending
        super().on_body(body)

    def send_400_response(self, msg: str) -> None:
        if not self._refused:
            super().send_400_response(msg)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_head = True  # the next request on this connection starts its own count
        self._head_bytes = 0

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._end_priority()
        GATE.forget(self)
        self._held = None
        super().connection_lost(exc)

    def _cancel_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._awaiting_head and self._head_bytes > 0 and not self._refused:
            self._refuse(408, f"request headers not received within {self.header_timeout:g} seconds")

    def _refuse(self, status: int, message: str) -> None:
        self._refused = True
        self._cancel_timer()
        self.logger.warning("refused a request: %s", message)
        body = json.dumps({"error": message}).encode()
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, _REASONS[status], len(body))
        )
        if not self.transport.is_closing():
            self.transport.write(head + body)
            self.transport.close()


def bounded_protocol(
    max_header_bytes: int = MAX_HEADER_BYTES, header_timeout: float = HEADER_TIMEOUT_SECONDS
) -> type[BoundedHttpToolsProtocol]:
    """A protocol class with these limits (uvicorn takes a class, not an instance)."""
    return type(
        "ConfiguredHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"max_header_bytes": max_header_bytes, "header_timeout": header_timeout},
    )
