"""Open an export (ZIP, bare JSON, extracted folder, ZIP or folder of TXT files) and find its sections.

Nothing is extracted under a member's own name: ZIP members are streamed under size limits, so a
hostile member path cannot escape anywhere. The layout is found by keys (``layouts.py``), never by
date. Every section no table takes is kept as an ``UnparsedSection`` so that nothing is dropped
silently.

**Big documents stream.** A heavy user's JSON holds millions of rows in a few lists; parsed whole
it costs about seven times its size in Python objects. TikTok writes it pretty-printed, and in JSON
a raw line break only ever sits between tokens (never inside a string), so every line starts
outside a string. One streaming pass therefore cuts the document with C-speed byte searches: an
array whose ``[`` ends a line and whose ``]`` starts a line at the same indentation is either small
(kept in place) or larger than ``settings.JSON_INLINE_BYTES`` (its bytes go to a spool file, or stay
where they are in a plain file, and a ``LazyList`` takes its place). The rest, the skeleton, is
parsed with orjson and walked exactly like a whole document; a ``LazyList`` is parsed later, in
batches, by the table that reads it (``records.py``). Anything unexpected (invalid JSON, unusual
formatting) falls back to parsing the whole document in memory, which also words the error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import tempfile
import threading
import weakref
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import IO, Any

import orjson

from . import settings
from .layouts import BY_TABLE, ENTITIES, JSON_NAMES, METADATA_KEYS, NO_DATA_FILES, SENTINELS, TXT_GENERATIONS, Entity, detect_family, norm_key
from .txt_format import decode_text, parse_direct_messages, parse_records

log = logging.getLogger(__name__)

_EPOCH_FOLDER = re.compile(r"TikTok_Data_(\d{9,11})", re.IGNORECASE)
_TIMESTAMP_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")
_SENTINELS = frozenset(SENTINELS)


class ArchiveError(Exception):
    """An archive that cannot be read; the message names the file and what to do."""


@dataclass
class Section:
    """Raw items of one entity found at one place in an archive."""

    entity: Entity
    path: str
    items: list[dict[str, Any]] | LazyList  # a LazyList when the list was too big to parse up front
    constants: dict[str, Any] = field(default_factory=dict)


@dataclass
class UnparsedSection:
    path: str
    item_count: int
    size_bytes: int


@dataclass
class OpenedArchive:
    """A parsed archive: its sections per table, what no table took, and its lineage."""

    source: Path
    sha256: str
    data_format: str  # "json" | "txt"
    family: str
    sections: dict[str, list[Section]]
    unparsed: list[UnparsedSection]
    epoch_exported_at: datetime | None = None
    user_id: str = ""
    explicit_exported_at: datetime | None = None

    @property
    def name(self) -> str:
        return self.source.name

    def sections_for(self, table: str) -> list[Section]:
        return self.sections.get(table, [])

    def has_section(self, table: str) -> bool:
        return table in self.sections

    @cached_property
    def owner_username(self) -> str | None:
        for section in self.sections_for("profile"):
            for item in section.items:
                for key, value in item.items():
                    if norm_key(key) == "username" and isinstance(value, str) and value.strip() not in _SENTINELS:
                        return value.strip()
        return None

    @cached_property
    def exported_at(self) -> datetime:
        """When the export was taken: given, else the epoch in the folder name, else the newest event."""
        if self.explicit_exported_at:
            return self.explicit_exported_at
        if self.epoch_exported_at:
            return self.epoch_exported_at
        newest = ""
        for entity in ENTITIES:
            column = next((c for c in entity.columns if c.name == entity.time_column), None)
            if column is None:
                continue
            keys = set(column.norm_keys)
            for section in self.sections_for(entity.table):
                if isinstance(section.items, LazyList):
                    from .records import newest_text  # records imports this module

                    found = newest_text(section.items, keys, _TIMESTAMP_PREFIX.pattern)
                    if found and found > newest:
                        newest = found
                    continue
                actual = [k for k in _item_keys(section.items) if norm_key(k) in keys]
                for key in actual:
                    for item in section.items:
                        value = item.get(key)
                        if isinstance(value, str) and value > newest and _TIMESTAMP_PREFIX.match(value):
                            newest = value
        if newest:
            return datetime.fromisoformat(newest[:19].replace("T", " ")).replace(tzinfo=timezone.utc)
        # no dated row at all: the file's own time is at least stable across reloads
        return datetime.fromtimestamp(int(self.source.stat().st_mtime), tz=timezone.utc)


def _item_keys(items: list[dict[str, Any]]) -> set[str]:
    keys: set[str] = set()
    for item in items:
        keys.update(item)
    return keys


# --- containers ------------------------------------------------------------------------------


class _Container:
    """Read-only view of the files of an archive: members of a ZIP or files under a folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.display = path.name

    def names(self) -> list[str]:  # posix relative paths
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def open(self, name: str) -> IO[bytes]:
        """A stream of one member, under the same limits as ``read``."""
        raise NotImplementedError

    def file_path(self, name: str) -> Path | None:
        """The member as a plain file on disk (big JSON lists are then read in place), if it is one."""
        return None

    def sha256(self) -> str:
        raise NotImplementedError


