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
import stat
import struct
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
from .errors import ArchiveError
from .layouts import (
    ENTITIES,
    JsonPath,
    JSON_NAMES,
    METADATA_KEYS,
    NO_DATA_FILES,
    SENTINELS,
    TXT_GENERATIONS,
    Entity,
    detect_family,
    norm_key,
)
from .txt_format import decode_text, parse_direct_messages, parse_records

log = logging.getLogger(__name__)

_EPOCH_FOLDER = re.compile(r"TikTok_Data_(\d{9,11})", re.IGNORECASE)
_TIMESTAMP_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")
_SENTINELS = frozenset(SENTINELS)


@dataclass
class Section:
    """Raw items of one entity found at one place in an archive."""

    entity: Entity
    path: str
    items: list[dict[str, Any]] | LazyList  # a LazyList when the list was too big to parse up front
    constants: dict[str, Any] = field(default_factory=dict)
    unreadable: int = 0  # items (JSON) or lines (TXT) of this section that no row could be made of
    report_as: str = ""  # the section's name in load_report (a DM thread reports as its file: no name)

    @property
    def report_path(self) -> str:
        return self.report_as or self.path


NO_TABLE = "no table reads this section"


@dataclass
class UnparsedSection:
    """A section (or archive member) that loaded no rows, and why: ``reason`` is ``NO_TABLE`` for a
    section the reader does not model, otherwise what is wrong with a damaged or unsafe one."""

    path: str
    item_count: int
    size_bytes: int
    reason: str = NO_TABLE


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
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        value = str(value)  # a number where text is expected is read as its text
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
        self.ignored: list[UnparsedSection] = []  # unsafe entries, never read (see _unsafe_name)

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
        except _ZIP_ERRORS as exc:
            raise ArchiveError(f"{self.display}: not a readable ZIP archive ({_one_line(exc)}); "
                               "download it again") from None
        if len(infos) > settings.MAX_MEMBERS:
            raise ArchiveError(f"{self.display}: {len(infos)} members, over the {settings.MAX_MEMBERS} limit "
                               "(TIKTOK_PORTABILITY_MAX_MEMBERS)")
        self.infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.is_dir():
                continue
            # 2022 TXT exports name every member from the root ("/Activity/Likes.txt"); nothing is ever
            # extracted under a member's name, so the leading slash is no escape: it is dropped
            name = info.filename.lstrip("/")
            if name in self.infos:
                raise ArchiveError(f"{self.display}: member {info.filename} appears twice; the ZIP is malformed "
                                   "or crafted, download the export again")
            problem = _unsafe_name(name) or (
                "a symbolic link" if stat.S_ISLNK(info.external_attr >> 16) else None)
            if problem:
                log.warning("%s: member %r is %s and was not read", self.display, info.filename, problem)
                self.ignored.append(UnparsedSection(info.filename, 0, info.file_size, f"{problem}; not read"))
                continue
            self.infos[name] = info
        total = sum(i.file_size for i in infos)
        if total > settings.MAX_TOTAL_BYTES:
            raise ArchiveError(f"{self.display}: {total} bytes uncompressed, over the {settings.MAX_TOTAL_BYTES}-byte "
                               "limit (possible zip bomb; TIKTOK_PORTABILITY_MAX_TOTAL_BYTES)")

    def names(self) -> list[str]:
        return sorted(self.infos)

    def read(self, name: str) -> bytes:
        with self.open(name) as member:
            return member.read()

    def open(self, name: str) -> IO[bytes]:
        info = self.infos[name]
        limit = settings.MAX_MEMBER_BYTES
        if info.file_size > limit:
            raise ArchiveError(f"{self.display}: member {name} is {info.file_size} bytes uncompressed, over the "
                               f"{limit}-byte limit (possible zip bomb; TIKTOK_PORTABILITY_MAX_MEMBER_BYTES)")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > settings.COMPRESSION_RATIO_MIN_BYTES and ratio > settings.MAX_COMPRESSION_RATIO:
            raise ArchiveError(f"{self.display}: member {name} expands {ratio:.0f}-fold ({info.compress_size} → "
                               f"{info.file_size} bytes), over the {settings.MAX_COMPRESSION_RATIO}-fold limit "
                               "(possible zip bomb; TIKTOK_PORTABILITY_MAX_COMPRESSION_RATIO)")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{self.display}: member {name} is encrypted; give the export as TikTok delivered it")
        try:
            member = self.zip.open(info)
        except _ZIP_ERRORS as exc:
            raise self._damaged(name, exc) from None
        # the stream never yields more than the declared size (zipfile stops there and checks the CRC)
        return _LimitedMember(member, min(limit, info.file_size), lambda exc: self._damaged(name, exc),
                              f"{self.display}: member {name} is larger than its declared size")

    def _damaged(self, name: str, exc: BaseException) -> ArchiveError:
        if isinstance(exc, NotImplementedError):
            return ArchiveError(f"{self.display}: member {name} uses a compression method this reader does not "
                                f"support ({_one_line(exc)}); re-pack it as a plain ZIP (deflate)")
        return ArchiveError(f"{self.display}: member {name} cannot be read ({_one_line(exc)}); the ZIP is damaged "
                            "or truncated, download it again")

    def sha256(self) -> str:
        return file_sha256(self.path)


