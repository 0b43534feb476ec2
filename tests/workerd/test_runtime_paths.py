"""What only the Cloudflare runtime does: the cron trigger, signed webhooks into the Worker,
and the real Miniflare queue's retries ending in the dead-letter queue and its consumer."""

from __future__ import annotations

import json
import os
import time
import uuid

import httpx
import psycopg
from mediagate.webhooks import signed_headers
from support.stack import WEBHOOK_SECRET
from tus_helpers import create, head, patch, staged_bytes

MIB = 1024 * 1024


def _upload_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_cron_trigger_expires_uploads_and_aborts_their_multipart_uploads(server, user_id):
    token = server.token(user_id)
    url = create(server.url, token, 20 * MIB).headers["Location"]
    assert patch(url, token, 0, os.urandom(9 * MIB)).status_code == 204  # one R2 part + staged bytes
    key_prefix = f"originals/{user_id}/{_upload_id(url)}"
    assert server.store.multipart_uploads(key_prefix) == [(key_prefix, 0)]
    assert staged_bytes(server, url) == 1 * MIB
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        conn.execute("UPDATE uploads SET expires_at = NOW() - interval '1 second' WHERE id = %s", (_upload_id(url),))
    r = httpx.get(
        f"{server.url}/cdn-cgi/local/scheduled", params={"cron": "*/15 * * * *", "format": "json"}, timeout=60
    )
    assert r.status_code == 200 and r.json()["outcome"] == "ok", r.text
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        state = conn.execute("SELECT state FROM uploads WHERE id = %s", (_upload_id(url),)).fetchone()[0]
    assert state == "expired"
    assert head(url, token).status_code == 410
    assert server.store.multipart_uploads(key_prefix) == [(key_prefix, 2)]  # aborted in R2
    assert staged_bytes(server, url) == 0


def _file_of(server, user_id: str, data: bytes, name: str) -> str:
    token = server.token(user_id)
    url = create(server.url, token, len(data), filename=name).headers["Location"]
    assert patch(url, token, 0, data).status_code == 204
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        return str(conn.execute("SELECT id FROM files WHERE upload_id = %s", (_upload_id(url),)).fetchone()[0])


def _status(server, file_id: str) -> tuple[str, str | None]:
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        return conn.execute(
            "SELECT processing_status, processing_error FROM files WHERE id = %s", (file_id,)
        ).fetchone()


def test_signed_webhooks_are_verified_and_applied_once(server, user_id, workerd):
    workerd.children["processor"].stop()  # nothing else may settle this file meanwhile
    try:
        file_id = _file_of(server, user_id, b"not media at all", "notes.bin")
        event = {"id": f"evt-{uuid.uuid4()}", "file_id": file_id, "error": "decoder said no"}
        body = json.dumps(event).encode()
        url = f"{server.url}/webhook/processing-failed"
        forged = {**signed_headers("wrong-secret", int(time.time()), body), "content-type": "application/json"}
        assert httpx.post(url, content=body, headers=forged).status_code == 401
        stale = {**signed_headers(WEBHOOK_SECRET, int(time.time()) - 3600, body), "content-type": "application/json"}
        assert httpx.post(url, content=body, headers=stale).status_code == 401
        good = {**signed_headers(WEBHOOK_SECRET, int(time.time()), body), "content-type": "application/json"}
        first = httpx.post(url, content=body, headers=good)
        assert first.status_code == 200 and first.json()["duplicate"] is False
        assert _status(server, file_id) == ("failed", "decoder said no")
        again = httpx.post(url, content=body, headers=good)
        assert again.status_code == 200 and again.json()["duplicate"] is True
    finally:
        workerd.children["processor"].start()


