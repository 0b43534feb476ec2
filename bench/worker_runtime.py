"""The Python Worker's byte path in workerd, against a minimal JavaScript Worker.

    .venv/bin/python bench/worker_runtime.py                  # 200 MiB, 3 interleaved rounds
    .venv/bin/python bench/worker_runtime.py --rounds 5 --size-mib 200

Starts both Workers with ``wrangler dev`` (Miniflare + workerd, offline): the project's
Python Worker (tus uploads, signed-link downloads, Postgres behind the Neon HTTP fixture)
and bench/js_worker (``uploadPart(request.body)``, ``new Response(object.body)``, no
database), each on its local R2 (the same Miniflare R2 simulator, separate persistence
directories under bench/out so two workerd instances never share one SQLite file). Then,
interleaved (the order alternates every round), for each Worker:

* a tus upload of SIZE MiB in 8 MiB PATCHes, then one in 100 MiB PATCHes,
* the download of that file through its signed link (the body read and dropped).

Per run: MB/s (client wall time), workerd CPU seconds per GB (utime+stime+cutime+cstime of
the instance's workerd processes from /proc/<pid>/stat, before/after the run), the peak
RSS of those processes (sampled every 50 ms) and the machine's load. Printed: medians over
the rounds and the Python/JS ratios (speed: higher is better; CPU: lower is better).

How workerd is started: :func:`launch_python_worker` starts the project's own stack
(scripts/workerd/stack.py, what ``make dev-cloudflare`` runs: the pinned workerd with the
offline Python runtime, the Neon endpoint on a private Postgres, rate limits off) and the
JS Worker runs on the same workerd binary through the same wrapper. Needs ``make install``.
Ports: --port (Python Worker), --js-port.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "worker_runtime"
JS_WORKER = REPO / "bench" / "js_worker" / "wrangler.toml"
MIB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")
USER_ID = "00000000-0000-4000-8000-00000000b0b0"
TUS = {"Tus-Resumable": "1.0.0"}


def log(*args: object) -> None:
    print("[worker_runtime]", *args, file=sys.stderr, flush=True)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# -- processes -------------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat(int(entry))[1]), []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            found.append(child)
            todo.append(child)
    return found


def workerd_pids(root: int) -> list[int]:
    """The workerd processes wrangler (pid ``root``) started: Miniflare's and the Worker's."""
    pids = []
    for pid in descendants(root):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "workerd":
                pids.append(pid)
        except OSError:
            pass
    return pids


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = _stat(pid)
        except OSError:
            continue
        ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime (fields 14-17)
    return ticks / CLK_TCK


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class RssPeak:
    """Samples the summed RSS of ``pids`` every 50 ms while active."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pids))
            self._stop.wait(0.05)

    def __enter__(self) -> RssPeak:
        self.peak = rss_mib(self.pids)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib(self.pids))


# -- launching the Workers ---------------------------------------------------------------------


@dataclass
class Worker:
    name: str
    base: str
    root_pid: int  # the wrangler process; its workerd descendants are what is measured
    stop: Callable[[], None]
    headers: dict[str, str] = field(default_factory=dict)  # auth for the Python Worker

    def pids(self) -> list[int]:
        return workerd_pids(self.root_pid)


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def launch_python_worker(port: int) -> tuple[Worker, Path]:
    """The project's Python Worker in workerd, as ``make dev-cloudflare`` runs it
    (scripts/workerd/stack.py) on a private Postgres. Returns the Worker and the workerd
    wrapper (scripts/workerd/runtime.py) the JS Worker then runs on too."""
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO / "scripts" / "workerd"))
    import runtime
    from stack import WorkerdStack
    from support.stack import Postgres, free_port

    pg = Postgres()
    stack = WorkerdStack(
        database_url=pg.create_database("bench_worker_runtime"),
        data_dir=OUT / "py-state",
        port=port,
        jwt_secret=uuid.uuid4().hex + uuid.uuid4().hex,
        webhook_secret=uuid.uuid4().hex,
        neon_port=free_port(),
        processor_port=free_port(),
        worker_vars={"RATE_LIMIT_API": "0", "RATE_LIMIT_UPLOADS": "0"},
        with_processor=False,  # its reads of each upload through the Worker would count as the Worker's CPU
    )
    log(f"starting the Python Worker on {port} (scripts/workerd/stack.py)")
    stack.start()

    def stop() -> None:
        stack.stop()
        pg.remove()

    token = stack.token(USER_ID, ttl=24 * 3600)
    worker = Worker(
        "python", stack.url, stack.children["wrangler"].proc.pid, stop, {"Authorization": f"Bearer {token}"}
    )
    return worker, runtime.prepare()


