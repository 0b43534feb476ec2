"""Run a few local processes as one: start them, restart any that dies, stop all on Ctrl-C.

``make dev`` (:mod:`mediagate.local.dev`) and ``make dev-cloudflare``
(``scripts/workerd/stack.py``) use it, so one crashed process (the processor on a bad file,
say) is restarted with a short backoff instead of taking the whole system down, and Ctrl-C
or SIGTERM stops every process group (ffmpeg and workerd children included). A child can
run at a lower CPU priority (``nice``): the processor's transcodes then never starve the
API of CPU on a small machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def _healthy(url: str) -> bool:
    """``url`` answers 200, or for ``unix:PATH`` a Unix seqpacket socket accepts there."""
    if url.startswith("unix:"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as probe:
            try:
                probe.connect(url[len("unix:") :])
            except OSError:
                return False
            return True
    try:
        return httpx.get(url, timeout=30).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    """Poll ``url`` until it is healthy; raise if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if _healthy(url):
            return
        time.sleep(0.3)
    raise RuntimeError(f"{what}: {url} did not answer within {timeout:g}s")


@dataclass
class Child:
    """One supervised process, in its own process group."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path | None = None  # None: share the supervisor's stdout/stderr
    health: str = ""  # http(s) URL answering 200, or unix:PATH of a listening socket
    timeout: float = 60.0
    nice: int = 0
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0

    def start(self) -> None:
        out = open(self.log, "ab") if self.log else None  # noqa: SIM115 - handed to the child
        niceness = self.nice
        try:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=(lambda: os.nice(niceness)) if niceness else None,
            )
        finally:
            if out:
                out.close()
        self.started_at = time.monotonic()
        if self.health:
            try:
                wait_healthy(self.health, self.proc, self.name, self.timeout)
            except RuntimeError as exc:
                tail = self.log.read_text(errors="replace")[-4000:] if self.log and self.log.exists() else ""
                raise RuntimeError(f"{exc}\n{tail}") from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, grace: float = 15) -> None:
        """Signal the whole process group; SIGKILL it after ``grace`` seconds."""
        if not self.proc:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


@dataclass
class Supervisor:
    """Keep children running until asked to stop."""

    children: Sequence[Child]
    say: Callable[[str], None] = field(default=lambda text: print(f"==> {text}", file=sys.stderr, flush=True))
    stopping: bool = False

    def backoff(self, child: Child) -> float:
        """1, 2, 4 ... 30 s between restarts of a child that keeps dying; reset after a minute up."""
        if time.monotonic() - child.started_at > 60:
            child.restarts = 0
        return min(30.0, 2.0**child.restarts)

    def check(self) -> None:
        for child in self.children:
            if self.stopping or child.alive():
                continue
            code = child.proc.returncode if child.proc else None
            delay = self.backoff(child)
            self.say(f"{child.name} exited ({code}); restarting in {delay:g}s")
            time.sleep(delay)
            child.restarts += 1
            try:
                child.start()
            except RuntimeError as exc:
                self.say(f"{child.name} did not come back: {exc}")

    def run(self, ready: Callable[[], None] = lambda: None) -> None:
        """Start every child, call ``ready``, supervise until SIGINT/SIGTERM, stop all."""

        def stop(*_: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for child in self.children:
                child.start()
            ready()
            while not self.stopping:
                self.check()
                time.sleep(0.5)
        finally:
            self.stopping = True
            for child in reversed(list(self.children)):
                child.stop()
