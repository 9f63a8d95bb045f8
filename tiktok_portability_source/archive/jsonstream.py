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
import secrets
import stat
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from .. import settings
from . import blocks
from ..errors import ArchiveError, one_line as _one_line
from ..layouts import Column, norm_key

if TYPE_CHECKING:  # pyarrow loads where rows are made, not when an archive is only opened
    import pyarrow as pa

_LIST_OPEN = re.compile(rb"\[[ \t\r]*\n")  # an array whose "[" ends a line (never inside a string)
_LAZY_MARK = "\x00tiktok-portability-lazy-{}:"  # with a random nonce: a string in the data cannot pose as one
_READ_BYTES = 8 << 20
_BLOCK_BYTES = 8 << 20  # a block of a big list: ~60k watch rows, ~60 MB while being read (content-defined: 1-12 MB)
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

    The bytes are other people's messages and names, so the file never shows under a name that outlives
    the process: it is created (mode 600) in a private folder of the user (``_spool_folder``, mode 700)
    and unlinked at once; the open descriptor is all there is, and the data goes when the process does,
    however it ends (SIGKILL included). Windows cannot unlink an open file: there it is opened
    delete-on-close (``O_TEMPORARY``, which the system honours when it reaps a killed process too), and a
    leftover is removed by the next run (``_sweep``). Writes happen on another thread (they release the
    GIL), so writing overlaps the splitting; reads (``read_at``) come from any thread once ``finish`` ran."""

    def __init__(self) -> None:
        self.size = 0
        self._fd: int | None = None
        self._seek = threading.Lock()  # reads without pread (Windows) seek the shared descriptor
        self._pending: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def write(self, data: bytes | bytearray) -> int:
        """Append ``data``; returns its offset."""
        if self._pending is None:
            fd = self._fd = _open_spool_file()
            weakref.finalize(self, _close, fd)
            self._pending = queue.Queue(maxsize=4)
            self._thread = threading.Thread(target=self._run, args=(fd,), daemon=True,
                                            name="tiktok-portability-spool")
            self._thread.start()
        offset = self.size
        self._pending.put(bytes(data))
        self.size += len(data)
        return offset

    def _run(self, fd: int) -> None:
        assert self._pending is not None
        while (data := self._pending.get()) is not None:
            if self._error is None:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                except BaseException as exc:  # raised by finish()
                    self._error = exc

    def finish(self) -> None:
        if self._pending is not None and self._thread is not None:
            self._pending.put(None)
            self._thread.join()
        if self._error is not None:
            raise ArchiveError(f"cannot write the temporary copy of a big list ({self._error}); "
                               "free some space in the temporary folder (TMPDIR)") from None

    def read_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` (fewer at the end); safe from several threads at once."""
        assert self._fd is not None
        chunks = []
        while size > 0:
            if hasattr(os, "pread"):
                chunk = os.pread(self._fd, size, offset)
            else:
                with self._seek:
                    os.lseek(self._fd, offset, os.SEEK_SET)
                    chunk = os.read(self._fd, size)
            if not chunk:
                break
            chunks.append(chunk)
            offset, size = offset + len(chunk), size - len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_SPOOL_PREFIX, _SPOOL_SUFFIX = "tiktok-portability-", ".json.part"
_swept: set[str] = set()  # private folders already cleared of leftovers by this process
_sweep_lock = threading.Lock()


