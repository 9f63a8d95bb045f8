"""Reconciliation: every record an export holds either becomes a row or is counted with its reason.

For each archive and each section a table reads, the table's transformer counts what it saw and what
became of it: written, already loaded (inside a time window an earlier load covered), a repeat (the
same key twice: exact duplicate rows), empty (every field a sentinel such as ``N/A``) or unreadable
(a JSON item that is not an object, a TXT line that fits no record). The counts land in the
``load_report`` table and in the end-of-load summary. A section that held records and produced no row
for a known reason is a format this version does not know: it gets a warning and an
``unparsed_sections`` row, so a format change shows on the first load instead of as a gap in a chart.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger(__name__)

REPORT_TABLE = "load_report"
COUNTS = ("records", "written", "already_loaded", "repeats", "empty", "unreadable")
REPORT_COLUMNS: dict[str, Any] = {
    **{c: {"data_type": "text"} for c in ("archive", "archive_sha256", "table_name", "section")},
    **{c: {"data_type": "bigint"} for c in COUNTS},
    "loaded_at": {"data_type": "timestamp", "timezone": True},
}


@dataclass
class Tally:
    """What one table made of one section (or DM file) of one archive."""

    table: str
    section: str
    records: int = 0  # items / records read, unreadable ones included
    written: int = 0
    already_loaded: int = 0
    repeats: int = 0
    empty: int = 0
    unreadable: int = 0

    def step(self, field: str, before: int, after: int) -> int:
        """Count the rows a step removed under ``field``; returns what is left."""
        setattr(self, field, getattr(self, field) + before - after)
        return after

    @property
    def unexplained(self) -> bool:
        """Records were there and not one became a row, was loaded before or repeated another."""
        return self.records > 0 and self.written + self.already_loaded + self.repeats == 0

    def reason(self) -> str:
        return (f"read as {self.table}, but none of its {self.records} records gave a row "
                f"({self.empty} without a field the table reads, {self.unreadable} unreadable): "
                "a format this version does not know")


def report_rows(user_id: str, archive_name: str, archive_sha256: str, tallies: list[Tally],
                key: Any) -> list[dict[str, Any]]:
    """``load_report`` rows (``key(user, parts)`` makes the row key), newest counts per archive and section."""
    now = datetime.now(timezone.utc)
    rows = []
    for tally in tallies:
        counts = asdict(tally)
        rows.append({"user_id": user_id, "row_key": key(user_id, [archive_sha256, tally.table, tally.section]),
                     "archive": archive_name, "archive_sha256": archive_sha256, "table_name": tally.table,
                     "section": tally.section, **{c: counts[c] for c in COUNTS}, "loaded_at": now})
    return rows