class _FolderContainer(_Container):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        names: list[str] = []
        # symbolic links (to files or folders) are never followed: they could lead anywhere on the disk
        for folder, dirs, files in os.walk(path, followlinks=False):
            here = Path(folder)
            for entry in [*dirs, *files]:
                full = here / entry
                if full.is_symlink():
                    relative = full.relative_to(path).as_posix()
                    log.warning("%s: %r is a symbolic link and was not followed", self.display, relative)
                    self.ignored.append(UnparsedSection(relative, 0, 0, "a symbolic link; not read"))
                elif entry in files and full.is_file():
                    names.append(full.relative_to(path).as_posix())
            if len(names) > settings.MAX_MEMBERS:
                raise ArchiveError(f"{self.display}: more than {settings.MAX_MEMBERS} files, over the limit "
                                   "(TIKTOK_PORTABILITY_MAX_MEMBERS)")
        self._names = sorted(names)

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()

    def open(self, name: str) -> IO[bytes]:
        target = self.path / name
        if target.stat().st_size > settings.MAX_MEMBER_BYTES:
            raise ArchiveError(f"{self.display}: {name} is larger than the {settings.MAX_MEMBER_BYTES}-byte limit "
                               "(TIKTOK_PORTABILITY_MAX_MEMBER_BYTES)")
        return target.open("rb")

    def file_path(self, name: str) -> Path | None:
        return self.path / name

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name in self._names:
            if name.lower().endswith((".json", ".txt")):
                digest.update(name.encode() + b"\0")
                digest.update(bytes.fromhex(file_sha256(self.path / name)))  # streamed: any size
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


_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error, ValueError, struct.error,
               NotImplementedError, RuntimeError, UnicodeDecodeError, OverflowError, KeyError)
