# ruff: noqa: F811 - `api` is test_files_api's fixture, imported and taken as a parameter
"""Issue #11 against real Postgres, the real store and a real server: rename, favourites,
trash, sorts and metadata filters (keyset pages with ties), albums, share links.

Tests that plant derived objects on disk or start their own server are local-only; the
rest also run in workerd (tests/workerd/test_organize_in_workerd.py).
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from datetime import datetime, timedelta

import httpx
import psycopg
import pytest
from test_files_api import api, get, insert_files, upload_bytes  # noqa: F401
from tus_helpers import auth

SORTS = ["uploaded", "taken", "name", "size"]


def call(srv, user: str | None, method: str, path: str, **kw) -> httpx.Response:
    headers = {**(auth(srv.token(user)) if user else {}), **kw.pop("headers", {})}
    return httpx.request(method, srv.url + path, headers=headers, timeout=30, **kw)


def set_columns(db: str, file_id: str, **columns) -> None:
    with psycopg.connect(db) as conn:
        for column, value in columns.items():
            conn.execute(f"UPDATE files SET {column} = %s WHERE id = %s", (value, file_id))


def all_pages(srv, user: str, params: dict, limit: int = 7, path: str = "/api/files", token: bool = True) -> list[dict]:
    items: list[dict] = []
    cursor = None
    for _ in range(200):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = call(srv, user if token else None, "GET", path, params=query)
        assert r.status_code == 200, r.text
        items.extend(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items
    raise AssertionError("pagination did not end")


# -- rename and favourites ---------------------------------------------------------------


def test_rename_keeps_original_name_and_downloads_use_the_new_one(api, user_id):
    srv, _ = api
    file_id = upload_bytes(srv, user_id, b"renamed bytes", "IMG_0001.JPG")
    r = call(srv, user_id, "PATCH", f"/api/files/{file_id}", json={"filename": "  Beach day.jpg "})
    assert r.status_code == 200, r.text
    item = r.json()
    assert (item["filename"], item["name"], item["original_filename"]) == (
        "Beach day.jpg",
        "Beach day.jpg",
        "IMG_0001.JPG",
    )
    again = call(srv, user_id, "PATCH", f"/api/files/{file_id}", json={"filename": "Second.jpg"}).json()
    assert again["original_filename"] == "IMG_0001.JPG"  # the uploaded name, not the previous one
    link = get(srv, user_id, f"/api/files/{file_id}/download", headers={"X-Mediagate-Region": "apac"}).json()
    assert link["name"] == "Second.jpg"
    assert 'filename="Second.jpg"' in httpx.get(link["url"]).headers["content-disposition"]
    found = get(srv, user_id, "/api/files", params={"q": "Second"}).json()["items"]
    assert [f["id"] for f in found] == [file_id]
    for bad in ({"filename": ""}, {"filename": "   "}, {"filename": "a/b"}, {"filename": "a\\b"},
                {"filename": "x" * 256}, {"filename": "tab\there"}, {"filename": 5}, {"favourite": "yes"},
                {"owner": "me"}, {}, [1]):  # fmt: skip
        r = call(srv, user_id, "PATCH", f"/api/files/{file_id}", json=bad)
        assert r.status_code == 422, bad
        assert r.json()["error"]
    assert get(srv, user_id, f"/api/files/{file_id}").json()["filename"] == "Second.jpg"


def test_favourites_filter(api, user_id):
    srv, _ = api
    a, b, _c = insert_files(api[1], user_id, 3)
    for fid in (a, b):
        r = call(srv, user_id, "PATCH", f"/api/files/{fid}", json={"favourite": True})
        assert r.status_code == 200 and r.json()["favourite"] is True
    call(srv, user_id, "PATCH", f"/api/files/{b}", json={"favourite": False})
    favourites = get(srv, user_id, "/api/files", params={"favourite": "true"}).json()["items"]
    assert [f["id"] for f in favourites] == [a]
    assert get(srv, user_id, "/api/files", params={"favourite": "maybe"}).status_code == 400


# -- sorts, keyset pagination, filters ----------------------------------------------------


def _expected(rows: list[dict], sort: str, order: str) -> list[str]:
    """The order the API promises, computed independently in Python."""
    desc = order == "desc"

    def key(r: dict):
        if sort == "uploaded":
            return (r["created_at"], r["id"])
        if sort == "name":
            return (r["filename"].lower(), r["id"])
        if sort == "size":
            return (r["file_size"], r["id"])
        return (r["taken_at"] or r["created_at"], r["id"])

    if sort != "taken":
        return [r["id"] for r in sorted(rows, key=key, reverse=desc)]
    dated = sorted((r for r in rows if r["taken_at"]), key=key, reverse=desc)
    undated = sorted((r for r in rows if not r["taken_at"]), key=key, reverse=desc)
    return [r["id"] for r in dated + undated]  # files without a date come last either way


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("sort", SORTS)
def test_every_sort_pages_by_keyset_with_ties(api, user_id, sort, order):
    srv, db = api
    ids = insert_files(db, user_id, 30)
    with psycopg.connect(db) as conn:
        for i, fid in enumerate(ids):  # ties on every key: 3 per created_at, size, name and taken_at
            taken = None if i % 4 == 0 else datetime(2020, 1, 1) + timedelta(hours=i // 3)
            conn.execute(
                """UPDATE files SET created_at = '2024-01-01'::timestamp + make_interval(mins => %s),
                     file_size = %s, filename = %s, taken_at = %s WHERE id = %s""",
                (i // 3, 100 + i // 3, f"{'AB'[i % 2]}name{i // 3:02d}.jpg", taken, fid),
            )
        rows = conn.execute(
            """SELECT id::text, created_at, filename, file_size, taken_at FROM files WHERE user_id = %s""",
            (user_id,),
        ).fetchall()
    table = [dict(zip(("id", "created_at", "filename", "file_size", "taken_at"), r, strict=True)) for r in rows]
    seen = all_pages(srv, user_id, {"sort": sort, "order": order}, limit=4)
    got = [i["id"] for i in seen]
    assert len(got) == len(set(got)) == 30, "an item was repeated or skipped"
    assert got == _expected(table, sort, order)


def test_cursor_of_another_sort_and_bad_parameters_are_400(api, user_id):
    srv, db = api
    insert_files(db, user_id, 5)
    cursor = get(srv, user_id, "/api/files", params={"limit": 2, "sort": "size"}).json()["next_cursor"]
    assert get(srv, user_id, "/api/files", params={"limit": 2, "sort": "size", "cursor": cursor}).status_code == 200
    for params in (
        {"sort": "name", "cursor": cursor},
        {"sort": "size", "order": "asc", "cursor": cursor},
        {"cursor": cursor},
        {"sort": "colour"},
        {"order": "up"},
        {"taken_from": "2024-13-01"},
        {"taken_to": "yesterday"},
        {"album": "not-a-uuid"},
        {"trashed": "perhaps"},
    ):
        r = get(srv, user_id, "/api/files", params={"limit": 2, **params})
        assert r.status_code == 400, params
        assert r.json()["error"]
    assert get(srv, user_id, "/api/files", params={"album": str(uuid.uuid4())}).status_code == 404


def test_metadata_filters_and_facets(api, user_id):
    srv, db = api
    canon, nikon, plain = insert_files(db, user_id, 3)
    set_columns(db, canon, camera_make="Canon", camera_model="EOS R5", lens="RF 24-70mm", taken_at="2023-06-15 10:00")
    set_columns(db, nikon, camera_make="Nikon", camera_model="Z6", lens="50mm f/1.8", taken_at="2023-06-16 23:59:59")

    def listed(**params) -> list[str]:
        r = get(srv, user_id, "/api/files", params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert listed(camera_make="Canon") == [canon]
    assert listed(camera_model="Z6") == [nikon]
    assert listed(lens="RF 24-70mm") == [canon]
    assert listed(camera_make="canon") == []  # exact match
    assert listed(taken_from="2023-06-15", taken_to="2023-06-15") == [canon]  # a date is the whole day
    assert set(listed(taken_from="2023-06-15", taken_to="2023-06-16")) == {canon, nikon}
    assert listed(taken_from="2023-06-16T00:00:00", sort="taken") == [nikon]
    assert listed(taken_to="2023-06-15T09:59:59") == []
    assert plain not in listed(taken_from="1900-01-01", sort="taken", order="asc")
    item = get(srv, user_id, f"/api/files/{canon}").json()
    assert (item["camera_make"], item["camera_model"], item["lens"]) == ("Canon", "EOS R5", "RF 24-70mm")
    assert item["taken_at"].startswith("2023-06-15 10:00")
    facets = get(srv, user_id, "/api/files/facets").json()
    assert facets == {"camera_makes": ["Canon", "Nikon"], "camera_models": ["EOS R5", "Z6"],
                      "lenses": ["50mm f/1.8", "RF 24-70mm"]}  # fmt: skip
    call(srv, user_id, "DELETE", f"/api/files/{nikon}")
    assert get(srv, user_id, "/api/files/facets").json()["camera_makes"] == ["Canon"]  # trashed files are left out


# -- trash ---------------------------------------------------------------------------------


def test_trash_restore_purge_and_empty(api, user_id):
    srv, db = api
    ids = [upload_bytes(srv, user_id, f"bytes {i}".encode(), f"t{i}.bin") for i in range(5)]
    with psycopg.connect(db) as conn:
        keys = dict(conn.execute("SELECT id::text, original_key FROM files WHERE user_id = %s", (user_id,)).fetchall())
    assert call(srv, user_id, "DELETE", f"/api/files/{ids[0]}").status_code == 204
    assert call(srv, user_id, "DELETE", f"/api/files/{ids[0]}").status_code == 204  # idempotent
    assert ids[0] not in [i["id"] for i in get(srv, user_id, "/api/files").json()["items"]]
    trash = get(srv, user_id, "/api/files", params={"trashed": "true"}).json()["items"]
    assert [i["id"] for i in trash] == [ids[0]] and trash[0]["trashed_at"]
    assert get(srv, user_id, f"/api/files/{ids[0]}").json()["trashed_at"]
    assert srv.store.read(keys[ids[0]]) == b"bytes 0"  # restorable: nothing purged yet

    restored = call(srv, user_id, "POST", f"/api/files/{ids[0]}/restore")
    assert restored.status_code == 200 and restored.json()["trashed_at"] is None
    r = call(srv, user_id, "POST", "/api/files/bulk-delete", json={"ids": ids[:3]})
    assert r.json()["trashed"] == 3
    r = call(srv, user_id, "POST", "/api/files/bulk-restore", json={"ids": [*ids[:3], ids[4]]})
    assert r.status_code == 200 and r.json() == {"restored": 3}  # ids[4] was not in the trash

    # permanent delete: original, rows gone now
    assert call(srv, user_id, "DELETE", f"/api/files/{ids[4]}", params={"permanent": "true"}).status_code == 204
    assert srv.store.read(keys[ids[4]]) is None
    assert get(srv, user_id, f"/api/files/{ids[4]}").status_code == 404
    r = call(srv, user_id, "POST", "/api/files/bulk-purge", json={"ids": [ids[3], str(uuid.uuid4())]})
    assert r.json() == {"purged": 1} and srv.store.read(keys[ids[3]]) is None

    # empty trash: only trashed files go
    call(srv, user_id, "POST", "/api/files/bulk-delete", json={"ids": ids[:2]})
    r = call(srv, user_id, "POST", "/api/trash/empty")
    assert r.status_code == 200 and r.json() == {"purged": 2}
    assert [srv.store.read(keys[i]) for i in ids[:2]] == [None, None]
    assert srv.store.read(keys[ids[2]]) == b"bytes 2"
    assert get(srv, user_id, "/api/files", params={"trashed": "true"}).json()["items"] == []
    assert [i["id"] for i in get(srv, user_id, "/api/files").json()["items"]] == [ids[2]]
    assert call(srv, user_id, "POST", f"/api/files/{uuid.uuid4()}/restore").status_code == 404


def test_batch_zip_uses_display_names_and_skips_trashed(api, user_id):
    srv, _ = api
    kept = upload_bytes(srv, user_id, b"kept", "a.bin")
    trashed = upload_bytes(srv, user_id, b"trashed", "b.bin")
    call(srv, user_id, "PATCH", f"/api/files/{kept}", json={"filename": "Renamed.bin"})
    call(srv, user_id, "DELETE", f"/api/files/{trashed}")
    r = call(srv, user_id, "POST", "/api/files/batch-download", json={"ids": [kept, trashed]})
    assert r.status_code == 200 and r.headers["x-mediagate-missing"] == trashed
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.namelist() == ["Renamed.bin"] and zf.read("Renamed.bin") == b"kept"
    only_trashed = call(srv, user_id, "POST", "/api/files/batch-download", json={"ids": [trashed]})
    assert only_trashed.status_code == 404


def _age_trash(db: str, file_id: str, days: int) -> None:
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE files SET trashed_at = NOW() - make_interval(days => %s) WHERE id = %s", (days, file_id))


def test_local_cleanup_loop_purges_old_trash_with_its_objects(make_server, database_url, user_id):
    """The local server's periodic sweep (the cron trigger's job on Cloudflare) purges files
    trashed longer than TRASH_RETENTION_DAYS: original, derived objects and rows."""
    srv = make_server({"CLEANUP_INTERVAL": "0.5", "TRASH_RETENTION_DAYS": "30"})
    old, recent, live = (upload_bytes(srv, user_id, b"x" * 100, f"{n}.bin") for n in ("old", "recent", "live"))
    for fid in (old, recent):
        derived = srv.data_dir / "store" / "objects" / "derived" / fid / "hls" / "480p" / "seg_00000.m4s"
        derived.parent.mkdir(parents=True)
        derived.write_bytes(b"segment")
        assert call(srv, user_id, "DELETE", f"/api/files/{fid}").status_code == 204
    with psycopg.connect(database_url) as conn:
        keys = dict(conn.execute("SELECT id::text, original_key FROM files WHERE user_id = %s", (user_id,)).fetchall())
    _age_trash(database_url, old, 31)
    _age_trash(database_url, recent, 29)
    deadline = time.monotonic() + 30
    while srv.store.keys(f"derived/{old}/") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert srv.store.keys(f"derived/{old}/") == [] and srv.store.keys(keys[old]) == []
    assert len(srv.store.keys(f"derived/{recent}/")) == 1 and srv.store.keys(keys[recent]) == [keys[recent]]
    assert srv.store.keys(keys[live]) == [keys[live]]
    with psycopg.connect(database_url) as conn:
        left = {r[0] for r in conn.execute("SELECT id::text FROM files WHERE user_id = %s", (user_id,))}
    assert left == {recent, live}


# -- albums -------------------------------------------------------------------------------


def test_albums_members_cover_and_listing(api, user_id):
    srv, db = api
    ids = insert_files(db, user_id, 6)  # ids[0] is the newest
    r = call(srv, user_id, "POST", "/api/albums", json={"name": " Holidays "})
    assert r.status_code == 201, r.text
    album = r.json()
    assert (album["name"], album["file_count"], album["cover_file_id"]) == ("Holidays", 0, None)
    aid = album["id"]
    assert call(srv, user_id, "POST", f"/api/albums/{aid}/files", json={"ids": ids[:4]}).json() == {"added": 4}
    assert call(srv, user_id, "POST", f"/api/albums/{aid}/files", json={"ids": ids[:5]}).json() == {"added": 1}
    other = call(srv, user_id, "POST", "/api/albums", json={"name": "Best"}).json()["id"]
    call(srv, user_id, "POST", f"/api/albums/{other}/files", json={"ids": [ids[0]]})
    assert set(get(srv, user_id, f"/api/files/{ids[0]}").json()["album_ids"]) == {aid, other}

    listed = [i["id"] for i in get(srv, user_id, "/api/files", params={"album": aid}).json()["items"]]
    assert listed == ids[:5]
    by_size = all_pages(srv, user_id, {"album": aid, "sort": "size", "order": "asc"}, limit=2)
    assert [i["id"] for i in by_size] == sorted(ids[:5], key=lambda i: ids.index(i))  # sizes grow with the index
    cover = get(srv, user_id, f"/api/albums/{aid}").json()
    assert cover["file_count"] == 5 and cover["cover_file_id"] is None

    call(srv, user_id, "DELETE", f"/api/files/{ids[1]}")  # trashed: not listed, not counted
    assert ids[1] not in [i["id"] for i in get(srv, user_id, "/api/files", params={"album": aid}).json()["items"]]
    assert get(srv, user_id, f"/api/albums/{aid}").json()["file_count"] == 4

    r = call(srv, user_id, "PATCH", f"/api/albums/{aid}", json={"cover_file_id": ids[2], "name": "Summer"})
    assert r.status_code == 200 and (r.json()["cover_file_id"], r.json()["name"]) == (ids[2], "Summer")
    not_member = call(srv, user_id, "PATCH", f"/api/albums/{aid}", json={"cover_file_id": ids[5]})
    assert not_member.status_code == 404
    for bad in ({"name": ""}, {"cover_file_id": "x"}, {"colour": "red"}, {}):
        assert call(srv, user_id, "PATCH", f"/api/albums/{aid}", json=bad).status_code == 422, bad
    removed = call(srv, user_id, "POST", f"/api/albums/{aid}/files/remove", json={"ids": [ids[2], ids[5]]})
    assert removed.json() == {"removed": 1}
    assert get(srv, user_id, f"/api/albums/{aid}").json()["cover_file_id"] is None  # the cover left the album

    page = get(srv, user_id, "/api/albums", params={"limit": 1}).json()
    assert [a["id"] for a in page["items"]] == [other] and page["next_cursor"]
    rest = get(srv, user_id, "/api/albums", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert [a["id"] for a in rest["items"]] == [aid] and rest["next_cursor"] is None
    assert call(srv, user_id, "DELETE", f"/api/albums/{aid}").status_code == 204
    assert get(srv, user_id, f"/api/albums/{aid}").status_code == 404
    assert get(srv, user_id, f"/api/files/{ids[0]}").json()["album_ids"] == [other]  # files stay
    too_many = call(srv, user_id, "POST", f"/api/albums/{other}/files", json={"ids": [str(uuid.uuid4())] * 501})
    assert too_many.status_code == 422


# -- share links ---------------------------------------------------------------------------

PUBLIC_KEYS = {
    "id", "filename", "name", "file_type", "type", "mime_type", "file_size", "size", "created_at", "taken_at",
    "processing_status", "playable", "direct_play", "placeholder", "width", "height", "duration", "preview_url",
    "thumbnail_url", "hls_url", "poster_url", "storyboard_url", "download_url",
}  # fmt: skip


def _share(srv, user: str, **body) -> dict:
    r = call(srv, user, "POST", "/api/shares", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_file_share_page_views_download_and_revoke(api, user_id):
    srv, _ = api
    fid = upload_bytes(srv, user_id, b"shared original", "Secret name.bin")
    share = _share(srv, user_id, file_id=fid, allow_download=True)
    assert share["kind"] == "file" and share["target_id"] == fid and share["url"].endswith(f"/#/s/{share['token']}")
    assert share["expires_at"] and share["views"] == 0 and share["revoked_at"] is None
    page = httpx.get(f"{srv.url}/api/public/shares/{share['token']}")
    assert page.status_code == 200, page.text
    body = page.json()
    assert (body["kind"], body["name"], body["allow_download"], body["album"]) == (
        "file",
        "Secret name.bin",
        True,
        None,
    )
    item = body["file"]
    assert set(item) <= PUBLIC_KEYS and item["id"] == fid
    text = page.text
    assert user_id not in text and "originals/" not in text and "original_key" not in text
    download = httpx.get(item["download_url"])
    assert download.status_code == 200 and download.content == b"shared original"
    httpx.get(f"{srv.url}/api/public/shares/{share['token']}")
    listed = call(srv, user_id, "GET", "/api/shares", params={"file_id": fid}).json()["items"]
    assert [s["id"] for s in listed] == [share["id"]] and listed[0]["views"] == 2
    one = httpx.get(f"{srv.url}/api/public/shares/{share['token']}/files/{fid}")
    assert one.status_code == 200 and one.json()["id"] == fid

    assert call(srv, user_id, "DELETE", f"/api/shares/{share['id']}").status_code == 204
    assert call(srv, user_id, "DELETE", f"/api/shares/{share['id']}").status_code == 204  # idempotent
    for url in (
        f"{srv.url}/api/public/shares/{share['token']}",
        f"{srv.url}/api/public/shares/{share['token']}/files",
        f"{srv.url}/api/public/shares/{share['token']}/files/{fid}",
        item["download_url"],
    ):
        r = httpx.get(url)
        assert r.status_code == 404, url
        assert r.json()["error"]
    # the owner's own link is not bound to the share and keeps working
    mine = get(srv, user_id, f"/api/files/{fid}/download", headers={"X-Mediagate-Region": "apac"}).json()["url"]
    assert httpx.get(mine).content == b"shared original"


def test_share_without_download_expiry_and_trashed_target(api, user_id):
    srv, db = api
    fid = upload_bytes(srv, user_id, b"view only", "v.bin")
    share = _share(srv, user_id, file_id=fid)
    assert share["allow_download"] is False
    item = httpx.get(f"{srv.url}/api/public/shares/{share['token']}").json()["file"]
    assert "download_url" not in item
    never = _share(srv, user_id, file_id=fid, expires_in_seconds=None)
    assert never["expires_at"] is None
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE shares SET expires_at = NOW() - interval '1 second' WHERE id = %s", (share["id"],))
    assert httpx.get(f"{srv.url}/api/public/shares/{share['token']}").status_code == 404
    assert httpx.get(f"{srv.url}/api/public/shares/{never['token']}").status_code == 200
    call(srv, user_id, "DELETE", f"/api/files/{fid}")  # trashed: the share is gone at once
    assert httpx.get(f"{srv.url}/api/public/shares/{never['token']}").status_code == 404
    call(srv, user_id, "POST", f"/api/files/{fid}/restore")
    assert httpx.get(f"{srv.url}/api/public/shares/{never['token']}").status_code == 200
    assert httpx.get(f"{srv.url}/api/public/shares/{'x' * 32}").status_code == 404
    for bad in (
        {},
        {"file_id": fid, "album_id": fid},
        {"file_id": "nope"},
        {"file_id": fid, "expires_in_seconds": 59},
        {"file_id": fid, "expires_in_seconds": 31536001},
        {"file_id": fid, "expires_in_seconds": "60"},
        {"file_id": fid, "allow_download": "yes"},
        {"file_id": fid, "password": "x"},
    ):
        r = call(srv, user_id, "POST", "/api/shares", json=bad)
        assert r.status_code == 422, bad
    assert call(srv, user_id, "POST", "/api/shares", json={"file_id": str(uuid.uuid4())}).status_code == 404


def test_album_share_lists_only_live_members(api, user_id):
    srv, db = api
    ids = insert_files(db, user_id, 5)
    outsider = insert_files(db, user_id, 1)[0]
    aid = call(srv, user_id, "POST", "/api/albums", json={"name": "Trip"}).json()["id"]
    call(srv, user_id, "POST", f"/api/albums/{aid}/files", json={"ids": ids})
    share = _share(srv, user_id, album_id=aid, expires_in_seconds=3600)
    body = httpx.get(f"{srv.url}/api/public/shares/{share['token']}").json()
    assert (body["kind"], body["name"], body["album"], body["file"]) == (
        "album",
        "Trip",
        {"name": "Trip", "file_count": 5},
        None,
    )
    listed = all_pages(srv, None, {"sort": "name", "order": "asc"}, limit=2,
                       path=f"/api/public/shares/{share['token']}/files", token=False)  # fmt: skip
    assert sorted(i["id"] for i in listed) == sorted(ids)
    assert all(set(i) <= PUBLIC_KEYS and "download_url" not in i for i in listed)
    base = f"{srv.url}/api/public/shares/{share['token']}/files"
    assert httpx.get(f"{base}/{ids[0]}").status_code == 200
    assert httpx.get(f"{base}/{outsider}").status_code == 404
    call(srv, user_id, "DELETE", f"/api/files/{ids[0]}")
    assert httpx.get(f"{base}/{ids[0]}").status_code == 404
    assert ids[0] not in [i["id"] for i in httpx.get(base).json()["items"]]
    assert httpx.get(base, params={"sort": "colour"}).status_code == 400
    call(srv, user_id, "DELETE", f"/api/albums/{aid}")
    assert httpx.get(base).status_code == 404


def test_revoking_stops_previously_handed_out_hls_and_preview_links(api, user_id):
    """Local: derived objects planted on disk, as the processor leaves them."""
    srv, db = api
    [fid] = insert_files(db, user_id, 1, file_type="video", name="clip.mp4")
    prefix = f"derived/{fid}/"
    root = srv.data_dir / "store" / "objects" / prefix
    (root / "hls" / "480p").mkdir(parents=True)
    (root / "hls" / "master.m3u8").write_text("#EXTM3U\n")
    (root / "hls" / "480p" / "seg_00000.m4s").write_bytes(b"\0" * 64)
    (root / "preview").mkdir()
    (root / "preview" / "poster.webp").write_bytes(b"poster")
    storyboard = {"vtt": "storyboard/board.vtt"}
    (root / "storyboard").mkdir()
    (root / "storyboard" / "board.vtt").write_text("WEBVTT\n")
    with psycopg.connect(db) as conn:
        conn.execute(
            """UPDATE files SET hls_playlist_key = %s, preview_key = %s, mime_type = 'video/mp4',
                 metadata = jsonb_build_object('media', %s::jsonb) WHERE id = %s""",
            (prefix + "hls/master.m3u8", prefix + "preview/poster.webp", json.dumps({"storyboard": storyboard}), fid),
        )
    share = _share(srv, user_id, file_id=fid)
    item = httpx.get(f"{srv.url}/api/public/shares/{share['token']}").json()["file"]
    segment = item["hls_url"].replace("master.m3u8", "480p/seg_00000.m4s")
    links = [item["hls_url"], segment, item["preview_url"], item["poster_url"], item["storyboard_url"]]
    assert [httpx.get(u).status_code for u in links] == [200] * 5
    assert httpx.get(item["preview_url"]).content == b"poster"
    call(srv, user_id, "DELETE", f"/api/shares/{share['id']}")
    assert [httpx.get(u).status_code for u in links] == [404] * 5


# -- isolation -----------------------------------------------------------------------------


def test_isolation_matrix_for_organize_endpoints(api, user_id):
    """User B gets a 404 for everything of user A's, and changes nothing."""
    srv, _ = api
    fid = upload_bytes(srv, user_id, b"a's bytes", "a.bin")
    aid = call(srv, user_id, "POST", "/api/albums", json={"name": "A's"}).json()["id"]
    call(srv, user_id, "POST", f"/api/albums/{aid}/files", json={"ids": [fid]})
    sid = _share(srv, user_id, file_id=fid)["id"]
    b = str(uuid.uuid4())
    own_album = call(srv, b, "POST", "/api/albums", json={"name": "B's"}).json()["id"]
    for method, path, body in [
        ("PATCH", f"/api/files/{fid}", {"filename": "pwned"}),
        ("POST", f"/api/files/{fid}/restore", None),
        ("DELETE", f"/api/files/{fid}?permanent=true", None),
        ("GET", f"/api/files?album={aid}", None),
        ("GET", f"/api/albums/{aid}", None),
        ("PATCH", f"/api/albums/{aid}", {"name": "pwned"}),
        ("DELETE", f"/api/albums/{aid}", None),
        ("POST", f"/api/albums/{aid}/files", {"ids": [fid]}),
        ("POST", f"/api/albums/{aid}/files/remove", {"ids": [fid]}),
        ("POST", f"/api/albums/{own_album}/files", {"ids": [fid]}),
        ("POST", "/api/shares", {"file_id": fid}),
        ("POST", "/api/shares", {"album_id": aid}),
        ("DELETE", f"/api/shares/{sid}", None),
    ]:
        r = call(srv, b, method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]
    assert call(srv, b, "POST", "/api/files/bulk-restore", json={"ids": [fid]}).json() == {"restored": 0}
    assert call(srv, b, "POST", "/api/files/bulk-purge", json={"ids": [fid]}).json() == {"purged": 0}
    assert call(srv, b, "POST", "/api/trash/empty").json() == {"purged": 0}
    assert call(srv, b, "GET", "/api/shares", params={"file_id": fid}).json() == {"items": []}
    assert call(srv, b, "GET", "/api/albums").json()["items"][0]["id"] == own_album
    assert call(srv, b, "GET", "/api/files/facets").json() == {"camera_makes": [], "camera_models": [], "lenses": []}
    assert get(srv, b, "/api/files", params={"trashed": "true"}).json()["items"] == []
    # A's things are untouched
    item = get(srv, user_id, f"/api/files/{fid}").json()
    assert item["filename"] == "a.bin" and item["album_ids"] == [aid]
    assert get(srv, user_id, f"/api/albums/{aid}").json()["name"] == "A's"
    assert get(srv, user_id, "/api/shares").json()["items"][0]["revoked_at"] is None
    assert get(srv, b, f"/api/files?album={own_album}").json()["items"] == []


