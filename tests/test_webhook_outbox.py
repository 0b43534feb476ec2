"""Users' webhooks: Standard Webhooks signatures, the outbox, backoff, crash safety, SSRF at delivery.

A real receiver (http.server on 127.0.0.1, ``WEBHOOK_ALLOW_PRIVATE=1`` so it may be
reached) verifies every request with the ``standardwebhooks`` library, as users' code
would. The processor and the API are real processes on a real Postgres; the crash test
kills the processor right after the status change committed (``MEDIAGATE_CRASH_AT``, an
``os._exit``) and checks the restarted one still delivers. The address-policy tests use
the processor's resolver port with a real stub resolver (offline-safe, no /etc/hosts edits).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg
import pytest
import standardwebhooks
from support.stack import Processor, Server, free_port
from tus_helpers import auth, create, patch

QUICK = {"WEBHOOK_POLL_INTERVAL": "0.1", "WEBHOOK_ALLOW_PRIVATE": "1"}


class Receiver:
    """A webhook endpoint: answers from a script (status, delay) and records what came."""

    def __init__(self, script: list[tuple[int, float]] | None = None, default: tuple[int, float] = (204, 0.0)) -> None:
        self.script = list(script or [])
        self.default = default
        self.hits: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, delay = outer.script.pop(0) if outer.script else outer.default
                outer.hits.append(
                    {"at": time.monotonic(), "path": self.path, "headers": dict(self.headers), "body": body}
                )
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture()
def stack(make_server, fresh_database_url):
    """The API on a database of its own (its receivers listen on 127.0.0.1: private allowed)."""
    return make_server({"WEBHOOK_ALLOW_PRIVATE": "1"}, database=fresh_database_url), fresh_database_url


@pytest.fixture()
def processors(stack):
    """Start processors (quick webhook polling, private receivers allowed); stopped at the end."""
    started: list[Processor] = []
    yield lambda env: started.append(Processor(stack[0], env={**QUICK, **env}).start()) or started[-1]
    for p in started:
        p.stop()


@pytest.fixture()
def receivers():
    made: list[Receiver] = []

    def make(*args: Any, **kwargs: Any) -> Receiver:
        r = Receiver(*args, **kwargs)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def register(server: Server, user: str, url: str) -> dict[str, Any]:
    r = httpx.post(server.url + "/api/webhooks", json={"url": url}, headers=auth(server.token(user)))
    assert r.status_code == 201, r.text
    return r.json()


def upload(server: Server, user: str, name: str, data: bytes) -> str:
    token = server.token(user)
    location = create(server.url, token, len(data), filename=name).headers["Location"]
    assert patch(location, token, 0, data).status_code == 204
    return location.rsplit("/", 1)[1]


def file_state(db: str, upload_id: str) -> dict[str, Any]:
    with psycopg.connect(db, row_factory=psycopg.rows.dict_row) as conn:
        return (
            conn.execute(
                """SELECT f.id::text AS file_id, f.processing_status, j.status AS job_status
                   FROM files f JOIN processing_jobs j ON j.file_id = f.id WHERE f.upload_id = %s""",
                (upload_id,),
            ).fetchone()
            or {}
        )


def outbox_rows(db: str, file_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(db, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "SELECT * FROM webhook_outbox WHERE payload->'data'->>'file_id' = %s ORDER BY id", (file_id,)
        ).fetchall()


def wait_for(check, timeout: float = 60, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {check.__name__}")


def verified(secret: str, hit: dict[str, Any]) -> dict[str, Any]:
    """The event as a Standard Webhooks receiver sees it (raises when the signature is wrong)."""
    return standardwebhooks.Webhook(secret).verify(hit["body"], hit["headers"])


def test_receiver_500s_then_recovers_and_gets_one_verified_event_with_backoff(stack, processors, receivers, user_id):
    server, db = stack
    rx = receivers(script=[(500, 0.0), (503, 0.0)])  # then 204
    hook = register(server, user_id, rx.url())
    assert hook["secret"].startswith("whsec_")
    processors({"WEBHOOK_RETRY_BASE_SECONDS": "0.5"})
    upload_id = upload(server, user_id, "notes.bin", b"plain bytes\n" * 50)
    wait_for(lambda: file_state(db, upload_id).get("processing_status") == "completed")
    file_id = file_state(db, upload_id)["file_id"]
    rows = wait_for(lambda: [r for r in outbox_rows(db, file_id) if r["delivered_at"]], timeout=30)
    assert len(rx.hits) == 3
    events = [verified(hook["secret"], hit) for hit in rx.hits]
    assert {hit["headers"]["webhook-id"] for hit in rx.hits} == {rows[0]["event_id"]}, "one id for every retry"
    assert events[0]["type"] == "processing-complete"
    assert events[0]["data"]["file_id"] == file_id and events[0]["data"]["status"] == "completed"
    gaps = [b["at"] - a["at"] for a, b in zip(rx.hits, rx.hits[1:], strict=False)]
    assert gaps[0] >= 0.45 and gaps[1] >= 0.95, f"backoff 0.5 s then 1 s expected, got {gaps}"
    assert rows[0]["attempts"] == 3 and rows[0]["last_status"] == 204 and rows[0]["failed_at"] is None

    # the owner sees the state; nobody else does
    r = httpx.get(f"{server.url}/api/webhooks/{hook['id']}/deliveries", headers=auth(server.token(user_id)))
    assert r.status_code == 200
    (listed,) = r.json()["deliveries"]
    assert listed["event_id"] == rows[0]["event_id"] and listed["state"] == "delivered"
    assert listed["attempts"] == 3 and listed["last_status"] == 204 and listed["delivered_at"]
    stranger = httpx.get(
        f"{server.url}/api/webhooks/{hook['id']}/deliveries", headers=auth(server.token(str(uuid.uuid4())))
    )
    assert stranger.status_code == 404 and "error" in stranger.json()
    for bad in ("0", "201", "x", "-1"):
        r = httpx.get(
            f"{server.url}/api/webhooks/{hook['id']}/deliveries?limit={bad}", headers=auth(server.token(user_id))
        )
        assert r.status_code == 400 and "error" in r.json(), bad


def test_failed_processing_queues_a_processing_failed_event(stack, processors, receivers, user_id):
    server, db = stack
    rx = receivers()
    hook = register(server, user_id, rx.url("/failed"))
    processors({})
    upload_id = upload(server, user_id, "notes.jpg", b"this is a text file, not a JPEG\n" * 20)
    wait_for(lambda: rx.hits, timeout=60)
    event = verified(hook["secret"], rx.hits[0])
    assert event["type"] == "processing-failed"
    assert event["data"]["status"] == "failed" and event["data"]["error"]
    assert event["data"]["attempts"] >= 1
    assert file_state(db, upload_id)["processing_status"] == "failed"


def test_a_failing_receiver_does_not_hold_a_processing_slot(stack, processors, receivers, user_id):
    """One slot only: the second job completes while the first one's webhook is still retrying,
    and while the processor's own events to the Worker go to an endpoint just as broken."""
    server, db = stack
    rx = receivers(default=(500, 2.0))  # slow and failing, every time
    worker = receivers(default=(500, 2.0))  # so is "the Worker" (4 quick retries per event)
    register(server, user_id, rx.url("/down"))
    proc = processors(
        {
            "MAX_CONCURRENCY": "1",
            "VIDEO_CONCURRENCY": "1",
            "WEBHOOK_RETRY_BASE_SECONDS": "1",
            "WEBHOOK_MAX_ATTEMPTS": "3",
            "WORKER_URL": worker.url(""),
        }
    )
    first = upload(server, user_id, "first.bin", b"first\n" * 100)
    first_id = wait_for(lambda: file_state(db, first).get("job_status") == "completed" and file_state(db, first))[
        "file_id"
    ]
    wait_for(lambda: rx.hits and worker.hits, timeout=10)  # both are being attempted now
    second = upload(server, user_id, "second.bin", b"second\n" * 100)
    started = time.monotonic()
    wait_for(lambda: file_state(db, second).get("job_status") == "completed", timeout=10)
    assert time.monotonic() - started < 6, "the second job waited for the first one's webhooks"
    (row,) = outbox_rows(db, first_id)
    assert row["delivered_at"] is None and row["failed_at"] is None, "the first event is still being retried"
    health = proc.health()
    assert health["running"] == 0 and health["webhooks_pending"] >= 1
    # and it is given up after WEBHOOK_MAX_ATTEMPTS
    final = wait_for(lambda: [r for r in outbox_rows(db, first_id) if r["failed_at"]], timeout=30)
    assert final[0]["attempts"] == 3 and final[0]["last_status"] == 500


