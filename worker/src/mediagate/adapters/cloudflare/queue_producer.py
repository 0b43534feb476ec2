"""The JobQueue port on a Cloudflare Queues producer binding.

``Queue.send`` resolves to nothing (the message is durably written when it resolves) and
the runtime does not tell the producer the message id. ``send`` therefore returns a
*synthetic* id: the body's ``job_id`` when present (job messages always carry one, see
:mod:`mediagate.contracts`), else a random UUID. The consumer correlates by ``job_id`` in the
body, never by the Queues message id.

Messages are sent with ``contentType: "json"``: the Worker's own consumer gets the same
object back, and messages stay plain JSON outside Workers too (``v8`` ones are opaque
there), e.g. when inspecting the dead-letter queue.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ...ports import JobQueue
from .ffi import to_js_obj, unwrap_binding

MAX_MESSAGE_BYTES = 128 * 1000  # Queues' per-message limit is 128 KB, metadata included
MAX_DELAY_SECONDS = 12 * 3600  # Queues accepts delaySeconds up to 43,200


class QueueSendError(Exception):
    """The queue refused a message (too large, bad delay, or a binding error)."""


class CloudflareQueue(JobQueue):
    def __init__(self, binding: Any) -> None:
        self.binding = unwrap_binding(binding)

    async def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        encoded = json.dumps(body, separators=(",", ":"))
        if len(encoded.encode()) > MAX_MESSAGE_BYTES - 1024:  # leave room for Queues' metadata
            raise QueueSendError(f"queue message is {len(encoded)} bytes; the limit is 128 KB")
        delay = int(delay_seconds)
        if not 0 <= delay <= MAX_DELAY_SECONDS:
            raise QueueSendError(f"delay_seconds must be within 0..{MAX_DELAY_SECONDS}, got {delay}")
        options: dict[str, Any] = {"contentType": "json"}
        if delay:
            options["delaySeconds"] = delay
        # Send a JS object rebuilt from the JSON text: exactly what a JSON consumer will see.
        try:
            await self.binding.send(to_js_obj(json.loads(encoded)), to_js_obj(options))
        except Exception as exc:
            raise QueueSendError(f"Queues send failed: {getattr(exc, 'message', None) or exc}") from exc
        job_id = body.get("job_id")
        return str(job_id) if job_id else str(uuid.uuid4())
