"""Run the Worker core locally: uvicorn + Postgres + the filesystem store.

Environment: DATABASE_URL, DATA_DIR (objects under DATA_DIR/store), JWT_SECRET,
HOST/PORT (127.0.0.1:8787), FRONTEND_DIR (built web app, optional), CLEANUP_INTERVAL
(seconds between maintenance sweeps: expired uploads, interrupted completions, unreferenced
objects and, locally only, temporary files a killed writer left; the cron trigger's job on
Cloudflare), MAX_HEADER_BYTES / HEADER_TIMEOUT_SECONDS (request-head limits, see http_limits.py),
UPLOAD_YIELD_MS (how long a large body's read may wait for other requests, see
priority.py; 0 turns the yielding off), UPLOAD_STALL_SECONDS (an upload body that sends
nothing for this long is cut off, see socket_body.py; 60), UPLOAD_PROCESSES / UPLOAD_SOCKET
(tus PATCH connections are handed to the upload process, upload_server.py, see
handover.py; 0 turns that off), DB_POOL_SIZE (Postgres connections per process, 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from ..adapters.local.fs_store import LocalObjectStore
from ..adapters.local.pg_queue import PostgresQueue, PostgresQueueStats
from ..adapters.local.postgres import PostgresDatabase
from ..api.app import create_app
from ..config import Settings
from ..contracts import LANES
from ..jobs import LaneQueues, lane_queue, lane_queues
from ..services import Services
from . import handover, socket_body
from .http_limits import HEADER_TIMEOUT_SECONDS, MAX_HEADER_BYTES, BoundedHttpToolsProtocol, bounded_protocol
from .priority import GATE

log = logging.getLogger("mediagate.local")


class FrontendFiles(StaticFiles):
    """The built web app: hashed assets cached for a year, HTML always revalidated."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.media_type == "text/html" or path in ("", ".", "index.html"):
            response.headers["Cache-Control"] = "no-cache"
        elif path.startswith("assets/"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def build_services(env: dict[str, str]) -> Services:
    settings = Settings.from_env(env)
    db = PostgresDatabase(env["DATABASE_URL"], max_size=int(env.get("DB_POOL_SIZE", "10")))
    store = LocalObjectStore(Path(env.get("DATA_DIR", "data")) / "store")
    attempts = int(env.get("QUEUE_MAX_ATTEMPTS", "3"))
    queue = LaneQueues(
        {lane: PostgresQueue(db, lane_queue(settings.queue_name, lane), max_attempts=attempts) for lane in LANES}
    )
    stats = PostgresQueueStats(db, lane_queues(settings.queue_name))
    return Services(
        settings=settings,
        store=store,
        db=db,
        queue=queue,
        queue_stats=stats,
        purge=stats,
        direct_send=store,
        lister=store,
        multipart_lister=store,
        part_from_body=store,
    )


async def _cleanup_loop(services: Services, interval: float) -> None:
    store: LocalObjectStore = services.store  # type: ignore[assignment]
    while True:
        await asyncio.sleep(interval)
        try:
            result = await services.maintenance()
            result["temp_files"] = await asyncio.to_thread(
                store.remove_stale_temp_files, services.settings.sweep_grace_seconds
            )
            if any(result.values()):
                log.info("upload cleanup: %s", {k: v for k, v in result.items() if v})
        except Exception:
            log.exception("upload cleanup failed")


def build_app(env: dict[str, str], *, maintenance: bool = True) -> Starlette:
    """The app; ``maintenance`` runs the periodic sweep (in the API process only)."""
    services = build_services(env)
    extra = []
    frontend = env.get("FRONTEND_DIR")
    if frontend and Path(frontend).is_dir():
        extra.append(Mount("/", app=FrontendFiles(directory=frontend, html=True), name="frontend"))
    app = create_app(services, extra_routes=extra)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Disk work runs in a few threads, not asyncio's default of up to 32: every thread
        # that wakes competes with the event loop for the GIL, and with 20 uploads streaming
        # the loop (and so every API request) waited behind them.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=int(env.get("IO_THREADS", "4")), thread_name_prefix="io")
        )
        await services.db.open()  # type: ignore[attr-defined]
        task = None
        if maintenance:
            task = asyncio.create_task(_cleanup_loop(services, float(env.get("CLEANUP_INTERVAL", "60"))))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            await services.db.close()  # type: ignore[attr-defined]

    app.router.lifespan_context = lifespan
    return app


def http_protocol(env: dict[str, str]) -> type[BoundedHttpToolsProtocol]:
    """Bounded request heads (431/408); bodies are bounded per route by api/edge.py."""
    return bounded_protocol(
        int(env.get("MAX_HEADER_BYTES", MAX_HEADER_BYTES)),
        float(env.get("HEADER_TIMEOUT_SECONDS", HEADER_TIMEOUT_SECONDS)),
    )


def setup(env: dict[str, str]) -> dict[str, Any]:
    """Logging, the priority gate, and the uvicorn options both local processes share."""
    logging.basicConfig(level=env.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    GATE.max_wait_seconds = float(env.get("UPLOAD_YIELD_MS", GATE.max_wait_seconds * 1000)) / 1000
    socket_body.STALL_SECONDS = float(env.get("UPLOAD_STALL_SECONDS", socket_body.STALL_SECONDS))
    return {
        "log_level": env.get("LOG_LEVEL", "info").lower(),
        "access_log": env.get("ACCESS_LOG", "0") == "1",
        "timeout_graceful_shutdown": 5,
    }


def main() -> None:
    env = dict(os.environ)
    options = setup(env)
    app = build_app(env)
    link = handover.UploadLink(handover.socket_path(env)) if handover.enabled(env) else None
    uvicorn.run(
        app,
        host=env.get("HOST", "127.0.0.1"),
        port=int(env.get("PORT", "8787")),
        http=handover.protocol(http_protocol(env), link),
        **options,
    )


if __name__ == "__main__":
    main()