def test_an_event_survives_a_crash_right_after_the_status_change(stack, processors, receivers, user_id):
    server, db = stack
    rx = receivers()
    hook = register(server, user_id, rx.url("/crash"))
    # dies (os._exit, as kill -9) after the file's status and its event committed, before the
    # job is acked; its delivery loop polls rarely so it cannot have sent the event first
    doomed = processors({"MEDIAGATE_CRASH_AT": "processor:after-complete", "WEBHOOK_POLL_INTERVAL": "60"})
    upload_id = upload(server, user_id, "crash.bin", b"crash\n" * 100)
    assert doomed.proc is not None
    doomed.proc.wait(timeout=60)
    assert doomed.proc.returncode == 70
    state = file_state(db, upload_id)
    assert state["processing_status"] == "completed"
    (row,) = outbox_rows(db, state["file_id"])
    assert row["attempts"] == 0 and row["delivered_at"] is None and rx.hits == []
    processors({})  # a new processor delivers what the dead one queued
    wait_for(lambda: rx.hits, timeout=30)
    event = verified(hook["secret"], rx.hits[0])
    assert event["data"]["file_id"] == state["file_id"]
    assert rx.hits[0]["headers"]["webhook-id"] == row["event_id"]


# -- the address policy at delivery, through the resolver port ---------------------------


