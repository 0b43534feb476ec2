"""Files API benchmark: listing latency with 100,000 rows, and batch-ZIP streaming speed.

    .venv/bin/python bench/api.py                 # 100,000 rows, 20 x 50 MiB for the ZIP
    .venv/bin/python bench/api.py --rows 20000 --zip-files 5 --requests 200
    .venv/bin/python bench/api.py --load-only     # only the listing under load (below)
    .venv/bin/python bench/api.py --organize-only # only the sorts and filters (below)

Starts a private Postgres and the real local server (rate limits off), inserts the rows
with one SQL statement, then times sequential keep-alive requests for the first page and
for a page deep in the listing (a cursor near the oldest rows): p50/p99 in ms. The ZIP
part writes N random files into the server's store (with their rows), streams
``POST /api/files/batch-download`` to /dev/null with curl (a C client, so the number is
the server's, not a Python reader's) and compares MB/s with
``zip -0 -q - <same files> > /dev/null`` on the same machine.

Sorts and filters (issue #11): p50/p99 of the first page and of a page deep in the listing
(a cursor 90% of the way) for every sort order (upload date, date taken, name, size; both
directions), then first pages of an album (2,000 members, half of them trashed; and one of
20,000: sorts, a deep cursor, filters inside it), camera make (20% of the
rows), a rare camera model (1%), a lens, a month of date taken, favourites and the trash.
The 100,000 rows carry dates taken (80%), cameras, favourites (5%) and trash (1%).

Under load: the same first-page listing while 20 uploads stream (tus PATCHes of 8 MiB from
20 client threads, over and over) and the processor (niced, as ``make dev`` runs it)
transcodes 3 generated 1080p videos into the full HLS ladder; p50/p99 idle and loaded, side
by side, medians of 3 interleaved rounds, with the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "worker" / "src"))

from mediagate.files.cursor import encode_cursor  # noqa: E402
from support.stack import Postgres, Processor, Server, shared_tmpdir  # noqa: E402

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


def upload_load(n: int, base: str, token: str) -> None:
    """``--upload-load N URL TOKEN``: N client threads uploading until SIGTERM; prints bytes sent."""
    stop, done = threading.Event(), [0]
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    chunk = os.urandom(8 * MIB)
    threads = [threading.Thread(target=_uploader, args=(base, token, stop, chunk, done), daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    while not stop.is_set():
        stop.wait(0.2)
    print(done[0], flush=True)


def _uploader(base: str, token: str, stop: threading.Event, chunk: bytes, done: list[int]) -> None:
    """One client: create 64 MiB uploads and PATCH them in 8 MiB chunks until told to stop."""
    tus = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=120) as client:
        while not stop.is_set():
            try:
                _upload_one(client, base, tus, chunk, stop, done)
            except Exception as exc:  # counted and shown: a load that silently stopped is no load
                print(f"upload client error: {type(exc).__name__}: {exc}"[:300], file=sys.stderr, flush=True)
                stop.wait(0.5)


def _upload_one(
    client: httpx.Client, base: str, tus: dict[str, str], chunk: bytes, stop: threading.Event, done: list[int]
) -> None:
    """One 64 MiB upload in PATCHes of ``chunk`` (stops early when told to)."""
    size = 8 * len(chunk)
    r = client.post(base + "/api/upload", headers={**tus, "Upload-Length": str(size)})
    assert r.status_code == 201, r.text
    url, offset = r.headers["Location"], 0
    while offset < size and not stop.is_set():
        r = client.patch(
            url,
            content=chunk,
            headers={**tus, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
        )
        assert r.status_code == 204, r.text
        offset += len(chunk)
        done[0] += len(chunk)


def _video(path: Path) -> bytes:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=30",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=30", "-c:v", "libx264", "-preset", "ultrafast",
         "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


def listing_under_load(server: Server, db: str, user: str, args: argparse.Namespace) -> None:
    """First-page listing p50/p99 idle vs. with uploads streaming and videos transcoding."""
    headers = {"Authorization": f"Bearer {server.token(user)}"}
    url = server.url + "/api/files"
    video = _video(shared_tmpdir("mediagate-bench-load-") / "load.mp4")
    processor = Processor(server, env={"HLS_RUNGS": "1080,720,480", "VIDEO_PRESET": "veryfast", "LOG_LEVEL": "WARNING"})
    processor.nice = 10  # as make dev runs it
    processor.start()
    idle, loaded, loads, mbps = [], [], [], []
    try:
        with httpx.Client(headers=headers, timeout=30) as client:
            for _round in range(3):
                idle.append(time_requests(client, url, {"limit": args.limit}, args.requests // 2))
                token = server.token(user)
                tus = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}
                for i in range(args.videos):  # transcodes start as soon as each upload completes
                    r = httpx.post(
                        server.url + "/api/upload",
                        headers={
                            **tus,
                            "Upload-Length": str(len(video)),
                            "Upload-Metadata": f"filename {_b64(f'load{i}.mp4')}",
                        },
                    )
                    httpx.patch(
                        r.headers["Location"],
                        content=video,
                        headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
                        timeout=120,
                    )
                # The upload clients run in their own process (niced like any load generator
                # sharing the machine), so they neither hold this process's GIL nor outrank
                # the server they load; they report the bytes they sent.
                load = subprocess.Popen(
                    [sys.executable, __file__, "--upload-load", str(args.uploads), server.url, token],
                    stdout=subprocess.PIPE,
                    text=True,
                    preexec_fn=lambda: os.nice(10),  # errors go to this bench's stderr
                )
                time.sleep(3)  # every client streaming, the ladder running
                t0 = time.perf_counter()
                loaded.append(time_requests(client, url, {"limit": args.limit}, args.requests // 2))
                elapsed = time.perf_counter() - t0
                loads.append(os.getloadavg()[0])
                load.terminate()
                sent = int((load.communicate(timeout=120)[0] or "0").split()[-1])
                mbps.append(sent / (elapsed + 3) / 1e6)
                running = processor.health().get("running", 0)
                print(
                    f"  round {_round + 1}: load avg {loads[-1]:.1f}, uploads {mbps[-1]:.0f} MB/s, jobs running {running}"
                )
    finally:
        processor.stop()
    print(
        f"\nlisting under load ({args.uploads} concurrent uploads + {args.videos} video transcodes, medians of 3 rounds)"
    )
    print(f"{'':<28}{'p50 ms':>10}{'p99 ms':>10}")
    for name, rounds in [("idle", idle), ("under load", loaded)]:
        p50 = statistics.median(statistics.median(r) for r in rounds)
        p99 = statistics.median(percentile(r, 0.99) for r in rounds)
        print(f"{name:<28}{p50:>10.2f}{p99:>10.2f}")
    print(
        f"load average during the loaded runs: {statistics.median(loads):.1f} on {os.cpu_count()} cores (aim: p99 < 50 ms)"
    )
    mode = "on (tus PATCHes served by it)" if server.uploads is not None else "off (UPLOAD_PROCESSES=0)"
    print(f"upload process: {mode}")
    print("uptime at end: " + subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


#: Each sort's cursor key, as FileRepository writes it (see mediagate.files.repository).
_SORT_SQL = {
    "uploaded": ("created_at::text", "created_at", "false"),
    "taken": ("COALESCE(taken_at, created_at)::text", "COALESCE(taken_at, created_at {shift} interval '3000 years')",
              "taken_at IS NULL"),
    "name": ("lower(filename)", "lower(filename)", "false"),
    "size": ("file_size::text", "file_size", "false"),
}  # fmt: skip


def _deep_cursor(db: str, user: str, sort: str, order: str, rows: int) -> str:
    """The cursor of the page 90% of the way through the live listing in this sort order."""
    key, expr, undated = _SORT_SQL[sort]
    expr = expr.format(shift="-" if order == "desc" else "+")
    direction = "DESC" if order == "desc" else "ASC"
    with psycopg.connect(db) as conn:
        value, fid, flag = conn.execute(
            f"""SELECT {key}, id::text, {undated} FROM files WHERE user_id = %s AND trashed_at IS NULL
                ORDER BY {expr} {direction}, id {direction} OFFSET %s LIMIT 1""",
            (user, int(rows * 0.9)),
        ).fetchone()
    return encode_cursor(value, fid, sort, order, bool(flag))


def _album_deep_cursor(db: str, album_id: str, sort: str, order: str) -> str:
    """The cursor of the page 90% of the way through an album's live files in this order."""
    key, expr, undated = _SORT_SQL[sort]
    expr = expr.format(shift="-" if order == "desc" else "+")
    direction = "DESC" if order == "desc" else "ASC"
    with psycopg.connect(db) as conn:
        value, fid, flag = conn.execute(
            f"""SELECT {key}, id::text, {undated} FROM files
                WHERE trashed_at IS NULL AND id IN (SELECT file_id FROM album_files WHERE album_id = %s)
                ORDER BY {expr} {direction}, id {direction}
                OFFSET (SELECT count(*) * 9 / 10 FROM album_files af JOIN files f ON f.id = af.file_id
                        WHERE af.album_id = %s AND f.trashed_at IS NULL) LIMIT 1""",
            (album_id, album_id),
        ).fetchone()
    return encode_cursor(value, fid, sort, order, bool(flag))


