"""Processing on Cloudflare: the Queues consumer pushes each job to the processor container.

::

    Queue "mediagate-jobs" --batch of 1--> Default.queue (QueueConsumer)
        --POST /jobs--> env.PROCESSOR.getByName("processor-<n>")      (Durable Object stub)
        --> ProcessorContainer.fetch (ProcessorGateway, in the Durable Object)
              ctx.container.start({env}) when not running, wait for GET /healthz == 200,
              ctx.container.getTcpPort(8080).fetch(request)
        --> the processor's POST /jobs: 200 + outcome ack/dead · 503 retry (Retry-After) · 429 full

The processor answers the job's :class:`~mediagate.contracts.JobOutcome`. The consumer acks
on ``ack``; on ``dead`` it retries without delay: Queues has no call that dead-letters a
message, and the processor says ``dead`` only on the last delivery, whose retry moves the
message to the dead-letter queue. Otherwise it calls ``message.retry`` with the delay the
processor asked for (``Retry-After`` or ``detail.retry_after``), or ``retry_delay`` when the
container could not be reached. Cloudflare moves a message to the dead-letter
queue after ``max_retries`` (wrangler.toml), i.e. after ``QUEUE_MAX_ATTEMPTS`` deliveries;
the processor gets the delivery count in ``X-Attempts`` and marks the file failed on the
last one. ``max_concurrency = 3`` with batches of one keeps at most three jobs in flight,
the container's ``MAX_CONCURRENCY``.

The Durable Object uses the low-level container API on its state (``ctx.container``:
``running``, ``start``, ``getTcpPort(port).fetch``, ``destroy``), which Python Durable
Objects reach through the FFI like any binding; the JavaScript ``Container`` helper class
cannot be used from a Python Worker. An alarm stops the container after
``PROCESSOR_IDLE_SECONDS`` without jobs (``/healthz`` reports none running).

Pyodide-safe like the rest of this package: pure Python, async only. Under CPython the
tests drive it with JS-shaped fakes; under Pyodide (tests/pyodide) with JavaScript ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ...config import env_int
from ...contracts import DEAD, JobOutcome
from ...job_delivery import delivery_headers
from ...webhooks.outbox import OutboxRepository
from . import ffi
from .ffi import is_nullish, js_get, maybe_await, to_js_obj, unwrap_binding
from .job_grants import with_storage_grant

log = logging.getLogger("mediagate.dispatch")

PROCESSOR_PORT = 8080  # the processor's port inside the container (Dockerfile PROCESSOR_PORT)
CONTAINER_ORIGIN = "http://container"  # any origin: getTcpPort(port).fetch only uses the path
ACTIVITY_KEY = "last_activity"


class ContainerUnavailable(Exception):
    """The container could not be started or did not become healthy in time."""


@dataclass(frozen=True)
class DispatchSettings:
    instances: int = 1  # PROCESSOR_INSTANCES: containers jobs are spread over
    max_attempts: int = 3  # QUEUE_MAX_ATTEMPTS: deliveries before the dead-letter queue
    retry_delay: int = 30  # seconds before a delivery that never reached the processor is retried
    idle_seconds: int = 600  # PROCESSOR_IDLE_SECONDS
    start_timeout: float = 120.0  # PROCESSOR_START_TIMEOUT
    max_concurrency: int = 3  # PROCESSOR_MAX_CONCURRENCY (the container's MAX_CONCURRENCY)
    video_concurrency: int = 2  # PROCESSOR_VIDEO_CONCURRENCY (the video lane's share of it)
    poll_interval: float = 0.5

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DispatchSettings:
        settings = cls(
            instances=env_int(env, "PROCESSOR_INSTANCES", 1),
            max_attempts=env_int(env, "QUEUE_MAX_ATTEMPTS", 3),
            retry_delay=env_int(env, "PROCESSOR_RETRY_DELAY", 30),
            idle_seconds=env_int(env, "PROCESSOR_IDLE_SECONDS", 600),
            start_timeout=float(env_int(env, "PROCESSOR_START_TIMEOUT", 120)),
            max_concurrency=env_int(env, "PROCESSOR_MAX_CONCURRENCY", 3),
            video_concurrency=env_int(env, "PROCESSOR_VIDEO_CONCURRENCY", 2),
        )
        if settings.instances < 1:
            raise ValueError("PROCESSOR_INSTANCES must be at least 1")
        return settings


# The container's environment: the processor's settings (container/processor/settings.py).
REQUIRED_SECRETS = ("DATABASE_URL", "WEBHOOK_SECRET", "WORKER_URL")
R2_SECRETS = ("R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY")  # only with PROCESSOR_STORE_BACKEND=r2
PASSED_THROUGH = (
    "HLS_RUNGS",
    "VIDEO_PRESET",
    "RETRY_BASE_DELAY",
    "LOG_LEVEL",
    "VISIBILITY_TIMEOUT",
    # users' webhooks (processor.webhook_sender)
    "WEBHOOK_RETRY_BASE_SECONDS",
    "WEBHOOK_MAX_ATTEMPTS",
    "WEBHOOK_MAX_AGE_SECONDS",
    "WEBHOOK_RETENTION_DAYS",
)


def container_env(env: Mapping[str, str], settings: DispatchSettings) -> dict[str, str]:
    """What ``ctx.container.start`` passes to the processor, from the Worker's vars/secrets.

    Push delivery (``PULL_ENABLED=0``). Storage (``PROCESSOR_STORE_BACKEND``): ``worker``
    by default, each job's storage grant and no bucket keys in the container (WORKER_URL
    is where the grants point); ``r2`` for R2's S3 API with account keys. Raises
    ValueError naming every missing secret, so a misconfigured deploy fails on the first
    job with a clear message instead of a processor that cannot reach its database or bucket."""
    backend = env.get("PROCESSOR_STORE_BACKEND") or "worker"
    if backend not in ("worker", "r2"):
        raise ValueError(f"PROCESSOR_STORE_BACKEND must be worker or r2, not {backend!r}")
    missing = [name for name in REQUIRED_SECRETS if not env.get(name)]
    endpoint = env.get("R2_ENDPOINT") or ""
    account = env.get("R2_ACCOUNT_ID") or ""
    if backend == "r2":
        missing += [name for name in R2_SECRETS if not env.get(name)]
        if not endpoint and not account:
            missing.append("R2_ACCOUNT_ID (or R2_ENDPOINT)")
    if missing:
        raise ValueError("the processor container needs: " + ", ".join(missing) + " (wrangler secret put NAME)")
    values = {
        "DATABASE_URL": env["DATABASE_URL"],
        "WEBHOOK_SECRET": env["WEBHOOK_SECRET"],
        "WORKER_URL": env["WORKER_URL"],
        "STORE_BACKEND": backend,
        "PULL_ENABLED": "0",
        "QUEUE_MAX_ATTEMPTS": str(settings.max_attempts),
        "MAX_CONCURRENCY": str(settings.max_concurrency),
        "VIDEO_CONCURRENCY": str(settings.video_concurrency),
        "PROCESSOR_HOST": "0.0.0.0",
        "PROCESSOR_PORT": str(PROCESSOR_PORT),
    }
    if backend == "r2":
        values["R2_ENDPOINT"] = endpoint or f"https://{account}.r2.cloudflarestorage.com"
        values["R2_BUCKET"] = env.get("R2_BUCKET") or "mediagate-media"
        values["R2_ACCESS_KEY_ID"] = env["R2_ACCESS_KEY_ID"]
        values["R2_SECRET_ACCESS_KEY"] = env["R2_SECRET_ACCESS_KEY"]
    for name in PASSED_THROUGH:
        if env.get(name):
            values[name] = env[name]
    return values


def instance_name(job_id: str, instances: int) -> str:
    """The Durable Object (one container) a job goes to: stable per job, so a redelivery
    reaches the container that may still be running it."""
    digest = hashlib.sha256(job_id.encode()).digest()
    return f"processor-{int.from_bytes(digest[:4], 'big') % max(1, instances)}"


# -- responses and requests, JS or stand-in -----------------------------------------------------


class PyResponse:
    """A minimal stand-in for a JS ``Response`` (CPython tests only)."""

    def __init__(self, body: str, status: int, headers: dict[str, str]) -> None:
        self._body = body
        self.status = status
        self.headers = _PyHeaders(headers)

    async def text(self) -> str:
        return self._body


class _PyHeaders:
    def __init__(self, values: dict[str, str]) -> None:
        self._values = {k.lower(): v for k, v in values.items()}

    def get(self, name: str) -> str | None:
        return self._values.get(name.lower())


def make_response(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """A JSON response: a JS ``Response`` in the Workers runtime."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    body = json.dumps(payload)
    if ffi.IN_WORKERS:  # pragma: no cover - Pyodide only
        return ffi.js.Response.new(body, to_js_obj({"status": status, "headers": all_headers}))
    return PyResponse(body, status, all_headers)


