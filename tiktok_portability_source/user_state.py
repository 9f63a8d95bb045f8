"""Per-user bookkeeping in the destination: the table ``_tiktok_user_state``.

What a load must remember about a user (the time windows of each event table already loaded, the
export times of the follower and following snapshots) lives in rows of its own. It used to live in
dlt's state: one blob for every user that each load rewrote and that dlt keeps a version of per
load (~100 bytes a user: megabytes rewritten per load at 100,000 users), and two loads of different
users could not run side by side without one overwriting the other's windows. Now a load reads
the rows of its own users only and adds only theirs; ``forget`` deletes them with the user's other
rows (the table has a ``user_id``).

**Facts, not a document.** Each row is one archive's contribution to one (user, kind, table): the
time range of the rows it held, its export time, or the blocks of a big list it read in full (their
digest, row count and time range: ``helpers.KnownBlocks``, which lets a later export skip them). Its key is the archive's checksum, so loading
an archive again writes the same row, and what a user's entry is (the union of its facts) does not
depend on the order in which rows arrive: a load package finished late, after a crash or on another
worker, can only add to it, never put an older copy back over a newer one.

The rows travel in the same load package as the data they describe (see ``__init__.py`` for how the
source makes them after the table resources), and a fact counts only once dlt recorded its load as
complete (``_dlt_loads``): a load killed half-way may have merged this table and not another, and if
its package is gone with its working folder (an orchestrator's per-run folder), trusting its facts
would skip rows that never arrived.
A dataset loaded before this table existed keeps its windows: an entry kept in dlt's resource state
is read as one more fact, and moved into the table (deleted from dlt's state) when it next changes.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

import dlt

from . import destination

log = logging.getLogger(__name__)

USER_STATE_TABLE = "_tiktok_user_state"
# kinds: loaded windows of a table; snapshot export times; blocks of a big list read in full
COVERAGE, SNAPSHOTS, BLOCKS = "coverage", "snapshots", "blocks"
LEGACY = "dlt state"  # the ``source`` of a fact moved from dlt's state

# declared up front: every column is text but the time it was written
COLUMNS: dict[str, Any] = {
    **{name: {"data_type": "text"} for name in ("user_id", "row_key", "kind", "table_name", "source", "value")},
    "updated_at": {"data_type": "timestamp", "timezone": True},
}

Entry = tuple[str, str]  # (kind, table)
T = TypeVar("T")


class PerArchive(Generic[T]):
    """Values kept per archive object while it is being loaded: by identity (the same export twice in
    one load is two archives), and weakly (archives are big; an id may be reused once one is gone)."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[weakref.ref[Any], T]] = {}

    def get(self, archive: Any) -> T | None:
        ref, value = self._items.get(id(archive), (None, None))
        return value if ref is not None and ref() is archive else None

    def setdefault(self, archive: Any, value: T) -> T:
        found = self.get(archive)
        if found is None:
            self._items[id(archive)] = (weakref.ref(archive), value)
            return value
        return found

    def pop(self, archive: Any) -> T | None:
        found = self.get(archive)
        self._items.pop(id(archive), None)
        return found


class Sealed:
    """Archives whose bookkeeping rows went out: adding to one after that would lose it. The source
    makes those rows in resources that wait for the table resources (``helpers.wait_for_tables``);
    should one run too early all the same, the load fails instead of losing a window or a count."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._sealed: PerArchive[bool] = PerArchive()

    def seal(self, archive: Any) -> None:
        self._sealed.setdefault(archive, True)

    def check(self, archive: Any, change: str) -> None:
        if self._sealed.get(archive):
            raise RuntimeError(f"{archive.name}: {change} after the archive's {self.what} rows were made "
                               "(the bookkeeping resources ran before the table resources were done with it)")


class UserState:
    """The facts of the users of one load: read on first need (the users the load already knows in
    one query), added to in memory, and handed out as rows for the destination per archive."""

    def __init__(self, known_users: Sequence[str] = (), pipeline: Callable[[], Any] = lambda: None) -> None:
        """``pipeline``: the running pipeline, None outside one (nothing loaded before, then)."""
        self.known_users = list(dict.fromkeys(known_users))
        self.pipeline = pipeline
        self.facts: dict[str, dict[Entry, list[Any]]] = {}
        self.new: dict[str, list[dict[str, Any]]] = {}  # user -> rows not handed out yet
        self.sealed = Sealed(USER_STATE_TABLE)

    def get(self, user_id: str, kind: str, table: str) -> list[Any]:
        """The values of every fact of an entry: this load's, the destination's, and the one an older
        version kept in dlt's state."""
        if user_id not in self.facts:
            self._read([user_id, *(u for u in self.known_users if u not in self.facts)])
        legacy = _legacy_section(kind, table).get(user_id)
        return [*self.facts[user_id].get((kind, table), []), *([legacy] if legacy is not None else [])]

    def add(self, user_id: str, kind: str, table: str, value: Any, archive: Any) -> None:
        """Record what ``archive`` (an ``OpenedArchive``) adds to an entry."""
        from .records import row_key

        self.sealed.check(archive, f"{kind} of {table} changed")
        self.get(user_id, kind, table)
        self.facts[user_id].setdefault((kind, table), []).append(value)
        rows = self.new.setdefault(user_id, [])
        legacy = _legacy_section(kind, table).pop(user_id, None)
        if legacy is not None:  # moved here from dlt's state
            self.facts[user_id][(kind, table)].append(legacy)
            rows.append(_row(user_id, kind, table, LEGACY, legacy, row_key))
        rows.append(_row(user_id, kind, table, archive.sha256, value, row_key))

    def rows(self, user_id: str, archive: Any) -> list[dict[str, Any]]:
        """The rows of the facts added for ``user_id`` since the last call (by ``archive``)."""
        self.sealed.seal(archive)
        return self.new.pop(user_id, [])

    def _read(self, user_ids: list[str]) -> None:
        for user in user_ids:
            self.facts.setdefault(user, {})
        pipeline = self.pipeline()
        if pipeline is None:
            return
        found = destination.rows_of_users(pipeline, USER_STATE_TABLE, ("kind", "table_name", "value"), user_ids,
                                          completed_loads_only=True)
        for user, rows in found.items():
            for kind, table, value in rows:
                self.facts[user].setdefault((kind, table), []).append(json.loads(value))


def _row(user_id: str, kind: str, table: str, source: str, value: Any, row_key: Any) -> dict[str, Any]:
    return {"user_id": user_id, "row_key": row_key(user_id, USER_STATE_TABLE, kind, table, source), "kind": kind,
            "table_name": table, "source": source, "value": json.dumps(value, separators=(",", ":")),
            "updated_at": datetime.now(timezone.utc)}


def _legacy_section(kind: str, table: str) -> dict[str, Any]:
    """``resources.<table>.<kind>`` of the source's dlt state, where older versions kept entries by user."""
    try:
        resources = dlt.current.source_state().get("resources", {})
    except Exception:  # outside a pipeline
        return {}
    return resources.get(table, {}).get(kind, {})