def launch_js_worker(port: int, wrapper: Path) -> Worker:
    """bench/js_worker under ``wrangler dev`` on the same workerd (the recipe's wrapper)."""
    project = REPO
    node = subprocess.run(
        [str(project / "scripts" / "node22.sh")], check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    state = OUT / "js-state"
    state.mkdir(parents=True, exist_ok=True)
    if not _bindable(port):  # else the health check below could reach someone else's Worker
        raise RuntimeError(f"port {port} is in use; pass another --js-port")
    env = dict(os.environ)
    env.update(
        MINIFLARE_WORKERD_PATH=str(wrapper),
        CLOUDFLARE_CF_FETCH_ENABLED="false",
        WRANGLER_SEND_METRICS="false",
        CI="1",
        NO_COLOR="1",
        WRANGLER_LOG_PATH=str(state / "logs"),
    )
    logfile = open(state / "wrangler.log", "wb")  # noqa: SIM115 - kept open for the child
    proc = subprocess.Popen(
        [node, "node_modules/wrangler/bin/wrangler.js", "dev", "-c", str(JS_WORKER), "--ip", "127.0.0.1",
         "--port", str(port), "--inspector-port", "0", "--persist-to", str(state / "wrangler-state"),
         "--show-interactive-dev-session=false"],
        cwd=project, env=env, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the JS Worker exited: {(state / 'wrangler.log').read_text()[-2000:]}")
        try:
            if _request(base, "GET", "/health")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.5)
    else:
        raise RuntimeError("the JS Worker did not answer /health")

    def stop() -> None:
        try:
            os.killpg(proc.pid, 15)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
        logfile.close()

    log(f"JS Worker on {port}")
    return Worker("js", base, proc.pid, stop)


# -- HTTP -------------------------------------------------------------------------------------------


def _conn(base: str) -> http.client.HTTPConnection:
    u = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=900)


def _request(base: str, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    c = _conn(base)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}
    finally:
        c.close()


def upload(worker: Worker, data: memoryview, chunk: int, name: str) -> tuple[float, str]:
    """A tus upload of ``data`` in ``chunk``-byte PATCHes; returns (seconds of the PATCHes, key or file id)."""
    c = _conn(worker.base)
    meta = f"filename {base64.b64encode(name.encode()).decode()},filetype {base64.b64encode(b'application/octet-stream').decode()}"
    create = "/api/upload" if worker.name == "python" else "/upload"
    c.request(
        "POST", create, headers={**worker.headers, **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta}
    )
    r = c.getresponse()
    r.read()
    if r.status != 201:
        raise RuntimeError(f"{worker.name}: create -> {r.status}")
    location = urllib.parse.urlsplit(urllib.parse.urljoin(worker.base + create, r.getheader("Location"))).path
    offset, key = 0, ""
    started = time.perf_counter()
    while offset < len(data):
        body = data[offset : offset + chunk]
        headers = {**worker.headers, **TUS, "Upload-Offset": str(offset)}
        headers["Content-Type"] = "application/offset+octet-stream"
        c.request("PATCH", location, body=body, headers=headers)
        r = c.getresponse()
        text = r.read()
        if r.status != 204:
            raise RuntimeError(f"{worker.name}: PATCH at {offset} -> {r.status} {text[:300]!r}")
        offset = int(r.getheader("Upload-Offset"))
        key = r.getheader("X-Key") or key
    seconds = time.perf_counter() - started
    c.close()
    if worker.name == "python":
        key = _file_id(worker, name)
    return seconds, key


