"""Upload throughput: our local server vs. @tus/server (+ @tus/file-store) vs. a plain `cp`.

    .venv/bin/python bench/upload.py                 # 1 GiB, 8 and 64 MiB chunks, both clients, 3 runs
    .venv/bin/python bench/upload.py --size 256M --runs 1 --clients js --chunk-size 64M   # quick run
    .venv/bin/python bench/upload.py --profile /tmp/prof  # + py-spy profile of our server per setting
    .venv/bin/python bench/upload.py --sink      # + each client against a server that discards (its ceiling)

Starts a private Postgres and the real local server (tests/support/stack.py), and
bench/tus_node_server.mjs, all on this machine. One random file is generated once and
uploaded through each server by the same client (tus-js-client via tests/js/tus_upload.mjs,
or tuspy via bench/tuspy_upload.py; same chunk size), the servers interleaved in each run; the wall time of the client process gives MB/s (1 MB = 10^6 bytes).
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
SINK_SERVER = REPO / "bench" / "tus_sink.py"
TUSPY = REPO / "bench" / "tuspy_upload.py"
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
        self.cpu_start = cpu_seconds(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu = cpu_seconds(self.pid) - self.cpu_start


def uptime() -> str:
    """``uptime``'s line (time, load averages): the machine's state next to the figures."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (and its threads): a load-independent cost."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    name: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # server CPU seconds per upload
    rss_peak_kib: int = 0
    hwm_kib: int = 0
    verified: bool | None = None

    def mbps(self, size: int) -> float:
        return size / statistics.median(self.seconds) / 1e6


def tus_upload(client: str, endpoint: str, path: Path, chunk_size: int, token: str | None) -> tuple[float, str]:
    """Upload ``path`` with tus-js-client (``js``) or tuspy (``py``); (wall seconds, upload URL)."""
    if client == "js":
        cmd = ["node", str(TUS_JS), "--endpoint", endpoint, "--file", str(path), "--chunk-size", str(chunk_size)]
    else:
        cmd = [sys.executable, str(TUSPY), "--endpoint", endpoint, "--file", str(path), "--chunk-size", str(chunk_size)]
    if token:
        cmd += ["--token", token]
    if client == "js":
        cmd += ["--metadata", f"filename={path.name},filetype=application/octet-stream"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"upload to {endpoint} failed ({proc.returncode}): {proc.stdout} {proc.stderr[-2000:]}")
    return elapsed, json.loads(proc.stdout.strip().splitlines()[-1])["url"]


