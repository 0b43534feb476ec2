"""The streaming ZIP writer: checked with zipfile, Info-ZIP's unzip and an independent parser.

Archives past 4 GiB are written to a *sparse* temporary file: a chunk that is exactly one
MiB of zeros is skipped with a seek instead of written, so the file reads back byte for byte
what the writer produced while only the headers and the members' patterned heads and tails
take disk blocks. Every byte is still produced, CRC'd by the writer, and read back and
CRC'd by zipfile and unzip.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import io
import math
import os
import random
import shutil
import struct
import subprocess
import tracemalloc
import unicodedata
import zipfile
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import pytest
from mediagate.files.zipstream import (
    MAX_NAME_BYTES,
    ZipMember,
    ZipMemberSizeError,
    safe_member_names,
    stream_zip,
    zip_size,
)
from support.tools import require_tool

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
ZIP64_LIMIT = 0xFFFFFFFF
ZERO_CHUNK = bytes(MIB)
UTF8_ENV = {**os.environ, "LC_ALL": "C.UTF-8"}
NOW = calendar.timegm((2024, 5, 6, 7, 8, 9))


def run(coro):
    return asyncio.run(coro)


async def _aiter_chunks(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await asyncio.sleep(0)  # a real suspension point, like an object store read
        yield chunk


def member(name: str, chunks: Iterable[bytes] | bytes, size: int | None = None, modified: float = NOW) -> ZipMember:
    """A member over the given chunks (re-iterable: a list, or a zero-argument callable)."""
    if isinstance(chunks, bytes | bytearray):
        chunks = [bytes(chunks)] if chunks else []
    source = chunks

    async def open_():
        return _aiter_chunks(source() if callable(source) else source)

    if size is None:
        size = sum(len(c) for c in chunks)
    return ZipMember(name=name, size=size, modified=modified, open=open_)


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def collect(members: list[ZipMember]) -> bytes:
    return b"".join([chunk async for chunk in stream_zip(members)])


def unzip() -> str:
    """Info-ZIP's unzip (scripts/install.sh installs it): under CI=true its absence fails."""
    return require_tool("unzip")


def start_unzip_test(path: Path, *names: str) -> subprocess.Popen:
    """`unzip -t` (of all members, or of ``names``) in the background."""
    return subprocess.Popen(
        [unzip(), "-t", str(path), *names], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=UTF8_ENV
    )


def finish_unzip_test(proc: subprocess.Popen) -> None:
    output, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, output
    assert "No errors detected" in output, output


def unzip_test(path: Path) -> None:
    """`unzip -t` of the whole archive: Info-ZIP must read every member and CRC."""
    finish_unzip_test(start_unzip_test(path))


def test_unzip_really_checks(tmp_path: Path) -> None:
    """The `unzip -t` helper fails on a corrupt archive (so its passes mean something)."""
    good = tmp_path / "good.zip"
    good.write_bytes(run(collect([member("a.txt", b"hello " * 1000)])))
    unzip_test(good)
    bad = tmp_path / "bad.zip"
    data = bytearray(good.read_bytes())
    data[40] ^= 0xFF  # inside the member's data: its CRC no longer matches
    bad.write_bytes(bytes(data))
    with pytest.raises(AssertionError):
        unzip_test(bad)


# --- an independent reader of the structure (APPNOTE 6.3.x) ------------------------------------


