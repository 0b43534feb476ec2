"""Files API benchmark: listing latency with 100,000 rows, and batch-ZIP streaming speed.

    .venv/bin/python bench/api.py                 # 100,000 rows, 20 x 50 MiB for the ZIP
    .venv/bin/python bench/api.py --rows 20000 --zip-files 5 --requests 200

Starts a private Postgres and the real local server (rate limits off), inserts the rows
with one SQL statement, then times sequential keep-alive requests for the first page and
for a page deep in the listing (a cursor near the oldest rows): p50/p99 in ms. The ZIP
part writes N random files into the server's store (with their rows), streams
``POST /api/files/batch-download`` to /dev/null with curl (a C client, so the number is
the server's, not a Python reader's) and compares MB/s with
``zip -0 -q - <same files> > /dev/null`` on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "worker" / "src"))

from mediagate.files.cursor import encode_cursor  # noqa: E402
from support.stack import Postgres, Server, shared_tmpdir  # noqa: E402

MIB = 1024 * 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_requests(client: httpx.Client, url: str, params: dict, n: int) -> list[float]:
    for _ in range(20):  # warm-up
        client.get(url, params=params)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(url, params=params)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.text
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--zip-files", type=int, default=20)
    parser.add_argument("--zip-size-mib", type=int, default=50)
    args = parser.parse_args()

    pg = Postgres()
    server = None
    try:
        db = pg.create_database("bench_api")
        server = Server(
            db, shared_tmpdir("mediagate-bench-api-"), env={"RATE_LIMIT_API": "0", "RATE_LIMIT_UPLOADS": "0"}
        )
        server.start()
        user = str(uuid.uuid4())
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(
                """INSERT INTO files (user_id, original_key, file_type, mime_type, file_size, filename,
                     processing_status, preview_key, thumbnail_key, placeholder, metadata, created_at)
                   SELECT %s, 'originals/x/' || g, (ARRAY['video','image','other'])[1 + g %% 3], 'image/jpeg',
                     g * 1000, 'file_' || g || '.jpg', 'completed',
                     'derived/' || gen_random_uuid() || '/preview/viewer.webp', NULL, 'AbCdEfGh',
                     '{"media": {"width": 4000, "height": 3000}}'::jsonb,
                     NOW() - make_interval(secs => g)
                   FROM generate_series(1, %s) AS g""",
                (user, args.rows),
            )
            conn.execute("ANALYZE files")
            created, fid = conn.execute(
                """SELECT created_at::text, id::text FROM files WHERE user_id = %s
                   ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1""",
                (user, int(args.rows * 0.9)),
            ).fetchone()
        deep_cursor = encode_cursor(created, fid)
        headers = {"Authorization": f"Bearer {server.token(user)}"}
        with httpx.Client(headers=headers, timeout=30) as client:
            url = server.url + "/api/files"
            first = time_requests(client, url, {"limit": args.limit}, args.requests)
            deep = time_requests(client, url, {"limit": args.limit, "cursor": deep_cursor}, args.requests)
            search = time_requests(client, url, {"limit": args.limit, "q": "file_9999"}, args.requests // 5)
        print(f"\nlisting ({args.rows:,} rows for one user, limit {args.limit}, {args.requests} sequential requests)")
        print(f"{'page':<28}{'p50 ms':>10}{'p99 ms':>10}")
        for name, values in [("first page", first), ("deep cursor (90%)", deep), ("search q=file_9999", search)]:
            print(f"{name:<28}{statistics.median(values):>10.2f}{percentile(values, 0.99):>10.2f}")

        # -- ZIP streaming -----------------------------------------------------------------
        store = server.data_dir / "store" / "objects"
        src_dir = shared_tmpdir("mediagate-bench-zip-")
        ids, paths = [], []
        with psycopg.connect(db, autocommit=True) as conn:
            for i in range(args.zip_files):
                key = f"originals/{user}/zipbench{i:03d}"
                path = store / key
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "wb") as fh:
                    for _ in range(args.zip_size_mib):
                        fh.write(os.urandom(MIB))
                plain = src_dir / f"clip_{i:03d}.mov"
                os.link(path, plain)
                paths.append(plain)
                ids.append(
                    str(
                        conn.execute(
                            """INSERT INTO files (user_id, original_key, file_type, mime_type, file_size, filename)
                               VALUES (%s, %s, 'video', 'video/quicktime', %s, %s) RETURNING id""",
                            (user, key, path.stat().st_size, plain.name),
                        ).fetchone()[0]
                    )
                )
        total = sum(p.stat().st_size for p in paths)
        for p in paths:  # warm the page cache for both contenders
            with open(p, "rb") as fh:
                while fh.read(8 * MIB):
                    pass
        ours, theirs = [], []
        for _ in range(3):
            t = time.perf_counter()
            # curl as the client (C, like zip): the measurement is the server, not a Python reader
            out = subprocess.run(
                [
                    "curl",
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{size_download} %{http_code}",
                    "-X",
                    "POST",
                    "-H",
                    f"Authorization: {headers['Authorization']}",
                    "-H",
                    "Content-Type: application/json",
                    "--data",
                    json.dumps({"ids": ids, "mode": "zip"}),
                    server.url + "/api/files/batch-download",
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            assert out[1] == "200", out
            got = int(out[0])
            assert got > total
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            with open(os.devnull, "wb") as null:
                subprocess.run(["zip", "-0", "-q", "-X", "-", *map(str, paths)], stdout=null, check=True)
            theirs.append(time.perf_counter() - t)
        ours_mbps = total / statistics.median(ours) / 1e6
        zip_mbps = total / statistics.median(theirs) / 1e6
        print(f"\nbatch ZIP ({args.zip_files} x {args.zip_size_mib} MiB, median of 3, over HTTP on loopback)")
        print(f"{'':<28}{'MB/s':>10}")
        print(f"{'mediagate batch-download':<28}{ours_mbps:>10.1f}")
        print(f"{'zip -0 (to /dev/null)':<28}{zip_mbps:>10.1f}")
        print(f"ratio ours / zip -0: {ours_mbps / zip_mbps:.2f}")
        shutil.rmtree(src_dir, ignore_errors=True)
    finally:
        if server:
            server.stop()
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
