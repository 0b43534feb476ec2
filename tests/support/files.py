"""Big test files without big memory: written and hashed in blocks."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def write_random_file(path: Path, size: int, block: int = 16 << 20) -> str:
    """Write ``size`` random bytes in blocks (never the whole file in memory); return its sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        remaining = size
        while remaining:
            data = os.urandom(min(block, remaining))
            digest.update(data)
            fh.write(data)
            remaining -= len(data)
    return digest.hexdigest()


def sha256_file(path: Path, block: int = 16 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(block):
            digest.update(data)
    return digest.hexdigest()
