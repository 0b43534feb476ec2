"""Video processing: HLS fMP4 ladder, poster, storyboard, metadata — over local files.

Lowest rung first, without paying for it
----------------------------------------
A viewer should get a playable video long before the whole ladder is encoded. Measured on
2 cores (30 s of 1080p30 H.264 + AAC, ladder 1080/720/480, ``veryfast``; reproduce with
``bench/process_video.py``):

* bare ladder, one ffmpeg run (split → 3 rungs): ~31–35 s, and nothing is playable before
  the end (ffmpeg writes a VOD playlist only when the run finishes).
* a throw-away ``ultrafast`` 480p preview pass, then the ladder: the preview pass alone
  costs ~6 s here, mostly *decoding and scaling* the 1080p source (decode alone: 4.1 s
  wall, 6.2 s CPU), which no encoder preset makes cheaper → ratio ≈ 1.2.
* the final 480p rung in its own run, then 1080p+720p, one after the other: each rung is
  encoded once, the extra cost is one more decode → 37 s (ratio ≈ 1.19), playable at 10.8 s.
* **chosen**: the same two runs started *together*, the upper-rungs run under
  ``nice +UPPER_RUNGS_NICE``. The 480p run (plus the shared audio rendition) gets the CPU
  first and finishes at ~10 s; the upper rungs soak up the idle cycles meanwhile (one
  ffmpeg process never keeps 2 cores busy: decode hand-off, swscale and muxing are
  serial), so on a quiet box the wall time stays within ~5 % of the bare ladder (bench:
  38.3 s vs 38.2 s, playable at 12.4 s; an earlier run 37.1 s vs 35.4 s, playable at
  10.1 s). The extra CPU is the second decode, 11–13 % of the ladder for this 12 Mbit/s
  source (measured +2 % to +18 % overall, noisy). The low rung is final, not a preview.
  Caveat: under *foreign* CPU load (other programs at normal priority), the niced run is
  starved and the total stretches (bench on a busy shared box: up to 1.5x); in the
  container the only competitors are other jobs, and yielding to them is the point.

Progressive first rung, poster first (instant preview)
-----------------------------------------------------
The run carrying the lowest rung (and the audio) writes HLS ``EVENT`` playlists
(``-hls_playlist_type event``, ``temp_file``: rewritten atomically after each finished
segment, closed with ``EXT-X-ENDLIST``). While it runs, :class:`_Publisher` hands the caller
(``on_publish``) each new init section/segment once, then a snapshot of the playlists listing
only what was handed out before, then — as soon as every rendition has ``START_BUFFER_SECONDS`` — a
provisional master listing that rung (``on_first_playable``). The full ladder joins the master
when the upper rungs finish (together: they share one run and one decode; joining each rung as
it completes would take a run, i.e. a decode, per rung — +11–15 % CPU each for 1080p H.264 —
for a master that is better only minutes earlier). Players reload the master then: the web
app swaps in place at the same position. The same publishing happens in the single-run case (4K, one rung).

Where the time to the first frame went (non-direct-play source, 30 s 1080p MPEG-2, measured
with ``bench/instant_preview.py``'s phases and ``timings`` here) and what changed:

* **the first segment** dominated: with 6 s segments ffmpeg closes the first one only at the
  keyframe after 6 s of media — 7.1 s into the job on the loaded box (the poster, at nice 0,
  competing). The progressive rung now uses ``PROGRESSIVE_SEGMENT_SECONDS`` = 2 s segments
  (one keyframe interval; ``-hls_init_time`` cannot do "short first, long later" for an EVENT
  playlist: ffmpeg 5.1 applies it to every segment when the list is unbounded). First rung
  playable 1.2 s into ``process_video`` vs 2.85 s with 6 s segments (medians of 3, interleaved,
  30 s 1080p MPEG-2, 1080/720/480, load ~4; probe 0.08 s, poster 0.6 s of it concurrent). The upper rungs
  keep 6 s segments (fewer objects); their boundaries are a subset of the low rung's, so ABR
  switches stay on keyframes.
* **the second segment** (playing on from the first frame without a stall): hls.js re-reads a
  growing (live) playlist once per target duration. With 2 s segments and the master out at
  the first one, the player started with 2 s to play and learned of the next segment ~2 s
  after its first read: 0.1–0.2 s of margin, and a 5 min MPEG-2 clip stalled once ~2 s in
  (29 ms and 181 ms in two bench runs). Now the low rung's own run writes
  ``PROGRESSIVE_SEGMENT_SECONDS`` = 1 s segments (keyframes every 1 s on that 480p rung only) and
  the master waits for ``START_BUFFER_SECONDS`` = 2 s of every rendition: the first frame needs
  the same 2 s of media as before, and the player re-reads every second with ≥ 1 s in hand.
  Cost: 6x the objects of 6 s segments for the low rung and audio, and the growing playlists
  re-sent after every 1 s segment (O(n²) playlist bytes: ~200 MB over a 1 h video; a 5 min
  one ~1.5 MB).
* **status polling**: the viewer polled every 1 s (0.5 s on average); a video that waits
  for its first rung now polls its own row every 300 ms (one small GET, only while waiting).
  Push (SSE, or a Durable Object's WebSocket) would save those ~150 ms but needs a status
  channel the app does not have yet; polling only while waiting is the cheap trade.
* **hls.js startup**: the module is fetched when a video opens (or is pressed in the grid),
  ``startFragPrefetch`` loads the first segment while the media element attaches; the first
  2 s segment is small (~0.3 MB), so startup buffer settings matter less than its existence.
* **queue latency**: the idle local pull loop polls every 0.25 s (Cloudflare pushes each
  message at once: ``max_batch_size = 1``); originals in the local store are hard-linked into
  the job instead of copied (a 5 min 1080p original is ~450 MB).
* **direct play** (browser-playable originals) does not wait for processing at all: the time
  is the app's (the new tile, the signed link, the first Range reads); a press on a tile
  fetches the signed link before the double-click completes. The tile no longer waits for a
  list refresh: the last PATCH's answer names the file (``Mediagate-File-Id``) and the app
  GETs it by id (tile 0.27–0.46 s after the last byte at load 25–30). The h264/mpeg2
  difference in "viewer open" seen before was the harness, not the app: it closed the upload
  panel only after the upload, and Playwright's click retried (backing off up to 0.5 s) while
  the closing panel covered the grid; the harness now closes it during the upload, as a user
  watching the grid would.

End to end (``bench/instant_preview.py``, 30 s 1080p, medians of 3 interleaved, shared box at
load 5–12): HLS first frame 6.3 s after the last byte (job start → playable 4.5–5.9 s there,
vs 1.2 s for ``process_video`` alone at load 4: the aim of ≤ 3 s is not met on this box),
direct play 1.7 s (~1.4 s of it the app opening the viewer after the upload). At load 25–30
the HLS figure is ~17 s: the low run at nice 4 is starved by foreign nice-0 processes.

The rung is produced at ~2.5–3x real time on 2 idle cores (nice 4, the upper rungs at nice
10), so a player starting on its first segment does not catch up with it; under heavy
*foreign* load (other programs at nice 0, load 25 on this shared 2-core box) it is starved and
the first frame takes ~10 s — in the container the only competitors are other jobs.

Poster first, even when the video lane is full: the transcode makes the poster right after its
runs start (keyframes of the first seconds only, see :mod:`.poster`) and hands it out through
``on_poster`` with the probe's ``direct_play`` verdict, ~1 s into the job. A video queued behind
busy video slots gets it from its fast-lane *poster message* instead
(``mediagate.contracts.poster_message``; the processor's ``Pipeline.poster``), made only while the
transcode has not started, so the grid shows it at once either way.

Quick work first: the low-rung run runs at ``nice +LOW_RUNG_NICE`` (4), the upper rungs at
``+UPPER_RUNGS_NICE`` (10), while images, RAW and posters run at 0 in the processor, so a
photo submitted during three transcodes takes most of the CPU it needs at once (the lanes
make sure it has a slot; this makes sure it has the cores).

The poster (keyframes of the first seconds only, see :mod:`.poster`) is made right after the
runs start and handed out through ``on_poster`` with the probe's ``direct_play`` verdict:
~1 s into the job, before any rung.

Cost — the early rung only where it is needed (≤ 1.10x CPU)
-----------------------------------------------------------
Measured (``bench/process_video.py``, user+sys CPU of the children, interleaved, medians;
shared 2-core box at load 14–41, CPU seconds barely depend on it): 20 s 1080p H.264 source
(``--duration 20 --repeat 3``), as deployed = one run: 28.8 s vs bare 28.4 s, **1.01x**;
30 s 1080p MPEG-2 source (``--source`` the instant-preview bench clip, ``--repeat 2``), as
deployed = low rung first: 43.0 s vs 40.2 s, **1.07x** (MPEG-2 decodes cheaply: 4 % of the
ladder), first playable 3.7 s vs 10.8 s for one run.

The early rung exists for one reason: a viewer can watch before the ladder is done. A
browser-playable original (the probe's ``direct_play``: H.264/AAC MP4/MOV, VP9/AV1 WebM…)
gives that already — the viewer plays the original through its signed link from the upload's
last byte — so for those sources the ladder is **one run** (one decode: the bare ladder's CPU
plus probe/poster/storyboard, ≈ 1.03x), still published as it grows (EVENT playlists with the
ladder's 6 s segments: a fallback for a browser that fails the original). Only sources
browsers cannot play (MPEG-2, ProRes, HEVC in most browsers, DNxHR…) pay for the split below,
and for them it is what makes the first frame ≤ 3 s and playback stall-free. So the ≤ 1.10x
aim holds for the common upload (phone/camera H.264) and the split's extra decode is spent
where it buys the preview. ``MEDIAGATE_SPLIT_DIRECT_PLAY=1`` restores the split for every
source. The measurements below are of the split itself (H.264 source, split forced).


Measured here with this code (``bench/process_video.py --duration 20``, 1080p30 H.264 at
12 Mbit/s, veryfast, shared 2-core box): bare ladder 29.9 s CPU; low-rung-first +
progressive pipeline 35.3 s (1.18x, median of 2 at load 5–8; single runs gave 1.07x at
load 11–23 and 1.20x), first segment playable at 4.3–5.3 s; single run 30.9 s (1.03x;
0.93x in the noisy run), first segment at 7.4–17.9 s. The split's extra is the second
decode (3.9–5.0 s CPU = 13–15 % of the ladder for this source; ``-skip_loop_filter all`` /
``-threads 1`` decoding save ≤ 15 % of that, and skipping the deblocking of a *final* rung
is not acceptable) plus two processes' threading overhead, so the split does **not** meet
the 1.10x aim for 1080p H.264: it costs ~1.15–1.2x.

The alternative that is always ≤ 1.10x — one ffmpeg run for every rung, the lowest one
published as it grows — advances all rungs in lockstep at the ladder's pace: ~1.2x real
time for 1080p30 on 2 idle cores, below real time under any load or with 3 jobs per
container, so a player starting on its first segment catches up and stalls on long videos.
The split's low run (nice 4, upper rungs at nice 10) runs at ~2.5–3x real time even so
(20 s in 8.9–11.9 s on this busy box; a 5 min MPEG-2 source played start to end from its
growing rung with 0 stalls at load 12, ``bench/instant_preview.py``), which is what "plays
through without stalling" needs. Between a preview that stalls and ~8 % more CPU, the CPU
loses: the split is kept where its extra decode
is small (``MAX_FIRST_PASS_OVERHEAD``; 4K and costly codecs take the single run and still
publish their lowest rung as it grows). ``MEDIAGATE_LOW_RUN_DECODE_ARGS`` (e.g.
``-skip_loop_filter all``) lets a deployment trade low-rung quality for CPU.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import m3u8

from .ffrun import TRUNCATION_MARKERS, FfmpegRun, ProcessingTimeout
from .hls import (
    AUDIO_DIR,
    KEYFRAME_SECONDS,
    PROGRESSIVE_SEGMENT_SECONDS,
    SEGMENT_SECONDS,
    Rung,
    build_ladder_command,
    plan_ladder,
    rendition_files,
    safe_filter_path,
    write_master,
)
from .metadata import exif_fields
from .poster import Poster, make_poster
from .probe import probe_video
from .result import MediaError, MediaOutput, ProcessResult
from .storyboard import make_storyboard

__all__ = ["MediaError", "ProcessingTimeout", "probe_video", "process_video"]

MASTER = "hls/master.m3u8"
#: Encode budget: base + factor x duration (a 2-core box encodes 1080p ladders at ~1x).
ENCODE_TIMEOUT_BASE = float(os.environ.get("MEDIAGATE_ENCODE_TIMEOUT_BASE", "300"))
ENCODE_TIMEOUT_FACTOR = float(os.environ.get("MEDIAGATE_ENCODE_TIMEOUT_FACTOR", "30"))
STALL_TIMEOUT = float(os.environ.get("MEDIAGATE_ENCODE_STALL_TIMEOUT", "180"))
#: Niceness added to the upper-rungs run: it yields the CPU to low rungs (ours and other jobs').
UPPER_RUNGS_NICE = int(os.environ.get("MEDIAGATE_UPPER_RUNGS_NICE", "10"))
#: Niceness of the low-rung run: above quick work (images, RAW, posters run at 0 in the
#: processor), below nothing else of ours; the upper rungs stay well below it.
LOW_RUNG_NICE = int(os.environ.get("MEDIAGATE_LOW_RUNG_NICE", "4"))
DECODE_WEIGHT = 0.2  # decoding a source pixel costs ~1/5 of encoding one with veryfast
#: Above this estimated extra CPU (see first_pass_overhead) the ladder is one ffmpeg run.
MAX_FIRST_PASS_OVERHEAD = float(os.environ.get("MEDIAGATE_MAX_FIRST_PASS_OVERHEAD", "0.25"))
POLL_SECONDS = 0.2
#: Media every rendition has before the provisional master lists it: a player starting on it has
#: this much to play while it re-reads the growing playlist (every target duration, 1 s).
START_BUFFER_SECONDS = 2.0
#: Keep the low-rung-first split for browser-playable originals too (default: one run, see
#: the module docstring: the viewer plays the original meanwhile).
SPLIT_DIRECT_PLAY = os.environ.get("MEDIAGATE_SPLIT_DIRECT_PLAY", "0") == "1"
#: Decoder options of the low-rung run (see the module docstring).
LOW_RUN_DECODE_ARGS = tuple(shlex.split(os.environ.get("MEDIAGATE_LOW_RUN_DECODE_ARGS", "")))

_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}


def output_content_type(rel: str) -> str:
    """The content type of a file this module writes (HLS playlists and fMP4 media, images, VTT)."""
    suffix = Path(rel).suffix
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    return "audio/mp4" if rel.startswith(f"hls/{AUDIO_DIR}/") else "video/mp4"


class _Progress:
    """Combines the runs' ``out_time`` into one monotonic percentage for ``on_progress``."""

    def __init__(self, callback: Callable[[float], None] | None, duration: float, weights: Sequence[float]):
        self.callback = callback
        self.duration = max(duration, 0.001)
        total = sum(weights) or 1.0
        self.weights = [w / total for w in weights]
        self.reported = -1.0

    def update(self, runs: Sequence[FfmpegRun | None], extra: float = 0.0) -> None:
        """``extra`` (0–1) covers the post-encode steps (poster, storyboard, master)."""
        done = 0.0
        for w, run in zip(self.weights, runs, strict=True):
            if run is None or run.finished_at is not None:
                done += w
            else:
                done += w * min(1.0, run.out_time / self.duration)
        self.report(min(99.0, 97.0 * done + 2.0 * extra))

    def report(self, percent: float) -> None:
        if self.callback is not None and (percent >= self.reported + 0.5 or (percent == 100.0 != self.reported)):
            self.reported = percent
            self.callback(round(percent, 1))


