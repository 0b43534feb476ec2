"""The Postgres-backed queue: leases, visibility timeout, retry delay, dead letters."""

from __future__ import annotations

import asyncio

import pytest
from mediagate.adapters.local.pg_queue import PostgresQueue
from mediagate.adapters.local.postgres import PostgresDatabase


class FakeClock:
    """Time is an input here: a controllable clock instead of sleeping."""

    def __init__(self) -> None:
        self.t = 1_900_000_000.0

    def now(self) -> float:
        return self.t


@pytest.fixture()
def queue_env(fresh_database_url):
    async def make():
        db = PostgresDatabase(fresh_database_url, max_size=4)
        await db.open()
        clock = FakeClock()
        return db, clock, PostgresQueue(db, "jobs", max_attempts=2, clock=clock)

    return make


def test_send_pull_ack(queue_env):
    async def go() -> None:
        db, _clock, q = await queue_env()
        mid = await q.send({"n": 1})
        [m] = await q.pull(batch_size=10, visibility_timeout=30)
        assert m.id == mid and m.body == {"n": 1} and m.attempts == 1
        assert await q.pull() == []  # leased: invisible
        assert await q.ack(m.lease_id)
        assert await q.depth() == 0
        await db.close()

    asyncio.run(go())


def test_visibility_timeout_redelivers_then_dead_letters(queue_env):
    async def go() -> None:
        db, clock, q = await queue_env()
        await q.send({"job": "x"})
        [first] = await q.pull(visibility_timeout=30)
        clock.t += 31  # consumer died: lease expires
        [second] = await q.pull(visibility_timeout=30)
        assert second.id == first.id and second.attempts == 2
        assert not await q.ack(first.lease_id)  # the stale lease can't ack
        clock.t += 31
        assert await q.pull() == []  # attempts used up
        rows = await db.fetch("SELECT body, attempts, reason FROM queue_dead_letters")
        assert rows[0]["attempts"] == 2 and "visibility timeout" in rows[0]["reason"]
        await db.close()

    asyncio.run(go())


def test_retry_delay_and_dead_letter_on_last_attempt(queue_env):
    async def go() -> None:
        db, clock, q = await queue_env()
        await q.send({"job": "y"})
        [m] = await q.pull()
        assert await q.retry(m.lease_id, delay_seconds=10, reason="boom") == "retried"
        assert await q.pull() == []  # delayed
        clock.t += 11
        [m2] = await q.pull()
        assert m2.attempts == 2
        assert await q.retry(m2.lease_id, reason="still broken") == "dead"
        rows = await db.fetch("SELECT reason FROM queue_dead_letters")
        assert rows == [{"reason": "still broken"}]
        assert await q.depth() == 0
        await db.close()

    asyncio.run(go())


def test_delayed_send_and_batches(queue_env):
    async def go() -> None:
        db, clock, q = await queue_env()
        for i in range(5):
            await q.send({"i": i})
        await q.send({"late": True}, delay_seconds=60)
        batch = await q.pull(batch_size=3)
        assert len(batch) == 3
        rest = await q.pull(batch_size=10)
        assert len(rest) == 2
        clock.t += 61
        [late] = await q.pull(batch_size=10)
        assert late.body == {"late": True}
        await db.close()

    asyncio.run(go())


def test_lanes_route_to_their_own_queues(queue_env):
    """LaneQueues sends videos to ``<base>-video`` and the rest to ``<base>`` (real Postgres queues)."""
    from mediagate.adapters.local.pg_queue import PostgresQueueStats
    from mediagate.contracts import LANES, job_message
    from mediagate.jobs import LaneQueues, lane_queue, lane_queues

    async def go() -> None:
        db, clock, _ = await queue_env()
        queues = {lane: PostgresQueue(db, lane_queue("jobs", lane), clock=clock) for lane in LANES}
        router = LaneQueues(queues)

        def message(file_type: str) -> dict:
            return job_message(
                job_id=file_type,
                file_id="f",
                user_id="u",
                object_key="k",
                file_type=file_type,
                mime_type="",
                filename="x",
                is_raw=False,
                metadata={},
            )

        for kind in ("video", "image", "other", "video"):
            await router.send(message(kind))
        await router.send({"job_id": "old", "file_type": "video"})  # no lane field: by file type
        fast = await queues["fast"].pull(batch_size=10)
        video = await queues["video"].pull(batch_size=10)
        assert sorted(m.body["job_id"] for m in fast) == ["image", "other"]
        assert sorted(m.body["job_id"] for m in video) == ["old", "video", "video"]
        assert {m.body.get("lane") for m in video} == {"video", None}
        # the admin stats' depth: both lanes' messages not yet acked, leased ones included
        assert await PostgresQueueStats(db, lane_queues("jobs")).depth() == 5

    asyncio.run(go())


