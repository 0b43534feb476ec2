"""Streaming store-only ZIP archives of async byte streams, with the exact size known up front.

The batch download streams a ZIP of objects read from an *async* object store (the R2
binding in the Worker, the async filesystem store locally) and its HTTP response carries
a Content-Length. This is written by hand because neither library fits:

* zipstream-ng can compute the final size but only iterates synchronous sources, and
  Pyodide cannot block on I/O;
* stream-zip's store mode (``NO_COMPRESSION_*``) needs each member's CRC-32 before the
  member's data, which would mean reading every object twice.

So this is a small writer that follows PKWARE's APPNOTE 6.3.x exactly:

* every member is stored (method 0), its name is UTF-8 (general purpose flag bit 11) and
  its CRC-32 and sizes follow its data in a data descriptor (bit 3): the CRC is computed
  on the fly with ``zlib.crc32`` while the chunks pass through, so nothing is buffered
  and memory stays flat whatever the archive size;
* the local header carries CRC 0 and sizes 0 (section 4.4.4), or, for a member whose
  declared size is >= 0xFFFFFFFF, sizes 0xFFFFFFFF plus a ZIP64 extra field with both
  sizes (4.5.3); such a member's data descriptor has 8-byte sizes (4.3.9.2). That extra
  field holds the declared size, not 0 as streaming writers that do not know it write:
  Info-ZIP unzip 6.0 takes the size from it when the real size is exactly 0xFFFFFFFF;
* a central directory entry gets a ZIP64 extra field holding exactly the values whose
  32-bit field is 0xFFFFFFFF, in the order of 4.5.3 (uncompressed size, compressed
  size, local header offset);
* a ZIP64 end of central directory record and locator (4.3.14, 4.3.15) precede the end
  of central directory record when the archive has >= 0xFFFF entries or its central
  directory's size or offset is >= 0xFFFFFFFF; only the overflowing fields of the end
  record hold the 0xFFFF/0xFFFFFFFF marker (4.4.1.4).

Every ZIP64 decision depends only on the declared sizes and the offsets they imply, so
:func:`zip_size` (the Content-Length) and :func:`stream_zip` run the same plan and agree
to the byte. A member whose stream yields more or fewer bytes than declared raises
:class:`ZipMemberSizeError`; the excess chunk is never yielded, so a consumer never sees
more than ``zip_size`` bytes, and the HTTP layer aborts the response.

Timestamps are MS-DOS date/time in UTC (2-second resolution, clamped to 1980..2107).
Entries are regular files with mode 0644 (host system UNIX). Member names should come
from :func:`safe_member_names`; the writer itself rejects empty, absolute and ``..``
names as a last line of defence.

Pure Python (stdlib ``zlib`` and ``struct`` only), async I/O only: Pyodide-safe.
"""

from __future__ import annotations

import datetime
import math
import struct
import unicodedata
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "MAX_NAME_BYTES",
    "ZipMember",
    "ZipMemberSizeError",
    "safe_member_names",
    "stream_zip",
    "zip_size",
]


@dataclass
class ZipMember:
    """One archive member. ``open`` is called only when the writer reaches the member."""

    name: str
    size: int
    modified: float  # epoch seconds
    open: Callable[[], Awaitable[AsyncIterable[bytes]]]


class ZipMemberSizeError(ValueError):
    """A member's stream yielded a different number of bytes than its declared size."""

    def __init__(self, name: str, declared: int, actual: int, *, more: bool = False) -> None:
        self.name = name
        self.declared = declared
        self.actual = actual  # with ``more``: the count at which the overrun was noticed
        got = f"more than {declared} bytes (at least {actual})" if more else f"{actual} bytes"
        super().__init__(f"zip member {name!r} declared {declared} bytes but its stream yielded {got}")


# --- the format (APPNOTE 6.3.x) -------------------------------------------------------------

ZIP64_LIMIT = 0xFFFFFFFF  # a 32-bit size/offset field holding this value means "see ZIP64"
ZIP64_COUNT_LIMIT = 0xFFFF  # likewise for the 16-bit entry counts of the end record
_MAX_SIZE = 0xFFFFFFFFFFFFFFFF

_LOCAL_SIG = 0x04034B50
_DESCRIPTOR_SIG = 0x08074B50
_CENTRAL_SIG = 0x02014B50
_EOCD64_SIG = 0x06064B50
_LOCATOR64_SIG = 0x07064B50
_EOCD_SIG = 0x06054B50

_FLAGS = 0x0008 | 0x0800  # bit 3: data descriptor; bit 11: names are UTF-8
_STORED = 0
_VERSION_MADE_BY = (3 << 8) | 63  # UNIX; APPNOTE 6.3 (UTF-8 flag)
_VERSION_NEEDED = 20
_VERSION_NEEDED_ZIP64 = 45
_EXTERNAL_ATTR = 0o100644 << 16  # regular file, rw-r--r--
_ZIP64_EXTRA_ID = 0x0001