class StubResolver:
    """A resolver with fixed answers per name; each lookup may answer differently (rebinding)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        queue = self.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]


NON_PUBLIC = {
    "loopback": ["127.0.0.1"],
    "loopback6": ["::1"],
    "private10": ["10.1.2.3"],
    "private172": ["172.20.0.1"],
    "private192": ["192.168.0.10"],
    "linklocal": ["169.254.10.10"],
    "metadata": ["169.254.169.254"],
    "metadata6": ["fd00:ec2::254"],
    "linklocal6": ["fe80::1"],
    "cgnat": ["100.64.1.1"],
    "unspecified": ["0.0.0.0"],
    "unspecified6": ["::"],
    "multicast": ["224.0.0.251"],
    "multicast6": ["ff02::1"],
    "mapped": ["::ffff:127.0.0.1"],
    "mixed": ["93.184.216.34", "10.0.0.1"],  # one bad answer is enough
}


@pytest.mark.parametrize("label", sorted(NON_PUBLIC))
def test_a_name_resolving_to_a_non_public_address_is_refused(label):
    from processor.outbound import UrlRejected, vetted_target

    resolver = StubResolver({f"{label}.example.com": [NON_PUBLIC[label]]})
    with pytest.raises(UrlRejected, match="not allowed"):
        asyncio.run(vetted_target(f"https://{label}.example.com/hook", resolver=resolver))
    assert resolver.lookups == [f"{label}.example.com"]


def test_the_checked_address_is_the_one_connected_to():
    """A rebinding resolver (public first, loopback next) cannot swap the address: one lookup, pinned."""
    from processor.outbound import vetted_target

    resolver = StubResolver({"rebind.example.com": [["93.184.216.34"], ["127.0.0.1"]]})
    target = asyncio.run(vetted_target("https://rebind.example.com:8443/in?x=1", resolver=resolver))
    assert target.url == "https://93.184.216.34:8443/in?x=1"
    assert target.headers == {"Host": "rebind.example.com:8443"}
    assert target.extensions == {"sni_hostname": "rebind.example.com"}
    assert resolver.lookups == ["rebind.example.com"]


def _sender_round(db: str, url: str, resolver: StubResolver, *, allow_private: bool) -> dict[str, Any]:
    """Queue one event for ``url`` and run one round of the real delivery loop on it."""
    from mediagate.adapters.local.postgres import PostgresDatabase
    from mediagate.webhooks import new_secret
    from mediagate.webhooks.outbox import OutboxRepository, RetryPolicy
    from processor.webhook_sender import WebhookSender

    with psycopg.connect(db, autocommit=True) as conn:
        hook = conn.execute(
            "INSERT INTO user_webhooks (user_id, url, secret) VALUES (%s, %s, %s) RETURNING id",
            (str(uuid.uuid4()), url, new_secret()),
        ).fetchone()[0]
        row_id = conn.execute(
            """INSERT INTO webhook_outbox (event_id, webhook_id, event_type, payload)
               VALUES (%s, %s, 'processing-complete', '{"type": "processing-complete", "data": {}}') RETURNING id""",
            (f"msg_{uuid.uuid4().hex}", hook),
        ).fetchone()[0]

    async def run() -> None:
        database = PostgresDatabase(db, max_size=2)
        await database.open()
        sender = WebhookSender(
            OutboxRepository(database), policy=RetryPolicy(), allow_private=allow_private, resolver=resolver
        )
        try:
            while await sender.deliver_due():
                pass
        finally:
            await sender.close()
            await database.close()

    asyncio.run(run())
    with psycopg.connect(db, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM webhook_outbox WHERE id = %s", (row_id,)).fetchone()


def test_delivery_resolves_checks_and_pins(postgres, receivers):
    db = postgres.create_database()
    rx = receivers()
    # production policy: the name resolves to loopback, so nothing is sent and the refusal is final
    inward = StubResolver({"hooks.example.com": [["127.0.0.1"]]})
    row = _sender_round(db, f"http://hooks.example.com:{rx.port}/in", inward, allow_private=False)
    assert row["failed_at"] is not None and row["delivered_at"] is None and row["attempts"] == 1
    assert row["last_error"].startswith("refused:") and "127.0.0.1" in row["last_error"]
    assert rx.hits == []
    # private allowed (tests/dev): the request goes to the resolved address and keeps the name
    pinned = StubResolver({"hooks.example.com": [["127.0.0.1"], ["10.9.9.9"]]})
    row = _sender_round(db, f"http://hooks.example.com:{rx.port}/in", pinned, allow_private=True)
    assert row["delivered_at"] is not None and row["last_status"] == 204
    assert [h["headers"]["Host"] for h in rx.hits] == [f"hooks.example.com:{rx.port}"]
    assert json.loads(rx.hits[0]["body"])["type"] == "processing-complete"


def test_a_dead_lettered_job_queues_processing_failed_with_its_status_change(fresh_database_url):
    """The Worker's dead-letter consumer is a status writer too: its one statement queues the event."""
    from mediagate.adapters.local.postgres import PostgresDatabase
    from mediagate.file_status import FileStatus

    user = str(uuid.uuid4())
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        file_id, job_id = conn.execute(
            """WITH f AS (INSERT INTO files (user_id, original_key, file_type, mime_type, file_size, filename)
                          VALUES (%s, 'k', 'other', 'application/octet-stream', 1, 'lost.bin') RETURNING id),
                    j AS (INSERT INTO processing_jobs (file_id, job_type) SELECT id, 'other' FROM f RETURNING id)
               SELECT f.id::text, j.id::text FROM f, j""",
            (user,),
        ).fetchone()
        for url in ("https://a.example/", "https://b.example/"):
            conn.execute("INSERT INTO user_webhooks (user_id, url, secret) VALUES (%s, %s, 's')", (user, url))
        conn.execute(
            "INSERT INTO user_webhooks (user_id, url, secret) VALUES (%s, 'https://other.example/', 's')",
            (str(uuid.uuid4()),),
        )

    async def run() -> list[bool]:
        db = PostgresDatabase(fresh_database_url, max_size=1)
        await db.open()
        try:
            message = {"job_id": job_id, "file_id": file_id}
            status = FileStatus(db)
            return [await status.dead_lettered(message, 3), await status.dead_lettered(message, 3)]
        finally:
            await db.close()

    assert asyncio.run(run()) == [True, False]  # the second delivery changes nothing, queues nothing
    rows = outbox_rows(fresh_database_url, file_id)
    assert len(rows) == 2 and len({r["event_id"] for r in rows}) == 1, "one event, one row per endpoint"
    payload = rows[0]["payload"]
    assert payload["type"] == "processing-failed" and payload["data"]["attempts"] == 3
    assert payload["data"]["job_id"] == job_id and "dead-lettered" in payload["data"]["error"]


