"""Admin endpoints (tokens with ``"role": "admin"``): processing stats and job retries.

``GET /api/admin/stats`` is one SQL statement (one round trip over Neon's HTTP API).
``POST /api/admin/jobs/<job_id>/retry`` re-queues a failed job: one atomic statement
resets the job (to ``queued``; attempts are kept) and its file (to ``pending``), then a
fresh job message rebuilt from the files row goes to the queue.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..auth import Principal
from ..jobs import JOB_TYPES, job_message
from ..ports import json_value
from ..services import Services
from .errors import authenticate, json_error

log = logging.getLogger("mediagate.api.admin")

JOB_STATUSES = ("queued", "processing", "completed", "failed")
RECENT_FAILURES = 20

STATS_SQL = f"""
SELECT
  (SELECT count(*) FROM queue_messages WHERE queue IN ($1, $1 || '-video')) AS queue_messages,
  (SELECT count(*) FROM queue_dead_letters WHERE queue IN ($1, $1 || '-video')) AS dead_letters,
  (SELECT COALESCE(json_object_agg(status, n), '{{}}'::json)
     FROM (SELECT COALESCE(status, 'queued') AS status, count(*) AS n FROM processing_jobs GROUP BY 1) s
  ) AS jobs_by_status,
  (SELECT count(*) FROM processing_jobs
     WHERE status = 'completed' AND completed_at >= LOCALTIMESTAMP - interval '1 hour') AS completed_last_hour,
  (SELECT count(*) FROM processing_jobs
     WHERE status = 'completed' AND completed_at >= LOCALTIMESTAMP - interval '24 hours') AS completed_last_24h,
  (SELECT avg(EXTRACT(EPOCH FROM completed_at - started_at))::float8 FROM processing_jobs
     WHERE status = 'completed' AND completed_at >= LOCALTIMESTAMP - interval '1 hour' AND started_at IS NOT NULL
  ) AS avg_processing_seconds_last_hour,
  (SELECT COALESCE(json_agg(r), '[]'::json) FROM (
     SELECT j.id::text AS job_id, j.file_id::text AS file_id, f.filename, f.user_id::text AS user_id,
            COALESCE(j.error_message, f.processing_error) AS error,
            COALESCE(j.completed_at, j.started_at, j.created_at) AS failed_at, j.attempts
     FROM processing_jobs j LEFT JOIN files f ON f.id = j.file_id
     WHERE j.status = 'failed'
     ORDER BY j.completed_at DESC NULLS LAST, j.created_at DESC
     LIMIT {RECENT_FAILURES}) r
  ) AS recent_failures
"""

# Resets the job and its file in one statement; no row when the job is not failed
# (or its file is gone). Another retry racing this one finds the job 'queued': 409.
RETRY_SQL = """
WITH j AS (
  UPDATE processing_jobs SET status = 'queued', error_message = NULL, progress = 0, started_at = NULL,
         completed_at = NULL, queue_message_id = NULL
  WHERE id = $1::uuid AND status = 'failed' AND EXISTS (SELECT 1 FROM files WHERE files.id = processing_jobs.file_id)
  RETURNING id, file_id),
f AS (
  UPDATE files SET processing_status = 'pending', processing_error = NULL, processing_progress = 0, updated_at = NOW()
  FROM j WHERE files.id = j.file_id
  RETURNING files.id, files.user_id, files.original_key, files.file_type, files.mime_type, files.filename,
            COALESCE(files.metadata -> 'upload' -> 'metadata', '{}'::jsonb) AS upload_metadata,
            COALESCE(files.metadata ->> 'is_raw', 'false') AS is_raw)
SELECT j.id::text AS job_id, f.id::text AS file_id, f.user_id::text AS user_id, f.original_key, f.file_type,
       f.mime_type, f.filename, f.upload_metadata, f.is_raw