_DRIVE = re.compile(r"^[A-Za-z]:")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _unsafe_name(name: str) -> str | None:
    """Why a member name could escape an extraction folder (zip slip), or None. Nothing is extracted
    under a member's name, but such a member has no place in an export and is not read at all."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith("\\") or _DRIVE.match(name):  # a leading "/" was dropped: see _ZipContainer
        return "an absolute path"
    if ".." in parts:
        return "a path leaving the archive (..)"
    if "\0" in name:
        return "a name with a NUL byte"
    return None


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
        elif path.suffix.lower() == ".json" or head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{" or \
                head.startswith(_UTF16_BOMS):
            if path.stat().st_size > settings.MAX_MEMBER_BYTES:
                raise ArchiveError(f"{path.name} is larger than the {settings.MAX_MEMBER_BYTES}-byte limit "
                                   "(TIKTOK_PORTABILITY_MAX_MEMBER_BYTES)")
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
    documents = [n for n in names if PurePosixPath(n).name.lower() in JSON_NAMES]
    if len(documents) > 1:
        raise ArchiveError(f"{container.display}: holds {len(documents)} data files ({', '.join(documents[:4])}); "
                           "an export has one: load each export separately")
    if documents:
        member = documents[0]
        archive = _from_json_stream(container.path, f"{container.display}: {member}",
                                    lambda: container.open(member), container.file_path(member),
                                    container.sha256, epoch)
    else:
        txt = [n for n in names if n.lower().endswith(".txt")]
        if not txt:
            raise ArchiveError(f"{container.display}: no user_data_tiktok.json, user_data.json or .txt files "
                               "inside; is this a TikTok export?")
        archive = _from_txt(container, txt, epoch)
    archive.unparsed[:0] = container.ignored
    return archive


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
    nonce = os.urandom(8).hex()
    try:
        try:
            with opener() as stream, _ReadAhead(stream.read, _READ_BYTES) as ahead:
                skeleton, spans = _split_json(ahead.read, spool, settings.JSON_INLINE_BYTES, nonce.encode())
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
        if not isinstance(root, dict):
            raise ArchiveError(f"{label}: expected a JSON object at the top, found "
                               f"{'a list' if isinstance(root, str) else _kind(root)}")
        root = _attach_lazies(root, lazies, _LAZY_MARK.format(nonce))
    return _from_root(source, label, root, sha256(), epoch)


def _from_json(source: Path, label: str, data: bytes, sha256: str, epoch: datetime | None) -> OpenedArchive:
    data = _as_utf8(data, label)
    try:
        root = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _json_error(label, exc, data) from None
    del data
    return _from_root(source, label, root, sha256, epoch)


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


def _from_root(source: Path, label: str, root: Any, sha256: str, epoch: datetime | None) -> OpenedArchive:
    if not isinstance(root, dict):
        raise ArchiveError(f"{label}: expected a JSON object at the top, found {_kind(root)}")
    sections: dict[str, list[Section]] = {}
    claimed: set[tuple[str, str]] = set()
    visited: set[tuple[str, JsonPath, tuple[str, str]]] = set()
    damaged: dict[str, UnparsedSection] = {}  # path -> a section skipped because of its shape
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
                    if (entity.table, spec, place) in visited:  # "TikTok Live" and "Tiktok Live": one key
                        continue
                    visited.add((entity.table, spec, place))
                    path = f"{top[0]} › {sub[0]}"
                    found = _json_sections(entity, spec, sub[1], path, dict(spec.constants), damaged)
                    if found is None:
                        continue  # not this entity's shape: leave it for the unparsed report
                    claimed.add(place)
                    sections.setdefault(entity.table, []).extend(found)
    unparsed = _json_unparsed(root, claimed, label, damaged)
    return OpenedArchive(source, sha256, "json", detect_family(root), sections, unparsed, epoch)


def _kind(value: Any) -> str:
    """What a JSON value is, in words for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, LazyList)):
        return "a list"
    return "an object"


def _skip(damaged: dict[str, UnparsedSection], path: str, value: Any, reason: str) -> list[Section]:
    """Record a section whose shape is wrong (it loads no rows) and load the rest of the archive."""
    log.warning("%s: %s; section skipped", path, reason)
    damaged.setdefault(path, UnparsedSection(path, _count_items(value) or 1, _json_size(value), reason))
    return []


def _object_items(items: list[Any], damaged: dict[str, UnparsedSection], path: str,
                  list_key: str) -> list[dict[str, Any]] | None:
    """The items of a list of records. The first item decides, as it does for a big list read later
    (only its first item is looked at up front): not an object (nor null) → the section is skipped and
    recorded in ``damaged`` (None); otherwise stray non-object items are dropped with a warning."""
    if items and items[0] is not None and not isinstance(items[0], dict):
        _skip(damaged, path, items, f"the items of {list_key} are not objects (the first is {_kind(items[0])})")
        return None
    objects = [i for i in items if isinstance(i, dict)]
    stray = sum(1 for i in items if i is not None and not isinstance(i, dict))  # null items are empty
    if stray:
        log.warning("%s: %d items are not objects and were skipped", path, stray)
    return objects


