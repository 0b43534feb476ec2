"""Issue #11 in workerd: the organize API tests against the Worker, Neon-over-HTTP and R2,
and the trash sweep run by the Cloudflare cron trigger (the scheduled handler).

Left out: tests that plant derived objects in the local store or start their own server.
"""

from __future__ import annotations

import httpx
import psycopg
from test_organize_api import *  # noqa: F403 - the same tests, collected again with this folder's `api`
from test_organize_api import call, upload_bytes

del api  # noqa: F821 - the local fixture; this folder's conftest `api` is the workerd stack
del test_local_cleanup_loop_purges_old_trash_with_its_objects  # noqa: F821 - local server loop
del test_revoking_stops_previously_handed_out_hls_and_preview_links  # noqa: F821 - plants files on disk


def _cron(server) -> None:
    r = httpx.get(
        f"{server.url}/cdn-cgi/local/scheduled", params={"cron": "*/15 * * * *", "format": "json"}, timeout=60
    )
    assert r.status_code == 200 and r.json()["outcome"] == "ok", r.text


def test_the_cron_trigger_purges_trash_past_retention(server, user_id):
    """TRASH_RETENTION_DAYS defaults to 30: a file trashed 31 days ago loses its row and its
    original in R2 on the next scheduled run; one trashed yesterday and a live one stay."""
    db = server.env["DATABASE_URL"]
    old, recent, live = (upload_bytes(server, user_id, f"{n} bytes".encode(), f"{n}.bin") for n in ("o", "r", "l"))
    for fid in (old, recent):
        assert call(server, user_id, "DELETE", f"/api/files/{fid}").status_code == 204
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE files SET trashed_at = NOW() - interval '31 days' WHERE id = %s", (old,))
        conn.execute("UPDATE files SET trashed_at = NOW() - interval '1 day' WHERE id = %s", (recent,))
        keys = dict(conn.execute("SELECT id::text, original_key FROM files WHERE user_id = %s", (user_id,)).fetchall())
    assert server.store.keys(keys[old]) == [keys[old]]
    _cron(server)
    assert server.store.keys(keys[old]) == []
    assert server.store.keys(keys[recent]) == [keys[recent]] and server.store.keys(keys[live]) == [keys[live]]
    with psycopg.connect(db) as conn:
        left = {r[0] for r in conn.execute("SELECT id::text FROM files WHERE user_id = %s", (user_id,))}
    assert left == {recent, live}