def parse_archive(path: Path) -> dict:
    """Walk end records, central directory, every local header and data descriptor."""
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(size - 22)
        sig, disk, cd_disk, here, count, cd_size, cd_offset, comment = struct.unpack("<IHHHHIIH", fh.read(22))
        assert (sig, disk, cd_disk, comment) == (0x06054B50, 0, 0, 0)
        assert here == count
        zip64_end = False
        if size >= 22 + 20 + 56:
            fh.seek(size - 42)
            locator = fh.read(20)
            zip64_end = locator[:4] == struct.pack("<I", 0x07064B50)
        if zip64_end:
            _, disk, eocd64_offset, disks = struct.unpack("<IIQI", locator)
            assert (disk, disks) == (0, 1)
            assert eocd64_offset == size - 42 - 56
            fh.seek(eocd64_offset)
            rec = struct.unpack("<IQHHIIQQQQ", fh.read(56))
            assert rec[:6] == (0x06064B50, 44, 0x033F, 45, 0, 0)
            assert rec[6] == rec[7]
            for small, big, marker in (
                (count, rec[7], 0xFFFF),
                (cd_size, rec[8], ZIP64_LIMIT),
                (cd_offset, rec[9], ZIP64_LIMIT),
            ):
                assert small == (marker if big >= marker else big)
            count, cd_size, cd_offset = rec[7], rec[8], rec[9]
            assert count >= 0xFFFF or cd_size >= ZIP64_LIMIT or cd_offset >= ZIP64_LIMIT, "needless ZIP64 end record"
            assert cd_offset + cd_size == eocd64_offset
        else:
            assert count < 0xFFFF and cd_size < ZIP64_LIMIT and cd_offset < ZIP64_LIMIT
            assert cd_offset + cd_size == size - 22

        fh.seek(cd_offset)
        cd = fh.read(cd_size)
        entries = []
        pos = 0
        for _ in range(count):
            f = struct.unpack_from("<IHHHHHHIIIHHHHHII", cd, pos)
            (sig, made_by, needed, flags, method, dtime, ddate, crc, csize, usize, nlen, xlen, clen) = f[:13]
            disk_start, internal, external, offset = f[13:]
            assert (sig, made_by, flags, method, clen, disk_start, internal) == (0x02014B50, 0x033F, 0x0808, 0, 0, 0, 0)
            assert external == 0o100644 << 16
            assert csize == usize
            name = cd[pos + 46 : pos + 46 + nlen].decode("utf-8")
            extra = cd[pos + 46 + nlen : pos + 46 + nlen + xlen]
            pos += 46 + nlen + xlen + clen
            zip64_size = usize == ZIP64_LIMIT
            zip64_offset = offset == ZIP64_LIMIT
            wanted = 2 * zip64_size + zip64_offset
            if wanted:
                tag, length = struct.unpack_from("<HH", extra)
                assert (tag, length, len(extra)) == (1, 8 * wanted, 4 + 8 * wanted)
                values = list(struct.unpack_from(f"<{wanted}Q", extra, 4))
                if zip64_size:
                    usize, csize = values.pop(0), values.pop(0)
                    assert usize == csize and usize >= ZIP64_LIMIT
                if zip64_offset:
                    offset = values.pop(0)
                    assert offset >= ZIP64_LIMIT
            else:
                assert extra == b""
            assert needed == (45 if wanted else 20)
            entries.append(
                {
                    "name": name,
                    "crc": crc,
                    "size": usize,
                    "offset": offset,
                    "zip64_size": zip64_size,
                    "zip64_offset": zip64_offset,
                    "needed": needed,
                    "dos": (dtime, ddate),
                }
            )
        assert pos == cd_size

        expected_offset = 0  # members are contiguous from the start, then the central directory
        for e in entries:
            assert e["offset"] == expected_offset, e["name"]
            fh.seek(e["offset"])
            sig, needed, flags, method, dtime, ddate, crc, csize, usize, nlen, xlen = struct.unpack(
                "<IHHHHHIIIHH", fh.read(30)
            )
            assert (sig, needed, flags, method, (dtime, ddate), crc) == (
                0x04034B50,
                e["needed"],
                0x0808,
                0,
                e["dos"],
                0,
            )
            assert fh.read(nlen).decode("utf-8") == e["name"]
            extra = fh.read(xlen)
            if e["zip64_size"]:
                assert (csize, usize) == (ZIP64_LIMIT, ZIP64_LIMIT)
                assert extra == struct.pack("<HHQQ", 1, 16, e["size"], e["size"])  # the declared size
            else:
                assert (csize, usize, extra) == (0, 0, b"")
            fh.seek(e["size"], os.SEEK_CUR)
            layout = "<IIQQ" if e["zip64_size"] else "<IIII"
            descriptor = struct.unpack(layout, fh.read(struct.calcsize(layout)))
            assert descriptor == (0x08074B50, e["crc"], e["size"], e["size"]), e["name"]
            expected_offset = fh.tell()
        assert expected_offset == cd_offset
    return {"entries": entries, "zip64_end": zip64_end, "size": size}


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("photo.jpg", "photo.jpg"),
        ("a/b/c.txt", "c.txt"),
        ("C:\\Users\\me\\Photo.JPG", "Photo.JPG"),
        ("C:evil.txt", "evil.txt"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("..", "file"),
        (".", "file"),
        ("", "file"),
        ("   ", "file"),
        ("dir/", "file"),
        ("bad\x00na\x1fme\x7f\x85.txt", "badname.txt"),
        ("line\nbreak.txt", "linebreak.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("trailing. . ", "trailing"),
        ("  spaced name.txt  ", "spaced name.txt"),
        ("e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"),  # NFD -> NFC
        ("\udcff.txt", "\ufffd.txt"),  # a lone surrogate from os.fsdecode
        ("日本語 📷.jpeg", "日本語 📷.jpeg"),
        (".bashrc", ".bashrc"),
    ],
)
def test_safe_member_names_sanitises(raw: str, expected: str) -> None:
    assert safe_member_names([raw]) == [expected]


