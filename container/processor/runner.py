"""The pull loop: lease jobs, run at most N at once, ack, retry with backoff, dead-letter.

Two lanes (see :mod:`mediagate.jobs`; a video's early poster message rides the fast lane): the video lane runs at most ``VIDEO_CONCURRENCY``
jobs, and all jobs together at most ``MAX_CONCURRENCY``, so at least
``MAX_CONCURRENCY - VIDEO_CONCURRENCY`` slots are always there for quick work (images,
RAW, other files). Quick jobs may use idle slots too; video jobs are leased first each round
so they are not starved by a stream of photos (a photo takes a fraction of a second).
An idle loop waits at most ``POLL_INTERVAL`` and is woken earlier by :meth:`Runner.wake`: a
queue NOTIFY (:class:`~processor.jobsource.QueueWakeups`) or a job ending (its slot is free).

A queued video's early *poster step* (fast lane, best effort, one keyframe window: ~0.2 s of
CPU) runs in its own slot (``POSTER_CONCURRENCY`` = 1), outside ``MAX_CONCURRENCY``: it is a
step of a job that is not running, and in a job slot it made a photo wait for it (a JPEG
submitted while 3 videos processed waited 0.8–1 s for the third video's poster). So a poster
never takes the slot quick work needs, and job concurrency stays ≤ ``MAX_CONCURRENCY``.

Each delivery ends in an explicit :class:`~mediagate.contracts.JobOutcome` (ack, retry after
N s, dead) that :meth:`Runner.handle` returns and its caller applies: the pull loop to its
lease (:func:`~processor.jobsource.apply_outcome`), the push endpoint (``POST /jobs``) in
its answer to the Worker's queue consumer. The service keeps one Runner for both, so its
counters (``/healthz``) cover every job however it arrived.

A job whose processor is killed is not acked; its lease runs out and the queue delivers
it again. Outputs have fixed names, so a re-run overwrites them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from mediagate.contracts import ACK, DEAD, RETRY, STORAGE_KEY, JobOutcome, is_poster_message
from mediagate.crashpoints import crash_point
from mediagate.jobs import message_lane

from .jobsource import JobSource, Lease, apply_outcome
from .media.result import MediaError
from .notify import Notifier
from .pipeline import Cancelled, Pipeline
from .settings import ProcessorSettings
from .status import StatusStore

log = logging.getLogger("processor.runner")

#: The poster steps' lane (their own slot, see the module docstring).
POSTER = "poster"


def delivery_lane(message: dict[str, Any]) -> str:
    """Where a delivered message runs: its lane, or ``POSTER`` for a video's poster step."""
    return POSTER if is_poster_message(message) else message_lane(message)


def retry_delay(settings: ProcessorSettings, attempts: int) -> float:
    """Exponential backoff: base, 2×base, 4×base… capped at 10 minutes."""
    return min(600.0, settings.retry_base_delay * 2.0 ** max(0, attempts - 1))