# signature, version needed, flags, method, time, date, crc, compressed, uncompressed, name len, extra len
_LOCAL = struct.Struct("<IHHHHHIIIHH")
# tag, size, uncompressed, compressed: the declared size (see local_header)
_LOCAL_ZIP64_EXTRA = struct.Struct("<HHQQ")
# signature, crc, compressed, uncompressed
_DESCRIPTOR = struct.Struct("<IIII")
_DESCRIPTOR64 = struct.Struct("<IIQQ")
# signature, made by, needed, flags, method, time, date, crc, compressed, uncompressed,
# name len, extra len, comment len, disk start, internal attr, external attr, local header offset
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
# signature, size of the rest, made by, needed, disk, cd disk, entries here, entries, cd size, cd offset
_EOCD64 = struct.Struct("<IQHHIIQQQQ")
# signature, disk with the ZIP64 end record, its offset, number of disks
_LOCATOR64 = struct.Struct("<IIQI")
# signature, disk, cd disk, entries here, entries, cd size, cd offset, comment len
_EOCD = struct.Struct("<IHHHHIIH")

_FLUSH_BYTES = 64 * 1024  # coalesce headers/central directory into writes of about this size

_EPOCH = datetime.datetime(1970, 1, 1)
_DOS_MIN = datetime.datetime(1980, 1, 1)
_DOS_MAX = datetime.datetime(2107, 12, 31, 23, 59, 58)
_DOS_MIN_TS = int((_DOS_MIN - _EPOCH).total_seconds())
_DOS_MAX_TS = int((_DOS_MAX - _EPOCH).total_seconds())


def _dos_datetime(modified: float) -> tuple[int, int]:
    """(time, date) in MS-DOS format, UTC, clamped to the representable 1980..2107."""
    ts = _DOS_MIN_TS if math.isnan(modified) else math.floor(min(max(modified, _DOS_MIN_TS), _DOS_MAX_TS))
    # datetime arithmetic rather than time.gmtime: no dependency on the platform's time_t.
    dt = _EPOCH + datetime.timedelta(seconds=ts)
    dos_time = (dt.hour << 11) | (dt.minute << 5) | (dt.second // 2)
    dos_date = ((dt.year - 1980) << 9) | (dt.month << 5) | dt.day
    return dos_time, dos_date


@dataclass(frozen=True, slots=True)
class _Entry:
    member: ZipMember
    name: bytes
    size: int  # as declared when planned: zip_size and stream_zip see the same value
    dos_time: int
    dos_date: int
    offset: int  # of the local header
    zip64_size: bool  # size >= 0xFFFFFFFF: ZIP64 extra in the local header, 8-byte descriptor sizes
    zip64_offset: bool  # offset >= 0xFFFFFFFF: the central entry's offset lives in its ZIP64 extra

    @property
    def version_needed(self) -> int:
        return _VERSION_NEEDED_ZIP64 if self.zip64_size or self.zip64_offset else _VERSION_NEEDED

    def local_header(self) -> bytes:
        if self.zip64_size:
            # The declared size rather than 0 in the ZIP64 extra: the descriptor and the
            # central directory carry the same value, and Info-ZIP unzip 6.0 reads this
            # field whenever the *real* size is 0xFFFFFFFF (it cannot tell the value from
            # the marker), so zeros here would make it see an empty member.
            size = self.size
            sizes, extra = ZIP64_LIMIT, _LOCAL_ZIP64_EXTRA.pack(_ZIP64_EXTRA_ID, 16, size, size)
        else:
            sizes, extra = 0, b""
        head = _LOCAL.pack(
            _LOCAL_SIG,
            self.version_needed,
            _FLAGS,
            _STORED,
            self.dos_time,
            self.dos_date,
            0,
            sizes,
            sizes,
            len(self.name),
            len(extra),
        )
        return head + self.name + extra

    def descriptor(self, crc: int) -> bytes:
        size = self.size
        if self.zip64_size:
            return _DESCRIPTOR64.pack(_DESCRIPTOR_SIG, crc, size, size)
        return _DESCRIPTOR.pack(_DESCRIPTOR_SIG, crc, size, size)

    def central_header(self, crc: int) -> bytes:
        size = self.size
        values: list[int] = []
        if self.zip64_size:
            values += (size, size)  # uncompressed, then compressed (4.5.3)
        if self.zip64_offset:
            values.append(self.offset)
        extra = struct.pack(f"<HH{len(values)}Q", _ZIP64_EXTRA_ID, 8 * len(values), *values) if values else b""
        size32 = ZIP64_LIMIT if self.zip64_size else size
        head = _CENTRAL.pack(
            _CENTRAL_SIG,
            _VERSION_MADE_BY,
            self.version_needed,
            _FLAGS,
            _STORED,
            self.dos_time,
            self.dos_date,
            crc,
            size32,
            size32,
            len(self.name),
            len(extra),
            0,
            0,
            0,
            _EXTERNAL_ATTR,
            ZIP64_LIMIT if self.zip64_offset else self.offset,
        )
        return head + self.name + extra


@dataclass(frozen=True, slots=True)
class _Plan:
    entries: list[_Entry]
    cd_offset: int
    cd_size: int
    total: int

    @property
    def zip64_end(self) -> bool:
        return _needs_zip64_end(len(self.entries), self.cd_size, self.cd_offset)

    def end_records(self) -> bytes:
        count, cd_size, cd_offset = len(self.entries), self.cd_size, self.cd_offset
        out = b""
        if self.zip64_end:
            eocd64_offset = cd_offset + cd_size
            out += _EOCD64.pack(
                _EOCD64_SIG,
                _EOCD64.size - 12,  # excludes the signature and this field
                _VERSION_MADE_BY,
                _VERSION_NEEDED_ZIP64,
                0,
                0,
                count,
                count,
                cd_size,
                cd_offset,
            )
            out += _LOCATOR64.pack(_LOCATOR64_SIG, 0, eocd64_offset, 1)
        count16 = ZIP64_COUNT_LIMIT if count >= ZIP64_COUNT_LIMIT else count
        out += _EOCD.pack(
            _EOCD_SIG,
            0,
            0,
            count16,
            count16,
            ZIP64_LIMIT if cd_size >= ZIP64_LIMIT else cd_size,
            ZIP64_LIMIT if cd_offset >= ZIP64_LIMIT else cd_offset,
            0,
        )
        return out


def _needs_zip64_end(count: int, cd_size: int, cd_offset: int) -> bool:
    return count >= ZIP64_COUNT_LIMIT or cd_size >= ZIP64_LIMIT or cd_offset >= ZIP64_LIMIT


def _encode_name(name: str) -> bytes:
    if not isinstance(name, str) or not name:
        raise ValueError(f"zip member name must be a non-empty string, got {name!r}")
    if "\x00" in name or "\\" in name or name.startswith("/") or ".." in name.split("/"):
        raise ValueError(f"unsafe zip member name {name!r} (use safe_member_names)")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"zip member name {name!r} is not valid Unicode") from exc
    if len(encoded) > 0xFFFF:
        raise ValueError(f"zip member name is {len(encoded)} bytes, more than 65535")
    return encoded


