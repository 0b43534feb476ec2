"""The files table as the API sees it: one user's files, keyset pages, edits, deletes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..ports import Database, Row, json_value
from .cursor import Cursor, decode_cursor, encode_cursor

COLUMNS = """f.id::text AS id, f.filename, COALESCE(f.original_filename, f.filename) AS original_filename,
  f.file_size, f.file_type, f.mime_type, f.upload_status,
  f.processing_status, f.processing_progress, f.processing_error, f.original_key, f.preview_key,
  f.thumbnail_key, f.hls_playlist_key, f.placeholder, f.metadata, f.created_at::text AS created_at,
  f.updated_at::text AS updated_at, f.favourite, f.trashed_at::text AS trashed_at, f.taken_at::text AS taken_at,
  f.camera_make, f.camera_model, f.lens"""

# The sort key of each sort and order: the exact expressions of migration 007's indexes.
_UNDATED_DESC = "COALESCE(f.taken_at, f.created_at - interval '3000 years')"
_UNDATED_ASC = "COALESCE(f.taken_at, f.created_at + interval '3000 years')"
_SORT_KEYS: dict[tuple[str, str], str] = {
    ("uploaded", "desc"): "f.created_at",
    ("uploaded", "asc"): "f.created_at",
    ("taken", "desc"): _UNDATED_DESC,
    ("taken", "asc"): _UNDATED_ASC,
    ("name", "desc"): "lower(f.filename)",
    ("name", "asc"): "lower(f.filename)",
    ("size", "desc"): "f.file_size",
    ("size", "asc"): "f.file_size",
}
#: Albums up to this many members are listed from their membership rows (fetch and sort
#: them: a few ms); larger ones by walking the sort index and probing membership.
SMALL_ALBUM = 5_000

# What the cursor stores for each sort (as text), and how a cursor's key goes back into SQL.
_CURSOR_KEY = {
    "uploaded": "f.created_at::text",
    "taken": "COALESCE(f.taken_at, f.created_at)::text",
    "name": "lower(f.filename)",
    "size": "f.file_size::text",
}


@dataclass(frozen=True)
class Page:
    items: list[Row]
    next_cursor: str | None


@dataclass(frozen=True)
class ListQuery:
    """One listing request, already validated by the route."""

    limit: int
    cursor: str | None = None
    sort: str = "uploaded"
    order: str = "desc"
    file_type: str | None = None
    status: str | None = None
    search: str | None = None
    favourite: bool = False
    album_id: str | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    taken_from: str | None = None  # inclusive, timestamp text
    taken_to: str | None = None  # inclusive, timestamp text
    trashed: bool = False


def normalise(row: Row) -> Row:
    row["metadata"] = json_value(row.get("metadata")) or {}
    row["file_size"] = int(row["file_size"])
    row["processing_progress"] = float(row.get("processing_progress") or 0)
    row["favourite"] = bool(row.get("favourite"))
    return row


class _Where:
    """WHERE clauses with numbered parameters."""

    def __init__(self, first: str, value: Any) -> None:
        self.clauses = [first]
        self.params: list[Any] = [value]
        self.source = "files f"

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, clause: str, *values: Any) -> None:
        for value in values:
            clause = clause.replace("?", self.param(value), 1)
        self.clauses.append(clause)

    def sql(self) -> str:
        return " AND ".join(self.clauses)


def _after(where: _Where, cursor: Cursor) -> None:
    """Rows strictly after the cursor in the page order (one row comparison: index range)."""
    op = "<" if cursor.order == "desc" else ">"
    expr = _SORT_KEYS[(cursor.sort, cursor.order)]
    if cursor.sort in ("uploaded",):
        key = f"{where.param(cursor.key)}::timestamp"
    elif cursor.sort == "taken":
        shift = "-" if cursor.order == "desc" else "+"
        ts = f"{where.param(cursor.key)}::timestamp"
        key = (
            f"(CASE WHEN {where.param(cursor.undated)}::boolean THEN {ts} {shift} interval '3000 years' ELSE {ts} END)"
        )
    elif cursor.sort == "size":
        key = f"{where.param(cursor.key)}::bigint"
    else:
        key = f"{where.param(cursor.key)}::text"
    where.add(f"({expr}, f.id) {op} ({key}, ?::uuid)", cursor.file_id)


def filter_where(user_id: str, q: ListQuery, *, small_album: bool = False) -> _Where:
    """Everything but the cursor: shared by the owner's listing and a public album page.

    ``small_album``: drive the query from the album's membership rows, one primary-key
    lookup each, then sort (``OFFSET 0`` keeps the planner from flattening it back into a
    join that scans the whole library)."""
    where = _Where("f.user_id = $1::uuid", user_id)
    where.clauses.append("f.trashed_at IS NOT NULL" if q.trashed else "f.trashed_at IS NULL")
    if q.file_type:
        where.add("f.file_type = ?", q.file_type)
    if q.status:
        where.add("f.processing_status = ?", q.status)
    if q.search:
        escaped = q.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.add("f.filename ILIKE ?", f"%{escaped}%")
    if q.favourite:
        where.clauses.append("f.favourite")
    if q.album_id and small_album:
        members = f"SELECT af.file_id FROM album_files af WHERE af.album_id = {where.param(q.album_id)}::uuid OFFSET 0"
        one_file = "SELECT * FROM files fx WHERE fx.id = m.file_id OFFSET 0"  # a primary-key lookup per member
        where.source = f"({members}) m CROSS JOIN LATERAL ({one_file}) f"
    elif q.album_id:
        where.add("EXISTS (SELECT 1 FROM album_files af WHERE af.album_id = ?::uuid AND af.file_id = f.id)", q.album_id)
    for column, value in (("camera_make", q.camera_make), ("camera_model", q.camera_model), ("lens", q.lens)):
        if value is not None:
            where.add(f"f.{column} = ?", value)
    expr = _SORT_KEYS[("taken", q.order)]
    if q.taken_from:
        where.add("f.taken_at >= ?::timestamp", q.taken_from)
        if q.sort == "taken":  # implied for dated rows; lets the taken index range-scan
            where.add(f"{expr} >= ?::timestamp", q.taken_from)
    if q.taken_to:
        where.add("f.taken_at <= ?::timestamp", q.taken_to)
        if q.sort == "taken":
            where.add(f"{expr} <= ?::timestamp", q.taken_to)
    return where


class FileRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def page(self, user_id: str, q: ListQuery) -> Page:
        """One keyset page in the asked order; ties broken by id, so inserts never shift a
        later page. CursorError for a cursor of another sort."""
        cursor = decode_cursor(q.cursor, q.sort, q.order) if q.cursor else None
        small = bool(q.album_id) and await self._album_size(q.album_id or "") <= SMALL_ALBUM
        where = filter_where(user_id, q, small_album=small)
        if cursor:
            _after(where, cursor)
        direction = "DESC" if q.order == "desc" else "ASC"
        limit = where.param(q.limit + 1)
        rows = await self.db.fetch(
            f"""SELECT {COLUMNS}, {_CURSOR_KEY[q.sort]} AS sort_key, (f.taken_at IS NULL) AS undated
                FROM {where.source} WHERE {where.sql()}
                ORDER BY {_SORT_KEYS[(q.sort, q.order)]} {direction}, f.id {direction} LIMIT {limit}::int""",
            *where.params,
        )
        items = [normalise(r) for r in rows[: q.limit]]
        next_cursor = None
        if len(rows) > q.limit:
            last = items[-1]
            undated = bool(last["undated"]) if q.sort == "taken" else False
            next_cursor = encode_cursor(str(last["sort_key"]), last["id"], q.sort, q.order, undated)
        for item in items:
            item.pop("sort_key", None)
            item.pop("undated", None)
        return Page(items, next_cursor)

    async def _album_size(self, album_id: str) -> int:
        """Members of the album, counted up to just past SMALL_ALBUM (an index-only scan)."""
        rows = await self.db.fetch(
            """SELECT count(*) AS n FROM (SELECT 1 FROM album_files WHERE album_id = $1::uuid LIMIT $2::int) m""",
            album_id,
            SMALL_ALBUM + 1,
        )
        return int(rows[0]["n"])

    async def get(self, user_id: str, file_id: str) -> Row | None:
        rows = await self.db.fetch(
            f"SELECT {COLUMNS} FROM files f WHERE f.id::text = $1 AND f.user_id = $2::uuid", file_id, user_id
        )
        return normalise(rows[0]) if rows else None

    async def get_many(self, user_id: str, file_ids: list[str], *, include_trashed: bool = True) -> list[Row]:
        trash = "" if include_trashed else "AND f.trashed_at IS NULL"
        rows = await self.db.fetch(
            f"""SELECT {COLUMNS} FROM files f
                WHERE f.id::text = ANY($1::text[]) AND f.user_id = $2::uuid {trash}""",
            file_ids,
            user_id,
        )
        by_id = {r["id"]: normalise(r) for r in rows}
        return [by_id[i] for i in file_ids if i in by_id]

    async def album_ids(self, file_id: str) -> list[str]:
        rows = await self.db.fetch(
            """SELECT af.album_id::text AS id FROM album_files af JOIN albums a ON a.id = af.album_id
               WHERE af.file_id = $1::uuid ORDER BY a.created_at DESC, a.id DESC""",
            file_id,
        )
        return [r["id"] for r in rows]

    async def update(self, user_id: str, file_id: str, *, filename: str | None, favourite: bool | None) -> bool:
        """Rename and/or (un)favourite; the first rename keeps the uploaded name aside."""
        n = await self.db.execute(
            """UPDATE files SET
                 original_filename = CASE WHEN $3::text IS NULL THEN original_filename
                                          ELSE COALESCE(original_filename, filename) END,
                 filename = COALESCE($3::text, filename),
                 favourite = COALESCE($4::boolean, favourite),
                 updated_at = NOW()
               WHERE id = $1::uuid AND user_id = $2::uuid""",
            file_id,
            user_id,
            filename,
            favourite,
        )
        return n == 1

    async def facets(self, user_id: str, limit: int) -> dict[str, list[str]]:
        """Distinct camera makes, models and lenses of the live files (filter pickers)."""
        out: dict[str, list[str]] = {}
        for column, name in (("camera_make", "camera_makes"), ("camera_model", "camera_models"), ("lens", "lenses")):
            rows = await self.db.fetch(
                f"""SELECT DISTINCT {column} AS v FROM files
                    WHERE user_id = $1::uuid AND trashed_at IS NULL AND {column} IS NOT NULL
                    ORDER BY 1 LIMIT $2::int""",
                user_id,
                limit,
            )
            out[name] = [r["v"] for r in rows]
        return out

    async def trash(self, user_id: str, file_ids: list[str]) -> list[str]:
        """Move to the trash (already trashed ones keep their date); returns the ids that exist."""
        rows = await self.db.fetch(
            """UPDATE files SET trashed_at = COALESCE(trashed_at, NOW()), updated_at = NOW()
               WHERE id::text = ANY($1::text[]) AND user_id = $2::uuid RETURNING id::text AS id""",
            file_ids,
            user_id,
        )
        return [r["id"] for r in rows]

    async def restore(self, user_id: str, file_ids: list[str]) -> list[str]:
        rows = await self.db.fetch(
            """UPDATE files SET trashed_at = NULL, updated_at = NOW()
               WHERE id::text = ANY($1::text[]) AND user_id = $2::uuid AND trashed_at IS NOT NULL
               RETURNING id::text AS id""",
            file_ids,
            user_id,
        )
        return [r["id"] for r in rows]

    async def trashed_ids(self, user_id: str, limit: int) -> list[str]:
        rows = await self.db.fetch(
            """SELECT id::text AS id FROM files WHERE user_id = $1::uuid AND trashed_at IS NOT NULL
               ORDER BY created_at, id LIMIT $2::int""",
            user_id,
            limit,
        )
        return [r["id"] for r in rows]

    async def expired_trash(self, retention_seconds: int, limit: int) -> list[tuple[str, str]]:
        """(user id, file id) of files trashed longer ago than the retention, oldest first."""
        rows = await self.db.fetch(
            """SELECT user_id::text AS user_id, id::text AS id FROM files
               WHERE trashed_at IS NOT NULL AND trashed_at < NOW() - make_interval(secs => $1::float8)
               ORDER BY trashed_at LIMIT $2::int""",
            retention_seconds,
            limit,
        )
        return [(r["user_id"], r["id"]) for r in rows]

    async def ids_for_upload(self, user_id: str, upload_id: str) -> list[str]:
        rows = await self.db.fetch(
            "SELECT id::text AS id FROM files WHERE upload_id = $1 AND user_id = $2::uuid", upload_id, user_id
        )
        return [r["id"] for r in rows]

    async def delete(self, user_id: str, file_ids: list[str]) -> list[Row]:
        """Delete rows (jobs, album memberships and shares cascade); returns what was deleted.
        Their queued messages are the queue's (``FileDeleter`` purges them where it can)."""
        return await self.db.fetch(
            """DELETE FROM files WHERE id::text = ANY($1::text[]) AND user_id = $2::uuid
               RETURNING id::text AS id, original_key""",
            file_ids,
            user_id,
        )
