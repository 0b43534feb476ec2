"""Share links (all SQL here): create, list, revoke, and the public side's liveness checks.

A share is live while it is not revoked, not expired, and its target is there: a file
share's file is not trashed; an album share's album exists (deleting the album deletes
the share). Every public lookup asks these conditions in the same statement as its read,
so a revoke is seen by the very next request.
"""

from __future__ import annotations

from ..ports import Database, Row

_SHARE = """s.id::text AS id, s.token, s.file_id::text AS file_id, s.album_id::text AS album_id,
  s.expires_at::text AS expires_at, s.allow_download, s.views, s.created_at::text AS created_at,
  s.revoked_at::text AS revoked_at"""

_LIVE = """s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > NOW())
  AND (s.album_id IS NOT NULL
       OR EXISTS (SELECT 1 FROM files tf WHERE tf.id = s.file_id AND tf.trashed_at IS NULL))"""


def _normalise(row: Row) -> Row:
    row["views"] = int(row["views"])
    row["allow_download"] = bool(row["allow_download"])
    return row


class ShareRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def target_exists(self, user_id: str, *, file_id: str | None, album_id: str | None) -> bool:
        table, target = ("files", file_id) if file_id else ("albums", album_id)
        rows = await self.db.fetch(
            f"SELECT 1 AS ok FROM {table} WHERE id = $1::uuid AND user_id = $2::uuid", target, user_id
        )
        return bool(rows)

    async def create(
        self,
        user_id: str,
        token: str,
        *,
        file_id: str | None,
        album_id: str | None,
        expires_in: int | None,
        allow_download: bool,
    ) -> Row:
        rows = await self.db.fetch(
            f"""INSERT INTO shares AS s (user_id, token, file_id, album_id, expires_at, allow_download)
                VALUES ($1::uuid, $2, $3::uuid, $4::uuid,
                        CASE WHEN $5::int IS NULL THEN NULL ELSE NOW() + make_interval(secs => $5::int) END,
                        $6::boolean)
                RETURNING {_SHARE}""",
            user_id,
            token,
            file_id,
            album_id,
            expires_in,
            allow_download,
        )
        return _normalise(rows[0])

    async def list(self, user_id: str, *, file_id: str | None, album_id: str | None, limit: int) -> list[Row]:
        """The user's shares, newest first, optionally of one file or album."""
        rows = await self.db.fetch(
            f"""SELECT {_SHARE} FROM shares s WHERE s.user_id = $1::uuid
                  AND ($2::uuid IS NULL OR s.file_id = $2::uuid) AND ($3::uuid IS NULL OR s.album_id = $3::uuid)
                ORDER BY s.created_at DESC, s.id DESC LIMIT $4::int""",
            user_id,
            file_id,
            album_id,
            limit,
        )
        return [_normalise(r) for r in rows]

    async def revoke(self, user_id: str, share_id: str) -> bool:
        """Idempotent; False when the share is not the user's."""
        n = await self.db.execute(
            """UPDATE shares SET revoked_at = COALESCE(revoked_at, NOW())
               WHERE id = $1::uuid AND user_id = $2::uuid""",
            share_id,
            user_id,
        )
        return n == 1

    async def open(self, token: str, *, count_view: bool) -> Row | None:
        """The live share behind ``token`` with its owner and target name (one view counted
        when asked), or None: unknown, revoked, expired or trashed target all look the same."""
        returning = f"""{_SHARE}, s.user_id::text AS user_id,
            COALESCE((SELECT f.filename FROM files f WHERE f.id = s.file_id),
                     (SELECT a.name FROM albums a WHERE a.id = s.album_id)) AS name"""
        if count_view:
            sql = f"UPDATE shares s SET views = s.views + 1 WHERE s.token = $1 AND {_LIVE} RETURNING {returning}"
        else:  # a read: no row write per page of a share's listing
            sql = f"SELECT {returning} FROM shares s WHERE s.token = $1 AND {_LIVE}"
        rows = await self.db.fetch(sql, token)
        return _normalise(rows[0]) if rows else None

    async def covers(self, share_id: str, file_id: str) -> bool:
        """Is ``file_id`` (not trashed) reachable through the live share ``share_id``? Asked by
        the object route for every share-bound link, so a revoke stops them at once."""
        rows = await self.db.fetch(
            f"""SELECT 1 AS ok FROM shares s JOIN files f ON f.id = $2::uuid AND f.user_id = s.user_id
                WHERE s.id = $1::uuid AND {_LIVE} AND f.trashed_at IS NULL
                  AND (s.file_id = f.id
                       OR EXISTS (SELECT 1 FROM album_files af WHERE af.album_id = s.album_id AND af.file_id = f.id))""",
            share_id,
            file_id,
        )
        return bool(rows)