def test_organize_endpoints_need_a_token(api):
    srv, _ = api
    some = str(uuid.uuid4())
    for method, path in [
        ("PATCH", f"/api/files/{some}"),
        ("GET", "/api/files/facets"),
        ("POST", f"/api/files/{some}/restore"),
        ("POST", "/api/files/bulk-restore"),
        ("POST", "/api/files/bulk-purge"),
        ("POST", "/api/trash/empty"),
        ("GET", "/api/albums"),
        ("POST", "/api/albums"),
        ("GET", f"/api/albums/{some}"),
        ("PATCH", f"/api/albums/{some}"),
        ("DELETE", f"/api/albums/{some}"),
        ("POST", f"/api/albums/{some}/files"),
        ("POST", f"/api/albums/{some}/files/remove"),
        ("GET", "/api/shares"),
        ("POST", "/api/shares"),
        ("DELETE", f"/api/shares/{some}"),
    ]:
        assert httpx.request(method, srv.url + path).status_code == 401, (method, path)


# -- album listing: migration 009's copied sort keys -----------------------------------

_TRUTH = ("id", "created_at", "filename", "file_size", "taken_at", "file_type", "processing_status", "favourite",
          "camera_make", "camera_model", "lens", "trashed_at")  # fmt: skip
_COPIED = _TRUTH[1:]


