"""Strict parsing of untrusted input: the one owner of "is this a valid number/text/date?".

Python's own parsers are too lenient for the edge: ``int()`` and ``str.isdigit()``
accept ``'²'`` and non-ASCII digits (``int('٣') == 3``), ``int()`` raises on more than
4300 digits, ``json.loads`` recurses until ``RecursionError``, ``datetime.fromisoformat``
takes ISO week dates Postgres rejects, and a NUL reaches Postgres as a 500. Every route,
header and parameter parser goes through these helpers and gets an ``InputError``
(HTTP 4xx with a JSON error) instead. Pure Python (Pyodide-safe).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

MAX_UINT_DIGITS = 19  # fits a signed 64-bit integer (Postgres bigint)
MAX_JSON_DEPTH = 32
MAX_SEGMENT = 255  # a path segment (file systems and object stores cap names near this)

_UINT = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_NOT_WS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# RFC 3339 as this API writes it (and as Postgres parses it); no week dates, no ordinals.
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_JSON_TOKEN = re.compile(r'[\[\]{}"\\]')


class InputError(ValueError):
    """Malformed client input: answered with ``status`` (4xx) and ``{"error": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_uint(
    name: str, raw: str | None, *, max_digits: int = MAX_UINT_DIGITS, maximum: int | None = None
) -> int | None:
    """A non-negative decimal integer of ASCII digits only; None when absent."""
    if raw is None:
        return None
    value = raw.strip(" \t")
    if len(value) > max_digits or not _UINT.fullmatch(value):
        raise InputError(f"{name} must be a non-negative integer of at most {max_digits} ASCII digits")
    number = int(value)
    if maximum is not None and number > maximum:
        raise InputError(f"{name} must be at most {maximum}")
    return number


def parse_uint_saturating(name: str, raw: str, cap: int) -> int:
    """ASCII digits of any length, read as min(value, cap) without converting a huge string.

    For positions like HTTP Range bounds, where an absurdly large number still has a
    meaning ("past the end") but must not cost a 5000-digit ``int()``."""
    value = raw.strip(" \t")
    if not _UINT.fullmatch(value):
        raise InputError(f"{name} must be a non-negative integer of ASCII digits")
    digits = value.lstrip("0") or "0"
    if len(digits) > len(str(cap)):
        return cap
    return min(int(digits), cap)


def parse_bounded_int(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    """A query parameter such as ``limit``: absent/empty → default, else low ≤ n ≤ high."""
    if raw is None or raw == "":
        return default
    value = parse_uint(name, raw, max_digits=len(str(high)))
    assert value is not None
    if not low <= value <= high:
        raise InputError(f"{name} must be between {low} and {high}")
    return value


def has_control(value: str, *, allow_whitespace: bool = False) -> bool:
    """True when ``value`` holds NUL or another control character (tab/CR/LF optionally allowed)."""
    return bool((_CONTROL_NOT_WS if allow_whitespace else _CONTROL).search(value))


def scrub_controls(value: str) -> str:
    """``value`` with control characters other than tab/CR/LF replaced by U+FFFD.

    For machine-written text we keep rather than refuse (a processor's error message may
    carry an ANSI escape from ffmpeg); NUL never gets this far (``loads_json`` refuses it)."""
    return _CONTROL_NOT_WS.sub("\ufffd", value)


def check_text(name: str, value: str, *, max_length: int, allow_whitespace: bool = False) -> str:
    """Free text from a client: bounded length, no NUL or control characters."""
    if len(value) > max_length:
        raise InputError(f"{name} is longer than {max_length} characters")
    if has_control(value, allow_whitespace=allow_whitespace):
        raise InputError(f"{name} must not contain control characters")
    return value


def parse_timestamp(name: str, raw: str) -> datetime:
    """An RFC 3339 timestamp (``2026-01-02T03:04:05.123456+00:00``); nothing looser."""
    if len(raw) > 40 or not _TIMESTAMP.fullmatch(raw):
        raise InputError(f"{name} is not an RFC 3339 timestamp")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:  # 2026-02-30 and friends
        raise InputError(f"{name} is not a valid date") from exc


def check_path(name: str, path: str, *, max_length: int = 1024, max_segment: int = MAX_SEGMENT) -> str:
    """A relative object path: bounded, no control characters, no empty/dot segments."""
    if len(path) > max_length:
        raise InputError(f"{name} is longer than {max_length} characters")
    if has_control(path):
        raise InputError(f"{name} must not contain control characters")
    for segment in path.split("/"):
        if len(segment) > max_segment:
            raise InputError(f"{name} has a segment longer than {max_segment} characters")
    return path


def json_depth(text: str, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays/objects in ``text`` (strings skipped), without recursing.

    Linear: only brackets, quotes and backslashes are visited. Stops early once the depth
    passes ``stop_above``.
    """
    depth = deepest = 0
    in_string = False
    escaped_at = -1
    for match in _JSON_TOKEN.finditer(text):
        pos, char = match.start(), match.group()
        if pos == escaped_at:
            continue
        if in_string:
            if char == "\\":
                escaped_at = pos + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if stop_above is not None and deepest > stop_above:
                break
        elif char in "]}":
            depth -= 1
    return deepest


def loads_json(body: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON body: UTF-8, nested at most ``max_depth`` deep, no NUL in any string."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise InputError("body must be UTF-8 JSON") from exc
    if json_depth(text, max_depth) > max_depth:
        raise InputError(f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError("body must be JSON") from exc
    _reject_nul(value)
    return value


def _reject_nul(value: Any) -> None:
    # Depth is bounded by loads_json, so this recursion is too.
    if isinstance(value, str):
        if "\x00" in value:
            raise InputError("JSON strings must not contain NUL")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    elif isinstance(value, list):
        for item in value:
            _reject_nul(item)
