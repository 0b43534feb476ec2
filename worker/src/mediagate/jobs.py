"""Processing lanes: which queue a job message goes to.

Quick work (images, RAW, other files) never waits behind video transcodes. Video jobs go
to the *video* lane, everything else to the *fast* lane; each lane is its own queue
(:func:`lane_queue`: the base name for ``fast``, ``<base>-video`` for ``video``) with its own
concurrency (processor ``VIDEO_CONCURRENCY`` = 2 by default, the fast lane the rest of
``MAX_CONCURRENCY`` = 3 per container: at least 1, and it may borrow video slots that are
idle). A video's poster is its job's first step (about a second in), and,
so that the grid shows it at once even while every video slot is busy, the ingest also sends a
*poster message* (:func:`mediagate.contracts.poster_message`: the same job, ``"step": "poster"``)
to the fast lane: it makes the poster from the first keyframes only if the transcode has not
started yet, and is dropped otherwise (best effort: the transcode makes the poster anyway).
The processor runs these poster steps in a slot of their own (``POSTER_CONCURRENCY`` = 1) and
leases them after whole jobs, so a photo never waits for a video's poster.

The message itself is defined in :mod:`mediagate.contracts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .contracts import LANES, lane
from .ports import JobQueue


def lane_queue(base: str, lane_name: str) -> str:
    """The queue of a lane: ``base`` for the fast lane, ``<base>-video`` for the video lane."""
    return base if lane_name == "fast" else f"{base}-{lane_name}"


def lane_queues(base: str) -> list[str]:
    """Every lane's queue name, fast lane first."""
    return [lane_queue(base, name) for name in LANES]


def message_lane(message: Mapping[str, Any]) -> str:
    """A message's lane (messages from before lanes existed: by file type)."""
    value = message.get("lane")
    return value if value in LANES else lane(str(message.get("file_type") or ""))


class LaneQueues(JobQueue):
    """A JobQueue that sends each message to its lane's queue."""

    def __init__(self, queues: Mapping[str, JobQueue]) -> None:
        self.queues = dict(queues)

    async def send(self, body: dict[str, Any], *, delay_seconds: int = 0) -> str:
        target = self.queues.get(message_lane(body)) or self.queues["fast"]
        return await target.send(body, delay_seconds=delay_seconds)