def _files(db: str, ids: list[str]) -> list[dict]:
    """The files' own rows (the truth the album's copies must follow)."""
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            f"SELECT id::text, {', '.join(_TRUTH[1:])} FROM files WHERE id::text = ANY(%s)", (ids,)
        ).fetchall()
    return [dict(zip(_TRUTH, r, strict=True)) for r in rows]


def _copies_match(db: str, album: str) -> None:
    """Every membership row carries exactly its file's current values."""
    cols = ", ".join(_COPIED)
    with psycopg.connect(db) as conn:
        stale = conn.execute(
            f"""SELECT af.file_id::text FROM album_files af JOIN files f ON f.id = af.file_id
                WHERE af.album_id = %s AND ({", ".join("af." + c for c in _COPIED)})
                      IS DISTINCT FROM ({", ".join("f." + c for c in _COPIED)})""",
            (album,),
        ).fetchall()
        n = conn.execute("SELECT count(*) FROM album_files WHERE album_id = %s AND filename IS NULL", (album,))
        assert stale == [] and n.fetchone()[0] == 0, (cols, stale)


def _album_in_every_order(srv, db: str, user: str, album: str, members: set[str]) -> None:
    """Every sort, both directions, paged by keyset 3 at a time: the live members sorted in Python."""
    _copies_match(db, album)
    live = [r for r in _files(db, sorted(members)) if r["trashed_at"] is None]
    for sort in SORTS:
        for order in ("desc", "asc"):
            got = [i["id"] for i in all_pages(srv, user, {"album": album, "sort": sort, "order": order}, limit=3)]
            assert got == _expected(live, sort, order), (sort, order)


