"""Per-user cursors that never lose rows, and follower/following history across exports.

**Coverage instead of a single cursor.** An export holds every event of a list between its oldest
and newest row, but TikTok keeps only ~6 months of watch history, so users stitch exports together,
sometimes loading an older one after a newer one. A classic ``max(timestamp)`` cursor would drop
the older archive's rows. Instead each (table, user) remembers the time intervals already loaded;
an incoming row is skipped only when it lies strictly inside one of them, where a loaded archive
already held the same events. Rows on a boundary or outside are sent and the merge on ``row_key``
makes them idempotent. State is a few intervals per user and table, kept in the destination
(``user_state.py``).

**Snapshots.** Followers and following lists are snapshots: a name missing from a later export was
unfollowed. Each account keeps ``first_seen_at`` / ``last_seen_at`` (export times) and
``disappeared_at`` = the first export after ``last_seen_at``; these are recomputed from the
previously loaded rows and the list of snapshot times, so exports may arrive in any order.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

Interval = list[str]  # [lo, hi] ISO-8601 UTC


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat()


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def covered_mask(times: pa.Array, intervals: list[Interval]) -> pa.Array:
    """True for rows strictly inside an already-loaded interval (safe to skip)."""
    inside = pa.array([False] * len(times), pa.bool_())  # typed: an empty block has no values to infer from
    for lo, hi in intervals:
        lo_s = pa.scalar(_parse(lo), times.type)
        hi_s = pa.scalar(_parse(hi), times.type)
        inside = pc.or_(inside, pc.and_(pc.greater(times, lo_s), pc.less(times, hi_s)))
    return pc.fill_null(inside, False)


def add_interval(intervals: list[Interval], lo: datetime, hi: datetime) -> list[Interval]:
    """Union of intervals, merged where they overlap, sorted."""
    spans = sorted([(_parse(a), _parse(b)) for a, b in intervals] + [(lo, hi)])
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return [[_iso(a), _iso(b)] for a, b in merged]


def time_range(times: pa.Array) -> tuple[datetime, datetime] | None:
    bounds = pc.min_max(times).as_py()
    if bounds["min"] is None:
        return None
    return bounds["min"], bounds["max"]


class Coverage:
    """Drops rows inside windows already loaded for one user and table; ``seen`` then gives the time
    range of every row seen (kept or dropped), once the archive's rows all went through. ``keep`` may be called from the thread that parses blocks, ``filter`` from the
    consumer."""

    def __init__(self, intervals: list[Interval] | None, time_column: str) -> None:
        self.time_column = time_column
        self.intervals = list(intervals or [])
        self.bounds: tuple[datetime, datetime] | None = None
        self._lock = threading.Lock()

    def keep(self, times: pa.Array) -> pa.Array | None:
        """Rows to keep (None: all of them), noting the time range of all."""
        bounds = time_range(times)
        if bounds:
            self.saw(*bounds)
        return pc.invert(covered_mask(times, self.intervals)) if self.intervals else None

    def saw(self, lo: datetime, hi: datetime) -> None:
        """Note rows between ``lo`` and ``hi`` that were not read (a block known from an earlier load)."""
        with self._lock:
            self.bounds = (lo, hi) if self.bounds is None else (min(self.bounds[0], lo), max(self.bounds[1], hi))

    def filter(self, table: pa.Table) -> pa.Table:
        mask = self.keep(table[self.time_column].combine_chunks())
        return table if mask is None else table.filter(mask)

    def seen(self) -> list[Interval] | None:
        """The time range of every row this archive held, as a window (None if it had no rows)."""
        return [[_iso(self.bounds[0]), _iso(self.bounds[1])]] if self.bounds else None


def within(lo: datetime, hi: datetime, intervals: list[Interval]) -> bool:
    """``lo``..``hi`` lies inside one of ``intervals`` (ends included)."""
    return any(_parse(a) <= lo and hi <= _parse(b) for a, b in intervals)


def union(windows: list[list[Interval]]) -> list[Interval]:
    """One list of windows from several (each archive's, and an older version's list)."""
    merged: list[Interval] = []
    for intervals in windows:
        for lo, hi in intervals:
            merged = add_interval(merged, _parse(lo), _parse(hi))
    return merged


@dataclass
class Observation:
    """What we know of one account in one user's follower (or following) list."""

    username: str
    followed_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime


def merge_snapshot(previous: dict[str, Observation], current: dict[str, datetime | None],
                   snapshot_at: datetime) -> dict[str, Observation]:
    """Fold one export's list into what earlier exports said; exports may come in any order."""
    merged = dict(previous)
    for username, followed_at in current.items():
        before = merged.get(username)
        if before is None:
            merged[username] = Observation(username, followed_at, snapshot_at, snapshot_at)
            continue
        newer = snapshot_at >= before.last_seen_at
        merged[username] = Observation(
            username,
            followed_at if newer and followed_at is not None else before.followed_at or followed_at,
            min(before.first_seen_at, snapshot_at),
            max(before.last_seen_at, snapshot_at),
        )
    return merged


def disappeared_at(last_seen_at: datetime, snapshots: list[datetime]) -> datetime | None:
    """The first export after the last one that listed the account, if any."""
    index = bisect_right(snapshots, last_seen_at)
    return snapshots[index] if index < len(snapshots) else None


def snapshot_rows(observations: dict[str, Observation], snapshots: list[datetime]) -> list[dict[str, Any]]:
    ordered = sorted(snapshots)
    rows = []
    for obs in sorted(observations.values(), key=lambda o: o.username):
        gone = disappeared_at(obs.last_seen_at, ordered)
        rows.append({"username": obs.username, "followed_at": obs.followed_at, "first_seen_at": obs.first_seen_at,
                     "last_seen_at": obs.last_seen_at, "disappeared_at": gone, "is_current": gone is None})
    return rows
