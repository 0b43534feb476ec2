"""``make dev``'s supervisor: a dead process comes back, the processor and the upload process
run niced, and a stop signal stops everything (``mediagate.local.dev`` as a real process
over real Postgres)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

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


def _patch_served_by(port: int, env: dict[str, str]) -> int | None:
    """Upload 5 bytes on a fresh connection; the pid of the upload process that served the
    PATCH, None if the API did."""
    from mediagate.auth import issue_token

    token = issue_token(env["JWT_SECRET"], str(uuid.uuid4()))
    tus = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}
    with httpx.Client(headers=tus, timeout=30) as client:
        r = client.post(f"http://127.0.0.1:{port}/api/upload", headers={"Upload-Length": "5"})
        assert r.status_code == 201, r.text
        r = client.patch(
            r.headers["Location"],
            content=b"hello",
            headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        )
        assert r.status_code == 204, r.text
    served = r.headers.get("x-mediagate-upload-process")
    return int(served) if served else None


def test_without_upload_processes_make_dev_runs_no_upload_process():
    from mediagate.local.dev import children

    names = [c.name for c in children({"UPLOAD_PROCESSES": "0", "MEDIAGATE_ROOT": str(REPO)})]
    assert names == ["api", "processor"]
    assert [c.name for c in children({"MEDIAGATE_ROOT": str(REPO)})] == ["uploads", "api", "processor"]


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
        assert set(kids) == {"mediagate.local.server", "processor.service", "mediagate.local.upload_server"}
        assert _nice(kids["processor.service"]) == 10 and _nice(kids["mediagate.local.server"]) == 0
        assert _nice(kids["mediagate.local.upload_server"]) == 5
        assert _patch_served_by(api_port, env) == kids["mediagate.local.upload_server"]

        os.kill(kids["processor.service"], signal.SIGKILL)  # a crash
        _wait(lambda: _children(sup.pid).get("processor.service") not in (None, kids["processor.service"]))
        _wait(lambda: httpx.get(f"http://127.0.0.1:{processor_port}/healthz", timeout=2).status_code == 200)
        assert httpx.get(f"http://127.0.0.1:{api_port}/api/health").status_code == 200  # the API never stopped
        assert _children(sup.pid)["mediagate.local.server"] == kids["mediagate.local.server"]

        os.kill(kids["mediagate.local.upload_server"], signal.SIGKILL)
        assert _patch_served_by(api_port, env) is None  # meanwhile the API serves uploads itself
        _wait(
            lambda: (
                _children(sup.pid).get("mediagate.local.upload_server")
                not in (None, kids["mediagate.local.upload_server"])
            )
        )
        back = _children(sup.pid)["mediagate.local.upload_server"]
        _wait(lambda: _patch_served_by(api_port, env) == back)
        assert _children(sup.pid)["mediagate.local.server"] == kids["mediagate.local.server"]

        pids = list(_children(sup.pid).values())
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(30) == 0
        for pid in pids:
            _wait(lambda pid=pid: _gone(pid))
    finally:
        if sup.poll() is None:
            sup.kill()
