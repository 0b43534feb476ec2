"""Users' webhook URLs can't reach inside (issue #14, items 3 and 5).

Registration refuses every non-public address class and malformed URL (real server,
``WEBHOOK_ALLOW_PRIVATE`` off, its default). Delivery re-checks after DNS resolution: a
URL that got into the database anyway (inserted directly) is refused and recorded, the
receiver on 127.0.0.1 gets nothing, and the job still settles — also for URLs that used
to raise ``InvalidURL`` outside the retry loop (CR/LF, port 99999, a space).
"""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import httpx
import psycopg
import pytest
from support.stack import Processor, Server, free_port, shared_tmpdir
from tus_helpers import auth, create, patch

REFUSED = [
    # loopback, by every spelling
    "http://127.0.0.1:8788/jobs",
    "http://127.8.9.10/",
    "http://[::1]/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://127.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://localhost:8787/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    # private, CGNAT, link-local and metadata
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://100.100.100.200/latest/meta-data",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://[fc00::1]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    # IPv6 forms that carry a private IPv4 address
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a00:1::]/",
    "http://[::ffff:10.0.0.1]/",
    # unspecified, multicast, reserved, documentation, broadcast
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.2.10/",
    "http://[2001:db8::1]/",
    # malformed: schemes, credentials, ports, whitespace and control characters
    "ftp://example.com/",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "http:/example.com/",
    "http://user:pass@example.com/",
    "http://example.com:99999/",
    "http://example.com:0/",
    "http://example.com:-1/",
    "http://exa mple.com/",
    "http://example.com/a b",
    "http://example.com/\r\nX-Injected: 1",
    "http://example.com\n/",
    "http://256.1.1.1/",
    "http://1.2.3.4.5/",
    "http://intranet/",
    "http://[::1%25lo]/",
    "",
]


@pytest.fixture(scope="module")
def stack(postgres):
    url = postgres.create_database()
    server = Server(url, shared_tmpdir("mediagate-ssrf-")).start()
    yield server, url
    server.stop()


@pytest.mark.parametrize("url", REFUSED)
def test_registration_refuses_non_public_and_malformed_urls(stack, user_id, url):
    server, _ = stack
    token = server.token(user_id)
    r = httpx.post(server.url + "/api/webhooks", json={"url": url}, headers=auth(token))
    assert r.status_code == 422, (url, r.status_code, r.text)
    assert "error" in r.json()
    assert httpx.get(server.url + "/api/webhooks", headers=auth(token)).json() == {"webhooks": []}


@pytest.mark.parametrize("body", [b"not json", b'{"url": 5}', b"[]", b'"http://example.com/"'])
def test_registration_needs_a_json_object_with_a_url(stack, user_id, body):
    server, _ = stack
    headers = {**auth(server.token(user_id)), "Content-Type": "application/json"}
    r = httpx.post(server.url + "/api/webhooks", content=body, headers=headers)
    assert r.status_code in (400, 422) and "error" in r.json()


def test_registration_normalises_public_urls(stack, user_id):
    server, _ = stack
    token = server.token(user_id)
    cases = {
        "HTTPS://Hooks.Example.COM:443/in?x=1#frag": "https://hooks.example.com/in?x=1",
        "http://8.8.8.8:8080/x": "http://8.8.8.8:8080/x",
        "http://134744072/": "http://8.8.8.8/",
        "http://[2606:4700:4700::1111]/": "http://[2606:4700:4700::1111]/",
    }
    for raw, normalised in cases.items():
        r = httpx.post(server.url + "/api/webhooks", json={"url": raw}, headers=auth(token))
        assert r.status_code == 201, (raw, r.text)
        assert r.json()["url"] == normalised
    listed = {h["url"] for h in httpx.get(server.url + "/api/webhooks", headers=auth(token)).json()["webhooks"]}
    assert listed == set(cases.values())


def test_allow_private_is_an_explicit_opt_in(make_server, user_id):
    srv = make_server({"WEBHOOK_ALLOW_PRIVATE": "1"})
    r = httpx.post(srv.url + "/api/webhooks", json={"url": "http://127.0.0.1:9/h"}, headers=auth(srv.token(user_id)))
    assert r.status_code == 201
    # malformed URLs stay refused even then
    for url in ("http://127.0.0.1:99999/", "http://127.0.0.1/\r\n", "gopher://127.0.0.1/"):
        r = httpx.post(srv.url + "/api/webhooks", json={"url": url}, headers=auth(srv.token(user_id)))
        assert r.status_code == 422, url