def _spool_folder() -> tuple[str, int | None]:
    """The user's private folder for spool files, ``<tempdir>/tiktok-portability-<uid>`` (mode 700), and on
    POSIX an open descriptor of it (the caller closes it): files are made and unlinked relative to the
    folder that was checked. Refused when it is a symbolic link, not a folder, or not the user's."""
    base = tempfile.gettempdir()
    uid = os.getuid() if hasattr(os, "getuid") else None
    path = os.path.join(base, f"{_SPOOL_PREFIX}{uid}" if uid is not None else _SPOOL_PREFIX.rstrip("-"))
    what_to_do = "remove it, or set TMPDIR to a folder only you can write to"
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ArchiveError(f"cannot create the temporary folder {path} ({_one_line(exc)}); "
                           "set TMPDIR to a writable folder") from None
    try:
        if os.path.islink(path):
            raise ArchiveError(f"the temporary folder {path} is a symbolic link; {what_to_do}")
        if uid is None:  # Windows: the temporary folder is the user's own (under %LOCALAPPDATA%)
            if not os.path.isdir(path):
                raise ArchiveError(f"{path} is not a folder; {what_to_do}")
            return path, None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) |
                     getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ArchiveError(f"cannot use the temporary folder {path} ({_one_line(exc)}); {what_to_do}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISDIR(info.st_mode):
            raise ArchiveError(f"{path} is not a folder; {what_to_do}")
        if info.st_uid != uid:
            raise ArchiveError(f"the temporary folder {path} belongs to another user (uid {info.st_uid}); "
                               f"{what_to_do}")
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.fchmod(fd, 0o700)  # ours: made private again (e.g. created by hand)
    except BaseException:
        os.close(fd)
        raise
    return path, fd


def _open_spool_file() -> int:
    """A new spool file, open for reading and writing, already unlinked (POSIX)."""
    path, folder = _spool_folder()
    try:
        with _sweep_lock:
            if path not in _swept:
                _sweep(path, folder)
                _sweep_legacy(os.path.dirname(path))
                _swept.add(path)
        name = f"{_SPOOL_PREFIX}{os.getpid()}-{secrets.token_hex(8)}{_SPOOL_SUFFIX}"
        flags = (os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) |
                 getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0) | getattr(os, "O_TEMPORARY", 0))
        try:
            if folder is None:  # Windows: delete-on-close
                return os.open(os.path.join(path, name), flags, 0o600)
            fd = os.open(name, flags, 0o600, dir_fd=folder)
            try:
                os.unlink(name, dir_fd=folder)  # nothing written yet: no byte of data ever has a name
            except FileNotFoundError:  # another process's sweep got there first
                pass
            return fd
        except OSError as exc:
            raise ArchiveError(f"cannot create a temporary file in {path} ({_one_line(exc)}); "
                               "set TMPDIR to a writable folder") from None
    finally:
        if folder is not None:
            os.close(folder)


def _sweep(path: str, folder: int | None) -> None:
    """Remove spool files a killed process left in the private folder. On POSIX every spool file is
    unlinked when it is opened, so any name found is a leftover (or one a live process is about to
    unlink, which loses nothing). On Windows a file still open cannot be removed: only leftovers go."""
    try:
        names = os.listdir(folder if folder is not None else path)
    except OSError:
        return
    for name in names:
        if not (name.startswith(_SPOOL_PREFIX) and name.endswith(_SPOOL_SUFFIX)):
            continue
        try:
            if folder is not None:
                if stat.S_ISREG(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                    os.unlink(name, dir_fd=folder)
            elif os.path.isfile(os.path.join(path, name)) and not os.path.islink(os.path.join(path, name)):
                os.unlink(os.path.join(path, name))
        except OSError:
            pass


_LEGACY_AGE = 3600.0


def _sweep_legacy(base: str) -> None:
    """Remove the spool files earlier versions left directly in the temporary folder (named and never
    unlinked: a killed load left its big lists there): the user's own, not touched for an hour."""
    if not hasattr(os, "getuid"):
        return
    now = time.time()
    try:
        entries = list(os.scandir(base))
    except OSError:
        return
    for entry in entries:
        if not (entry.name.startswith(_SPOOL_PREFIX) and entry.name.endswith(_SPOOL_SUFFIX)):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and now - info.st_mtime > _LEGACY_AGE:
                os.unlink(entry.path)
        except OSError:
            pass


def _close(fd: int) -> None:
    try:
        os.close(fd)
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
    """Swap the skeleton's placeholder strings for their LazyLists, and tell each list where it sits
    (``LazyList.section``: its keys from the top, for error messages). Big lists sit in objects, so
    objects are searched first; the items of the (many, small) parsed lists only if a placeholder is left."""
    found = 0

    def swap(value: Any, where: tuple[str, ...]) -> Any:
        nonlocal found
        if isinstance(value, str) and value.startswith(mark):
            index = value[len(mark):]
            if index.isdigit() and int(index) < len(lazies):
                found += 1
                lazy = lazies[int(index)]
                lazy.section = " › ".join(where)
                return lazy
        return value

    def walk(root: Any, into_lists: bool) -> None:
        stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]  # no recursion: a document may nest 1024 deep
        while stack:
            value, where = stack.pop()
            if isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(item, str):
                        value[key] = swap(item, (*where, key))
                    elif isinstance(item, (dict, list)):
                        stack.append((item, (*where, key)))
            elif isinstance(value, list) and into_lists:
                for index, item in enumerate(value):
                    if isinstance(item, str):
                        value[index] = swap(item, (*where, str(index)))
                    elif isinstance(item, (dict, list)):
                        stack.append((item, (*where, str(index))))

    walk(root, False)
    if found != len(lazies):
        walk(root, True)
    return root