class _ZipContainer(_Container):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        size = path.stat().st_size
        if size > settings.MAX_ARCHIVE_BYTES:
            raise ArchiveError(f"{self.display}: archive is {size} bytes, over the {settings.MAX_ARCHIVE_BYTES}-byte limit")
        try:
            self.zip = zipfile.ZipFile(path)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ArchiveError(f"{self.display}: not a readable ZIP archive ({exc}); download it again") from None
        if len(infos) > settings.MAX_MEMBERS:
            raise ArchiveError(f"{self.display}: {len(infos)} members, over the {settings.MAX_MEMBERS} limit")
        self.infos = {i.filename: i for i in infos if not i.is_dir()}
        total = sum(i.file_size for i in self.infos.values())
        if total > settings.MAX_MEMBER_BYTES * 4:
            raise ArchiveError(f"{self.display}: {total} bytes uncompressed, over the limit (possible zip bomb)")

    def names(self) -> list[str]:
        return sorted(self.infos)

    def read(self, name: str) -> bytes:
        with self.open(name) as member:
            return member.read()

    def open(self, name: str) -> IO[bytes]:
        info = self.infos[name]
        limit = settings.MAX_MEMBER_BYTES
        if info.file_size > limit or (
            info.file_size > 1 << 20 and info.file_size > settings.MAX_COMPRESSION_RATIO * max(info.compress_size, 1)
        ):
            raise ArchiveError(f"{self.display}: member {name} is {info.file_size} bytes uncompressed "
                               f"({info.compress_size} compressed), over the limits (possible zip bomb)")
        try:
            member = self.zip.open(info)
        except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile, zlib.error) as exc:
            raise self._damaged(name, exc) from None
        return _LimitedMember(member, limit, lambda exc: self._damaged(name, exc),
                              f"{self.display}: member {name} is larger than {limit} bytes")

    def _damaged(self, name: str, exc: BaseException) -> ArchiveError:
        return ArchiveError(f"{self.display}: member {name} cannot be read ({exc}); the ZIP is damaged or "
                            "truncated, download it again")

    def sha256(self) -> str:
        return file_sha256(self.path)


class _FolderContainer(_Container):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._names = sorted(
            p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() and not p.is_symlink()
        )

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()

    def open(self, name: str) -> IO[bytes]:
        target = self.path / name
        if target.stat().st_size > settings.MAX_MEMBER_BYTES:
            raise ArchiveError(f"{self.display}: {name} is larger than {settings.MAX_MEMBER_BYTES} bytes")
        return target.open("rb")

    def file_path(self, name: str) -> Path | None:
        return self.path / name

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name in self._names:
            if name.lower().endswith((".json", ".txt")):
                digest.update(name.encode() + b"\0")
                digest.update(hashlib.sha256((self.path / name).read_bytes()).digest())
        return digest.hexdigest()


