"""``make dev``'s supervisor: a dead process comes back, the processor runs niced, and a stop
signal stops everything (``mediagate.local.dev`` as a real process over real Postgres)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from support.stack import CONTAINER_SRC, REPO, WEBHOOK_SECRET, WORKER_SRC, free_port, shared_tmpdir


def _children(pid: int) -> dict[str, int]:
    """Processes started by the supervisor, by module name."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if ppid == pid and b"-m" in cmd:
            found[cmd[cmd.index(b"-m") + 1].decode()] = int(entry)
    return found


def _nice(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[16])


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_dev_supervisor_restarts_a_dead_process_runs_the_processor_niced_and_stops_all(fresh_database_url):
    api_port, processor_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database_url,
        "DATA_DIR": str(shared_tmpdir("mediagate-dev-")),
        "JWT_SECRET": "supervisor-test-secret",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PORT": str(api_port),
        "PROCESSOR_PORT": str(processor_port),
        "MEDIAGATE_ROOT": str(REPO),
        "PYTHONPATH": f"{WORKER_SRC}:{CONTAINER_SRC}",
        "LOG_LEVEL": "WARNING",
    }
    sup = subprocess.Popen([sys.executable, "-m", "mediagate.local.dev"], env=env, cwd=REPO, stdout=subprocess.PIPE)
    try:
        assert b"Mediagate is running" in sup.stdout.readline()
        kids = _children(sup.pid)
        assert set(kids) == {"mediagate.local.server", "processor.service"}
        assert _nice(kids["processor.service"]) == 10 and _nice(kids["mediagate.local.server"]) == 0

        os.kill(kids["processor.service"], signal.SIGKILL)  # a crash
        _wait(lambda: _children(sup.pid).get("processor.service") not in (None, kids["processor.service"]))
        _wait(lambda: httpx.get(f"http://127.0.0.1:{processor_port}/healthz", timeout=2).status_code == 200)
        assert httpx.get(f"http://127.0.0.1:{api_port}/api/health").status_code == 200  # the API never stopped
        assert _children(sup.pid)["mediagate.local.server"] == kids["mediagate.local.server"]

        pids = list(_children(sup.pid).values())
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(30) == 0
        for pid in pids:
            _wait(lambda pid=pid: _gone(pid))
    finally:
        if sup.poll() is None:
            sup.kill()
