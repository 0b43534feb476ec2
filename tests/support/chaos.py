"""Kill the local server at random moments while uploads run, then count the damage.

Shared by tests/test_crash_safe_completion.py (a few kills) and bench/chaos.py (hundreds).
Each "life" of the server ends in a kill: either ``SIGKILL`` from outside at a random
moment (of the API process, of the upload process that serves handed-over PATCHes, or of
both) (half of those fired 0–60 ms after the final PATCH of an upload started, i.e. just
after its last byte, the window where a completion runs), or the test hook
``MEDIAGATE_CRASH_AT`` (mediagate/crashpoints.py) making the server die exactly at a named
point between two completion or ingest steps. The client side behaves like a tus client:
HEAD for the offset, PATCH the rest in random chunk sizes, again after every restart.
Completed files are checked byte for byte, then deleted through the files API (itself
killed sometimes, leaving orphans for the storage sweep).

At the end the server runs once more without hooks, with the storage sweep's grace period
at zero, and the store and the database are searched for anything left over.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from .stack import Server

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTET = {"Content-Type": "application/offset+octet-stream"}

CRASH_POINTS = (
    "completion:before-completing",
    "completion:after-completing",
    "completion:after-assemble",
    "completion:after-completed",
    "completion:after-staging-cleanup",
    "completion:after-finalize",
    "ingest:after-rows",
    "ingest:after-send",
)

# The server under chaos: 5 MiB parts, locks of dead servers stale after 1 s, the sweep
# running often with a short grace period (so it runs *during* uploads: it must not take
# anything in use), no rate limits.
CHAOS_ENV = {
    "UPLOAD_PART_SIZE": str(5 * MIB),
    "UPLOAD_LOCK_STALE_SECONDS": "1",
    "CLEANUP_INTERVAL": "0.5",
    "STORAGE_SWEEP_GRACE_SECONDS": "2",
    "STORAGE_SWEEP_BATCH": "50",
    "RATE_LIMIT_UPLOADS": "0",
    "RATE_LIMIT_API": "0",
}


class ServerGone(Exception):
    """The server died under a request (the kill we were waiting for)."""


class RequestFailed(Exception):
    """A request failed at the transport level while the server lived on (e.g. it closed
    the connection on an early error answer): the client tries again later."""


@dataclass
class Upload:
    url: str
    seed: int
    size: int
    sha256: str
    done: bool = False
    deleted: bool = False
    file_id: str | None = None
    last: str = ""  # the last answer the server gave about it (for failure reports)

    @property
    def id(self) -> str:
        return self.url.rsplit("/", 1)[1]

    def data(self) -> bytes:
        return random.Random(self.seed).randbytes(self.size)


@dataclass
class Outcome:
    kills: int = 0
    hook_kills: dict[str, int] = field(default_factory=dict)
    sigkills: int = 0
    sigkills_after_last_byte: int = 0
    uploads: int = 0
    completed: int = 0
    lost: list[str] = field(default_factory=list)
    corrupted: list[str] = field(default_factory=list)
    duplicate_rows: list[str] = field(default_factory=list)
    leftovers: dict[str, list[str]] = field(default_factory=dict)

    @property
    def leftover_count(self) -> int:
        return sum(len(v) for v in self.leftovers.values())

    def summary(self) -> str:
        hooks = ", ".join(f"{k}={v}" for k, v in sorted(self.hook_kills.items()))
        return (
            f"kills {self.kills} (SIGKILL {self.sigkills}, of which {self.sigkills_after_last_byte} just after a "
            f"last byte; hook {sum(self.hook_kills.values())}: {hooks}); uploads {self.uploads}, completed "
            f"{self.completed}; lost {len(self.lost)}, corrupted {len(self.corrupted)}, duplicate rows "
            f"{len(self.duplicate_rows)}, leftovers {self.leftover_count}"
            + (f" { ({k: v[:5] for k, v in self.leftovers.items() if v}) }" if self.leftover_count else "")
        )


class Chaos:
    def __init__(self, server: Server, database_url: str, user_id: str, *, seed: int, max_size: int = 12 * MIB) -> None:
        self.srv = server
        self.db = database_url
        self.user_id = user_id
        token = server.token(user_id, ttl=24 * 3600)
        self.rng = random.Random(seed)
        self.max_size = max_size
        self.uploads: list[Upload] = []
        self.unanswered: list[tuple[int, int]] = []  # (seed, size) of creations the kill cut off
        self.outcome = Outcome()
        self.client = httpx.Client(timeout=30, headers={**TUS, "Authorization": f"Bearer {token}"})

    # -- one life of the server --------------------------------------------------------

    def run(
        self,
        kills: int,
        *,
        hook_ratio: float = 0.5,
        life_timeout: float = 15,
        progress: Callable[[Outcome], None] | None = None,
    ) -> Outcome:
        for _ in range(kills):
            self._life(hook_ratio, life_timeout)
            if progress is not None:
                progress(self.outcome)
        self._settle()
        return self.outcome

    def _life(self, hook_ratio: float, life_timeout: float) -> None:
        env = self.srv.env
        env.pop("MEDIAGATE_CRASH_AT", None)
        point = None
        if self.rng.random() < hook_ratio:
            point = self.rng.choice(CRASH_POINTS)
            env["MEDIAGATE_CRASH_AT"] = point
        self.srv.start()
        self._adopt()
        timer = None
        kill_after_last_byte = point is None and self.rng.random() < 0.5
        if point is None and not kill_after_last_byte:
            victim = self.rng.choice([self.srv.kill, self.srv.kill_api, self.srv.kill_uploads])  # both, or either
            timer = threading.Timer(self.rng.uniform(0.05, 2.0), victim)
            timer.start()
        deadline = time.monotonic() + life_timeout
        try:
            while time.monotonic() < deadline and self.srv.exited() is None:
                try:
                    self._step(kill_after_last_byte)
                except RequestFailed:
                    time.sleep(0.1)
        except ServerGone:
            pass
        finally:
            if timer is not None:
                timer.cancel()
                timer.join()  # a late kill must never hit the next life's process
        if point and self.srv.exited() is None:
            try:  # the armed point is reached by the next completion
                self.srv.wait_exit(10)
            except Exception:
                pass
        code = self.srv.exited()
        self.srv.kill()  # both processes (one may have died alone)
        if code is None:
            code = self.srv.exited()
        self.outcome.kills += 1
        if code == 70 and point:
            self.outcome.hook_kills[point] = self.outcome.hook_kills.get(point, 0) + 1
        else:
            self.outcome.sigkills += 1
            if kill_after_last_byte:
                self.outcome.sigkills_after_last_byte += 1
        self.srv.log.close()

    def _step(self, kill_after_last_byte: bool) -> None:
        """One client action: start an upload, advance one, or check/delete a finished one."""
        pending = [u for u in self.uploads if not u.done]
        if len(pending) < 2:
            self._create()
            return
        up = self.rng.choice(pending)
        offset = self._head(up)
        if offset is None:
            return
        if offset < up.size:
            self._patch(up, offset, kill_after_last_byte)
        elif self._finished(up):
            self._check_and_delete(up)
        else:
            time.sleep(0.2)  # the dead server's lock goes stale, then a HEAD finishes it

    def _request(self, method: str, url: str, **kw) -> httpx.Response:
        try:
            return self.client.request(method, url, **kw)
        except httpx.TransportError as exc:
            try:  # a kill may be under way: the socket closes before the process is reaped
                self.srv.wait_exit(3)
            except TimeoutError:
                raise RequestFailed(repr(exc)) from exc
            raise ServerGone() from exc

    def _create(self) -> None:
        size = self.rng.choice([0, self.rng.randint(1, 64 * 1024), self.rng.randint(1, self.max_size)])
        seed = self.rng.getrandbits(64)
        data = random.Random(seed).randbytes(size)
        self.unanswered.append((seed, size))
        r = self._request("POST", self.srv.url + "/api/upload", headers={"Upload-Length": str(size)})
        self.unanswered.pop()
        assert r.status_code == 201, r.text
        self.uploads.append(Upload(r.headers["Location"], seed, size, hashlib.sha256(data).hexdigest()))
        self.outcome.uploads += 1

    def _adopt(self) -> None:
        """Uploads whose creation the kill answered with a dropped connection: the row may
        exist all the same. A client would start over; here they are found by size and
        carried on, so that nothing they left is mistaken for a leak."""
        if not self.unanswered:
            return
        known = {u.id for u in self.uploads}
        with psycopg.connect(self.db) as conn:
            rows = conn.execute(
                "SELECT id, upload_length FROM uploads WHERE user_id = %s ORDER BY created_at", (self.user_id,)
            ).fetchall()
        for upload_id, length in rows:
            if upload_id in known:
                continue
            match = next((c for c in self.unanswered if c[1] == length), None)
            if match is None:
                continue
            self.unanswered.remove(match)
            seed, size = match
            data = random.Random(seed).randbytes(size)
            url = f"{self.srv.url}/api/upload/{upload_id}"
            self.uploads.append(Upload(url, seed, size, hashlib.sha256(data).hexdigest()))
            self.outcome.uploads += 1
        self.unanswered.clear()

    def _head(self, up: Upload) -> int | None:
        r = self._request("HEAD", up.url)
        up.last = f"HEAD {r.status_code} offset {r.headers.get('upload-offset')}"
        if r.status_code == 200:
            return int(r.headers["Upload-Offset"])
        if r.status_code in (404, 410) or r.status_code >= 500:
            up.done = True
            self.outcome.lost.append(f"{up.id}: HEAD {r.status_code} {r.headers.get('content-length')}")
        return None

    def _patch(self, up: Upload, offset: int, kill_after_last_byte: bool) -> None:
        remaining = up.size - offset
        size = self.rng.choice([remaining, self.rng.randint(1, remaining), min(remaining, 5 * MIB + 17)])
        final = offset + size == up.size
        timer = None
        if kill_after_last_byte and final:
            timer = threading.Timer(self.rng.uniform(0, 0.06), self.srv.kill)
            timer.start()
        body = up.data()[offset : offset + size]
        try:
            r = self._request("PATCH", up.url, headers={**OCTET, "Upload-Offset": str(offset)}, content=body)
        finally:
            if timer is not None:
                timer.join()  # the kill comes whether or not the PATCH made it, and in this life
        up.last = f"PATCH {offset}+{size} -> {r.status_code} {r.text[:200]}"
        if timer is not None:
            self.srv.wait_exit(10)
            raise ServerGone()
        if r.status_code not in (204, 409, 423):
            up.done = True
            self.outcome.lost.append(f"{up.id}: PATCH {r.status_code} {r.text[:200]}")

    # -- checks --------------------------------------------------------------------------

    def _finished(self, up: Upload) -> bool:
        with psycopg.connect(self.db) as conn:
            row = conn.execute("SELECT state, file_id::text FROM uploads WHERE id = %s", (up.id,)).fetchone()
        if row and row[0] == "completed" and row[1]:
            up.file_id = row[1]
            return True
        return False

    def _check_and_delete(self, up: Upload) -> None:
        """Byte-compare the original, check the rows, then delete the file (kills may
        interrupt the delete: the sweep must collect what it leaves)."""
        if not up.done:
            stored = self.srv.store.read(f"originals/{self.user_id}/{up.id}")
            if stored is None or hashlib.sha256(stored).hexdigest() != up.sha256:
                self.outcome.corrupted.append(up.id)
            with psycopg.connect(self.db) as conn:
                files = conn.execute("SELECT count(*) FROM files WHERE upload_id = %s", (up.id,)).fetchone()[0]
                jobs = conn.execute(
                    """SELECT count(*), count(j.queue_message_id) FROM processing_jobs j
                       JOIN files f ON f.id = j.file_id WHERE f.upload_id = %s""",
                    (up.id,),
                ).fetchone()
                messages = conn.execute(
                    "SELECT count(*) FROM queue_messages WHERE body->>'file_id' = %s", (up.file_id,)
                ).fetchone()[0]
            if files != 1 or jobs != (1, 1) or messages < 1:
                self.outcome.duplicate_rows.append(f"{up.id}: files {files} jobs {jobs} messages {messages}")
            self.outcome.completed += 1
            up.done = True
        # permanently: a plain DELETE only moves the file to the trash (its original stays)
        r = self._request("DELETE", f"{self.srv.url}/api/files/{up.file_id}?permanent=true")
        if r.status_code in (204, 404):
            up.deleted = True

    def _settle(self, timeout: float = 60) -> None:
        """A last life without hooks: finish every upload, delete every file, then sweep
        with no grace period and count what is left."""
        env = self.srv.env
        env.pop("MEDIAGATE_CRASH_AT", None)
        self.srv.start()
        self._adopt()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = [u for u in self.uploads if not u.done or not u.deleted]
            if not left:
                break
            for up in left:
                try:
                    if up.done and up.file_id:
                        self._check_and_delete(up)
                        continue
                    offset = self._head(up)
                    if offset is None:
                        continue
                    if offset < up.size:
                        self._patch(up, offset, False)
                    elif self._finished(up):
                        self._check_and_delete(up)
                except RequestFailed as exc:
                    up.last = str(exc)
            time.sleep(0.1)
        for up in self.uploads:
            if not up.done:
                self.outcome.lost.append(f"{up.id}: not finished within {timeout:.0f}s; last: {up.last}")
        self.srv.stop()
        env.update({"STORAGE_SWEEP_GRACE_SECONDS": "0", "STORAGE_SWEEP_BATCH": "1000", "CLEANUP_INTERVAL": "0.3"})
        self.srv.start()
        time.sleep(2.5)  # a few sweeps: listing cursors wrap around each prefix
        self.srv.stop()
        self.outcome.leftovers = leftovers(self.srv.data_dir / "store", self.db)


def leftovers(store_root: Path, database_url: str) -> dict[str, list[str]]:
    """Everything in the local store and the database that no finished work explains.

    Every test file was deleted, so any object, multipart upload, temporary file or
    unfinished upload row is a leak."""
    objects = store_root / "objects"
    found: dict[str, list[str]] = {"objects": [], "temp_files": [], "multipart_uploads": [], "upload_rows": []}
    for path in objects.rglob("*"):
        if path.is_file():
            rel = str(path.relative_to(objects))
            kind = "temp_files" if path.name.endswith(".tmp") else "objects"
            if not path.name.endswith(".meta") or kind == "temp_files":
                found[kind].append(rel)
            elif not path.with_name(path.name[1:-5]).exists():
                found["objects"].append(rel)  # metadata of a deleted object
    multipart = store_root / "multipart"
    if multipart.is_dir():
        found["multipart_uploads"] = [p.name for p in multipart.iterdir()]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id, state FROM uploads WHERE state <> 'completed' OR file_id IS NULL",
        ).fetchall()
    found["upload_rows"] = [f"{i}:{s}" for i, s in rows]
    return found
