"""Interactive requests first: bulk request bodies yield the event loop while one runs.

One event loop serves both the API and uploads locally. With 20 uploads streaming, every
loop iteration carries hundreds of KiB of body bytes per connection, and a listing's few
steps (head, query, response) each wait behind them (p99 6 ms idle, 160 ms loaded).
Here a request whose body is large (``BULK_BODY_BYTES`` and more: tus PATCHes) is a
*bulk* request, any other an *interactive* one. While an interactive request is in
progress, bulk connections stop reading their sockets (the bytes wait in the kernel and
TCP flow control slows the sender); when none is left they read on. So uploads get the
loop whenever nobody is waiting for an answer, and an answer never waits for uploads.

A long interactive request (a download, a ZIP stream) holds bulk bodies back for at
most ``MAX_PRIORITY_SECONDS``: its priority ends then, whatever it still sends. And a bulk
reader never waits longer than ``MAX_BULK_WAIT_SECONDS`` for one read, so a client that
sends requests back to back slows uploads but cannot stop them. Nothing here changes
what is read, only when: bytes, offsets and acknowledgements are as before.

On by default (``UPLOAD_YIELD_MS=10``; 0 turns it off). ``bench/api.py --load-only`` on the
2-core machine this was built on, quiet but for the benchmark (20 uploads + 3 video
transcodes, load average 10–13 during the loaded rounds, medians of 3 rounds): listing p99
81 ms with 10 ms against 259 ms with 0 (p50 21 vs 35 ms), uploads 314 vs 323 MB/s in
aggregate. Under heavy foreign load (load average ~30) the latency gain was within the noise
and single uploads lost throughput (57/21 against 79/56 MB/s): a busy box should measure
(README, Benchmarks). A lone upload never waits: only interactive requests hold it back.

Since tus PATCH connections are served by the upload process (handover.py), the API's loop
no longer carries their bodies; the gate stays on in both processes: in the upload process
it puts the HEADs and creations on its connections before the bodies, and in the API it
still serves whenever uploads are in-process (``UPLOAD_PROCESSES=0``, upload process down).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

BULK_BODY_BYTES = 256 * 1024
MAX_PRIORITY_SECONDS = 0.1
MAX_BULK_WAIT_SECONDS = 0.010  # UPLOAD_YIELD_MS (see above); 0 turns yielding off


class PriorityGate:
    """Counts interactive requests in progress; bulk readers wait while any is."""

    def __init__(
        self, max_priority_seconds: float = MAX_PRIORITY_SECONDS, max_wait_seconds: float = MAX_BULK_WAIT_SECONDS
    ) -> None:
        self.max_priority_seconds = max_priority_seconds
        self.max_wait_seconds = max_wait_seconds
        self.active = 0
        self.waiting: dict[object, Callable[[], None]] = {}  # bulk reader -> its resume

    @property
    def enabled(self) -> bool:
        return self.max_wait_seconds > 0

    @property
    def busy(self) -> bool:
        return self.active > 0 and self.enabled

    def enter(self) -> Callable[[], None]:
        """An interactive request starts; returns its ``leave`` (idempotent), also called by
        itself after ``max_priority_seconds``."""
        self.active += 1
        left = False
        timer: asyncio.TimerHandle | None = None

        def leave() -> None:
            nonlocal left
            if left:
                return
            left = True
            if timer is not None:
                timer.cancel()
            self.active -= 1
            if self.active == 0:
                self._release()

        try:
            timer = asyncio.get_running_loop().call_later(self.max_priority_seconds, leave)
        except RuntimeError:  # no loop (unit use): the caller's leave is the only end
            pass
        return leave

    def wait(self, reader: object, resume: Callable[[], None]) -> None:
        """``reader`` paused itself; ``resume`` runs once no interactive request is left,
        or after ``max_wait_seconds`` (it must tolerate running twice)."""
        self.waiting[reader] = resume
        asyncio.get_running_loop().call_later(self.max_wait_seconds, self._resume_one, reader, resume)

    def _resume_one(self, reader: object, resume: Callable[[], None]) -> None:
        if self.waiting.get(reader) is resume:
            del self.waiting[reader]
            resume()

    def forget(self, reader: object) -> None:
        self.waiting.pop(reader, None)

    def _release(self) -> None:
        waiting, self.waiting = self.waiting, {}
        for resume in waiting.values():
            resume()


GATE = PriorityGate()  # one per process: the local server's event loop