def _check_truncation(run: FfmpegRun, warnings: list[str]) -> None:
    lines = run.error_lines()
    for line in lines:
        if any(marker in line.lower() for marker in TRUNCATION_MARKERS):
            raise MediaError(f"video file is truncated or incomplete ({line})")
    for line in lines:
        if line not in warnings and len(warnings) < 10:
            warnings.append(line)


#: Rough decode cost per source pixel relative to H.264 (hardware-free ffmpeg on x86).
_DECODE_FACTOR = {"h264": 1.0, "hevc": 2.0, "vp9": 1.5, "av1": 2.5, "prores": 0.7, "mpeg4": 0.5, "mjpeg": 0.8}


def first_pass_overhead(info: dict, ladder: Sequence[Rung]) -> float:
    """Estimated extra CPU of encoding the lowest rung in its own run (one more decode).

    As a fraction of the total: ≈ 0.11 for 1080p H.264 → 1080/720/480, 0.20 for 1080p
    HEVC, 0.33 for 4K H.264, 0.49 for 4K HEVC.
    """
    src_px = info["display_width"] * info["display_height"]
    decode = DECODE_WEIGHT * _DECODE_FACTOR.get(str(info.get("video_codec")), 1.0) * src_px
    return decode / (sum(r.width * r.height for r in ladder) + decode)


