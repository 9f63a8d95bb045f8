"""What reading an archive gives: its sections per table, what no table took, and its lineage."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from ..layouts import ENTITIES, SENTINELS, Entity, norm_key
from .jsonstream import LazyList, newest_text

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
    # a DM thread's raw name: a third party's, so it stays out of ``path`` (and so out of every log line);
    # only the privacy layer shows it, pseudonymised when the settings ask for that
    conversation: str | None = None


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
