"""Turn raw section items into typed pyarrow tables: one column per field, vectorised clean-up.

No per-row Python in the hot path: a big list (``archive.LazyList``) is parsed a block at a time
by pyarrow's JSON reader straight into columns; sentinels, timestamps, ids and numbers are
converted with pyarrow compute over whole columns, and row keys are hashed by DuckDB. Lists that
were small enough to parse up front (and TXT records) only pay for picking values out of their
items; anything pyarrow cannot read exactly as Python would is read the Python way.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from . import settings
from .archive import LazyList, Section
from .archive.blocks import block_digest
from .archive.jsonstream import first_item_schema, parse_items, read_block
from .errors import ArchiveError
from .layouts import SENTINELS, Column, Entity, norm_key

# a privacy transform (``privacy.Protector``): columns -> (columns to store, columns to key on)
Protect = Callable[[Entity, dict[str, pa.Array]], tuple[dict[str, pa.Array], dict[str, pa.Array]]]


class BlockLedger(Protocol):
    """What a load knows of the blocks of big lists (``helpers.KnownBlocks``): called from the threads
    that read the blocks."""

    def skip(self, digest: str) -> bool:
        """True when an earlier load read this block in full: it is then counted and not read."""

    def learned(self, digest: str, times: pa.Array) -> None:
        """A block read in full, every item an object: its rows' times (all of them)."""


log = logging.getLogger(__name__)

TIMESTAMP = pa.timestamp("us", tz="UTC")
_SENTINEL_SET = pa.array(SENTINELS, pa.string())
_SENTINEL_MAX_BYTES = max(len(s.encode()) for s in SENTINELS)
_TRUE = pa.array(["yes", "on", "true", "1", "y"], pa.string())
_FALSE = pa.array(["no", "off", "false", "0", "n"], pa.string())


