"""The files API against real Postgres, the real store and a real server process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import httpx
import psycopg
import pytest
from support.tools import require, requires
from tus_helpers import auth, create, patch


@pytest.fixture(scope="module")
def api(postgres):
    from support.stack import Server, shared_tmpdir

    db = postgres.create_database()
    regions = {
        "eu": {"base_url": "http://eu.files.invalid", "continents": ["EU", "AF"]},
        "us": {"base_url": "http://us.files.invalid", "continents": ["NA", "SA"]},
        "apac": {"continents": ["AS", "OC"], "countries": ["JP"]},
    }
    srv = Server(
        db, shared_tmpdir("mediagate-files-"), env={"DOWNLOAD_REGIONS": json.dumps(regions), "DEFAULT_REGION": "us"}
    )
    srv.start()
    yield srv, db
    srv.stop()


def insert_files(db: str, user: str, n: int, **over) -> list[str]:
    """Rows written directly (fast setup for paging); created_at spaced a millisecond apart."""
    ids = []
    with psycopg.connect(db) as conn:
        for i in range(n):
            row = conn.execute(
                """INSERT INTO files (user_id, original_key, file_type, mime_type, file_size, filename,
                     processing_status, created_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, NOW() - make_interval(secs => %s)) RETURNING id""",
                (
                    user,
                    f"originals/{user}/{uuid.uuid4().hex}",
                    over.get("file_type", "image"),
                    "image/jpeg",
                    1000 + i,
                    over.get("name", f"photo_{i:04d}.jpg"),
                    over.get("status", "completed"),
                    over.get("age", 1000) + i * 0.001,
                ),
            ).fetchone()
            ids.append(str(row[0]))
    return ids


def upload_bytes(srv, user: str, data: bytes, name: str) -> str:
    token = srv.token(user)
    url = create(srv.url, token, len(data), filename=name).headers["Location"]
    assert patch(url, token, 0, data).status_code == 204
    with psycopg.connect(srv.env["DATABASE_URL"]) as conn:
        return str(conn.execute("SELECT id FROM files WHERE upload_id = %s", (url.rsplit("/", 1)[1],)).fetchone()[0])


def get(srv, user: str, path: str, **kw) -> httpx.Response:
    headers = {**auth(srv.token(user)), **kw.pop("headers", {})}
    return httpx.get(srv.url + path, headers=headers, **kw)


def test_pagination_never_repeats_or_skips_while_files_are_added(api, user_id):
    srv, db = api
    original = set(insert_files(db, user_id, 120))
    # ties on created_at are ordered by id
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE files SET created_at = '2020-01-01' WHERE user_id = %s AND file_size < 1010", (user_id,))
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 17, **({"cursor": cursor} if cursor else {})}
        r = get(srv, user_id, "/api/files", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen.extend(item["id"] for item in body["items"])
        insert_files(db, user_id, 2, age=0)  # newer files arrive while paging
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)), "an item was repeated"
    assert original <= set(seen), "an item was skipped"
    first = get(srv, user_id, "/api/files", params={"limit": 200}).json()["items"]
    stamps = [(i["created_at"], i["id"]) for i in first]
    assert stamps == sorted(stamps, reverse=True)


def test_filters_search_and_item_shape(api, user_id):
    srv, db = api
    insert_files(db, user_id, 3, file_type="video", name="holiday_50%_cut.mp4", status="processing")
    insert_files(db, user_id, 2, file_type="image", name="holidayX50Xcut.jpg", status="failed")
    insert_files(db, user_id, 4, file_type="other", name="notes.txt")
    videos = get(srv, user_id, "/api/files", params={"type": "video"}).json()["items"]
    assert len(videos) == 3 and {v["type"] for v in videos} == {"video"}
    failed = get(srv, user_id, "/api/files", params={"status": "failed"}).json()["items"]
    assert len(failed) == 2
    found = get(srv, user_id, "/api/files", params={"q": "50%_"}).json()["items"]
    assert {f["name"] for f in found} == {"holiday_50%_cut.mp4"}  # % and _ are literal
    item = videos[0]
    for key in (
        "id",
        "name",
        "size",
        "type",
        "upload_status",
        "processing_status",
        "progress",
        "thumbnail_url",
        "placeholder",
    ):
        assert key in item


def test_playable_and_direct_play_while_processing(api, user_id):
    """The instant-preview fields: playable once HLS exists, direct_play unknown until probed
    (then the probe's verdict), a signed inline link to the original for direct play, and
    playlists that may still grow served ``no-cache`` (segments ``immutable``)."""
    srv, db = api
    [vid] = insert_files(db, user_id, 1, file_type="video", name="clip.mp4", status="processing")
    [img] = insert_files(db, user_id, 1, file_type="image", name="p.jpg")
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE files SET mime_type = 'video/mp4' WHERE id = %s", (vid,))

    def item(file_id: str) -> dict:
        return get(srv, user_id, f"/api/files/{file_id}").json()

    assert (item(vid)["playable"], item(vid)["direct_play"]) == (False, None)  # not probed yet: try it
    assert (item(img)["playable"], item(img)["direct_play"]) == (False, False)
    preview = get(srv, user_id, f"/api/files/{vid}/preview").json()
    assert preview["direct_url"] and preview["hls_url"] is None
    original = httpx.get(preview["direct_url"], headers={"Range": "bytes=0-0"})
    assert original.status_code in (206, 404)  # a row without an object behind it here; the link is inline
    assert "content-disposition" not in original.headers
    # the poster step recorded the probe; the first rung is published: playable, and H.264 plays as is
    prefix = f"derived/{vid}/"
    store = srv.data_dir / "store" / "objects" / prefix / "hls"
    (store / "480p").mkdir(parents=True)
    (store / "master.m3u8").write_text("#EXTM3U\n")
    (store / "480p" / "seg_00000.m4s").write_bytes(b"\0" * 64)
    with psycopg.connect(db) as conn:
        conn.execute(
            """UPDATE files SET hls_playlist_key = %s,
                 metadata = jsonb_build_object('media', jsonb_build_object('direct_play', false, 'duration', 60))
               WHERE id = %s""",
            (prefix + "hls/master.m3u8", vid),
        )
    listed = {i["id"]: i for i in get(srv, user_id, "/api/files").json()["items"]}
    assert (listed[vid]["playable"], listed[vid]["direct_play"], listed[vid]["duration"]) == (True, False, 60)
    preview = get(srv, user_id, f"/api/files/{vid}/preview").json()
    assert preview["playable"] is True and preview["direct_url"] is None and preview["hls_url"]
    master = httpx.get(preview["hls_url"])
    assert master.status_code == 200 and master.headers["cache-control"] == "private, no-cache"
    segment = httpx.get(preview["hls_url"].replace("master.m3u8", "480p/seg_00000.m4s"))
    assert segment.status_code == 200 and segment.headers["cache-control"].endswith("immutable")


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "201"}, {"limit": "ten"}, {"type": "movie"}, {"status": "done"}, {"cursor": "garbage!"}],
)
def test_bad_list_parameters_are_400_json(api, user_id, params):
    srv, _ = api
    r = get(srv, user_id, "/api/files", params=params)
    assert r.status_code == 400
    assert r.json()["error"]


def test_download_link_range_disposition_and_tampering(api, user_id):
    srv, _ = api
    data = os.urandom(300_000)
    name = 'Ünïcødé "clip" 1.bin'
    file_id = upload_bytes(srv, user_id, data, name)
    link = get(srv, user_id, f"/api/files/{file_id}/download", headers={"X-Mediagate-Region": "apac"}).json()
    assert link["region"] == "apac" and link["url"].startswith(srv.url)
    url = link["url"]
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Content-Length"] == str(len(data))
    disposition = whole.headers["Content-Disposition"]
    assert "filename*=UTF-8''%C3%9Cn%C3%AFc%C3%B8d%C3%A9%20%22clip%22%201.bin" in disposition
    assert 'filename="_n_c_d_ _clip_ 1.bin"' in disposition
    assert whole.headers["Accept-Ranges"] == "bytes"
    for header, expected in [
        ("bytes=0-99", data[:100]),
        ("bytes=1000-", data[1000:]),
        ("bytes=-50", data[-50:]),
        ("bytes=299990-999999", data[299990:]),
    ]:
        part = httpx.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == expected, header
        assert part.headers["Content-Range"].endswith(f"/{len(data)}")
    assert httpx.get(url, headers={"Range": "bytes=300000-"}).status_code == 416
    assert httpx.head(url).headers["Content-Length"] == str(len(data))
    token_start = url.index("/api/objects/") + len("/api/objects/")
    tampered = url[: token_start + 40] + ("A" if url[token_start + 40] != "A" else "B") + url[token_start + 41 :]
    assert httpx.get(tampered).status_code == 403
    forged_sig = url.rsplit("/", 1)[0][:-3] + "abc/" + url.rsplit("/", 1)[1]
    assert httpx.get(forged_sig).status_code == 403


def test_links_expire(make_server, user_id):
    srv = make_server({"DOWNLOAD_TTL_SECONDS": "2"})
    file_id = upload_bytes(srv, user_id, b"short-lived", "a.txt")
    link = get(srv, user_id, f"/api/files/{file_id}/download", headers={"X-Mediagate-Region": "apac"}).json()
    url = link["url"]
    assert httpx.get(url).content == b"short-lived"
    time.sleep(3.1)
    r = httpx.get(url)
    assert r.status_code == 403 and "expired" in r.json()["error"]


@pytest.mark.parametrize(
    ("headers", "region", "reason"),
    [
        ({"X-Mediagate-Continent": "EU"}, "eu", "continent"),
        ({"X-Mediagate-Continent": "AS", "X-Mediagate-Country": "JP"}, "apac", "country"),
        ({"X-Mediagate-Continent": "NA"}, "us", "continent"),
        ({}, "us", "default"),
        ({"X-Mediagate-Region": "eu", "X-Mediagate-Continent": "NA"}, "eu", "explicit"),
    ],
)
def test_regional_download_hosts(api, user_id, headers, region, reason):
    srv, _ = api
    file_id = upload_bytes(srv, user_id, b"abc", "r.bin")
    link = get(srv, user_id, f"/api/files/{file_id}/download", headers=headers).json()
    assert (link["region"], link["region_reason"]) == (region, reason)
    if region == "eu":
        assert link["url"].startswith("http://eu.files.invalid/api/objects/")
    if region == "us":
        assert link["url"].startswith("http://us.files.invalid/api/objects/")


def test_delete_removes_original_rows_and_derived_objects(api, user_id):
    srv, db = api
    file_id = upload_bytes(srv, user_id, b"x" * 1000, "del.bin")
    with psycopg.connect(db) as conn:
        key, _upload_id = conn.execute("SELECT original_key, upload_id FROM files WHERE id = %s", (file_id,)).fetchone()
    derived = srv.data_dir / "store" / "objects" / "derived" / file_id / "preview" / "x.webp"
    derived.parent.mkdir(parents=True)
    derived.write_bytes(b"preview")
    original = srv.data_dir / "store" / "objects" / key
    assert original.exists()
    r = httpx.delete(f"{srv.url}/api/files/{file_id}", params={"permanent": "true"}, headers=auth(srv.token(user_id)))
    assert r.status_code == 204
    assert not original.exists() and not derived.exists()
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM files WHERE id = %s", (file_id,)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM processing_jobs WHERE file_id = %s", (file_id,)).fetchone()[0] == 0
        assert (
            conn.execute("SELECT count(*) FROM queue_messages WHERE body->>'file_id' = %s", (file_id,)).fetchone()[0]
            == 0
        )
    assert httpx.delete(f"{srv.url}/api/files/{file_id}", headers=auth(srv.token(user_id))).status_code == 404


def test_bulk_delete_moves_to_the_trash(api, user_id):
    srv, _db = api
    mine = [upload_bytes(srv, user_id, b"a", f"{i}.bin") for i in range(3)]
    other_user = str(uuid.uuid4())
    theirs = upload_bytes(srv, other_user, b"b", "theirs.bin")
    missing = str(uuid.uuid4())
    r = httpx.post(
        f"{srv.url}/api/files/bulk-delete", json={"ids": [*mine, theirs, missing]}, headers=auth(srv.token(user_id))
    )
    assert r.status_code == 200
    assert r.json()["trashed"] == 3 and sorted(r.json()["ids"]) == sorted(mine)
    assert sorted(r.json()["not_found"]) == sorted([theirs, missing])
    assert get(srv, other_user, f"/api/files/{theirs}").status_code == 200
    assert get(srv, other_user, f"/api/files/{theirs}").json()["trashed_at"] is None
    listed = {i["id"] for i in get(srv, user_id, "/api/files", params={"limit": 200}).json()["items"]}
    assert not listed & set(mine)
    trash = {i["id"] for i in get(srv, user_id, "/api/files", params={"limit": 200, "trashed": "true"}).json()["items"]}
    assert set(mine) <= trash
    bad = httpx.post(f"{srv.url}/api/files/bulk-delete", json={"ids": ["nope"]}, headers=auth(srv.token(user_id)))
    assert bad.status_code == 422 and bad.json()["error"]
    assert (
        httpx.post(f"{srv.url}/api/files/bulk-delete", content=b"{", headers=auth(srv.token(user_id))).status_code
        == 400
    )


def test_isolation_matrix_user_b_sees_nothing_of_user_a(api, user_id):
    srv, _ = api
    file_id = upload_bytes(srv, user_id, b"secret bytes", "a-only.bin")
    intruder = str(uuid.uuid4())
    token_b = auth(srv.token(intruder))
    for path in ("", "/preview", "/download"):
        r = httpx.get(f"{srv.url}/api/files/{file_id}{path}", headers=token_b)
        assert r.status_code == 404, path
        assert r.json()["error"]
    assert httpx.delete(f"{srv.url}/api/files/{file_id}", headers=token_b).status_code == 404
    listing = httpx.get(f"{srv.url}/api/files", headers=token_b).json()
    assert listing["items"] == []
    zip_r = httpx.post(f"{srv.url}/api/files/batch-download", json={"ids": [file_id]}, headers=token_b)
    assert zip_r.status_code == 404
    assert get(srv, user_id, f"/api/files/{file_id}").status_code == 200  # still there for its owner


def test_every_endpoint_needs_a_token(api):
    srv, _ = api
    fid = str(uuid.uuid4())
    for method, path in [
        ("GET", "/api/files"),
        ("GET", f"/api/files/{fid}"),
        ("GET", f"/api/files/{fid}/preview"),
        ("GET", f"/api/files/{fid}/download"),
        ("DELETE", f"/api/files/{fid}"),
        ("POST", "/api/files/bulk-delete"),
        ("POST", "/api/files/batch-download"),
    ]:
        r = httpx.request(method, srv.url + path)
        assert r.status_code == 401, path


def test_stored_object_is_what_was_uploaded(api, user_id):
    srv, _ = api
    data = os.urandom(5000)
    file_id = upload_bytes(srv, user_id, data, "check.bin")
    item = get(srv, user_id, f"/api/files/{file_id}").json()
    assert item["size"] == 5000 and item["name"] == "check.bin"
    with psycopg.connect(srv.env["DATABASE_URL"]) as conn:
        key = conn.execute("SELECT original_key FROM files WHERE id = %s", (file_id,)).fetchone()[0]
    assert srv.store.read(key) == data


def test_batch_download_zip_is_streamed_with_length_and_matching_members(api, user_id):
    import hashlib
    import io
    import zipfile

    srv, _ = api
    sources = {
        "clip.mov": os.urandom(9 * 1024 * 1024 + 5),
        "photo.jpg": os.urandom(70_000),
        "../evil/photo.jpg": b"second",
    }
    ids = [upload_bytes(srv, user_id, data, name) for name, data in sources.items()]
    headers = auth(srv.token(user_id))
    with httpx.stream(
        "POST", f"{srv.url}/api/files/batch-download", json={"ids": ids, "mode": "zip"}, headers=headers, timeout=60
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/zip"
        length = int(r.headers["content-length"])
        body = b"".join(r.iter_bytes())
    assert len(body) == length
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert len(set(names)) == 3 and all("/" not in n and ".." not in n for n in names)
        digests = sorted(hashlib.sha256(zf.read(n)).hexdigest() for n in names)
    assert digests == sorted(hashlib.sha256(d).hexdigest() for d in sources.values())
    assert zf.getinfo("clip.mov").compress_type == zipfile.ZIP_STORED


def test_batch_download_links_and_bad_bodies(api, user_id):
    srv, _ = api
    fid = upload_bytes(srv, user_id, b"linked", "l.bin")
    missing = str(uuid.uuid4())
    headers = {**auth(srv.token(user_id)), "X-Mediagate-Region": "apac"}  # apac is served by this API
    r = httpx.post(
        f"{srv.url}/api/files/batch-download", json={"ids": [fid, missing], "mode": "links"}, headers=headers
    )
    assert r.status_code == 200
    body = r.json()
    assert body["not_found"] == [missing]
    assert httpx.get(body["files"][0]["url"]).content == b"linked"
    for bad in ({"ids": []}, {"ids": [fid], "mode": "tar"}, {"ids": "x"}, [1, 2]):
        r = httpx.post(f"{srv.url}/api/files/batch-download", json=bad, headers=headers)
        assert r.status_code == 422, bad
        assert r.json()["error"]


@requires(shutil.which("strace"), "`strace`")
def test_downloads_leave_through_sendfile(api, user_id, tmp_path):
    """Item 3 of issue #13: whole files and ranges reach the socket by sendfile(2) (the
    local server's zerocopy extension), not as read()/write() pairs through Python."""
    srv, _ = api
    data = os.urandom(3 * 1024 * 1024 + 17)
    file_id = upload_bytes(srv, user_id, data, "big.bin")
    link = get(srv, user_id, f"/api/files/{file_id}/download", headers={"X-Mediagate-Region": "apac"}).json()
    url = link["url"]
    trace = tmp_path / "strace.txt"
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-e", "trace=sendfile", "-o", str(trace), "-p", str(srv.proc.pid)],
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.0)  # attached
        if tracer.poll() is not None:
            require(False, f"strace attaching to the server ({tracer.stderr.read().decode()[-300:]})")
        whole = httpx.get(url)
        ranged = httpx.get(url, headers={"Range": "bytes=1000-2000999"})
        time.sleep(0.5)
    finally:
        tracer.terminate()
        tracer.wait(10)
    assert whole.status_code == 200 and whole.content == data
    assert ranged.status_code == 206 and ranged.content == data[1000:2001000]
    calls = [line for line in trace.read_text().splitlines() if "sendfile(" in line]
    sent = sum(int(line.rsplit("=", 1)[1].split()[0]) for line in calls if "= -1" not in line and "=" in line)
    assert sent == len(data) + 2_000_000, calls[:5]
