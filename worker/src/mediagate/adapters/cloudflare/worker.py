"""Build the core from a Worker's ``env``: bindings, vars and secrets.

Kept apart from ``worker/src/entry.py`` (which needs the ``workers`` runtime module) so the
wiring is testable under CPython.

Bindings and variables read from ``env``:

* ``BUCKET``: R2 bucket (originals, staging chunks, derived outputs),
* ``JOBS``: Queues producer for processing jobs (the fast lane),
* the video lane's producer, named by the var ``VIDEO_QUEUE_BINDING`` (wrangler.toml:
  ``"JOBS_VIDEO"``); unset or empty, videos share ``JOBS``. A configured binding that is
  missing is an error, not a silent fallback,
* ``DATABASE_URL`` (secret): the Neon ``postgresql://`` connection string,
* ``JWT_SECRET`` (secret) and the plain vars :meth:`mediagate.config.Settings.from_env`
  reads (``MAX_UPLOAD_SIZE``, ``UPLOAD_PART_SIZE``, ``UPLOAD_TTL_SECONDS``, ...),
* ``NEON_SQL_ENDPOINT`` (optional var): override the SQL-over-HTTP URL (otherwise
  derived from the connection string's host the way Neon's driver does).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ...config import Settings
from ...jobs import LaneQueues
from ...services import Services
from .ffi import is_nullish
from .neon_http import Fetch, NeonHttpDatabase
from .queue_producer import CloudflareQueue
from .queue_stats import JobTableQueueStats
from .r2_store import R2ObjectStore


class EnvVars(Mapping[str, str]):
    """The string vars/secrets of a Worker ``env`` as a read-only mapping (for Settings).

    Only lookups are supported: a JS ``env`` cannot be enumerated reliably, and
    ``Settings.from_env`` only calls ``get``."""

    def __init__(self, env: Any) -> None:
        self._env = env

    def __getitem__(self, name: str) -> str:
        try:
            value = getattr(self._env, name)
        except AttributeError:
            raise KeyError(name) from None
        if is_nullish(value) or not isinstance(value, str | int | float):
            raise KeyError(name)
        return str(value)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def build_services(env: Any, *, fetch: Fetch | None = None) -> Services:
    """The Services for one isolate. ``fetch`` overrides the HTTP call to Neon (tests)."""
    vars_ = EnvVars(env)
    settings = Settings.from_env(vars_)
    database_url = vars_.get("DATABASE_URL")
    if not database_url:
        raise ValueError("DATABASE_URL is not set (wrangler secret put DATABASE_URL)")
    db = NeonHttpDatabase(database_url, fetch, endpoint=vars_.get("NEON_SQL_ENDPOINT") or None)
    store = R2ObjectStore(env.BUCKET)
    fast = CloudflareQueue(env.JOBS)
    video = fast
    video_binding_name = vars_.get("VIDEO_QUEUE_BINDING") or ""
    if video_binding_name:
        video_binding = getattr(env, video_binding_name, None)
        if video_binding is None or is_nullish(video_binding):
            raise ValueError(f"VIDEO_QUEUE_BINDING names {video_binding_name!r}, but env has no such binding")
        video = CloudflareQueue(video_binding)
    # R2's binding lists objects (with a cursor) but not multipart uploads: R2 aborts
    # abandoned ones itself after 7 days.
    return Services(
        settings=settings,
        store=store,
        db=db,
        queue=LaneQueues({"fast": fast, "video": video}),
        # Queues cannot count its backlog or dead letters from a Worker, nor remove a
        # sent message: the figures come from processing_jobs, and there is no purge.
        queue_stats=JobTableQueueStats(db),
        direct_send=store,
        lister=store,
    )