class _Publisher:
    """Publishes the lowest rung (and the audio rendition) while its EVENT playlists grow.

    Each step snapshots the playlists ffmpeg rewrote atomically (``temp_file``), hands out
    the init sections and segments they list that were not handed out before, then the
    snapshots, then, once every rendition has ``START_BUFFER_SECONDS`` of media, the provisional master listing
    that rung. Segments are immutable and handed out once; only playlists are re-sent, and a
    snapshot only lists segments sent before it, so a reader never sees a dangling URI.
    """

    def __init__(
        self,
        out: Path,
        rung: Rung,
        *,
        audio: bool,
        fps: float,
        on_publish: Callable[[list[tuple[str, Path]]], None] | None,
        on_first_playable: Callable[[str], None] | None,
    ) -> None:
        self.out = out
        self.hls_dir = out / "hls"
        self.snap_dir = out.parent / (out.name + ".published")
        self.rung = rung
        self.playlists = [rung.playlist] + ([f"{AUDIO_DIR}/index.m3u8"] if audio else [])
        self.audio = audio
        self.fps = fps
        self.on_publish = on_publish
        self.on_first_playable = on_first_playable
        self.sent: set[str] = set()
        self.last_text: dict[str, str] = {}
        self.master_sent = False
        self.first_segment_at: float | None = None

    def step(self) -> bool:
        """Publish what is new; True once the master is out (the video is playable)."""
        if self.on_publish is None and self.on_first_playable is None:
            return False
        snaps: dict[str, tuple[str, m3u8.M3U8]] = {}
        for rel in self.playlists:
            try:
                text = (self.hls_dir / rel).read_text()
                pl = m3u8.loads(text)
            except (OSError, ValueError):
                return self.master_sent
            if not pl.segments:
                return self.master_sent
            starting = not self.master_sent and not pl.is_endlist  # (the sum only until the master is out)
            if starting and sum(seg.duration or 0 for seg in pl.segments) < START_BUFFER_SECONDS - 0.01:
                return False  # the master waits for START_BUFFER_SECONDS of every rendition
            snaps[rel] = (text, pl)
        items: list[tuple[str, Path]] = []
        for rel, (text, pl) in snaps.items():
            if text == self.last_text.get(rel):
                continue
            base = Path(rel).parent
            uris = ([pl.segment_map[0].uri] if pl.segment_map else []) + [seg.uri for seg in pl.segments]
            for uri in uris:
                out_rel = f"hls/{(base / uri).as_posix()}"
                if out_rel not in self.sent:
                    self.sent.add(out_rel)
                    items.append((out_rel, self.out / out_rel))
            snap = self.snap_dir / "hls" / rel
            snap.parent.mkdir(parents=True, exist_ok=True)
            snap.write_text(text)
            items.append((f"hls/{rel}", snap))
            self.last_text[rel] = text
        if not self.master_sent:
            write_master(self.hls_dir, [self.rung], fps=self.fps, audio=self.audio)
            snap = self.snap_dir / MASTER
            snap.write_bytes((self.out / MASTER).read_bytes())
            items.append((MASTER, snap))
        if items and self.on_publish is not None:
            self.on_publish(items)
        if not self.master_sent:
            self.master_sent = True
            if self.on_first_playable is not None:
                self.on_first_playable(MASTER)
        return True

    def close(self) -> None:
        shutil.rmtree(self.snap_dir, ignore_errors=True)


