"""The TXT export grammar: blocks of ``Label: value`` lines, and the DM threads' own grammar.

Kept apart from the container code because the grammar has its own quirks: values contain colons
(split on the first one), ``HashTag Link::`` has two, empty values are ``Label: ``, header lines open
sub-sections, and a whole file may be a localised "no data" sentence. A line that is no label line
(an image URL of a photo post, the second line of a comment) continues the value before it: it never
starts a record of its own. Lines the grammar cannot place are counted, never dropped unseen.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from ..errors import ArchiveError
from ..layouts import (
    ENTITIES,
    MULTILINE_LABELS,
    NO_DATA_FILES,
    NO_DATA_LINES,
    NO_DATA_PREFIXES,
    TXT_GENERATIONS,
    Entity,
    norm_key,
)
from .containers import _Container
from .jsonstream import bom_encoding
from .model import NO_TABLE, OpenedArchive, Section, UnparsedSection
from .sections import _warn_unparsed, is_group_name, split_items

log = logging.getLogger(__name__)
@dataclass
class TxtRecords:
    """Records of one TXT file; ``header`` tells which sub-section each record came from."""

    records: list[dict[str, str]] = field(default_factory=list)
    headers: list[str | None] = field(default_factory=list)
    is_empty_sentinel: bool = False
    unplaced_lines: int = 0  # lines that neither start nor continue a record (reported, never silent)
    labels: dict[str, str] = field(default_factory=dict)  # normalised label -> as first written


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 with an optional BOM, or UTF-16 / UTF-32 with its BOM (an editor's "Unicode" save);
    anything else is an error naming the file and the first bad byte."""
    encoding = bom_encoding(data) or "utf-8"  # the BOM says which byte order, and is dropped
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        shown = encoding.upper().removesuffix("-SIG")
        raise ValueError(f"{name} is not valid {shown} text (byte {exc.start})") from None


def is_no_data(line: str) -> bool:
    key = norm_key(line)
    return key in NO_DATA_LINES or any(key.startswith(p) for p in NO_DATA_PREFIXES)


_LABEL = re.compile(r"^[^\W\d_][^:\[\]/]{0,59}$")  # a word first, no URL or bracket inside, short


def _label_of(line: str) -> tuple[str, str] | None:
    """(label, value) when ``line`` is shaped like ``Label: value``; a URL (``https://…``) is not."""
    label, sep, value = line.partition(":")
    if not sep or value.startswith("//") or not _LABEL.match(label.strip()):
        return None
    return label.strip(), value.lstrip(":").strip()  # "HashTag Link:: url" has two colons


def parse_records(text: str, labels: Collection[str] = ()) -> TxtRecords:
    """Split a TXT section into records; a repeated label also starts a new record.

    ``labels`` are the normalised labels the reading table knows. Inside a free-text value (a comment,
    a title: ``MULTILINE_LABELS``) a line shaped like a label continues the text unless its label is
    one of those; elsewhere any label-shaped line starts a field, so an unknown label never merges
    into another field's value."""
    out = TxtRecords()
    current: dict[str, str] = {}
    last: str | None = None  # the field a continuation line extends
    header: str | None = None
    saw_sentinel = False
    known = frozenset(labels)

    def flush() -> None:
        nonlocal current, last
        if current:
            out.records.append(current)
            out.headers.append(header)
            current, last = {}, None

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
            continue
        if is_no_data(line):
            flush()
            saw_sentinel = True
            continue
        if line.startswith("(") and not current:  # "(Note: activity may take days to appear.)"
            continue
        pair = _label_of(line)
        if pair is not None and last in MULTILINE_LABELS and norm_key(pair[0]) not in known:
            pair = None  # "second line: still the comment"
        if pair is None:
            if last is not None:  # an image URL after "Link:", the next line of a comment
                current[last] = f"{current[last]}\n{line}" if current[last] else line
            elif line.endswith(":") or ":" not in line:
                header = line.rstrip(":").strip()  # "Send Gifts History:" opens a sub-section
            else:
                out.unplaced_lines += 1
            continue
        label, value = pair
        if not value and not current and not raw.rstrip("\r\n").endswith(" ") and norm_key(label) not in known:
            flush()  # "Buy Gifts History:" at the start of a block: a header, not an empty field
            header = label
            continue
        key = norm_key(label)
        if key in current:
            flush()
        current[key] = value
        out.labels.setdefault(key, label)
        last = key
    flush()
    out.is_empty_sentinel = saw_sentinel and not out.records
    return out


@dataclass
class TxtThreads:
    """DM threads of one file (name -> messages) and the lines that fit no thread."""

    threads: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    unplaced_lines: int = 0


# linear patterns (no nested quantifiers): a hostile line cannot make them backtrack
_THREAD = re.compile(r"^>+\s*Chat History with (?P<name>.+)$", re.IGNORECASE)
_TIME = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?: ?UTC|Z)?"
# 2022 and older: "[2022-01-01 10:00:00] sender: text"; 2023 on: "2025-12-20 23:09:06 UTC sender: text"
_MESSAGE = re.compile(rf"^(?:\[(?P<bracketed>{_TIME})\]|(?P<plain>{_TIME}))\s+(?P<sender>[^:\s][^:]*?):(?: |$)(?P<content>.*)$")


def parse_direct_messages(text: str) -> TxtThreads:
    """``>>> Chat History with <name>:`` (``::`` since 2023) threads of message lines in either grammar.
    A line that is no message continues the message before it (texts span lines)."""
    out = TxtThreads()
    current: list[dict[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or is_no_data(stripped):
            continue
        thread = _THREAD.match(stripped)
        if thread:
            name = thread.group("name").rstrip()
            while name.endswith(":"):
                name = name[:-1].rstrip()
            current = out.threads.setdefault(name, [])
            continue
        message = _MESSAGE.match(stripped)
        if message and current is not None:
            current.append({"date": message.group("bracketed") or message.group("plain"),
                            "from": message.group("sender").strip(), "content": message.group("content")})
        elif current:
            current[-1]["content"] += "\n" + line  # a message text spanning several lines
        else:
            out.unplaced_lines += 1  # before any thread or message: nothing it could belong to
    return out


# --- a whole TXT export --------------------------------------------------------------------

_TXT_ENTITY = {name: entity for entity in ENTITIES for name in entity.txt_names}


def _from_txt(container: _Container, names: list[str], epoch: datetime | None) -> OpenedArchive:
    sections: dict[str, list[Section]] = {}
    unparsed: list[UnparsedSection] = []
    bases = {norm_key(PurePosixPath(n).stem) for n in names}
    if not bases & (set(_TXT_ENTITY) | set(NO_DATA_FILES)):
        raise ArchiveError(f"{container.display}: none of its {len(names)} .txt files is one TikTok writes (such as "
                           "'Watch History.txt'); is this a TikTok export? If it is one in a layout this version "
                           "does not know, please report it")
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
