"""Where each table's sections sit in a JSON export, found by keys (``layouts.py``), never by date.

Every sub-section no table takes becomes an ``UnparsedSection``; a section of the wrong shape is
skipped and recorded with its reason, and the rest of the archive still loads.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from .. import settings
from ..errors import ArchiveError
from ..layouts import ENTITIES, METADATA_KEYS, Entity, JsonPath, detect_family, norm_key
from . import jsonstream
from .jsonstream import _LAZY_MARK, _READ_BYTES, LazyList, _as_utf8, _attach_lazies, _json_error
from .model import _SENTINELS, NO_TABLE, OpenedArchive, Section, UnparsedSection

log = logging.getLogger(__name__)


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
    spool = None if plain_file is not None else jsonstream._Spool()
    nonce = os.urandom(8).hex()
    try:
        try:
            with opener() as stream, jsonstream._ReadAhead(stream.read, _READ_BYTES) as ahead:
                skeleton, spans = jsonstream._split_json(ahead.read, spool, settings.JSON_INLINE_BYTES, nonce.encode())
        finally:
            if spool is not None:
                spool.finish()
        root = orjson.loads(skeleton)
    except (jsonstream._NotSplittable, orjson.JSONDecodeError):
        # invalid, truncated or unusually formatted: parse it whole (the error then says where)
        with opener() as stream:
            data = stream.read()
        return _from_json(source, label, data, sha256(), epoch)
    del skeleton
    lazies: list[LazyList] = []
    if spans:
        where: Any = spool if spool is not None else plain_file
        lazies = [LazyList(where, offset, length, label, spool) for offset, length in spans]
        if not isinstance(root, dict):
            raise ArchiveError(f"{label}: expected a JSON object at the top, found "
                               f"{'a list' if isinstance(root, str) else _kind(root)}")
        root = _attach_lazies(root, lazies, _LAZY_MARK.format(nonce))
    archive = _from_root(source, label, root, sha256(), epoch)
    # a big list that no table reads (an unknown section, a key beside the one a table reads) is checked
    # now, as a small one is by the document's parse: damage anywhere refuses the archive
    read = {id(s.items) for found in archive.sections.values() for s in found}
    for lazy in lazies:
        if id(lazy) not in read:
            lazy.validate()
    return archive


def validate_lists(archive: OpenedArchive, tables: Iterable[str]) -> None:
    """Check the big lists of ``tables`` that this load will not read (excluded tables, sensitive ones
    not opted in to), as the lists it reads are checked while they are: an archive with damage in one
    of them is refused like any other. ``ArchiveError`` names the file and the list."""
    for table in tables:
        for section in archive.sections_for(table):
            if isinstance(section.items, LazyList):
                section.items.validate()


def _from_json(source: Path, label: str, data: bytes, sha256: str, epoch: datetime | None) -> OpenedArchive:
    data = _as_utf8(data, label)
    try:
        root = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _json_error(label, exc, data) from None
    del data
    return _from_root(source, label, root, sha256, epoch)


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


def _skip(damaged: dict[str, UnparsedSection], path: str, value: Any, reason: str,
          conversation: str | None = None) -> list[Section]:
    """Record a section whose shape is wrong (it loads no rows) and load the rest of the archive."""
    log.warning("%s: %s; section skipped", path, reason)
    damaged.setdefault(path, UnparsedSection(path, _count_items(value) or 1, _json_size(value), reason,
                                             conversation))
    return []


def _object_items(items: list[Any], damaged: dict[str, UnparsedSection], path: str,
                  list_key: str, conversation: str | None = None) -> list[dict[str, Any]] | None:
    """The items of a list of records. The first item decides, as it does for a big list read later
    (only its first item is looked at up front): not an object (nor null) → the section is skipped and
    recorded in ``damaged`` (None); otherwise stray non-object items are dropped with a warning."""
    if items and items[0] is not None and not isinstance(items[0], dict):
        _skip(damaged, path, items, f"the items of {list_key} are not objects (the first is {_kind(items[0])})",
              conversation)
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
    for number, (key, items) in enumerate(threads.items(), start=1):
        name = thread_name(key)
        where = f"{path} › thread {number}"  # by position: the thread's name is a third party's
        unreadable = 0
        if _is_empty(items):
            continue
        if isinstance(items, LazyList):
            if items.first_char not in (b"{", b"n"):
                _skip(damaged, where, items, "the messages of the thread are not objects", name)
                continue
        elif not isinstance(items, list):
            _skip(damaged, where, items, f"the thread is {_kind(items)}, expected a list of messages", name)
            continue
        else:
            raw_items = items
            items = _object_items(items, damaged, where, "the thread", name)
            if items is None:
                continue
            unreadable = sum(1 for i in raw_items if i is not None and not isinstance(i, dict))
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
        what = "1 section no table reads was" if len(with_data) == 1 else f"{len(with_data)} sections no table reads were"
        log.warning("%s: %s recorded in unparsed_sections (counted, not loaded): %s", label, what, "; ".join(with_data))


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
    if isinstance(value, LazyList):
        return value.item_count()
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        if depth > 64:
            return 1
        return sum(_count_items(v, depth + 1) if isinstance(v, (list, dict, LazyList)) else 0
                   for v in value.values()) or (
            1 if any(not _is_empty(v) and norm_key(k) not in METADATA_KEYS for k, v in value.items()) else 0)
    return 0 if _is_empty(value) else 1