def _json_sections(entity: Entity, spec: JsonPath, body: Any, path: str,
                   constants: dict[str, Any], damaged: dict[str, UnparsedSection]) -> list[Section] | None:
    """Sections of one entity in one sub-section body; ``None`` when the body is not that entity's.
    A body, list or item of the wrong JSON type skips the section (recorded in ``damaged``)."""
    if _is_empty(body):
        return []
    if not isinstance(body, dict):
        return _skip(damaged, path, body, f"expected an object, found {_kind(body)}")
    for list_key in spec.list_keys:
        value: Any = body
        for part in list_key.split("/") if list_key != "." else ():  # "." : the body itself is the map
            hit = _ci_get(value, part) if isinstance(value, dict) else None
            if hit is None:
                break
            value = hit[1]
        else:
            if _is_empty(value) or (list_key == "." and all(_is_empty(v) for v in value.values())):
                return []
            where = path if list_key == "." else f"{path} › {list_key}"
            if entity.kind == "messages":
                if not isinstance(value, dict):
                    return _skip(damaged, path, value, f"{list_key} is {_kind(value)}, expected an object of threads")
                return _thread_sections(entity, value, path, damaged)
            if entity.kind in ("profile", "settings"):
                if not isinstance(value, dict):
                    return _skip(damaged, path, value, f"{list_key} is {_kind(value)}, expected an object")
                items = [value] if entity.kind == "profile" else setting_items(value)
                return [Section(entity, path, items, constants)]
            if entity.split is not None and isinstance(value, str):  # "Food|Travel": one string
                return [Section(entity, where, split_items(entity, [{list_key: value}]), constants)]
            if spec.single and isinstance(value, dict):  # one record, written as itself (LocationData)
                return [Section(entity, where, [value], constants)]
            if spec.map_id is not None:
                if not isinstance(value, dict):
                    return _skip(damaged, path, value, f"{list_key} is {_kind(value)}, expected an object of items")
                return [_map_section(entity, spec, value, where, constants, damaged)]
            if isinstance(value, LazyList):
                # a big list is read later, in blocks: only its first item is looked at now
                if value.first_char not in (b"{", b"n"):
                    return _skip(damaged, path, value, f"the items of {list_key} are not objects (the first is "
                                                       f"{_kind(value.first())})")
                return [Section(entity, where, value, constants)]
            if not isinstance(value, list):
                return _skip(damaged, path, value, f"{list_key} is {_kind(value)}, expected a list")
            items = _object_items(value, damaged, path, list_key)
            if items is None:
                return []
            return [Section(entity, where, split_items(entity, items), constants,
                            unreadable=sum(1 for i in value if i is not None and not isinstance(i, dict)))]
    # "{}" or only metadata siblings: present but empty; anything else is not this entity's shape
    return None if any(norm_key(k) not in METADATA_KEYS for k in body) else []


def _whole(value: Any) -> Any:
    """A value with a list the splitter left on disk (``LazyList``) read into memory: such a list inside
    an item of a map (an order's products) is small, and its row needs it whole."""
    if isinstance(value, LazyList):
        return [item for batch in value.item_batches() for item in batch]
    return value


