"""Job-scoped storage grants against the real local server: what a grant allows, and
everything it refuses (other files, other prefixes, traversal, forged or expired tokens,
oversized bodies), with request bodies streamed rather than held."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from mediagate.config import Settings
from mediagate.files.grants import DEFAULT_MAX_PUT_BYTES, mint
from mediagate.files.links import LinkSigner
from support.stack import Server, shared_tmpdir
from tus_helpers import create, patch


class FixedClock:
    def __init__(self, now: float) -> None:
        self.value = now

    def now(self) -> float:
        return self.value


@pytest.fixture(scope="module")
def grant_server(postgres):
    """A server that attaches a storage grant to every job message (no processor runs)."""
    srv = Server(postgres.create_database(), shared_tmpdir("mediagate-grants-"), env={"JOB_STORAGE_GRANTS": "1"})
    srv.env["WORKER_URL"] = srv.url
    srv.start()
    yield srv
    srv.stop()


def signer(server: Server, clock=None) -> LinkSigner:
    return LinkSigner(Settings.from_env(server.env).signing_secret, clock or FixedClock(time.time()))


def upload_job(server: Server, data: bytes, name: str = "photo.jpg") -> dict:
    """Upload ``data`` over tus and return the job message the server queued."""
    user = str(uuid.uuid4())
    token = server.token(user)
    r = create(server.url, token, len(data), filename=name)
    assert r.status_code == 201, r.text
    assert patch(r.headers["Location"], token, 0, data).status_code == 204
    upload_id = r.headers["Location"].rsplit("/", 1)[1]
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        body = conn.execute(
            "SELECT m.body FROM queue_messages m JOIN files f ON m.body->>'file_id' = f.id::text WHERE f.upload_id = %s",
            (upload_id,),
        ).fetchone()[0]
    return {**body, "_user": user}


def stored(server: Server, key: str):
    return server.data_dir / "store" / "objects" / key


def test_grant_rides_in_the_job_message_and_reads_exactly_the_original(grant_server):
    data = os.urandom(3 * 1024 * 1024 + 17)
    job = upload_job(grant_server, data)
    grant = job["storage"]
    assert grant["object_key"] == job["object_key"] and grant["output_prefix"] == f"derived/{job['file_id']}/"
    assert grant["read_url"].startswith(grant_server.url + "/api/processor-storage/")
    assert grant["max_put_bytes"] == DEFAULT_MAX_PUT_BYTES < 100_000_000
    assert time.time() + 5 * 3600 < grant["expires"] <= time.time() + 6 * 3600 + 5

    whole = httpx.get(grant["read_url"])
    assert whole.status_code == 200 and whole.content == data
    part = httpx.get(grant["read_url"], headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    tail = httpx.get(grant["read_url"], headers={"Range": "bytes=-10"})
    assert tail.content == data[-10:]
    head = httpx.head(grant["read_url"])
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(data)
    # No bearer token involved, and no rate-limit budget spent.
    assert "ratelimit-limit" not in {k.lower() for k in whole.headers}


def test_write_overwrite_head_and_delete_under_the_prefix(grant_server):
    job = upload_job(grant_server, b"\xff\xd8" + os.urandom(5000))
    grant, prefix = job["storage"], job["storage"]["output_prefix"]
    url = grant["write_url"]

    r = httpx.put(url + "preview/grid.webp", content=b"first", headers={"Content-Type": "image/webp"})
    assert r.status_code == 201, r.text
    assert r.json() == {"key": prefix + "preview/grid.webp", "size": 5, "content_type": "image/webp"}
    assert stored(grant_server, prefix + "preview/grid.webp").read_bytes() == b"first"
    head = httpx.head(url + "preview/grid.webp")
    assert head.status_code == 200 and head.headers["content-type"] == "image/webp"
    assert head.headers["content-length"] == "5"

    again = httpx.put(url + "preview/grid.webp", content=b"second!", headers={"Content-Type": "image/webp"})
    assert again.status_code == 201
    assert stored(grant_server, prefix + "preview/grid.webp").read_bytes() == b"second!"
    segment = os.urandom(300_000)
    r = httpx.put(url + "hls/720p/seg_00001.m4s", content=segment, headers={"Content-Type": "video/iso.segment"})
    assert r.status_code == 201 and stored(grant_server, prefix + "hls/720p/seg_00001.m4s").read_bytes() == segment
    # Served to users through the ordinary signed links, with the content type kept.
    link = signer(grant_server).url(grant_server.url, prefix, "hls/720p/seg_00001.m4s", 60)
    served = httpx.get(link)
    assert served.content == segment and served.headers["content-type"] == "video/iso.segment"

    one = httpx.delete(url + "preview/grid.webp")
    assert one.status_code == 200 and one.json() == {"deleted": 1}
    assert httpx.head(url + "preview/grid.webp").status_code == 404
    httpx.put(url + "poster.jpg", content=b"jpeg", headers={"Content-Type": "image/jpeg"})
    everything = httpx.delete(url)
    assert everything.status_code == 200 and everything.json() == {"deleted": 2}
    assert httpx.head(url + "hls/720p/seg_00001.m4s").status_code == 404
    assert not any(p.is_file() for p in stored(grant_server, prefix).rglob("*"))
    assert httpx.get(grant["read_url"]).status_code == 200  # the original is not under the prefix


def raw_request(server: Server, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict]:
    """One HTTP/1.1 request over a socket, path sent byte for byte (no client normalisation)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, payload = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(payload) if payload else {}
    except ValueError:
        return status, {"raw": payload[:200].decode(errors="replace")}


