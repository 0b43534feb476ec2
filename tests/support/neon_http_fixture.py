"""TEST FIXTURE ONLY: a stand-in for Neon's SQL-over-HTTP endpoint, on a real Postgres.

Why it exists: the Worker talks to Neon over HTTP (``NeonHttpDatabase``, and
``@neondatabase/serverless``'s ``neon()`` speaks the same protocol); tests and the
locally run Worker need that protocol against a real database, with Neon's semantics
(read from ``proxy/src/serverless/sql_over_http.rs`` in neondatabase/neon, and proven
with the real driver by tests/test_neon_fixture.py).

``POST /sql`` with ``Neon-Connection-String`` (which database to run on) and

* a single query ``{"query": "... $1 ...", "params": [...], "arrayMode"?}``: runs on its
  own (autocommit) and answers ``{"rowAsArray", "fields", "rows", "command", "rowCount"}``;
* a batch ``{"queries": [<single query>, ...]}``: runs every query in ONE transaction
  (``START TRANSACTION`` with ``Neon-Batch-Isolation-Level``: ReadUncommitted |
  ReadCommitted | RepeatableRead | Serializable, ``Neon-Batch-Read-Only: true``,
  ``Neon-Batch-Deferrable: true``), rolled back entirely if any query fails, and answers
  ``{"results": [<one single-query answer per query>]}``, echoing those headers.

``Neon-Array-Mode: true`` gives rows as arrays (a query's own ``arrayMode`` wins);
``Neon-Raw-Text-Output: true`` gives every value as Postgres' text output, otherwise
values are typed as Neon types them (see ``neon_pg_json``). ``rowCount`` is the command
tag's count, ``null`` when it has none (DDL, ``BEGIN``, ...). Parameters are sent as
text with unspecified types, as Neon's proxy does.

Errors are Neon's shape: a JSON object holding every one of ``message``, ``code``,
``detail``, ``hint``, ``position``, ``internalPosition``, ``internalQuery``, ``severity``,
``where``, ``table``, ``column``, ``schema``, ``dataType``, ``constraint``, ``file``,
``line``, ``routine`` (``null`` when absent; ``code`` and ``severity`` are ``""`` for
errors that are not Postgres'), HTTP 400 for SQL errors and bad requests.

Not implemented: authentication (the connection string is trusted), response-size
limits (Neon answers 507 past 10 MB), query cancellation, JWT/auth-broker mode. A failed
connection (unknown database, bad credentials) answers 400 with libpq's message and
``code`` "" (libpq gives no SQLSTATE for it; Neon may report one).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg import AsyncRawCursor
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .neon_pg_json import BUILTIN_ARRAY_ELEMENTS, command_tag, pg_param, typed_value

ISOLATION_LEVELS = {
    "ReadUncommitted": "READ UNCOMMITTED",
    "ReadCommitted": "READ COMMITTED",
    "RepeatableRead": "REPEATABLE READ",
    "Serializable": "SERIALIZABLE",
}
ERROR_KEYS = (
    "message",
    "code",
    "detail",
    "hint",
    "position",
    "internalPosition",
    "internalQuery",
    "severity",
    "where",
    "table",
    "column",
    "schema",
    "dataType",
    "constraint",
    "file",
    "line",
    "routine",
)


class NeonError(Exception):
    """An error answer: HTTP ``status`` with Neon's error object."""

    def __init__(self, status: int, message: str, exc: psycopg.Error | None = None) -> None:
        super().__init__(message)
        self.status = status
        body: dict[str, Any] = dict.fromkeys(ERROR_KEYS)
        body.update(message=message, code="", severity="")
        diag = exc.diag if exc is not None and exc.sqlstate else None
        if diag is not None:
            body.update(
                message=diag.message_primary or message,
                code=diag.sqlstate or "",
                severity=diag.severity or "",
                detail=diag.message_detail,
                hint=diag.message_hint,
                position=diag.statement_position,
                internalPosition=diag.internal_position,
                internalQuery=diag.internal_query,
                where=diag.context,
                table=diag.table_name,
                column=diag.column_name,
                schema=diag.schema_name,
                dataType=diag.datatype_name,
                constraint=diag.constraint_name,
                file=diag.source_file,
                line=diag.source_line,
                routine=diag.source_function,
            )
        self.body = body


