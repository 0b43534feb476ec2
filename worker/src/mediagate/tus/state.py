"""Durable upload state on the Database port, changed only by single atomic statements.

A PATCH takes a lease-style lock (``lock_token`` + ``lock_heartbeat``); a lock whose
heartbeat is older than the stale limit is taken over, so a crashed server never blocks
an upload for long. Progress is committed only while holding the lock and only from the
offset the writer started at, so two writers can never both advance an upload.

States: ``active`` (receiving bytes) -> ``completing`` (every byte is in a committed part;
the part list is the intent to assemble) -> ``completed`` (the object is assembled;
``file_id`` is set once the files row is written). ``expired`` and ``terminated`` end an
upload that never completed. See :mod:`.completion` for why ``completing`` exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..ports import Database, Row, json_value


@dataclass
class StagedChunk:
    key: str
    size: int


@dataclass
class Part:
    number: int
    etag: str
    size: int


@dataclass
class UploadState:
    id: str
    user_id: str
    length: int | None
    offset: int
    metadata: dict[str, str]
    object_key: str
    multipart_id: str | None
    part_size: int
    expires_at: float
    parts: list[Part] = field(default_factory=list)
    staged: list[StagedChunk] = field(default_factory=list)
    state: str = "active"
    file_id: str | None = None

    @property
    def staged_size(self) -> int:
        return sum(s.size for s in self.staged)

    @property
    def is_complete(self) -> bool:
        return self.state == "completed"

    @property
    def is_completing(self) -> bool:
        return self.state == "completing"

    @property
    def is_unfinished(self) -> bool:
        """Every byte arrived but the completion steps did not all run (a crash or a failed
        step): the next look at it, or the cleanup sweep, finishes it. That includes an
        ``active`` upload holding all its bytes: a kill right after the commit of a part
        that ended exactly at the length, or inside the creation of an empty upload, or a
        body whose declared length was not all sent though every byte was; a client that
        sees offset == length never sends another PATCH."""
        if self.state == "active":
            return self.length is not None and self.offset == self.length
        return self.state == "completing" or (self.state == "completed" and self.file_id is None)


def _from_row(row: Row) -> UploadState:
    return UploadState(
        id=row["id"],
        user_id=str(row["user_id"]),
        length=None if row["upload_length"] is None else int(row["upload_length"]),
        offset=int(row["upload_offset"]),
        metadata=json_value(row["metadata"]) or {},
        object_key=row["object_key"],
        multipart_id=row["multipart_id"],
        part_size=int(row["part_size"]),
        expires_at=float(row["expires_epoch"]),
        parts=[Part(int(p["n"]), p["etag"], int(p["size"])) for p in json_value(row["parts"]) or []],
        staged=[StagedChunk(s["key"], int(s["size"])) for s in json_value(row["staged"]) or []],
        state=row["state"],
        file_id=None if row["file_id"] is None else str(row["file_id"]),
    )


def _parts_json(parts: list[Part]) -> str:
    return json.dumps([{"n": p.number, "etag": p.etag, "size": p.size} for p in parts])


def _staged_json(staged: list[StagedChunk]) -> str:
    return json.dumps([{"key": s.key, "size": s.size} for s in staged])


_COLUMNS = """id, user_id::text AS user_id, upload_length, upload_offset, metadata, object_key,
  multipart_id, part_size, parts, staged, state, file_id::text AS file_id,
  extract(epoch FROM expires_at)::float8 AS expires_epoch"""


class UploadRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, s: UploadState) -> None:
        await self.db.execute(
            """INSERT INTO uploads (id, user_id, upload_length, upload_offset, metadata, object_key,
                 multipart_id, part_size, parts, staged, state, expires_at)
               VALUES ($1, $2::uuid, $3::bigint, $4::bigint, $5::jsonb, $6, $7, $8::bigint, $9::jsonb,
                 $10::jsonb, $11, to_timestamp($12::float8))""",
            s.id,
            s.user_id,
            s.length,
            s.offset,
            json.dumps(s.metadata),
            s.object_key,
            s.multipart_id,
            s.part_size,
            _parts_json(s.parts),
            _staged_json(s.staged),
            s.state,
            s.expires_at,
        )

    async def get(self, upload_id: str) -> UploadState | None:
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM uploads WHERE id = $1", upload_id)
        return _from_row(rows[0]) if rows else None

    async def acquire_lock(self, upload_id: str, token: str, now: float, stale_seconds: int) -> UploadState | None:
        """Take the write lock, or take over a stale one. Returns the locked state or None."""
        rows = await self.db.fetch(
            f"""UPDATE uploads SET lock_token = $2, lock_heartbeat = to_timestamp($3::float8)
                WHERE id = $1 AND (lock_token IS NULL
                  OR lock_heartbeat < to_timestamp($3::float8) - make_interval(secs => $4::float8))
                RETURNING {_COLUMNS}""",
            upload_id,
            token,
            now,
            stale_seconds,
        )
        return _from_row(rows[0]) if rows else None

    async def lock_for_append(
        self, upload_id: str, user_id: str, offset: int, token: str, now: float, stale_seconds: int
    ) -> tuple[UploadState | None, bool]:
        """A PATCH's first and only read: take the write lock when the upload can take bytes
        at ``offset`` right now (the owner's, active, not expired, not full, the offset
        matching, the lock free or stale), and return the row either way (``None`` when
        there is none). One round trip instead of a read followed by a lock; a row
        returned unlocked goes through the engine's usual checks, which say why.

        The statement commits without waiting for its WAL flush (``synchronous_commit``
        off for this transaction only): the lock is a lease, and a lock a database crash
        forgot only makes the PATCH's own commit fail (409, the client resumes). Progress
        commits stay synchronous, and a synchronous commit flushes everything before it."""
        rows = await self.db.fetch(
            f"""WITH locked AS (
                  UPDATE uploads SET lock_token = $4, lock_heartbeat = to_timestamp($5::float8)
                  WHERE id = $1 AND user_id = $2::uuid AND upload_offset = $3::bigint AND state = 'active'
                    AND expires_at >= to_timestamp($5::float8)
                    AND (upload_length IS NULL OR upload_offset < upload_length)
                    AND (lock_token IS NULL
                      OR lock_heartbeat < to_timestamp($5::float8) - make_interval(secs => $6::float8))
                    AND set_config('synchronous_commit', 'off', true) IS NOT NULL
                  RETURNING {_COLUMNS}, true AS locked)
                SELECT * FROM locked
                UNION ALL
                SELECT {_COLUMNS}, false AS locked FROM uploads
                WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM locked)""",
            upload_id,
            user_id,
            offset,
            token,
            now,
            stale_seconds,
        )
        if not rows:
            return None, False
        return _from_row(rows[0]), bool(rows[0]["locked"])

    async def heartbeat(self, upload_id: str, token: str, now: float) -> bool:
        n = await self.db.execute(
            "UPDATE uploads SET lock_heartbeat = to_timestamp($3::float8) WHERE id = $1 AND lock_token = $2",
            upload_id,
            token,
            now,
        )
        return n == 1

    async def release_lock(self, upload_id: str, token: str) -> None:
        await self.db.execute(
            "UPDATE uploads SET lock_token = NULL, lock_heartbeat = NULL WHERE id = $1 AND lock_token = $2",
            upload_id,
            token,
        )

    async def commit(self, s: UploadState, *, token: str, from_offset: int, now: float, release: bool = False) -> bool:
        """Persist progress made under the lock. False when the lock or offset moved on.

        ``release`` also gives the lock up in the same statement (a PATCH's last commit:
        one round trip instead of two)."""
        n = await self.db.execute(
            """UPDATE uploads SET upload_offset = $3::bigint, upload_length = $4::bigint,
                 parts = $5::jsonb, staged = $6::jsonb, state = $7, expires_at = to_timestamp($8::float8),
                 lock_heartbeat = CASE WHEN $11::boolean THEN NULL ELSE to_timestamp($9::float8) END,
                 lock_token = CASE WHEN $11::boolean THEN NULL ELSE lock_token END,
                 updated_at = to_timestamp($9::float8)
               WHERE id = $1 AND lock_token = $2 AND upload_offset = $10::bigint""",
            s.id,
            token,
            s.offset,
            s.length,
            _parts_json(s.parts),
            _staged_json(s.staged),
            s.state,
            s.expires_at,
            now,
            from_offset,
            release,
        )
        return n == 1

    async def set_length(self, upload_id: str, length: int) -> bool:
        n = await self.db.execute(
            "UPDATE uploads SET upload_length = $2::bigint WHERE id = $1 AND upload_length IS NULL",
            upload_id,
            length,
        )
        return n == 1

    async def mark_completed(self, upload_id: str, token: str, now: float) -> bool:
        """``completing`` -> ``completed`` once the object is assembled, under the lock."""
        n = await self.db.execute(
            """UPDATE uploads SET state = 'completed', updated_at = to_timestamp($3::float8)
               WHERE id = $1 AND lock_token = $2 AND state = 'completing'""",
            upload_id,
            token,
            now,
        )
        return n == 1

    async def set_file(self, upload_id: str, file_id: str) -> None:
        await self.db.execute("UPDATE uploads SET file_id = $2::uuid WHERE id = $1", upload_id, file_id)

    async def mark(self, upload_id: str, state: str) -> None:
        await self.db.execute("UPDATE uploads SET state = $2, lock_token = NULL WHERE id = $1", upload_id, state)

    async def delete(self, upload_id: str) -> None:
        await self.db.execute("DELETE FROM uploads WHERE id = $1", upload_id)

    async def expired(self, now: float, limit: int = 100) -> list[UploadState]:
        rows = await self.db.fetch(
            f"""SELECT {_COLUMNS} FROM uploads
                WHERE state = 'active' AND expires_at < to_timestamp($1::float8)
                  AND (upload_length IS NULL OR upload_offset < upload_length)  -- full ones are finished instead
                ORDER BY expires_at LIMIT $2::int""",
            now,
            limit,
        )
        return [_from_row(r) for r in rows]

    async def unfinished(self, before: float, limit: int = 100) -> list[UploadState]:
        """Uploads whose completion was interrupted (see ``UploadState.is_unfinished``) and
        that nothing touched since ``before``: a request may be completing a younger one
        right now (an empty upload is 'active' and full between its insert and its lock)."""
        rows = await self.db.fetch(
            f"""SELECT {_COLUMNS} FROM uploads
                WHERE (state = 'completing' OR (state = 'completed' AND file_id IS NULL)
                       OR (state = 'active' AND upload_offset = upload_length))
                  AND updated_at < to_timestamp($1::float8)
                ORDER BY updated_at LIMIT $2::int""",
            before,
            limit,
        )
        return [_from_row(r) for r in rows]
