"""The upload process: serves the tus PATCH connections the API process hands over.

The same app (``build_app``) with the same protocol and limits as the API process, on its
own event loop and CPU, so upload bodies never delay an API answer (see handover.py for
the API's side). It listens on a Unix socket (``UPLOAD_SOCKET``, by default next to the
data) for messages that each carry one client connection's file descriptor and the bytes
the API already read of it; it adopts the connection (``connect_accepted_socket``),
parses those bytes as if it had read them, and serves that request and every later one
on the connection. It accepts no TCP connections of its own and runs no maintenance sweep
(the API process does). Every response it sends carries
``X-Mediagate-Upload-Process: <pid>``, so tests and curious users can see who served it.

Crash safety is the tus engine's: an acknowledged offset is committed before it is
acknowledged, whichever process acknowledged it. If this process dies, the connections it
held drop (clients resume with HEAD + PATCH) and the API serves PATCHes itself until it
is back. ``make dev`` supervises it (local/dev.py) at ``UPLOAD_NICE`` (5): interactive
requests in the API process win the CPU when both want it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from typing import Any

import uvicorn

from .handover import MAX_MESSAGE_BYTES, socket_path
from .http_limits import BoundedHttpToolsProtocol
from .server import build_app, http_protocol, setup

log = logging.getLogger("mediagate.local.uploads")

PROCESS_HEADER = "x-mediagate-upload-process"


class AdoptedProtocol(BoundedHttpToolsProtocol):
    """Starts with the bytes the API process read before it handed the connection over."""

    preload = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]  # uvicorn annotates a Transport
        data, self.preload = self.preload, b""
        if data:  # before the transport's first read (that is scheduled after this call)
            self.data_received(data)


class Receiver:
    """Accepts the API process's links and adopts the connections sent over them."""

    def __init__(self, server: uvicorn.Server, path: str) -> None:
        self.server = server
        self.path = path
        self.loop = asyncio.get_running_loop()
        self.listener: socket.socket | None = None
        self.links: set[socket.socket] = set()
        self.inode = 0
        self.adopted = 0

    def listen(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a dead predecessor's
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(self.path)
        os.chmod(self.path, 0o600)
        self.inode = os.stat(self.path).st_ino
        listener.listen(16)
        listener.setblocking(False)
        self.loop.add_reader(listener.fileno(), self._accept)
        self.listener = listener
        log.info("upload process %d ready at %s", os.getpid(), self.path)

    def close(self) -> None:
        """Stop adopting connections (those adopted finish as uvicorn shuts down)."""
        if self.listener is not None:
            self.loop.remove_reader(self.listener.fileno())
            self.listener.close()
            self.listener = None
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == self.inode:  # not a successor's
                    os.unlink(self.path)
        for link in list(self.links):
            self._drop(link)

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            link, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        _, uid, _ = struct.unpack("3i", link.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid != os.getuid():
            log.warning("refused a link from uid %d", uid)
            link.close()
            return
        link.setblocking(False)
        self.links.add(link)
        self.loop.add_reader(link.fileno(), self._receive, link)

    def _drop(self, link: socket.socket) -> None:
        self.loop.remove_reader(link.fileno())
        self.links.discard(link)
        link.close()

    def _receive(self, link: socket.socket) -> None:
        while True:
            try:
                data, fds, flags, _ = socket.recv_fds(link, MAX_MESSAGE_BYTES, 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop(link)
                return
            if not data and not fds:  # the API process closed its end (or died)
                self._drop(link)
                return
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(fds) != 1:
                log.error("dropped a malformed handover (%d bytes, %d descriptors)", len(data), len(fds))
                for fd in fds:
                    os.close(fd)
                continue
            self.loop.create_task(self._adopt(fds[0], data))

    async def _adopt(self, fd: int, data: bytes) -> None:
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        config = self.server.config
        proto = config.http_protocol_class(  # type: ignore[call-arg]
            config=config,
            server_state=self.server.server_state,
            app_state=self.server.lifespan.state,
            _loop=self.loop,
        )
        proto.preload = data  # type: ignore[attr-defined]
        try:
            await self.loop.connect_accepted_socket(lambda: proto, sock)
        except OSError as exc:  # the client went away meanwhile
            log.info("could not adopt a connection: %s", exc)
            sock.close()
            return
        self.adopted += 1


async def serve(env: dict[str, str], options: dict[str, Any]) -> None:
    app = build_app(env, maintenance=False)
    protocol = type("AdoptedHttpToolsProtocol", (AdoptedProtocol, http_protocol(env)), {})
    config = uvicorn.Config(app, http=protocol, lifespan="on", headers=[(PROCESS_HEADER, str(os.getpid()))], **options)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[]))  # no listening socket: connections arrive by handover
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    receiver = Receiver(server, socket_path(env))
    if server.started:
        receiver.listen()
    try:
        while not serving.done() and not server.should_exit:
            await asyncio.wait({serving}, timeout=0.1)
        receiver.close()  # the API serves new PATCHes itself from now on
        await serving
    finally:
        receiver.close()


def main() -> None:
    env = dict(os.environ)
    options = setup(env)
    asyncio.run(serve(env, options))


if __name__ == "__main__":
    main()