def _plan(members: Iterable[ZipMember]) -> _Plan:
    entries: list[_Entry] = []
    offset = 0
    cd_size = 0
    for member in members:
        size = member.size
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _MAX_SIZE:
            raise ValueError(f"zip member {member.name!r} has an invalid size {size!r}")
        name = _encode_name(member.name)
        dos_time, dos_date = _dos_datetime(member.modified)
        entry = _Entry(
            member=member,
            name=name,
            size=size,
            dos_time=dos_time,
            dos_date=dos_date,
            offset=offset,
            zip64_size=size >= ZIP64_LIMIT,
            zip64_offset=offset >= ZIP64_LIMIT,
        )
        entries.append(entry)
        local = _LOCAL.size + len(name) + (_LOCAL_ZIP64_EXTRA.size if entry.zip64_size else 0)
        descriptor = _DESCRIPTOR64.size if entry.zip64_size else _DESCRIPTOR.size
        offset += local + size + descriptor
        extra_values = 2 * entry.zip64_size + entry.zip64_offset
        cd_size += _CENTRAL.size + len(name) + (4 + 8 * extra_values if extra_values else 0)
    zip64_end = _needs_zip64_end(len(entries), cd_size, offset)
    end = (_EOCD64.size + _LOCATOR64.size if zip64_end else 0) + _EOCD.size
    return _Plan(entries=entries, cd_offset=offset, cd_size=cd_size, total=offset + cd_size + end)


def zip_size(members: Iterable[ZipMember]) -> int:
    """The exact length in bytes of the archive ``stream_zip(members)`` produces."""
    return _plan(members).total


