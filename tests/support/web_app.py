"""What the Chromium end-to-end tests share: the built web app served by a real server with a
processor, the skip mark for machines without Chromium/node/playwright-core, and the runner
of a ``frontend/e2e/*.mjs`` script (its steps must all pass)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .stack import REPO, Postgres, Processor, Server, shared_tmpdir
from .tools import requires

FRONTEND = REPO / "frontend"
DIST = FRONTEND / "dist"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

needs_chromium = requires(
    Path(CHROMIUM).exists() and shutil.which("node") and (FRONTEND / "node_modules" / "playwright-core").is_dir(),
    "/usr/bin/chromium, node and frontend/node_modules (make install)",
)


def _newest_mtime(paths: list[Path]) -> float:
    newest = 0.0
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        newest = max([newest, *(p.stat().st_mtime for p in files)])
    return newest


def build_frontend() -> Path:
    """`npm run build` when dist is missing or older than the sources."""
    sources = [
        FRONTEND / "src",
        FRONTEND / "public",
        FRONTEND / "index.html",
        FRONTEND / "vite.config.ts",
        FRONTEND / "package-lock.json",
    ]
    index = DIST / "index.html"
    if not index.exists() or index.stat().st_mtime < _newest_mtime([p for p in sources if p.exists()]):
        subprocess.run(["npm", "run", "--silent", "build"], cwd=FRONTEND, check=True, timeout=300, capture_output=True)
    return DIST


@contextmanager
def served_web_app(postgres: Postgres, prefix: str) -> Iterator[tuple[Server, str]]:
    """The built web app on the real server, a processor, and a fresh database."""
    dist = build_frontend()
    database_url = postgres.create_database()
    server = Server(database_url, shared_tmpdir(prefix), env={"FRONTEND_DIR": str(dist)}).start()
    processor = Processor(server).start()
    try:
        yield server, database_url
    finally:
        processor.stop()
        server.stop()


def run_script(script: str, config: dict[str, Any], log: Path, timeout: int) -> dict[str, Any]:
    """Run ``frontend/e2e/<script>``; every step must pass. Returns each step's value by name."""
    proc = subprocess.run(
        ["node", f"e2e/{script}", json.dumps(config)], cwd=FRONTEND, capture_output=True, text=True, timeout=timeout
    )
    log.write_text(proc.stderr)
    lines = [line for line in proc.stdout.strip().splitlines() if line.startswith("{")]
    assert lines, f"no result from {script} (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    result = json.loads(lines[-1])
    failed = [s for s in result["steps"] if not s["ok"]]
    assert proc.returncode == 0 and result["ok"] and not failed, json.dumps(failed or result, indent=1)[:6000]
    return {s["name"]: s.get("value") for s in result["steps"]}
