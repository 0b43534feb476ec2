"""The Python Worker entry point (``main`` in wrangler.toml).

``Default`` is the Worker: ``fetch`` serves the shared Starlette app through the streaming
ASGI bridge (:mod:`mediagate.adapters.cloudflare.asgi_bridge`: request and response
bodies flow through it, never buffered whole); ``scheduled`` (the cron trigger) expires
stale uploads, finishes interrupted ones, collects unreferenced objects and starts a
processor container when users' webhook events are due (its loop sends them); ``queue`` consumes processing jobs and pushes
each one to the processor container (see
:mod:`mediagate.adapters.cloudflare.container_dispatch`), and fails the jobs that reach the
dead-letter queue (:mod:`mediagate.adapters.cloudflare.dead_letter_consumer`). The app and its Services are
built once per isolate, on the first event, from ``self.env`` (an env they cannot be
built from answers 500 JSON); see :mod:`mediagate.adapters.cloudflare.worker` for the
bindings and vars it reads.

``ProcessorContainer`` is the Durable Object class behind the ``PROCESSOR`` binding and
the ``[[containers]]`` entry: it starts the processor container, forwards jobs to it and
stops it when idle.
"""

from __future__ import annotations

import logging
from typing import Any

from mediagate.adapters.cloudflare import asgi_bridge
from mediagate.adapters.cloudflare.container_dispatch import (
    DispatchSettings,
    ProcessorGateway,
    QueueConsumer,
    wake_for_webhooks,
)
from mediagate.adapters.cloudflare.dead_letter_consumer import consume_dead_letters
from mediagate.adapters.cloudflare.ffi import js_get, unwrap_binding
from mediagate.adapters.cloudflare.worker import EnvVars, build_services
from mediagate.api.app import create_app
from mediagate.services import Services
from mediagate.webhooks.outbox import OutboxRepository
from workers import DurableObject, WorkerEntrypoint

log = logging.getLogger("mediagate.worker")

_isolate: dict[str, Any] = {}


def _services(env: Any) -> Services:
    services = _isolate.get("services")
    if services is None:
        services = _isolate["services"] = build_services(env)
    return services


def _app(env: Any) -> Any:
    app = _isolate.get("app")
    if app is None:
        app = _isolate["app"] = create_app(_services(env))
    return app


class Default(WorkerEntrypoint):
    async def fetch(self, request: Any) -> Any:
        try:
            app = _app(self.env)
        except Exception:
            log.exception("cannot build the app from the Worker's env")
            return asgi_bridge.error_response(500, "service misconfigured; see the Worker logs")
        return await asgi_bridge.fetch(app, request, self.ctx)

    async def scheduled(self, controller: Any, env: Any = None, ctx: Any = None) -> None:
        services = _services(self.env)
        result = await services.maintenance()
        log.info("upload cleanup (%s): %s", getattr(controller, "cron", "?"), result)
        try:  # users' webhook events due while every processor container slept
            instances = DispatchSettings.from_env(EnvVars(self.env)).instances
            woke = await wake_for_webhooks(self.env, OutboxRepository(services.db), instances)
            print(f"webhooks ({getattr(controller, 'cron', '?')}): {woke}")  # console.log, like the queue line
        except Exception:
            log.exception("could not wake a processor for due webhooks")

    async def queue(self, batch: Any, env: Any = None, ctx: Any = None) -> None:
        services = _services(self.env)
        queue_name = js_get(unwrap_binding(batch), "queue")
        if queue_name == services.settings.dead_letter_queue:
            done = await consume_dead_letters(batch, services.file_status, services.settings.queue_max_attempts)
            log.warning("dead letters: %s", ", ".join(done) or "empty")
            return
        outcomes = await QueueConsumer(self.env).consume(batch)
        # both lanes (mediagate-jobs, mediagate-jobs-video) are consumed here, the same way;
        # printed (console.log: Workers Logs / wrangler dev) as the one line per delivery
        print(f"queue batch ({queue_name}): " + (", ".join(f"{o.job_id}={o.action}" for o in outcomes) or "empty"))


class ProcessorContainer(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.gateway = ProcessorGateway(self.ctx, self.env)

    async def fetch(self, request: Any) -> Any:
        return await self.gateway.fetch(request)

    async def alarm(self, *args: Any) -> None:
        log.info("processor alarm: %s", await self.gateway.alarm())
