"""Start real components for tests and benchmarks: a private Postgres and the local server.

Used by tests/conftest.py and by bench/*.py, so both measure and test the real thing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
WORKER_SRC = REPO / "worker" / "src"
CONTAINER_SRC = REPO / "container"
PYTHON = sys.executable
WEBHOOK_SECRET = "test-webhook-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def neon_http_endpoint(log_path: Path) -> Iterator[str]:
    """The Neon SQL-over-HTTP fixture (tests/pyodide/neon_server.py) as its own process, on a
    free port; yields its ``/sql`` URL once it accepts connections."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [PYTHON, str(REPO / "tests" / "pyodide" / "neon_server.py"), str(port)], cwd=REPO, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log_path.read_text())
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/sql"
        finally:
            proc.terminate()
            proc.wait(10)


def shared_tmpdir(prefix: str) -> Path:
    """A temp dir other local users (postgres) can traverse."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


class Postgres:
    """A throwaway cluster via scripts/postgres.sh; ``create_database`` gives each user a clean DB."""

    def __init__(self) -> None:
        self.dir = shared_tmpdir("mediagate-pg-") / "pg"
        self.port = free_port()
        out = subprocess.run(
            [str(REPO / "scripts" / "postgres.sh"), "start", str(self.dir), str(self.port)],
            check=True,
            capture_output=True,
            text=True,
        )
        self.admin_url = out.stdout.strip().splitlines()[-1]

    def create_database(self, name: str | None = None) -> str:
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = self.admin_url.rsplit("/", 1)[0] + "/" + name
        subprocess.run(
            [PYTHON, "-m", "mediagate.local.migrate", "--dsn", url], check=True, cwd=WORKER_SRC, capture_output=True
        )
        return url

    def stop(self) -> None:
        subprocess.run([str(REPO / "scripts" / "postgres.sh"), "stop", str(self.dir), str(self.port)], check=False)

    def remove(self) -> None:
        """Stop the cluster and delete its files (hundreds of MiB each; a suite makes several)."""
        self.stop()
        shutil.rmtree(self.dir.parent, ignore_errors=True)


class Process:
    """A real child process with a health URL, that tests can kill -9 and start again."""

    module = ""
    health_path = ""
    nice = 0  # CPU priority offset (make dev runs the processor at 10)

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30):
        self.launch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited: {self.log_path.read_text()[-3000:]}")
            if self.ready():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.module} did not become healthy")

    def launch(self) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        niceness = self.nice
        self.proc = subprocess.Popen(
            [PYTHON, "-m", self.module],
            cwd=REPO,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
            preexec_fn=(lambda: os.nice(niceness)) if niceness else None,
        )

    def ready(self) -> bool:
        try:
            return httpx.get(self.url + self.health_path, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def written_bytes(self) -> int:
        """Bytes of files the process has written so far (``write_bytes``: pages it dirtied,
        whether by write(2) or splice(2); ``wchar`` misses splice)."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/io") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("write_bytes:"))

    def kill(self) -> None:
        """kill -9: no graceful shutdown, like a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Processor(Process):
    """The processor service (container/processor) as a real process."""

    module = "processor.service"
    health_path = "/healthz"

    def __init__(self, server: Server, *, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        super().__init__(
            {
                **os.environ,
                "DATABASE_URL": server.env["DATABASE_URL"],
                "DATA_DIR": str(server.data_dir),
                "WORKER_URL": server.url,
                "WEBHOOK_SECRET": WEBHOOK_SECRET,
                "PROCESSOR_PORT": str(self.port),
                "POLL_INTERVAL": "0.2",
                "RETRY_BASE_DELAY": "0.5",
                "HLS_RUNGS": "720,480,360",
                "VIDEO_PRESET": "ultrafast",
                "LOG_LEVEL": "WARNING",
                "PYTHONPATH": f"{WORKER_SRC}:{CONTAINER_SRC}",
                **(env or {}),
            },
            server.data_dir / f"processor-{self.port}.log",
        )

    def health(self) -> dict:
        return httpx.get(self.url + "/healthz", timeout=5).json()


class UploadProcess(Process):
    """The local upload process (mediagate.local.upload_server): serves the tus PATCH
    connections the server hands over. Ready when its Unix socket accepts connections."""

    module = "mediagate.local.upload_server"

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__(env, log_path)
        sys.path.insert(0, str(WORKER_SRC))
        from mediagate.local.handover import niceness, socket_path

        self.nice = niceness(env)  # as make dev runs it
        self.socket = socket_path(env)

    def ready(self) -> bool:
        from mediagate.local.handover import listening

        return listening(self.socket)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


class Server(Process):
    """The local Worker runtime as a real process (so tests can kill -9 and restart it)."""

    module = "mediagate.local.server"
    health_path = "/api/health"

    def __init__(self, database_url: str, data_dir: Path, *, env: dict[str, str] | None = None) -> None:
        from .store_probe import FsStoreProbe

        self.port = free_port()
        self.data_dir = data_dir
        self.store = FsStoreProbe(data_dir / "store" / "objects")
        super().__init__(
            {
                **os.environ,
                "DATABASE_URL": database_url,
                "DATA_DIR": str(data_dir),
                "JWT_SECRET": "test-secret-for-mediagate-local-tests-only",
                "WEBHOOK_SECRET": WEBHOOK_SECRET,
                "PORT": str(self.port),
                "HOST": "127.0.0.1",
                "LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(WORKER_SRC),
                **(env or {}),
            },
            data_dir / f"server-{self.port}.log",
        )
        self.uploads = (
            UploadProcess(self.env, data_dir / f"uploads-{self.port}.log")
            if self.env.get("UPLOAD_PROCESSES", "1") != "0"
            else None
        )

    # The server and its upload process are one unit to tests: start and kill start and
    # kill both (a test that kills one alone uses ``uploads``), and the unit has exited
    # when either process has (the crash hook fires in whichever ran the completion).

    def start(self, timeout: float = 30):
        self.kill()  # a survivor of the other's crash
        if self.uploads is not None:
            self.uploads.start(timeout)
        return super().start(timeout)

    def kill(self) -> None:
        super().kill()
        if self.uploads is not None:
            self.uploads.kill()

    def kill_api(self) -> None:
        """kill -9 of the API process alone (connections handed over live on)."""
        super().kill()

    def kill_uploads(self) -> None:
        """kill -9 of the upload process alone (of everything without one)."""
        if self.uploads is None:
            self.kill()
        else:
            self.uploads.kill()

    def stop(self) -> None:
        super().stop()
        if self.uploads is not None:
            self.uploads.stop()

    @property
    def upload_pid(self) -> int:
        """The process that serves tus PATCHes (the upload process, else the server)."""
        proc = self.uploads.proc if self.uploads is not None else self.proc
        assert proc is not None
        return proc.pid

    def exited(self) -> int | None:
        """The exit code of the first of the two processes to exit, None while both run."""
        for proc in (self.proc, self.uploads.proc if self.uploads else None):
            if proc is not None and proc.poll() is not None:
                return proc.returncode
        return None

    def wait_exit(self, timeout: float) -> int:
        """Wait until :meth:`exited` says something; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while (code := self.exited()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the server is still running")
            time.sleep(0.05)
        return code

    def token(self, user_id: str, *, role: str = "user", ttl: int = 3600) -> str:
        sys.path.insert(0, str(WORKER_SRC))
        from mediagate.auth import issue_token

        return issue_token(self.env["JWT_SECRET"], user_id, role=role, ttl_seconds=ttl)
