"""The whole system on the Cloudflare runtime, locally and offline (``make dev-cloudflare``).

Run the cron trigger by hand with ``curl 'http://127.0.0.1:8787/cdn-cgi/local/scheduled?cron=*/15+*+*+*+*'``
(Miniflare's endpoint; ``wrangler dev --test-scheduled``'s ``/__scheduled`` would be served by
Workers Assets, which answers every path outside ``run_worker_first``).

::

    browser / tus client --> wrangler dev (Miniflare + workerd, the pinned runtime)
                               Python Worker: API, tus, Assets, cron, Queues producer +
                               consumer + dead-letter queue, ProcessorContainer DO, local R2
                               |-- SQL over HTTP --> Neon endpoint (Postgres behind it)
                               '-- DO forwards jobs --> processor (push only, LOCAL_PROCESSOR_URL)
    processor --> signed storage grants --> the Worker (R2) ; webhooks --> the Worker

Miniflare runs Containers only with Docker, absent here: the ``ProcessorContainer`` Durable
Object has no ``ctx.container`` and, given ``LOCAL_PROCESSOR_URL``, forwards jobs to the
processor process this stack starts (the one documented local-only branch, see
``adapters/cloudflare/container_dispatch.py``).

:class:`WorkerdStack` is used by ``make dev-cloudflare`` (``main``) and by the tests
(``tests/workerd``), so the tests exercise what developers run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import runtime  # noqa: E402 - scripts/workerd/runtime.py

sys.path.insert(0, str(ROOT / "worker" / "src"))
from mediagate.local.supervisor import Child, Supervisor  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
PYTHONPATH = f"{ROOT / 'worker' / 'src'}:{ROOT / 'container'}"


def node22() -> str:
    return subprocess.run(
        [str(ROOT / "scripts" / "node22.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class WorkerdStack:
    """Neon endpoint + processor + ``wrangler dev`` over an existing Postgres database."""

    database_url: str
    data_dir: Path
    port: int
    jwt_secret: str
    webhook_secret: str
    neon_port: int
    processor_port: int
    worker_vars: Mapping[str, str] = field(default_factory=dict)
    processor_env: Mapping[str, str] = field(default_factory=dict)
    with_processor: bool = True  # benchmarks of the Worker alone leave it out
    children: dict[str, Child] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def processor_url(self) -> str:
        return f"http://127.0.0.1:{self.processor_port}"

    def _write_vars(self) -> Path:
        """Secrets and local-only vars for wrangler (--env-file): never in the project tree."""
        values = {
            "JWT_SECRET": self.jwt_secret,
            "DATABASE_URL": self.database_url,
            "NEON_SQL_ENDPOINT": f"http://127.0.0.1:{self.neon_port}/sql",
            "WEBHOOK_SECRET": self.webhook_secret,
            "WORKER_URL": self.url,
            "LOCAL_PROCESSOR_URL": self.processor_url,
            **self.worker_vars,
        }
        path = self.data_dir / "dev.vars"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.writelines(f"{k}={v}\n" for k, v in values.items())
        return path

    def _neon(self) -> Child:
        return Child(
            "neon",
            [PYTHON, str(ROOT / "tests" / "pyodide" / "neon_server.py"), str(self.neon_port)],
            {**os.environ},
            self.data_dir / "neon.log",
            cwd=ROOT,
        )

    def _processor(self) -> Child:
        env = {
            **os.environ,
            "PYTHONPATH": PYTHONPATH,
            "DATABASE_URL": self.database_url,
            "WORKER_URL": self.url,
            "WEBHOOK_SECRET": self.webhook_secret,
            "PROCESSOR_HOST": "127.0.0.1",
            "PROCESSOR_PORT": str(self.processor_port),
            "PULL_ENABLED": "0",  # jobs arrive from the Worker's queue consumer, as in production
            "STORE_BACKEND": "worker",  # outputs through the job's signed storage grant
            "DATA_DIR": str(self.data_dir / "processor"),
            **self.processor_env,
        }
        return Child(
            "processor",
            [PYTHON, "-m", "processor.service"],
            env,
            self.data_dir / "processor.log",
            health=f"{self.processor_url}/healthz",
            nice=int(os.environ.get("PROCESSOR_NICE", "10")),  # transcodes never starve the runtime
            cwd=ROOT,
        )

    def _wrangler(self) -> Child:
        wrapper = runtime.prepare()
        flags = [arg for flag in runtime.DEV_COMPAT_FLAGS for arg in ("--compatibility-flags", flag)]
        env = {
            **os.environ,
            "MINIFLARE_WORKERD_PATH": str(wrapper),
            "CLOUDFLARE_CF_FETCH_ENABLED": "false",  # request.cf without reaching Cloudflare
            "WRANGLER_SEND_METRICS": "false",
            "WRANGLER_LOG_PATH": str(self.data_dir / "wrangler-logs"),
            "CI": "1",
            "NO_COLOR": "1",
            "FORCE_COLOR": "0",
        }
        argv = [
            node22(),
            str(ROOT / "node_modules" / "wrangler" / "bin" / "wrangler.js"),
            "dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--inspector-port",
            "0",
            "--enable-containers=false",
            *flags,
            "--env-file",
            str(self._write_vars()),
            "--persist-to",
            str(self.data_dir / "wrangler-state"),
            "--show-interactive-dev-session=false",
            "--log-level",
            os.environ.get("WRANGLER_LOG_LEVEL", "info"),
        ]
        # A first start under load has taken minutes (the issue measured 4.5); here ~30 s, restarts ~10 s.
        return Child("wrangler", argv, env, self.data_dir / "wrangler.log", f"{self.url}/api/health", 600, cwd=ROOT)

    def build(self) -> list[Child]:
        """The stack's processes, in start order (not started)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        children = [self._neon(), self._wrangler()] + ([self._processor()] if self.with_processor else [])
        self.children = {child.name: child for child in children}
        return list(self.children.values())

    def start(self) -> WorkerdStack:
        for child in self.build():
            child.start()
        return self

    def restart(self, name: str) -> None:
        child = self.children[name]
        child.stop()
        child.start()

    def stop(self) -> None:
        for child in reversed(list(self.children.values())):
            child.stop()

    def token(self, user_id: str, *, role: str = "user", ttl: int = 3600) -> str:
        sys.path.insert(0, str(ROOT / "worker" / "src"))
        from mediagate.auth import issue_token

        return issue_token(self.jwt_secret, user_id, role=role, ttl_seconds=ttl)


def main() -> None:
    """``make dev-cloudflare``: env from scripts/env.sh (DATA_DIR, secrets), Postgres started there."""
    data_dir = Path(os.environ["DATA_DIR"]) / "cloudflare"
    stack = WorkerdStack(
        database_url=os.environ["CF_DATABASE_URL"],
        data_dir=data_dir,
        port=int(os.environ.get("PORT", "8787")),
        jwt_secret=os.environ["JWT_SECRET"],
        webhook_secret=os.environ["WEBHOOK_SECRET"],
        neon_port=int(os.environ.get("NEON_PORT", "8789")),
        processor_port=int(os.environ.get("PROCESSOR_PORT", "8788")),
    )

    def ready() -> None:
        print(f"Mediagate on the Cloudflare runtime: {stack.url}  (Ctrl-C stops everything)", flush=True)
        print("Get a token:  make token USER=$(python3 -c 'import uuid; print(uuid.uuid4())')", flush=True)

    print(f"==> starting (logs in {data_dir}); the first start prepares the Python runtime", file=sys.stderr)
    Supervisor(stack.build()).run(ready)


if __name__ == "__main__":
    main()
