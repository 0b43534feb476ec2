"""Settings read from a flat string mapping: ``os.environ`` locally, Worker vars on Cloudflare."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from .netpolicy import allow_private

MIB = 1024 * 1024
GB = 1000 * 1000 * 1000


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        return int(str(raw).strip())
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    jwt_secret: str
    max_upload_size: int = 5 * GB
    part_size: int = 8 * MIB
    upload_ttl_seconds: int = 24 * 3600
    lock_stale_seconds: int = 10
    # progress commits within one PATCH at most this often (ms); its end always commits
    commit_interval_ms: int = 2000
    queue_name: str = "mediagate-jobs"
    dead_letter_queue: str = "mediagate-jobs-dlq"
    queue_max_attempts: int = 3  # deliveries before a job is dead-lettered
    cors_origins: tuple[str, ...] = ("*",)
    webhook_secret: str = ""
    webhook_tolerance_seconds: int = 300
    body_timeout_seconds: float = 30.0  # a bounded (non-tus) body must arrive within this (408)
    webhook_allow_private: bool = False  # WEBHOOK_ALLOW_PRIVATE=1: tests/dev only (see netpolicy)
    link_secret: str = ""
    download_ttl_seconds: int = 900
    preview_ttl_seconds: int = 6 * 3600
    download_regions: str = ""
    default_region: str = ""
    rate_limit_uploads: int = 120  # upload creations per user per minute
    rate_limit_api: int = 1200  # API requests per user per minute
    worker_url: str = ""  # this API's public base URL, for URLs handed to the processor
    grant_ttl_seconds: int = 6 * 3600  # a processor storage grant's lifetime
    grant_max_put_bytes: int = 95 * MIB  # one output PUT through a grant (< 100 MB Workers limit)
    job_storage_grants: bool = False  # locally: ingest attaches a grant to each job message
    sweep_grace_seconds: int = 3600  # the storage sweep leaves younger objects alone
    sweep_batch: int = 1000  # objects the storage sweep examines per prefix per run (0: off)
    trash_retention_days: int = 30  # the cron sweep purges files trashed longer ago than this
    trash_sweep_batch: int = 200  # files the sweep purges per run (each: a listing and deletes)

    @property
    def signing_secret(self) -> str:
        """Links are signed with LINK_SECRET, or a key derived from JWT_SECRET."""
        if self.link_secret:
            return self.link_secret
        return hmac.new(self.jwt_secret.encode(), b"mediagate-links", hashlib.sha256).hexdigest()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        secret = str(env.get("JWT_SECRET") or "")
        if not secret:
            raise ValueError("JWT_SECRET is not set")
        part_size = env_int(env, "UPLOAD_PART_SIZE", 8 * MIB)
        if part_size < 5 * MIB:
            raise ValueError("UPLOAD_PART_SIZE must be at least 5 MiB (R2's minimum part size)")
        max_size = env_int(env, "MAX_UPLOAD_SIZE", 5 * GB)
        if max_size > part_size * 10_000:
            raise ValueError("MAX_UPLOAD_SIZE exceeds 10,000 parts of UPLOAD_PART_SIZE")
        grant_max_put = env_int(env, "PROCESSOR_PUT_MAX_BYTES", 95 * MIB)
        if not 0 < grant_max_put <= 100 * 1000 * 1000:
            raise ValueError("PROCESSOR_PUT_MAX_BYTES must be in 1..100000000 (the Workers request-body limit)")
        origins = tuple(o.strip() for o in str(env.get("CORS_ORIGINS") or "*").split(",") if o.strip())
        return cls(
            jwt_secret=secret,
            max_upload_size=max_size,
            part_size=part_size,
            upload_ttl_seconds=env_int(env, "UPLOAD_TTL_SECONDS", 24 * 3600),
            lock_stale_seconds=env_int(env, "UPLOAD_LOCK_STALE_SECONDS", 10),
            commit_interval_ms=env_int(env, "UPLOAD_COMMIT_INTERVAL_MS", 2000),
            queue_name=str(env.get("QUEUE_NAME") or "mediagate-jobs"),
            dead_letter_queue=str(env.get("DEAD_LETTER_QUEUE") or "mediagate-jobs-dlq"),
            queue_max_attempts=env_int(env, "QUEUE_MAX_ATTEMPTS", 3),
            cors_origins=origins or ("*",),
            webhook_secret=str(env.get("WEBHOOK_SECRET") or ""),
            webhook_tolerance_seconds=env_int(env, "WEBHOOK_TOLERANCE_SECONDS", 300),
            webhook_allow_private=allow_private(env),
            body_timeout_seconds=float(env_int(env, "BODY_TIMEOUT_SECONDS", 30)),
            link_secret=str(env.get("LINK_SECRET") or ""),
            download_ttl_seconds=env_int(env, "DOWNLOAD_TTL_SECONDS", 900),
            preview_ttl_seconds=env_int(env, "PREVIEW_TTL_SECONDS", 6 * 3600),
            download_regions=str(env.get("DOWNLOAD_REGIONS") or ""),
            default_region=str(env.get("DEFAULT_REGION") or ""),
            rate_limit_uploads=env_int(env, "RATE_LIMIT_UPLOADS", 120),
            rate_limit_api=env_int(env, "RATE_LIMIT_API", 1200),
            worker_url=str(env.get("WORKER_URL") or "").rstrip("/"),
            grant_ttl_seconds=env_int(env, "PROCESSOR_GRANT_TTL_SECONDS", 6 * 3600),
            grant_max_put_bytes=grant_max_put,
            job_storage_grants=str(env.get("JOB_STORAGE_GRANTS") or "0") == "1",
            sweep_grace_seconds=env_int(env, "STORAGE_SWEEP_GRACE_SECONDS", 3600),
            sweep_batch=env_int(env, "STORAGE_SWEEP_BATCH", 1000),
            trash_retention_days=env_int(env, "TRASH_RETENTION_DAYS", 30),
            trash_sweep_batch=env_int(env, "TRASH_SWEEP_BATCH", 200),
        )
