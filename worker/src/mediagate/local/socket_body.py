"""``mediagate.request.body_to_file`` for the local server: upload bytes go socket -> file
in the kernel.

Through ASGI every body byte of a tus PATCH costs the event loop a socket read into a new
``bytes`` (a few hundred KiB at most), a trip through the protocol, ``receive()``, the tus
engine and a writer thread: the loop's own work was half the server's profile, and one
event loop does it for every upload and every API request. Here, for a body framed by
Content-Length, the protocol hands out a :class:`SocketBody` (the
:class:`~mediagate.ports.BodyToFile` of :data:`~mediagate.ports.BODY_TO_FILE`). Asked for
``count`` bytes into a file at an offset, it first writes what the loop already read (body
bytes waiting for ``receive()``), then stops the transport from reading and moves the rest
in a thread with ``splice(2)`` (socket -> pipe -> file at its offset; ``recv_into`` a reused
buffer + ``pwrite`` where splice is refused). Python never holds those bytes. The tus engine
still decides which bytes go where (tus/parts.py), and what is acknowledged.

Reading stays paused afterwards (uvicorn's flow control: ``receive()`` resumes it when the
app wants the rest, the response's end when the next request may come). A peer that
closes, breaks or sends nothing for ``STALL_SECONDS`` ends the body early: the connection
is closed and the caller learns how many bytes arrived. While an interactive request is
being answered (priority.py) the thread pauses between reads, as the loop's bulk readers
do, so uploads never take the interpreter from an answer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import fcntl
import logging
import os
import select
import socket
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from ..ports import BODY_TO_FILE
from .priority import GATE, PriorityGate

log = logging.getLogger("mediagate.local.socket_body")

STALL_SECONDS = 60.0  # a body that sends nothing for this long is over
PIPE_BYTES = 1024 * 1024  # splice moves up to this much per round (root or pipe-max-size allow it)
BUFFER_BYTES = 1024 * 1024  # the recv_into fallback's buffer
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class FixedBodyProtocol(Protocol):
    """What :class:`SocketBody` needs of the HTTP protocol (http_limits.py) whose request
    body it reads: the transport, uvicorn's flow control and request cycle, and the body
    bytes it has not read from the socket yet."""

    transport: asyncio.Transport
    flow: Any  # uvicorn FlowControl
    cycle: Any  # uvicorn RequestResponseCycle
    _body_left: int

    def _flush_held(self) -> None:
        """Hand body bytes held back by the priority gate to the request cycle."""

    def _end_fixed_body(self) -> None:
        """The body was read to its end: the request is complete."""


def install(protocol: FixedBodyProtocol, cycle: Any) -> None:
    """Offer ``BODY_TO_FILE`` on ``cycle``'s request when its connection is a plain socket."""
    transport = protocol.transport
    if transport.get_extra_info("sslcontext") is not None or transport.get_extra_info("socket") is None:
        return
    cycle.scope.setdefault("extensions", {})[BODY_TO_FILE] = {"body": SocketBody(protocol, cycle)}


class SocketBody:
    """The rest of one request's body, written into files on request (see module doc)."""

    def __init__(self, protocol: FixedBodyProtocol, cycle: Any, gate: PriorityGate = GATE) -> None:
        self.protocol = protocol
        self.cycle = cycle
        self.gate = gate
        self.moved = 0  # bytes that went socket -> file without the event loop

    async def into_file(self, fd: int, offset: int, count: int) -> int:
        protocol, cycle = self.protocol, self.cycle
        if count <= 0:
            return 0
        if protocol.cycle is not cycle or cycle.disconnected or protocol.transport.is_closing():
            return 0
        protocol._flush_held()
        protocol.flow.pause_reading()  # from here on only this reads the socket
        buffered = bytes(cycle.body)  # read by the loop, not yet received: these come first
        head = buffered[:count]
        rest = buffered[len(head) :]
        cycle.body = bytearray(rest)  # uvicorn's own type (http_limits swaps in its own on use)
        from_socket = min(count - len(head), protocol._body_left)
        sock = protocol.transport.get_extra_info("socket")
        # Its own descriptors, closed by the thread: a caller that stops waiting (cancelled)
        # and closes ``fd`` cannot make the thread write into a reused number.
        fds = (os.dup(sock.fileno()), os.dup(fd))
        try:
            moved = await asyncio.shield(_in_thread(_move, fds, offset + len(head), from_socket, head, self.gate))
        except BaseException:
            _hang_up(protocol.transport)  # ends the thread's wait too: the body is in an unknown state
            raise
        self.moved += moved
        protocol._body_left -= moved
        done = len(head) + moved
        log.debug("body to file: %d bytes written from the loop's buffer, %d moved from the socket", len(head), moved)
        if done < count:  # the peer went away or stalled: this body is over, and the connection
            _hang_up(protocol.transport)
        elif protocol._body_left == 0 and cycle.more_body:
            protocol._end_fixed_body()
        return done


def _hang_up(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError), socket.socket(fileno=os.dup(sock.fileno())) as dup:
            # uvloop's transport sockets refuse shutdown(); a duplicate reaches the same socket,
            # so every descriptor of it (the thread's too) sees the end at once
            dup.shutdown(socket.SHUT_RDWR)
    transport.close()