class Runner:
    def __init__(
        self,
        settings: ProcessorSettings,
        source: JobSource,
        pipeline: Pipeline,
        status: StatusStore,
        notifier: Notifier,
        video_source: JobSource | None = None,
    ) -> None:
        self.settings = settings
        self.source = source  # the fast lane (and every job when there is no video source)
        self.video_source = video_source
        self.pipeline = pipeline
        self.status = status
        self.notifier = notifier
        self.slots = asyncio.Semaphore(settings.max_concurrency)
        self.running = 0
        self.lane_running = {"fast": 0, "video": 0, POSTER: 0}
        self.peak = 0
        self.processed = 0
        self.tasks: set[asyncio.Task[None]] = set()
        #: jobs leased here (not poster messages): their early poster is not needed
        self.active_jobs: set[str] = set()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # a message was sent, or a slot freed: pull now

    def free_slots(self, lane: str | None = None) -> int:
        """Free job slots overall, or for one lane (the video lane is capped at
        VIDEO_CONCURRENCY); ``POSTER``: the poster steps' own slots."""
        if lane == POSTER:
            return max(0, self.settings.poster_concurrency - self.lane_running[POSTER])
        free = self.settings.max_concurrency - self.running
        if lane == "video":
            free = min(free, self.settings.video_concurrency - self.lane_running["video"])
        return max(0, free)

    def claim(self, lane: str) -> None:
        self.lane_running[lane] += 1
        if lane != POSTER:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def release(self, lane: str) -> None:
        self.lane_running[lane] -= 1
        if lane != POSTER:
            self.running -= 1
        self.wake()  # a queued job may start in the freed slot now, not at the next poll

    def wake(self) -> None:
        """End the pull loop's idle wait (a queue NOTIFY, or a freed slot)."""
        self._wake.set()

    async def run_forever(self) -> None:
        # (lane, its source, pull steps? False: whole jobs only, True: poster steps only)
        lanes: list[tuple[str, JobSource | None, bool | None]] = (
            [("video", self.video_source, None)] if self.video_source else []
        )
        lanes += [("fast", self.source, False), (POSTER, self.source, True)]
        while not self._stop.is_set():
            self._wake.clear()
            pulled = 0
            for lane, source, steps in lanes:
                free = self.free_slots(lane)
                if free <= 0 or source is None:
                    continue
                try:
                    leases = await source.pull(free, self.settings.visibility_timeout, steps=steps)
                except Exception:
                    log.exception("pulling %s jobs failed", lane)
                    continue
                for lease in leases:
                    self.claim(lane)
                    if not is_poster_message(lease.body):
                        self.active_jobs.add(str(lease.body.get("job_id")))
                    task = asyncio.create_task(self._handle(lease, lane, source))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
                pulled += len(leases)
            if not pulled:
                await self._idle()

    async def _idle(self) -> None:
        """Wait for a wake-up (or stop), at most ``poll_interval`` (the fallback poll)."""
        waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=self.settings.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def stop(self) -> None:
        self._stop.set()
        for task in list(self.tasks):
            task.cancel()

    def _slot(self, lane: str) -> contextlib.AbstractAsyncContextManager[Any]:
        """A job slot (MAX_CONCURRENCY); poster steps hold their own, counted by claim()."""
        return contextlib.nullcontext() if lane == POSTER else self.slots

    async def _handle(self, lease: Lease, lane: str, source: JobSource) -> None:
        try:
            async with self._slot(lane):
                outcome = await self.handle(lease, source)
                await apply_outcome(source, lease, outcome)
        except Exception:
            log.exception("job %s could not be settled", lease.body.get("job_id"))
        finally:
            self.release(lane)
            if not is_poster_message(lease.body):
                self.active_jobs.discard(str(lease.body.get("job_id")))

    async def run_pushed(self, lease: Lease, lane: str) -> JobOutcome:
        """Run a job pushed to ``POST /jobs`` in one of this runner's slots (the caller
        checked :meth:`free_slots`); the outcome goes back to the pusher."""
        self.claim(lane)
        job_id = None if is_poster_message(lease.body) else str(lease.body.get("job_id"))
        if job_id:
            self.active_jobs.add(job_id)
        try:
            async with self._slot(lane):
                return await self.handle(lease)
        finally:
            self.release(lane)
            if job_id:
                self.active_jobs.discard(job_id)

    async def handle(self, lease: Lease, source: JobSource | None = None) -> JobOutcome:
        """Process one delivered message and decide its outcome; the caller applies it.

        ``source`` (pull delivery) has its lease kept alive while the job runs. Only the
        message's job id (and its storage grant, which the Worker signed) is taken from the
        message; everything else is re-read from the database."""
        message = await self.status.job_message(str(lease.body.get("job_id") or ""))
        if message is None:
            log.warning("job %r is not in the database (deleted, or forged): dropped", lease.body.get("job_id"))
            return JobOutcome(ACK, reason="unknown job")
        if isinstance(lease.body.get(STORAGE_KEY), dict):
            message[STORAGE_KEY] = lease.body[STORAGE_KEY]
        if is_poster_message(lease.body):
            return await self.handle_poster(message)
        heartbeat = asyncio.create_task(self._keep_lease(lease.lease_id, source)) if source else None
        try:
            return await self._run(lease, message)
        finally:
            if heartbeat:
                heartbeat.cancel()

    async def _run(self, lease: Lease, message: dict[str, Any]) -> JobOutcome:
        try:
            fields = await self.pipeline.run(message)
        except Cancelled as exc:
            log.info("job %s cancelled: %s", message.get("job_id"), exc)
            return JobOutcome(ACK, reason=str(exc))
        except MediaError as exc:
            reason = str(exc) or "the file could not be processed"
            await self._fail(lease, message, reason, final=True)
            return JobOutcome(ACK, reason=reason)  # settled: the file failed with a readable reason
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:1000]
            log.exception("job %s attempt %d failed", message.get("job_id"), lease.attempts)
            final = lease.attempts >= self.settings.max_attempts
            await self._fail(lease, message, reason, final=final)
            if final:
                return JobOutcome(DEAD, reason=reason)
            return JobOutcome(RETRY, retry_delay(self.settings, lease.attempts), reason)
        crash_point("processor:after-complete")  # tests: status and webhook events committed, no ack
        self.processed += 1
        self.notifier.dispatch("processing-complete", message, {"status": "completed", **_public(fields)})
        return JobOutcome(ACK)

    async def handle_poster(self, message: dict[str, Any]) -> JobOutcome:
        """A video's early poster (fast lane): best effort, never retried — the transcode
        makes the poster anyway, so any failure here only loses the head start."""
        try:
            made = message["job_id"] not in self.active_jobs and await self.pipeline.poster(message)
            log.info("job %s: early poster %s", message.get("job_id"), "made" if made else "not needed")
        except Exception as exc:
            log.warning("job %s: early poster failed: %s", message.get("job_id"), exc)
        return JobOutcome(ACK, reason="poster step")

    async def _fail(self, lease: Lease, message: dict[str, Any], reason: str, *, final: bool) -> None:
        await self.status.fail(message["job_id"], message["file_id"], reason, final=final)
        if final:
            self.notifier.dispatch(
                "processing-failed", message, {"status": "failed", "error": reason, "attempts": lease.attempts}
            )

    async def _keep_lease(self, lease_id: str, source: JobSource) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval)
            try:
                await source.extend(lease_id, self.settings.visibility_timeout)
            except Exception:
                log.exception("could not extend lease %s", lease_id)


def _public(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in ("metadata", "outputs")}