def test_safe_member_names_limits_length_keeping_the_extension() -> None:
    [accented, plain, no_ext, tarball] = safe_member_names(
        ["é" * 150 + ".jpeg", "x" * 300 + ".png", "y" * 500, "z" * 300 + ".tar.gz"]
    )
    assert accented == "é" * 97 + ".jpeg"  # 194 + 5 bytes: a 2-byte character is never split
    assert plain == "x" * 196 + ".png"
    assert no_ext == "y" * MAX_NAME_BYTES
    assert tarball == "z" * 193 + ".tar.gz"
    long_dupes = safe_member_names(["w" * 300 + ".png"] * 3)
    assert long_dupes == ["w" * 196 + ".png", "w" * 192 + " (1).png", "w" * 192 + " (2).png"]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["a.txt", "A.TXT", "a.txt"], ["a.txt", "A (1).TXT", "a (2).txt"]),
        (["a.txt", "a.txt", "a (1).txt"], ["a.txt", "a (2).txt", "a (1).txt"]),  # originals keep their names
        (["x.tar.gz", "X.tar.gz"], ["x.tar.gz", "X (1).tar.gz"]),
        ([".bashrc", ".bashrc"], [".bashrc", ".bashrc (1)"]),
        (["one/readme", "two/README", "..", "", "."], ["readme", "README (1)", "file", "file (1)", "file (2)"]),
        (["Straße.txt", "STRASSE.TXT"], ["Straße.txt", "STRASSE (1).TXT"]),
        (["é.txt", "e\u0301.txt", "É.TXT"], ["é.txt", "é (1).txt", "É (2).TXT"]),
        (["v.1.2", "v.1.2"], ["v.1.2", "v.1 (1).2"]),
    ],
)
def test_safe_member_names_deduplicates_case_insensitively(names: list[str], expected: list[str]) -> None:
    assert safe_member_names(names) == expected


def test_safe_member_names_invariants_on_random_names() -> None:
    rng = random.Random(1234)
    specials = ["\x00", "\x1f", "\x7f", "\u202e", "é", "e\u0301", "ß", "日", "📷", "\udcff"]
    alphabet = [*'aAbB.. /\\:*?"<>|-_ ', *specials]
    names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(3000)]
    names += ["a" * rng.randint(190, 260) + rng.choice(["", ".jpg", ".tar.gz"]) for _ in range(200)]
    safe = safe_member_names(names)
    assert len(safe) == len(names)
    assert len({n.casefold() for n in safe}) == len(safe)
    for name in safe:
        assert name and name not in (".", "..")
        assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
        assert not set(name) & set('/\\:*?"<>|\x00\u202e')
        assert not any(unicodedata.category(ch) == "Cc" for ch in name)
        assert name == unicodedata.normalize("NFC", name)
        assert name == name.strip() and not name.endswith(".")
    # and the writer accepts every one of them
    assert zip_size([member(n, b"") for n in safe]) > 0


