"""Read what a running stack really stored, from outside it (tests only).

The same tests run against the local server (objects as files) and against the Worker in
workerd (objects in Miniflare's local R2, persisted under ``--persist-to``). A probe answers
"which keys are there" and "what bytes does this key hold" for either, read-only, so a
test can check storage without going through the API it is testing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Protocol


class StoreProbe(Protocol):
    def keys(self, prefix: str) -> list[str]: ...

    def read(self, key: str) -> bytes | None: ...


class FsStoreProbe:
    """The local filesystem store (``<DATA_DIR>/store/objects/<key>``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def keys(self, prefix: str) -> list[str]:
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return []
        found = (str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith("."))
        return sorted(k for k in found if k.startswith(prefix))

    def read(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None


class MiniflareR2Probe:
    """Miniflare's persisted R2 bucket: object rows in SQLite, bytes in blob files
    (one blob per single-part object, one per part for multipart objects)."""

    def __init__(self, persist_dir: Path, bucket: str) -> None:
        self.r2 = persist_dir / "v3" / "r2"
        self.blobs = self.r2 / bucket / "blobs"

    def _db(self) -> sqlite3.Connection:
        files = [p for p in (self.r2 / "miniflare-R2BucketObject").glob("*.sqlite") if p.name != "metadata.sqlite"]
        if len(files) != 1:
            raise RuntimeError(f"expected one R2 object database under {self.r2}, found {files}")
        return sqlite3.connect(f"file:{files[0]}?mode=ro", uri=True)

    def keys(self, prefix: str) -> list[str]:
        if not (self.r2 / "miniflare-R2BucketObject").is_dir():
            return []
        with self._db() as db:
            rows = db.execute(
                "SELECT key FROM _mf_objects WHERE substr(key, 1, ?) = ? ORDER BY key", (len(prefix), prefix)
            )
            return [row[0] for row in rows]

    def read(self, key: str) -> bytes | None:
        with self._db() as db:
            row = db.execute("SELECT blob_id FROM _mf_objects WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            if row[0] is not None:
                return (self.blobs / row[0]).read_bytes()
            parts = db.execute(
                "SELECT blob_id FROM _mf_multipart_parts WHERE object_key = ? ORDER BY part_number", (key,)
            ).fetchall()
        return b"".join((self.blobs / blob).read_bytes() for (blob,) in parts)

    def multipart_uploads(self, key_prefix: str) -> list[tuple[str, int]]:
        """(key, state) of multipart uploads under a prefix: 0 in progress, 1 completed, 2 aborted."""
        with self._db() as db:
            rows = db.execute(
                "SELECT key, state FROM _mf_multipart_uploads WHERE substr(key, 1, ?) = ?",
                (len(key_prefix), key_prefix),
            )
            return [(k, int(s)) for k, s in rows]
