"""Open an export (ZIP, bare JSON, extracted folder, ZIP or folder of TXT files) and find its sections.

Nothing is extracted to disk: ZIP members are read in memory under size limits, so a hostile
member path cannot escape anywhere. The layout is found by keys (``layouts.py``), never by date.
Every section no table takes is kept as an ``UnparsedSection`` so that nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

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
    items: list[dict[str, Any]]
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
        info = self.infos[name]
        limit = settings.MAX_MEMBER_BYTES
        if info.file_size > limit or (
            info.file_size > 1 << 20 and info.file_size > settings.MAX_COMPRESSION_RATIO * max(info.compress_size, 1)
        ):
            raise ArchiveError(f"{self.display}: member {name} is {info.file_size} bytes uncompressed "
                               f"({info.compress_size} compressed), over the limits (possible zip bomb)")
        try:
            with self.zip.open(info) as member:
                data = member.read(limit + 1)
        except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as exc:
            raise ArchiveError(f"{self.display}: member {name} cannot be read ({exc}); the ZIP is damaged or "
                               "truncated, download it again") from None
        if len(data) > limit:
            raise ArchiveError(f"{self.display}: member {name} is larger than {limit} bytes")
        return data

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
        target = self.path / name
        if target.stat().st_size > settings.MAX_MEMBER_BYTES:
            raise ArchiveError(f"{self.display}: {name} is larger than {settings.MAX_MEMBER_BYTES} bytes")
        return target.read_bytes()

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name in self._names:
            if name.lower().endswith((".json", ".txt")):
                digest.update(name.encode() + b"\0")
                digest.update(hashlib.sha256((self.path / name).read_bytes()).digest())
        return digest.hexdigest()


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
            sha = file_sha256(path)
            archive = _from_json(path, path.name, path.read_bytes(), sha, epoch=None)
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
            data = container.read(member)
            return _from_json(container.path, f"{container.display}: {member}", data, container.sha256(), epoch)
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
    return value is None or value == [] or value == {} or (isinstance(value, str) and value.strip() in _SENTINELS)


def _from_json(source: Path, label: str, data: bytes, sha256: str, epoch: datetime | None) -> OpenedArchive:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        root = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ArchiveError(f"{label} is not valid JSON ({exc}); re-download the export or fix the file") from None
    del data
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
        if not isinstance(items, list):
            continue
        name = thread_name(key)
        out.append(Section(entity, f"{path} › {key}", [i for i in items if isinstance(i, dict)],
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
                out.append(UnparsedSection(top_key, _count_items(top), len(orjson.dumps(top))))
            continue
        for sub_key, body in top.items():
            if (top_key, sub_key) in claimed or norm_key(sub_key) in METADATA_KEYS:
                continue
            out.append(UnparsedSection(f"{top_key} › {sub_key}", _count_items(body), len(orjson.dumps(body))))
    _warn_unparsed(label, out)
    return out


def _warn_unparsed(label: str, sections: list[UnparsedSection]) -> None:
    """One warning per archive, naming the sections with data that no table took."""
    with_data = [f"{s.path} ({s.item_count})" for s in sections if s.item_count]
    if with_data:
        log.warning("%s: %d sections have no table and were recorded in unparsed_sections: %s",
                    label, len(with_data), "; ".join(with_data))


def _count_items(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return sum(_count_items(v) if isinstance(v, (list, dict)) else 0 for v in value.values()) or (
            1 if any(not _is_empty(v) and norm_key(k) not in METADATA_KEYS for k, v in value.items()) else 0)
    return 0 if _is_empty(value) else 1


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
