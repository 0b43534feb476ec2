"""Shared fixtures: one real Postgres cluster per test session and real server processes."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.stack import WORKER_SRC, Postgres, Server, shared_tmpdir
from support.tools import pytest_configure, pytest_runtest_setup  # the `requires` mark

sys.path.insert(0, str(WORKER_SRC))

__all__ = ["pytest_configure", "pytest_runtest_setup"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    pg = Postgres()
    yield pg
    pg.remove()


@pytest.fixture(scope="session")
def database_url(postgres: Postgres) -> str:
    """One migrated database shared by the session (tests isolate themselves by user id)."""
    return postgres.create_database("shared")


@pytest.fixture()
def fresh_database_url(postgres: Postgres) -> str:
    return postgres.create_database()


def _start(database_url: str, env: dict[str, str] | None = None) -> Server:
    return Server(database_url, shared_tmpdir("mediagate-data-"), env=env).start()


@pytest.fixture(scope="session")
def server(database_url: str) -> Iterator[Server]:
    """A long-lived server for protocol tests (small size limit to test 413 cheaply)."""
    srv = _start(database_url)
    yield srv
    srv.stop()


@pytest.fixture()
def make_server(database_url: str) -> Iterator:
    """Factory for servers with their own settings; all stopped at the end of the test."""
    started: list[Server] = []

    def factory(
        env: dict[str, str] | None = None, *, database: str | None = None, data_dir: Path | None = None
    ) -> Server:
        srv = Server(database or database_url, data_dir or shared_tmpdir("mediagate-data-"), env=env).start()
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop()


@pytest.fixture(scope="module")
def web_app(postgres: Postgres, request: pytest.FixtureRequest) -> Iterator[tuple[Server, str]]:
    """The Chromium e2e modules' stack: the built web app on a real server with a processor
    and its own database (the server and its database url), one per test module."""
    from support.web_app import served_web_app

    with served_web_app(postgres, f"mediagate-{request.module.__name__.removeprefix('test_')}-") as stack:
        yield stack


@pytest.fixture()
def user_id() -> str:
    return str(uuid.uuid4())
