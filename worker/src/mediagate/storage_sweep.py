"""Collect stored objects nothing refers to any more: a crash's leftovers and lost deletes.

Kills and failed requests can leave objects behind that no code path will delete: a
staged remainder written just before a kill (the row never listed it), the assembled
original of an upload terminated mid-completion, the original and outputs of a file
whose row was deleted by a request that died before deleting its objects, a multipart
upload created just before a kill (no row names it). The sweep pages through
``staging/``, ``originals/`` and ``derived/`` (with the ``ObjectLister`` ability) and,
where the store can list them, multipart uploads (``MultipartLister``), and deletes what
no row refers to.

Never deleting something in use is the whole point, so an object goes only when both
hold:

* it is older than the grace period (``STORAGE_SWEEP_GRACE_SECONDS``, an hour by
  default): anything a request is writing right now, or an original whose row is being
  written, is younger than that;
* the rows say nothing needs it, checked after listing, in one statement per page:

  - ``originals/<user>/<upload>``: no files row has it as ``original_key`` and no upload
    row names it that is still active, completing, or completed without its files row
    (the cleanup will write that row);
  - ``derived/<file id>/...``: no files row with that id (a running job's outputs belong
    to an existing file; once the file is deleted they are garbage too);
  - ``staging/<upload>/<offset>``: the upload is not active, or it is active, does not
    list the key among its staged chunks and no request holds its lock;
  - a multipart upload: no active or completing upload row names its id.

Work per run is bounded ("rate-limited"): at most ``STORAGE_SWEEP_BATCH`` objects are
examined per prefix per run (one list page, one delete call), and the listing resumes
from a cursor kept in ``storage_sweep_cursors``, so a huge bucket is covered over many
runs of the cron trigger (every 15 minutes) or the local cleanup loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ports import Clock, Database, MultipartLister, ObjectLister, ObjectStore

PREFIXES = ("staging/", "originals/", "derived/")
LIST_LIMIT = 1000  # R2's list and delete both take at most 1000 keys

_UUID = "'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'"

# Each query gets the page's keys ($1) and answers the ones still referenced.
_REFERENCED = {
    "originals/": """
        SELECT k FROM unnest($1::text[]) AS k
        WHERE EXISTS (SELECT 1 FROM files f WHERE f.original_key = k)
           OR EXISTS (SELECT 1 FROM uploads u WHERE u.object_key = k
                      AND (u.state IN ('active', 'completing') OR (u.state = 'completed' AND u.file_id IS NULL)))""",
    "derived/": f"""
        SELECT k FROM unnest($1::text[]) AS k
        WHERE split_part(k, '/', 2) ~ {_UUID}
          AND EXISTS (SELECT 1 FROM files f WHERE f.id = split_part(k, '/', 2)::uuid)""",
    "staging/": """
        SELECT k FROM unnest($1::text[]) AS k
        WHERE EXISTS (SELECT 1 FROM uploads u WHERE u.id = split_part(k, '/', 2) AND u.state = 'active'
                      AND (u.staged @> jsonb_build_array(jsonb_build_object('key', k))
                           OR (u.lock_token IS NOT NULL
                               AND u.lock_heartbeat > to_timestamp($2::float8) - make_interval(secs => $3::float8))))""",
}


@dataclass
class SweepResult:
    examined: int = 0
    deleted: int = 0
    aborted: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"swept_examined": self.examined, "swept_deleted": self.deleted, "swept_aborted": self.aborted}


class StorageSweep:
    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        clock: Clock,
        *,
        lister: ObjectLister | None,
        multipart_lister: MultipartLister | None,
        grace_seconds: float,
        batch: int,
        lock_stale_seconds: float,
    ) -> None:
        self.db = db
        self.store = store
        self.clock = clock
        self.lister = lister
        self.multipart_lister = multipart_lister
        self.grace_seconds = grace_seconds
        self.batch = max(0, min(batch, LIST_LIMIT))
        self.lock_stale_seconds = lock_stale_seconds

    async def run(self) -> SweepResult:
        """One bounded pass: a page per prefix, then the oldest multipart uploads."""
        result = SweepResult()
        if self.batch == 0:
            return result
        if self.lister is not None:
            for prefix in PREFIXES:
                await self._sweep_page(prefix, result)
        if self.multipart_lister is not None:
            await self._sweep_multipart(result)
        return result

    async def _sweep_page(self, prefix: str, result: SweepResult) -> None:
        assert self.lister is not None
        cursor = await self._cursor(prefix)
        page = await self.lister.list_objects(prefix, cursor=cursor, limit=self.batch)
        result.examined += len(page.objects)
        now = self.clock.now()
        old = [o.key for o in page.objects if o.uploaded < now - self.grace_seconds]
        if old:
            params: list[object] = [old]
            if prefix == "staging/":
                params += [now, self.lock_stale_seconds]
            rows = await self.db.fetch(_REFERENCED[prefix], *params)
            keep = {r["k"] for r in rows}
            garbage = [k for k in old if k not in keep]
            if garbage:
                await self.store.delete(garbage)
                result.deleted += len(garbage)
        await self._save_cursor(prefix, page.cursor)

    async def _sweep_multipart(self, result: SweepResult) -> None:
        assert self.multipart_lister is not None
        now = self.clock.now()
        uploads = [
            u
            for u in await self.multipart_lister.list_multipart_uploads(limit=self.batch)
            if u.initiated < now - self.grace_seconds
        ]
        if not uploads:
            return
        rows = await self.db.fetch(
            """SELECT multipart_id FROM uploads
               WHERE multipart_id = ANY($1::text[]) AND state IN ('active', 'completing')""",
            [u.upload_id for u in uploads],
        )
        keep = {r["multipart_id"] for r in rows}
        for u in uploads:
            if u.upload_id not in keep:
                await self.store.abort_multipart(u.key, u.upload_id)
                result.aborted += 1

    async def _cursor(self, prefix: str) -> str | None:
        rows = await self.db.fetch("SELECT cursor FROM storage_sweep_cursors WHERE prefix = $1", prefix)
        return rows[0]["cursor"] if rows else None

    async def _save_cursor(self, prefix: str, cursor: str | None) -> None:
        """Where the next run goes on; None starts the prefix over."""
        await self.db.execute(
            """INSERT INTO storage_sweep_cursors (prefix, cursor, updated_at) VALUES ($1, $2, now())
               ON CONFLICT (prefix) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = EXCLUDED.updated_at""",
            prefix,
            cursor,
        )