# --- small archives ---------------------------------------------------------------------------


def test_small_archive_round_trips(tmp_path: Path) -> None:
    rng = random.Random(42)
    raw_names = [
        "Ünïcødé 日本 📷.jpg",
        "report.pdf",
        "REPORT.PDF",
        "report.pdf",
        "albums/2024/summer/beach.png",
        "C:\\Users\\me\\Desktop\\notes.txt",
        "..",
        "../../etc/passwd",
        "",
        "e\u0301.txt",
        "big.bin",
    ]
    sizes = [1000, 70_000, 1, 0, 3 * MIB + 17, 12, 5, 64 * KIB, 0, 2, 5 * MIB]
    chunk_sizes = [7, 65_536, 1, 1, 1 * MIB, 3, 5, 10_000, 1, 1, 256 * KIB]
    names = safe_member_names(raw_names)
    assert names == [
        "Ünïcødé 日本 📷.jpg",
        "report.pdf",
        "REPORT (1).PDF",
        "report (2).pdf",
        "beach.png",
        "notes.txt",
        "file",
        "passwd",
        "file (1)",
        "é.txt",
        "big.bin",
    ]
    sources = [rng.randbytes(size) for size in sizes]
    members = []
    for i, (name, data, chunk_size) in enumerate(zip(names, sources, chunk_sizes, strict=True)):
        chunks: list = chunked(data, chunk_size)
        if i == 4:  # bytes-like chunks pass through too
            chunks = [bytearray(c) if j % 2 else memoryview(c) for j, c in enumerate(chunks)]
        members.append(member(name, chunks, size=len(data)))

    archive = run(collect(members))
    assert len(archive) == zip_size(members)
    path = tmp_path / "small.zip"
    path.write_bytes(archive)

    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == names
        for info, data in zip(zf.infolist(), sources, strict=True):
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.flag_bits & 0x0808 == 0x0808
            assert info.file_size == len(data)
            assert info.date_time == (2024, 5, 6, 7, 8, 8)
            assert hashlib.sha256(zf.read(info)).hexdigest() == hashlib.sha256(data).hexdigest()

    parsed = parse_archive(path)
    assert not parsed["zip64_end"]
    assert [e["crc"] for e in parsed["entries"]] == [zlib.crc32(d) for d in sources]
    assert not any(e["zip64_size"] or e["zip64_offset"] for e in parsed["entries"])

    unzip_test(path)
    # extract: exactly the sanitised names, nothing outside the target
    out = tmp_path / "out"
    subprocess.run([unzip(), "-q", str(path), "-d", str(out)], check=True, env=UTF8_ENV)
    extracted = {p.relative_to(out).as_posix(): p for p in out.rglob("*")}
    assert sorted(extracted) == sorted(names)
    for name, data in zip(names, sources, strict=True):
        assert hashlib.sha256(extracted[name].read_bytes()).digest() == hashlib.sha256(data).digest()
        assert extracted[name].stat().st_mode & 0o777 == 0o644


def test_zero_members(tmp_path: Path) -> None:
    archive = run(collect([]))
    assert archive == struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0, 0, 0, 0, 0)
    assert zip_size([]) == 22
    path = tmp_path / "empty.zip"
    path.write_bytes(archive)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == []
        assert zf.testzip() is None
    parse_archive(path)
    proc = subprocess.run([unzip(), "-t", str(path)], capture_output=True, text=True)
    assert proc.returncode == 1 and "zipfile is empty" in proc.stdout + proc.stderr  # unzip's verdict


