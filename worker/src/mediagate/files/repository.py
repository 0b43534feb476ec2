"""The files table as the API sees it: one user's files, keyset pages, deletes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..ports import Database, Row, json_value
from .cursor import decode_cursor, encode_cursor

_COLUMNS = """f.id::text AS id, f.filename, f.file_size, f.file_type, f.mime_type, f.upload_status,
  f.processing_status, f.processing_progress, f.processing_error, f.original_key, f.preview_key,
  f.thumbnail_key, f.hls_playlist_key, f.placeholder, f.metadata, f.created_at::text AS created_at,
  f.updated_at::text AS updated_at"""


@dataclass(frozen=True)
class Page:
    items: list[Row]
    next_cursor: str | None


def _normalise(row: Row) -> Row:
    row["metadata"] = json_value(row.get("metadata")) or {}
    row["file_size"] = int(row["file_size"])
    row["processing_progress"] = float(row.get("processing_progress") or 0)
    return row


class FileRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def page(
        self,
        user_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        file_type: str | None = None,
        status: str | None = None,
        search: str | None = None,
    ) -> Page:
        """Newest first, keyed on (created_at, id): inserts never shift a later page."""
        where = ["f.user_id = $1::uuid"]
        params: list[Any] = [user_id]

        def add(clause: str, value: Any) -> None:
            params.append(value)
            where.append(clause.replace("?", f"${len(params)}"))

        if cursor:
            created_at, file_id = decode_cursor(cursor)
            params.extend([created_at, file_id])
            where.append(f"(f.created_at, f.id) < (${len(params) - 1}::timestamp, ${len(params)}::uuid)")
        if file_type:
            add("f.file_type = ?", file_type)
        if status:
            add("f.processing_status = ?", status)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            add("f.filename ILIKE ?", f"%{escaped}%")
        params.append(limit + 1)
        rows = await self.db.fetch(
            f"""SELECT {_COLUMNS} FROM files f WHERE {" AND ".join(where)}
                ORDER BY f.created_at DESC, f.id DESC LIMIT ${len(params)}::int""",
            *params,
        )
        items = [_normalise(r) for r in rows[:limit]]
        next_cursor = encode_cursor(items[-1]["created_at"], items[-1]["id"]) if len(rows) > limit else None
        return Page(items, next_cursor)

    async def get(self, user_id: str, file_id: str) -> Row | None:
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM files f WHERE f.id::text = $1 AND f.user_id = $2::uuid", file_id, user_id
        )
        return _normalise(rows[0]) if rows else None

    async def get_many(self, user_id: str, file_ids: list[str]) -> list[Row]:
        rows = await self.db.fetch(
            f"""SELECT {_COLUMNS} FROM files f
                WHERE f.id::text = ANY($1::text[]) AND f.user_id = $2::uuid""",
            file_ids,
            user_id,
        )
        by_id = {r["id"]: _normalise(r) for r in rows}
        return [by_id[i] for i in file_ids if i in by_id]

    async def ids_for_upload(self, user_id: str, upload_id: str) -> list[str]:
        rows = await self.db.fetch(
            "SELECT id::text AS id FROM files WHERE upload_id = $1 AND user_id = $2::uuid", upload_id, user_id
        )
        return [r["id"] for r in rows]

    async def delete(self, user_id: str, file_ids: list[str]) -> list[Row]:
        """Delete rows (jobs cascade); returns what was deleted."""
        return await self.db.fetch(
            """DELETE FROM files WHERE id::text = ANY($1::text[]) AND user_id = $2::uuid
               RETURNING id::text AS id, original_key""",
            file_ids,
            user_id,
        )
