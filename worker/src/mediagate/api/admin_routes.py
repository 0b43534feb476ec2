"""Admin endpoints (tokens with ``"role": "admin"``): processing stats and job retries.

``GET /api/admin/stats``: job figures from the jobs repository (one SQL statement) and the
queue's own figures from the runtime's QueueStats (local tables, or Cloudflare's rows).
``POST /api/admin/jobs/<job_id>/retry`` re-queues a failed job: the file status owner resets
the job (to ``queued``; attempts are kept) and its file (to ``pending``) in one statement,
then the enqueue service sends a fresh message rebuilt from the files row.
"""

from __future__ import annotations

import logging
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..auth import Principal
from ..contracts import JOB_STATUSES, message_for_file
from ..ports import json_value
from ..services import Services
from .errors import authenticate, json_error

log = logging.getLogger("mediagate.api.admin")


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
    row = await services.jobs.stats()
    by_status = {s: 0 for s in JOB_STATUSES}
    for status, n in (json_value(row["jobs_by_status"]) or {}).items():
        by_status[status] = int(n)
    completed_hour = int(row["completed_last_hour"])
    avg = row["avg_processing_seconds_last_hour"]
    return JSONResponse(
        {
            "queue_depth": await services.queue_stats.depth(),
            "queued_jobs": by_status["queued"],
            "jobs_by_status": by_status,
            "recent_failures": json_value(row["recent_failures"]) or [],
            "throughput": {
                "completed_last_hour": completed_hour,
                "completed_last_24h": int(row["completed_last_24h"]),
                "avg_processing_seconds_last_hour": None if avg is None else round(float(avg), 3),
                "per_minute_last_hour": round(completed_hour / 60, 3),
            },
            "dead_letters": await services.queue_stats.dead_letters(),
        },
        headers={"Cache-Control": "no-store"},
    )


async def retry_job(request: Request) -> Response:
    services: Services = request.app.state.services
    principal = _admin(request)
    if isinstance(principal, Response):
        return principal
    try:
        job_id = str(uuid.UUID(request.path_params["job_id"]))
    except ValueError:
        return json_error(400, "job id must be a UUID")
    file = await services.file_status.reset_for_retry(job_id)
    if file is None:
        found = await services.jobs.retry_state(job_id)
        if found is None:
            return json_error(404, "job not found")
        if found["status"] == "failed":
            return json_error(409, "the job's file no longer exists")
        return json_error(409, f"only failed jobs can be retried (this one is {found['status']})")
    try:
        message_id = await services.enqueuer.enqueue(message_for_file(job_id, file))
    except Exception as exc:
        log.exception("could not queue the retry of job %s", job_id)
        await services.file_status.fail_unqueued(job_id, f"retry could not be queued: {exc}"[:1000])
        return json_error(503, "the queue refused the job; it is still failed, try again later")
    log.info("admin %s re-queued job %s (message %s)", principal.user_id, job_id, message_id)
    return JSONResponse({"job_id": job_id, "status": "queued", "queue_message_id": message_id}, status_code=202)


routes = [
    Route("/api/admin/stats", stats, methods=["GET"]),
    Route("/api/admin/jobs/{job_id}/retry", retry_job, methods=["POST"]),
]
