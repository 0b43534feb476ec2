"""TEST FIXTURE ONLY: a small stand-in for Neon's SQL-over-HTTP endpoint, on a real Postgres.

Speaks the protocol ``@neondatabase/serverless`` (and ``NeonHttpDatabase``) uses, for one
query per request: ``POST /sql`` with headers ``Neon-Connection-String`` (which database
to run on), ``Neon-Raw-Text-Output`` and ``Neon-Array-Mode``, and the JSON body
``{"query": "... $1 ...", "params": [...]}``. Like Neon's proxy it turns JSON parameters
into Postgres text (null stays NULL; booleans, numbers and strings as text; arrays as
array literals; objects as JSON text) and sends them with unspecified types, and it
answers ``{"command", "rowCount", "rows", "fields": [{"name", "dataTypeID", ...}],
"rowAsArray"}`` with every value as Postgres' own text output (read straight from the
libpq result, no client-side type loading). SQL errors are HTTP 400 with Neon's error
fields (``message``, ``code``, ``detail``, ...).

Not implemented: batches (``{"queries": [...]}``), ``Neon-Raw-Text-Output: false``
(typed JSON output) and authentication checks. Never part of the Worker.
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


def _pg_text(value: Any) -> str | None:
    """A JSON parameter as the text Postgres receives (Neon proxy's ``json_to_pg_text``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "{" + ",".join(_array_item(v) for v in value) + "}"
    return json.dumps(value)


def _array_item(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return _pg_text(value) or "{}"
    text = _pg_text(value) or ""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _error(exc: psycopg.Error) -> dict[str, Any]:
    diag = exc.diag
    fields = {
        "message": diag.message_primary or str(exc),
        "code": diag.sqlstate,
        "severity": diag.severity,
        "detail": diag.message_detail,
        "hint": diag.message_hint,
        "position": diag.statement_position,
        "schema": diag.schema_name,
        "table": diag.table_name,
        "column": diag.column_name,
        "dataType": diag.datatype_name,
        "constraint": diag.constraint_name,
    }
    return {k: v for k, v in fields.items() if v is not None}


class NeonHttpFixture:
    """``app`` is the ASGI endpoint; ``requests`` records each request's headers and body."""

    def __init__(self) -> None:
        self.pools: dict[str, AsyncConnectionPool] = {}
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/sql", self.sql, methods=["POST"])])

    async def close(self) -> None:
        for pool in self.pools.values():
            await pool.close()
        self.pools.clear()

    async def _pool(self, dsn: str) -> AsyncConnectionPool:
        pool = self.pools.get(dsn)
        if pool is None:
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
        dsn = request.headers.get("neon-connection-string")
        body = await request.json()
        self.requests.append({"headers": dict(request.headers), "body": body})
        if not dsn:
            return JSONResponse({"message": "missing Neon-Connection-String header"}, status_code=400)
        if request.headers.get("neon-raw-text-output", "").lower() != "true":
            return JSONResponse({"message": "fixture implements Neon-Raw-Text-Output: true only"}, status_code=400)
        if "queries" in body:
            return JSONResponse({"message": "fixture does not implement batch queries"}, status_code=400)
        array_mode = request.headers.get("neon-array-mode", "").lower() == "true"
        query = body.get("query")
        if not isinstance(query, str):
            return JSONResponse({"message": "body must be {query, params}"}, status_code=400)
        params = [_pg_text(p) for p in body.get("params") or []]

        pool = await self._pool(dsn)
        async with pool.connection() as conn, conn.cursor() as cur:
            try:
                await cur.execute(query, params)
            except psycopg.Error as exc:
                return JSONResponse(_error(exc), status_code=400)
            result = cur.pgresult
            fields: list[dict[str, Any]] = []
            rows: list[Any] = []
            if result is not None and result.nfields:
                for i in range(result.nfields):
                    fields.append(
                        {
                            "name": (result.fname(i) or b"").decode(),
                            "dataTypeID": result.ftype(i),
                            "tableID": result.ftable(i),
                            "columnID": result.ftablecol(i),
                            "dataTypeSize": result.fsize(i),
                            "dataTypeModifier": result.fmod(i),
                            "format": "text",
                        }
                    )
                for r in range(result.ntuples):
                    values = [result.get_value(r, c) for c in range(result.nfields)]
                    texts = [None if v is None else bytes(v).decode() for v in values]
                    rows.append(texts if array_mode else {f["name"]: t for f, t in zip(fields, texts, strict=True)})
            status = cur.statusmessage or ""
            return JSONResponse(
                {
                    "command": status.split(" ", 1)[0],
                    "rowCount": max(cur.rowcount, 0),
                    "rows": rows,
                    "fields": fields,
                    "rowAsArray": array_mode,
                }
            )