def to_text_array(values: Sequence[Any] | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Strings stay strings; numbers and nested values become text so one odd row cannot fail a batch."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):  # from the JSON reader: only string (or all-null) columns get here
        return values if values.type == pa.string() else values.cast(pa.string())
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(
            [v if v is None or isinstance(v, str) else
             _json_text(v) if isinstance(v, (dict, list)) else str(v) for v in values],
            pa.string(),
        )


def _json_text(value: Any) -> str | None:
    """Compact JSON of a nested value; NULL when it is nested deeper than orjson writes (255 levels)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return None


def _string_bytes(array: pa.Array) -> np.ndarray:
    """The UTF-8 bytes of all values of a string array (zero-copy)."""
    offsets_buffer, data_buffer = array.buffers()[1:3]
    if data_buffer is None or len(array) == 0:
        return np.zeros(0, np.uint8)
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, width)
    return np.frombuffer(data_buffer, np.uint8)[offsets[array.offset]:offsets[array.offset + len(array)]]


def trim(array: pa.Array) -> pa.Array:
    """``str.strip()`` for a whole column. Pure-ASCII text without the \\x1c-\\x1f separators (which
    Unicode counts as space) is trimmed with the much faster ASCII kernel: the same result."""
    data = _string_bytes(array)
    if not data.size:
        return array
    if (data > 0x7F).any() or ((data - 0x1C) < 4).any():
        return pc.utf8_trim_whitespace(array)
    return pc.ascii_trim_whitespace(array)


def clean_text(array: pa.Array) -> pa.Array:
    """Trim, and turn every "nothing" encoding (``""``, ``"None"``, ``"N/A"``…) into NULL."""
    trimmed = trim(array)
    # every sentinel is short: a column without short values (links, dates) needs no lookup
    if not pc.any(pc.less_equal(pc.binary_length(trimmed), _SENTINEL_MAX_BYTES)).as_py():
        return trimmed
    return pc.if_else(pc.is_in(trimmed, _SENTINEL_SET), pa.scalar(None, pa.string()), trimmed)


def parse_timestamps(array: pa.Array) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS`` with optional `` UTC`` or ISO ``T``/``Z``; naive means UTC."""
    direct = pc.strptime(array, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
    if direct.null_count == array.null_count:  # all in the plain form: the rewrites below would not apply
        return direct.view(TIMESTAMP)  # naive means UTC: the same numbers, now marked UTC
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
    """First capture group of ``pattern`` (share-style links only); NULL when it does not match."""
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


def gather_arrow(table: pa.Table, columns: Iterable[Column]) -> dict[str, pa.Array]:
    """``gather`` for a table read by pyarrow: one array per entity column, keys matched the same way
    (several spellings of one field: the first non-null in sorted key order, as ``gather`` does)."""
    index = {nk: c.name for c in columns for nk in c.norm_keys}
    actual: dict[str, list[str]] = {}
    for key in sorted(table.column_names):
        target = index.get(norm_key(key))
        if target:
            actual.setdefault(target, []).append(key)
    out: dict[str, pa.Array] = {}
    for column in columns:
        keys = actual.get(column.name, [])
        arrays = [to_text_array(table[k]) for k in keys]
        if not arrays:
            out[column.name] = pa.nulls(table.num_rows, pa.string())
        else:
            out[column.name] = arrays[0] if len(arrays) == 1 else pc.coalesce(*arrays)
    return out


def typed_columns(entity: Entity, raw: dict[str, Sequence[Any] | pa.Array]) -> dict[str, pa.Array]:
    """Clean and type every column of an entity; unreadable times keep their raw text in ``<col>_raw``."""
    out: dict[str, pa.Array] = {}
    for column in entity.columns:
        raw_text = to_text_array(raw[column.name])
        _check_value_sizes(entity, column, raw_text)  # before cleaning: a huge value costs no copy
        text = clean_text(raw_text)
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
    for source, target in entity.line_counts:  # e.g. the images of a photo post, one URL per line
        lines = pc.add(pc.cast(pc.count_substring(out[source], "\n"), pa.int64()), 1)
        out[target] = pc.if_else(pc.is_valid(out[source]), lines, pa.scalar(None, pa.int64()))
    return out


def _check_value_sizes(entity: Entity, column: Column, text: pa.Array) -> None:
    """Refuse the archive over one value larger than ``settings.MAX_VALUE_BYTES``: before anything is
    written, rather than in the middle of the destination's load jobs."""
    if len(text) == 0 or text.null_count == len(text):
        return
    longest = pc.max(pc.binary_length(text)).as_py() or 0
    if longest > settings.MAX_VALUE_BYTES:
        raise ArchiveError(
            f"{entity.table}.{column.name} holds a value of {longest:,} bytes, over the limit of "
            f"{settings.MAX_VALUE_BYTES:,} (TIKTOK_PORTABILITY_MAX_VALUE_BYTES): the export looks damaged; "
            f"nothing of it was loaded")


def key_text(array: pa.Array) -> pa.Array:
    """Stable text of a key column: timestamps as epoch seconds so JSON and TXT forms agree."""
    if pa.types.is_timestamp(array.type):
        array = pc.cast(pc.cast(array, pa.timestamp("s", tz="UTC")), pa.int64())
    return pc.cast(array, pa.string())


_hashing: dict[int, Any] = {}  # thread id -> that thread's DuckDB connection for hashing
_SMALL_HASH_ROWS = 64


def md5_hex(texts: pa.Array) -> pa.Array:
    """Hex MD5 of every UTF-8 string (``hashlib.md5(s.encode()).hexdigest()``), computed by DuckDB;
    a few strings (small sections, the many tiny archives of a many-user sync) in Python, where a
    DuckDB query would cost more than the hashing."""
    if len(texts) <= _SMALL_HASH_ROWS:
        return pa.array([None if t is None else hashlib.md5(t.encode()).hexdigest() for t in texts.to_pylist()],
                        pa.string())
    con = _hashing.get(threading.get_ident())
    if con is None:
        import duckdb

        con = _hashing[threading.get_ident()] = duckdb.connect(":memory:")
        con.execute("SET threads = 1")  # per-batch work: the other core parses the next batch
    hashed = con.from_arrow(pa.table({"t": texts})).select("md5(t) AS k").to_arrow_table()["k"]
    out = hashed.chunk(0) if hashed.num_chunks == 1 else hashed.combine_chunks()
    return out.cast(pa.string()) if out.type != pa.string() else out


def row_keys(user_id: str, table: str, columns: dict[str, pa.Array], key: Sequence[str], length: int,
             raw_fallback: dict[str, list[Any]] | None = None) -> pa.Array:
    """Deterministic primary key: a hash of the user, table and natural key values.

    ``md5("<user>\\x1f<table>\\x1f<v1>\\x1f<v2>…")`` with NULL as ``"\\x00"`` and a timestamp as its epoch
    seconds (its raw text when it could not be read): the same keys as earlier versions wrote."""
    parts: list[pa.Array] = []
    for spec in key:
        names = spec.split("|")
        if len({columns[n].type for n in names}) == 1:
            values = key_text(pc.coalesce(*(columns[n] for n in names)) if len(names) > 1 else columns[names[0]])
        else:  # a name, else a time (a deleted account): each as its key text
            values = pc.coalesce(*(key_text(columns[n]) for n in names))
        raw = raw_fallback.get(names[0]) if raw_fallback else None
        if raw is not None and pa.types.is_timestamp(columns[names[0]].type) and values.null_count:
            values = pc.coalesce(values, _raw_text(raw, pc.is_null(values)))
        parts.append(pc.fill_null(values, "\x00"))
    if not length:
        return pa.array([], pa.string())
    if parts:
        texts = pc.binary_join_element_wise(user_id, table, *parts, "\x1f")
    else:
        texts = pa.array([f"{user_id}\x1f{table}\x1f"] * length, pa.string())
    return md5_hex(texts)


def row_key(user_id: str, table: str, *values: str) -> str:
    """The row key of a single row whose natural key is ``values`` (bookkeeping rows: an archive, a
    section of it, a request): the same key ``row_keys`` gives that row."""
    names = tuple(str(i) for i in range(len(values)))
    columns = {name: pa.array([value], pa.string()) for name, value in zip(names, values)}
    return str(row_keys(user_id, table, columns, names, 1)[0].as_py())


def _raw_text(raw: Sequence[Any] | pa.Array, where: pa.Array) -> pa.Array:
    """``str(value)`` of the raw item values at ``where`` (NULL elsewhere)."""
    if isinstance(raw, (pa.Array, pa.ChunkedArray)):
        return pc.if_else(where, to_text_array(raw), pa.scalar(None, pa.string()))
    mask = where.to_pylist()
    return pa.array([None if not m or r is None else _str(r) for m, r in zip(mask, raw)], pa.string())


def _str(value: Any) -> str | None:
    try:
        return str(value)
    except RecursionError:  # a value nested about 1000 levels deep has no text
        return None


def section_tables(entity: Entity, sections: Sequence[Section], user_id: str, archive_sha256: str,
                   keep: Callable[[pa.Array], pa.Array | None] | None = None,
                   protect: Protect | None = None, ledger: BlockLedger | None = None) -> Iterator[pa.Table]:
    """Arrow tables of an entity's rows in one archive: the lists parsed up front as one table, then
    each big list (``LazyList``) a block at a time, so memory stays bounded by a block.

    ``keep(times)`` (e.g. ``history.Coverage.keep``) may drop rows of big lists as soon as their time
    is read, before the rest of the row is typed and keyed; it sees every row's time. ``protect``
    (``privacy.Protector``) pseudonymises / drops values before the row keys are made from them.
    ``ledger`` skips the blocks of big lists an earlier load read, and learns the others."""
    constant_names = list(dict.fromkeys(name for s in sections for name in s.constants))
    eager = [s for s in sections if not isinstance(s.items, LazyList)]
    table = section_rows(entity, eager, user_id, archive_sha256, constant_names, protect)
    if table is not None:
        yield table
    for section in sections:
        if isinstance(section.items, LazyList):
            yield from _lazy_tables(entity, section, constant_names, user_id, archive_sha256, keep, protect, ledger)


def _lazy_tables(entity: Entity, section: Section, constant_names: Sequence[str], user_id: str,
                 archive_sha256: str, keep: Callable[[pa.Array], pa.Array | None] | None = None,
                 protect: Protect | None = None, ledger: BlockLedger | None = None) -> Iterator[pa.Table]:
    """A big list's tables, one per block; the next blocks are read and parsed on worker threads
    meanwhile (most of the work, file reads, pyarrow and DuckDB, runs without the GIL), overlapping
    whatever the consumer does. A block the ``ledger`` knows is hashed, not parsed."""
    lazy = section.items
    assert isinstance(lazy, LazyList)
    schema = first_item_schema(lazy)

    time_type = _time_only(entity, schema) if keep is not None else None
    if not entity.time_column:
        ledger = None  # a block is known by its time range too
    context = f"{entity.table}\x1f{sorted((k, str(v)) for k, v in section.constants.items())}"

    def table_of(span: tuple[int, int]) -> pa.Table | None:
        block = lazy.read(span)
        if not block.strip():
            return None
        digest = block_digest(context, block) if ledger is not None else None
        if digest is not None and ledger.skip(digest):  # type: ignore[union-attr]
            return None
        mask = times = None
        if time_type is not None:  # rows in loaded windows: often whole blocks, read their times only
            timed = read_block(block, lazy, time_type, entity.columns, ignore_others=True)
            if timed is not None:  # every item an object
                assert keep is not None
                times = _times(entity, gather_arrow(timed, entity.columns))
                mask = keep(times)
                if mask is not None and not pc.any(pc.fill_null(mask, True)).as_py():
                    if digest is not None:
                        ledger.learned(digest, times)  # type: ignore[union-attr]
                    return None
        parsed = _block_columns(entity, section, block, schema)
        if parsed is None:
            return None
        raw, n, objects_only = parsed
        items = n
        if keep is not None and entity.time_column:
            same_rows = mask is not None and isinstance(raw[entity.time_column], pa.Array) and len(mask) == n
            raw, n = _kept(entity, raw, n, keep, mask if same_rows else None)
            if not n:
                return None
        constants = {name: pa.array([section.constants.get(name)] * n) for name in constant_names}
        table = _keyed_rows(entity, raw, n, constants, user_id, archive_sha256, protect)
        if digest is not None and objects_only:
            every_time = times if times is not None else table[entity.time_column] if n == items else None
            if every_time is not None:
                ledger.learned(digest, every_time)  # type: ignore[union-attr]
        return table

    pool = _worker()
    ahead: deque[Future[pa.Table | None]] = deque()
    try:
        for span in lazy.spans():
            ahead.append(pool.submit(table_of, span))
            if len(ahead) >= _BLOCK_WORKERS and (table := ahead.popleft().result()) is not None:
                yield table
                release_memory()
        while ahead:
            if (table := ahead.popleft().result()) is not None:
                yield table
    finally:
        for future in ahead:
            future.cancel()
        release_memory()


def release_memory(everywhere: bool = False) -> None:
    """Hand memory freed by arrow (and by glibc) back to the OS: the allocator otherwise keeps the
    high-water mark of every thread, which for big lists is most of the process's peak.
    ``everywhere``: also close every thread's DuckDB connection for hashing (the block workers are idle
    then; a thread opens a new one when it hashes again)."""
    if everywhere:
        for thread in list(_hashing):
            _hashing.pop(thread).close()
    pa.default_memory_pool().release_unused()
    if _malloc_trim is not None:
        _malloc_trim(0)


def _libc_malloc_trim() -> Any:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_malloc_trim = _libc_malloc_trim()


_pool: ThreadPoolExecutor | None = None
_UNREADABLE = threading.Lock()
_BLOCK_WORKERS = 2


def _worker() -> ThreadPoolExecutor:
    """Long-lived worker threads (each keeps its DuckDB connection for hashing)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_BLOCK_WORKERS, thread_name_prefix="tiktok-portability-blocks")
    return _pool


def section_rows(entity: Entity, sections: Sequence[Section], user_id: str, archive_sha256: str,
                 constant_names: Sequence[str] = (), protect: Protect | None = None) -> pa.Table | None:
    """One arrow table for sections whose items are parsed (None when there are no rows)."""
    items: list[dict[str, Any]] = []
    constants: dict[str, list[Any]] = {name: [] for name in constant_names}
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
    return _keyed_rows(entity, gather(items, entity.columns), len(items),
                       {name: pa.array(values) for name, values in constants.items()}, user_id, archive_sha256,
                       protect)


def _keyed_rows(entity: Entity, raw: dict[str, Any], n: int, constants: dict[str, pa.Array], user_id: str,
                archive_sha256: str, protect: Protect | None = None) -> pa.Table:
    columns = typed_columns(entity, raw)
    columns.update(constants)
    if any(name not in columns for spec in entity.key for name in spec.split("|")):
        for spec in entity.key:
            for name in spec.split("|"):
                columns.setdefault(name, pa.nulls(n, pa.string()))
    key_columns = columns
    if protect is not None:  # before the keys: no raw value may survive inside a row key either
        columns, key_columns = protect(entity, columns)
    keys = row_keys(user_id, entity.table, key_columns, entity.key, n, raw)
    return keyed_table(user_id, keys, {**columns, "archive_sha256": _repeat(archive_sha256, n)})


def _repeat(value: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), n)


# --- big lists --------------------------------------------------------------------------------


def _time_only(entity: Entity, schema: pa.DataType | None) -> pa.DataType | None:
    """The item type with only the time field(s) of the first item, for a first, cheaper read."""
    column = next((c for c in entity.columns if c.name == entity.time_column), None)
    if column is None or schema is None:
        return None
    fields = [f for f in schema if norm_key(f.name) in column.norm_keys]
    return pa.struct(fields) if fields else None


def _times(entity: Entity, raw: dict[str, Any]) -> pa.Array:
    """The time column of raw rows, read as ``typed_columns`` reads it."""
    column = next(c for c in entity.columns if c.name == entity.time_column)
    return _CONVERTERS[column.kind](clean_text(to_text_array(raw[column.name])))


def _kept(entity: Entity, raw: dict[str, Any], n: int, keep: Callable[[pa.Array], pa.Array | None],
          mask: pa.Array | None = None) -> tuple[dict[str, Any], int]:
    """The raw columns of the rows ``keep`` keeps, judged on their time (``mask``: already judged)."""
    if mask is None:
        mask = keep(_times(entity, raw))
    if mask is None:
        return raw, n
    mask = pc.fill_null(mask, True)
    kept = int(pc.sum(mask).as_py() or 0)
    if kept == n:
        return raw, n
    flags = None
    out: dict[str, Any] = {}
    for name, values in raw.items():
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            out[name] = values.filter(mask)
        else:
            flags = flags if flags is not None else mask.to_pylist()
            out[name] = [v for v, f in zip(values, flags) if f]
    return out, kept


def _block_columns(entity: Entity, section: Section, block: bytes, schema: pa.DataType | None
                   ) -> tuple[dict[str, Any], int, bool] | None:
    """(raw columns, row count, whether every item was an object) of one block of a big list:
    pyarrow's JSON reader when it reads the block exactly as Python would (object items, text
    values), the Python parse otherwise."""
    lazy = section.items
    assert isinstance(lazy, LazyList)
    table = read_block(block, lazy, schema, entity.columns)
    if table is not None:
        return gather_arrow(table, entity.columns), table.num_rows, True
    values = parse_items(block, lazy.label)
    items = [i for i in values if isinstance(i, dict)]
    stray = sum(1 for i in values if i is not None and not isinstance(i, dict))  # null items are empty
    if stray:
        log.warning("%s: %d items are not objects and were skipped", section.path, stray)
        with _UNREADABLE:  # blocks are parsed on worker threads; the load report counts these
            section.unreadable += stray
    return (gather(items, entity.columns), len(items), len(items) == len(values)) if items else None


class KeySet:
    """The row keys sent so far: keeps the first row of every key, as a deduplicating merge would, so
    that a load never sends a key twice. A key is held as two sorted uint64 arrays (16 bytes); the first half alone
    decides (fast to sort), the second half confirms, and a clash of first halves with different
    second halves (astronomically rare) switches to comparing whole keys."""

    def __init__(self) -> None:
        self.high = np.empty(0, np.uint64)
        self.low = np.empty(0, np.uint64)
        self.whole: np.ndarray | None = None  # sorted V16 keys, once halves clash

    def first_seen(self, table: pa.Table) -> pa.Table:
        packed = self._packed(table["row_key"].combine_chunks())
        first = self._first_whole(packed) if self.whole is not None else self._first_halves(packed)
        return table if len(first) == table.num_rows else table.take(np.sort(first))

    def _first_halves(self, packed: np.ndarray) -> np.ndarray:
        high, low = packed[:, :8].copy().view(np.uint64).ravel(), packed[:, 8:].copy().view(np.uint64).ravel()
        unique, first, inverse = np.unique(high, return_index=True, return_inverse=True)
        if (low[first][inverse.ravel()] != low).any():
            return self._switch(packed)
        at = np.searchsorted(self.high, unique)
        known = self.high[np.minimum(at, self.high.size - 1)] == unique if self.high.size else \
            np.zeros(unique.size, bool)
        if (self.low[at[known]] != low[first[known]]).any():
            return self._switch(packed)
        new = ~known
        self.high = np.insert(self.high, at[new], unique[new])
        self.low = np.insert(self.low, at[new], low[first[new]])
        return first[new]

    def _switch(self, packed: np.ndarray) -> np.ndarray:
        halves = np.empty((self.high.size, 16), np.uint8)
        halves[:, :8] = self.high.view(np.uint8).reshape(-1, 8)
        halves[:, 8:] = self.low.view(np.uint8).reshape(-1, 8)
        self.whole = np.sort(halves.view("V16").ravel())
        return self._first_whole(packed)

    def _first_whole(self, packed: np.ndarray) -> np.ndarray:
        assert self.whole is not None
        unique, first = np.unique(np.ascontiguousarray(packed).view("V16").ravel(), return_index=True)
        at = np.searchsorted(self.whole, unique)
        known = self.whole[np.minimum(at, self.whole.size - 1)] == unique if self.whole.size else \
            np.zeros(unique.size, bool)
        self.whole = np.insert(self.whole, at[~known], unique[~known])
        return first[~known]

    @staticmethod
    def _packed(keys: pa.Array) -> np.ndarray:
        """32 hex characters -> 16 bytes per key (an n x 16 array)."""
        lengths = pc.binary_length(keys)
        if len(keys) and (keys.null_count or pc.min(lengths).as_py() != 32 or pc.max(lengths).as_py() != 32):
            raise ValueError("row keys must be 32 hex characters")
        return np.frombuffer(bytes.fromhex(_string_bytes(keys).tobytes().decode("ascii")), np.uint8).reshape(-1, 16)


def drop_empty_rows(table: pa.Table, entity: Entity) -> pa.Table:
    """An item whose every field is empty (``{}``, all sentinels) is not a row."""
    names = [c.name for c in entity.columns if c.name in table.column_names]
    if not names:
        return table
    any_value = pc.is_valid(table[names[0]])
    for name in names[1:]:
        any_value = pc.or_(any_value, pc.is_valid(table[name]))
    return table if pc.all(any_value).as_py() else table.filter(any_value)


def keyed_table(user_id: str, keys: pa.Array, columns: dict[str, pa.Array]) -> pa.Table:
    """``user_id`` and ``row_key`` first and NOT NULL, as the merge hints declare them."""
    n = len(keys)
    fields = [pa.field("user_id", pa.string(), nullable=False), pa.field("row_key", pa.string(), nullable=False)]
    fields += [pa.field(name, array.type) for name, array in columns.items()]
    return pa.Table.from_arrays([_repeat(user_id, n), keys, *columns.values()],
                                schema=pa.schema(fields))


def utc(dt: datetime) -> pa.Scalar:
    return pa.scalar(dt, TIMESTAMP)
