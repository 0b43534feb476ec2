"""Throughput of mediagate.files.zipstream against Info-ZIP's `zip -0` on the same files.

    .venv/bin/python bench/zip_bench.py                     # 20 x 50 MiB, 3 runs each
    .venv/bin/python bench/zip_bench.py --files 5 --size 200M --runs 5
    .venv/bin/python bench/zip_bench.py --verify            # also `unzip -t` our archive once

Creates N random files in a temporary directory (same file system as the archives would
be), reads them once so both contenders start from a warm page cache, then alternates:

* ours: ``stream_zip`` over members whose ``open`` returns an async generator reading the
  file in 1 MiB chunks (as the local filesystem store's bodies do), every chunk written
  to /dev/null; the byte count must equal ``zip_size``;
* zip:  ``zip -0 -q -X - <files> > /dev/null`` (store only, no extra attributes, archive to
  stdout, i.e. streamed with data descriptors like ours).

Both read the same files and write to /dev/null; both compute CRC-32. Wall time per run,
MB/s with 1 MB = 10^6 bytes of input, median over the runs, and the ratio ours / zip.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "worker" / "src"))

from mediagate.files.zipstream import ZipMember, stream_zip, zip_size  # noqa: E402

MIB = 1024 * 1024
READ_CHUNK = MIB
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = text[-1] if text and text[-1] in UNITS else ""
    return int(float(text[: len(text) - len(unit)]) * UNITS[unit])


def make_files(directory: Path, count: int, size: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = directory / f"file-{i:03d}.bin"
        with open(path, "wb") as fh:
            left = size
            while left:
                n = min(8 * MIB, left)
                fh.write(os.urandom(n))
                left -= n
        paths.append(path)
    return paths


def file_member(path: Path) -> ZipMember:
    async def open_() -> AsyncIterator[bytes]:
        async def body() -> AsyncIterator[bytes]:
            with open(path, "rb") as fh:
                while chunk := fh.read(READ_CHUNK):
                    yield chunk

        return body()

    st = path.stat()
    return ZipMember(name=path.name, size=st.st_size, modified=st.st_mtime, open=open_)


async def _ours(paths: list[Path], out_path: str) -> int:
    members = [file_member(p) for p in paths]
    expected = zip_size(members)
    written = 0
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        async for chunk in stream_zip(members):
            os.write(fd, chunk)  # /dev/null takes every byte in one call
            written += len(chunk)
    finally:
        os.close(fd)
    assert written == expected, (written, expected)
    return written


def run_ours(paths: list[Path]) -> float:
    t0 = time.perf_counter()
    asyncio.run(_ours(paths, os.devnull))
    return time.perf_counter() - t0


def run_zip(paths: list[Path], directory: Path) -> float:
    with open(os.devnull, "wb") as null:
        t0 = time.perf_counter()
        subprocess.run(["zip", "-0", "-q", "-X", "-", *[p.name for p in paths]], cwd=directory, stdout=null, check=True)
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--size", default="50M", help="bytes per file (K/M/G suffixes)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to create the files (default: a temp dir)")
    parser.add_argument("--verify", action="store_true", help="write our archive once and `unzip -t` it")
    args = parser.parse_args()
    if shutil.which("zip") is None:
        sys.exit("zip not installed (apt-get install zip)")

    size = parse_size(args.size)
    total = args.files * size
    with tempfile.TemporaryDirectory(prefix="zip-bench-", dir=args.dir) as tmp:
        directory = Path(tmp)
        t0 = time.perf_counter()
        paths = make_files(directory, args.files, size)
        print(
            f"{args.files} files x {size / MIB:.0f} MiB random = {total / 1e6:.0f} MB in {directory} "
            f"(created in {time.perf_counter() - t0:.1f} s)"
        )
        for p in paths:  # warm the page cache for both
            with open(p, "rb") as fh:
                while fh.read(8 * MIB):
                    pass

        if args.verify:
            archive = directory / "ours.zip"
            asyncio.run(_ours(paths, str(archive)))
            subprocess.run(["unzip", "-tqq", str(archive)], check=True)
            print(f"verify: unzip -t OK on {archive.stat().st_size / 1e6:.0f} MB archive")
            archive.unlink()

        ours: list[float] = []
        theirs: list[float] = []
        for run in range(args.runs):
            order = [("ours", ours), ("zip", theirs)]
            if run % 2:
                order.reverse()
            for name, times in order:
                seconds = run_ours(paths) if name == "ours" else run_zip(paths, directory)
                times.append(seconds)
                print(f"  run {run + 1} {name:4s} {seconds:6.2f} s  {total / seconds / 1e6:7.0f} MB/s")

    load = os.getloadavg()
    med_ours, med_zip = statistics.median(ours), statistics.median(theirs)
    print()
    print(
        f"stream_zip (async 1 MiB reads -> /dev/null): median {med_ours:.2f} s = {total / med_ours / 1e6:.0f} MB/s"
        f"  (best {total / min(ours) / 1e6:.0f} MB/s)"
    )
    print(
        f"zip -0 -q -X - (-> /dev/null):               median {med_zip:.2f} s = {total / med_zip / 1e6:.0f} MB/s"
        f"  (best {total / min(theirs) / 1e6:.0f} MB/s)"
    )
    print(f"ratio stream_zip / zip (throughput, medians): {med_zip / med_ours:.2f}x")
    print(
        f"({os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; Python {sys.version.split()[0]})"
    )


if __name__ == "__main__":
    main()