def test_undeliverable_jobs_are_retried_then_dead_lettered_and_fail_their_file(server, user_id, workerd):
    """The processor is down: the real queue redelivers (QUEUE_MAX_ATTEMPTS = max_retries + 1),
    moves the message to the dead-letter queue, and its consumer fails the file. The admin
    stats count it: on Cloudflare from the jobs the dead-letter consumer stamped."""
    admin = {"Authorization": f"Bearer {server.token(str(uuid.uuid4()), role='admin')}"}

    def stats() -> dict:
        r = httpx.get(f"{server.url}/api/admin/stats", headers=admin)
        assert r.status_code == 200, r.text
        return r.json()

    dead_before = stats()["dead_letters"]
    workerd.children["processor"].stop()
    try:
        file_id = _file_of(server, user_id, os.urandom(2048), "lost.bin")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _status(server, file_id)[0] != "failed":
            time.sleep(1)
        status, reason = _status(server, file_id)
        assert status == "failed", f"still {status}"
        assert "dead-lettered" in reason and "3 deliveries" in reason
        log = (workerd.data_dir / "wrangler.log").read_text(errors="replace")
        assert log.count("local processor unreachable") >= 3  # every delivery was attempted
        with psycopg.connect(server.env["DATABASE_URL"]) as conn:
            job = conn.execute("SELECT status, dead_lettered_at FROM processing_jobs WHERE file_id = %s", (file_id,))
            status, dead_lettered_at = job.fetchone()
            assert status == "failed" and dead_lettered_at is not None
        after = stats()
        assert after["dead_letters"] >= dead_before + 1  # (other tests' jobs may dead-letter meanwhile)
        assert after["jobs_by_status"]["failed"] >= 1
    finally:
        workerd.children["processor"].start()


def _worker_output(workerd) -> str:
    """What the Worker printed (wrangler writes console.log lines to its own log files)."""
    paths = [workerd.data_dir / "wrangler.log", *sorted((workerd.data_dir / "wrangler-logs").glob("*.log"))]
    return "".join(p.read_text(errors="replace") for p in paths if p.exists())


def test_users_webhooks_are_sent_from_the_outbox_and_the_cron_wakes_a_sender(server, user_id, workerd):
    """Registration and the delivery state through the Worker in workerd (Neon over HTTP);
    the processor's outbox loop sends a Standard Webhooks event; with every processor asleep,
    the cron trigger finds the due event and wakes one (POST /wake on its Durable Object)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import standardwebhooks
    from support.stack import free_port

    hits: list[tuple[dict[str, str], bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    auth = {"Authorization": f"Bearer {server.token(user_id)}"}
    try:
        r = httpx.post(
            f"{server.url}/api/webhooks", json={"url": f"http://127.0.0.1:{httpd.server_port}/in"}, headers=auth
        )
        assert r.status_code == 201, r.text
        hook = r.json()
        assert hook["secret"].startswith("whsec_")
        file_id = _file_of(server, user_id, b"plain bytes\n" * 40, "hooked.bin")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not hits:
            time.sleep(0.2)
        event = standardwebhooks.Webhook(hook["secret"]).verify(hits[0][1], hits[0][0])
        assert event["type"] == "processing-complete" and event["data"]["file_id"] == file_id
        listed = httpx.get(f"{server.url}/api/webhooks/{hook['id']}/deliveries", headers=auth)
        assert listed.status_code == 200, listed.text
        (delivery,) = listed.json()["deliveries"]
        assert delivery["state"] == "delivered" and delivery["event_id"] == hits[0][0]["webhook-id"]
        assert delivery["delivered_at"] and delivery["last_status"] == 204

        workerd.children["processor"].stop()  # every sender asleep
        try:
            with psycopg.connect(server.env["DATABASE_URL"]) as conn:
                conn.execute(
                    """INSERT INTO webhook_outbox (event_id, webhook_id, event_type, payload)
                       VALUES ('msg_cron', %s, 'processing-complete', '{"type": "processing-complete", "data": {}}')""",
                    (hook["id"],),
                )
            r = httpx.get(
                f"{server.url}/cdn-cgi/local/scheduled", params={"cron": "*/15 * * * *", "format": "json"}, timeout=60
            )
            assert r.status_code == 200 and r.json()["outcome"] == "ok", r.text
            woke = "webhooks (*/15 * * * *): woke a processor: HTTP 200"
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and woke not in _worker_output(workerd):
                time.sleep(0.2)  # console.log reaches wrangler's log file a little later
            assert woke in _worker_output(workerd)
        finally:
            workerd.children["processor"].start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(hits) < 2:
            time.sleep(0.2)
        assert hits[1][0]["webhook-id"] == "msg_cron"
    finally:
        httpd.shutdown()
