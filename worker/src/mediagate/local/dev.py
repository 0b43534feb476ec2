"""``make dev``: the API + web UI and the processor, supervised (scripts/dev.sh sets the env).

The processor runs niced (``PROCESSOR_NICE``, 10 by default; its ffmpeg children inherit
it), so transcodes use idle CPU and the API stays responsive on a 2-core machine. A
process that dies is restarted; Ctrl-C stops both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .supervisor import Child, Supervisor


def children(env: dict[str, str]) -> list[Child]:
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8787")
    api = Child(
        "api",
        [sys.executable, "-m", "mediagate.local.server"],
        env,
        health=f"http://{host}:{port}/api/health",
    )
    processor_env = {"WORKER_URL": f"http://{host}:{port}", "PROCESSOR_PORT": "8788", **env}
    processor = Child(
        "processor",
        [sys.executable, "-m", "processor.service"],
        processor_env,
        health=f"http://127.0.0.1:{processor_env['PROCESSOR_PORT']}/healthz",
        nice=int(env.get("PROCESSOR_NICE", "10")),
    )
    has_processor = (Path(env.get("MEDIAGATE_ROOT", ".")) / "container" / "processor" / "service.py").is_file()
    return [api, processor] if has_processor else [api]


def main() -> None:
    env = dict(os.environ)
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8787")

    def ready() -> None:
        print(
            f"Mediagate is running: http://{host}:{port}  (data in {env.get('DATA_DIR', 'data')}; Ctrl-C stops everything)\n"
            "Get a token:  make token USER=$(python3 -c 'import uuid; print(uuid.uuid4())')",
            flush=True,
        )

    Supervisor(children(env)).run(ready)


if __name__ == "__main__":
    main()
