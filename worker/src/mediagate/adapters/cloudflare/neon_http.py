"""The Database port over Neon's SQL-over-HTTP API (what ``@neondatabase/serverless``'s
``neon()`` function speaks).

One statement per HTTP request: ``POST https://api.<region host>/sql`` with the JSON body
``{"query": sql, "params": [...]}`` and the headers the driver sends:

* ``Neon-Connection-String``: the full ``postgresql://`` URL (Neon authenticates with it),
* ``Neon-Raw-Text-Output: true``: every value comes back as Postgres' text output,
* ``Neon-Array-Mode: true``: rows as arrays (smaller); columns are named by ``fields``.

The answer is ``{"command", "rowCount", "rows", "fields": [{"name", "dataTypeID"}, ...]}``;
``rowCount`` is ``null`` for commands without a count (DDL), which :meth:`execute` reports
as 0. An SQL error is HTTP 400 with ``{"message", "code", "detail", "hint", ...}``, every
key present (``null`` when absent; ``code`` is ``""`` for errors that are not Postgres').

No transactions are needed here: the core runs every state change as one atomic
statement (see ``ports.Database``), so Neon's batch form (``{"queries": [...]}``, one
transaction) is not used.

Parameters are serialised as the driver does (node-postgres' ``prepareValue``): ``None``
→ ``null``, everything else as its text form (``true``/``false``, numbers, strings;
``dict`` → JSON text; ``list`` → a Postgres array literal; ``bytes`` → ``\\x`` hex).
Values are decoded by type OID: integers, floats (``numeric`` too), booleans and
``json``/``jsonb``; every other type stays the string Postgres printed (``uuid``,
``timestamptz``, ... — the core casts to ``::text``/``::float8`` where it needs a type).

The HTTP call goes through an injected ``fetch(url, method, headers, body)`` coroutine
returning ``(status, parsed JSON or text)``: :func:`.ffi.js_fetch` in the Worker,
:func:`make_httpx_fetch` under CPython.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from ...db_retry import retry_lock_cycles
from ...ports import Database, Row
from .ffi import js_fetch

Fetch = Callable[[str, str, dict[str, str], str], Awaitable[tuple[int, Any]]]

INT_OIDS = frozenset({20, 21, 23, 26})  # int8, int2, int4, oid
FLOAT_OIDS = frozenset({700, 701, 1700})  # float4, float8, numeric
BOOL_OID = 16
JSON_OIDS = frozenset({114, 3802})  # json, jsonb

ERROR_FIELDS = (
    "severity",
    "code",
    "detail",
    "hint",
    "position",
    "internalPosition",
    "internalQuery",
    "where",
    "schema",
    "table",
    "column",
    "dataType",
    "constraint",
    "file",
    "line",
    "routine",
)


class NeonDbError(Exception):
    """A query failed: Postgres' error (``code`` is the SQLSTATE) or a transport error."""

    def __init__(self, message: str, *, status: int | None = None, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.fields = dict(fields or {})
        self.code: str | None = self.fields.get("code") or None  # Neon sends "" for non-Postgres errors
        self.detail: str | None = self.fields.get("detail")
        self.hint: str | None = self.fields.get("hint")
        self.constraint: str | None = self.fields.get("constraint")

    def __str__(self) -> str:
        text = self.message
        if self.code:
            text += f" (SQLSTATE {self.code})"
        if self.detail:
            text += f"\nDETAIL: {self.detail}"
        return text


def neon_sql_endpoint(hostname: str) -> str:
    """The driver's default endpoint: the first label of the host becomes ``api``
    (``ep-x-123.us-east-2.aws.neon.tech`` → ``https://api.us-east-2.aws.neon.tech/sql``)."""
    return "https://" + re.sub(r"^[^.]+\.", "api.", hostname, count=1) + "/sql"


# -- parameters --------------------------------------------------------------------------------


def _array_element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        return _array_literal(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return '"\\\\x' + bytes(value).hex() + '"'
    text = prepare_value(value) or ""  # a str: value is not None
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array_literal(values: Sequence[Any]) -> str:
    return "{" + ",".join(_array_element(v) for v in values) + "}"


def _number(value: float) -> str:
    """A float as JavaScript's ``Number.prototype.toString`` prints it (what the driver sends)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def prepare_value(value: Any) -> str | None:
    """One query parameter in the driver's wire form: ``None`` or a string."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return _array_literal(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


# -- results -------------------------------------------------------------------------------------


def parse_value(type_oid: int, value: Any) -> Any:
    """Decode one raw-text value by its column's type OID (see module docstring)."""
    if value is None or not isinstance(value, str):
        return value
    if type_oid in INT_OIDS:
        return int(value)
    if type_oid in FLOAT_OIDS:
        return float(value)
    if type_oid == BOOL_OID:
        return value in ("t", "true")
    if type_oid in JSON_OIDS:
        return json.loads(value)
    return value


def rows_from_result(result: dict[str, Any]) -> list[Row]:
    fields = result.get("fields") or []
    names = [str(f["name"]) for f in fields]
    oids = [int(f.get("dataTypeID") or 0) for f in fields]
    rows: list[Row] = []
    for raw in result.get("rows") or []:
        if isinstance(raw, dict):  # object mode (Neon-Array-Mode: false)
            rows.append({n: parse_value(o, raw.get(n)) for n, o in zip(names, oids, strict=True)})
        else:
            rows.append({n: parse_value(o, v) for n, o, v in zip(names, oids, raw, strict=True)})
    return rows


# -- the adapter -----------------------------------------------------------------------------------


class NeonHttpDatabase(Database):
    def __init__(self, connection_string: str, fetch: Fetch | None = None, *, endpoint: str | None = None) -> None:
        parts = urlsplit(connection_string or "")
        if parts.scheme not in ("postgres", "postgresql") or not parts.username or not parts.hostname:
            raise ValueError("DATABASE_URL must look like postgresql://user:password@host/dbname")
        if parts.path in ("", "/"):
            raise ValueError("DATABASE_URL must name a database (postgresql://user:password@host/dbname)")
        self.connection_string = connection_string
        self.endpoint = endpoint or neon_sql_endpoint(parts.hostname)
        self._http: Fetch = fetch or js_fetch
        self.headers = {
            "Neon-Connection-String": connection_string,
            "Neon-Raw-Text-Output": "true",
            "Neon-Array-Mode": "true",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    async def query(self, sql: str, params: Sequence[Any]) -> dict[str, Any]:
        """Run one statement and return Neon's raw result object."""
        body = json.dumps({"query": sql, "params": [prepare_value(p) for p in params]})
        try:
            status, data = await self._http(self.endpoint, "POST", dict(self.headers), body)
        except Exception as exc:
            raise NeonDbError(f"Error connecting to database: {exc}") from exc
        if status == 200 and isinstance(data, dict):
            return data
        if status == 400 and isinstance(data, dict) and data.get("message"):
            raise NeonDbError(str(data["message"]), status=status, fields={k: data.get(k) for k in ERROR_FIELDS})
        detail = data.get("message") if isinstance(data, dict) else data
        raise NeonDbError(f"Neon server error (HTTP status {status}): {detail}", status=status)

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        return rows_from_result(await retry_lock_cycles(lambda: self.query(sql, params), _sqlstate))

    async def execute(self, sql: str, *params: Any) -> int:
        result = await retry_lock_cycles(lambda: self.query(sql, params), _sqlstate)
        count = result.get("rowCount")
        return int(count) if count is not None else 0


def _sqlstate(exc: BaseException) -> str | None:
    return exc.code if isinstance(exc, NeonDbError) else None


def make_httpx_fetch(client: Any) -> Fetch:
    """A ``fetch`` callable over an ``httpx.AsyncClient`` (CPython: tests, tools)."""

    async def fetch(url: str, method: str, headers: dict[str, str], body: str) -> tuple[int, Any]:
        response = await client.request(method, url, headers=headers, content=body)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    return fetch
