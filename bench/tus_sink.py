"""A tus server that throws every body byte away: the ceiling of a tus client's send rate.

    .venv/bin/python bench/tus_sink.py --port 0     # prints {"url": "http://127.0.0.1:PORT/files"}

Creation (POST), HEAD and PATCH over keep-alive HTTP/1.1, one thread per connection; a
PATCH body is read with ``recv_into`` into one reused buffer and dropped. Whatever a
client reaches against this is the most any server can measure with that client on this
machine (bench/upload.py --sink runs it next to the real servers).
"""

from __future__ import annotations

import argparse
import json
import socket
import socketserver
import sys
import threading
import uuid

BUFFER = 4 * 1024 * 1024


LOCK = threading.Lock()
UPLOADS: dict[str, list[int | None]] = {}  # id -> [offset, length]


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray(BUFFER)
        view = memoryview(buf)
        pending = b""
        while True:
            while b"\r\n\r\n" not in pending:
                data = sock.recv(65536)
                if not data:
                    return
                pending += data
            head, _, pending = pending.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
            }
            length = int(headers.get("content-length", "0"))
            # the body: what arrived with the head, then straight from the socket
            taken = min(length, len(pending))
            left = length - taken
            pending = pending[taken:]
            while left:
                n = sock.recv_into(view, min(left, BUFFER))
                if not n:
                    return
                left -= n
            sock.sendall(self._answer(method, path, headers, length))

    def _answer(self, method: str, path: str, headers: dict[str, str], length: int) -> bytes:
        common = "Tus-Resumable: 1.0.0\r\nAccess-Control-Expose-Headers: Location, Upload-Offset\r\n"
        if method == "POST":
            upload_id = uuid.uuid4().hex
            total = int(headers["upload-length"]) if "upload-length" in headers else None
            with LOCK:
                UPLOADS[upload_id] = [length, total]
            host = headers.get("host", "127.0.0.1")
            return (
                f"HTTP/1.1 201 Created\r\n{common}Location: http://{host}/files/{upload_id}\r\n"
                f"Upload-Offset: {length}\r\nContent-Length: 0\r\n\r\n"
            ).encode()
        upload_id = path.rstrip("/").rsplit("/", 1)[-1]
        with LOCK:
            entry = UPLOADS.get(upload_id)
        if entry is None:
            return f"HTTP/1.1 404 Not Found\r\n{common}Content-Length: 0\r\n\r\n".encode()
        if method == "PATCH":
            with LOCK:
                entry[0] = (entry[0] or 0) + length
            return f"HTTP/1.1 204 No Content\r\n{common}Upload-Offset: {entry[0]}\r\n\r\n".encode()
        if method == "HEAD":
            extra = f"Upload-Length: {entry[1]}\r\n" if entry[1] is not None else ""
            return f"HTTP/1.1 200 OK\r\n{common}Upload-Offset: {entry[0]}\r\n{extra}Cache-Control: no-store\r\n\r\n".encode()
        return f"HTTP/1.1 204 No Content\r\n{common}Tus-Version: 1.0.0\r\nTus-Extension: creation\r\n\r\n".encode()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with Server(("127.0.0.1", args.port), Handler) as server:
        print(json.dumps({"url": f"http://127.0.0.1:{server.server_address[1]}/files"}), flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            sys.exit(0)


if __name__ == "__main__":
    main()
