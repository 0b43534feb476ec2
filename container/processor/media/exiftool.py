"""Persistent ExifTool processes (``exiftool -stay_open True -@ -``), bounded and thread-safe.

ExifTool is a Perl program: starting it costs ~0.2 s, reading one file a few ms. Like
Immich, we keep processes running and send them one command per file. The protocol:
arguments go to stdin one per line, ``-execute<N>`` runs them; the answer arrives on
stdout followed by ``{ready<N>}``, and ``-echo4 {ready<N>}`` marks the end of stderr.

Why not PyExifTool (PyPI ``pyexiftool``, last release 0.5.6 in 2023-10): it waits for
the reply with ``select()`` without a timeout (a hung exiftool hangs the job, a dead one
makes it spin), does not restart a dead process and is not thread-safe. This module adds
exactly those three things and nothing else:

* every command has a deadline; on timeout the process is killed (it is in an unknown
  state) and the next command starts a fresh one;
* a process that died between commands is replaced and the command retried once; one
  that dies *during* a command fails that command only (the file may be what kills it);
* :class:`ExifToolPool` lends each thread its own process (at most ``size`` at once), so
  concurrent jobs never share a pipe;
* no orphans: exiftool does not exit when its input closes, so on Linux the kernel kills
  it with the processor (``PR_SET_PDEATHSIG``, see :data:`_LAUNCHER`).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

#: Replies larger than this are refused (we ask for a few dozen tags: a reply is ~2 KB).
MAX_REPLY_BYTES = 8 * 1024 * 1024

#: ExifTool never exits when its argument pipe closes: at EOF it polls stdin every 10 ms,
#: forever. So on Linux it is started through this launcher, which asks the kernel to
#: SIGKILL it when the thread that started it goes (the processor killed, or that thread
#: ended: the pool then sees a dead process and starts another), then execs exiftool.
#: The parent check closes the race of a parent that died before prctl().
_LAUNCHER = """import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
os.execvp(sys.argv[2], sys.argv[2:])
"""


class ExifToolError(Exception):
    """ExifTool could not answer this command (crashed, refused, malformed reply)."""


class ExifToolUnavailable(ExifToolError):
    """The exiftool executable is not installed or cannot be started."""


class ExifToolTimeout(ExifToolError):
    """ExifTool did not answer within the deadline (the process was killed)."""


class _Stale(ExifToolError):
    """The process had died before this command was sent: safe to retry on a new one."""


class ExifToolProcess:
    """One ``-stay_open`` exiftool process. Not thread-safe: one caller at a time."""

    def __init__(self, executable: str, common_args: Sequence[str] = ()) -> None:
        self.executable = executable
        self.common_args = list(common_args)
        self._proc: subprocess.Popen[bytes] | None = None
        self._seq = 0

    @property
    def pid(self) -> int | None:
        """The running process id (None before the first command or after close)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _start(self) -> subprocess.Popen[bytes]:
        # -config "" ignores any ~/.ExifTool_config: output must not depend on the host.
        cmd = [self.executable, "-config", "", "-stay_open", "True", "-@", "-"]
        if self.common_args:
            cmd += ["-common_args", *self.common_args]
        if sys.platform == "linux":
            cmd = [sys.executable, "-S", "-c", _LAUNCHER, str(os.getpid()), *cmd]
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                close_fds=True,
            )
        except OSError as exc:
            raise ExifToolUnavailable(f"cannot start {self.executable}: {exc}") from exc
        self._seq = 0
        return self._proc

    def execute(self, args: Sequence[str], timeout: float) -> tuple[bytes, bytes]:
        """Run one command; returns (stdout, stderr) without the ready markers.

        Raises :class:`ExifToolTimeout`, :class:`ExifToolError` (the process is gone after
        either) or ``ValueError`` for an argument that would break the line protocol.
        """
        for arg in args:
            if "\n" in arg or "\r" in arg:
                raise ValueError("exiftool arguments cannot contain line breaks")
        fresh = self._proc is None
        proc = self._proc if self._proc is not None else self._start()
        if proc.poll() is not None:
            self.close()
            raise _Stale(f"exiftool had exited (status {proc.returncode})")
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self._seq += 1
        marker = f"{{ready{self._seq}}}".encode()
        command = [*args, "-echo4", marker.decode(), f"-execute{self._seq}"]
        try:
            proc.stdin.write(("\n".join(command) + "\n").encode("utf-8", "surrogateescape"))
        except OSError as exc:  # BrokenPipeError: it died after our last look
            self.close()
            if fresh:
                raise ExifToolUnavailable(f"{self.executable} exited at start: {exc}") from exc
            raise _Stale(f"exiftool had exited: {exc}") from exc
        out, err = bytearray(), bytearray()
        pending = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            for fd in pending:
                sel.register(fd, selectors.EVENT_READ)
            while pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.close(force=True)  # hung: asking it to quit politely would wait too
                    raise ExifToolTimeout(f"exiftool gave no answer within {timeout:g} s")
                for key, _ in sel.select(remaining):
                    fd = int(key.fd)
                    buf = pending[fd]
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        status = self.close()
                        if fresh and not out:
                            raise ExifToolUnavailable(f"{self.executable} exited at start (status {status})")
                        raise ExifToolError(f"exiftool exited (status {status}) while reading the file")
                    buf += chunk
                    if len(out) + len(err) > MAX_REPLY_BYTES:
                        self.close(force=True)
                        raise ExifToolError("exiftool reply too large")
                    if buf.rstrip().endswith(marker):
                        sel.unregister(fd)
                        del pending[fd]
        return bytes(out.rstrip()[: -len(marker)]), bytes(err.rstrip()[: -len(marker)])

    def close(self, *, force: bool = False) -> int | None:
        """Stop the process (politely unless ``force``, by force after 1 s); returns its status."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if force and proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.write(b"-stay_open\nFalse\n")
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return proc.returncode


class ExifToolPool:
    """Up to ``size`` exiftool processes shared by threads, started on first use.

    Each :meth:`execute` borrows an idle process (or starts one) and returns it when
    done; a caller that finds all ``size`` busy waits for one, within its timeout.
    """

    def __init__(
        self,
        executable: str = "exiftool",
        *,
        size: int = 3,
        timeout: float = 30.0,
        common_args: Sequence[str] = (),
    ) -> None:
        self.executable = executable
        self.size = max(1, size)
        self.timeout = timeout
        self.common_args = list(common_args)
        self._slots = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self._idle: list[ExifToolProcess] = []
        self._busy: set[ExifToolProcess] = set()
        self._closed = False

    def _resolve(self) -> str:
        path = shutil.which(self.executable)
        if path is None:
            raise ExifToolUnavailable(f"{self.executable} is not installed")
        return path

    def execute(self, args: Sequence[str], timeout: float | None = None) -> tuple[bytes, bytes]:
        """Run one command on a pooled process (see :meth:`ExifToolProcess.execute`)."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        executable = self._resolve()
        if not self._slots.acquire(timeout=limit):
            raise ExifToolTimeout(f"no exiftool process free within {limit:g} s")
        try:
            for attempt in (1, 2):
                proc = self._borrow(executable)
                try:
                    return proc.execute(args, max(0.001, deadline - time.monotonic()))
                except ExifToolTimeout:
                    raise ExifToolTimeout(f"exiftool gave no answer within {limit:g} s") from None
                except _Stale:
                    if attempt == 2:
                        raise
                finally:
                    self._give_back(proc)
            raise AssertionError("unreachable")
        finally:
            self._slots.release()

    def _borrow(self, executable: str) -> ExifToolProcess:
        with self._lock:
            proc = self._idle.pop() if self._idle else None
            if proc is None:
                proc = ExifToolProcess(executable, self.common_args)
            self._busy.add(proc)
        return proc

    def _give_back(self, proc: ExifToolProcess) -> None:
        with self._lock:
            self._busy.discard(proc)
            if not self._closed:
                self._idle.append(proc)  # a dead one restarts on its next command
                return
        proc.close()

    def pids(self) -> list[int]:
        """Process ids of the running exiftool processes (for tests and diagnostics)."""
        with self._lock:
            return [p.pid for p in [*self._idle, *self._busy] if p.pid is not None and p.alive]

    def close(self) -> None:
        """Stop the processes: idle ones now, busy ones when their command ends.

        A later :meth:`execute` still works (it starts a process it closes after use).
        """
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for proc in idle:
            proc.close()