def test_empty_members(tmp_path: Path) -> None:
    members = [member("empty.txt", []), member("also-empty.txt", [b"", b""], size=0), member("one.txt", b"1")]
    archive = run(collect(members))
    assert len(archive) == zip_size(members)
    path = tmp_path / "empties.zip"
    path.write_bytes(archive)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert [zf.read(n) for n in zf.namelist()] == [b"", b"", b"1"]
    parsed = parse_archive(path)
    assert [e["crc"] for e in parsed["entries"]] == [0, 0, zlib.crc32(b"1")]
    unzip_test(path)


@pytest.mark.parametrize(
    ("modified", "expected"),
    [
        (NOW + 0.9, (2024, 5, 6, 7, 8, 8)),  # 2-second resolution, rounded down
        (calendar.timegm((2000, 2, 29, 23, 59, 59)), (2000, 2, 29, 23, 59, 58)),
        (315532800, (1980, 1, 1, 0, 0, 0)),
        (0, (1980, 1, 1, 0, 0, 0)),
        (-1e12, (1980, 1, 1, 0, 0, 0)),
        (math.nan, (1980, 1, 1, 0, 0, 0)),
        (calendar.timegm((2107, 12, 31, 23, 59, 59)), (2107, 12, 31, 23, 59, 58)),
        (1e13, (2107, 12, 31, 23, 59, 58)),
        (math.inf, (2107, 12, 31, 23, 59, 58)),
    ],
)
def test_dos_timestamps_are_utc_and_clamped(modified: float, expected: tuple) -> None:
    archive = run(collect([member("t.txt", b"x", modified=modified)]))
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert zf.infolist()[0].date_time == expected


# --- laziness, errors, cancellation -----------------------------------------------------------


def test_members_are_opened_lazily_one_at_a_time() -> None:
    received = 0
    opened_at: list[int] = []
    live = 0
    max_live = 0

    def tracked(name: str, data: bytes) -> ZipMember:
        async def gen():
            nonlocal live, max_live
            live += 1
            max_live = max(max_live, live)
            try:
                for chunk in chunked(data, 1000):
                    await asyncio.sleep(0)
                    yield chunk
            finally:
                live -= 1

        async def open_():
            opened_at.append(received)
            return gen()

        return ZipMember(name, len(data), NOW, open_)

    members = [tracked(f"m{i}.bin", bytes([i]) * (i * 1500)) for i in range(1, 6)]
    assert zip_size(members) > 0 and opened_at == []  # sizing opens nothing

    async def consume() -> bytes:
        nonlocal received
        out = bytearray()
        async for chunk in stream_zip(members):
            out += chunk
            received += len(chunk)
        return bytes(out)

    archive = run(consume())
    assert max_live == 1 and live == 0
    infos = zipfile.ZipFile(io.BytesIO(archive)).infolist()
    # each member is opened only once everything before its data has been consumed
    # (its local header goes out with its first chunk; the previous descriptor too)
    data_ends = [0] + [i.header_offset + 30 + len(i.filename.encode()) + i.file_size for i in infos[:-1]]
    assert opened_at == data_ends


def test_short_member_raises() -> None:
    members = [member("ok.txt", b"fine"), member("short.bin", [b"12345"], size=10)]
    with pytest.raises(
        ZipMemberSizeError, match=r"'short.bin' declared 10 bytes but its stream yielded 5 bytes"
    ) as err:
        run(collect(members))
    assert (err.value.name, err.value.declared, err.value.actual) == ("short.bin", 10, 5)


def test_long_member_raises_before_yielding_the_excess() -> None:
    closed = []

    async def gen():
        try:
            yield b"abc"
            yield b"defg"  # 7 > 5
            yield b"never"
        finally:
            closed.append(True)

    async def open_():
        return gen()

    members = [ZipMember("long.bin", 5, NOW, open_)]
    got: list[bytes] = []

    async def consume():
        async for chunk in stream_zip(members):
            got.append(chunk)

    with pytest.raises(ZipMemberSizeError, match=r"more than 5 bytes \(at least 7\)"):
        run(consume())
    assert closed == [True]
    assert b"".join(got).endswith(b"abc")  # header, then only the chunk that still fitted
    assert sum(map(len, got)) < zip_size(members)