def test_nothing_outside_the_grant(grant_server):
    mine = upload_job(grant_server, os.urandom(2000))
    other = upload_job(grant_server, os.urandom(2000))
    url = mine["storage"]["write_url"]
    path = urlsplit(url).path
    other_key = other["storage"]["output_prefix"] + "x.jpg"

    # Traversal and tricks, sent raw so no client cleans them up first.
    for trick in (
        f"../{other['file_id']}/x.jpg",
        f"%2e%2e/{other['file_id']}/x.jpg",
        f"..%2F{other['file_id']}%2Fx.jpg",
        f"%252e%252e/{other['file_id']}/x.jpg",
        f"a/%2E%2E/%2E%2E/{other['file_id']}/x.jpg",
        "/etc/passwd",
        "a//b.jpg",
        "./a.jpg",
        "a%00.jpg",
        "a%5C..%5Cb.jpg",
    ):
        status, body = raw_request(grant_server, "PUT", path + trick, {"Content-Length": "3"}, b"bad")
        # 400 when the edge guard refuses it first (a control character), 403 from the route
        assert status in (400, 403), (trick, status, body)
        assert body.get("error"), (trick, body)
    assert not stored(grant_server, other_key).exists()
    assert not any(p.is_file() for p in (grant_server.data_dir / "store" / "objects" / "derived").rglob("*bad*"))

    # Another job's grant names only its own file: my token cannot reach its outputs or original.
    assert httpx.put(other["storage"]["write_url"] + "x.jpg", content=b"theirs").status_code == 201
    mine_token = urlsplit(url).path.split("/")[3]
    other_token = urlsplit(other["storage"]["write_url"]).path.split("/")[3]
    assert httpx.get(mine["storage"]["read_url"]).content != httpx.get(other["storage"]["read_url"]).content
    assert mine_token != other_token
    assert httpx.delete(url).json() == {"deleted": 0}  # deleting mine leaves theirs
    assert stored(grant_server, other_key).read_bytes() == b"theirs"

    # Reading anything but the original, or other methods, is not part of a grant.
    token_base = url.rsplit("/outputs/", 1)[0]
    for method, target in (
        ("GET", url + "x.jpg"),
        ("POST", url + "x.jpg"),
        ("PUT", mine["storage"]["read_url"]),
        ("GET", token_base + "/originals/" + mine["object_key"]),
        ("GET", token_base + "/" + other["object_key"]),
    ):
        r = httpx.request(method, target, content=b"" if method in ("POST", "PUT") else None)
        assert r.status_code in (404, 405), (method, target, r.status_code)
        assert r.json()["error"]
    # A user's download link is not a grant, nor a grant a download link (separate audiences).
    grant_token = mine_token
    assert httpx.get(f"{grant_server.url}/api/objects/{grant_token}/x").status_code == 403
    link = signer(grant_server).url(grant_server.url, mine["storage"]["output_prefix"], "x", 60)
    link_token = urlsplit(link).path.split("/")[3]
    r = httpx.put(f"{grant_server.url}/api/processor-storage/{link_token}/outputs/x.jpg", content=b"no")
    assert r.status_code == 403 and "signature" in r.json()["error"]


