"""Settings read from a flat string mapping: ``os.environ`` locally, Worker vars on Cloudflare."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MIB = 1024 * 1024
GB = 1000 * 1000 * 1000


def _int(env: Mapping[str, str], name: str, default: int) -> int:
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
    queue_name: str = "mediagate-jobs"
    cors_origins: tuple[str, ...] = ("*",)
    webhook_secret: str = ""
    webhook_tolerance_seconds: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        secret = str(env.get("JWT_SECRET") or "")
        if not secret:
            raise ValueError("JWT_SECRET is not set")
        part_size = _int(env, "UPLOAD_PART_SIZE", 8 * MIB)
        if part_size < 5 * MIB:
            raise ValueError("UPLOAD_PART_SIZE must be at least 5 MiB (R2's minimum part size)")
        max_size = _int(env, "MAX_UPLOAD_SIZE", 5 * GB)
        if max_size > part_size * 10_000:
            raise ValueError("MAX_UPLOAD_SIZE exceeds 10,000 parts of UPLOAD_PART_SIZE")
        origins = tuple(o.strip() for o in str(env.get("CORS_ORIGINS") or "*").split(",") if o.strip())
        return cls(
            jwt_secret=secret,
            max_upload_size=max_size,
            part_size=part_size,
            upload_ttl_seconds=_int(env, "UPLOAD_TTL_SECONDS", 24 * 3600),
            lock_stale_seconds=_int(env, "UPLOAD_LOCK_STALE_SECONDS", 10),
            queue_name=str(env.get("QUEUE_NAME") or "mediagate-jobs"),
            cors_origins=origins or ("*",),
            webhook_secret=str(env.get("WEBHOOK_SECRET") or ""),
            webhook_tolerance_seconds=_int(env, "WEBHOOK_TOLERANCE_SECONDS", 300),
        )