# -- delivery ---------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Receiver.hits.append(self.path)
        if self.path.startswith("/redirect"):
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/redirected")
        else:
            self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def receiver():
    _Receiver.hits = []
    httpd = HTTPServer(("127.0.0.1", free_port()), _Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_port
    httpd.shutdown()


def _insert_hooks(db: str, user: str, urls: list[str]) -> dict[str, str]:
    """Rows written directly, as if they had bypassed the API (old rows, manual SQL)."""
    with psycopg.connect(db) as conn:
        return {
            url: str(
                conn.execute(
                    "INSERT INTO user_webhooks (user_id, url, secret) VALUES (%s, %s, 's') RETURNING id", (user, url)
                ).fetchone()[0]
            )
            for url in urls
        }


def _upload_other(server: Server, user: str) -> str:
    token = server.token(user)
    data = b"plain bytes, no preview\n" * 10
    url = create(server.url, token, len(data), filename="notes.bin").headers["Location"]
    assert patch(url, token, 0, data).status_code == 204
    return url.rsplit("/", 1)[1]


def _settled(db: str, upload_id: str, hooks: int, timeout: float = 60) -> tuple[dict, list[dict]]:
    """The job once it completed and every outbox row of its file is final (sent or given up)."""
    deadline = time.monotonic() + timeout
    job: dict = {}
    deliveries: list[dict] = []
    while time.monotonic() < deadline:
        with psycopg.connect(db, row_factory=psycopg.rows.dict_row) as conn:
            job = (
                conn.execute(
                    """SELECT f.id AS file_id, f.processing_status, j.id AS job_id, j.status AS job_status
                   FROM files f JOIN processing_jobs j ON j.file_id = f.id WHERE f.upload_id = %s""",
                    (upload_id,),
                ).fetchone()
                or {}
            )
            deliveries = conn.execute(
                """SELECT w.url, o.attempts, o.last_status AS status_code, o.last_error AS error,
                          o.delivered_at IS NOT NULL AS delivered
                   FROM webhook_outbox o JOIN user_webhooks w ON w.id = o.webhook_id
                   WHERE o.payload->'data'->>'file_id' = %s AND (o.delivered_at IS NOT NULL OR o.failed_at IS NOT NULL)""",
                (str(job.get("file_id")),),
            ).fetchall()
            leftover = conn.execute(
                "SELECT count(*) AS n FROM queue_messages WHERE body->>'file_id' = %s", (str(job.get("file_id")),)
            ).fetchone()["n"]
        if job.get("job_status") == "completed" and len(deliveries) == hooks and leftover == 0:
            return job, deliveries
        time.sleep(0.25)
    raise AssertionError(f"job did not settle: {job}, deliveries {deliveries}")


def test_delivery_refuses_inward_urls_that_reached_the_database(stack, user_id, receiver):
    server, db = stack
    port = receiver
    urls = [
        f"http://127.0.0.1:{port}/hook",
        f"http://localhost:{port}/hook",
        f"http://2130706433:{port}/hook",
        f"http://[::ffff:127.0.0.1]:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",
        f"http://127.0.0.1:{port}/a\r\nX-Injected: 1",
        "http://example.com:99999/",
        "http://exa mple.com/",
    ]
    _insert_hooks(db, user_id, urls)
    proc = Processor(server).start()  # WEBHOOK_ALLOW_PRIVATE unset: the production default
    try:
        upload_id = _upload_other(server, user_id)
        job, deliveries = _settled(db, upload_id, len(urls))
    finally:
        proc.stop()
    assert job["processing_status"] == "completed"
    assert _Receiver.hits == [], "a refused URL was contacted"
    by_url = {d["url"]: d for d in deliveries}
    for url in urls:
        d = by_url[url]
        assert d["delivered"] is False and d["status_code"] is None
        assert d["error"].startswith("refused:"), d
        assert d["attempts"] == 1, "a refusal is final: retrying cannot change the policy's answer"


def test_delivery_failures_never_stall_the_job(stack, user_id, receiver):
    """With private addresses allowed (tests/dev), bad URLs still fail cleanly and the job settles;
    redirects are not followed."""
    server, db = stack
    port = receiver
    urls = [
        f"http://127.0.0.1:{port}/ok",
        f"http://127.0.0.1:{port}/redirect",
        f"http://127.0.0.1:{port}/a\r\nX-Injected: 1",
        "http://127.0.0.1:99999/",
        f"http://127.0.0.1:{free_port()}/nobody-listens",
        "http://name-that-does-not-resolve.invalid/",
    ]
    _insert_hooks(db, user_id, urls)
    quick_retries = {"WEBHOOK_RETRY_BASE_SECONDS": "0.1", "WEBHOOK_MAX_ATTEMPTS": "4", "WEBHOOK_POLL_INTERVAL": "0.1"}
    proc = Processor(server, env={"WEBHOOK_ALLOW_PRIVATE": "1", **quick_retries}).start()
    try:
        upload_id = _upload_other(server, user_id)
        job, deliveries = _settled(db, upload_id, len(urls), timeout=90)
        assert proc.health()  # still serving
    finally:
        proc.stop()
    assert job["processing_status"] == "completed"
    by_url = {d["url"]: d for d in deliveries}
    assert by_url[urls[0]]["delivered"] is True and by_url[urls[0]]["status_code"] == 204
    redirect = by_url[urls[1]]
    assert redirect["delivered"] is False and redirect["status_code"] == 307
    assert sorted(_Receiver.hits) == ["/ok", "/redirect"], "the redirect was followed"
    for url in urls[2:4]:
        assert by_url[url]["error"].startswith("refused:"), by_url[url]
    for url in urls[4:]:
        d = by_url[url]
        assert d["delivered"] is False and d["status_code"] is None and d["error"], d
        assert d["attempts"] == 4, "network errors are retried, up to WEBHOOK_MAX_ATTEMPTS"


def test_names_are_checked_after_dns_resolution():
    """A name that resolves to loopback is refused at delivery (real resolver, offline-safe)."""
    from processor.outbound import UrlRejected, pin, vetted_target

    async def run() -> None:
        for name in ("localhost", "vm" if _resolves("vm") else "localhost"):
            with pytest.raises(UrlRejected, match=r"127\.0\.0\.1|::1"):
                await pin(name, 80, "http")
        target = await vetted_target("http://localhost:8080/p?q=1", allow_private=True)
        assert target.url in ("http://127.0.0.1:8080/p?q=1", "http://[::1]:8080/p?q=1")
        assert target.headers == {"Host": "localhost:8080"}
        secure = await vetted_target("https://localhost/x", allow_private=True)
        assert secure.extensions == {"sni_hostname": "localhost"}  # the certificate is checked for the name
        with pytest.raises(UrlRejected):
            await vetted_target("http://localhost/")  # refused by name before any lookup

    asyncio.run(run())


def _resolves(name: str) -> bool:
    import socket

    try:
        return socket.gethostbyname(name).startswith("127.")
    except OSError:
        return False