class NodeTusServer:
    def __init__(self, directory: Path, cmd: list[str] | None = None) -> None:
        self.directory = directory
        self.proc = subprocess.Popen(
            cmd or ["node", str(NODE_SERVER), "--dir", str(directory)],
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


def profile_upload(pid: int, out: Path, upload) -> None:
    """Sample the server with py-spy during one (untimed) upload; collapsed stacks to ``out``."""
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "--gil",  # only samples holding the GIL: where Python spends CPU, not waits
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    try:
        upload()
    finally:
        spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        spy.wait(60)


def top_entries(collapsed: Path, n: int = 12) -> list[str]:
    """The functions with most samples on the stack (inclusive) and at its top (self)."""
    total = 0
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        total += c
        frames = [f.split(" (")[0] + " (" + f.split("/")[-1] if " (" in f else f for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + c
        own[frames[-1]] = own.get(frames[-1], 0) + c
    lines = [f"{total} samples"]
    lines.append("self:")
    for f, c in sorted(own.items(), key=lambda kv: -kv[1])[:n]:
        lines.append(f"  {100 * c / total:5.1f}%  {f}")
    lines.append("inclusive:")
    for f, c in sorted(inclusive.items(), key=lambda kv: -kv[1])[:n]:
        lines.append(f"  {100 * c / total:5.1f}%  {f}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=1 << 30, help="file size, e.g. 1G, 256M (default 1 GiB)")
    parser.add_argument("--chunk-size", default="8M,64M", help="tus chunk sizes, comma-separated (default 8M,64M)")
    parser.add_argument("--clients", default="js,py", help="js (tus-js-client), py (tuspy) or both (default js,py)")
    parser.add_argument("--runs", type=int, default=3, help="uploads per server and setting; medians are reported")
    parser.add_argument(
        "--profile",
        type=Path,
        help="also profile our server (py-spy) in one untimed upload per setting; collapsed stacks go here",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (file, stored objects)")
    parser.add_argument(
        "--sink",
        action="store_true",
        help="also upload to bench/tus_sink.py (discards every byte): the client's own ceiling",
    )
    args = parser.parse_args()
    size: int = args.size
    chunks = [parse_size(c) for c in args.chunk_size.split(",")]
    clients = [c.strip() for c in args.clients.split(",")]
    if any(c not in ("js", "py") for c in clients):
        parser.error("--clients takes js, py")

    uptime_start = uptime()
    print(f"machine load at start: {uptime_start}", flush=True)
    work = shared_tmpdir("mediagate-bench-")
    source = work / "source.bin"
    print(f"generating {human(size)} of random bytes in {source} ...", flush=True)
    sha = write_random_file(source, size)

    pg = server = node = sink = None
    settings = [(client, chunk) for chunk in chunks for client in clients]
    results: dict[tuple[str, int], dict[str, Result]] = {}
    load: list[str] = []
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
        if args.sink:
            sink = NodeTusServer(work, [sys.executable, str(SINK_SERVER)])
        copy = Result("cp (same filesystem)")

        def ours_upload(client: str, chunk: int, result: Result | None) -> None:
            assert server is not None and server.proc is not None
            os.sync()
            with RssSampler(server.upload_pid) as sampler:
                seconds, url = tus_upload(client, server.url + "/api/upload", source, chunk, token)
            stored = work / "ours" / "store" / "objects" / "originals" / user_id / url.rstrip("/").rsplit("/", 1)[-1]
            ok = stored.is_file() and sha256_file(stored) == sha
            stored.unlink(missing_ok=True)
            if result is None:
                return
            result.seconds.append(seconds)
            result.cpu.append(sampler.cpu)
            result.rss_peak_kib = max(result.rss_peak_kib, sampler.peak_kib)
            result.verified = ok if result.verified is None else (result.verified and ok)
            print(
                f"  ours {seconds:.2f} s, server CPU {sampler.cpu:.2f} s, sha256 {'ok' if ok else 'MISMATCH'}",
                flush=True,
            )

        for run in range(args.runs):
            for client, chunk in settings:
                print(f"run {run + 1}, {client}, chunk {human(chunk)} ({os.getloadavg()[0]:.2f} load)", flush=True)
                res = results.setdefault(
                    (client, chunk),
                    {"ours": Result("mediagate (local server)"), "tus": Result("@tus/server + file-store")},
                )
                ours_upload(client, chunk, res["ours"])

                os.sync()
                theirs = res["tus"]
                with RssSampler(node.proc.pid) as sampler:
                    seconds, url = tus_upload(client, node.url, source, chunk, None)
                theirs.seconds.append(seconds)
                theirs.cpu.append(sampler.cpu)
                theirs.rss_peak_kib = max(theirs.rss_peak_kib, sampler.peak_kib)
                stored = node.directory / url.rstrip("/").rsplit("/", 1)[-1]
                ok = stored.is_file() and sha256_file(stored) == sha
                theirs.verified = ok if theirs.verified is None else (theirs.verified and ok)
                print(
                    f"  @tus/server {seconds:.2f} s, server CPU {sampler.cpu:.2f} s, sha256 {'ok' if ok else 'MISMATCH'}",
                    flush=True,
                )
                stored.unlink(missing_ok=True)
                for leftover in node.directory.iterdir():  # .json info files
                    leftover.unlink(missing_ok=True)
                if sink is not None:
                    ceiling = res.setdefault("sink", Result("client ceiling (sink)"))
                    seconds, _ = tus_upload(client, sink.url, source, chunk, None)
                    ceiling.seconds.append(seconds)
                    print(f"  sink {seconds:.2f} s", flush=True)

            os.sync()
            target = work / "copy.bin"
            start = time.perf_counter()
            subprocess.run(["cp", str(source), str(target)], check=True)
            copy.seconds.append(time.perf_counter() - start)
            target.unlink()
            load.append(" ".join(Path("/proc/loadavg").read_text().split()[:3]))

        ours_hwm = proc_status_kib(server.upload_pid, "VmHWM") or 0
        theirs_hwm = proc_status_kib(node.proc.pid, "VmHWM") or 0
        profiles = []
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            for client, chunk in settings:
                out = args.profile / f"{client}-{chunk >> 20}M.txt"
                profile_upload(server.upload_pid, out, lambda c=client, k=chunk: ours_upload(c, k, None))
                if out.exists():
                    profiles.append((client, chunk, top_entries(out)))
    finally:
        for component in (sink, node, server, pg):
            if component is not None:
                component.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    ok_all = True
    print()
    print(
        f"file {human(size)}, {args.runs} run(s) interleaved, medians; load average after each run: {'; '.join(load)}"
    )
    print(f"uptime at start: {uptime_start}\nuptime at end:   {uptime()}  ({os.cpu_count()} cores)")
    print(
        "server CPU s: median per upload (utime+stime of the process serving PATCHes: the upload process unless "
        "UPLOAD_PROCESSES=0); min in brackets, the least load-bound"
    )
    for (client, chunk), res in results.items():
        ours, theirs = res["ours"], res["tus"]
        ours.hwm_kib, theirs.hwm_kib = ours_hwm, theirs_hwm
        print(f"\nclient {'tus-js-client' if client == 'js' else 'tuspy'}, chunk {human(chunk)}")
        print(
            f"{'':28} {'time s':>8} {'MB/s':>8} {'vs cp':>7} {'peak RSS MiB':>13} {'VmHWM MiB':>10} {'sha256':>7}"
            f" {'CPU s [min]':>13}  runs s"
        )
        for r in (ours, theirs, *([res["sink"]] if "sink" in res else []), copy):
            rss = f"{r.rss_peak_kib / 1024:.0f}" if r.rss_peak_kib else "-"
            hwm = f"{r.hwm_kib / 1024:.0f}" if r.hwm_kib else "-"
            ok = "-" if r.verified is None else ("ok" if r.verified else "BAD")
            runs = " ".join(f"{x:.2f}" for x in r.seconds)
            cpu = f"{statistics.median(r.cpu):.2f} [{min(r.cpu):.2f}]" if r.cpu else "-"
            print(
                f"{r.name:28} {statistics.median(r.seconds):8.2f} {r.mbps(size):8.1f} "
                f"{r.mbps(size) / copy.mbps(size):7.2f} {rss:>13} {hwm:>10} {ok:>7} {cpu:>13}  {runs}"
            )
        print(f"ratio ours / @tus/server throughput: {ours.mbps(size) / theirs.mbps(size):.2f}")
        ok_all = ok_all and bool(ours.verified) and bool(theirs.verified)
    for client, chunk, lines in profiles:
        print(f"\nprofile of our server, {client}, chunk {human(chunk)} (py-spy, {args.profile})")
        print("\n".join(lines))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
