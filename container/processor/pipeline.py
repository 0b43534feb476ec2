"""One job, end to end: fetch the original, run the processor for its type, publish outputs.

Media work runs in a thread (ffmpeg subprocesses, Pillow, rawpy); progress and the
first playable HLS rung are published from there through the event loop.

Each output is uploaded as one object. Through a storage grant (``STORE_BACKEND=worker``)
one object is one request, bounded by the grant's ``max_put_bytes`` (95 MiB): outputs are
kept under it rather than split (6 s HLS segments at capped bit rates, previews, sprites),
and an output past it fails the job with that reason (``storage.OutputTooLarge``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import posixpath
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .media.poster import Poster
from .media.result import MediaError, ProcessResult
from .media.video import output_content_type
from .settings import ProcessorSettings
from .status import StatusStore
from .storage import JobStores, ProcessorStore

log = logging.getLogger("processor.pipeline")

#: Progress is recorded (and the file's existence checked) at least this often while encoding.
PROGRESS_EVERY_S = 2.0
#: Probe facts recorded with the early poster (the list item and viewer read them).
EARLY_MEDIA_KEYS = ("duration", "width", "height", "display_width", "display_height", "direct_play")


class Cancelled(Exception):
    """The file was deleted while its job ran: outputs are discarded."""


def run_media(
    message: dict[str, Any],
    src: Path,
    out_dir: Path,
    settings: ProcessorSettings,
    on_progress: Callable[[float], None],
    on_first_playable: Callable[[str], None],
    on_publish: Callable[[list[tuple[str, Path]]], None] | None = None,
    on_poster: Callable[[Poster, dict[str, Any]], None] | None = None,
    on_thumbnail: Callable[[str, str], None] | None = None,
) -> ProcessResult:
    """Pick and run the processor for this file (blocking; call in a thread).

    ``on_thumbnail(path, placeholder)``: a still's grid thumbnail exists (before its viewer size)."""
    file_type = message.get("file_type")
    colorspace = (message.get("options") or {}).get("colorspace")
    if file_type == "video":
        from .media.log import bake_lut, normalize_curve
        from .media.video import process_video

        lut = None
        if colorspace:
            lut = str(bake_lut(normalize_curve(colorspace), out_dir.parent / "log_to_rec709.cube"))
        return process_video(
            src,
            out_dir,
            rungs=settings.hls_rungs,
            lut_path=lut,
            on_progress=on_progress,
            on_first_playable=on_first_playable,
            on_publish=on_publish,
            on_poster=on_poster,
            preset=settings.video_preset,
        )
    if file_type == "image":
        from .media.log import normalize_curve

        curve = normalize_curve(colorspace) if colorspace else None
        if message.get("is_raw"):
            from .media.raw import process_raw

            return process_raw(src, out_dir, log_curve=curve, on_thumbnail=on_thumbnail)
        from .media.image import process_image

        return process_image(src, out_dir, log_curve=curve, on_thumbnail=on_thumbnail)
    return ProcessResult(outputs=[], metadata={"note": "stored as-is; download only"})


def early_poster(src: Path, out_dir: Path) -> tuple[Poster, dict[str, Any]]:
    """Probe + one-frame poster of a video, nothing else (the fast lane's poster step)."""
    from .media.poster import make_poster
    from .media.probe import probe_video

    info = probe_video(src)
    return make_poster(src, out_dir, info, quick=True), info


