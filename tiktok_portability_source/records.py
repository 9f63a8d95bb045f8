"""Turn raw section items into typed pyarrow tables: one column per field, vectorised clean-up.

Per-row Python is limited to picking values out of the parsed items and hashing the row key;
sentinels, timestamps, ids and numbers are converted with pyarrow compute over whole columns.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .archive import Section
from .layouts import SENTINELS, Column, Entity, norm_key

log = logging.getLogger(__name__)

TIMESTAMP = pa.timestamp("us", tz="UTC")
_SENTINEL_SET = pa.array(SENTINELS, pa.string())
_TRUE = pa.array(["yes", "on", "true", "1", "y"], pa.string())
_FALSE = pa.array(["no", "off", "false", "0", "n"], pa.string())


def to_text_array(values: Sequence[Any]) -> pa.Array:
    """Strings stay strings; numbers and nested values become text so one odd row cannot fail a batch."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(
            [v if v is None or isinstance(v, str) else
             orjson.dumps(v).decode() if isinstance(v, (dict, list)) else str(v) for v in values],
            pa.string(),
        )


def clean_text(array: pa.Array) -> pa.Array:
    """Trim, and turn every "nothing" encoding (``""``, ``"None"``, ``"N/A"``…) into NULL."""
    trimmed = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.is_in(trimmed, _SENTINEL_SET), pa.scalar(None, pa.string()), trimmed)


def parse_timestamps(array: pa.Array) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS`` with optional `` UTC`` or ISO ``T``/``Z``; naive means UTC (§6)."""
    normalised = pc.replace_substring_regex(array, r"(\s*UTC|Z)$", "")
    normalised = pc.replace_substring_regex(normalised, r"^(\d{4}-\d{2}-\d{2})T", r"\1 ")
    parsed = pc.strptime(normalised, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
    return pc.assume_timezone(parsed, "UTC") if parsed.type.tz is None else parsed


def parse_dates(array: pa.Array) -> pa.Array:
    """``01-Jan-1990`` (profile birth date); anonymised ``19xx`` becomes NULL."""
    parsed = pc.strptime(array, format="%d-%b-%Y", unit="s", error_is_null=True)
    return pc.cast(parsed, pa.date32())


def parse_ints(array: pa.Array) -> pa.Array:
    digits = pc.replace_substring(array, ",", "")
    ok = pc.match_substring_regex(digits, r"^-?\d{1,18}$")
    return pc.cast(pc.if_else(ok, digits, pa.scalar(None, pa.string())), pa.int64())


def parse_floats(array: pa.Array) -> pa.Array:
    ok = pc.match_substring_regex(array, r"^-?\d+(\.\d+)?$")
    return pc.cast(pc.if_else(ok, array, pa.scalar(None, pa.string())), pa.float64())


def parse_bools(array: pa.Array) -> pa.Array:
    lower = pc.utf8_lower(array)
    return pc.if_else(pc.is_in(lower, _TRUE), True, pc.if_else(pc.is_in(lower, _FALSE), False, pa.scalar(None, pa.bool_())))


_CONVERTERS = {"timestamp": parse_timestamps, "date": parse_dates, "int": parse_ints, "float": parse_floats,
               "bool": parse_bools}


def extract_id(array: pa.Array, pattern: str) -> pa.Array:
    """First capture group of ``pattern`` (share-style links only, §10); NULL when it does not match."""
    named = pattern.replace("(", "(?P<id>", 1)
    return pc.struct_field(pc.extract_regex(array, named), [0])


def gather(items: list[dict[str, Any]], columns: Iterable[Column]) -> dict[str, list[Any]]:
    """Pick each column's value out of the items, matching keys case- and space-insensitively."""
    actual: dict[str, list[str]] = {}
    index = {nk: c.name for c in columns for nk in c.norm_keys}
    seen: set[str] = set()
    for item in items:
        seen.update(item)
    for key in sorted(seen):
        target = index.get(norm_key(key))
        if target:
            actual.setdefault(target, []).append(key)
    out: dict[str, list[Any]] = {}
    for column in columns:
        keys = actual.get(column.name, [])
        if not keys:
            out[column.name] = [None] * len(items)
        elif len(keys) == 1:
            key = keys[0]
            out[column.name] = [item.get(key) for item in items]
        else:  # the same field spelt two ways inside one section
            out[column.name] = [next((item[k] for k in keys if item.get(k) is not None), None) for item in items]
    return out