def _complete_with_taken_at(db: str, file_id: str, taken_at: str) -> None:
    """taken_at written the way the processor records it (FileStatus.complete)."""
    import asyncio

    from mediagate.adapters.local.postgres import PostgresDatabase
    from mediagate.file_status import FileStatus

    async def run() -> None:
        database = PostgresDatabase(db)
        await database.open()
        try:
            done = await FileStatus(database).complete(
                str(uuid.uuid4()), file_id, {"thumbnail_key": "t", "preview_key": "p"},
                camera={"taken_at": taken_at, "camera_make": "Fujifilm", "camera_model": "X-T5", "lens": None},
            )  # fmt: skip
            assert done
        finally:
            await database.close()

    asyncio.run(run())


def test_album_listing_in_every_order_follows_every_change_to_its_files(api, user_id):
    """An album page reads the sort keys copied into album_files (migration 009): every sort
    and direction pages like the same files sorted in Python, and keeps doing so after a
    rename, a taken_at recorded by the processor, trash, restore, removal and a purge."""
    srv, db = api
    ids = insert_files(db, user_id, 24)
    with psycopg.connect(db) as conn:
        for i, fid in enumerate(ids):  # ties on every key, a quarter of the files undated
            taken = None if i % 4 == 0 else datetime(2020, 1, 1) + timedelta(hours=i // 3)
            conn.execute(
                """UPDATE files SET created_at = '2024-01-01'::timestamp + make_interval(mins => %s),
                     file_size = %s, filename = %s, taken_at = %s WHERE id = %s""",
                (i // 3, 100 + i // 3, f"{'AB'[i % 2]}name{i // 3:02d}.jpg", taken, fid),
            )
    album = call(srv, user_id, "POST", "/api/albums", json={"name": "Sorted"}).json()["id"]
    members = set(ids[:20])  # ids[20:] are not in the album
    assert call(srv, user_id, "POST", f"/api/albums/{album}/files", json={"ids": ids[:20]}).json() == {"added": 20}
    _album_in_every_order(srv, db, user_id, album, members)

    renamed = call(srv, user_id, "PATCH", f"/api/files/{ids[5]}", json={"filename": "aaa first.jpg"})
    assert renamed.status_code == 200
    call(srv, user_id, "PATCH", f"/api/files/{ids[6]}", json={"filename": "ZZZ last.jpg", "favourite": True})
    _album_in_every_order(srv, db, user_id, album, members)
    by_name = get(srv, user_id, "/api/files", params={"album": album, "sort": "name", "order": "asc"}).json()
    assert by_name["items"][0]["id"] == ids[5] and by_name["items"][-1]["id"] == ids[6]

    _complete_with_taken_at(db, ids[0], "1999-12-31 23:59:00")  # was undated: now the oldest
    _complete_with_taken_at(db, ids[7], "2030-01-01 00:00:00")  # now the newest
    _album_in_every_order(srv, db, user_id, album, members)
    by_taken = get(srv, user_id, "/api/files", params={"album": album, "sort": "taken"}).json()["items"]
    assert by_taken[0]["id"] == ids[7]
    oldest = get(srv, user_id, "/api/files", params={"album": album, "sort": "taken", "order": "asc"}).json()
    assert oldest["items"][0]["id"] == ids[0]
    fuji = get(srv, user_id, "/api/files", params={"album": album, "camera_model": "X-T5"}).json()["items"]
    assert [i["id"] for i in fuji] == [ids[7], ids[0]]  # the camera came with taken_at

    assert call(srv, user_id, "POST", "/api/files/bulk-delete", json={"ids": ids[1:4]}).json()["trashed"] == 3
    _album_in_every_order(srv, db, user_id, album, members)
    trashed = all_pages(srv, user_id, {"album": album, "trashed": "true"}, limit=2)
    assert sorted(i["id"] for i in trashed) == sorted(ids[1:4])
    assert call(srv, user_id, "POST", f"/api/files/{ids[2]}/restore").status_code == 200
    _album_in_every_order(srv, db, user_id, album, members)

    removed = call(srv, user_id, "POST", f"/api/albums/{album}/files/remove", json={"ids": [ids[8], ids[9]]})
    assert removed.json() == {"removed": 2}
    members -= {ids[8], ids[9]}
    _album_in_every_order(srv, db, user_id, album, members)

    assert call(srv, user_id, "DELETE", f"/api/files/{ids[10]}", params={"permanent": "true"}).status_code == 204
    assert call(srv, user_id, "POST", "/api/files/bulk-purge", json={"ids": [ids[1]]}).json() == {"purged": 1}
    members -= {ids[10], ids[1]}
    _album_in_every_order(srv, db, user_id, album, members)
    assert call(srv, user_id, "POST", f"/api/albums/{album}/files", json={"ids": [ids[8]]}).json() == {"added": 1}
    members.add(ids[8])
    _album_in_every_order(srv, db, user_id, album, members)
    assert get(srv, user_id, f"/api/albums/{album}").json()["file_count"] == len(members) - 1  # ids[3] in the trash


def test_album_cover_is_the_chosen_live_file_else_the_newest_live_one(api, user_id):
    srv, db = api
    ids = insert_files(db, user_id, 4)  # ids[0] is the newest
    for i, fid in enumerate(ids):
        set_columns(db, fid, thumbnail_key=f"derived/{fid}/thumb_{i}.webp")
    album = call(srv, user_id, "POST", "/api/albums", json={"name": "Covers"}).json()["id"]
    call(srv, user_id, "POST", f"/api/albums/{album}/files", json={"ids": ids})

    def cover() -> str | None:
        url = get(srv, user_id, f"/api/albums/{album}").json()["cover_thumbnail_url"]
        return url and url.rsplit("/", 1)[1]

    assert cover() == "thumb_0.webp"
    call(srv, user_id, "DELETE", f"/api/files/{ids[0]}")
    assert cover() == "thumb_1.webp"  # the newest live member
    call(srv, user_id, "PATCH", f"/api/albums/{album}", json={"cover_file_id": ids[3]})
    assert cover() == "thumb_3.webp"
    call(srv, user_id, "DELETE", f"/api/files/{ids[3]}")
    assert cover() == "thumb_1.webp"  # the chosen one is in the trash
    call(srv, user_id, "POST", f"/api/files/{ids[3]}/restore")
    assert cover() == "thumb_3.webp"
    call(srv, user_id, "POST", "/api/files/bulk-delete", json={"ids": ids})
    assert cover() is None and get(srv, user_id, f"/api/albums/{album}").json()["file_count"] == 0


def test_filters_inside_an_album(api, user_id):
    """Type, status, favourite, camera, lens, date range, name search and the trash, applied
    to an album: the album's members that match, in order, and never a non-member."""
    srv, db = api
    ids = insert_files(db, user_id, 16)
    with psycopg.connect(db) as conn:
        for i, fid in enumerate(ids):
            conn.execute(
                """UPDATE files SET file_type = %s, processing_status = %s, favourite = %s, camera_make = %s,
                     camera_model = %s, lens = %s, taken_at = %s, filename = %s WHERE id = %s""",
                (
                    ("image", "video", "other")[i % 3],
                    "completed" if i % 4 else "failed",
                    i % 5 == 0,
                    ("Canon", "Nikon", None)[i % 3],
                    f"M{i % 2}",
                    "L1" if i % 6 == 0 else None,
                    None if i % 7 == 0 else datetime(2023, 1 + i % 3, 10, 12),
                    f"{'beach' if i % 2 else 'city'}_{i:02d}.jpg",
                    fid,
                ),
            )
    album = call(srv, user_id, "POST", "/api/albums", json={"name": "Filtered"}).json()["id"]
    members = ids[:12]
    call(srv, user_id, "POST", f"/api/albums/{album}/files", json={"ids": members})
    call(srv, user_id, "POST", "/api/files/bulk-delete", json={"ids": [ids[3]]})
    rows = _files(db, members)
    cases = [
        ({"type": "video"}, lambda r: r["file_type"] == "video"),
        ({"status": "failed"}, lambda r: r["processing_status"] == "failed"),
        ({"favourite": "true"}, lambda r: r["favourite"]),
        ({"camera_make": "Canon"}, lambda r: r["camera_make"] == "Canon"),
        ({"camera_model": "M1"}, lambda r: r["camera_model"] == "M1"),
        ({"lens": "L1"}, lambda r: r["lens"] == "L1"),
        ({"q": "beach"}, lambda r: "beach" in r["filename"]),
        ({"taken_from": "2023-02-01", "taken_to": "2023-02-28"},
         lambda r: r["taken_at"] is not None and r["taken_at"].month == 2),
        ({"type": "image", "camera_make": "Canon"}, lambda r: r["file_type"] == "image" and r["camera_make"] == "Canon"),
    ]  # fmt: skip
    for params, keep in cases:
        live = [r for r in rows if r["trashed_at"] is None and keep(r)]
        assert live, params  # each case selects something
        for sort, order in (("uploaded", "desc"), ("taken", "asc"), ("name", "asc"), ("size", "desc")):
            query = {"album": album, "sort": sort, "order": order, **params}
            got = [i["id"] for i in all_pages(srv, user_id, query, limit=2)]
            assert got == _expected(live, sort, order), (params, sort, order)
    trash = [i["id"] for i in all_pages(srv, user_id, {"album": album, "trashed": "true"})]
    assert trash == [ids[3]]
    outside = [i["id"] for i in all_pages(srv, user_id, {"album": album, "camera_make": "Nikon"})]
    assert set(outside) <= set(members) and ids[13] not in outside  # ids[13] is a Nikon outside the album


@pytest.mark.parametrize("first", ["add", "rename"])
def test_album_copies_survive_a_rename_racing_the_add(api, user_id, first):
    """A file renamed while it is being added to an album (two open transactions, either one
    first): whichever commits last, the membership ends up with the new name."""
    import threading

    srv, db = api
    (fid,) = insert_files(db, user_id, 1, name="before.jpg")
    album = call(srv, user_id, "POST", "/api/albums", json={"name": "Race"}).json()["id"]
    add = "INSERT INTO album_files (album_id, file_id) VALUES (%s, %s)", (album, fid)
    rename = "UPDATE files SET filename = 'after.jpg' WHERE id = %s", (fid,)
    holder, waiter = (add, rename) if first == "add" else (rename, add)
    with psycopg.connect(db) as one, psycopg.connect(db) as two:
        one.execute(*holder)  # open transaction: holds its row lock
        done = threading.Event()

        def second() -> None:
            two.execute(*waiter)  # waits for the first to commit
            two.commit()
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(0.5), "the second write did not wait for the first"
        one.commit()
        thread.join(10)
        assert done.is_set()
    _copies_match(db, album)
    assert [i["filename"] for i in get(srv, user_id, "/api/files", params={"album": album}).json()["items"]] == [
        "after.jpg"
    ]


def test_migration_009_backfills_album_copies_idempotently(api, user_id):
    """Memberships made before migration 009 (no copies) get them when it runs; running it
    again changes nothing."""
    from pathlib import Path

    srv, db = api
    ids = insert_files(db, user_id, 5)
    album = call(srv, user_id, "POST", "/api/albums", json={"name": "Old"}).json()["id"]
    call(srv, user_id, "POST", f"/api/albums/{album}/files", json={"ids": ids})
    cleared = ", ".join(f"{c} = NULL" for c in _COPIED)
    sql = (Path(__file__).resolve().parents[1] / "migrations" / "009_album_sort_keys.sql").read_text()
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f"UPDATE album_files SET {cleared} WHERE album_id = %s", (album,))
        conn.execute(sql)
        _copies_match(db, album)
        conn.execute(sql)
        _copies_match(db, album)
    _album_in_every_order(srv, db, user_id, album, set(ids))
