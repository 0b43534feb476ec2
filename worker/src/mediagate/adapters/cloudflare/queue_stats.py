"""QueueStats on Cloudflare: from the ``processing_jobs`` rows, since a Worker cannot ask Queues.

The Queues binding only sends; backlog and dead-letter counts exist in the dashboard and
the GraphQL analytics API, not in the Worker runtime. The rows know the same facts:

* depth: jobs whose message the broker still holds, i.e. not acked yet — ``queued``
  (waiting or being retried) and ``processing`` (delivered, running);
* dead letters: jobs the dead-letter queue's consumer received (it stamps
  ``dead_lettered_at``, see :func:`mediagate.file_status.FileStatus.dead_lettered`).

There is no FileMessagePurge here: Queues cannot remove a sent message. A deleted file's
message is dropped at delivery, its job row having gone with the file.
"""

from __future__ import annotations

from ...ports import Database, QueueStats


class JobTableQueueStats(QueueStats):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def depth(self) -> int:
        rows = await self.db.fetch("SELECT count(*) AS n FROM processing_jobs WHERE status IN ('queued', 'processing')")
        return int(rows[0]["n"])

    async def dead_letters(self) -> int:
        rows = await self.db.fetch("SELECT count(*) AS n FROM processing_jobs WHERE dead_lettered_at IS NOT NULL")
        return int(rows[0]["n"])
