"""The processor service (FastAPI): health, push delivery, and the pull loop.

``GET /healthz`` reports readiness and the concurrency counters of the one Runner;
``POST /jobs`` runs one job message pushed by a queue consumer (the Worker forwarding from
Cloudflare Queues, through the container Durable Object) in that Runner and answers its
outcome (200 ``ack`` or ``dead``, 503 ``retry`` with ``Retry-After``); locally the pull loop leases jobs from the
Postgres queue instead (off with ``PULL_ENABLED=0``). ``python -m processor.service`` runs
it with uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from mediagate.adapters.local.fs_store import LocalObjectStore
from mediagate.adapters.local.pg_queue import PostgresQueue
from mediagate.adapters.local.postgres import PostgresDatabase
from mediagate.api.edge import EdgeGuard
from mediagate.contracts import REQUIRED_MESSAGE_KEYS, RETRY
from mediagate.job_delivery import verify_delivery
from mediagate.jobs import lane_queue
from mediagate.webhooks import SignatureError
from mediagate.webhooks.outbox import OutboxRepository

from .jobsource import JobSource, Lease, PostgresJobSource, QueueWakeups
from .media.metadata import close_pool
from .notify import Notifier
from .pipeline import Pipeline
from .runner import Runner, delivery_lane
from .settings import ProcessorSettings
from .status import StatusStore
from .storage import GrantStores, JobStores, LocalProcessorStore, S3ProcessorStore, SharedStore
from .webhook_sender import WebhookSender

log = logging.getLogger("processor")


def build_stores(settings: ProcessorSettings) -> JobStores:
    """``STORE_BACKEND``: ``worker`` (each job's grant), ``r2`` (S3 API keys), ``local``."""
    if settings.store_backend == "worker":
        return GrantStores()
    if settings.store_backend == "r2":
        return SharedStore(
            S3ProcessorStore(
                settings.r2_endpoint, settings.r2_bucket, settings.r2_access_key_id, settings.r2_secret_access_key
            )
        )
    if settings.store_backend != "local":
        raise ValueError(f"STORE_BACKEND must be worker, r2 or local, not {settings.store_backend!r}")
    return SharedStore(LocalProcessorStore(LocalObjectStore(Path(settings.data_dir) / "store")))


def build_source(settings: ProcessorSettings, db: PostgresDatabase, lane: str = "fast") -> JobSource:
    """The local Postgres queue of one lane (``mediagate.jobs.lane_queue``)."""
    name = lane_queue(settings.queue_name, lane)
    return PostgresJobSource(PostgresQueue(db, name, max_attempts=settings.max_attempts))


def create_app(settings: ProcessorSettings | None = None) -> FastAPI:
    settings = settings or ProcessorSettings.from_env()
    db = PostgresDatabase(settings.database_url, max_size=settings.max_concurrency * 2 + 2)
    status = StatusStore(db)
    notifier = Notifier(settings.worker_url, settings.webhook_secret)
    outbox = OutboxRepository(db)
    sender = WebhookSender(
        outbox,
        policy=settings.webhook_policy,
        poll_interval=settings.webhook_poll_interval,
        allow_private=settings.webhook_allow_private,
    )
    stores = build_stores(settings)
    pipeline = Pipeline(settings, stores, status)
    runner = Runner(
        settings,
        build_source(settings, db),
        pipeline,
        status,
        notifier,
        video_source=build_source(settings, db, "video"),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await db.open()
        loop_task = asyncio.create_task(runner.run_forever()) if settings.pull_enabled else None
        wake_task = (
            asyncio.create_task(QueueWakeups(settings.database_url, runner.wake).run_forever())
            if settings.pull_enabled
            else None
        )
        # users' webhooks: their own loop on both runtimes, never in a job's slot
        sender_task = asyncio.create_task(sender.run_forever())
        try:
            yield
        finally:
            await runner.stop()
            await sender.stop()
            for task in (loop_task, wake_task):
                if task:
                    task.cancel()
            sender_task.cancel()
            await notifier.close()
            await sender.close()
            await stores.close()
            await db.close()
            await asyncio.to_thread(close_pool)  # the exiftool processes

    app = FastAPI(title="Mediagate processor", lifespan=lifespan)
    # The API's edge guard bounds job bodies too (Content-Length up front, then while
    # streaming, slow senders timed out): a job message is at most 128 KB.
    app.add_middleware(EdgeGuard)
    app.state.runner = runner

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        await db.fetch("SELECT 1 AS ok")
        return {
            "status": "ok",
            "running": runner.running,
            "running_by_lane": dict(runner.lane_running),
            "video_concurrency": settings.video_concurrency,
            "peak_running": runner.peak,
            "max_concurrency": settings.max_concurrency,
            "processed": runner.processed,
            "webhooks_sent": sender.sent,
            "webhooks_pending": await outbox.due_count(),
        }

    @app.post("/jobs", status_code=200)
    async def push_job(request: Request) -> JSONResponse:
        body = await request.body()  # bounded by the edge guard (edge.JSON_BODY_LIMIT) before it is read
        try:
            attempts = verify_delivery(settings.webhook_secret, body, request.headers, now=time.time())
        except SignatureError as exc:
            raise HTTPException(status_code=401, detail=f"job delivery not authenticated: {exc}") from exc
        try:
            message = json.loads(body)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail="body must be a JSON job message") from exc
        missing = [k for k in REQUIRED_MESSAGE_KEYS if not isinstance(message, dict) or k not in message]
        if missing:
            raise HTTPException(status_code=422, detail=f"job message lacks {', '.join(missing)}")
        lane = delivery_lane(message)
        if runner.free_slots(lane) <= 0:
            raise HTTPException(status_code=429, detail="at capacity; retry later", headers={"Retry-After": "5"})
        lease = Lease(lease_id=f"push:{message['job_id']}", body=message, attempts=attempts)
        outcome = await runner.run_pushed(lease, lane)
        answer: dict[str, Any] = {"ok": True, "job_id": message["job_id"], "outcome": outcome.as_json()}
        if outcome.action != RETRY:  # ack, or dead: the pusher dead-letters the message
            return JSONResponse(answer)
        # A retry is also a 503 with Retry-After, which any queue consumer understands.
        delay = outcome.delay_seconds
        answer.update(ok=False, detail={"retry_after": delay, "reason": outcome.reason})
        return JSONResponse(answer, status_code=503, headers={"Retry-After": str(max(0, math.ceil(delay)))})

    return app


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(
        create_app(),
        host=os.environ.get("PROCESSOR_HOST", "127.0.0.1"),
        port=int(os.environ.get("PROCESSOR_PORT", "8788")),
        log_level=os.environ.get("LOG_LEVEL", "info").lower(),
    )


if __name__ == "__main__":
    main()
