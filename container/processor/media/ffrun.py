"""Running ffmpeg/ffprobe safely: timeouts, captured stderr, ``-progress`` parsing.

Every failure of a tool run on an upload becomes a :class:`MediaError` carrying the last
meaningful stderr line (ffmpeg's generic trailers such as "Conversion failed!" are
skipped). A run that exceeds its time budget, or stops reporting progress, is killed and
raises :class:`ProcessingTimeout` instead: that is usually an overloaded host rather than
a bad file, so the job runner may retry it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import IO

from .result import MediaError

FFMPEG = os.environ.get("MEDIAGATE_FFMPEG", "ffmpeg")
FFPROBE = os.environ.get("MEDIAGATE_FFPROBE", "ffprobe")

#: Lines that say "it failed" without saying why; skipped when looking for the reason.
_GENERIC = (
    "conversion failed",
    "invalid data found when processing input",
    "error opening input file",
    "error opening output file",
    "error initializing output stream",
    "error while filtering",
    "error while processing the decoded data",
    "nothing was written into output file",
    "exiting normally",
    "received signal",
)
_PREFIX = re.compile(r"^\[[^\]]+ @ 0x[0-9a-f]+\]\s*")
#: stderr lines (at ``-v error``) that mean the input ends before its own headers say.
TRUNCATION_MARKERS = ("partial file", "file ended prematurely", "moov atom not found")


class ProcessingTimeout(RuntimeError):
    """A tool ran past its time budget or stalled; retryable (not a verdict on the file)."""


def _clean(line: str, paths: Sequence[str]) -> str:
    line = _PREFIX.sub("", line.strip())
    for p in paths:
        if p and line.startswith(f"{p}: "):
            line = line[len(p) + 2 :]
    return line.strip()


def stderr_reason(stderr: str, paths: Sequence[str] = (), default: str = "unknown error") -> str:
    """The last meaningful line of a tool's stderr (log prefixes and input paths removed)."""
    lines = [_clean(line, paths) for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    for line in reversed(lines):
        if not any(g in line.lower() for g in _GENERIC):
            return line
    return lines[-1] if lines else default


def run_tool(cmd: Sequence[str], *, timeout: float, what: str, paths: Sequence[str] = ()) -> str:
    """Run a short tool invocation; return stdout as text. Failures and timeouts → MediaError.

    Used for ffprobe and small ffmpeg jobs (poster, storyboard) where running past the
    budget means the input is pathological.
    """
    return run_tool_bytes(cmd, timeout=timeout, what=what, paths=paths).decode("utf-8", "replace")


def run_tool_bytes(cmd: Sequence[str], *, timeout: float, what: str, paths: Sequence[str] = ()) -> bytes:
    """Like :func:`run_tool` but returns raw stdout (e.g. ``-f rawvideo pipe:1``)."""
    try:
        proc = subprocess.run(list(cmd), capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"{what}: gave up after {timeout:.0f} s (file unreadable or pathological)") from exc
    if proc.returncode != 0:
        raise MediaError(f"{what}: {stderr_reason(proc.stderr.decode('utf-8', 'replace'), paths)}")
    return proc.stdout


class FfmpegRun:
    """One ffmpeg process with ``-progress pipe:1``; polled from the caller's thread.

    ``cmd`` must not contain ``-progress``; it is added here. ``nice`` > 0 lowers the
    CPU priority of the whole process (all its threads) via coreutils ``nice``.
    """

    def __init__(
        self,
        cmd: Sequence[str],
        *,
        what: str,
        timeout: float,
        stall_timeout: float = 180.0,
        nice: int = 0,
        paths: Sequence[str] = (),
    ) -> None:
        self.what = what
        self.timeout = timeout
        self.stall_timeout = stall_timeout
        self.paths = list(paths)
        cmd = list(cmd)
        # Progress output must come before the output file names: put it right after "ffmpeg".
        cmd[1:1] = ["-nostats", "-progress", "pipe:1"]
        if nice > 0 and shutil.which("nice"):
            cmd = ["nice", "-n", str(nice), *cmd]
        self.cmd = cmd
        self.out_time = 0.0  # seconds of output written so far
        self.finished_at: float | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._reader: threading.Thread | None = None
        self._started = 0.0
        self._last_activity = 0.0

    def start(self) -> FfmpegRun:
        # Lives as long as the run (closed in close()); a file, not a pipe, so it never blocks.
        self._stderr = tempfile.TemporaryFile("w+", errors="replace")  # noqa: SIM115
        self._started = self._last_activity = time.monotonic()
        self._proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read_progress, name=f"ffmpeg-progress-{self.what}", daemon=True)
        self._reader.start()
        return self

    def _read_progress(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self._last_activity = time.monotonic()
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.lstrip("-").isdigit():
                self.out_time = max(self.out_time, int(value) / 1e6)

    @property
    def elapsed(self) -> float:
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return end - self._started

    def poll(self) -> bool:
        """True once the process has exited successfully; raises on failure or timeout."""
        assert self._proc is not None
        rc = self._proc.poll()
        if rc is None:
            now = time.monotonic()
            if now - self._started > self.timeout:
                self.kill()
                raise ProcessingTimeout(f"{self.what}: ffmpeg still running after {self.timeout:.0f} s")
            if now - self._last_activity > self.stall_timeout:
                self.kill()
                raise ProcessingTimeout(f"{self.what}: ffmpeg made no progress for {self.stall_timeout:.0f} s")
            return False
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.finished_at is None:
            self.finished_at = time.monotonic()
        if rc != 0:
            raise MediaError(f"{self.what}: {stderr_reason(self.stderr(), self.paths, f'ffmpeg exited with {rc}')}")
        return True

    def wait(self, poll_interval: float = 0.2) -> None:
        while not self.poll():
            time.sleep(poll_interval)

    def stderr(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        text = self._stderr.read()
        self._stderr.seek(0, os.SEEK_END)
        return text

    def error_lines(self) -> list[str]:
        """Cleaned stderr lines (the command runs at ``-v error``, so these are errors)."""
        return [c for c in (_clean(line, self.paths) for line in self.stderr().splitlines()) if c]

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def close(self) -> None:
        """Kill if still running and release the stderr file."""
        self.kill()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
