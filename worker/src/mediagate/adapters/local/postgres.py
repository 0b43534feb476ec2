"""The Database port on a local Postgres through a psycopg async connection pool.

Uses psycopg's raw cursors so the core's ``$1`` placeholders reach Postgres unchanged,
exactly as they do over Neon's SQL-over-HTTP.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import AsyncConnection, AsyncRawCursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from ...db_retry import retry_lock_cycles
from ...ports import Database, Row


class PostgresDatabase(Database):
    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.pool = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            connection_class=AsyncConnection[DictRow],  # tells the type checker what row_factory does
            kwargs={"autocommit": True, "cursor_factory": AsyncRawCursor, "row_factory": dict_row},
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        return await retry_lock_cycles(lambda: self._fetch(sql, params), _sqlstate)

    async def execute(self, sql: str, *params: Any) -> int:
        return await retry_lock_cycles(lambda: self._execute(sql, params), _sqlstate)

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Row]:
        async with self.pool.connection() as conn, conn.cursor() as cur:
            await cur.execute(sql, params)
            if cur.description is None:
                return []
            return list(await cur.fetchall())

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> int:
        async with self.pool.connection() as conn, conn.cursor() as cur:
            await cur.execute(sql, params)
            return cur.rowcount


def _sqlstate(exc: BaseException) -> str | None:
    return exc.sqlstate if isinstance(exc, psycopg.Error) else None