def test_closing_the_archive_stream_closes_the_member_stream() -> None:
    closed = []

    async def gen():
        try:
            while True:
                yield b"x" * 100
        finally:
            closed.append(True)

    async def open_():
        return gen()

    async def go():
        stream = stream_zip([ZipMember("endless.bin", 10**6, NOW, open_)])
        first = await anext(stream)
        await stream.aclose()  # the client went away
        return first

    assert run(go()).startswith(b"PK\x03\x04")
    assert closed == [True]


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("", 1),
        ("../escape.txt", 1),
        ("/etc/passwd", 1),
        ("a\\b.txt", 1),
        ("nul\x00.txt", 1),
        ("\udcff.txt", 1),
        ("x" * 70_000, 1),
        ("ok.txt", -1),
        ("ok.txt", 1.5),
        ("ok.txt", True),
        ("ok.txt", 2**64),
    ],
)
def test_invalid_members_are_rejected_before_any_output(name: str, size) -> None:
    opened = []

    async def open_():
        opened.append(True)
        return _aiter_chunks([b"x"])

    members = [member("first.txt", b"1"), ZipMember(name, size, NOW, open_)]
    with pytest.raises(ValueError):
        zip_size(members)

    async def first_chunk():
        return await anext(stream_zip(members))

    with pytest.raises(ValueError):
        run(first_chunk())
    assert opened == []


# --- memory ---------------------------------------------------------------------------------