def organize_listing(server: Server, db: str, user: str, albums: tuple[str, str], args: argparse.Namespace) -> None:
    """p50/p99 of every sort order (first and deep page) and of the album and metadata filters."""
    n = args.organize_requests
    url = server.url + "/api/files"
    live = args.rows - args.rows // 100
    cases: list[tuple[str, dict[str, str | int]]] = []
    for sort in ("uploaded", "taken", "name", "size"):
        for order in ("desc", "asc"):
            cases.append((f"{sort} {order}", {"sort": sort, "order": order}))
            cursor = _deep_cursor(db, user, sort, order, live)
            cases.append((f"{sort} {order}, deep (90%)", {"sort": sort, "order": order, "cursor": cursor}))
    album_id, big_album = albums
    cases += [
        ("album (2,000 files)", {"album": album_id}),
        ("album, sort taken", {"album": album_id, "sort": "taken"}),
        ("album, sort name asc", {"album": album_id, "sort": "name", "order": "asc"}),
        (
            "album, sort size asc, deep",
            {
                "album": album_id,
                "sort": "size",
                "order": "asc",
                "cursor": _album_deep_cursor(db, album_id, "size", "asc"),
            },
        ),
        ("album, camera_make=Canon", {"album": album_id, "camera_make": "Canon"}),
        ("album (20,000 files)", {"album": big_album}),
        ("album 20k, sort taken asc", {"album": big_album, "sort": "taken", "order": "asc"}),
        (
            "album 20k, sort name, deep",
            {"album": big_album, "sort": "name", "cursor": _album_deep_cursor(db, big_album, "name", "desc")},
        ),
        ("album 20k, type=video", {"album": big_album, "type": "video"}),
        ("album 20k, X100V (5%)", {"album": big_album, "camera_model": "X100V"}),
        ("camera_make=Canon (20%)", {"camera_make": "Canon"}),
        ("camera_make, sort size", {"camera_make": "Canon", "sort": "size"}),
        ("camera_model=X100V (1%)", {"camera_model": "X100V"}),
        ("lens=Lens 3", {"lens": "Lens 3"}),
        ("taken in one month", {"taken_from": "2019-03-01", "taken_to": "2019-03-31", "sort": "taken"}),
        ("taken month, sort uploaded", {"taken_from": "2019-03-01", "taken_to": "2019-03-31"}),
        ("favourites (5%)", {"favourite": "true"}),
        ("trash (1%)", {"trashed": "true"}),
    ]
    headers = {"Authorization": f"Bearer {server.token(user)}"}
    results = []
    with httpx.Client(headers=headers, timeout=30) as client:
        for name, params in cases:
            results.append((name, time_requests(client, url, {"limit": args.limit, **params}, n)))
    print(
        f"\nsorts and filters ({args.rows:,} rows, limit {args.limit}, {n} sequential requests each; aim p99 < 20 ms)"
    )
    print(f"{'listing':<34}{'p50 ms':>10}{'p99 ms':>10}")
    for name, values in results:
        print(f"{name:<34}{statistics.median(values):>10.2f}{percentile(values, 0.99):>10.2f}")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--upload-load":
        upload_load(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--organize-requests", type=int, default=200)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--zip-files", type=int, default=20)
    parser.add_argument("--zip-size-mib", type=int, default=50)
    parser.add_argument("--load-only", action="store_true", help="only the listing under load")
    parser.add_argument("--organize-only", action="store_true", help="only the sorts and filters")
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--videos", type=int, default=3)
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
                     processing_status, preview_key, thumbnail_key, placeholder, metadata, created_at,
                taken_at, camera_make, camera_model, lens, favourite, trashed_at)
                   SELECT %s, 'originals/x/' || g, (ARRAY['video','image','other'])[1 + g %% 3], 'image/jpeg',
                     g * 1000, 'file_' || g || '.jpg', 'completed',
                     'derived/' || gen_random_uuid() || '/preview/viewer.webp', NULL, 'AbCdEfGh',
                     '{"media": {"width": 4000, "height": 3000}}'::jsonb,
                     NOW() - make_interval(secs => g),
                     CASE WHEN g %% 5 = 0 THEN NULL
                          ELSE '2015-01-01'::timestamp + make_interval(secs => (g * 7919) %% 300000000) END,
                     (ARRAY['Canon','Nikon','Sony','Apple','Fujifilm'])[1 + g %% 5],
                     CASE WHEN g %% 100 = 7 THEN 'X100V' ELSE 'Model ' || (g %% 37) END,
                     'Lens ' || (g %% 23), g %% 20 = 0, CASE WHEN g %% 100 = 0 THEN NOW() END
                   FROM generate_series(1, %s) AS g""",
                (user, args.rows),
            )
            album_ids = []
            for members in ("g %% 50 = 0", "g %% 5 = 2"):  # 2,000 and 20,000 files (of 100,000)
                album = conn.execute(
                    "INSERT INTO albums (user_id, name) VALUES (%s, 'bench') RETURNING id::text", (user,)
                )
                album_ids.append(album.fetchone()[0])
                conn.execute(
                    f"""INSERT INTO album_files (album_id, file_id)
                        SELECT %s, id FROM files WHERE user_id = %s AND ({members.replace("g", "file_size / 1000")})""",
                    (album_ids[-1], user),
                )
            albums = (album_ids[0], album_ids[1])
            conn.execute("ANALYZE files")
            conn.execute("ANALYZE album_files")
            created, fid = conn.execute(
                """SELECT created_at::text, id::text FROM files WHERE user_id = %s
                   ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1""",
                (user, int(args.rows * 0.9)),
            ).fetchone()
        deep_cursor = encode_cursor(created, fid)
        headers = {"Authorization": f"Bearer {server.token(user)}"}
        if args.load_only:
            listing_under_load(server, db, user, args)
            return 0
        if args.organize_only:
            organize_listing(server, db, user, albums, args)
            return 0
        with httpx.Client(headers=headers, timeout=30) as client:
            url = server.url + "/api/files"
            first = time_requests(client, url, {"limit": args.limit}, args.requests)
            deep = time_requests(client, url, {"limit": args.limit, "cursor": deep_cursor}, args.requests)
            search = time_requests(client, url, {"limit": args.limit, "q": "file_9999"}, args.requests // 5)
        print(f"\nlisting ({args.rows:,} rows for one user, limit {args.limit}, {args.requests} sequential requests)")
        print(f"{'page':<28}{'p50 ms':>10}{'p99 ms':>10}")
        for name, values in [("first page", first), ("deep cursor (90%)", deep), ("search q=file_9999", search)]:
            print(f"{name:<28}{statistics.median(values):>10.2f}{percentile(values, 0.99):>10.2f}")
        organize_listing(server, db, user, albums, args)

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
        listing_under_load(server, db, user, args)
    finally:
        if server:
            server.stop()
            shutil.rmtree(server.data_dir, ignore_errors=True)  # uploads and outputs: many GiB
        pg.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