def _file_id(worker: Worker, name: str) -> str:
    for _ in range(60):
        _, body, _ = _request(worker.base, "GET", "/api/files?limit=100", worker.headers)
        data = json.loads(body)
        items = data.get("items") or data.get("files") or [] if isinstance(data, dict) else data
        for item in items:
            if name in (item.get("name"), item.get("filename")):
                return str(item["id"])
        time.sleep(0.5)
    raise RuntimeError(f"{name} is not listed")


def download_url(worker: Worker, ref: str) -> str:
    """The signed link of a file (Python Worker: the files API; JS Worker: its token link)."""
    if worker.name == "js":
        return f"/objects/{urllib.parse.quote(ref)}?t=bench"
    status, body, _ = _request(worker.base, "GET", f"/api/files/{ref}/download", worker.headers)
    if status != 200:
        raise RuntimeError(f"download link -> {status} {body[:200]!r}")
    u = urllib.parse.urlsplit(json.loads(body)["url"])
    return u.path + ("?" + u.query if u.query else "")


def download(worker: Worker, path: str, *, hasher: object | None = None) -> tuple[float, int, dict]:
    """GET ``path``, reading (and dropping, or hashing) the body; (seconds, bytes, headers)."""
    c = _conn(worker.base)
    buf = bytearray(MIB)
    view = memoryview(buf)
    started = time.perf_counter()
    c.request("GET", path)
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"{worker.name}: GET object -> {r.status} {r.read()[:200]!r}")
    total = 0
    while n := r.readinto(buf):
        total += n
        if hasher is not None:
            hasher.update(view[:n])  # type: ignore[attr-defined]
    seconds = time.perf_counter() - started
    headers = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return seconds, total, headers


def delete(worker: Worker, ref: str) -> None:
    if worker.name == "python":
        _request(worker.base, "DELETE", f"/api/files/{ref}", worker.headers)


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Run:
    worker: str
    op: str
    seconds: float
    nbytes: int
    cpu: float
    rss_peak: float
    rss_before: float
    load: str

    @property
    def mb_s(self) -> float:
        return self.nbytes / 1e6 / self.seconds

    @property
    def cpu_per_gb(self) -> float:
        return self.cpu / (self.nbytes / 1e9)


def measured(worker: Worker, op: str, nbytes: int, action: Callable[[], float]) -> Run:
    pids = worker.pids()
    if not pids:
        raise RuntimeError(f"no workerd process under the {worker.name} Worker's wrangler (pid {worker.root_pid})")
    cpu0 = cpu_seconds(pids)
    before = rss_mib(pids)
    with RssPeak(pids) as rss:
        seconds = action()
    run = Run(worker.name, op, seconds, nbytes, cpu_seconds(pids) - cpu0, rss.peak, before, load())
    log(
        f"{run.worker:6} {op:12} {run.mb_s:7.1f} MB/s  {run.cpu:6.2f} CPU-s ({run.cpu_per_gb:6.1f}/GB)"
        f"  RSS peak {run.rss_peak:5.0f} MiB (+{run.rss_peak - run.rss_before:.0f})  load {run.load}"
    )
    return run


def one_round(worker: Worker, data: memoryview, tag: str) -> list[Run]:
    runs, refs = [], []
    for chunk_mib in (8, 100):
        name = f"bench-{tag}-{chunk_mib}m-{uuid.uuid4().hex[:8]}.bin"
        out: dict[str, str] = {}

        def act(chunk_mib: int = chunk_mib, name: str = name, out: dict[str, str] = out) -> float:
            seconds, out["ref"] = upload(worker, data, chunk_mib * MIB, name)
            return seconds

        runs.append(measured(worker, f"upload {chunk_mib}M", len(data), act))
        refs.append(out["ref"])
    path = download_url(worker, refs[-1])

    def get() -> float:
        seconds, got, _ = download(worker, path)
        if got != len(data):
            raise RuntimeError(f"{worker.name}: downloaded {got} of {len(data)} bytes")
        return seconds

    runs.append(measured(worker, "download", len(data), get))
    for ref in refs:
        delete(worker, ref)
    return runs