def test_memory_stays_flat_for_a_512_mib_archive() -> None:
    def fresh_chunks(tag: int, size: int) -> Iterator[bytes]:
        for offset in range(0, size, MIB):
            yield bytes([(tag + offset // MIB) % 251]) * min(MIB, size - offset)  # a new 1 MiB object each time

    members = [member(f"part-{i:02d}.bin", lambda i=i: fresh_chunks(i, 32 * MIB), size=32 * MIB) for i in range(16)]
    total = zip_size(members)

    async def go() -> tuple[int, int]:
        n = crc = 0
        tracemalloc.start()
        try:
            async for chunk in stream_zip(members):
                n += len(chunk)
                crc = zlib.crc32(chunk, crc)
            return n, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    written, peak = run(go())
    assert written == total > 512 * MIB
    assert peak < 3 * MIB, f"peak traced memory {peak / MIB:.2f} MiB"


# --- ZIP64 ------------------------------------------------------------------------------------


def pattern_chunks(tag: int, size: int) -> Iterator[bytes]:
    """A patterned 64 KiB head and tail around 1 MiB chunks of zeros: regenerable, cheap, sparse."""
    head = random.Random(tag).randbytes(min(size, 64 * KIB))
    yield head
    left = size - len(head)
    tail = random.Random(-tag).randbytes(min(left, 64 * KIB))
    left -= len(tail)
    while left:
        n = min(MIB, left)
        yield ZERO_CHUNK if n == MIB else bytes(n)
        left -= n
    if tail:
        yield tail


async def write_sparse(members: list[ZipMember], path: Path) -> int:
    written = 0
    with open(path, "wb") as fh:
        async for chunk in stream_zip(members):
            if len(chunk) == MIB and chunk == ZERO_CHUNK:
                fh.seek(MIB, os.SEEK_CUR)  # a hole reads back as these very zeros
            else:
                fh.write(chunk)
            written += len(chunk)
        fh.truncate(written)
    return written


def big_archive(tmp_path: Path, spec: list[tuple[str, int]]) -> tuple[Path, list[ZipMember]]:
    members = [
        member(name, lambda i=i, size=size: pattern_chunks(i, size), size=size) for i, (name, size) in enumerate(spec)
    ]
    total = zip_size(members)
    if shutil.disk_usage(tmp_path).free < total + 2 * GIB:  # in case the file system has no holes
        pytest.skip(f"needs {total / GIB:.1f} GiB free on {tmp_path}")
    path = tmp_path / "big.zip"
    assert run(write_sparse(members, path)) == total == path.stat().st_size
    return path, members


def verify_contents(path: Path, spec: list[tuple[str, int]]) -> None:
    """Read every member back through zipfile (which checks the CRC at EOF) and compare it."""
    with zipfile.ZipFile(path) as zf:
        assert [(i.filename, i.file_size) for i in zf.infolist()] == spec
        for i, (name, size) in enumerate(spec):
            with zf.open(name) as fh:
                for chunk in pattern_chunks(i, size):
                    assert fh.read(len(chunk)) == chunk, name
                assert fh.read(1) == b""


def check_big_archive(path: Path, spec: list[tuple[str, int]], unzip_names: tuple[str, ...] = ()) -> dict:
    """Structure, then contents through zipfile while unzip tests the archive on the other core."""
    proc = start_unzip_test(path, *unzip_names)
    try:
        parsed = parse_archive(path)
        verify_contents(path, spec)
    except BaseException:
        if proc is not None:
            proc.kill()
            proc.wait()
        raise
    finish_unzip_test(proc)
    return parsed


def test_zip64_archive_past_4_gib_of_members_under_4_gib(tmp_path: Path) -> None:
    """3 x 1.5 GiB: no member needs ZIP64, the central directory's offset does.

    unzip parses the whole archive but CRCs only part-2.bin, the member that crosses 4 GiB.
    """
    spec = [(f"part-{i}.bin", 3 * GIB // 2) for i in range(3)]
    path, _ = big_archive(tmp_path, spec)
    parsed = check_big_archive(path, spec, ("part-2.bin",))
    assert parsed["zip64_end"]
    step = 30 + len("part-0.bin") + 3 * GIB // 2 + 16
    assert [e["offset"] for e in parsed["entries"]] == [0, step, 2 * step]
    assert not any(e["zip64_size"] or e["zip64_offset"] for e in parsed["entries"])


def test_zip64_members_of_4_gib_and_more(tmp_path: Path) -> None:
    """Sizes at and past the 0xFFFFFFFF marker, and offsets past it.

    unzip tests every member but huge.bin, whose 4 GiB it would take ~25 s to CRC;
    zipfile reads and CRCs all of them.
    """
    spec = [
        ("first.txt", 10),  # plain
        ("edge.bin", ZIP64_LIMIT),  # exactly the marker value: ZIP64 size
        ("huge.bin", 4 * GIB + 3),  # ZIP64 size and offset
        ("after.txt", 100_000),  # ZIP64 offset only
    ]
    path, _ = big_archive(tmp_path, spec)
    parsed = check_big_archive(path, spec, ("first.txt", "edge.bin", "after.txt"))
    assert parsed["zip64_end"]
    assert [(e["zip64_size"], e["zip64_offset"]) for e in parsed["entries"]] == [
        (False, False),
        (True, False),
        (True, True),
        (False, True),
    ]


@pytest.mark.parametrize("count", [0xFFFF - 1, 0xFFFF])
def test_zip64_end_record_for_65535_entries(tmp_path: Path, count: int) -> None:
    names = [f"f{i:05d}.txt" for i in range(count)]
    members = [member(name, b"x" if i % 2 else b"") for i, name in enumerate(names)]
    path = tmp_path / "many.zip"
    assert run(write_sparse(members, path)) == zip_size(members) == path.stat().st_size
    parsed = parse_archive(path)
    assert parsed["zip64_end"] is (count >= 0xFFFF)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == names
        assert zf.testzip() is None
    unzip_test(path)


def test_zip_size_of_one_small_member() -> None:
    # local header 30 + name 1 + data 1 + descriptor 16 + central entry 46 + name 1 + end record 22
    assert zip_size([member("a", b"a")]) == 117
