"""``http.response.zerocopy`` for uvicorn: file bytes go socket-ward with ``sendfile(2)``.

uvicorn offers no zero-copy ASGI extension (neither ``http.response.zerocopy`` nor
``http.response.pathsend``), so a file response is read into Python and written back out
(Starlette's ``FileResponse`` too: 64 KiB ``read``/``write`` pairs). The local server's
protocol (``http_limits.BoundedHttpToolsProtocol``) advertises the extension and handles
its message here: once the response head is out of the transport's buffer, the range is
sent by ``os.sendfile`` from the file to a duplicate of the connection's socket, in a
thread (the socket is non-blocking; the thread waits for it with ``poll``), then uvicorn
finishes the response as usual (keep-alive, Content-Length accounting). A HEAD request
sends no body; a chunked response falls back to reading the file.
"""

from __future__ import annotations

import asyncio
import os
import select
from collections.abc import Awaitable, Callable
from typing import Any

ZEROCOPY = "http.response.zerocopy"
STALL_SECONDS = 60.0  # a peer that takes nothing for this long is dropped
_READ = 1024 * 1024


def _sendfile_all(sock_fd: int, file_fd: int, offset: int, count: int) -> None:
    poller = select.poll()
    poller.register(sock_fd, select.POLLOUT)
    while count > 0:
        try:
            n = os.sendfile(sock_fd, file_fd, offset, count)
        except BlockingIOError:
            if not poller.poll(int(STALL_SECONDS * 1000)):
                raise TimeoutError("peer stalled during sendfile") from None
            continue
        if n == 0:
            raise EOFError("file ended before the range did")
        offset += n
        count -= n


def install(cycle: Any) -> None:
    """Make ``cycle`` (a uvicorn httptools RequestResponseCycle) accept ``ZEROCOPY``."""
    cycle.scope.setdefault("extensions", {})[ZEROCOPY] = {}
    plain: Callable[[Any], Awaitable[None]] = cycle.send

    async def send(message: Any) -> None:
        if message["type"] != ZEROCOPY:
            return await plain(message)
        if cycle.disconnected:
            return
        if not cycle.response_started or cycle.response_complete:
            raise RuntimeError(f"unexpected {ZEROCOPY} message")
        fh = message["file"]
        fd = fh.fileno()
        offset = message.get("offset")
        if offset is None:
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        count = message.get("count")
        if count is None:
            count = os.fstat(fd).st_size - offset
        more_body = message.get("more_body", False)
        if cycle.scope["method"] == "HEAD":  # uvicorn sends no body: nothing to read
            return await plain({"type": "http.response.body", "body": b"", "more_body": more_body})
        if cycle.chunked_encoding or count > cycle.expected_content_length:
            # uvicorn accounts for these itself (and refuses a body longer than announced)
            while count > 0:
                data = os.pread(fd, min(_READ, count), offset)
                if not data:
                    break
                offset += len(data)
                count -= len(data)
                await plain({"type": "http.response.body", "body": data, "more_body": True})
            return await plain({"type": "http.response.body", "body": b"", "more_body": more_body})
        transport = cycle.transport
        while transport.get_write_buffer_size() and not cycle.disconnected:
            await asyncio.sleep(0.001)  # the response head must reach the socket first
        sock = transport.get_extra_info("socket")
        if cycle.disconnected or sock is None:
            return
        dup = os.dup(sock.fileno())  # the transport may close its fd meanwhile; never reuse a number
        try:
            await asyncio.to_thread(_sendfile_all, dup, fd, offset, count)
        except (OSError, TimeoutError, EOFError):
            transport.close()  # the peer went away (or the file shrank): drop the connection
            return
        finally:
            os.close(dup)
        cycle.expected_content_length -= count
        await plain({"type": "http.response.body", "body": b"", "more_body": more_body})

    cycle.send = send