class _LimitedMember:
    """A ZIP member stream that enforces the uncompressed-size limit and words read errors."""

    def __init__(self, member: IO[bytes], limit: int, damaged: Callable[[BaseException], ArchiveError],
                 too_big: str) -> None:
        self._member, self._left, self._damaged, self._too_big = member, limit, damaged, too_big

    def read(self, size: int = -1) -> bytes:
        want = self._left + 1 if size < 0 else min(size, self._left + 1)
        try:
            data = self._member.read(want)
        except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile, zlib.error) as exc:
            raise self._damaged(exc) from None
        self._left -= len(data)
        if self._left < 0:
            raise ArchiveError(self._too_big)
        return data

    def close(self) -> None:
        self._member.close()

    def __enter__(self) -> _LimitedMember:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- entry point -----------------------------------------------------------------------------


def open_archive(path: str | os.PathLike[str], *, user_id: str | None = None,
                 exported_at: datetime | None = None) -> OpenedArchive:
    """Read an export and find its sections; raise ``ArchiveError`` with a one-line reason."""
    path = Path(path)
    if not path.exists():
        raise ArchiveError(f"{path}: no such file or folder")
    if path.is_dir():
        archive = _open_container(_FolderContainer(path))
    else:
        with path.open("rb") as handle:
            head = handle.read(4)
        if head == settings.ZIP_MAGIC:
            archive = _open_container(_ZipContainer(path))
        elif path.suffix.lower() == ".json" or head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
            if path.stat().st_size > settings.MAX_MEMBER_BYTES:
                raise ArchiveError(f"{path.name} is larger than {settings.MAX_MEMBER_BYTES} bytes")
            hashing = _Hashing(path)  # the hash is computed while streaming: the file is read once
            archive = _from_json_stream(path, path.name, hashing.open, path, hashing.hexdigest, epoch=None)
        else:
            raise ArchiveError(f"{path.name}: neither a ZIP archive nor a JSON file; give the export as downloaded "
                               "(.zip), its user_data_tiktok.json, or the extracted folder")
    if exported_at is not None:
        archive.explicit_exported_at = exported_at
    archive.user_id = user_id or archive.owner_username or ""
    if not archive.user_id:
        raise ArchiveError(f"{path.name}: the archive has no profile to take the user id from; "
                           "pass --user-id to say whose data it is")
    return archive


def _open_container(container: _Container) -> OpenedArchive:
    names = container.names()
    epoch = _epoch_from_names(names + [container.path.name])
    by_base = {PurePosixPath(n).name.lower(): n for n in names}
    for json_name in JSON_NAMES:
        member = by_base.get(json_name)
        if member:
            return _from_json_stream(container.path, f"{container.display}: {member}",
                                     lambda: container.open(member), container.file_path(member),
                                     container.sha256, epoch)
    txt = [n for n in names if n.lower().endswith(".txt")]
    if not txt:
        raise ArchiveError(f"{container.display}: no user_data_tiktok.json, user_data.json or .txt files inside; "
                           "is this a TikTok export?")
    return _from_txt(container, txt, epoch)


def _epoch_from_names(names: list[str]) -> datetime | None:
    for name in names:
        match = _EPOCH_FOLDER.search(name)
        if match:
            return datetime.fromtimestamp(int(match.group(1)), tz=timezone.utc)
    return None


# --- JSON ------------------------------------------------------------------------------------


def _ci_get(mapping: dict[str, Any], name: str) -> tuple[str, Any] | None:
    wanted = norm_key(name)
    for key, value in mapping.items():
        if norm_key(key) == wanted:
            return key, value
    return None


