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

# The sort key of each sort and order over the files (``f``) or an album's members (``af``,
# migration 009's copies): the exact expressions of migrations 007's and 009's indexes.
_SORT_EXPRS: dict[tuple[str, str], str] = {
    ("uploaded", "desc"): "{a}.created_at",
    ("uploaded", "asc"): "{a}.created_at",
    ("taken", "desc"): "COALESCE({a}.taken_at, {a}.created_at - interval '3000 years')",
    ("taken", "asc"): "COALESCE({a}.taken_at, {a}.created_at + interval '3000 years')",
    ("name", "desc"): "lower({a}.filename)",
    ("name", "asc"): "lower({a}.filename)",
    ("size", "desc"): "{a}.file_size",
    ("size", "asc"): "{a}.file_size",
}

# What the cursor stores for each sort (as text), and how a cursor's key goes back into SQL.
_CURSOR_EXPRS = {
    "uploaded": "{a}.created_at::text",
    "taken": "COALESCE({a}.taken_at, {a}.created_at)::text",
    "name": "lower({a}.filename)",
    "size": "{a}.file_size::text",
}


def sort_key(sort: str, order: str, alias: str = "f") -> str:
    return _SORT_EXPRS[(sort, order)].format(a=alias)


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
        self.alias = "f"  # the table the sort keys and filters are read from
        self.row_id = "f.id"

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
    expr = sort_key(cursor.sort, cursor.order, where.alias)
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
    where.add(f"({expr}, {where.row_id}) {op} ({key}, ?::uuid)", cursor.file_id)


def filter_where(user_id: str, q: ListQuery) -> _Where:
    """Everything but the cursor: shared by the owner's listing and a public album page.

    An album is listed from its membership rows, which carry copies of their file's sort
    keys and filtered columns (migration 009): the filters and the order are read from
    ``af`` so a page is a range scan of one (album_id, key, file_id) index, and only the
    page's files are fetched."""
    where = _Where("f.user_id = $1::uuid", user_id)
    if q.album_id:
        where.source = "album_files af JOIN files f ON f.id = af.file_id"
        where.alias, where.row_id = "af", "af.file_id"
        where.add("af.album_id = ?::uuid", q.album_id)
    a = where.alias
    where.clauses.append(f"{a}.trashed_at IS NOT NULL" if q.trashed else f"{a}.trashed_at IS NULL")
    if q.file_type:
        where.add(f"{a}.file_type = ?", q.file_type)
    if q.status:
        where.add(f"{a}.processing_status = ?", q.status)
    if q.search:
        escaped = q.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.add(f"{a}.filename ILIKE ?", f"%{escaped}%")
    if q.favourite:
        where.clauses.append(f"{a}.favourite")
    for column, value in (("camera_make", q.camera_make), ("camera_model", q.camera_model), ("lens", q.lens)):
        if value is not None:
            where.add(f"{a}.{column} = ?", value)
    expr = sort_key("taken", q.order, a)
    if q.taken_from:
        where.add(f"{a}.taken_at >= ?::timestamp", q.taken_from)
        if q.sort == "taken":  # implied for dated rows; lets the taken index range-scan
            where.add(f"{expr} >= ?::timestamp", q.taken_from)
    if q.taken_to:
        where.add(f"{a}.taken_at <= ?::timestamp", q.taken_to)
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
        where = filter_where(user_id, q)
        if cursor:
            _after(where, cursor)
        direction = "DESC" if q.order == "desc" else "ASC"
        limit = where.param(q.limit + 1)
        a = where.alias
        rows = await self.db.fetch(
            f"""SELECT {COLUMNS}, {_CURSOR_EXPRS[q.sort].format(a=a)} AS sort_key, ({a}.taken_at IS NULL) AS undated
                FROM {where.source} WHERE {where.sql()}
                ORDER BY {sort_key(q.sort, q.order, a)} {direction}, {where.row_id} {direction} LIMIT {limit}::int""",
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
