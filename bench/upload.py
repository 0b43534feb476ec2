"""Upload throughput: our local server vs. @tus/server (+ @tus/file-store) vs. a plain `cp`.

    .venv/bin/python bench/upload.py                 # 1 GiB, 64 MiB chunks
    .venv/bin/python bench/upload.py --size 256M     # quick run
    .venv/bin/python bench/upload.py --runs 3 --chunk-size 32M

Starts a private Postgres and the real local server (tests/support/stack.py), and
bench/tus_node_server.mjs, all on this machine. One random file is generated once and
uploaded through each server by the same client (tus-js-client via tests/js/tus_upload.mjs,
same chunk size); the wall time of the client process gives MB/s (1 MB = 10^6 bytes).
The stored results are checked by sha256. The servers' memory is sampled from
/proc/<pid>/status while they receive (VmRSS peak) and read at the end (VmHWM).
Needs `npm install` in the repo root.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.files import sha256_file, write_random_file  # noqa: E402
from support.stack import Postgres, Server, shared_tmpdir  # noqa: E402

TUS_JS = REPO / "tests" / "js" / "tus_upload.mjs"
NODE_SERVER = REPO / "bench" / "tus_node_server.mjs"
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 1G, 256M, 1048576)")
    return int(float(m.group(1)) * UNITS[m.group(2)])


def human(n: int) -> str:
    for unit in ("GiB", "MiB", "KiB"):
        scale = UNITS[unit[0]]
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def proc_status_kib(pid: int, field_name: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class RssSampler:
    """Peak VmRSS of one process, sampled every ``interval`` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = proc_status_kib(self.pid, "VmRSS")
            if rss is not None:
                self.peak_kib = max(self.peak_kib, rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Result:
    name: str
    seconds: list[float] = field(default_factory=list)
    rss_peak_kib: int = 0
    hwm_kib: int = 0
    verified: bool | None = None

    def mbps(self, size: int) -> float:
        return size / statistics.median(self.seconds) / 1e6


def tus_js_upload(endpoint: str, path: Path, chunk_size: int, token: str | None) -> tuple[float, str]:
    cmd = ["node", str(TUS_JS), "--endpoint", endpoint, "--file", str(path), "--chunk-size", str(chunk_size)]
    if token:
        cmd += ["--token", token]
    cmd += ["--metadata", f"filename={path.name},filetype=application/octet-stream"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"upload to {endpoint} failed ({proc.returncode}): {proc.stdout} {proc.stderr[-2000:]}")
    return elapsed, json.loads(proc.stdout.strip().splitlines()[-1])["url"]


class NodeTusServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.proc = subprocess.Popen(
            ["node", str(NODE_SERVER), "--dir", str(directory)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            raise RuntimeError("@tus/server did not start (did you run npm install?)")
        self.url = json.loads(line)["url"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=1 << 30, help="file size, e.g. 1G, 256M (default 1 GiB)")
    parser.add_argument("--chunk-size", type=parse_size, default=64 << 20, help="tus chunk size (default 64 MiB)")
    parser.add_argument("--runs", type=int, default=1, help="uploads per server; the median time is reported")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (file, stored objects)")
    args = parser.parse_args()
    size: int = args.size

    work = shared_tmpdir("mediagate-bench-")
    source = work / "source.bin"
    print(f"generating {human(size)} of random bytes in {source} ...", flush=True)
    sha = write_random_file(source, size)

    pg = server = node = None
    results: dict[str, Result] = {}
    try:
        pg = Postgres()
        database_url = pg.create_database()
        env = {"MAX_UPLOAD_SIZE": str(max(size, 5 * 10**9))}
        server = Server(database_url, work / "ours", env=env)
        (work / "ours").mkdir()
        server.start()
        assert server.proc is not None
        user_id = str(uuid.uuid4())
        token = server.token(user_id, ttl=24 * 3600)
        (work / "tusd").mkdir()
        node = NodeTusServer(work / "tusd")

        ours = results["ours"] = Result("mediagate (local server)")
        theirs = results["tus"] = Result("@tus/server + file-store")
        copy = results["cp"] = Result("cp (same filesystem)")

        for run in range(args.runs):
            # ours
            os.sync()
            with RssSampler(server.proc.pid) as sampler:
                seconds, url = tus_js_upload(server.url + "/api/upload", source, args.chunk_size, token)
            ours.seconds.append(seconds)
            ours.rss_peak_kib = max(ours.rss_peak_kib, sampler.peak_kib)
            stored = work / "ours" / "store" / "objects" / "originals" / user_id / url.rstrip("/").rsplit("/", 1)[-1]
            ok = stored.is_file() and sha256_file(stored) == sha
            ours.verified = ok if ours.verified is None else (ours.verified and ok)
            print(f"run {run + 1}: ours {seconds:.2f} s, sha256 {'ok' if ok else 'MISMATCH'}", flush=True)
            stored.unlink(missing_ok=True)

            # @tus/server
            os.sync()
            with RssSampler(node.proc.pid) as sampler:
                seconds, url = tus_js_upload(node.url, source, args.chunk_size, None)
            theirs.seconds.append(seconds)
            theirs.rss_peak_kib = max(theirs.rss_peak_kib, sampler.peak_kib)
            stored = node.directory / url.rstrip("/").rsplit("/", 1)[-1]
            ok = stored.is_file() and sha256_file(stored) == sha
            theirs.verified = ok if theirs.verified is None else (theirs.verified and ok)
            print(f"run {run + 1}: @tus/server {seconds:.2f} s, sha256 {'ok' if ok else 'MISMATCH'}", flush=True)
            stored.unlink(missing_ok=True)

            # cp
            os.sync()
            target = work / "copy.bin"
            start = time.perf_counter()
            subprocess.run(["cp", str(source), str(target)], check=True)
            copy.seconds.append(time.perf_counter() - start)
            target.unlink()

        ours.hwm_kib = proc_status_kib(server.proc.pid, "VmHWM") or 0
        theirs.hwm_kib = proc_status_kib(node.proc.pid, "VmHWM") or 0
    finally:
        for component in (node, server, pg):
            if component is not None:
                component.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    ours, theirs, copy = results["ours"], results["tus"], results["cp"]
    print()
    print(f"file {human(size)}, chunk {human(args.chunk_size)}, client tus-js-client, {args.runs} run(s), median")
    print(f"{'':28} {'time s':>8} {'MB/s':>8} {'vs cp':>7} {'peak RSS MiB':>13} {'VmHWM MiB':>10} {'sha256':>7}")
    for r in (ours, theirs, copy):
        rss = f"{r.rss_peak_kib / 1024:.0f}" if r.rss_peak_kib else "-"
        hwm = f"{r.hwm_kib / 1024:.0f}" if r.hwm_kib else "-"
        ok = "-" if r.verified is None else ("ok" if r.verified else "BAD")
        print(
            f"{r.name:28} {statistics.median(r.seconds):8.2f} {r.mbps(size):8.1f} "
            f"{r.mbps(size) / copy.mbps(size):7.2f} {rss:>13} {hwm:>10} {ok:>7}"
        )
    print(f"ratio ours / @tus/server throughput: {ours.mbps(size) / theirs.mbps(size):.2f}")
    return 0 if ours.verified and theirs.verified else 1


if __name__ == "__main__":
    sys.exit(main())
