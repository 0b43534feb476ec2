"""Rate limits against a real server and real Postgres (RATE_LIMIT_UPLOADS=3, RATE_LIMIT_API=5)."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import psycopg
import pytest
from mediagate.adapters.local.postgres import PostgresDatabase
from mediagate.ratelimit import API, UPLOADS, RateLimiter, budgets_for
from tus_helpers import OCTET, TUS, auth, create, head, patch

LIMITS = {"RATE_LIMIT_UPLOADS": "3", "RATE_LIMIT_API": "5"}
ORIGIN = "https://app.example"


def fresh_window(min_left: float = 15) -> None:
    """The limits use fixed one-minute windows: start a test well inside one."""
    left = 60 - time.time() % 60
    if left < min_left:
        time.sleep(left + 0.2)


@pytest.fixture()
def limited(make_server, fresh_database_url):
    """A server with small limits on its own database (the per-address counters are shared per DB)."""
    srv = make_server(LIMITS, database=fresh_database_url)
    fresh_window()
    return srv


def assert_429(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 429, r.text
    assert "rate limit" in r.json()["error"]
    retry_after = int(r.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert r.headers["RateLimit-Limit"] == str(limit)
    assert r.headers["RateLimit-Remaining"] == "0"


def test_fourth_upload_creation_is_429_and_other_users_are_unaffected(limited):
    srv = limited
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    token = srv.token(alice)
    urls = []
    for i in range(3):
        r = create(srv.url, token, 10, filename=f"f{i}.bin")
        assert r.status_code == 201, r.text
        urls.append(r.headers["Location"])
    assert r.headers["RateLimit-Remaining"] == "0"  # the uploads budget is the tighter one now
    fourth = httpx.post(
        srv.url + "/api/upload/init",  # the alias shares the budget
        headers={**TUS, **auth(token), "Upload-Length": "10", "Origin": ORIGIN},
    )
    assert_429(fourth, 3)
    assert fourth.headers["Tus-Resumable"] == "1.0.0"
    assert fourth.headers["Access-Control-Allow-Origin"] in ("*", ORIGIN)  # CORS survives the 429
    assert "Retry-After" in fourth.headers.get("Access-Control-Expose-Headers", "")
    with psycopg.connect(srv.env["DATABASE_URL"]) as conn:  # the refused creation created nothing
        assert conn.execute("SELECT count(*) FROM uploads WHERE user_id = %s", (alice,)).fetchone()[0] == 3
    # uploads already created go on: PATCH and HEAD are not limited
    for url in urls:
        for _ in range(3):
            assert head(url, token).status_code == 200
        assert patch(url, token, 0, b"0123456789").status_code == 204
    # someone else still has their whole budget
    other = create(srv.url, srv.token(bob), 10, filename="b.bin")
    assert other.status_code == 201, other.text
    assert other.headers["RateLimit-Remaining"] == "2"


def test_api_budget_per_user_with_headers(limited):
    srv = limited
    carol, dave = str(uuid.uuid4()), str(uuid.uuid4())
    remaining = []
    for _ in range(5):
        r = httpx.get(srv.url + "/api/files", headers=auth(srv.token(carol)))
        assert r.status_code == 200, r.text
        assert r.headers["RateLimit-Limit"] == "5"
        remaining.append(int(r.headers["RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    refused = httpx.get(srv.url + "/api/files", headers={**auth(srv.token(carol)), "Origin": ORIGIN})
    assert_429(refused, 5)
    assert refused.headers["Access-Control-Allow-Origin"] in ("*", ORIGIN)
    # a new token for the same user does not reset the budget: it is keyed by user id
    assert httpx.get(srv.url + "/api/webhooks", headers=auth(srv.token(carol, ttl=60))).status_code == 429
    assert httpx.get(srv.url + "/api/files", headers=auth(srv.token(dave))).status_code == 200


def test_health_objects_and_preflight_are_not_limited(limited):
    srv = limited
    erin = str(uuid.uuid4())
    token = srv.token(erin)
    data = b"hello rate limits " * 100
    url = create(srv.url, token, len(data), filename="obj.bin").headers["Location"]  # api 1
    assert patch(url, token, 0, data).status_code == 204  # not counted
    files = httpx.get(srv.url + "/api/files", headers=auth(token)).json()["items"]  # api 2
    link = httpx.get(srv.url + f"/api/files/{files[0]['id']}/download", headers=auth(token)).json()["url"]  # api 3
    for _ in range(12):
        assert httpx.get(srv.url + "/api/health").status_code == 200
        got = httpx.get(link, headers={"Range": "bytes=0-4"})
        assert got.status_code == 206 and got.content == b"hello"
        assert "RateLimit-Limit" not in got.headers
        preflight = httpx.options(
            srv.url + "/api/files",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 200
    assert httpx.get(srv.url + "/api/files", headers=auth(token)).headers["RateLimit-Remaining"] == "1"


def test_requests_without_a_valid_token_are_limited_per_address(limited):
    srv = limited
    for _ in range(3):
        assert httpx.get(srv.url + "/api/openapi.json").status_code == 200
    for _ in range(2):  # a bad token counts against the address too (and still gets its 401)
        assert httpx.get(srv.url + "/api/files", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert_429(httpx.get(srv.url + "/api/openapi.json"), 5)
    # a user with a token is counted on their own
    assert httpx.get(srv.url + "/api/files", headers=auth(srv.token(str(uuid.uuid4())))).status_code == 200
    # processor webhooks are outside /api/ and never limited
    assert httpx.post(srv.url + "/webhook/processing-complete", content=b"{}").status_code == 401


def test_public_share_pages_are_limited_per_address_even_with_a_token(limited):
    """A share page's visitors have no account: /api/public/* counts against the client
    address, so a token cannot move a visitor's requests onto someone else's budget."""
    srv = limited
    token = auth(srv.token(str(uuid.uuid4())))
    for _ in range(5):
        r = httpx.get(srv.url + "/api/public/shares/unknown-token", headers=token)
        assert r.status_code == 404 and r.headers["RateLimit-Limit"] == "5", r.text
    assert_429(httpx.get(srv.url + "/api/public/shares/another-token"), 5)  # same address, no token
    assert httpx.get(srv.url + "/api/files", headers=token).status_code == 200  # the user's own budget is untouched
    assert budgets_for("GET", "/api/public/shares/t/files") == (API,)


def test_zero_disables_the_limits(make_server, fresh_database_url):
    srv = make_server({"RATE_LIMIT_UPLOADS": "0", "RATE_LIMIT_API": "0"}, database=fresh_database_url)
    token = srv.token(str(uuid.uuid4()))
    for i in range(8):
        r = create(srv.url, token, 1, filename=f"{i}.bin")
        assert r.status_code == 201 and "RateLimit-Limit" not in r.headers
    for _ in range(8):
        assert httpx.get(srv.url + "/api/files", headers=auth(token)).status_code == 200
    with httpx.Client() as client:  # tus override: POST carrying PATCH is part of an upload in progress
        r = client.post(
            r.headers["Location"],
            headers={**TUS, **OCTET, **auth(token), "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0"},
            content=b"x",
        )
        assert r.status_code == 204, r.text


def test_budget_classification():
    assert budgets_for("POST", "/api/upload") == (UPLOADS, API)
    assert budgets_for("POST", "/api/upload/init") == (UPLOADS, API)
    assert budgets_for("PATCH", "/api/upload/abc") == ()
    assert budgets_for("HEAD", "/api/upload/abc") == ()
    assert budgets_for("POST", "/api/upload/abc", "PATCH") == ()
    assert budgets_for("POST", "/api/upload/abc", "DELETE") == (API,)
    assert budgets_for("DELETE", "/api/upload/abc") == (API,)
    assert budgets_for("GET", "/api/health") == ()
    assert budgets_for("GET", "/api/objects/tok/a/b.mp4") == ()
    assert budgets_for("OPTIONS", "/api/upload") == ()
    assert budgets_for("POST", "/webhook/processing-complete") == ()
    assert budgets_for("GET", "/index.html") == ()
    assert budgets_for("GET", "/api/files") == (API,)
    assert budgets_for("GET", "/api/admin/stats") == (API,)


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def test_windows_reset_and_old_windows_are_cleaned_up(fresh_database_url):
    async def go() -> None:
        db = PostgresDatabase(fresh_database_url, max_size=2)
        await db.open()
        try:
            clock = FakeClock(1_899_999_970.0)  # 10 s into a window (windows start at multiples of 60)
            limiter = RateLimiter(db, {UPLOADS: 2, API: 0}, clock=clock, cleanup_probability=0.0)
            verdicts = [(await limiter.hit("u:x", (UPLOADS, API)))[0] for _ in range(3)]
            assert [v.allowed for v in verdicts] == [True, True, False]
            assert verdicts[-1].reset_after == 50 and verdicts[-1].remaining == 0
            assert await limiter.hit("u:x", (API,)) == []  # a 0 budget is off: no query at all
            clock.t += 50  # the next window
            [fresh] = await limiter.hit("u:x", (UPLOADS,))
            assert fresh.allowed and fresh.count == 1 and fresh.reset_after == 60
            assert len(await db.fetch("SELECT * FROM rate_limits")) == 2
            clock.t += 180  # three windows later, with cleanup on this request
            limiter.cleanup_probability = 1.0
            await limiter.hit("u:y", (UPLOADS,))
            rows = await db.fetch("SELECT key, count FROM rate_limits")
            assert rows == [{"key": "uploads:u:y", "count": 1}]
            # concurrent hits are counted exactly (one atomic upsert each)
            limiter.limits[UPLOADS] = 1000
            results = await asyncio.gather(*(limiter.hit("u:z", (UPLOADS,)) for _ in range(40)))
            assert sorted(r[0].count for r in results) == list(range(1, 41))
        finally:
            await db.close()

    asyncio.run(go())