def _header(response: Any, name: str) -> str | None:
    headers = js_get(response, "headers")
    if headers is None:
        return None
    value = headers.get(name)
    return None if is_nullish(value) else str(value)


async def _read_json(response: Any) -> Any:
    try:
        text = await response.text()
    except Exception:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _to_py(value: Any) -> Any:
    """A JS value as Python (``JsProxy.to_py``); Python values unchanged."""
    if is_nullish(value):
        return None
    to_py = getattr(value, "to_py", None)
    return to_py() if callable(to_py) else value


# -- the consumer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    job_id: str
    action: str  # "ack", "retry" or "dead"
    delay_seconds: int = 0
    status: int | None = None
    reason: str = ""


def _delay_from(status: int, retry_after: str | None, data: Any, default: int) -> int:
    if retry_after:
        try:
            return max(0, int(float(retry_after)))
        except ValueError:
            pass
    if isinstance(data, dict) and isinstance(data.get("detail"), dict):
        value = data["detail"].get("retry_after")
        if isinstance(value, int | float):
            return max(0, int(value))
    return default


def decide(job_id: str, status: int, retry_after: str | None, data: Any, settings: DispatchSettings) -> Outcome:
    """Ack on 200; otherwise retry, with the delay the processor asked for.

    400/422 (a malformed message) are retried too, without delay: they reach the
    dead-letter queue after ``max_retries`` and stay there to be inspected."""
    if status == 200:
        said = JobOutcome.from_json(data.get("outcome")) if isinstance(data, dict) else None
        if said is not None and said.action == DEAD:
            return Outcome(job_id, "dead", 0, status, said.reason[:300])
        return Outcome(job_id, "ack", status=status)
    detail = data.get("detail") if isinstance(data, dict) else data
    reason = json.dumps(detail)[:300] if not isinstance(detail, str) else detail[:300]
    if status in (400, 422):
        return Outcome(job_id, "retry", 0, status, reason)
    return Outcome(job_id, "retry", _delay_from(status, retry_after, data, settings.retry_delay), status, reason)


