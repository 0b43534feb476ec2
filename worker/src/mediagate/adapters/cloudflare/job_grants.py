"""The queue consumer's side of storage grants: a fresh grant on every delivery.

Kept out of ``container_dispatch`` so the consumer only makes one call. Minting at
delivery (not at enqueue) means the message in the queue holds no credential and each
attempt gets a full ``PROCESSOR_GRANT_TTL_SECONDS``.
"""

from __future__ import annotations

import logging
from typing import Any

from ...config import Settings
from ...contracts import with_storage
from ...files.grants import grant_for
from ...files.links import LinkSigner
from ...ports import SystemClock

log = logging.getLogger("mediagate.dispatch")


def with_storage_grant(env: Any, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with a storage grant for its job, or unchanged when none can be minted
    (no ``JWT_SECRET``/``WORKER_URL``, or not a job message: the processor then fails the
    job with a clear reason when it needs one)."""
    from .worker import EnvVars

    try:
        settings = Settings.from_env(EnvVars(env))
    except ValueError as exc:
        log.warning("no storage grant for job %s: %s", body.get("job_id"), exc)
        return body
    grant = grant_for(settings, LinkSigner(settings.signing_secret, SystemClock()), body)
    if grant is None:
        log.warning("no storage grant for job %s (WORKER_URL set? a valid job message?)", body.get("job_id"))
        return body
    return with_storage(body, grant)
