"""A test hook: make the process die at a named point between two steps of a multi-step write.

Inert unless the environment variable ``MEDIAGATE_CRASH_AT`` is set (it never is in
production, and a Worker's ``os.environ`` does not carry it): then it holds a
comma-separated list of point names, and the process exits at once (``os._exit``, no
cleanup, no ``finally`` blocks, open connections dropped: a kill -9 for every purpose the
tests care about) the first time it reaches one of them. ``MEDIAGATE_CRASH_AFTER=N`` lets N
hits go by first.

The crash tests (tests/test_crash_safe_completion.py, bench/chaos.py) use it to stop the
server exactly between two completion steps, where a kill from outside would need luck.
Every point is listed in ``POINTS`` so the tests can check they cover all of them.
"""

from __future__ import annotations

import os

POINTS = (
    # tus engine (tus/engine.py, tus/completion.py), in the order a completion reaches them
    "completion:before-completing",  # last part uploaded, nothing recorded yet
    "completion:after-completing",  # state 'completing' with the part list committed
    "completion:after-assemble",  # object assembled (the store retired the multipart id)
    "completion:after-completed",  # state 'completed' committed
    "completion:after-staging-cleanup",  # staged remainders deleted
    "completion:after-finalize",  # files row, job row and queue message written
    # ingest (ingest.py)
    "ingest:after-rows",  # files + processing_jobs rows inserted, no queue message yet
    "ingest:after-send",  # message sent, its id not yet recorded on the job
)

# The processor's points (container/processor), exercised by tests/test_webhook_outbox.py
# rather than by the server's chaos runs, so kept out of POINTS.
PROCESSOR_POINTS = (
    "processor:after-complete",  # file completed and its webhook events queued, job not acked
)

EXIT_CODE = 70  # what a test sees from the killed server

_armed = frozenset(p.strip() for p in os.environ.get("MEDIAGATE_CRASH_AT", "").split(",") if p.strip())
_skip = int(os.environ.get("MEDIAGATE_CRASH_AFTER", "0") or 0) if _armed else 0


def crash_point(name: str) -> None:
    """Die here if the test hook names this point; otherwise do nothing."""
    global _skip
    if name not in _armed:
        return
    if _skip > 0:
        _skip -= 1
        return
    os._exit(EXIT_CODE)
