"""Check in workerd that a large file round-trips byte-identical through the Python
Worker's byte path (BYOB request reads, R2 streams handed to the Response).

    .venv/bin/python tests/workerd/byte_path_check.py [--size-mib 200] [--chunk-mib 100] [--reuse]

Starts the Python Worker with ``wrangler dev`` the way bench/worker_runtime.py does (same
launcher, same environment variables: MG_PROJECT, MG_STATE, MG_PG_DIR, MG_PG_PORT, ...),
uploads SIZE MiB of random bytes with tus in CHUNK MiB PATCHes, downloads the file through
its signed link and compares SHA-256, checks a Range request (206, Content-Range,
Content-Length, bytes) and that the download kept Content-Length and ETag. Exits non-zero
on any difference. Not collected by pytest (a standalone check: it needs workerd).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import worker_runtime as wr  # noqa: E402

MIB = 1024 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--chunk-mib", type=int, default=100)
    parser.add_argument("--port", type=int, default=8890)
    parser.add_argument("--reuse", action="store_true", help="keep a Worker already answering on --port")
    parser.add_argument("--keep", action="store_true", help="leave the Worker running")
    args = parser.parse_args()
    worker, _ = wr.launch_python_worker(args.port, reuse=args.reuse)
    failures: list[str] = []
    try:
        data = memoryview(os.urandom(args.size_mib * MIB))
        sent = hashlib.sha256(data).hexdigest()
        seconds, file_id = wr.upload(worker, data, args.chunk_mib * MIB, f"bytepath-{uuid.uuid4().hex[:8]}.bin")
        print(f"uploaded {args.size_mib} MiB in {args.chunk_mib} MiB PATCHes: {len(data) / 1e6 / seconds:.1f} MB/s")
        path = wr.download_url(worker, file_id)
        got = hashlib.sha256()
        seconds, nbytes, headers = wr.download(worker, path, hasher=got)
        print(f"downloaded {nbytes} bytes: {nbytes / 1e6 / seconds:.1f} MB/s")
        if nbytes != len(data) or got.hexdigest() != sent:
            failures.append(f"download differs: {nbytes} bytes, sha256 {got.hexdigest()} != {sent}")
        if headers.get("content-length") != str(len(data)):
            failures.append(f"Content-Length {headers.get('content-length')!r}, expected {len(data)}")
        if not headers.get("etag"):
            failures.append("no ETag on the download")
        start, end = 1000, len(data) // 2 + 12345
        status, body, rheaders = wr._request(worker.base, "GET", path, {"Range": f"bytes={start}-{end - 1}"})
        if status != 206 or body != data[start:end]:
            failures.append(f"Range: status {status}, {len(body)} bytes, equal={body == data[start:end]}")
        if rheaders.get("content-range") != f"bytes {start}-{end - 1}/{len(data)}":
            failures.append(f"Content-Range {rheaders.get('content-range')!r}")
        if rheaders.get("content-length") != str(end - start):
            failures.append(f"ranged Content-Length {rheaders.get('content-length')!r}")
        wr.delete(worker, file_id)
    finally:
        if not args.keep:
            worker.stop()
    for failure in failures:
        print("FAIL:", failure)
    print("OK: byte-identical round trip" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