def _options(headers: Any) -> dict[str, Any]:
    """The request headers Neon reads; only the exact value ``true`` counts as true."""
    level = headers.get("neon-batch-isolation-level")
    if level is not None and level not in ISOLATION_LEVELS:
        raise NeonError(400, "invalid isolation level")
    return {
        "raw": headers.get("neon-raw-text-output") == "true",
        "array_mode": headers.get("neon-array-mode") == "true",
        "isolation": level,
        "read_only": headers.get("neon-batch-read-only") == "true",
        "deferrable": headers.get("neon-batch-deferrable") == "true",
    }


def _query_data(item: Any) -> dict[str, Any] | None:
    """``{query, params?, arrayMode?}`` validated as Neon's ``QueryData``; ``None`` if not one."""
    if not isinstance(item, dict) or not isinstance(item.get("query"), str):
        return None
    params = item.get("params", [])
    array_mode = item.get("arrayMode")
    if not isinstance(params, list) or (array_mode is not None and not isinstance(array_mode, bool)):
        return None
    return {"query": item["query"], "params": [pg_param(p) for p in params], "arrayMode": array_mode}


def _payload(raw: bytes) -> dict[str, Any] | list[dict[str, Any]]:
    """A single query (dict) or a batch (list), as Neon's untagged ``Payload``."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise NeonError(400, f"could not parse the HTTP request body: {exc}") from exc
    single = _query_data(body)
    if single is not None:
        return single
    queries = body.get("queries") if isinstance(body, dict) else None
    batch = [_query_data(q) for q in queries] if isinstance(queries, list) else [None]
    if any(q is None for q in batch):
        message = "data did not match any variant of untagged enum Payload"
        raise NeonError(400, f"could not parse the HTTP request body: {message}")
    return batch  # type: ignore[return-value]


def _start_transaction(opts: dict[str, Any]) -> str:
    """What Neon's transaction builder sends (tokio-postgres ``TransactionBuilder``)."""
    modes = []
    if opts["isolation"]:
        modes.append(" ISOLATION LEVEL " + ISOLATION_LEVELS[opts["isolation"]])
    if opts["read_only"]:
        modes.append(" READ ONLY")
    if opts["deferrable"]:
        modes.append(" DEFERRABLE")
    return "START TRANSACTION" + ",".join(modes)