def test_settled_events_are_pruned_after_the_retention_and_pending_ones_never(fresh_database_url):
    from mediagate.adapters.local.postgres import PostgresDatabase
    from mediagate.webhooks.outbox import OutboxRepository

    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        hook = conn.execute(
            "INSERT INTO user_webhooks (user_id, url, secret) VALUES (gen_random_uuid(), 'https://h.example/', 's')"
            " RETURNING id"
        ).fetchone()[0]
        for event_id, age_days, state in [
            ("old-delivered", 40, "delivered_at"),
            ("old-failed", 40, "failed_at"),
            ("old-pending", 40, None),
            ("new-delivered", 1, "delivered_at"),
        ]:
            conn.execute(
                f"""INSERT INTO webhook_outbox (event_id, webhook_id, event_type, payload, created_at{", " + state if state else ""})
                    VALUES (%s, %s, 'processing-complete', '{{}}', NOW() - make_interval(days => %s){", NOW()" if state else ""})""",
                (event_id, hook, age_days),
            )

    async def run() -> int:
        db = PostgresDatabase(fresh_database_url, max_size=1)
        await db.open()
        try:
            return await OutboxRepository(db).prune(30 * 86400)
        finally:
            await db.close()

    assert asyncio.run(run()) == 2
    with psycopg.connect(fresh_database_url) as conn:
        left = {r[0] for r in conn.execute("SELECT event_id FROM webhook_outbox").fetchall()}
    assert left == {"old-pending", "new-delivered"}
