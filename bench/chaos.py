"""Crash safety under fire: N kill -9s of the local server at random points, then count the damage.

    .venv/bin/python bench/chaos.py                  # N = 200 kills
    .venv/bin/python bench/chaos.py --kills 40 --seed 7 --max-size 24M

Starts a private Postgres and the real local server (tests/support/stack.py) and drives
it with tests/support/chaos.py: tus clients upload files of random sizes (0 B to
``--max-size``, 5 MiB parts) in random chunk sizes while the server is killed over and
over: SIGKILL at a random moment, half of those 0-60 ms after the final PATCH of an upload
started (the completion window of issue #14), and, for ``--hook-ratio`` of the lives, the
test hook ``MEDIAGATE_CRASH_AT`` making it die exactly between two completion or ingest
steps. After every restart the clients resume (HEAD, PATCH the rest), completed files are
compared byte for byte and deleted through the files API (those deletes get killed too).
At the end the storage sweep runs with no grace period and everything left is counted.

Prints: uploads lost (never completed, or an error), objects corrupted (bytes differ),
duplicate rows (more or fewer than one files row and one job with its message),
leftovers (objects, temporary files, multipart uploads, unfinished upload rows), the
machine's load (``uptime``) before and after. The aim is 0 / 0 / 0 / 0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.chaos import CHAOS_ENV, Chaos  # noqa: E402
from support.stack import Postgres, Server, shared_tmpdir  # noqa: E402

MIB = 1024 * 1024


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-size", type=str, default="16M", help="largest upload, e.g. 16M")
    parser.add_argument("--hook-ratio", type=float, default=0.5, help="share of lives ended by MEDIAGATE_CRASH_AT")
    parser.add_argument("--life", type=float, default=4.0, help="longest life of one server process, seconds")
    args = parser.parse_args()
    text = args.max_size.strip().upper()
    max_size = int(text[:-1]) * MIB if text.endswith("M") else int(text)
    seed = args.seed if args.seed is not None else uuid.uuid4().int % 10**6

    print(f"load before: {uptime()}")
    pg = Postgres()
    srv = None
    try:
        database_url = pg.create_database()
        srv = Server(database_url, shared_tmpdir("mediagate-chaos-"), env=dict(CHAOS_ENV))
        chaos = Chaos(srv, database_url, str(uuid.uuid4()), seed=seed, max_size=max_size)
        started = time.monotonic()

        def progress(o) -> None:
            if o.kills % 20 == 0:
                print(f"  {time.monotonic() - started:5.0f} s: {o.summary()}", flush=True)

        outcome = chaos.run(args.kills, hook_ratio=args.hook_ratio, life_timeout=args.life, progress=progress)
        elapsed = time.monotonic() - started
    finally:
        if srv is not None:
            srv.kill()  # whatever happened, no server outlives the run
        pg.remove()

    print(f"seed {seed}, {elapsed:.0f} s, max upload {max_size / MIB:.0f} MiB, data in {srv.data_dir}")
    print(
        f"kills: {outcome.kills} (SIGKILL {outcome.sigkills}, of which {outcome.sigkills_after_last_byte} "
        f"0-60 ms after a final PATCH started; MEDIAGATE_CRASH_AT {sum(outcome.hook_kills.values())})"
    )
    for point, n in sorted(outcome.hook_kills.items()):
        print(f"  {point:36s} {n}")
    print(f"uploads: {outcome.uploads}, completed and verified: {outcome.completed}")
    print(f"lost: {len(outcome.lost)}")
    for line in outcome.lost[:10]:
        print(f"  {line}")
    print(f"corrupted: {len(outcome.corrupted)}")
    print(f"duplicate or missing rows: {len(outcome.duplicate_rows)}")
    for line in outcome.duplicate_rows[:10]:
        print(f"  {line}")
    print(f"leftovers after the sweep: {outcome.leftover_count}")
    for kind, items in outcome.leftovers.items():
        print(f"  {kind:18s} {len(items)}" + (f"  e.g. {items[:3]}" if items else ""))
    print(f"load after: {uptime()}")
    bad = len(outcome.lost) + len(outcome.corrupted) + len(outcome.duplicate_rows) + outcome.leftover_count
    if not bad:
        shutil.rmtree(srv.data_dir, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
