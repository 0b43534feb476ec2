"""Retry a statement Postgres aborted to break a lock cycle (one owner for both adapters).

Every Database call is one autocommit statement, so a statement Postgres rolled back with
``deadlock_detected`` (40P01) or ``serialization_failure`` (40001) left nothing behind and
can simply run again. Such cycles are rare but real: an album batch add copies its files'
rows ``FOR SHARE`` (migration 009's trigger) while a batch trash may lock the same rows in
another order. Without a retry the loser answered 500; with it the request succeeds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 3


async def retry_lock_cycles(run: Callable[[], Awaitable[T]], sqlstate: Callable[[BaseException], str | None]) -> T:
    """``run()`` again (up to ``ATTEMPTS`` in all) while it fails with a retryable SQLSTATE.

    ``sqlstate`` reads the code from the adapter's own exception type (None: not an SQL error)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await run()
        except Exception as exc:
            if attempt == ATTEMPTS or sqlstate(exc) not in RETRYABLE_SQLSTATES:
                raise
    raise AssertionError("unreachable")