FROM j JOIN f ON f.id = j.file_id
"""


def _admin(request: Request) -> Principal | Response:
    principal = authenticate(request)  # AuthError → 401
    if not principal.is_admin:
        return json_error(403, "this endpoint needs an admin token")
    return principal


async def stats(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = _admin(request)
    if isinstance(principal, Response):
        return principal
    row = (await services.db.fetch(STATS_SQL, services.settings.queue_name))[0]
    by_status = {s: 0 for s in JOB_STATUSES}
    for status, n in (json_value(row["jobs_by_status"]) or {}).items():
        by_status[status] = int(n)
    messages = int(row["queue_messages"])
    # Locally the queue is the queue_messages table (leased but not acked messages count);
    # on Cloudflare Queues the broker holds the messages, so queued jobs are the depth.
    local_queue = callable(getattr(services.queue, "depth", None))
    completed_hour = int(row["completed_last_hour"])
    avg = row["avg_processing_seconds_last_hour"]
    return JSONResponse(
        {
            "queue_depth": messages if local_queue else by_status["queued"],
            "queue_messages": messages,
            "queued_jobs": by_status["queued"],
            "jobs_by_status": by_status,
            "recent_failures": json_value(row["recent_failures"]) or [],
            "throughput": {
                "completed_last_hour": completed_hour,
                "completed_last_24h": int(row["completed_last_24h"]),
                "avg_processing_seconds_last_hour": None if avg is None else round(float(avg), 3),
                "per_minute_last_hour": round(completed_hour / 60, 3),
            },
            "dead_letters": int(row["dead_letters"]),
        },
        headers={"Cache-Control": "no-store"},
    )


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "t")


async def retry_job(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = _admin(request)
    if isinstance(principal, Response):
        return principal
    try:
        job_id = str(uuid.UUID(request.path_params["job_id"]))
    except ValueError:
        return json_error(400, "job id must be a UUID")
    rows = await services.db.fetch(RETRY_SQL, job_id)
    if not rows:
        found = await services.db.fetch(
            """SELECT j.status, f.id IS NOT NULL AS has_file
               FROM processing_jobs j LEFT JOIN files f ON f.id = j.file_id WHERE j.id = $1::uuid""",
            job_id,
        )
        if not found:
            return json_error(404, "job not found")
        if found[0]["status"] == "failed":
            return json_error(409, "the job's file no longer exists")
        return json_error(409, f"only failed jobs can be retried (this one is {found[0]['status']})")
    row = rows[0]
    metadata = {str(k): str(v) for k, v in (json_value(row["upload_metadata"]) or {}).items()}
    file_type = row["file_type"] if row["file_type"] in JOB_TYPES else "other"
    message = job_message(
        job_id=row["job_id"],
        file_id=row["file_id"],
        user_id=row["user_id"],
        object_key=row["original_key"],
        file_type=file_type,
        mime_type=row["mime_type"],
        filename=row["filename"],
        is_raw=_truthy(row["is_raw"]),
        metadata=metadata,
    )
    try:
        message_id = await services.queue.send(services.ingest.with_grant(message))
    except Exception as exc:
        log.exception("could not queue the retry of job %s", job_id)
        reason = f"retry could not be queued: {exc}"[:1000]
        await services.db.execute(
            """WITH j AS (UPDATE processing_jobs SET status = 'failed', error_message = $2, completed_at = LOCALTIMESTAMP
                          WHERE id = $1::uuid AND status = 'queued' RETURNING file_id)
               UPDATE files SET processing_status = 'failed', processing_error = $2, updated_at = NOW()
               FROM j WHERE files.id = j.file_id""",
            job_id,
            reason,
        )
        return json_error(503, "the queue refused the job; it is still failed, try again later")
    await services.db.execute(
        "UPDATE processing_jobs SET queue_message_id = $2 WHERE id = $1::uuid", job_id, message_id
    )
    log.info("admin %s re-queued job %s (message %s)", principal.user_id, job_id, message_id)
    return JSONResponse({"job_id": job_id, "status": "queued", "queue_message_id": message_id}, status_code=202)


routes = [
    Route("/api/admin/stats", stats, methods=["GET"]),
    Route("/api/admin/jobs/{job_id}/retry", retry_job, methods=["POST"]),
]