class LazyList:
    """A big JSON array still on disk: ``blocks()`` hands out its items a few MB at a time.

    Items are expected one per line group, as TikTok pretty-prints them: an item starts where a line
    at the items' indentation begins with ``{`` right after a line ending in ``,``. Blocks are cut
    only there; anything else (a list of non-objects) is one block.

    Whatever reads a list checks it as it goes: a block becomes rows only once it is known to be valid
    JSON (UTF-8, no NaN/Infinity, at most 1024 levels deep), and a list that is only counted
    (``len``: an unknown section, a list no table reads) is parsed to be counted, so its count is exact
    and its damage refuses the archive like any other. Errors name the file and the list
    (``label``: ``<file>: <section>``)."""

    def __init__(self, path: Path | _Spool, offset: int, length: int, label: str, keepalive: Any = None) -> None:
        self.source = path  # a plain file, or the spool of a ZIP member (read through its descriptor)
        self.path = path if isinstance(path, Path) else None
        self.offset, self.length, self.file = offset, length, label
        self.section = ""  # where the list sits in the document (set when it is attached)
        self._keepalive = keepalive  # the spool must outlive every list in it
        self._count: int | None = None  # items, once every block was parsed
        self._objects = 0  # of which objects
        self._item_type: Any = False  # first_item_schema, once computed
        head = self._read(0, min(length, 1 << 16))
        body = head.lstrip()
        self.first_char = body[:1]
        indent_start = head.rfind(b"\n", 0, len(head) - len(body)) + 1
        prefix = head[indent_start:len(head) - len(body)]
        eol = b"\r\n" if head[indent_start - 2:indent_start] == b"\r\n" else b"\n"
        # the bytes that separate two object items: "," <eol> <indentation> "{"
        self.separator = b"," + eol + prefix + b"{" if self.first_char == b"{" and indent_start else None

    @property
    def label(self) -> str:
        """The file and, once known, the list's place in it: what every error about the list names."""
        return f"{self.file}: {self.section}" if self.section else self.file

    def _read(self, start: int, size: int) -> bytes:
        if isinstance(self.source, _Spool):
            return self.source.read_at(self.offset + start, size)
        with open(self.source, "rb") as handle:
            handle.seek(self.offset + start)
            return handle.read(size)

    def blocks(self, block_bytes: int | None = None) -> Iterator[bytes]:
        """The interior in pieces of whole items (each a valid JSON array body without brackets)."""
        for span in self.spans(block_bytes):
            data = self.read(span)
            if data.strip():
                yield data

    def spans(self, block_bytes: int | None = None) -> Iterator[tuple[int, int]]:
        """Where ``blocks`` cuts (start, end; relative to the interior): by default where the content
        says (``blocks.cut_points``: the same items in every export that holds them), every
        ``block_bytes`` when asked (found by reading only around each cut). Either way the blocks
        themselves can then be read by the threads that parse them."""
        if not self:
            return
        if block_bytes is None and self.separator is not None:
            yield from self._content_spans()
            return
        block_bytes = block_bytes or _BLOCK_BYTES
        start = 0
        while (cut := self._next_cut(start, block_bytes)) >= 0:
            yield start, cut
            start = cut + 1  # after the comma: the next item's line
        yield start, self.length

    def _content_spans(self) -> Iterator[tuple[int, int]]:
        """Spans ending at content-defined cuts, at least an eighth of ``_BLOCK_BYTES`` long (a hit
        closer to the previous cut is passed over: a list of look-alike items is all hits) and at most
        1.5 times it (past that, the last separator before, as a fixed cut would; the next hit puts two
        exports in step again)."""
        assert self.separator is not None
        start, shortest = 0, _BLOCK_BYTES // 8
        for hit in blocks.cut_points(self._read, self.length, self.separator):
            if hit - start < shortest:
                continue
            start = yield from self._forced_spans(start, hit)
            yield start, hit
            start = hit + 1
        start = yield from self._forced_spans(start, self.length)
        yield start, self.length

    def _forced_spans(self, start: int, end: int) -> Generator[tuple[int, int], None, int]:
        """Spans of at most 1.5 ``_BLOCK_BYTES`` from ``start`` while ``end`` is further; returns the next start."""
        longest = _BLOCK_BYTES * 3 // 2
        while end - start > longest:
            cut = self._next_cut(start, longest)
            if cut < 0 or cut >= end:
                break
            yield start, cut
            start = cut + 1
        return start

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
        count = objects = 0
        for block in self.blocks():
            items = parse_items(block, self.label)
            count += len(items)
            objects += sum(1 for i in items if isinstance(i, dict))
            yield items
        self._count, self._objects = count, objects  # every block was parsed: the list is valid

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The records (object items), as a parsed list of records holds them."""
        for items in self.item_batches():
            yield from (i for i in items if isinstance(i, dict))

    def first(self) -> Any:
        for block in self.blocks(1 << 16):
            items = parse_items(block, self.label)
            return items[0] if items else None
        return None

    def item_type(self) -> pa.DataType | None:
        """``first_item_schema`` of this list, computed once."""
        if self._item_type is False:
            self._item_type = first_item_schema(self)
        return self._item_type

    def item_count(self) -> int:
        """The number of items, counted by parsing them (not guessed from separators, which an odd layout
        can fake): counting a list is also checking it."""
        if self._count is None:
            count = objects = 0
            for block in self.blocks():
                items, records = _count_block(block, self)
                count, objects = count + items, objects + records
            self._count, self._objects = count, objects
        return self._count

    def __len__(self) -> int:
        """The number of records: object items, as many as a parsed list of records keeps (other items
        are not records; see ``item_count``). Parsed, like ``item_count``."""
        self.item_count()
        return self._objects

    def validate(self) -> None:
        """Raise ``ArchiveError`` (naming the file and the list) unless every block is valid JSON."""
        self.item_count()

    def __bool__(self) -> bool:
        return self.first_char not in (b"", b"]")

    def __repr__(self) -> str:
        return f"LazyList({self.label}, {self.length} bytes at {self.offset})"


def parse_items(block: bytes, label: str) -> list[Any]:
    """The items of one block of a big list; ``ArchiveError`` naming ``label`` when it is not valid JSON."""
    try:
        return orjson.loads(b"[" + block + b"]")
    except orjson.JSONDecodeError as exc:
        raise _json_error(label, exc, block, in_list=True) from None


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")


def bom_encoding(data: bytes) -> str | None:
    """The encoding a byte-order mark announces (UTF-32 before UTF-16: its little-endian BOM begins
    with UTF-16's); None without a BOM. Python's codecs of these names drop the BOM themselves."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith(_UTF32_BOMS):
        return "utf-32"
    if data.startswith(_UTF16_BOMS):
        return "utf-16"
    return None


def _as_utf8(data: bytes, label: str) -> bytes:
    """UTF-8 without its BOM. A UTF-16/32 file with a BOM (an editor's "Unicode" save) is re-encoded;
    TikTok itself writes UTF-8."""
    encoding = bom_encoding(data)
    if encoding == "utf-8-sig":
        return data[3:]
    if encoding is None:
        return data
    try:
        return data.decode(encoding).encode("utf-8")
    except UnicodeError as exc:
        raise ArchiveError(f"{label} starts with a {encoding.upper()} byte-order mark but is not valid "
                           f"{encoding.upper()} ({_one_line(exc)}); re-download the export") from None


def _json_error(label: str, exc: Exception, data: bytes | None = None, in_list: bool = False) -> ArchiveError:
    """One line saying what is wrong with a document orjson refused, and where. ``in_list``: ``data`` is
    one block of a big list (``label`` names the list), whose line, column and byte orjson counts from
    the block's start, not the file's: they are left out."""
    text = exc.msg if in_list and isinstance(exc, orjson.JSONDecodeError) else _one_line(exc)
    if "UTF-8" in text and data is not None:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            return _utf8_error(label, None if in_list else bad.start)
    if "depth" in text.lower() or "recursion" in text.lower():
        return ArchiveError(f"{label} is nested deeper than the JSON reader allows ({settings.JSON_MAX_DEPTH} "
                            f"levels; {text}); this is not the shape of a TikTok export")
    return ArchiveError(f"{label} is not valid JSON ({text}); re-download the export or fix the file")


def _utf8_error(label: str, byte: int | None) -> ArchiveError:
    where = f" (byte {byte})" if byte is not None else ""
    return ArchiveError(f"{label} is not valid UTF-8 text{where}; TikTok writes UTF-8: "
                        "re-download the export or re-save the file as UTF-8")


def _count_block(block: bytes, lazy: LazyList) -> tuple[int, int]:
    """(items, object items) of one block of a big list, which is checked on the way: by pyarrow when it
    reads every item as an object with text values in the first item's fields (the block is then valid
    JSON, once its UTF-8 is checked; half the time of the Python parse, with no Python objects), by the
    Python parse otherwise. ``ArchiveError`` naming the list when the block is not valid JSON."""
    import pyarrow as pa

    item_type = lazy.item_type()
    if item_type is not None:
        try:
            column = _arrow_read(_as_doc(block), item_type, "error").column(0)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        else:
            if not column.null_count:
                _check_utf8(block, lazy)
                items = [chunk.flatten() for chunk in column.chunks]
                count = sum(len(i) for i in items)
                return count, count - sum(i.null_count for i in items)  # null items are not objects
    items = parse_items(block, lazy.label)
    return len(items), sum(1 for i in items if isinstance(i, dict))


def _as_doc(block: bytes) -> bytes:
    """A block as one object's list, for pyarrow's JSON reader (which reads objects, one per line)."""
    return b'{"i":[' + block + b"]}"


def _arrow_read(doc: bytes, item_type: pa.DataType, unexpected: str) -> pa.Table:
    """``doc`` (``_as_doc``) read by pyarrow with ``item_type`` for its items; line breaks inside items
    need newlines_in_values."""
    import pyarrow as pa
    import pyarrow.json as pa_json

    return pa_json.read_json(pa.py_buffer(doc), read_options=pa_json.ReadOptions(block_size=len(doc) + 1,
                                                                                use_threads=False),
                             parse_options=pa_json.ParseOptions(
                                 explicit_schema=pa.schema([("i", pa.list_(item_type))]),
                                 newlines_in_values=True, unexpected_field_behavior=unexpected))


def _check_utf8(block: bytes, lazy: LazyList) -> None:
    """Raise ``ArchiveError`` unless ``block`` is UTF-8. pyarrow's JSON reader copies string bytes without
    checking them (the damage would surface later as a bare ``ArrowInvalid: Invalid UTF8``); its
    validation is a vectorised pass over the block, without a copy and without the GIL."""
    import pyarrow as pa

    offsets = pa.array([0, len(block)], pa.int64()).buffers()[1]
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(block)]).validate(full=True)
    except pa.ArrowInvalid:
        raise _utf8_error(lazy.label, None) from None


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
    ``needed`` fields, duplicate keys): the Python parse decides then.

    ``ignore_others``: only the fields of ``item_type`` are wanted (the times of rows that may be loaded
    already). A table returned means the whole block is valid JSON, as the Python parse would find it;
    damage raises ``ArchiveError`` naming the file and the list."""
    import pyarrow as pa

    if item_type is None:
        return None
    doc = _as_doc(block)

    def read(unexpected: str, item_type: pa.DataType = item_type) -> pa.Table:
        return _arrow_read(doc, item_type, unexpected)

    wanted_fields: list[str] | None = None
    try:
        if ignore_others:
            # pyarrow's parser lets NaN, Infinity and any depth through in the fields it ignores: the
            # block is read whole, every field as text (a value that is not text fails the read), and the
            # wanted fields taken from it: a fifth slower than reading the wanted fields alone, a third
            # of a check by orjson. A block that does not read so is checked by orjson first.
            wanted_fields = [f.name for f in item_type]
            whole = lazy.item_type()
            try:
                if whole is None or any(whole.get_field_index(n) < 0 for n in wanted_fields):
                    raise pa.ArrowInvalid("not the first item's fields")
                parsed = read("error", whole)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                parse_items(block, lazy.label)  # raises when the block is not valid JSON
                parsed = read("ignore")
        else:
            parsed = read("error")
    except pa.ArrowInvalid as exc:
        if ignore_others or "unexpected field" not in str(exc):
            return None
        try:
            # fields beyond the first item's are inferred only after orjson has bounded the block's nesting:
            # pyarrow's inference recurses and crashes the process on values nested thousands of levels deep
            orjson.loads(b"[" + block + b"]")  # raises beyond 1024 levels (the Python path then words it)
            parsed = read("infer")
        except (orjson.JSONDecodeError, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    del doc
    _check_utf8(block, lazy)
    column = parsed.column(0)
    items = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    if items.null_count or not pa.types.is_list(items.type):
        return None
    structs = items.flatten()
    if structs.null_count or not pa.types.is_struct(structs.type):
        return None
    wanted = {nk for c in needed for nk in c.norm_keys}
    fields = [structs.type.field(i) for i in range(structs.type.num_fields)]
    if wanted_fields is not None:
        fields = [f for f in fields if f.name in wanted_fields]
    if any(norm_key(f.name) in wanted and not (pa.types.is_string(f.type) or pa.types.is_null(f.type))
           for f in fields):
        return None
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        return None
    return pa.Table.from_arrays([structs.field(n) for n in names], names=names)


def newest_text(lazy: LazyList, keys: set[str], pattern: str) -> str:
    """The greatest timestamp-looking value under any of the (normalised) ``keys`` of a big list."""
    import pyarrow as pa
    import pyarrow.compute as pc

    newest = ""
    schema = lazy.item_type()
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