def test_forged_and_expired_grants_are_refused(grant_server):
    job = upload_job(grant_server, os.urandom(1000))
    good = mint(signer(grant_server), grant_server.url, job)
    assert httpx.get(good["read_url"]).status_code == 200

    expired = mint(signer(grant_server, FixedClock(time.time() - 7 * 3600)), grant_server.url, job)
    r = httpx.get(expired["read_url"])
    assert r.status_code == 403 and "expired" in r.json()["error"]
    assert httpx.put(expired["write_url"] + "a.jpg", content=b"x").status_code == 403
    assert httpx.delete(expired["write_url"]).status_code == 403
    assert httpx.head(expired["write_url"] + "a.jpg").status_code == 403

    wrong_key = LinkSigner("not-the-server-secret-but-just-as-long-0123456789", FixedClock(time.time()))
    forged = mint(wrong_key, grant_server.url, job)
    r = httpx.put(forged["write_url"] + "a.jpg", content=b"x")
    assert r.status_code == 403 and "signature" in r.json()["error"]
    token = urlsplit(good["read_url"]).path.split("/")[3]
    header, claims, sig = token.split(".")
    tampered = f"{header}.{claims}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    r = httpx.get(good["read_url"].replace(token, tampered))
    assert r.status_code == 403 and r.json()["error"]
    # A grant is minted only for a message naming derived/<its file_id>/.
    with pytest.raises(ValueError):
        mint(signer(grant_server), grant_server.url, {**job, "output_prefix": "originals/"})
    assert not stored(grant_server, good["output_prefix"] + "a.jpg").exists()


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_put_size_is_bounded_and_bodies_stream(postgres):
    srv = Server(postgres.create_database(), shared_tmpdir("mediagate-grants-"), env={"JOB_STORAGE_GRANTS": "1"})
    srv.env["WORKER_URL"] = srv.url
    srv.start()
    try:
        job = upload_job(srv, os.urandom(1000))
        url = job["storage"]["write_url"]
        path = urlsplit(url).path
        limit = job["storage"]["max_put_bytes"]

        # Past the limit: refused from the headers alone, before a byte of body is read.
        started = time.monotonic()
        status, body = raw_request(srv, "PUT", path + "huge.m4s", {"Content-Length": str(limit + 1)}, b"x" * 1000)
        assert status == 413 and str(limit) in body["error"]
        assert time.monotonic() - started < 5
        status, body = raw_request(
            srv, "PUT", path + "chunked.m4s", {"Transfer-Encoding": "chunked"}, b"3\r\nabc\r\n0\r\n\r\n"
        )
        assert status == 411 and "Content-Length" in body["error"]
        assert not stored(srv, job["storage"]["output_prefix"] + "huge.m4s").exists()

        # A body cut short of its Content-Length stores nothing.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(
                f"PUT {path}cut.m4s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode() + b"y" * 5000
            )
            time.sleep(0.3)
        time.sleep(0.5)
        assert httpx.head(url + "cut.m4s").status_code == 404

        # A large output just under the limit streams through without being held in memory.
        size = 80 * 1024 * 1024
        block = os.urandom(1024 * 1024)

        def chunks():
            for _ in range(size // len(block)):
                yield block

        before = peak_rss_kib(srv.proc.pid)
        r = httpx.put(
            url + "big.m4s",
            content=chunks(),
            headers={"Content-Length": str(size), "Content-Type": "video/iso.segment"},
            timeout=120,
        )
        assert r.status_code == 201, r.text
        grew_mib = (peak_rss_kib(srv.proc.pid) - before) / 1024
        assert grew_mib < 32, f"server peak RSS grew {grew_mib:.0f} MiB for an 80 MiB body"
        assert stored(srv, job["storage"]["output_prefix"] + "big.m4s").stat().st_size == size
    finally:
        srv.stop()


def test_worker_processor_store_speaks_the_grant(grant_server, tmp_path):
    """The processor's side (processor.storage.WorkerProcessorStore) against the real server."""
    import asyncio

    from processor.storage import GrantRefused, OutputTooLarge, WorkerProcessorStore

    data = os.urandom(2 * 1024 * 1024 + 3)
    job = upload_job(grant_server, data)
    prefix = job["output_prefix"]

    async def go(grant: dict) -> None:
        async with httpx.AsyncClient() as client:
            store = WorkerProcessorStore(grant, client)
            assert await store.download(job["object_key"], tmp_path / "orig") == len(data)
            assert (tmp_path / "orig").read_bytes() == data
            out = tmp_path / "viewer.webp"
            out.write_bytes(os.urandom(70_000))
            await store.upload(out, prefix + "preview/viewer.webp", "image/webp")
            assert stored(grant_server, prefix + "preview/viewer.webp").read_bytes() == out.read_bytes()
            assert await store.exists(prefix + "preview/viewer.webp")
            assert not await store.exists(prefix + "preview/none.webp")
            with pytest.raises(PermissionError):
                await store.upload(out, "derived/someone-else/x.webp", "image/webp")
            with pytest.raises(PermissionError):
                await store.download("originals/someone/else", tmp_path / "x")
            with pytest.raises(PermissionError):
                await store.delete_prefix("derived/")
            await store.delete_prefix(prefix)
            assert not await store.exists(prefix + "preview/viewer.webp")

            small = WorkerProcessorStore({**grant, "max_put_bytes": 1000}, client)
            with pytest.raises(OutputTooLarge, match="over the 1000-byte limit"):
                await small.upload(out, prefix + "preview/viewer.webp", "image/webp")

    asyncio.run(go(job["storage"]))

    expired = mint(signer(grant_server, FixedClock(time.time() - 7 * 3600)), grant_server.url, job)

    async def refused() -> None:
        async with httpx.AsyncClient() as client:
            store = WorkerProcessorStore(expired, client)
            with pytest.raises(GrantRefused, match="expired"):
                await store.download(job["object_key"], tmp_path / "again")
            out = tmp_path / "a.jpg"
            out.write_bytes(b"jpeg")
            with pytest.raises(GrantRefused):
                await store.upload(out, prefix + "a.jpg", "image/jpeg")

    asyncio.run(refused())
    assert not stored(grant_server, prefix + "a.jpg").exists()