def _is_empty(value: Any) -> bool:
    if isinstance(value, LazyList):
        return not value
    return value is None or value == [] or value == {} or (isinstance(value, str) and value.strip() in _SENTINELS)


def _from_json_stream(source: Path, label: str, opener: Callable[[], IO[bytes]], plain_file: Path | None,
                      sha256: Callable[[], str], epoch: datetime | None) -> OpenedArchive:
    """Split the document while streaming it (see the module docstring); whole-document parse as fallback."""
    spool = None if plain_file is not None else _Spool()
    try:
        try:
            with opener() as stream, _ReadAhead(stream.read, _READ_BYTES) as ahead:
                skeleton, spans = _split_json(ahead.read, spool, settings.JSON_INLINE_BYTES)
        finally:
            if spool is not None:
                spool.finish()
        root = orjson.loads(skeleton)
    except (_NotSplittable, orjson.JSONDecodeError):
        # invalid, truncated or unusually formatted: parse it whole (the error then says where)
        with opener() as stream:
            data = stream.read()
        return _from_json(source, label, data, sha256(), epoch)
    del skeleton
    if spans:
        where = spool.path if spool is not None else plain_file
        keep: Any = spool
        lazies = [LazyList(where, offset, length, label, keep) for offset, length in spans]
        root = _attach_lazies(root, lazies)
    return _from_root(source, label, root, sha256(), epoch)


def _from_json(source: Path, label: str, data: bytes, sha256: str, epoch: datetime | None) -> OpenedArchive:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        root = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ArchiveError(f"{label} is not valid JSON ({exc}); re-download the export or fix the file") from None
    del data
    return _from_root(source, label, root, sha256, epoch)


def _from_root(source: Path, label: str, root: Any, sha256: str, epoch: datetime | None) -> OpenedArchive:
    if not isinstance(root, dict):
        raise ArchiveError(f"{label}: expected a JSON object at the top, found {type(root).__name__}")
    sections: dict[str, list[Section]] = {}
    claimed: set[tuple[str, str]] = set()
    for entity in ENTITIES:
        for spec in entity.json_paths:
            for top_name in spec.tops:
                top = _ci_get(root, top_name)
                if top is None or not isinstance(top[1], dict):
                    continue
                for sub_name in spec.subs:
                    sub = _ci_get(top[1], sub_name)
                    if sub is None:
                        continue
                    place = (top[0], sub[0])
                    path = f"{top[0]} › {sub[0]}"
                    found = _json_sections(entity, spec.list_keys, sub[1], path, dict(spec.constants))
                    if found is None:
                        continue  # not this entity's shape: leave it for the unparsed report
                    claimed.add(place)
                    sections.setdefault(entity.table, []).extend(found)
    unparsed = _json_unparsed(root, claimed, label)
    return OpenedArchive(source, sha256, "json", detect_family(root), sections, unparsed, epoch)


def _json_sections(entity: Entity, list_keys: tuple[str, ...], body: Any, path: str,
                   constants: dict[str, Any]) -> list[Section] | None:
    """Sections of one entity in one sub-section body; ``None`` when the body is not that entity's."""
    if _is_empty(body):
        return []
    if not isinstance(body, dict):
        log.warning("%s: expected an object, found %s; section skipped", path, type(body).__name__)
        return None
    for list_key in list_keys:
        value: Any = body
        for part in list_key.split("/"):
            hit = _ci_get(value, part) if isinstance(value, dict) else None
            if hit is None:
                break
            value = hit[1]
        else:
            if _is_empty(value):
                return []
            if entity.kind == "messages":
                return _thread_sections(entity, value, path) if isinstance(value, dict) else None
            if entity.kind == "profile":
                return [Section(entity, path, [value], constants)] if isinstance(value, dict) else None
            if isinstance(value, LazyList):  # non-objects are skipped (with a warning) when it is read
                return [Section(entity, f"{path} › {list_key}", value, constants)]
            if not isinstance(value, list):
                log.warning("%s › %s: expected a list, found %s; section skipped", path, list_key,
                            type(value).__name__)
                return None
            items = [i for i in value if isinstance(i, dict)]
            if len(items) != len(value):
                log.warning("%s: %d items are not objects and were skipped", path, len(value) - len(items))
            return [Section(entity, f"{path} › {list_key}", items, constants)]
    # "{}" or only metadata siblings: present but empty; anything else is not this entity's shape
    return None if any(norm_key(k) not in METADATA_KEYS for k in body) else []


