"""The Worker in the real Cloudflare runtime: one ``make dev-cloudflare`` stack per session.

``scripts/workerd/stack.py`` starts the pinned workerd through ``wrangler dev`` (local R2,
Queues + dead-letter queue, Durable Objects, Assets, cron), the Neon SQL-over-HTTP endpoint
in front of the session's Postgres, and the processor. ``server`` here has the interface of
the local server fixture (``url``, ``token``, ``env``, ``store``), so the same protocol and
API tests run against both runtimes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.stack import REPO, WEBHOOK_SECRET, free_port, shared_tmpdir
from support.store_probe import MiniflareR2Probe

sys.path.insert(0, str(REPO / "scripts" / "workerd"))

from stack import WorkerdStack

REGIONS = {
    "eu": {"base_url": "http://eu.files.invalid", "continents": ["EU", "AF"]},
    "us": {"base_url": "http://us.files.invalid", "continents": ["NA", "SA"]},
    "apac": {"continents": ["AS", "OC"], "countries": ["JP"]},
}


class WorkerdServer:
    """The stack seen through the local ``Server`` fixture's interface."""

    def __init__(self, stack: WorkerdStack) -> None:
        self.stack = stack
        self.url = stack.url
        self.data_dir = stack.data_dir
        self.env = {"DATABASE_URL": stack.database_url, "JWT_SECRET": stack.jwt_secret}
        self.store = MiniflareR2Probe(stack.data_dir / "wrangler-state", "mediagate-media")

    def token(self, user_id: str, *, role: str = "user", ttl: int = 3600) -> str:
        return self.stack.token(user_id, role=role, ttl=ttl)


@pytest.fixture(scope="session")
def workerd(postgres) -> Iterator[WorkerdStack]:
    stack = WorkerdStack(
        database_url=postgres.create_database("workerd"),
        data_dir=shared_tmpdir("mediagate-workerd-"),
        port=free_port(),
        jwt_secret="test-secret-for-mediagate-workerd-tests-only",
        webhook_secret=WEBHOOK_SECRET,
        neon_port=free_port(),
        processor_port=free_port(),
        worker_vars={
            "DOWNLOAD_REGIONS": json.dumps(REGIONS),
            "DEFAULT_REGION": "us",
            "PROCESSOR_RETRY_DELAY": "1",
            "QUEUE_MAX_ATTEMPTS": "3",
            # Short, so test_completion_in_workerd can show the cron trigger's sweep
            # collecting an orphan; rows still protect everything in use.
            "STORAGE_SWEEP_GRACE_SECONDS": "3",
            # test_runtime_paths' webhook receiver listens on 127.0.0.1
            "WEBHOOK_ALLOW_PRIVATE": "1",
        },
        processor_env={
            "HLS_RUNGS": "720,480,360",
            "VIDEO_PRESET": "ultrafast",
            "RETRY_BASE_DELAY": "0.5",
            "LOG_LEVEL": "WARNING",
            "WEBHOOK_ALLOW_PRIVATE": "1",
            "WEBHOOK_POLL_INTERVAL": "0.2",
        },
    )
    try:
        stack.start()
    except Exception:
        stack.stop()
        raise
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def server(workerd: WorkerdStack) -> WorkerdServer:
    return WorkerdServer(workerd)


@pytest.fixture(scope="module")
def api(server: WorkerdServer) -> tuple[WorkerdServer, str]:
    return server, server.env["DATABASE_URL"]


def log_tail(stack: WorkerdStack, name: str, lines: int = 60) -> str:
    path: Path = stack.data_dir / f"{name}.log"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