def message_body(message: Any) -> dict[str, Any]:
    """A queue message's body as a dict: JSON objects as sent, text parsed, anything else wrapped."""
    body = _to_py(js_get(message, "body"))
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError:
            body = {"raw": body if isinstance(body, str) else body.decode(errors="replace")}
    return dict(body) if isinstance(body, dict) else {"raw": body}


class QueueConsumer:
    """The Queues consumer (``Default.queue``): push each message to a processor container."""

    def __init__(self, env: Any, settings: DispatchSettings | None = None) -> None:
        from .worker import EnvVars

        self.env = env
        env_vars = EnvVars(env)
        self.settings = settings or DispatchSettings.from_env(env_vars)
        self.delivery_secret = env_vars.get("WEBHOOK_SECRET") or ""  # signs each delivery (job_delivery)

    def _stub(self, name: str) -> Any:
        """The JS Durable Object stub for one processor instance.

        A stub answers *every* property name as an RPC property (workerd's
        ``Fetcher::getRpcMethod``): never probe it with ``getattr`` (``unwrap_binding``,
        ``js_get``); the only thing done with it is ``stub.fetch(url, init)``, a real
        HTTP request to the object's ``fetch`` handler."""
        namespace = unwrap_binding(self.env.PROCESSOR)  # workers-py's namespace wrapper -> the JS namespace
        return namespace.getByName(name)

    def delivery(self, body: dict[str, Any], attempts: int) -> tuple[str, dict[str, str]]:
        """The body and headers of one delivery: the job with a fresh storage grant (the
        job's scoped storage access), signed for the processor (:mod:`mediagate.job_delivery`)."""
        text = json.dumps(with_storage_grant(self.env, body))
        return text, delivery_headers(self.delivery_secret, int(time.time()), attempts, text.encode())

    async def push(self, body: dict[str, Any], attempts: int) -> tuple[int, str | None, Any]:
        job_id = str(body.get("job_id") or "")
        stub = self._stub(instance_name(job_id, self.settings.instances))
        text, headers = self.delivery(body, attempts)
        init = {"method": "POST", "headers": headers, "body": text}
        response = await stub.fetch(f"{CONTAINER_ORIGIN}/jobs", to_js_obj(init))
        status = int(response.status)
        return status, _header(response, "retry-after"), await _read_json(response)

    async def handle(self, message: Any) -> Outcome:
        body = message_body(message)
        job_id = str(body.get("job_id") or "")
        attempts = int(js_get(message, "attempts", 1) or 1)
        try:
            status, retry_after, data = await self.push(body, attempts)
        except Exception as exc:
            reason = str(getattr(exc, "message", None) or exc)[:300]
            return Outcome(job_id, "retry", self.settings.retry_delay, None, f"dispatch failed: {reason}")
        return decide(job_id, status, retry_after, data, self.settings)

    async def settle(self, message: Any, outcome: Outcome) -> None:
        if outcome.action == "ack":
            await maybe_await(message.ack())
        elif outcome.action == "dead":  # the last delivery: its retry is the dead-lettering
            await maybe_await(message.retry())
        elif outcome.delay_seconds > 0:
            await maybe_await(message.retry(to_js_obj({"delaySeconds": outcome.delay_seconds})))
        else:
            await maybe_await(message.retry())

    async def consume(self, batch: Any) -> list[Outcome]:
        """Handle every message of a batch (one by default) concurrently; never raises for a
        single message, so one bad job cannot make the whole batch redeliver."""
        raw = unwrap_binding(batch)
        messages = list(js_get(raw, "messages", []) or [])

        async def one(message: Any) -> Outcome:
            try:
                outcome = await self.handle(message)
            except Exception as exc:  # a malformed message object: retry it
                outcome = Outcome("", "retry", self.settings.retry_delay, None, f"consumer error: {exc}")
            await self.settle(message, outcome)
            if outcome.action == "ack":
                log.info("job %s done", outcome.job_id)
            elif outcome.action == "dead":
                log.warning("job %s: dead (%s)", outcome.job_id, outcome.reason)
            else:
                log.warning(
                    "job %s: retry in %ss (%s %s)",
                    outcome.job_id,
                    outcome.delay_seconds,
                    outcome.status,
                    outcome.reason,
                )
            return outcome

        return list(await asyncio.gather(*(one(m) for m in messages)))