def test_runner_lane_slots():
    """The video lane is capped at VIDEO_CONCURRENCY; quick work always keeps the rest."""
    from processor.runner import Runner
    from processor.settings import ProcessorSettings

    r = Runner(ProcessorSettings(database_url="", max_concurrency=3, video_concurrency=2), None, None, None, None)
    assert (r.free_slots("video"), r.free_slots("fast")) == (2, 3)
    r.claim("video")
    r.claim("video")
    assert (r.free_slots("video"), r.free_slots("fast")) == (0, 1)
    r.claim("fast")
    assert (r.free_slots("video"), r.free_slots("fast")) == (0, 0)
    r.release("video")
    assert (r.free_slots("video"), r.free_slots("fast")) == (1, 1)
    r.release("video")
    r.claim("fast")
    r.claim("fast")  # quick work may use idle video slots
    assert (r.free_slots("video"), r.free_slots("fast"), r.peak) == (0, 0, 3)
    # a queued video's poster step has its own slot: it never takes quick work's
    r.release("fast")
    assert (r.free_slots("poster"), r.free_slots("fast")) == (1, 1)
    r.claim("poster")
    assert (r.free_slots("poster"), r.free_slots("fast"), r.running, r.peak) == (0, 1, 2, 3)
    r.release("poster")
    assert r.free_slots("poster") == 1


def test_whole_jobs_lease_before_steps(queue_env):
    """A photo queued after a video's poster message (a step of a job) is leased first; the
    processor's job slots lease whole jobs only, its poster slot steps only."""

    async def go() -> None:
        db, clock, q = await queue_env()
        await q.send({"job_id": "v", "step": "poster"})
        clock.t += 1
        await q.send({"job_id": "photo"})
        [first] = await q.pull(batch_size=1)
        [second] = await q.pull(batch_size=1)
        assert (first.body["job_id"], second.body["job_id"]) == ("photo", "v")
        clock.t += 400  # both leases expire
        assert [m.body["job_id"] for m in await q.pull(batch_size=5, steps=True)] == ["v"]
        assert [m.body["job_id"] for m in await q.pull(batch_size=5, steps=False)] == ["photo"]
        await db.close()

    asyncio.run(go())


def test_send_wakes_a_listening_processor(fresh_database_url):
    """An immediate send NOTIFYs: QueueWakeups calls wake at once; a delayed send does not."""
    from processor.jobsource import QueueWakeups

    async def go() -> None:
        db = PostgresDatabase(fresh_database_url, max_size=2)
        await db.open()
        q = PostgresQueue(db, "jobs")
        woke = asyncio.Event()
        wakeups = QueueWakeups(fresh_database_url, woke.set)
        task = asyncio.create_task(wakeups.run_forever())
        await asyncio.wait_for(wakeups.listening.wait(), 10)
        await asyncio.sleep(0.1)
        woke.clear()  # the wake on (re)connect
        await q.send({"n": 1}, delay_seconds=60)
        await asyncio.sleep(0.5)
        assert not woke.is_set()  # not visible yet: nothing to start
        await q.send({"n": 2})
        await asyncio.wait_for(woke.wait(), 2)
        task.cancel()
        await db.close()

    asyncio.run(go())


def test_runner_idle_loop_pulls_again_on_wake():
    """An idle pull loop waits POLL_INTERVAL at most, and pulls again at once when woken."""
    from processor.runner import Runner
    from processor.settings import ProcessorSettings

    class CountingSource:
        def __init__(self) -> None:
            self.pulls = 0

        async def pull(self, batch_size: int, visibility_timeout: float, steps: bool | None = None) -> list:
            self.pulls += steps is False  # one round: whole jobs, then poster steps
            return []

    async def go() -> None:
        source = CountingSource()
        settings = ProcessorSettings(database_url="", poll_interval=30)
        r = Runner(settings, source, None, None, None)  # type: ignore[arg-type]
        loop = asyncio.create_task(r.run_forever())
        await asyncio.sleep(0.2)
        assert source.pulls == 1  # idle: waiting up to 30 s
        r.wake()
        await asyncio.sleep(0.2)
        assert source.pulls == 2
        r.claim("fast")
        r.release("fast")  # a freed slot wakes it too
        await asyncio.sleep(0.2)
        assert source.pulls == 3
        await r.stop()
        await asyncio.wait_for(loop, 2)

    asyncio.run(go())
