"""A statement Postgres aborts to break a lock cycle runs again, on both Database adapters.

Real Postgres raises the SQLSTATE: ``flaky()`` fails with ``deadlock_detected`` (40P01) or
``serialization_failure`` (40001) the first N times it runs (a sequence counts the calls:
``nextval`` survives the rollback), exactly as the loser of a lock cycle sees it.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from mediagate.adapters.cloudflare.neon_http import NeonDbError
from mediagate.adapters.local.postgres import PostgresDatabase
from mediagate.db_retry import ATTEMPTS
from test_cloudflare_adapters import NeonClient

FLAKY = """
CREATE SEQUENCE calls;
CREATE FUNCTION flaky(failures int, state text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('calls') <= failures THEN
    RAISE EXCEPTION 'lock cycle' USING ERRCODE = state;
  END IF;
  RETURN 7;
END $$;
"""


def _calls(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        value = conn.execute("SELECT last_value FROM calls").fetchone()
        conn.execute("ALTER SEQUENCE calls RESTART")
    assert value is not None
    return int(value[0])


@pytest.fixture()
def flaky_url(fresh_database_url: str) -> str:
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute(FLAKY)
    return fresh_database_url


async def _local(url: str, sql: str) -> int:
    db = PostgresDatabase(url, max_size=2)
    await db.open()
    try:
        rows = await db.fetch(sql)
        return int(rows[0]["v"])
    finally:
        await db.close()


async def _neon(url: str, sql: str) -> int:
    neon = NeonClient(url)
    try:
        rows = await neon.db.fetch(sql)
        return int(rows[0]["v"])
    finally:
        await neon.close()


@pytest.mark.parametrize("adapter", [_local, _neon], ids=["local", "neon_http"])
@pytest.mark.parametrize("state", ["40P01", "40001"])
def test_a_lock_cycle_loser_runs_again(flaky_url, adapter, state):
    assert asyncio.run(adapter(flaky_url, f"SELECT flaky({ATTEMPTS - 1}, '{state}') AS v")) == 7
    assert _calls(flaky_url) == ATTEMPTS


@pytest.mark.parametrize("adapter", [_local, _neon], ids=["local", "neon_http"])
def test_gives_up_after_the_attempts_and_never_retries_other_errors(flaky_url, adapter):
    with pytest.raises((psycopg.Error, NeonDbError)):
        asyncio.run(adapter(flaky_url, f"SELECT flaky({ATTEMPTS}, '40P01') AS v"))
    assert _calls(flaky_url) == ATTEMPTS
    with pytest.raises((psycopg.Error, NeonDbError)):
        asyncio.run(adapter(flaky_url, "SELECT flaky(1, '23505') AS v"))  # unique_violation: not a cycle
    assert _calls(flaky_url) == 1