def typed_columns(entity: Entity, raw: dict[str, list[Any]]) -> dict[str, pa.Array]:
    """Clean and type every column of an entity; unreadable times keep their raw text in ``<col>_raw``."""
    out: dict[str, pa.Array] = {}
    for column in entity.columns:
        text = clean_text(to_text_array(raw[column.name]))
        if column.kind == "text":
            out[column.name] = text
            continue
        converted = _CONVERTERS[column.kind](text)
        out[column.name] = converted
        lost = pc.and_(pc.is_null(converted), pc.is_valid(text))
        lost_count = pc.sum(lost).as_py() or 0
        if lost_count and column.kind == "timestamp":
            out[f"{column.name}_raw"] = pc.if_else(lost, text, pa.scalar(None, pa.string()))
        if lost_count:
            log.warning("%s.%s: %d values could not be read as %s and were stored as NULL",
                        entity.table, column.name, lost_count, column.kind)
    for id_spec in entity.ids:
        found = None
        for source in id_spec.source:
            candidate = extract_id(out[source], id_spec.pattern)
            found = candidate if found is None else pc.coalesce(found, candidate)
        out[id_spec.target] = found
    return out


def key_text(array: pa.Array) -> list[str | None]:
    """Stable text of a key column: timestamps as epoch seconds so JSON and TXT forms agree."""
    if pa.types.is_timestamp(array.type):
        array = pc.cast(pc.cast(array, pa.timestamp("s", tz="UTC")), pa.int64())
    return pc.cast(array, pa.string()).to_pylist()


def row_keys(user_id: str, table: str, columns: dict[str, pa.Array], key: Sequence[str], length: int,
             raw_fallback: dict[str, list[Any]] | None = None) -> pa.Array:
    """Deterministic primary key: a hash of the user, table and natural key values."""
    parts: list[list[str | None]] = []
    for spec in key:
        names = spec.split("|")
        array = columns[names[0]]
        for other in names[1:]:
            array = pc.coalesce(array, columns[other])
        values = key_text(array)
        raw = raw_fallback.get(names[0]) if raw_fallback else None
        if raw is not None and pa.types.is_timestamp(columns[names[0]].type):
            values = [v if v is not None else (None if r is None else str(r)) for v, r in zip(values, raw)]
        parts.append(values)
    prefix = f"{user_id}\x1f{table}"
    keys = []
    for row in zip(*parts) if parts else ([] for _ in range(length)):
        text = "\x1f".join("\x00" if v is None else v for v in row)
        keys.append(hashlib.md5(f"{prefix}\x1f{text}".encode()).hexdigest())
    return pa.array(keys, pa.string())


def section_rows(entity: Entity, sections: Sequence[Section], user_id: str, archive_sha256: str) -> pa.Table | None:
    """One arrow table for all of an entity's sections in one archive (None when there are no rows)."""
    items: list[dict[str, Any]] = []
    constants: dict[str, list[Any]] = {}
    for section in sections:
        if not section.items:
            continue
        start = len(items)
        items.extend(section.items)
        for name, value in section.constants.items():
            constants.setdefault(name, [None] * start).extend([value] * len(section.items))
        for values in constants.values():
            values.extend([None] * (len(items) - len(values)))
    if not items:
        return None
    raw = gather(items, entity.columns)
    columns = typed_columns(entity, raw)
    for name, values in constants.items():
        columns[name] = pa.array(values)
    if any(n not in columns for spec in entity.key for n in spec.split("|")):
        for spec in entity.key:
            for name in spec.split("|"):
                columns.setdefault(name, pa.nulls(len(items), pa.string()))
    keys = row_keys(user_id, entity.table, columns, entity.key, len(items), raw)
    return keyed_table(user_id, keys, {**columns, "archive_sha256": pa.array([archive_sha256] * len(items), pa.string())})


def keyed_table(user_id: str, keys: pa.Array, columns: dict[str, pa.Array]) -> pa.Table:
    """``user_id`` and ``row_key`` first and NOT NULL, as the merge hints declare them."""
    n = len(keys)
    fields = [pa.field("user_id", pa.string(), nullable=False), pa.field("row_key", pa.string(), nullable=False)]
    fields += [pa.field(name, array.type) for name, array in columns.items()]
    return pa.Table.from_arrays([pa.array([user_id] * n, pa.string()), keys, *columns.values()],
                                schema=pa.schema(fields))


def utc(dt: datetime) -> pa.Scalar:
    return pa.scalar(dt, TIMESTAMP)