def process_video(
    src: str | Path,
    out_dir: str | Path,
    *,
    rungs: Sequence[int] = (1080, 720, 480),
    lut_path: str | None = None,
    on_progress: Callable[[float], None] | None = None,
    on_first_playable: Callable[[str], None] | None = None,
    on_publish: Callable[[list[tuple[str, Path]]], None] | None = None,
    on_poster: Callable[[Poster, dict], None] | None = None,
    preset: str = "veryfast",
) -> ProcessResult:
    """Encode ``src`` to an HLS ladder with poster, storyboard and metadata in ``out_dir``.

    ``rungs`` are short-side heights; those above the source's are dropped. ``lut_path``
    is a .cube 3D LUT (LOG → Rec.709) applied to every rung and the poster. Callbacks run
    on the calling thread, in this order:

    * ``on_poster(poster, info)`` right after the probe and the one-frame poster (the
      encode runs meanwhile): the grid thumbnail and viewer poster exist in ``out_dir``;
      ``info["direct_play"]`` says whether browsers can play the original as is;
    * ``on_publish([(output_path, local_file), ...])`` repeatedly while the lowest rung
      encodes: files to upload *in this order* (segments before the playlists listing them,
      the master last); segments come once, playlists again as they grow;
    * ``on_first_playable("hls/master.m3u8")`` once, after the first ``on_publish`` that
      carried the master (the first segment of every rendition exists);
    * ``on_progress(percent)`` (monotonic, ends at 100) throughout.

    Bad media raises MediaError; a stuck encode ProcessingTimeout.
    """
    t0 = time.monotonic()
    src = Path(src)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hls_dir = out / "hls"
    hls_dir.mkdir(exist_ok=True)
    if lut_path is not None and not Path(lut_path).is_file():
        raise FileNotFoundError(f"LUT not found: {lut_path}")

    info = probe_video(src)
    ladder = plan_ladder(info, rungs)
    overhead = first_pass_overhead(info, ladder)
    progressive = on_first_playable is not None or on_publish is not None
    # a browser-playable original plays directly while the ladder encodes: no early rung needed
    direct = bool(info.get("direct_play")) and not SPLIT_DIRECT_PLAY
    split = progressive and not direct and len(ladder) > 1 and overhead <= MAX_FIRST_PASS_OVERHEAD
    # the low rung's own run: 1 s segments; one run for every rung: the ladder's keyframes
    early_segment = SEGMENT_SECONDS if direct else PROGRESSIVE_SEGMENT_SECONDS if split else KEYFRAME_SECONDS
    first_rungs, later_rungs = (ladder[:1], ladder[1:]) if split else (ladder, [])
    audio = bool(info["has_audio"])
    duration = float(info["duration"])
    timeout = ENCODE_TIMEOUT_BASE + ENCODE_TIMEOUT_FACTOR * duration
    src_px = info["display_width"] * info["display_height"]

    def cost(rs: Sequence[Rung]) -> float:
        return DECODE_WEIGHT * src_px + sum(r.width * r.height for r in rs) if rs else 0.0

    progress = _Progress(on_progress, duration, [cost(first_rungs), cost(later_rungs)])
    warnings: list[str] = []
    if info["hdr"] and lut_path is None:
        warnings.append(f"HDR source ({info['color']['transfer']}): encoded as SDR without tone mapping")
    timings: dict[str, float] = {"probe_s": round(time.monotonic() - t0, 3)}
    publisher = _Publisher(
        out, ladder[0], audio=audio, fps=info["fps"], on_publish=on_publish, on_first_playable=on_first_playable
    )

    # scratch space only for a LUT path that needs copying (filtergraph-unsafe characters)
    scratch_cm = tempfile.TemporaryDirectory(prefix="mediagate-video-") if lut_path else contextlib.nullcontext()
    with scratch_cm as scratch:
        lut = safe_filter_path(lut_path, Path(scratch)) if lut_path and scratch else None

        def run(rs: Sequence[Rung], *, with_audio: bool, nice: int = 0, event: bool = False) -> FfmpegRun:
            return FfmpegRun(
                build_ladder_command(
                    src,
                    hls_dir,
                    rs,
                    info,
                    audio=with_audio,
                    lut=lut,
                    preset=preset,
                    event=event,
                    decode_args=LOW_RUN_DECODE_ARGS if split and event else (),
                    segment_seconds=early_segment if event else SEGMENT_SECONDS,
                    keyframe_seconds=min(early_segment, KEYFRAME_SECONDS) if event else KEYFRAME_SECONDS,
                ),
                what="encoding " + "/".join(r.name for r in rs),
                timeout=timeout,
                stall_timeout=STALL_TIMEOUT,
                nice=nice,
                paths=[str(src)],
            )

        first = run(first_rungs, with_audio=audio, event=progressive, nice=LOW_RUNG_NICE)
        later = run(later_rungs, with_audio=False, nice=UPPER_RUNGS_NICE) if later_rungs else None
        runs = [first, later]
        try:
            first.start()
            if later is not None:
                later.start()
            # the poster decodes a few keyframes only: ready ~1 s in, while the rungs encode
            t = time.monotonic()
            poster = make_poster(src, out, info, lut=lut)
            timings["poster_s"] = round(time.monotonic() - t0, 3)
            if on_poster is not None:
                on_poster(poster, info)
            while not first.poll():
                if later is not None and later.finished_at is None:
                    later.poll()  # fail fast if the other run dies
                if publisher.step() and "first_playable_s" not in timings:
                    timings["first_playable_s"] = round(time.monotonic() - t0, 3)
                progress.update(runs)
                time.sleep(POLL_SECONDS)
            _check_truncation(first, warnings)
            publisher.step()  # the closed playlists (EXT-X-ENDLIST)
            timings.setdefault("first_playable_s", round(time.monotonic() - t0, 3))
            timings["first_run_s"] = round(first.elapsed, 3)
            stats = write_master(hls_dir, first_rungs, fps=info["fps"], audio=audio)
            if not publisher.master_sent and on_first_playable is not None:
                on_first_playable(MASTER)

            t = time.monotonic()
            low = ladder[0]
            board = make_storyboard(hls_dir / low.playlist, out, width=low.width, height=low.height, duration=duration)
            timings["storyboard_s"] = round(time.monotonic() - t, 3)
            progress.update(runs, extra=0.6)

            if later is not None:
                while not later.poll():
                    progress.update(runs, extra=0.6)
                    time.sleep(POLL_SECONDS)
                _check_truncation(later, warnings)
                timings["second_run_s"] = round(later.elapsed, 3)
                stats = write_master(hls_dir, ladder, fps=info["fps"], audio=audio)
        finally:
            for r in runs:
                if r is not None:
                    r.close()
            publisher.close()

    playlists = [r.playlist for r in ladder] + ([f"{AUDIO_DIR}/index.m3u8"] if audio else [])
    rel_files = [MASTER] + [f"hls/{f}" for f in rendition_files(hls_dir, playlists)]
    outputs = [MediaOutput(f, output_content_type(f)) for f in rel_files]
    outputs += poster.outputs + board.outputs
    timings["total_s"] = round(time.monotonic() - t0, 3)
    progress.report(100.0)
    metadata = {
        "kind": "video",
        **info,
        **exif_fields(src),  # date taken, camera, GPS (QuickTime/MP4 tags)
        "rungs": stats,
        "audio": {"codec": "aac", "bitrate": 128000, "playlist": f"{AUDIO_DIR}/index.m3u8"} if audio else None,
        "poster": poster.sizes,
        "storyboard": {
            "sprite": board.sprite,
            "vtt": board.vtt,
            "tile": [board.tile_width, board.tile_height],
            "grid": [board.columns, board.rows],
            "tiles": board.tiles,
            "interval": board.interval,
        },
        "encoder": {"codec": "libx264", "preset": preset, "lut": lut_path is not None},
        "strategy": {
            "name": "low-rung-first" if split else "single-run",
            "direct_play": direct,
            "progressive": progressive,
            "low_run_decode_args": list(LOW_RUN_DECODE_ARGS) if split else [],
            "first_pass_overhead_estimate": round(overhead, 3),
        },
        "timings": timings,
        "warnings": warnings,
    }
    return ProcessResult(
        outputs=outputs,
        metadata=metadata,
        preview=poster.preview,
        thumbnail=poster.thumbnail,
        hls_master=MASTER,
        placeholder=poster.placeholder,
    )
