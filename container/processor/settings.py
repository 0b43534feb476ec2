"""Processor settings from the environment (the container's vars and secrets)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from mediagate.netpolicy import allow_private
from mediagate.webhooks.outbox import RetryPolicy

DAY = 86400.0


@dataclass(frozen=True)
class ProcessorSettings:
    database_url: str
    worker_url: str = ""
    webhook_secret: str = ""
    max_concurrency: int = 3  # all lanes together
    video_concurrency: int = 2  # the video lane (the rest is always free for quick work)
    poster_concurrency: int = 1  # queued videos' poster steps, outside max_concurrency (runner.py)
    visibility_timeout: float = 1800.0
    heartbeat_interval: float = 60.0
    poll_interval: float = 0.25  # an idle pull loop's wait: what a job may wait to start
    max_attempts: int = 3
    retry_base_delay: float = 5.0
    hls_rungs: tuple[int, ...] = (1080, 720, 480)
    video_preset: str = "veryfast"
    queue_name: str = "mediagate-jobs"  # the local Postgres queue the pull loop leases from
    store_backend: str = "local"  # or "worker" (the job's storage grant) or "r2" (S3 API)
    data_dir: str = "data"
    r2_endpoint: str = ""
    r2_bucket: str = ""
    r2_access_key_id: str = ""
    r2_secret_access_key: str = ""
    pull_enabled: bool = True  # False on Cloudflare: jobs are pushed to POST /jobs
    # users' webhooks (processor.webhook_sender): retries, how often the idle loop looks
    webhook_policy: RetryPolicy = field(default_factory=RetryPolicy)
    webhook_poll_interval: float = 1.0
    webhook_allow_private: bool = False  # WEBHOOK_ALLOW_PRIVATE: tests and local development only

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProcessorSettings:
        e = os.environ if env is None else env

        def num(name: str, default: float) -> float:
            raw = e.get(name)
            return float(raw) if raw not in (None, "") else default

        rungs = tuple(int(x) for x in (e.get("HLS_RUNGS") or "1080,720,480").split(",") if x.strip())
        return cls(
            database_url=e.get("DATABASE_URL", ""),
            worker_url=(e.get("WORKER_URL") or "").rstrip("/"),
            webhook_secret=e.get("WEBHOOK_SECRET", ""),
            max_concurrency=int(num("MAX_CONCURRENCY", 3)),
            video_concurrency=int(num("VIDEO_CONCURRENCY", 2)),
            poster_concurrency=int(num("POSTER_CONCURRENCY", 1)),
            visibility_timeout=num("VISIBILITY_TIMEOUT", 1800),
            heartbeat_interval=num("HEARTBEAT_INTERVAL", 60),
            poll_interval=num("POLL_INTERVAL", 0.25),
            max_attempts=int(num("QUEUE_MAX_ATTEMPTS", 3)),
            retry_base_delay=num("RETRY_BASE_DELAY", 5),
            hls_rungs=tuple(sorted(rungs, reverse=True)),
            video_preset=e.get("VIDEO_PRESET", "veryfast"),
            queue_name=e.get("QUEUE_NAME", "mediagate-jobs"),
            store_backend=e.get("STORE_BACKEND", "local"),
            data_dir=e.get("DATA_DIR", "data"),
            r2_endpoint=e.get("R2_ENDPOINT", ""),
            r2_bucket=e.get("R2_BUCKET", ""),
            r2_access_key_id=e.get("R2_ACCESS_KEY_ID", ""),
            r2_secret_access_key=e.get("R2_SECRET_ACCESS_KEY", ""),
            pull_enabled=e.get("PULL_ENABLED", "1") != "0",
            webhook_policy=RetryPolicy(
                base=num("WEBHOOK_RETRY_BASE_SECONDS", RetryPolicy.base),
                max_attempts=int(num("WEBHOOK_MAX_ATTEMPTS", RetryPolicy.max_attempts)),
                max_age=num("WEBHOOK_MAX_AGE_SECONDS", RetryPolicy.max_age),
                retention=num("WEBHOOK_RETENTION_DAYS", RetryPolicy.retention / DAY) * DAY,
            ),
            webhook_poll_interval=num("WEBHOOK_POLL_INTERVAL", 1.0),
            webhook_allow_private=allow_private(e),
        )
