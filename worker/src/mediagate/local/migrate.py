"""Apply schema.sql and migrations/*.sql in order, once each (recorded in schema_migrations).

``python -m mediagate.local.migrate [--dsn DSN]`` — also used for Neon: point ``--dsn``
at the Neon connection string.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[4]


def migration_files(repo: Path = REPO) -> list[Path]:
    return [repo / "schema.sql", *sorted((repo / "migrations").glob("*.sql"))]


def migrate(dsn: str, repo: Path = REPO) -> list[str]:
    """Apply what has not been applied yet; returns the names applied now."""
    applied_now = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(727274)")  # one migrator at a time
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT NOW())"
        )
        done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations").fetchall()}
        for path in migration_files(repo):
            if path.name in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text())
                conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.name,))
            applied_now.append(path.name)
        conn.execute("SELECT pg_advisory_unlock(727274)")
    return applied_now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    if not args.dsn:
        raise SystemExit("set DATABASE_URL or pass --dsn")
    applied = migrate(args.dsn)
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))


if __name__ == "__main__":
    main()
