"""TEST FIXTURE ONLY: the JSON <-> Postgres-text conversions Neon's SQL-over-HTTP proxy does.

Kept apart from the endpoint (``neon_http_fixture.py``) so the rules can be read against
Neon's own (``proxy/src/serverless/json.rs`` and ``parse_command_tag`` in
``sql_over_http.rs``, neondatabase/neon):

* parameters: JSON ``null`` → NULL; booleans, numbers and objects → their compact JSON
  text; strings as they are; arrays → a Postgres array literal whose items are JSON text
  (strings quoted JSON-style, objects as quoted JSON strings, ``null`` → ``NULL``);
* output with ``Neon-Raw-Text-Output: false``: ``bool`` → true/false, ``int2``/``int4`` →
  numbers, ``float4``/``float8`` → numbers (NaN and ±Infinity stay strings), ``json``/``jsonb``
  → parsed JSON, arrays → JSON arrays of their element type; everything else (``int8``,
  ``numeric``, ``uuid``, timestamps, ...) stays Postgres' text;
* the command tag → ``command`` (its first word) and ``rowCount`` (the trailing count, or
  ``null`` when the tag has none, as for DDL: ``CREATE TABLE`` → ``("CREATE", None)``).
"""

from __future__ import annotations

import json
from typing import Any

from psycopg.postgres import types as pg_types

BOOL, INT2, INT4, FLOAT4, FLOAT8, JSON, JSONB = 16, 21, 23, 700, 701, 114, 3802

#: Built-in array type OID → element type OID (user-defined arrays are looked up per database).
BUILTIN_ARRAY_ELEMENTS: dict[int, int] = {t.array_oid: t.oid for t in pg_types if t.array_oid}


def _compact(value: Any) -> str:
    """serde_json's ``to_string``: no spaces, non-ASCII kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def pg_param(value: Any) -> str | None:
    """One JSON parameter as the text Postgres receives (``json_value_to_pg_text``)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return _array_item(value)
    return _compact(value)


def _array_item(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "{" + ",".join(_array_item(v) for v in value) + "}"
    if isinstance(value, dict):
        return _compact(_compact(value))
    return _compact(value)


def command_tag(tag: str) -> tuple[str, int | None]:
    """``(command, rowCount)`` from a command tag (``parse_command_tag``)."""
    name, _, rest = tag.partition(" ")
    if not rest:
        return name, None
    if name == "INSERT":  # "INSERT <oid> <rows>"
        _, _, rest = rest.partition(" ")
    try:
        return name, int(rest)
    except ValueError:
        return name, None


def typed_value(text: str, type_oid: int, elements: dict[int, int]) -> Any:
    """One non-null text value as Neon's typed JSON output (``pg_text_to_json``)."""
    element = elements.get(type_oid)
    if element is not None:
        items, rest = _parse_array(_skip_bounds(text).lstrip(), element, elements)
        if rest:
            raise ValueError("unbalanced array")
        return items
    if type_oid == BOOL:
        return text == "t"
    if type_oid in (INT2, INT4):
        return int(text)
    if type_oid in (FLOAT4, FLOAT8):
        number = float(text)
        return text if number != number or number in (float("inf"), float("-inf")) else number
    if type_oid in (JSON, JSONB):
        return json.loads(text)
    return text


def _skip_bounds(text: str) -> str:
    """``[1:2]={...}`` → ``{...}``: bounds decoration has no JSON form."""
    if text.startswith("["):
        _, sep, text = text.partition("=")
        if not sep:
            raise ValueError("unbalanced array")
    return text


def _parse_array(text: str, element: int, elements: dict[int, int]) -> tuple[list[Any], str]:
    """Parse one ``{...}`` (comma-delimited, as Neon assumes); return the items and the rest."""
    if not text.startswith("{"):
        raise ValueError("unbalanced array")
    text = text[1:].lstrip()
    items: list[Any] = []
    if text.startswith("}"):  # "{}": an empty array (Neon's parser would yield one empty item)
        return items, text[1:].lstrip()
    while True:
        text = text.lstrip()
        if text.startswith("{"):
            nested, text = _parse_array(text, element, elements)
            items.append(nested)
        elif text.startswith('"'):
            value, text = _parse_quoted(text[1:])
            items.append(typed_value(value, element, elements))
        else:
            end = min((i for i in (text.find(","), text.find("}")) if i >= 0), default=-1)
            if end < 0:
                raise ValueError("unbalanced array")
            item, text = text[:end].rstrip(), text[end:]
            items.append(None if item == "NULL" else typed_value(item, element, elements))
        if text.startswith(","):
            text = text[1:]
            continue
        if not text.startswith("}"):
            raise ValueError("unbalanced array")
        return items, text[1:].lstrip()


def _parse_quoted(text: str) -> tuple[str, str]:
    """A quoted array item after its opening quote: (unescaped value, rest after the quote)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), text[i + 1 :].lstrip()
        if ch == "\\":
            i += 1
            if i >= len(text):
                break
            ch = text[i]
        out.append(ch)
        i += 1
    raise ValueError("unbalanced quoted string")