def _thread_sections(entity: Entity, threads: dict[str, Any], path: str) -> list[Section]:
    out = []
    for key, items in threads.items():
        if not isinstance(items, (list, LazyList)):
            continue
        name = thread_name(key)
        out.append(Section(entity, f"{path} › {key}",
                           items if isinstance(items, LazyList) else [i for i in items if isinstance(i, dict)],
                           {"conversation": name, "is_group": is_group_name(name)}))
    return out


def thread_name(key: str) -> str:
    """``Chat History with user_b:`` → ``user_b`` (§8)."""
    name = re.sub(r"^\s*chat history with\s*", "", key, flags=re.IGNORECASE)
    return name.rstrip().rstrip(":").strip()


def is_group_name(name: str) -> bool:
    return name.lower().startswith("group_chat_") or name.lower().startswith("group chat")


def _json_unparsed(root: dict[str, Any], claimed: set[tuple[str, str]], label: str) -> list[UnparsedSection]:
    out = []
    for top_key, top in root.items():
        if norm_key(top_key) in METADATA_KEYS:
            continue
        if not isinstance(top, dict):
            if not _is_empty(top):
                out.append(UnparsedSection(top_key, _count_items(top), _json_size(top)))
            continue
        for sub_key, body in top.items():
            if (top_key, sub_key) in claimed or norm_key(sub_key) in METADATA_KEYS:
                continue
            out.append(UnparsedSection(f"{top_key} › {sub_key}", _count_items(body), _json_size(body)))
    _warn_unparsed(label, out)
    return out


def _warn_unparsed(label: str, sections: list[UnparsedSection]) -> None:
    """One warning per archive, naming the sections with data that no table took."""
    with_data = [f"{s.path} ({s.item_count})" for s in sections if s.item_count]
    if with_data:
        log.warning("%s: %d sections have no table and were recorded in unparsed_sections: %s",
                    label, len(with_data), "; ".join(with_data))


def _json_size(value: Any) -> int:
    """Compact JSON size; a LazyList counts its bytes on disk (indentation included)."""
    lazies: list[LazyList] = []

    def default(obj: Any) -> None:
        if isinstance(obj, LazyList):
            lazies.append(obj)
            return None
        raise TypeError

    return len(orjson.dumps(value, default=default)) + sum(lazy.length + 2 - 4 for lazy in lazies)


def _count_items(value: Any) -> int:
    if isinstance(value, (list, LazyList)):
        return len(value)
    if isinstance(value, dict):
        return sum(_count_items(v) if isinstance(v, (list, dict, LazyList)) else 0 for v in value.values()) or (
            1 if any(not _is_empty(v) and norm_key(k) not in METADATA_KEYS for k, v in value.items()) else 0)
    return 0 if _is_empty(value) else 1


# --- streaming big JSON documents ---------------------------------------------------------------

_LIST_OPEN = re.compile(rb"\[[ \t\r]*\n")  # an array whose "[" ends a line (never inside a string)
_LAZY_MARK = "\x00tiktok-portability-lazy:"
_READ_BYTES = 8 << 20
_BLOCK_BYTES = 8 << 20  # one block of a big list: ~60k watch rows, ~60 MB while being read


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


