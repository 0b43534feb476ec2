"""``make dev``: the API + web UI, the upload process and the processor, supervised
(scripts/dev.sh sets the env).

The processor runs niced (``PROCESSOR_NICE``, 10 by default; its ffmpeg children inherit
it), so transcodes use idle CPU and the API stays responsive on a 2-core machine. The
upload process (upload_server.py: tus PATCH connections, handed over by the API) runs a
little niced too (``UPLOAD_NICE``, 5), so an interactive request wins the CPU over upload
bodies; ``UPLOAD_PROCESSES=0`` leaves uploads in the API process. A process that dies is
restarted (while the upload process is down the API serves uploads itself); Ctrl-C stops
all.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import handover
from .supervisor import Child, Supervisor


def _python(name: str, module: str, env: dict[str, str], health: str, nice: int = 0) -> Child:
    return Child(name, [sys.executable, "-m", module], env, health=health, nice=nice)


def children(env: dict[str, str]) -> list[Child]:
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8787")
    api = _python("api", "mediagate.local.server", env, f"http://{host}:{port}/api/health")
    processor_env = {"WORKER_URL": f"http://{host}:{port}", "PROCESSOR_PORT": "8788", **env}
    processor_health = f"http://127.0.0.1:{processor_env['PROCESSOR_PORT']}/healthz"
    processor = _python(
        "processor", "processor.service", processor_env, processor_health, int(env.get("PROCESSOR_NICE", "10"))
    )
    uploads_health = f"unix:{handover.socket_path(env)}"
    uploads = _python("uploads", "mediagate.local.upload_server", env, uploads_health, handover.niceness(env))
    has_processor = (Path(env.get("MEDIAGATE_ROOT", ".")) / "container" / "processor" / "service.py").is_file()
    return [
        *([uploads] if handover.enabled(env) else []),
        api,
        *([processor] if has_processor else []),
    ]


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