class NeonHttpFixture:
    """``app`` is the ASGI endpoint; ``requests`` records each request's headers and body."""

    def __init__(self) -> None:
        self.pools: dict[str, AsyncConnectionPool] = {}
        self.array_elements: dict[str, dict[int, int]] = {}
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/sql", self.sql, methods=["POST"])])

    async def close(self) -> None:
        for pool in self.pools.values():
            await pool.close()
        self.pools.clear()

    async def _pool(self, dsn: str) -> AsyncConnectionPool:
        pool = self.pools.get(dsn)
        if pool is None:
            try:  # fail fast (and like Neon) on a bad connection string or credentials
                conn = await psycopg.AsyncConnection.connect(dsn, connect_timeout=10)
                await conn.close()
            except psycopg.Error as exc:  # libpq gives no SQLSTATE here: Neon's code field stays ""
                raise NeonError(400, str(exc), exc) from exc
            pool = AsyncConnectionPool(
                dsn,
                min_size=1,
                max_size=4,
                open=False,
                kwargs={"autocommit": True, "cursor_factory": AsyncRawCursor},
            )
            await pool.open(wait=True, timeout=30)
            self.pools[dsn] = pool
        return pool

    async def sql(self, request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append({"headers": dict(request.headers), "body": body})
        headers = {"Access-Control-Allow-Origin": "*"}
        try:
            dsn = request.headers.get("neon-connection-string")
            if not dsn:
                raise NeonError(400, "invalid header: neon-connection-string")
            opts = _options(request.headers)
            payload = _payload(raw)
            pool = await self._pool(dsn)
            async with pool.connection() as conn:
                if isinstance(payload, dict):
                    answer: dict[str, Any] = await self._query(conn, dsn, payload, opts)
                else:
                    answer = {"results": await self._batch(conn, dsn, payload, opts)}
                    if opts["read_only"]:
                        headers["Neon-Batch-Read-Only"] = "true"
                    if opts["deferrable"]:
                        headers["Neon-Batch-Deferrable"] = "true"
                    if opts["isolation"]:
                        headers["Neon-Batch-Isolation-Level"] = opts["isolation"]
        except NeonError as exc:
            return JSONResponse(exc.body, status_code=exc.status, headers=headers)
        return JSONResponse(answer, headers=headers)

    async def _batch(self, conn: Any, dsn: str, queries: list[dict[str, Any]], opts: dict[str, Any]) -> list[Any]:
        """All queries in one transaction; any failure rolls everything back."""
        try:
            await conn.execute(_start_transaction(opts))
        except psycopg.Error as exc:
            raise NeonError(400, str(exc), exc) from exc
        try:
            results = [await self._query(conn, dsn, q, opts) for q in queries]
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        try:
            await conn.execute("COMMIT")
        except psycopg.Error as exc:  # e.g. a serialization failure at commit
            raise NeonError(400, str(exc), exc) from exc
        return results

    async def _query(self, conn: Any, dsn: str, data: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any]:
        array_mode = opts["array_mode"] if data["arrayMode"] is None else data["arrayMode"]
        async with conn.cursor() as cur:
            try:
                await cur.execute(data["query"], data["params"])
            except psycopg.Error as exc:
                raise NeonError(400, str(exc), exc) from exc
            result = cur.pgresult
            command, row_count = command_tag(cur.statusmessage or "")
        fields: list[dict[str, Any]] = []
        rows: list[Any] = []
        if result is not None and result.nfields:
            fields = [
                {
                    "name": (result.fname(i) or b"").decode(),
                    "dataTypeID": result.ftype(i),
                    "tableID": result.ftable(i),
                    "columnID": result.ftablecol(i),
                    "dataTypeSize": result.fsize(i),
                    "dataTypeModifier": result.fmod(i),
                    "format": "text",
                }
                for i in range(result.nfields)
            ]
            elements = {} if opts["raw"] else await self._array_elements(conn, dsn, [f["dataTypeID"] for f in fields])
            for r in range(result.ntuples):
                values = []
                for c, field in enumerate(fields):
                    value = result.get_value(r, c)
                    text = None if value is None else bytes(value).decode()
                    if text is not None and not opts["raw"]:
                        try:
                            text = typed_value(text, field["dataTypeID"], elements)
                        except ValueError as exc:
                            raise NeonError(500, "could not parse postgres response") from exc
                    values.append(text)
                rows.append(values if array_mode else {f["name"]: v for f, v in zip(fields, values, strict=True)})
        return {"rowAsArray": array_mode, "fields": fields, "rows": rows, "command": command, "rowCount": row_count}

    async def _array_elements(self, conn: Any, dsn: str, oids: list[int]) -> dict[int, int]:
        """Array type OID → element OID, for typed output (user-defined arrays looked up once)."""
        known = self.array_elements.setdefault(dsn, dict(BUILTIN_ARRAY_ELEMENTS))
        unknown = sorted({o for o in oids if o not in known and o >= 10000})
        if unknown:
            async with conn.cursor() as cur:
                await cur.execute(
                    "SELECT oid::int, CASE WHEN typcategory = 'A' THEN typelem::int ELSE 0 END"
                    " FROM pg_type WHERE oid = ANY($1::oid[])",
                    [pg_param(unknown)],
                )
                for oid, element in await cur.fetchall():
                    known[int(oid)] = int(element)
        return {o: e for o, e in known.items() if e}
