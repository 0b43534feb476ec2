"""Albums as the API sees them: one user's albums, their files and covers (all SQL here).

A file may be in many albums; trashed files stay members (restore brings them back) but
are not counted, not listed and never a cover. Membership rows carry copies of their file's
sort keys and trash date (migration 009's triggers keep them), so nothing here scans an album.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..files.cursor import CursorError, decode_cursor, encode_cursor
from ..ports import Database, Row

# The effective cover: the chosen file while it is live, else the album's newest live file.
# Both read the membership rows' copies (migration 009): the count is an index-only scan of
# album_files_live_created_idx and the newest member its first entry, whatever the album's size.
_ALBUM = """SELECT a.id::text AS id, a.name, a.cover_file_id::text AS cover_file_id,
  a.created_at::text AS created_at, a.updated_at::text AS updated_at,
  (SELECT count(*) FROM album_files af WHERE af.album_id = a.id AND af.trashed_at IS NULL) AS file_count,
  c.id AS cover_id, c.thumbnail_key AS cover_thumbnail_key
FROM albums a LEFT JOIN LATERAL (
  SELECT f.id::text AS id, COALESCE(f.thumbnail_key, f.preview_key) AS thumbnail_key
  FROM ((SELECT af.file_id, 0 AS pick FROM album_files af
         WHERE af.album_id = a.id AND af.file_id = a.cover_file_id AND af.trashed_at IS NULL)
        UNION ALL
        (SELECT af.file_id, 1 AS pick FROM album_files af WHERE af.album_id = a.id AND af.trashed_at IS NULL
         ORDER BY af.created_at DESC, af.file_id DESC LIMIT 1)) m
  JOIN files f ON f.id = m.file_id
  ORDER BY m.pick LIMIT 1
) c ON true"""


class AlbumNotFound(LookupError):
    """The album (or a file named with it) is not the user's (HTTP 404)."""


@dataclass(frozen=True)
class AlbumPage:
    items: list[Row]
    next_cursor: str | None


def _normalise(row: Row) -> Row:
    row["file_count"] = int(row["file_count"])
    return row


class AlbumRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, user_id: str, name: str) -> Row:
        rows = await self.db.fetch(
            "INSERT INTO albums (user_id, name) VALUES ($1::uuid, $2) RETURNING id::text AS id", user_id, name
        )
        album = await self.get(user_id, rows[0]["id"])
        assert album is not None
        return album

    async def get(self, user_id: str, album_id: str) -> Row | None:
        rows = await self.db.fetch(f"{_ALBUM} WHERE a.id = $1::uuid AND a.user_id = $2::uuid", album_id, user_id)
        return _normalise(rows[0]) if rows else None

    async def exists(self, user_id: str, album_id: str) -> bool:
        rows = await self.db.fetch(
            "SELECT 1 AS ok FROM albums WHERE id = $1::uuid AND user_id = $2::uuid", album_id, user_id
        )
        return bool(rows)

    async def page(self, user_id: str, limit: int, cursor: str | None) -> AlbumPage:
        """Newest first, keyed on (created_at, id)."""
        params: list[object] = [user_id, limit + 1]
        after = ""
        if cursor:
            position = decode_cursor(cursor)
            params += [position.key, position.file_id]
            after = "AND (a.created_at, a.id) < ($3::timestamp, $4::uuid)"
        rows = await self.db.fetch(
            f"{_ALBUM} WHERE a.user_id = $1::uuid {after} ORDER BY a.created_at DESC, a.id DESC LIMIT $2::int",
            *params,
        )
        items = [_normalise(r) for r in rows[:limit]]
        more = len(rows) > limit
        return AlbumPage(items, encode_cursor(items[-1]["created_at"], items[-1]["id"]) if more else None)

    async def update(
        self, user_id: str, album_id: str, *, name: str | None, cover: str | None, set_cover: bool
    ) -> bool:
        """Rename and/or choose the cover (None: back to the newest file). False: not the user's
        album, or the cover is not one of its files."""
        n = await self.db.execute(
            """UPDATE albums a SET name = COALESCE($3::text, a.name),
                 cover_file_id = CASE WHEN $4::boolean THEN $5::uuid ELSE a.cover_file_id END,
                 updated_at = NOW()
               WHERE a.id = $1::uuid AND a.user_id = $2::uuid
                 AND (NOT $4::boolean OR $5::uuid IS NULL
                      OR EXISTS (SELECT 1 FROM album_files af WHERE af.album_id = a.id AND af.file_id = $5::uuid))""",
            album_id,
            user_id,
            name,
            set_cover,
            cover,
        )
        return n == 1

    async def delete(self, user_id: str, album_id: str) -> bool:
        n = await self.db.execute("DELETE FROM albums WHERE id = $1::uuid AND user_id = $2::uuid", album_id, user_id)
        return n == 1

    async def add_files(self, user_id: str, album_id: str, file_ids: list[str]) -> int:
        """Add the user's files (idempotent); AlbumNotFound if the album or any file is not theirs.

        Migration 009's trigger reads each new member's file FOR SHARE (so a concurrent rename
        or trash is never lost); inserting in id order keeps that lock order stable."""
        if not await self.exists(user_id, album_id):
            raise AlbumNotFound("album not found")
        owned = await self.db.fetch(
            "SELECT count(*) AS n FROM files WHERE id = ANY($1::text[]::uuid[]) AND user_id = $2::uuid",
            file_ids,
            user_id,
        )
        if int(owned[0]["n"]) != len(file_ids):
            raise AlbumNotFound("file not found")
        added = await self.db.execute(
            """INSERT INTO album_files (album_id, file_id)
               SELECT $1::uuid, f.id FROM files f WHERE f.id = ANY($2::text[]::uuid[]) AND f.user_id = $3::uuid
               ORDER BY f.id
               ON CONFLICT DO NOTHING""",
            album_id,
            file_ids,
            user_id,
        )
        await self.db.execute("UPDATE albums SET updated_at = NOW() WHERE id = $1::uuid", album_id)
        return added

    async def remove_files(self, user_id: str, album_id: str, file_ids: list[str]) -> int:
        if not await self.exists(user_id, album_id):
            raise AlbumNotFound("album not found")
        removed = await self.db.execute(
            "DELETE FROM album_files WHERE album_id = $1::uuid AND file_id = ANY($2::text[]::uuid[])",
            album_id,
            file_ids,
        )
        await self.db.execute(
            """UPDATE albums SET updated_at = NOW(),
                 cover_file_id = CASE WHEN cover_file_id = ANY($2::text[]::uuid[]) THEN NULL ELSE cover_file_id END
               WHERE id = $1::uuid""",
            album_id,
            file_ids,
        )
        return removed


__all__ = ["AlbumNotFound", "AlbumPage", "AlbumRepository", "CursorError"]