def _split_json(read: Callable[[int], bytes], spool: _Spool | None, inline_limit: int
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
            end = buf.find(close, start)
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
            skeleton += b'"\\u0000tiktok-portability-lazy:%d"' % len(spans)
            spans.append((where, length))
        pos = end + len(close)
    return bytes(skeleton), spans


def _attach_lazies(root: Any, lazies: list[LazyList]) -> Any:
    """Swap the skeleton's placeholder strings for their LazyLists. Big lists sit in objects, so objects
    are searched first; the items of the (many, small) parsed lists only if a placeholder is left."""
    found = [0]

    def walk(value: Any, into_lists: bool) -> Any:
        if isinstance(value, str):
            if value.startswith(_LAZY_MARK):
                found[0] += 1
                return lazies[int(value[len(_LAZY_MARK):])]
            return value
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, (dict, list, str)):
                    value[key] = walk(item, into_lists)
        elif isinstance(value, list) and into_lists:
            for index, item in enumerate(value):
                value[index] = walk(item, into_lists)
        return value

    root = walk(root, False)
    return root if found[0] == len(lazies) else walk(root, True)


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
        if not self:
            return
        block_bytes = block_bytes or _BLOCK_BYTES
        sep = self.separator
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            left = self.length
            carry = b""
            while left > 0 or carry:
                chunk = handle.read(min(block_bytes, left)) if left > 0 else b""
                left -= len(chunk)
                data = carry + chunk if carry else chunk
                if left > 0:
                    cut = data.rfind(sep) if sep is not None else -1
                    if cut <= 0:  # no item boundary yet (or not an object list): read on
                        carry = data
                        continue
                    yield data[:cut]
                    carry = data[cut + 1:]
                else:
                    carry = b""
                    if data.strip():
                        yield data

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
        raise ArchiveError(f"{label} is not valid JSON ({exc}); re-download the export or fix the file") from None


# --- TXT -------------------------------------------------------------------------------------

_TXT_ENTITY = {name: entity for entity in ENTITIES for name in entity.txt_names}


def _from_txt(container: _Container, names: list[str], epoch: datetime | None) -> OpenedArchive:
    sections: dict[str, list[Section]] = {}
    unparsed: list[UnparsedSection] = []
    bases = {norm_key(PurePosixPath(n).stem) for n in names}
    generation = next((g for g, marker in TXT_GENERATIONS if norm_key(marker) in bases), "txt")
    for name in names:
        base = norm_key(PurePosixPath(name).stem)
        if base in NO_DATA_FILES:
            continue
        data = container.read(name)
        try:
            text = decode_text(data, f"{container.display}: {name}")
        except ValueError as exc:
            raise ArchiveError(f"{exc}; re-download the export") from None
        entity = _TXT_ENTITY.get(base)
        if entity is None:
            records = parse_records(text)
            unparsed.append(UnparsedSection(name, len(records.records), len(data)))
            continue
        sections.setdefault(entity.table, []).extend(_txt_sections(entity, name, text))
    _warn_unparsed(container.display, unparsed)
    return OpenedArchive(container.path, container.sha256(), "txt", generation, sections, unparsed, epoch)


def _txt_sections(entity: Entity, name: str, text: str) -> list[Section]:
    if entity.kind == "messages":
        return [Section(entity, f"{name} › {thread}", items, {"conversation": thread, "is_group": is_group_name(thread)})
                for thread, items in parse_direct_messages(text).items()]
    parsed = parse_records(text)
    if entity.kind == "profile":
        return [Section(entity, name, parsed.records[:1])] if parsed.records else []
    header_constants = {norm_key(h): dict(c) for h, c in entity.txt_constants_by_header}
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for record, header in zip(parsed.records, parsed.headers):
        groups.setdefault(header, []).append(record)
    return [Section(entity, name if header is None else f"{name} › {header}", items,
                    header_constants.get(norm_key(header or ""), {}))
            for header, items in groups.items()]


def iter_sections(archive: OpenedArchive) -> Iterator[tuple[str, Section]]:
    for table in BY_TABLE:
        for section in archive.sections_for(table):
            yield table, section