def setting_items(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """A settings map as one item per setting; nested values (lists, maps) as compact JSON text."""
    def whole(value: Any) -> Any:  # a long list inside a setting was left on disk: read it now
        if isinstance(value, LazyList):
            return _whole(value)
        raise TypeError

    items = []
    for key, value in settings.items():
        try:
            text = value if isinstance(value, str) or value is None else \
                orjson.dumps(value, default=whole).decode()
        except orjson.JSONEncodeError:  # nested deeper than orjson writes: the setting is kept, its value not
            text = None
        items.append({"Setting": key, "SettingKey": norm_key(key), "Value": text})
    return items


def split_items(entity: Entity, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One item per value of a column that lists several (``Food|Travel``); others unchanged."""
    if entity.split is None:
        return items
    column_name, separator = entity.split
    keys = set(next(c for c in entity.columns if c.name == column_name).norm_keys)
    out: list[dict[str, Any]] = []
    for item in items:
        key = next((k for k in item if norm_key(k) in keys), None)
        value = item.get(key) if key is not None else None
        if not isinstance(value, str) or separator not in value:
            out.append(item)
            continue
        out.extend({**item, key: part.strip()} for part in value.split(separator) if part.strip())
    return out


def _map_section(entity: Entity, spec: JsonPath, value: dict[str, Any], where: str, constants: dict[str, Any],
                 damaged: dict[str, UnparsedSection]) -> Section:
    """Items of an ``id -> item`` map (``WatchLiveMap``), each with its id; with ``spec.children``, the items
    of that list inside every item instead (a LIVE's comments), each with the id of its parent."""
    id_key = next(c.keys[0] for c in entity.columns if c.name == spec.map_id)
    items: list[dict[str, Any]] = []
    unreadable = 0
    for map_id, item in value.items():
        if not isinstance(item, dict):
            unreadable += 1
            continue
        if all(_is_empty(v) for v in item.values()):
            continue  # a placeholder entry ("-1": nothing watched)
        item = {key: _whole(value) for key, value in item.items()}  # nested lists left on disk, read now
        if spec.children is None:
            items.append({**item, id_key: map_id})
            continue
        found = _ci_get(item, spec.children)
        children = found[1] if found else None
        if isinstance(children, list):
            items.extend({**child, id_key: map_id} for child in children if isinstance(child, dict))
            unreadable += sum(1 for child in children if child is not None and not isinstance(child, dict))
    if unreadable:
        log.warning("%s: %d items are not objects and were skipped", where, unreadable)
    return Section(entity, where if spec.children is None else f"{where} › {spec.children}", items, constants,
                   unreadable=unreadable)


def _thread_sections(entity: Entity, threads: dict[str, Any], path: str,
                     damaged: dict[str, UnparsedSection]) -> list[Section]:
    """One section per DM thread; a thread that is not a list of messages is skipped on its own."""
    out = []
    for key, items in threads.items():
        where = f"{path} › {key}"
        unreadable = 0
        if _is_empty(items):
            continue
        if isinstance(items, LazyList):
            if items.first_char not in (b"{", b"n"):
                _skip(damaged, where, items, "the messages of the thread are not objects")
                continue
        elif not isinstance(items, list):
            _skip(damaged, where, items, f"the thread is {_kind(items)}, expected a list of messages")
            continue
        else:
            raw_items = items
            items = _object_items(items, damaged, where, "the thread")
            if items is None:
                continue
            unreadable = sum(1 for i in raw_items if i is not None and not isinstance(i, dict))
        name = thread_name(key)
        out.append(Section(entity, where, items, {"conversation": name, "is_group": is_group_name(name)},
                           unreadable=unreadable, report_as=path))
    return out


def thread_name(key: str) -> str:
    """``Chat History with user_b:`` → ``user_b``."""
    name = re.sub(r"^\s*chat history with\s*", "", key, flags=re.IGNORECASE)
    return name.rstrip().rstrip(":").strip()


def is_group_name(name: str) -> bool:
    return name.lower().startswith("group_chat_") or name.lower().startswith("group chat")


_KNOWN_TOPS = frozenset(norm_key(top) for entity in ENTITIES for spec in entity.json_paths for top in spec.tops)


def _json_unparsed(root: dict[str, Any], claimed: set[tuple[str, str]], label: str,
                   damaged: dict[str, UnparsedSection]) -> list[UnparsedSection]:
    out = list(damaged.values())
    for top_key, top in root.items():
        if norm_key(top_key) in METADATA_KEYS:
            continue
        if not isinstance(top, dict):
            if not _is_empty(top):
                reason = f"expected an object, found {_kind(top)}" if norm_key(top_key) in _KNOWN_TOPS else NO_TABLE
                out.append(UnparsedSection(top_key, _count_items(top) or 1, _json_size(top), reason))
                if reason != NO_TABLE:
                    log.warning("%s: %s; section skipped", top_key, reason)
            continue
        for sub_key, body in top.items():
            if (top_key, sub_key) in claimed or norm_key(sub_key) in METADATA_KEYS:
                continue
            path = f"{top_key} › {sub_key}"
            if path not in damaged:
                out.append(UnparsedSection(path, _count_items(body), _json_size(body)))
    _warn_unparsed(label, [u for u in out if u.reason == NO_TABLE])
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

    try:
        return len(orjson.dumps(value, default=default)) + sum(lazy.length + 2 - 4 for lazy in lazies)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes (255 levels): walk it without recursion
        return _walked_size(value)


def _walked_size(value: Any) -> int:
    """``_json_size`` for values of any depth (the same number, computed without recursion)."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            total += 2 + max(len(item) - 1, 0) + sum(len(orjson.dumps(k)) + 1 for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            total += 2 + max(len(item) - 1, 0)
            stack.extend(item)
        elif isinstance(item, LazyList):
            total += item.length + 2
        else:
            total += len(orjson.dumps(item))
    return total


def _count_items(value: Any, depth: int = 0) -> int:
    """Items in a section for the unparsed report (below 64 levels a nested value counts as one)."""
    if isinstance(value, (list, LazyList)):
        return len(value)
    if isinstance(value, dict):
        if depth > 64:
            return 1
        return sum(_count_items(v, depth + 1) if isinstance(v, (list, dict, LazyList)) else 0
                   for v in value.values()) or (
            1 if any(not _is_empty(v) and norm_key(k) not in METADATA_KEYS for k, v in value.items()) else 0)
    return 0 if _is_empty(value) else 1


# --- streaming big JSON documents ---------------------------------------------------------------

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
            text = decode_text(data, name)
        except ValueError as exc:  # one file is one section: it is skipped, the rest loads
            log.warning("%s: %s; section skipped", container.display, exc)
            unparsed.append(UnparsedSection(name, 0, len(data), str(exc).removeprefix(f"{name} is ")))
            continue
        entity = _TXT_ENTITY.get(base)
        if entity is None:
            records = parse_records(text)
            unparsed.append(UnparsedSection(name, len(records.records), len(data)))
            continue
        found = _txt_sections(entity, name, text)
        if found is None:  # the table's file, in a form the grammar does not know: never a quiet gap
            lines = sum(1 for line in text.splitlines() if line.strip())
            reason = (f"read as {entity.table}, but no record could be read from its {lines} lines: a format this "
                      "version does not know")
            log.warning("%s: %s: %s; section recorded in unparsed_sections", container.display, name, reason)
            unparsed.append(UnparsedSection(name, lines, len(data), reason))
            continue
        sections.setdefault(entity.table, []).extend(found)
    _warn_unparsed(container.display, [u for u in unparsed if u.reason == NO_TABLE])
    return OpenedArchive(container.path, container.sha256(), "txt", generation, sections, unparsed, epoch)


def _txt_sections(entity: Entity, name: str, text: str) -> list[Section] | None:
    """The sections of a table's TXT file; None when the file holds lines but not one record could be read."""
    if entity.kind == "messages":
        parsed_threads = parse_direct_messages(text)
        if not parsed_threads.threads and parsed_threads.unplaced_lines:
            return None
        out = [Section(entity, f"{name} › {thread}", items, {"conversation": thread, "is_group": is_group_name(thread)},
                       report_as=name)
               for thread, items in parsed_threads.threads.items()]
        if parsed_threads.unplaced_lines:
            _warn_unplaced(name, parsed_threads.unplaced_lines)
            if out:
                out[0].unreadable += parsed_threads.unplaced_lines
        return out
    parsed = parse_records(text, _txt_labels(entity))
    if not parsed.records:
        return None if parsed.unplaced_lines else []
    if parsed.unplaced_lines:
        _warn_unplaced(name, parsed.unplaced_lines)
    if entity.kind == "profile":
        return [Section(entity, name, parsed.records[:1], unreadable=parsed.unplaced_lines)]
    if entity.kind == "settings":
        items = [{"Setting": parsed.labels.get(k, k), "SettingKey": k, "Value": v}
                 for record in parsed.records for k, v in record.items()]
        return [Section(entity, name, items, unreadable=parsed.unplaced_lines)]
    header_constants = {norm_key(h): dict(c) for h, c in entity.txt_constants_by_header}
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for record, header in zip(parsed.records, parsed.headers):
        groups.setdefault(header, []).append(record)
    out = [Section(entity, name if header is None else f"{name} › {header}", split_items(entity, items),
                   header_constants.get(norm_key(header or ""), {}))
           for header, items in groups.items()]
    out[0].unreadable += parsed.unplaced_lines
    return out


def _txt_labels(entity: Entity) -> frozenset[str]:
    return frozenset(k for c in entity.columns for k in c.norm_keys) | {"date"}


def _warn_unplaced(name: str, lines: int) -> None:
    log.warning("%s: %d lines fit no record and were not loaded (counted in load_report)", name, lines)