async def wake_for_webhooks(env: Any, outbox: OutboxRepository, instances: int) -> str:
    """Cron: when users' webhook events are due and no processor may be running to send
    them (containers stop when idle), start one. Returns what it did (for the log)."""
    if not await outbox.has_due():
        return "none due"
    namespace = unwrap_binding(env.PROCESSOR)
    stub = namespace.getByName(instance_name("webhooks", instances))
    response = await stub.fetch(f"{CONTAINER_ORIGIN}/wake", to_js_obj({"method": "POST"}))
    return f"woke a processor: HTTP {int(response.status)}"


# -- the Durable Object ------------------------------------------------------------------------


class ProcessorGateway:
    """The logic of the ``ProcessorContainer`` Durable Object: one per container instance."""

    def __init__(
        self,
        ctx: Any,
        env: Any,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        fetch_url: Callable[[str, Any], Awaitable[Any]] | None = None,
    ) -> None:
        from .worker import EnvVars

        self.fetch_url = fetch_url or ffi.global_fetch
        self.ctx = ctx
        self.env = env
        self.vars = EnvVars(env)
        self.settings = DispatchSettings.from_env(self.vars)
        self.clock = clock
        self.sleep = sleep
        self._starting: asyncio.Future[None] | None = None

    @property
    def local_processor_url(self) -> str:
        """``LOCAL_PROCESSOR_URL``: where jobs go when the runtime has no containers.

        The one local-only branch: Miniflare runs Containers only with Docker, so
        ``make dev-cloudflare`` and the workerd tests run the processor as a process and set
        this. Never set in production, where ``ctx.container`` always exists."""
        return (self.vars.get("LOCAL_PROCESSOR_URL") or "").rstrip("/")

    async def _forward_local(self, request: Any) -> Any:
        try:
            return await self.fetch_url(f"{self.local_processor_url}/jobs", request)
        except Exception as exc:
            reason = f"local processor unreachable: {getattr(exc, 'message', None) or exc}"
            log.error(reason)
            return make_response(503, {"detail": {"reason": reason}}, {"retry-after": str(self.settings.retry_delay)})

    @property
    def container(self) -> Any:
        container = js_get(self.ctx, "container")
        if container is None:
            raise ContainerUnavailable(
                "this Durable Object has no container: check [[containers]] class_name in wrangler.toml"
            )
        return container

    @property
    def storage(self) -> Any:
        return unwrap_binding(js_get(self.ctx, "storage"))

    def _port(self) -> Any:
        return self.container.getTcpPort(PROCESSOR_PORT)

    async def _healthz(self) -> tuple[int, Any]:
        response = await self._port().fetch(f"{CONTAINER_ORIGIN}/healthz")
        return int(response.status), await _read_json(response)

    async def ensure_running(self) -> None:
        """Start the container unless it runs; wait until the processor answers /healthz.

        Concurrent requests share one start (and its failure)."""
        if self._starting is None:
            task = asyncio.ensure_future(self._start())
            self._starting = task

            def done(_: Any) -> None:
                self._starting = None

            task.add_done_callback(done)
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        container = self.container
        if not container.running:
            try:
                options = {"env": container_env(self.vars, self.settings), "enableInternet": True}
            except ValueError as exc:
                raise ContainerUnavailable(str(exc)) from exc
            log.info("starting the processor container")
            await maybe_await(container.start(to_js_obj(options)))
        deadline = self.clock() + self.settings.start_timeout
        last = "no answer"
        while True:
            if not container.running:
                raise ContainerUnavailable("the processor container exited while starting")
            try:
                status, data = await self._healthz()
                if status == 200:
                    return
                last = f"HTTP {status}: {data}"
            except Exception as exc:  # not listening yet
                last = str(getattr(exc, "message", None) or exc)
            if self.clock() >= deadline:
                raise ContainerUnavailable(
                    f"the processor did not become healthy in {self.settings.start_timeout:g}s: {last}"
                )
            await self.sleep(self.settings.poll_interval)

    async def touch(self) -> None:
        """Record activity and make sure an alarm will check for idleness."""
        now_ms = int(self.clock() * 1000)
        storage = self.storage
        await maybe_await(storage.put(ACTIVITY_KEY, now_ms))
        current = await maybe_await(storage.getAlarm())
        if is_nullish(current):
            await maybe_await(storage.setAlarm(now_ms + self.settings.idle_seconds * 1000))

    async def fetch(self, request: Any) -> Any:
        """``POST /jobs``: forward to the processor (starting it first); ``GET /status``;
        ``POST /wake``: start the processor so its loop sends users' due webhook events."""
        request = getattr(request, "js_object", request)  # a workers.Request wrapper, or the JS Request
        path = urlsplit(str(request.url)).path
        method = str(request.method).upper()
        if path == "/status" and method == "GET":
            container = js_get(self.ctx, "container")
            return make_response(200, {"running": bool(container is not None and container.running)})
        if path == "/wake" and method == "POST":
            return await self.wake()
        if path != "/jobs" or method != "POST":
            return make_response(404, {"detail": "not found"})
        if js_get(self.ctx, "container") is None and self.local_processor_url:
            return await self._forward_local(request)
        try:
            await self.ensure_running()
        except ContainerUnavailable as exc:
            log.error("processor container unavailable: %s", exc)
            retry = str(self.settings.retry_delay)
            return make_response(503, {"detail": {"reason": str(exc)}}, {"retry-after": retry})
        await self.touch()
        try:
            response = await self._port().fetch(f"{CONTAINER_ORIGIN}/jobs", request)
        finally:
            await self.touch()
        return response

    async def wake(self) -> Any:
        """Start the container (if it is not running) and count that as activity, so it
        stays up at least ``idle_seconds``: long enough for its outbox loop to send."""
        if js_get(self.ctx, "container") is None and self.local_processor_url:
            return make_response(200, {"running": True})  # a local processor runs all the time
        try:
            await self.ensure_running()
        except ContainerUnavailable as exc:
            log.error("processor container unavailable: %s", exc)
            return make_response(503, {"detail": {"reason": str(exc)}})
        await self.touch()
        return make_response(200, {"running": True})

    async def alarm(self) -> str:
        """Stop the container after ``idle_seconds`` without jobs; otherwise check again later.

        Returns what it did (for logs and tests)."""
        storage = self.storage
        container = js_get(self.ctx, "container")
        if container is None or not container.running:
            return "not running"
        now_ms = int(self.clock() * 1000)
        last = await maybe_await(storage.get(ACTIVITY_KEY))
        last_ms = 0 if is_nullish(last) else int(last)
        idle_ms = self.settings.idle_seconds * 1000
        busy = True
        try:
            status, data = await self._healthz()
            busy = status != 200 or not isinstance(data, dict) or int(data.get("running", 1)) > 0
        except Exception:
            busy = False  # running but not answering: nothing to protect
        if not busy and now_ms - last_ms >= idle_ms:
            log.info("stopping the idle processor container")
            await maybe_await(container.destroy())
            return "stopped"
        await maybe_await(storage.setAlarm(max(now_ms, last_ms) + idle_ms))
        return "busy" if busy else "idle"