async def stream_zip(members: Iterable[ZipMember]) -> AsyncIterator[bytes]:
    """Yield the archive: headers, each member's chunks as they come, central directory.

    Member streams are opened one at a time, in order, and closed (``aclose``) when done
    or when the archive stream itself is closed early. Raises ``ValueError`` for invalid
    members before yielding anything, and :class:`ZipMemberSizeError` when a member's
    stream does not yield exactly its declared size.
    """
    plan = _plan(members)
    pending = bytearray()  # headers/descriptors waiting to be sent with the next write
    crcs: list[int] = []
    for entry in plan.entries:
        member, size = entry.member, entry.size
        pending += entry.local_header()
        crc = 0
        count = 0
        stream = aiter(await member.open())
        try:
            async for chunk in stream:
                n = chunk.nbytes if isinstance(chunk, memoryview) else len(chunk)
                if not n:
                    continue
                count += n
                if count > size:
                    raise ZipMemberSizeError(member.name, size, count, more=True)
                crc = zlib.crc32(chunk, crc)
                if pending:
                    yield bytes(pending)
                    pending.clear()
                yield chunk
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        if count != size:
            raise ZipMemberSizeError(member.name, size, count)
        pending += entry.descriptor(crc)
        crcs.append(crc)
        if len(pending) >= _FLUSH_BYTES:
            yield bytes(pending)
            pending.clear()
    for entry, crc in zip(plan.entries, crcs, strict=True):
        pending += entry.central_header(crc)
        if len(pending) >= _FLUSH_BYTES:
            yield bytes(pending)
            pending.clear()
    pending += plan.end_records()
    yield bytes(pending)


# --- member names ---------------------------------------------------------------------------

MAX_NAME_BYTES = 200  # UTF-8 bytes per name; leaves room under the common 255-byte file name limit
_MAX_EXT_BYTES = 20  # a longer "extension" is just part of the name
_FALLBACK_NAME = "file"
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WINDOWS_FORBIDDEN = str.maketrans(dict.fromkeys('<>:"|?*', "_"))
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)


def _truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore")  # never splits a character


def _split_ext(name: str) -> tuple[str, str]:
    """("photo", ".jpg"), ("backup", ".tar.gz"), (".bashrc", "")."""
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    stem, ext = name[:dot], name[dot:]
    if len(ext.encode("utf-8")) > _MAX_EXT_BYTES or " " in ext:
        return name, ""
    if stem.lower().endswith(".tar") and len(stem) > 4:
        stem, ext = stem[:-4], stem[-4:] + ext
    return stem, ext


def _compose(stem: str, suffix: str, ext: str) -> str:
    """stem + suffix + ext within MAX_NAME_BYTES, shortening the stem only."""
    budget = MAX_NAME_BYTES - len(suffix.encode("utf-8")) - len(ext.encode("utf-8"))
    short = _truncate_utf8(stem, budget)
    if short != stem:
        short = short.rstrip(" .")
    return (short or _FALLBACK_NAME) + suffix + ext


def _sanitize(raw: str) -> str:
    # Lone surrogates (e.g. from os.fsdecode) cannot be encoded as UTF-8.
    text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in str(raw))
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)
    name = text.replace("\\", "/").rsplit("/", 1)[-1]  # no directories, whichever separator
    if len(name) >= 2 and name[1] == ":" and name[0].isascii() and name[0].isalpha():
        name = name[2:]  # a drive-relative "C:name"
    name = name.translate(_WINDOWS_FORBIDDEN).strip().rstrip(" .")  # also turns "." and ".." into ""
    if not name:
        return _FALLBACK_NAME
    if name.split(".", 1)[0].rstrip().upper() in _WINDOWS_RESERVED:
        name = "_" + name
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        stem, ext = _split_ext(name)
        name = _compose(stem, "", ext)
    return name


def safe_member_names(names: list[str]) -> list[str]:
    """Archive names for user-supplied file names, in the same order.

    Each name loses any directory part (``/`` or ``\\``), drive letter, control and bidi
    control characters; ``.``/``..``/empty names become ``file``; characters Windows
    forbids become ``_``; names are NFC-normalised and limited to 200 bytes of UTF-8,
    keeping the extension. Names equal case-insensitively get `` (1)``, `` (2)``, ...
    before the extension; the first occurrence keeps its name, and a generated name never
    collides with another name of the list.
    """
    clean = [_sanitize(name) for name in names]
    keys = [name.casefold() for name in clean]
    taken: set[str] = set()
    duplicates: list[int] = []
    for i, key in enumerate(keys):
        if key in taken:
            duplicates.append(i)
        else:
            taken.add(key)
    result = list(clean)
    next_number: dict[str, int] = {}
    for i in duplicates:
        stem, ext = _split_ext(clean[i])
        n = next_number.get(keys[i], 1)
        while True:
            candidate = _compose(stem, f" ({n})", ext)
            n += 1
            if candidate.casefold() not in taken:
                break
        next_number[keys[i]] = n
        taken.add(candidate.casefold())
        result[i] = candidate
    return result