class Pipeline:
    def __init__(self, settings: ProcessorSettings, stores: JobStores, status: StatusStore) -> None:
        self.settings = settings
        self.stores = stores  # per job: with STORE_BACKEND=worker, the job's own grant
        self.status = status

    async def publish_poster(
        self,
        store: ProcessorStore,
        prefix: str,
        file_id: str,
        out_dir: Path,
        poster: Poster,
        info: dict[str, Any],
        *,
        early: bool = False,
    ) -> bool:
        """Upload the poster and record it (``early``: only if the file has none yet)."""
        if early and not await self.status.poster_pending(file_id):
            return False
        for o in poster.outputs:
            await store.upload(out_dir / o.path, prefix + o.path, output_content_type(o.path))
        fields = {
            "preview_key": prefix + poster.preview,
            "thumbnail_key": prefix + poster.thumbnail,
            "placeholder": poster.placeholder,
        }
        media = {k: info.get(k) for k in EARLY_MEDIA_KEYS}
        return await self.status.poster(file_id, fields, media, only_if_missing=early)

    async def poster(self, message: dict[str, Any]) -> bool:
        """The fast lane's poster step of a queued video (see ``mediagate.contracts.poster_message``).

        Skipped (False) once the transcode has started or the file has a thumbnail: the
        transcode makes its own poster a second into the job, so this one only matters while
        the video waits for a video-lane slot. Made without a LUT (a LOG video's early poster
        is ungraded until the transcode replaces it)."""
        file_id, prefix = message["file_id"], message["output_prefix"]
        if message.get("file_type") != "video" or not await self.status.poster_pending(
            file_id, job_id=message["job_id"]
        ):
            return False
        store = self.stores.for_job(message)
        work = Path(tempfile.mkdtemp(prefix="mediagate-poster-"))
        try:
            src = work / ("original" + posixpath.splitext(message.get("filename") or "")[1].lower()[:10])
            await store.download(message["object_key"], src)
            out_dir = work / "out"
            out_dir.mkdir()
            poster, info = await asyncio.to_thread(early_poster, src, out_dir)
            return await self.publish_poster(store, prefix, file_id, out_dir, poster, info, early=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    async def run(self, message: dict[str, Any]) -> dict[str, Any]:
        """Process one job message; returns the completion fields. Raises MediaError for bad media."""
        job_id, file_id, prefix = message["job_id"], message["file_id"], message["output_prefix"]
        store = self.stores.for_job(message)
        if not await self.status.start(job_id, file_id):
            raise Cancelled(f"file {file_id} no longer exists")
        loop = asyncio.get_running_loop()
        work = Path(tempfile.mkdtemp(prefix="mediagate-job-"))
        try:
            # the extension only: tools sniff content, and a name never reaches a command line
            ext = re.sub(r"[^a-z0-9.]", "", posixpath.splitext(message.get("filename") or "")[1].lower())[:10]
            src = work / f"original{ext}"
            steps = {"start": time.monotonic()}  # where a job's time goes (logged at INFO)
            await store.download(message["object_key"], src)
            steps["download"] = time.monotonic()
            if src.stat().st_size == 0:
                raise MediaError("the file is empty (0 bytes)")
            out_dir = work / "out"
            out_dir.mkdir()
            last = {"pct": -10.0, "at": time.monotonic()}

            def on_progress(pct: float) -> None:
                # every 5 % or 2 s: the list shows progress, and a file deleted meanwhile stops
                # its transcode (Cancelled kills the encoders) instead of burning the CPU to the end
                now = time.monotonic()
                if pct - last["pct"] >= 5 or pct >= 100 or now - last["at"] >= PROGRESS_EVERY_S:
                    last.update(pct=pct, at=now)
                    alive = asyncio.run_coroutine_threadsafe(self.status.progress(job_id, file_id, pct), loop).result(
                        30
                    )
                    if not alive:
                        raise Cancelled(f"file {file_id} was deleted during processing")

            published: set[str] = set()  # segments are uploaded once, never rewritten

            def in_loop(coro: Any, timeout: float = 120) -> None:
                asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

            async def upload_all(items: list[tuple[str, Path]]) -> None:
                for rel, path in items:
                    await store.upload(path, prefix + rel, output_content_type(rel))
                    if not rel.endswith(".m3u8"):
                        published.add(rel)

            def on_publish(items: list[tuple[str, Path]]) -> None:
                in_loop(upload_all(items))

            def on_first_playable(playlist: str) -> None:
                in_loop(self.status.playable(job_id, file_id, prefix + playlist))

            def on_poster(poster: Poster, info: dict[str, Any]) -> None:
                in_loop(self.publish_poster(store, prefix, file_id, out_dir, poster, info))
                published.update(o.path for o in poster.outputs)

            async def publish_thumbnail(rel: str, placeholder: str) -> None:
                await store.upload(out_dir / rel, prefix + rel, output_content_type(rel))
                await self.status.thumbnail(file_id, prefix + rel, placeholder)

            def on_thumbnail(rel: str, placeholder: str) -> None:
                # the grid shows a still's thumbnail before its viewer size is encoded
                in_loop(publish_thumbnail(rel, placeholder))
                published.add(rel)

            try:
                result = await asyncio.to_thread(
                    run_media,
                    message,
                    src,
                    out_dir,
                    self.settings,
                    on_progress,
                    on_first_playable,
                    on_publish,
                    on_poster,
                    on_thumbnail,
                )
            except Cancelled:
                await store.delete_prefix(prefix)  # the poster and segments published so far
                raise
            steps["process"] = time.monotonic()

            # segments before the playlists listing them, the master last: a player reading the
            # (already public) master never meets a rung that is not there yet
            def order(o: Any) -> int:
                return 2 if o.path == result.hls_master else 1 if o.path.endswith(".m3u8") else 0

            for output in sorted(result.outputs, key=order):
                if output.path in published:
                    continue
                await store.upload(out_dir / output.path, prefix + output.path, output.content_type)
            fields = {
                "preview_key": prefix + result.preview if result.preview else None,
                "thumbnail_key": prefix + result.thumbnail if result.thumbnail else None,
                "hls_playlist_key": prefix + result.hls_master if result.hls_master else None,
                "placeholder": result.placeholder,
                "metadata": result.metadata,
                "outputs": [o.path for o in result.outputs],
            }
            steps["upload"] = time.monotonic()
            if not await self.status.complete(job_id, file_id, fields):
                await store.delete_prefix(prefix)
                raise Cancelled(f"file {file_id} was deleted during processing")
            steps["record"] = time.monotonic()
            names = list(steps)
            log.info(
                "job %s (%s): %s",
                job_id,
                message.get("file_type"),
                ", ".join(f"{b} {steps[b] - steps[a]:.3f} s" for a, b in itertools.pairwise(names)),
            )
            return fields
        finally:
            shutil.rmtree(work, ignore_errors=True)