def summarize(runs: list[Run], size: int) -> dict:
    table: dict[str, dict[str, dict[str, float]]] = {}
    for op in ("upload 8M", "upload 100M", "download"):
        for who in ("python", "js"):
            sel = [r for r in runs if r.worker == who and r.op == op]
            if not sel:
                continue
            table.setdefault(op, {})[who] = {
                "runs": len(sel),
                "mb_s": statistics.median(r.mb_s for r in sel),
                "cpu_s_per_gb": statistics.median(r.cpu_per_gb for r in sel),
                "rss_peak_mib": statistics.median(r.rss_peak for r in sel),
                "rss_peak_max_mib": max(r.rss_peak for r in sel),
                "rss_growth_mib": statistics.median(r.rss_peak - r.rss_before for r in sel),
            }
        both = table.get(op, {})
        if "python" in both and "js" in both:
            both["ratio"] = {
                "speed_py_over_js": both["python"]["mb_s"] / both["js"]["mb_s"],
                "cpu_per_gb_py_over_js": both["python"]["cpu_s_per_gb"] / both["js"]["cpu_s_per_gb"],
            }
    return table


def print_table(table: dict, size_mib: int, loads: list[str]) -> None:
    print(f"\nworkerd byte path, {size_mib} MiB, medians (load during runs: {loads[0]} .. {loads[-1]})")
    print(f"{'':14}{'MB/s py':>9}{'MB/s js':>9}{'ratio':>7}{'CPU/GB py':>11}{'CPU/GB js':>11}{'ratio':>7}"
          f"{'RSS py':>8}{'RSS js':>8}{'+py':>6}{'+js':>6}")  # fmt: skip
    for op, row in table.items():
        py, js, ratio = row.get("python"), row.get("js"), row.get("ratio")
        if not (py and js and ratio):
            continue
        print(
            f"{op:14}{py['mb_s']:9.1f}{js['mb_s']:9.1f}{ratio['speed_py_over_js']:7.2f}"
            f"{py['cpu_s_per_gb']:11.1f}{js['cpu_s_per_gb']:11.1f}{ratio['cpu_per_gb_py_over_js']:7.2f}"
            f"{py['rss_peak_mib']:8.0f}{js['rss_peak_mib']:8.0f}{py['rss_growth_mib']:6.0f}{js['rss_growth_mib']:6.0f}"
        )
    print(
        "MB/s: client wall time; CPU/GB: workerd CPU seconds per GB moved; RSS: MiB, peak of the workerd"
        " processes during the run (+: above their RSS when it began)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--port", type=int, default=8890, help="Python Worker (Neon fixture: PORT+2)")
    parser.add_argument("--js-port", type=int, default=8894)
    parser.add_argument("--keep", action="store_true", help="leave both Workers running afterwards")
    parser.add_argument("--only", choices=["python", "js"], help="measure one Worker only")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    log(f"load before: {load()} ({os.cpu_count()} CPUs)")
    py, wrapper = launch_python_worker(args.port)
    started = [py]
    try:
        if args.only != "python":
            started.append(launch_js_worker(args.js_port, wrapper))
        workers = [w for w in started if args.only in (None, w.name)]
        data = memoryview(os.urandom(args.size_mib * MIB))
        warm = data[: 16 * MIB]
        for w in workers:  # cold isolates, first imports, first R2 writes: not measured
            _, ref = upload(w, warm, 8 * MIB, f"warm-{uuid.uuid4().hex[:8]}.bin")
            download(w, download_url(w, ref))
            delete(w, ref)
        runs: list[Run] = []
        for n in range(args.rounds):
            order = workers if n % 2 == 0 else workers[::-1]
            for w in order:
                runs += one_round(w, data, f"{w.name}{n}")
        table = summarize(runs, len(data))
        result = {
            "size_mib": args.size_mib,
            "rounds": args.rounds,
            "cpus": os.cpu_count(),
            "runs": [{**r.__dict__, "mb_s": r.mb_s, "cpu_per_gb": r.cpu_per_gb} for r in runs],
            "medians": table,
        }
        (OUT / "result.json").write_text(json.dumps(result, indent=2))
        print_table(table, args.size_mib, [r.load for r in runs])
        print(f"load now: {load()}; every run: {OUT / 'result.json'}")
    finally:
        if not args.keep:
            for w in started[::-1]:
                w.stop()


if __name__ == "__main__":
    main()
