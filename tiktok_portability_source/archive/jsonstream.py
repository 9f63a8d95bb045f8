"""Big JSON documents, streamed: the skeleton parsed whole, big lists left on disk as ``LazyList``.

A heavy user's JSON holds millions of rows in a few lists; parsed whole it costs about seven times
its size in Python objects. TikTok writes it pretty-printed, and in JSON a raw line break only ever
sits between tokens (never inside a string), so every line starts outside a string. One streaming
pass therefore cuts the document with C-speed byte searches: an array whose ``[`` ends a line and
whose ``]`` starts a line at the same indentation is either small (kept in place) or larger than
``settings.JSON_INLINE_BYTES`` (its bytes go to a spool file, or stay where they are in a plain
file, and a ``LazyList`` takes its place). The rest, the skeleton, is parsed with orjson; a
``LazyList`` is read later, a block at a time, by the table that reads it: as Python values
(``parse_items``) or straight into arrow text columns (``read_block``).
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from ..errors import ArchiveError, one_line as _one_line
from ..layouts import Column, norm_key

if TYPE_CHECKING:  # pyarrow loads where rows are made, not when an archive is only opened
    import pyarrow as pa

_LIST_OPEN = re.compile(rb"\[[ \t\r]*\n")  # an array whose "[" ends a line (never inside a string)
_LAZY_MARK = "\x00tiktok-portability-lazy-{}:"  # with a random nonce: a string in the data cannot pose as one
_READ_BYTES = 8 << 20
_BLOCK_BYTES = 8 << 20  # one block of a big list: ~60k watch rows, ~60 MB while being read
_SEARCH_BYTES = 1 << 16  # read at a time when looking for where to cut a block


class _NotSplittable(Exception):
    """The document cannot be cut by lines; it is parsed whole instead."""


class _ReadAhead:
    """Reads a stream a chunk ahead on another thread: inflating a ZIP member (which releases the
    GIL) overlaps the splitting. A read error is raised by the ``read`` that would have returned it."""

    def __init__(self, read: Callable[[int], bytes], size: int) -> None:
        self._chunks: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(read, size), daemon=True,
                                        name="tiktok-portability-read")
        self._thread.start()

    def _run(self, read: Callable[[int], bytes], size: int) -> None:
        try:
            while not self._stop.is_set():
                chunk = read(size)
                self._chunks.put(chunk)
                if not chunk:
                    return
        except BaseException as exc:  # handed to the reader
            self._chunks.put(exc)

    def read(self, size: int = -1) -> bytes:
        item = self._chunks.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def __enter__(self) -> _ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a pending put, then let the thread end
            try:
                self._chunks.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()


class _Spool:
    """A temporary file holding the big lists of one ZIP member until their tables have read them.

    It lives in the temporary directory (``TMPDIR``) and is deleted once nothing refers to it.
    Writes happen on another thread (they release the GIL), so writing overlaps the splitting."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.size = 0
        self._pending: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def write(self, data: bytes | bytearray) -> int:
        """Append ``data``; returns its offset."""
        if self._pending is None:
            fd, name = tempfile.mkstemp(prefix="tiktok-portability-", suffix=".json.part")
            self.path = Path(name)
            weakref.finalize(self, _remove, name)
            self._pending = queue.Queue(maxsize=4)
            self._thread = threading.Thread(target=self._run, args=(os.fdopen(fd, "wb", buffering=0),),
                                            daemon=True, name="tiktok-portability-spool")
            self._thread.start()
        offset = self.size
        self._pending.put(bytes(data))
        self.size += len(data)
        return offset

    def _run(self, handle: IO[bytes]) -> None:
        assert self._pending is not None
        with handle:
            while (data := self._pending.get()) is not None:
                if self._error is None:
                    try:
                        handle.write(data)
                    except BaseException as exc:  # raised by finish()
                        self._error = exc

    def finish(self) -> None:
        if self._pending is not None and self._thread is not None:
            self._pending.put(None)
            self._thread.join()
        if self._error is not None:
            raise ArchiveError(f"cannot write the temporary copy of a big list ({self._error}); "
                               "free some space in the temporary folder (TMPDIR)") from None


