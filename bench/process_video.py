"""Benchmark: the whole video pipeline vs the bare ffmpeg ladder command.

Generates a 30 s 1080p30 H.264 clip with AAC audio (lavfi ``testsrc2`` + ``sine``, phone-like
12 Mbit/s, 1 s GOP), then times, alternately:

* **bare**: one ffmpeg run producing the 1080p/720p/480p HLS rungs + audio, built by the same
  ``build_ladder_command`` the pipeline uses (same encoder, preset, rate control, GOP,
  segmenting) — nothing else: no probe, no poster, no storyboard, no master rewrite;
* **pipeline**: ``process_video`` end to end (probe, low-rung-first encode, provisional and
  final master, poster, storyboard).

Prints both wall times, their ratio (target ≤ 1.10) and the time to the first playable rung.
The machine is shared, so ``--repeat N`` runs both N times (interleaved) and reports medians;
CPU seconds are printed too (they barely depend on other load).

    .venv/bin/python bench/process_video.py [--repeat 3] [--duration 30] [--preset veryfast]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "container"))

from processor.media.hls import build_ladder_command, plan_ladder
from processor.media.probe import probe_video
from processor.media.video import process_video


def make_source(path: Path, duration: float) -> None:
    subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y"),
            *("-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={duration}"),
            *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration}"),
            *("-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p"),
            *("-b:v", "12M", "-maxrate", "12M", "-bufsize", "12M", "-g", "30"),
            *("-c:a", "aac", "-b:a", "192k", "-ac", "2", "-shortest", str(path)),
        ],
        check=True,
        timeout=600,
    )


def child_cpu() -> float:
    """CPU seconds (user + system) used so far by reaped child processes."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def wait_idle(max_load: float, max_wait: float) -> float:
    """Wait (up to ``max_wait`` s) until the 1-minute load average drops below ``max_load``."""
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def run_bare(src: Path, out: Path, info: dict, preset: str) -> tuple[float, float]:
    shutil.rmtree(out, ignore_errors=True)
    (out / "hls").mkdir(parents=True)
    cmd = build_ladder_command(src, out / "hls", plan_ladder(info), info, audio=info["has_audio"], preset=preset)
    t, cpu = time.monotonic(), child_cpu()
    subprocess.run(cmd, check=True, timeout=3600)
    return time.monotonic() - t, child_cpu() - cpu


def run_pipeline(src: Path, out: Path, preset: str) -> tuple[float, float, float, dict]:
    shutil.rmtree(out, ignore_errors=True)
    t, cpu = time.monotonic(), child_cpu()
    first: list[float] = []
    result = process_video(src, out, preset=preset, on_first_playable=lambda _: first.append(time.monotonic() - t))
    return time.monotonic() - t, first[0], child_cpu() - cpu, result.metadata["timings"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--preset", default="veryfast")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--source", type=Path, help="use this file instead of generating one")
    ap.add_argument("--idle-load", type=float, default=1.0, help="wait for a 1-min load below this before each run")
    ap.add_argument("--idle-wait", type=float, default=300.0, help="longest wait for an idle machine (s)")
    ap.add_argument(
        "--priority",
        type=int,
        default=0,
        help="niceness change for the bench and its ffmpeg runs (root may pass e.g. -20 to shield "
        "both contenders from other load on a shared machine; the pipeline's upper-rungs run "
        "stays relative to it)",
    )
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up children and temp files
    if args.priority:
        os.nice(args.priority)

    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp_s:
        tmp = Path(tmp_s)
        src = args.source
        if src is None:
            src = tmp / "source.mp4"
            t = time.monotonic()
            make_source(src, args.duration)
            print(
                f"source: {args.duration:.0f} s 1080p30 + AAC, {src.stat().st_size / 1e6:.1f} MB "
                f"(generated in {time.monotonic() - t:.1f} s)"
            )
        info = probe_video(src)
        rungs = ", ".join(f"{r.name} {r.width}x{r.height}" for r in plan_ladder(info))
        print(f"ladder: {rungs}; preset {args.preset}; cores {os.cpu_count()}")

        bare, pipe, first, bare_cpu, pipe_cpu, timings = [], [], [], [], [], []
        for i in range(args.repeat):
            order = ("bare", "pipeline") if i % 2 == 0 else ("pipeline", "bare")
            for what in order:
                load = wait_idle(args.idle_load, args.idle_wait)
                if what == "bare":
                    wall, cpu = run_bare(src, tmp / "bare", info, args.preset)
                    bare.append(wall)
                    bare_cpu.append(cpu)
                    print(f"  run {i + 1}: bare ladder   {wall:6.2f} s  cpu {cpu:6.1f} s   (load before {load:.2f})")
                else:
                    wall, fp, cpu, tm = run_pipeline(src, tmp / "pipeline", args.preset)
                    pipe.append(wall)
                    first.append(fp)
                    pipe_cpu.append(cpu)
                    timings.append(tm)
                    print(
                        f"  run {i + 1}: process_video {wall:6.2f} s  cpu {cpu:6.1f} s   first playable {fp:5.2f} s"
                        f"   (load before {load:.2f})"
                    )

        b, p, f = statistics.median(bare), statistics.median(pipe), statistics.median(first)
        bc, pc = statistics.median(bare_cpu), statistics.median(pipe_cpu)
        print()
        print(f"bare ffmpeg ladder (1 run, 3 rungs + audio): {b:7.2f} s wall  {bc:6.1f} s cpu")
        print(f"process_video (whole pipeline):             {p:7.2f} s wall  {pc:6.1f} s cpu")
        print(f"ratio pipeline / bare:                      {p / b:7.3f} wall  {pc / bc:6.3f} cpu   (target <= 1.10)")
        print(f"time to first playable rung:                {f:7.2f} s   ({f / b:.0%} of the bare ladder time)")
        print(f"pipeline timings (last run): {timings[-1]}")


if __name__ == "__main__":
    main()