# Threads of their own: a slow client may keep one for minutes, which must not take one of
# the few shared I/O threads (server.py, IO_THREADS). Kept once started: starting a thread
# makes the event loop wait until the new thread runs (long on a busy machine).
_MOVERS = ThreadPoolExecutor(max_workers=256, thread_name_prefix="body-to-file")


def _in_thread(fn: Callable[..., int], *args: Any) -> asyncio.Future[int]:
    """Run ``fn`` in a mover thread; its result is the future's."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    waker = _Waker.of(loop)

    def run() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting task
            waker.settle(future, 0, exc)
        else:
            waker.settle(future, result, None)

    _MOVERS.submit(run)
    return future


class _Waker:
    """Hands results from threads to the event loop through a pipe the loop reads.

    ``call_soon_threadsafe`` wakes the loop with the interpreter lock held (uvloop's async
    handle): on a busy machine the thread is often switched out right there, and the loop
    waits for the lock meanwhile (a third of the server's GIL samples in the profile). A
    ``os.write`` here releases the lock for its syscall."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.done: collections.deque[tuple[asyncio.Future[int], int, BaseException | None]] = collections.deque()
        loop.add_reader(self.r, self._drain)
        weakref.finalize(loop, _close_pipe, self.r, self.w)

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Waker:
        waker = _WAKERS.get(loop)
        if waker is None:
            waker = _WAKERS[loop] = cls(loop)
        return waker

    def settle(self, future: asyncio.Future[int], result: int, error: BaseException | None) -> None:
        """From any thread: resolve ``future`` on the loop."""
        self.done.append((future, result, error))
        with contextlib.suppress(BlockingIOError, OSError):  # full: a wake-up is pending anyway
            os.write(self.w, b"\0")

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.read(self.r, 65536)
        while self.done:
            future, result, error = self.done.popleft()
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


_WAKERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Waker] = weakref.WeakKeyDictionary()


def _close_pipe(r: int, w: int) -> None:
    for fd in (r, w):
        with contextlib.suppress(OSError):
            os.close(fd)


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def _move(fds: tuple[int, int], offset: int, count: int, head: bytes, gate: PriorityGate) -> int:
    """Write ``head`` at ``offset`` - len(head), then ``count`` socket bytes after it; returns
    how many socket bytes were written (fewer than ``count``: the peer ended or stalled).
    Closes both descriptors."""
    sock, fd = fds
    try:
        if head:
            _pwrite_all(fd, head, offset - len(head))
        if not count:
            return 0
        poller = select.poll()
        poller.register(sock, select.POLLIN)

        def wait_readable() -> bool:
            return bool(poller.poll(int(STALL_SECONDS * 1000)))

        try:
            return _splice(sock, fd, offset, count, wait_readable, gate)
        except _NoSplice:
            return _recv_pwrite(sock, fd, offset, count, wait_readable, gate)
    finally:
        os.close(sock)
        os.close(fd)


class _NoSplice(Exception):
    """This socket or file cannot splice (nothing was moved yet)."""


def _splice(sock: int, fd: int, offset: int, count: int, wait_readable: Callable[[], bool], gate: PriorityGate) -> int:
    moved = 0
    r, w = os.pipe()
    try:
        try:
            fcntl.fcntl(w, _F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass  # the default 64 KiB pipe works, in more rounds
        while moved < count:
            _yield_to_answers(gate)
            try:
                n = os.splice(sock, w, min(count - moved, PIPE_BYTES), flags=_SPLICE_FLAGS)
            except BlockingIOError:
                if not wait_readable():
                    return moved
                continue
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP) and moved == 0:
                    raise _NoSplice() from exc
                if exc.errno in (errno.ECONNRESET, errno.EPIPE, errno.ETIMEDOUT):
                    return moved
                raise
            if n == 0:
                return moved  # the peer closed
            while n:  # the pipe holds exactly n bytes: all of them go to the file
                m = os.splice(r, fd, n, offset_dst=offset + moved)
                n -= m
                moved += m
        return moved
    finally:
        os.close(r)
        os.close(w)


def _recv_pwrite(
    sock: int, fd: int, offset: int, count: int, wait_readable: Callable[[], bool], gate: PriorityGate
) -> int:
    buffer = bytearray(min(BUFFER_BYTES, count))
    view = memoryview(buffer)
    moved = 0
    while moved < count:
        _yield_to_answers(gate)
        try:
            n = os.readv(sock, [view[: min(len(view), count - moved)]])
        except BlockingIOError:
            if not wait_readable():
                return moved
            continue
        except (ConnectionResetError, TimeoutError):
            return moved
        if n == 0:
            return moved
        _pwrite_all(fd, view[:n], offset + moved)
        moved += n
    return moved


def _yield_to_answers(gate: PriorityGate) -> None:
    """Wait (at most the gate's bulk wait) while an interactive request is being answered,
    as the event loop's bulk readers do: this thread would take the interpreter from it."""
    if not gate.busy:
        return
    deadline = time.monotonic() + gate.max_wait_seconds
    while gate.busy and time.monotonic() < deadline:
        time.sleep(0.0005)