def _remove(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Hashing:
    """Opens a file, hashing what the first reader reads (a bare JSON file is then read only once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._digest = hashlib.sha256()
        self._opened = self._complete = False

    def open(self) -> IO[bytes]:
        handle = self.path.open("rb")
        if self._opened:
            return handle
        self._opened = True
        return _HashingReader(handle, self)

    def hexdigest(self) -> str:
        return self._digest.hexdigest() if self._complete else file_sha256(self.path)


class _HashingReader:
    def __init__(self, handle: IO[bytes], owner: _Hashing) -> None:
        self._handle, self._owner = handle, owner

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._owner._digest.update(data)
        if not data or size < 0:
            self._owner._complete = True
        return data

    def __enter__(self) -> _HashingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


def _split_json(read: Callable[[int], bytes], spool: _Spool | None, inline_limit: int, nonce: bytes = b""
                ) -> tuple[bytes, list[tuple[int, int]]]:
    """One pass over a JSON document: the skeleton (big arrays replaced by placeholder strings) and
    where each big array's interior (between its brackets) lives: in ``spool``, or, without one, at
    that offset of the stream itself."""
    skeleton = bytearray()
    spans: list[tuple[int, int]] = []
    buf = read(_READ_BYTES)
    base = 0  # stream offset of buf[0]
    if buf.startswith(b"\xef\xbb\xbf"):
        buf, base = buf[3:], 3
    eof = not buf
    pos = 0
    while True:
        match = _LIST_OPEN.search(buf, pos)
        if match is None:
            if eof:
                skeleton += buf[pos:]
                break
            newline = buf.rfind(b"\n", pos)
            if newline >= 0:  # the unfinished last line stays: a match may end in the next read
                skeleton += buf[pos:newline + 1]
                pos = trim = newline + 1
            else:  # keep the start of the line too: its indentation names the closing bracket
                trim = buf.rfind(b"\n", 0, pos) + 1
            buf, base, pos = buf[trim:], base + trim, pos - trim
            more = read(_READ_BYTES)
            eof = not more
            buf += more
            continue
        opened = match.start()
        line_start = buf.rfind(b"\n", 0, opened) + 1
        line = buf[line_start:opened]
        close = b"\n" + line[: len(line) - len(line.lstrip(b" \t"))] + b"]"
        skeleton += buf[pos:opened]
        start = opened + 1  # first byte inside the brackets
        stream_offset = base + start
        pending = bytearray()
        length = 0
        where: int | None = None  # set once the array is known to be big
        while True:
            end = _find_closing(buf, close, start)
            piece = buf[start:end] if end >= 0 else buf[start:max(start, len(buf) - len(close) + 1)]
            length += len(piece)
            if where is None:
                pending += piece
                if length > inline_limit:
                    where = spool.write(pending) if spool is not None else stream_offset
                    pending = bytearray()
            elif spool is not None:
                spool.write(piece)
            if end >= 0:
                break
            if eof:
                raise _NotSplittable("unclosed array")
            consumed = start + len(piece)
            buf, base, start = buf[consumed:], base + consumed, 0
            more = read(_READ_BYTES)
            eof = not more
            buf += more
        if where is None:
            skeleton += b"["
            skeleton += pending
            skeleton += close
        else:
            skeleton += b'"\\u0000tiktok-portability-lazy-%s:%d"' % (nonce, len(spans))
            spans.append((where, length))
        pos = end + len(close)
    return bytes(skeleton), spans


def _find_closing(buf: bytes, close: bytes, start: int) -> int:
    """``buf.find(close, start)`` for a closing line (newline, indentation, ``]``), by its rare last byte:
    ``find`` itself crawls through the document, where nearly every line starts with its first bytes."""
    at = buf.find(b"]", start + len(close) - 1)
    while at >= 0:
        begin = at - len(close) + 1
        if buf.startswith(close, begin):
            return begin
        at = buf.find(b"]", at + 1)
    return -1


def _attach_lazies(root: Any, lazies: list[LazyList], mark: str = "") -> Any:
    """Swap the skeleton's placeholder strings for their LazyLists. Big lists sit in objects, so objects
    are searched first; the items of the (many, small) parsed lists only if a placeholder is left."""
    found = 0

    def swap(value: Any) -> Any:
        nonlocal found
        if isinstance(value, str) and value.startswith(mark):
            index = value[len(mark):]
            if index.isdigit() and int(index) < len(lazies):
                found += 1
                return lazies[int(index)]
        return value

    def walk(root: Any, into_lists: bool) -> None:
        stack = [root]  # no recursion: a document may nest 1024 levels deep
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(item, str):
                        value[key] = swap(item)
                    elif isinstance(item, (dict, list)):
                        stack.append(item)
            elif isinstance(value, list) and into_lists:
                for index, item in enumerate(value):
                    if isinstance(item, str):
                        value[index] = swap(item)
                    elif isinstance(item, (dict, list)):
                        stack.append(item)

    walk(root, False)
    if found != len(lazies):
        walk(root, True)
    return root


class LazyList:
    """A big JSON array still on disk: ``blocks()`` hands out its items a few MB at a time.

    Items are expected one per line group, as TikTok pretty-prints them: an item starts where a line
    at the items' indentation begins with ``{`` right after a line ending in ``,``. Blocks are cut
    only there; anything else (a list of non-objects) is one block."""

    def __init__(self, path: Path, offset: int, length: int, label: str, keepalive: Any = None) -> None:
        self.path, self.offset, self.length, self.label = path, offset, length, label
        self._keepalive = keepalive  # the spool must outlive every list in it
        self._count: int | None = None
        head = self._read(0, min(length, 1 << 16))
        body = head.lstrip()
        self.first_char = body[:1]
        indent_start = head.rfind(b"\n", 0, len(head) - len(body)) + 1
        prefix = head[indent_start:len(head) - len(body)]
        eol = b"\r\n" if head[indent_start - 2:indent_start] == b"\r\n" else b"\n"
        # the bytes that separate two object items: "," <eol> <indentation> "{"
        self.separator = b"," + eol + prefix + b"{" if self.first_char == b"{" and indent_start else None

    def _read(self, start: int, size: int) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(self.offset + start)
            return handle.read(size)

    def blocks(self, block_bytes: int | None = None) -> Iterator[bytes]:
        """The interior in pieces of whole items (each a valid JSON array body without brackets)."""
        for span in self.spans(block_bytes):
            data = self.read(span)
            if data.strip():
                yield data

    def spans(self, block_bytes: int | None = None) -> Iterator[tuple[int, int]]:
        """Where ``blocks`` cuts (start, end; relative to the interior), found by reading only around
        each cut: the blocks themselves can then be read by the threads that parse them."""
        if not self:
            return
        block_bytes = block_bytes or _BLOCK_BYTES
        start = 0
        while (cut := self._next_cut(start, block_bytes)) >= 0:
            yield start, cut
            start = cut + 1  # after the comma: the next item's line
        yield start, self.length

    def _next_cut(self, start: int, block_bytes: int) -> int:
        """The last item separator before ``start + block_bytes`` (an item bigger than that: the last one
        in the next stretch that has one); -1 when the rest of the list is one block."""
        if self.separator is None:  # not a list of objects: one block
            return -1
        low, limit = start + 1, start + block_bytes
        while limit < self.length:
            cut = self._last_separator(low, limit)
            if cut >= 0:
                return cut
            low, limit = limit - len(self.separator) + 1, limit + max(block_bytes, _SEARCH_BYTES)
        return -1

    def _last_separator(self, low: int, high: int) -> int:
        """Offset of the last item separator lying wholly in [low, high), or -1; read backwards in steps."""
        assert self.separator is not None
        while high - low >= len(self.separator):
            begin = max(low, high - _SEARCH_BYTES)
            found = self._read(begin, high - begin).rfind(self.separator)
            if found >= 0:
                return begin + found
            high = begin + len(self.separator) - 1
        return -1

    def read(self, span: tuple[int, int]) -> bytes:
        """The bytes of one of ``spans``."""
        return self._read(span[0], span[1] - span[0])

    def item_batches(self) -> Iterator[list[Any]]:
        """The items as Python values, a block at a time (the slow, exact path)."""
        for block in self.blocks():
            yield parse_items(block, self.label)

    def first(self) -> Any:
        for block in self.blocks(1 << 16):
            items = parse_items(block, self.label)
            return items[0] if items else None
        return None

    def __len__(self) -> int:
        if self._count is None:
            if self.separator is not None:
                self._count = sum(block.count(self.separator) + 1 for block in self.blocks())
            else:
                self._count = sum(len(items) for items in self.item_batches())
        return self._count

    def __bool__(self) -> bool:
        return self.first_char not in (b"", b"]")

    def __repr__(self) -> str:
        return f"LazyList({self.label}, {self.length} bytes at {self.offset})"


def parse_items(block: bytes, label: str) -> list[Any]:
    try:
        return orjson.loads(b"[" + block + b"]")
    except orjson.JSONDecodeError as exc:
        raise _json_error(label, exc, block) from None


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")


def _as_utf8(data: bytes, label: str) -> bytes:
    """UTF-8 without its BOM. A UTF-16/32 file with a BOM (an editor's "Unicode" save) is re-encoded;
    TikTok itself writes UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:]
    encoding = "utf-32" if data.startswith(_UTF32_BOMS) else "utf-16" if data.startswith(_UTF16_BOMS) else None
    if encoding is None:
        return data
    try:
        return data.decode(encoding).encode("utf-8")
    except UnicodeError as exc:
        raise ArchiveError(f"{label} starts with a {encoding.upper()} byte-order mark but is not valid "
                           f"{encoding.upper()} ({_one_line(exc)}); re-download the export") from None


