"""The queue consumer and the ProcessorContainer Durable Object logic under CPython, with
JS-shaped fakes (the same code runs in workerd with the real stub and queue in
tests/workerd, and on Pyodide against the Container stand-in and the real processor in
tests/test_pyodide_worker.py). Covers the decisions those runs cannot provoke cheaply: 429
at capacity, malformed messages, start timeouts, idle alarms."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest
from mediagate.adapters.cloudflare.container_dispatch import (
    DispatchSettings,
    ProcessorGateway,
    PyResponse,
    QueueConsumer,
    container_env,
    decide,
    instance_name,
)

SECRETS = {
    "DATABASE_URL": "postgresql://u:p@ep-x.eu-central-1.aws.neon.tech/neondb?sslmode=require",
    "WEBHOOK_SECRET": "w" * 32,
    "WORKER_URL": "https://m.example.workers.dev",
}
R2_SECRETS = {"R2_ACCOUNT_ID": "abc123", "R2_ACCESS_KEY_ID": "key", "R2_SECRET_ACCESS_KEY": "secret"}
SETTINGS = DispatchSettings(retry_delay=30)


def run(coro):
    return asyncio.run(coro)


def test_decide():
    assert decide("j", 200, None, {"ok": True}, SETTINGS).action == "ack"
    assert decide("j", 429, "5", {"detail": "at capacity"}, SETTINGS).delay_seconds == 5
    busy = decide("j", 503, None, {"detail": {"retry_after": 8.0, "reason": "x"}}, SETTINGS)
    assert (busy.action, busy.delay_seconds) == ("retry", 8)
    assert decide("j", 503, None, "<html>", SETTINGS).delay_seconds == 30
    assert decide("j", 502, None, None, SETTINGS).delay_seconds == 30
    bad = decide("j", 422, None, {"detail": "job message lacks job_id"}, SETTINGS)
    assert (bad.action, bad.delay_seconds, bad.reason) == ("retry", 0, "job message lacks job_id")
    # the processor's explicit outcome (mediagate.contracts.JobOutcome) in its answer
    said = {"ok": True, "outcome": {"action": "dead", "delay_seconds": 0, "reason": "gave up"}}
    dead = decide("j", 200, None, said, SETTINGS)
    assert (dead.action, dead.reason) == ("dead", "gave up")
    acked = {"ok": True, "outcome": {"action": "ack", "delay_seconds": 0, "reason": ""}}
    assert decide("j", 200, None, acked, SETTINGS).action == "ack"


def test_a_dead_outcome_is_retried_at_once_so_queues_dead_letters_it():
    """Queues has no dead-letter call: on the last delivery a plain retry moves the message."""
    message = FakeMessage({"job_id": "j"}, attempts=3)
    consumer = QueueConsumer.__new__(QueueConsumer)
    run(consumer.settle(message, decide("j", 200, None, {"outcome": {"action": "dead"}}, SETTINGS)))
    assert message.settled == ("retry", None)


def test_instance_name_is_stable_and_spread():
    assert instance_name("job-1", 1) == "processor-0"
    assert instance_name("job-1", 3) == instance_name("job-1", 3)
    names = {instance_name(f"job-{i}", 3) for i in range(100)}
    assert names == {"processor-0", "processor-1", "processor-2"}


def test_container_env():
    env = container_env(SECRETS, SETTINGS)
    assert env["WORKER_URL"] == "https://m.example.workers.dev"
    assert "QUEUE_BACKEND" not in env and "QUEUE_NAME" not in env  # pushed jobs: the processor pulls nothing
    assert env["PULL_ENABLED"] == "0" and env["PROCESSOR_PORT"] == "8080"
    # Storage through the job's grant by default: no bucket keys reach the container.
    assert env["STORE_BACKEND"] == "worker"
    assert not [k for k in env if k.startswith("R2_")]
    assert not [k for k in container_env({**SECRETS, **R2_SECRETS}, SETTINGS) if k.startswith("R2_")]
    assert "JWT_SECRET" not in env  # the processor never needs it
    with pytest.raises(ValueError, match=r"WEBHOOK_SECRET, WORKER_URL"):
        container_env({k: v for k, v in SECRETS.items() if k not in ("WEBHOOK_SECRET", "WORKER_URL")}, SETTINGS)

    # The S3 API stays an option, and then needs its keys.
    s3 = container_env({**SECRETS, **R2_SECRETS, "PROCESSOR_STORE_BACKEND": "r2"}, SETTINGS)
    assert s3["STORE_BACKEND"] == "r2" and s3["R2_ENDPOINT"] == "https://abc123.r2.cloudflarestorage.com"
    assert s3["R2_ACCESS_KEY_ID"] == "key" and s3["R2_SECRET_ACCESS_KEY"] == "secret"
    with pytest.raises(ValueError, match=r"R2_SECRET_ACCESS_KEY, R2_ACCOUNT_ID \(or R2_ENDPOINT\)"):
        container_env({**SECRETS, "R2_ACCESS_KEY_ID": "key", "PROCESSOR_STORE_BACKEND": "r2"}, SETTINGS)
    minio = {**SECRETS, **R2_SECRETS, "R2_ENDPOINT": "http://minio:9000", "PROCESSOR_STORE_BACKEND": "r2"}
    assert container_env(minio, SETTINGS)["R2_ENDPOINT"] == "http://minio:9000"
    with pytest.raises(ValueError, match="PROCESSOR_STORE_BACKEND"):
        container_env({**SECRETS, "PROCESSOR_STORE_BACKEND": "s3"}, SETTINGS)


# -- the consumer ------------------------------------------------------------------------------------


class FakeMessage:
    def __init__(self, body: Any, attempts: int = 1) -> None:
        self.body = body
        self.attempts = attempts
        self.settled: tuple[str, Any] | None = None

    def ack(self) -> None:
        self.settled = ("ack", None)

    def retry(self, options: Any = None) -> None:
        self.settled = ("retry", None if options is None else options["delaySeconds"])


class RpcProperty:
    """What a real Durable Object stub answers for any property it does not define: an RPC
    property, whose ``fetch`` goes out over RPC and fails (workerd ``Fetcher::getRpcMethod``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def fetch(self, *args: Any) -> Any:
        raise TypeError("'fetch' is a reserved method and cannot be called over RPC.")


class FakeStub:
    """A Durable Object stub shaped like workerd's: ``fetch`` plus an RPC property for every other name."""

    def __init__(self, fetch) -> None:
        self._fetch = fetch

    async def fetch(self, url: str, init: dict) -> PyResponse:
        return await self._fetch(url, init)

    def __getattr__(self, name: str) -> RpcProperty:
        return RpcProperty(name)


class FakeNamespace:
    """A DurableObjectNamespace: ``getByName`` gives a workerd-shaped stub."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, dict]] = []

    def getByName(self, name: str) -> FakeStub:
        async def fetch(url: str, init: dict) -> PyResponse:
            self.calls.append((name, url, init))
            return self.answer(json.loads(init["body"]), init)

        return FakeStub(fetch)


def test_consumer_acks_and_retries_per_message():
    def answer(body: dict, init: dict) -> PyResponse:
        match body["job_id"]:
            case "done":
                return PyResponse('{"ok": true}', 200, {})
            case "full":
                return PyResponse('{"detail": "at capacity"}', 429, {"Retry-After": "5"})
            case "flaky":
                return PyResponse('{"detail": {"retry_after": 10.0, "reason": "boom"}}', 503, {})
            case "bad":
                return PyResponse('{"detail": "job message lacks file_id"}', 422, {})
        raise RuntimeError("Durable Object reset")

    namespace = FakeNamespace(answer)
    env = SimpleNamespace(PROCESSOR=namespace, PROCESSOR_INSTANCES="2", QUEUE_MAX_ATTEMPTS="3")
    messages = [
        FakeMessage({"job_id": "done"}, attempts=2),
        FakeMessage(json.dumps({"job_id": "full"})),  # a text body is parsed too
        FakeMessage({"job_id": "flaky"}),
        FakeMessage({"job_id": "bad"}),
        FakeMessage({"job_id": "lost"}),
    ]
    outcomes = run(QueueConsumer(env).consume(SimpleNamespace(messages=messages)))
    assert [m.settled for m in messages] == [("ack", None), ("retry", 5), ("retry", 10), ("retry", None), ("retry", 30)]
    assert [o.action for o in outcomes] == ["ack", "retry", "retry", "retry", "retry"]
    assert "Durable Object reset" in outcomes[-1].reason
    object_id, url, init = namespace.calls[0]
    assert object_id == instance_name("done", 2) and url == "http://container/jobs"
    assert init["method"] == "POST" and init["headers"]["x-attempts"] == "2"


def test_consumer_attaches_a_fresh_job_scoped_grant():
    from mediagate.config import Settings
    from mediagate.files.grants import verify
    from mediagate.files.links import LinkSigner
    from mediagate.ports import SystemClock

    def answer(body: dict, init: dict) -> PyResponse:
        return PyResponse('{"ok": true}', 200, {})

    job = {
        "job_id": "j1",
        "file_id": "f1",
        "object_key": "originals/u/up1",
        "output_prefix": "derived/f1/",
        "storage": {"read_url": "stale"},
    }
    namespace = FakeNamespace(answer)
    env = SimpleNamespace(PROCESSOR=namespace, JWT_SECRET="j" * 40, WORKER_URL="https://m.example.workers.dev/")
    message = FakeMessage(job)
    run(QueueConsumer(env).consume(SimpleNamespace(messages=[message])))
    assert message.settled == ("ack", None)
    sent = json.loads(namespace.calls[0][2]["body"])
    grant = sent["storage"]
    assert grant["read_url"].startswith("https://m.example.workers.dev/api/processor-storage/")
    assert grant["write_url"].endswith("/outputs/") and grant["output_prefix"] == "derived/f1/"
    token = grant["read_url"].split("/")[-2]
    settings = Settings.from_env({"JWT_SECRET": "j" * 40})
    claims = verify(LinkSigner(settings.signing_secret, SystemClock()), token)
    assert (claims.file_id, claims.object_key, claims.output_prefix) == ("f1", "originals/u/up1", "derived/f1/")
    assert claims.expires > SystemClock().now() + 3600
    assert {k: v for k, v in sent.items() if k != "storage"} == {k: v for k, v in job.items() if k != "storage"}

    # Without WORKER_URL nothing can be minted: the body goes on unchanged.
    bare = FakeNamespace(answer)
    run(
        QueueConsumer(SimpleNamespace(PROCESSOR=bare, JWT_SECRET="j" * 40)).consume(
            SimpleNamespace(messages=[FakeMessage({"job_id": "j2"})])
        )
    )
    assert json.loads(bare.calls[0][2]["body"]) == {"job_id": "j2"}


# -- the Durable Object ---------------------------------------------------------------------------------


class FakeStorage:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.alarm: int | None = None

    async def get(self, key: str) -> Any:
        return self.data.get(key)

    async def put(self, key: str, value: Any) -> None:
        self.data[key] = value

    async def getAlarm(self) -> int | None:
        return self.alarm

    async def setAlarm(self, when: int) -> None:
        self.alarm = when


class FakeContainer:
    """ctx.container: becomes healthy after ``boot_polls`` failed /healthz calls."""

    def __init__(self, boot_polls: int = 2, running_jobs: int = 0) -> None:
        self.running = False
        self.starts: list[dict] = []
        self.boot_polls = boot_polls
        self.running_jobs = running_jobs
        self.forwarded: list[Any] = []
        self.destroyed = False

    def start(self, options: dict) -> None:
        self.running = True
        self.starts.append(options)

    async def destroy(self) -> None:
        self.running = False
        self.destroyed = True

    def getTcpPort(self, port: int) -> Any:
        assert port == 8080

        async def fetch(url: str, init: Any = None) -> PyResponse:
            if not self.running:
                raise RuntimeError("the container is not running")
            if url.endswith("/healthz"):
                if self.boot_polls > 0:
                    self.boot_polls -= 1
                    raise RuntimeError("the container is not listening")
                return PyResponse(json.dumps({"status": "ok", "running": self.running_jobs}), 200, {})
            self.forwarded.append(init)
            return PyResponse('{"ok": true}', 200, {})

        return SimpleNamespace(fetch=fetch)


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)


def _gateway(container: FakeContainer | None, **env: str) -> tuple[ProcessorGateway, FakeStorage, Clock]:
    storage = FakeStorage()
    clock = Clock()
    ctx = SimpleNamespace(storage=storage, container=container)
    gateway = ProcessorGateway(ctx, SimpleNamespace(**SECRETS, **env), clock=clock, sleep=clock.sleep)
    return gateway, storage, clock


def _request(path: str, method: str = "POST") -> SimpleNamespace:
    return SimpleNamespace(url=f"http://container{path}", method=method, body="{}")


def test_gateway_starts_once_and_forwards():
    async def go() -> None:
        container = FakeContainer(boot_polls=3)
        gateway, storage, clock = _gateway(container, PROCESSOR_IDLE_SECONDS="60")
        requests = [_request("/jobs") for _ in range(3)]
        responses = await asyncio.gather(*(gateway.fetch(r) for r in requests))
        assert [r.status for r in responses] == [200, 200, 200]
        assert len(container.starts) == 1  # three concurrent jobs, one start
        start = container.starts[0]
        assert start["enableInternet"] is True and start["env"]["DATABASE_URL"] == SECRETS["DATABASE_URL"]
        assert container.forwarded == requests
        assert storage.alarm == int(clock.t * 1000) + 60_000
        status = await gateway.fetch(_request("/status", "GET"))
        assert status.status == 200 and json.loads(await status.text()) == {"running": True}
        assert (await gateway.fetch(_request("/other", "GET"))).status == 404

    run(go())


def test_gateway_reports_unavailable_containers():
    async def go() -> None:
        slow = FakeContainer(boot_polls=10_000)
        gateway, _, _ = _gateway(slow, PROCESSOR_START_TIMEOUT="5", PROCESSOR_RETRY_DELAY="9")
        response = await gateway.fetch(_request("/jobs"))
        assert response.status == 503 and response.headers.get("retry-after") == "9"
        assert "did not become healthy in 5s" in await response.text()

        gateway, _, _ = _gateway(None)
        response = await gateway.fetch(_request("/jobs"))
        assert response.status == 503 and "[[containers]] class_name" in await response.text()

        missing = FakeContainer()
        storage = FakeStorage()
        gateway = ProcessorGateway(
            SimpleNamespace(storage=storage, container=missing), SimpleNamespace(DATABASE_URL="postgresql://u@h/db")
        )
        response = await gateway.fetch(_request("/jobs"))
        assert response.status == 503 and "WEBHOOK_SECRET" in await response.text() and missing.starts == []

    run(go())


def test_gateway_alarm_stops_an_idle_container_only():
    async def go() -> None:
        container = FakeContainer(boot_polls=0)
        gateway, storage, clock = _gateway(container, PROCESSOR_IDLE_SECONDS="600")
        await gateway.fetch(_request("/jobs"))
        clock.t += 60
        assert await gateway.alarm() == "idle" and not container.destroyed  # idle, but not for long
        container.running_jobs = 1
        clock.t += 3600
        assert await gateway.alarm() == "busy" and not container.destroyed
        assert storage.alarm == int(clock.t * 1000) + 600_000
        container.running_jobs = 0
        assert await gateway.alarm() == "stopped" and container.destroyed
        assert await gateway.alarm() == "not running"

    run(go())


def test_gateway_wake_starts_the_container_for_webhooks():
    async def go() -> None:
        container = FakeContainer(boot_polls=1)
        gateway, storage, clock = _gateway(container, PROCESSOR_IDLE_SECONDS="120")
        r = await gateway.fetch(_request("/wake"))
        assert r.status == 200 and len(container.starts) == 1 and container.forwarded == []
        assert storage.alarm == int(clock.t * 1000) + 120_000  # it stays up for its outbox loop
        assert (await gateway.fetch(_request("/wake"))).status == 200 and len(container.starts) == 1

    run(go())


def test_cron_wakes_a_processor_only_when_webhook_events_are_due(fresh_database_url):
    import psycopg
    from mediagate.adapters.cloudflare.container_dispatch import wake_for_webhooks
    from mediagate.adapters.local.postgres import PostgresDatabase
    from mediagate.webhooks.outbox import OutboxRepository

    woken: list[tuple[str, str]] = []

    class Namespace:
        def getByName(self, name: str) -> FakeStub:
            async def fetch(url: str, init: dict) -> PyResponse:
                woken.append((name, url))
                return PyResponse('{"running": true}', 200, {})

            return FakeStub(fetch)

    env = SimpleNamespace(PROCESSOR=Namespace())

    async def go() -> list[str]:
        db = PostgresDatabase(fresh_database_url, max_size=1)
        await db.open()
        try:
            outbox = OutboxRepository(db)
            results = [await wake_for_webhooks(env, outbox, 2)]
            with psycopg.connect(fresh_database_url, autocommit=True) as conn:
                hook = conn.execute(
                    "INSERT INTO user_webhooks (user_id, url, secret) VALUES (gen_random_uuid(), 'https://h.example/', 's')"
                    " RETURNING id"
                ).fetchone()[0]
                conn.execute(
                    """INSERT INTO webhook_outbox (event_id, webhook_id, event_type, payload, next_at)
                       VALUES ('msg_later', %s, 'processing-complete', '{}', NOW() + interval '1 hour')""",
                    (hook,),
                )
                results.append(await wake_for_webhooks(env, outbox, 2))
                conn.execute("UPDATE webhook_outbox SET next_at = NOW()")
                results.append(await wake_for_webhooks(env, outbox, 2))
            return results
        finally:
            await db.close()

    assert run(go()) == ["none due", "none due", "woke a processor: HTTP 200"]
    assert woken == [(instance_name("webhooks", 2), "http://container/wake")]