def _json_error(label: str, exc: Exception, data: bytes | None = None) -> ArchiveError:
    """One line saying what is wrong with a document orjson refused, and where."""
    text = _one_line(exc)
    if "UTF-8" in text and data is not None:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            return ArchiveError(f"{label} is not valid UTF-8 text (byte {bad.start}); TikTok writes UTF-8: "
                                "re-download the export or re-save the file as UTF-8")
    if "depth" in text.lower() or "recursion" in text.lower():
        return ArchiveError(f"{label} is nested deeper than the JSON reader allows (1024 levels; {text}); "
                            "this is not the shape of a TikTok export")
    return ArchiveError(f"{label} is not valid JSON ({text}); re-download the export or fix the file")


def first_item_schema(lazy: LazyList) -> pa.DataType | None:
    """Every key of the first item as text: pyarrow would otherwise turn date strings into timestamps."""
    import pyarrow as pa

    first = lazy.first()
    if not isinstance(first, dict):
        return None
    return pa.struct([(key, pa.string()) for key in first])


def read_block(block: bytes, lazy: LazyList, item_type: pa.DataType | None,
               needed: Iterable[Column] = (), ignore_others: bool = False) -> pa.Table | None:
    """A block of object items as an arrow table of text columns, or None when pyarrow cannot be trusted
    to read it exactly as Python would (null or non-object items, numbers or nested values in the
    ``needed`` fields, duplicate keys): the Python parse decides then."""
    import pyarrow as pa
    import pyarrow.json as pa_json

    if item_type is None:
        return None
    # the block as one object's list (line breaks inside items need newlines_in_values)
    doc = b'{"i":[' + block + b"]}"

    def read(unexpected: str) -> pa.Table:
        return pa_json.read_json(pa.py_buffer(doc), read_options=pa_json.ReadOptions(block_size=len(doc) + 1,
                                                                                    use_threads=False),
                                 parse_options=pa_json.ParseOptions(
                                     explicit_schema=pa.schema([("i", pa.list_(item_type))]),
                                     newlines_in_values=True, unexpected_field_behavior=unexpected))

    try:
        # fields beyond the first item's are inferred only after orjson has bounded the block's nesting:
        # pyarrow's inference recurses and crashes the process on values nested thousands of levels deep
        parsed = read("ignore" if ignore_others else "error")
    except pa.ArrowInvalid as exc:
        if ignore_others or "unexpected field" not in str(exc):
            return None
        try:
            orjson.loads(b"[" + block + b"]")  # raises beyond 1024 levels (the Python path then words it)
            parsed = read("infer")
        except (orjson.JSONDecodeError, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    del doc
    column = parsed.column(0)
    items = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    if items.null_count or not pa.types.is_list(items.type):
        return None
    structs = items.flatten()
    if structs.null_count or not pa.types.is_struct(structs.type):
        return None
    wanted = {nk for c in needed for nk in c.norm_keys}
    fields = [structs.type.field(i) for i in range(structs.type.num_fields)]
    if any(norm_key(f.name) in wanted and not (pa.types.is_string(f.type) or pa.types.is_null(f.type))
           for f in fields):
        return None
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        return None
    return pa.Table.from_arrays([structs.field(i) for i in range(len(names))], names=names)


def newest_text(lazy: LazyList, keys: set[str], pattern: str) -> str:
    """The greatest timestamp-looking value under any of the (normalised) ``keys`` of a big list."""
    import pyarrow as pa
    import pyarrow.compute as pc

    newest = ""
    schema = first_item_schema(lazy)
    needed = [Column("t", tuple(keys))]  # norm_key of a normalised key is itself
    for block in lazy.blocks():
        table = read_block(block, lazy, schema, needed)
        if table is not None:
            for name in table.column_names:
                if norm_key(name) in keys:
                    column = table[name].combine_chunks().cast(pa.string())
                    found = pc.max(column.filter(pc.fill_null(pc.match_substring_regex(column, pattern), False)))
                    if found.is_valid and found.as_py() > newest:
                        newest = found.as_py()
            continue
        for item in parse_items(block, lazy.label):
            if isinstance(item, dict):
                for key, value in item.items():
                    if isinstance(value, str) and value > newest and norm_key(key) in keys and \
                            re.match(pattern, value):
                        newest = value
    return newest
