"""What the source's resources do with one archive: one function per kind of table, and the per-load
bookkeeping they share (``LoadState``).

Kept out of ``__init__.py`` so the source stays a list of thin resources (the dlt verified-source
shape), and imported only when rows are made: pyarrow and DuckDB load then, not in a process that
only downloads archives.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc

from . import destination, history
from .user_state import BLOCKS, COVERAGE, SNAPSHOTS, PerArchive, Sealed, UserState
from .archive import OpenedArchive, Section, UnparsedSection, is_group_name
from .errors import ArchiveError
from .layouts import ENTITIES, EVENT_TABLES, SENTINELS, Entity
from .privacy import PrivacySettings
from .reconcile import REPORT_COLUMNS, REPORT_TABLE, Tally, report_rows
from .records import (
    TIMESTAMP,
    KeySet,
    drop_empty_rows,
    gather,
    keyed_table,
    row_key,
    row_keys,
    section_tables,
    typed_columns,
)

log = logging.getLogger(__name__)

MERGE = {"disposition": "merge", "strategy": "delete-insert"}


class EndOfRun:
    """What the ``exports`` resource yields after the last archive of a run of several: the event
    tables hand dlt the rows they gathered across archives (``LoadState.gathered``)."""


END_OF_RUN = EndOfRun()


@dataclass
class LoadState:
    """What one load remembers across its archives and tables."""

    user_ids: list[str]  # the users the load's inputs name (API mode), for one snapshot query for all
    archive_count: int
    privacy: PrivacySettings
    opted_in: frozenset[str] = frozenset()
    skip_loaded_windows: bool = True
    batch_rows: int = 100_000
    # (table, user) -> the follower/following history as folded in so far by this load
    snapshots: dict[tuple[str, str], dict[str, history.Observation]] = field(default_factory=dict)
    # user -> event tables that already hold rows of theirs (None: cannot tell)
    holding: dict[str, set[str] | None] = field(default_factory=dict)
    # event table -> keys sent in this load, across its archives
    sent_keys: dict[str, KeySet] = field(default_factory=dict)
    # windows and snapshot times of the load's users (``_tiktok_user_state``)
    user_state: UserState = field(init=False)
    # archive -> what became of its records, per table and section, until ``load_report`` takes them
    tallies: PerArchive[list[Tally]] = field(default_factory=PerArchive)
    reported: Sealed = field(default_factory=lambda: Sealed(REPORT_TABLE))
    table_names: frozenset[str] = frozenset()  # the source's table resources
    # archive -> the table resources done with it (the bookkeeping resources wait for all of them)
    finished: PerArchive[set[str]] = field(default_factory=PerArchive)

    # event table -> rows of this run's archives not handed to dlt yet (``gathered``)
    pending: dict[str, list[pa.Table]] = field(default_factory=dict)

    _pipeline: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.user_state = UserState(self.user_ids, self.pipeline)

    def pipeline(self) -> dlt.Pipeline | None:
        """The pipeline running this load, None when the source is iterated outside one. Looked up
        once: ``dlt.current.pipeline()`` costs ~13 ms, and a load of 50 archives asked it 250 times."""
        if self._pipeline is None:
            try:
                self._pipeline = dlt.current.pipeline()
            except Exception:  # iterated outside a pipeline
                self._pipeline = False
        return self._pipeline or None

    def gathered(self, table: str, rows: pa.Table) -> Iterator[pa.Table]:
        """``rows`` of one archive, handed to dlt with other archives' rows once ``batch_rows`` are
        gathered (or at the end of the run: ``flush``). dlt's work per item does not depend on its
        size: a run of 50 small archives handed it ~1,500 items, one per table and archive."""
        if not rows.num_rows:
            return
        pending = self.pending.setdefault(table, [])
        pending.append(rows)
        if sum(t.num_rows for t in pending) >= self.batch_rows:
            yield from self.flush(table)

    def flush(self, table: str) -> Iterator[pa.Table]:
        """The rows ``gathered`` for ``table`` and not handed out yet, as one table where their
        columns agree (they are made by one code; a column one archive lacks is null in its rows)."""
        pending = self.pending.pop(table, [])
        if not pending:
            return
        try:
            yield pa.concat_tables(pending, promote_options="default")
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # columns of other types: one item each
            yield from pending

    def end_of_run(self, table: str) -> Iterator[pa.Table]:
        """A table resource's share of ``END_OF_RUN``: what it gathered, then noted as done with it."""
        yield from self.flush(table)
        self.table_done(END_OF_RUN, table)  # type: ignore[arg-type]

    def check_flushed(self) -> None:
        """After every table resource saw ``END_OF_RUN``: rows still gathered would be lost."""
        left = {table: sum(t.num_rows for t in tables) for table, tables in self.pending.items() if tables}
        if left:
            raise RuntimeError(f"rows gathered and never handed to dlt: {left}")

    def table_done(self, archive: OpenedArchive, table: str) -> None:
        self.finished.setdefault(archive, set()).add(table)

    def tables_done(self, archive: OpenedArchive) -> set[str]:
        return self.finished.get(archive) or set()

    def tally(self, archive: OpenedArchive, tallies: Sequence[Tally]) -> None:
        self.reported.check(archive, f"{tallies[0].table if tallies else 'a table'} counted")
        self.tallies.setdefault(archive, []).extend(tallies)

    def loaded_keys(self, table: str, user: str) -> set[str]:
        """Row keys of ``user`` the table holds already (undated tables: devices, hashtags, interests,
        whose rows no time window can skip); empty outside a pipeline or on the first load of the table."""
        if self.holding.get(user) is not None and table not in self.holding[user]:  # type: ignore[operator]
            return set()
        pipeline = self.pipeline()
        return destination.user_row_keys(pipeline, table, user) if pipeline else set()

    def append_only(self, table: str, user: str) -> bool:
        """Nothing to merge with: one archive in this load, and no row of its user in the table yet."""
        if self.archive_count != 1:
            return False
        if user not in self.holding:
            pipeline = self.pipeline()
            self.holding[user] = destination.tables_holding_user(pipeline, EVENT_TABLES, user) if pipeline else None
        found = self.holding[user]
        return found is not None and table not in found


def wait_for_tables(state: LoadState, archive: OpenedArchive) -> Iterator[None]:
    """Yields ``None`` (dlt's "nothing yet, come back later") until every selected table resource is
    done with ``archive``: what the bookkeeping resources sum up is complete only then. With dlt's
    ``fifo`` extraction, which the loader sets, they are done already; with ``round_robin`` (a
    pipeline of the user's own) their batches interleave with these resources."""
    try:
        selected = set(dlt.current.source().selected_resources) & state.table_names
    except Exception:  # iterated outside an extraction
        selected = set(state.table_names)
    while not selected <= state.tables_done(archive):
        yield None


def _per_archive(rows: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """A table resource's rows of one archive: an ``ArchiveError`` raised while reading them (a value
    too large, say) names the archive too, and the end is noted for ``wait_for_tables``. At
    ``END_OF_RUN`` the resource hands over what it gathered instead."""

    @functools.wraps(rows)
    def named(state: LoadState, entity: Entity, archive: OpenedArchive | EndOfRun) -> Iterator[Any]:
        if isinstance(archive, EndOfRun):
            yield from state.end_of_run(entity.table)
            return
        try:
            yield from rows(state, entity, archive)
        except ArchiveError as exc:
            if str(exc).startswith(archive.name):
                raise
            raise ArchiveError(f"{archive.name}: {exc}") from exc
        state.table_done(archive, entity.table)

    return named


class KnownBlocks:
    """The blocks of a big list (``archive.blocks``) that earlier loads of the user read in full, from
    their ``_tiktok_user_state`` facts: digest -> (rows, first and last time). A block of this export
    with a known digest holds those very rows, all in the destination already: it is counted as
    already loaded and its time range noted for the window, without being parsed. The blocks read in
    full here are learned, for the next export. Called from the threads that read blocks.

    A block is skipped only when its time range lies inside the windows loaded (a fact and its
    window travel in one load package, so this holds unless a window was lost), and learned only
    when every item was an object with a time (no item unreadable or empty, whose counts a skip
    could not repeat)."""

    def __init__(self, facts: list[Any], windows: list[history.Interval], coverage: history.Coverage) -> None:
        self.known = {digest: (rows, lo, hi) for fact in facts for digest, rows, lo, hi in fact}
        self.windows, self.coverage = windows, coverage
        self.new: list[list[Any]] = []
        self.skipped = self.read = 0
        self._lock = threading.Lock()
        self._tally: Tally | None = None

    def counting(self, tally: Tally) -> KnownBlocks:
        """Count the skipped blocks' rows in ``tally`` (the report group being read) from now on."""
        self._tally = tally
        return self

    def skip(self, digest: str) -> bool:
        found = self.known.get(digest)
        if found is None:
            with self._lock:
                self.read += 1
            return False
        rows, lo, hi = found
        first, last = datetime.fromisoformat(lo), datetime.fromisoformat(hi)
        if not history.within(first, last, self.windows):
            with self._lock:
                self.read += 1
            return False
        self.coverage.saw(first, last)
        with self._lock:
            assert self._tally is not None
            self._tally.records += rows
            self._tally.already_loaded += rows
            self.skipped += 1
        return True

    def learned(self, digest: str, times: pa.Array) -> None:
        if not len(times) or times.null_count or digest in self.known:
            return
        bounds = history.time_range(times)
        assert bounds is not None
        with self._lock:
            self.new.append([digest, len(times), bounds[0].isoformat(), bounds[1].isoformat()])


@_per_archive
def event_rows(state: LoadState, entity: Entity, archive: OpenedArchive) -> Iterator[Any]:
    """An event table's rows of one archive in arrow batches; its counts go to the load report.

    Rows inside time windows loaded before are skipped (``history.Coverage``), blocks of big lists
    an earlier load read are not even parsed (``KnownBlocks``), a key sent earlier in this load is
    not sent again, and each step's drops are counted in the report."""
    facts = state.user_state
    windows = history.union(facts.get(archive.user_id, COVERAGE, entity.table))
    skip = history.Coverage(windows, entity.time_column) \
        if state.skip_loaded_windows and entity.time_column else None
    blocks = KnownBlocks(facts.get(archive.user_id, BLOCKS, entity.table), windows, skip) \
        if skip is not None else None
    unique = state.sent_keys.setdefault(entity.table, KeySet())
    append = state.append_only(entity.table, archive.user_id)
    # an undated table has no window to skip by: its rows already loaded are known by their keys
    known = state.loaded_keys(entity.table, archive.user_id) \
        if state.skip_loaded_windows and entity.time_column is None and not append else set()
    sent = 0
    owner = archive.owner_username or archive.user_id
    tallies = []
    for path, group in _report_groups(archive.sections_for(entity.table)):
        tally = Tally(entity.table, path)
        tallies.append(tally)
        # rows of big lists inside loaded windows are dropped as soon as their time is read
        early = _counting(skip.keep, tally) if skip is not None and skip.intervals else None
        for table in section_tables(entity, group, archive.user_id, archive.sha256, early,
                                    state.privacy.protector(owner), blocks.counting(tally) if blocks else None):
            tally.records += table.num_rows
            if entity.kind == "messages":  # the owner's name is never pseudonymised
                table = table.append_column("is_own", pc.fill_null(pc.equal(table["sender"], owner), False))
            table = _step(tally, "empty", table, drop_empty_rows(table, entity))
            if skip is not None:
                table = _step(tally, "already_loaded", table, skip.filter(table))
            if known:
                new = pc.invert(pc.is_in(table["row_key"], value_set=pa.array(sorted(known), pa.string())))
                table = _step(tally, "already_loaded", table, table.filter(new))
            table = _step(tally, "repeats", table, unique.first_seen(table))
            tally.written += table.num_rows
            if state.archive_count > 1:  # no append hint then: gathered across the run's archives
                sent += table.num_rows
                yield from state.gathered(entity.table, table)
                continue
            for batch in table.to_batches(max_chunksize=state.batch_rows):
                first = not sent
                sent += batch.num_rows
                if append and first:  # the first batch switches this load of the table to append
                    yield dlt.mark.with_hints(batch, dlt.mark.make_hints(write_disposition="append"))
                else:
                    yield batch
        _count_unreadable(tally, group)  # known once every block was parsed
    seen = skip.seen() if skip is not None else None
    if seen is not None:
        facts.add(archive.user_id, COVERAGE, entity.table, seen, archive)
    if blocks is not None and blocks.new:
        facts.add(archive.user_id, BLOCKS, entity.table, sorted(blocks.new), archive)
    if blocks is not None and blocks.skipped:
        log.info("%s: %s: %d of %d blocks loaded before, skipped unread", archive.name, entity.table,
                 blocks.skipped, blocks.skipped + blocks.read)
    state.tally(archive, tallies)
    log.debug("%s: %d rows of %s to %s", archive.name, sent, entity.table, "append" if append else "merge")


@_per_archive
def snapshot_rows(state: LoadState, entity: Entity, archive: OpenedArchive) -> Iterator[Any]:
    """The whole follower (or following) list of the user as of this archive, with its history folded
    in. An export without the list says nothing about (un)follows: no rows."""
    if not archive.has_section(entity.table):
        return
    sections = archive.sections_for(entity.table)
    # present but empty ("Follower": {}) still says the list is empty now: every account has left
    tally = Tally(entity.table, sections[0].report_path if sections else entity.table)
    current = _snapshot_names(entity, archive, state.privacy, tally)
    _count_unreadable(tally, sections)
    exported = archive.exported_at.isoformat()
    earlier = state.user_state.get(archive.user_id, SNAPSHOTS, entity.table)
    times = sorted({*(t for fact in earlier for t in fact), exported})
    state.user_state.add(archive.user_id, SNAPSHOTS, entity.table, [exported], archive)
    cache_key = (entity.table, archive.user_id)
    if cache_key not in state.snapshots:  # every snapshot table of the user, and of every user the
        # load already knows (API mode names them), on one connection
        tables = [e.table for e in ENTITIES if e.kind == "snapshot"]
        users = list(dict.fromkeys([archive.user_id, *state.user_ids]))
        users = [u for u in users if (entity.table, u) not in state.snapshots]
        for table, observed in _previous_observations(state.pipeline(), tables, users).items():
            for user in users:
                state.snapshots.setdefault((table, user), observed.get(user, {}))
    merged = history.merge_snapshot(state.snapshots[cache_key], current, archive.exported_at)
    state.snapshots[cache_key] = merged
    rows = history.snapshot_rows(merged, [datetime.fromisoformat(t) for t in times])
    yield _snapshot_table(entity, archive, rows)
    state.tally(archive, [tally])


@_per_archive
def export_rows(state: LoadState, entity: Entity, archive: OpenedArchive) -> Iterator[Any]:
    """A per-export table's rows (profile, counters: one; settings: one per key)."""
    table, tallies = _export_table(entity, archive)
    if table is not None:
        yield table
    state.tally(archive, tallies)


def user_state_rows(state: LoadState, archive: OpenedArchive) -> list[dict[str, Any]]:
    """The ``_tiktok_user_state`` rows of this archive: the time range of each event table's rows and
    its snapshot times, noted by the table resources (which dlt runs before this one for each archive)."""
    return state.user_state.rows(archive.user_id, archive)


def unparsed_rows(state: LoadState, archive: OpenedArchive) -> list[dict[str, Any]]:
    """The archive's sections no table took, the sensitive ones held back (counted, never stored), and
    those whose records gave no row for a reason no count explains (with a warning)."""
    lost = []
    for tally in state.tallies.get(archive) or []:
        if tally.unexplained:
            log.warning("%s: %s: %s; recorded in unparsed_sections", archive.name, tally.section, tally.reason())
            lost.append(UnparsedSection(tally.section, tally.records, 0, tally.reason()))
    return _unparsed_rows(archive, [*archive.unparsed, *_held_back(archive, state.opted_in), *lost], state.privacy)


def report_rows_of(state: LoadState, archive: OpenedArchive) -> list[dict[str, Any]]:
    """The ``load_report`` rows of the archive: what became of every table's records."""
    state.reported.seal(archive)
    return report_rows(archive.user_id, archive.name, archive.sha256, state.tallies.pop(archive) or [],
                       lambda user, parts: row_key(user, REPORT_TABLE, *parts))


def archive_row(archive: OpenedArchive) -> dict[str, Any]:
    """The ``archives`` row: which export this was, and what it held."""
    return {
        "user_id": archive.user_id, "row_key": row_key(archive.user_id, "archives", archive.sha256),
        "archive_sha256": archive.sha256,
        "archive": archive.name, "data_format": archive.data_format, "family": archive.family,
        "exported_at": archive.exported_at, "loaded_at": datetime.now(timezone.utc),
        "tables": ",".join(sorted(t for t, s in archive.sections.items() if any(x.items for x in s))),
        "unparsed_count": sum(1 for u in archive.unparsed if u.item_count),
    }


# a deleted account ("N/A") has no name: inside the follower history it is known by its follow time
_DELETED = "\x00deleted account followed at "


def _deleted_identity(followed_at: datetime | None) -> str:
    return f"{_DELETED}{followed_at.isoformat() if followed_at else ''}"


def _snapshot_names(entity: Entity, archive: OpenedArchive, privacy: PrivacySettings,
                    tally: Tally) -> dict[str, datetime | None]:
    """Account -> follow time in this export; deleted accounts count, by their follow time."""
    current: dict[str, datetime | None] = {}
    protect = privacy.protector(archive.owner_username or archive.user_id)
    for table in section_tables(entity, archive.sections_for(entity.table), archive.user_id, archive.sha256,
                                protect=protect):
        tally.records += table.num_rows
        for name, when in zip(table["username"].to_pylist(), table["followed_at"].to_pylist()):
            if name is None:
                if when is None:
                    tally.empty += 1
                    continue
                name = _deleted_identity(when)
            if name in current:
                tally.repeats += 1
            if name not in current or (when and (current[name] or when) <= when):
                current[name] = when
    tally.written = len(current)
    return current


def _previous_observations(pipeline: dlt.Pipeline | None, tables: list[str], user_ids: list[str]
                           ) -> dict[str, dict[str, dict[str, history.Observation]]]:
    """table -> user -> username -> what the destination holds of that follower/followed account."""
    loaded = destination.previous_snapshots(pipeline, tables, user_ids) if pipeline else {}
    def name(row: tuple[Any, ...]) -> str:
        return row[0] if row[0] is not None else _deleted_identity(_aware(row[1]))

    return {table: {user: {name(r): history.Observation(name(r), _aware(r[1]), _aware(r[2]), _aware(r[3]))
                           for r in rows}
                    for user, rows in by_user.items()}
            for table, by_user in loaded.items()}


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _snapshot_table(entity: Entity, archive: OpenedArchive, rows: list[dict[str, Any]]) -> pa.Table:
    deleted = [r["username"].startswith(_DELETED) for r in rows]
    usernames = pa.array([None if gone else r["username"] for r, gone in zip(rows, deleted)], pa.string())
    times = {name: pa.array([r[name] for r in rows], TIMESTAMP)
             for name in ("followed_at", "first_seen_at", "last_seen_at", "disappeared_at")}
    # a named account is keyed by its name (as always); a deleted one by its follow time
    keys = row_keys(archive.user_id, entity.table, {"username": usernames, "followed_at": times["followed_at"]},
                    ("username|followed_at",), len(rows))
    return keyed_table(archive.user_id, keys, {
        "username": usernames,
        **times,
        "deleted_account": pa.array(deleted, pa.bool_()),
        "is_current": pa.array([r["is_current"] for r in rows], pa.bool_()),
        "snapshot_version": pa.array([time.time_ns()] * len(rows), pa.int64()),
    })


def _report_groups(sections: Sequence[Section]) -> list[tuple[str, list[Section]]]:
    """Sections by the name they report under (a DM file's threads together), in archive order."""
    groups: dict[str, list[Section]] = {}
    for section in sections:
        groups.setdefault(section.report_path, []).append(section)
    return list(groups.items())


def _step(tally: Tally, reason: str, before: pa.Table, after: pa.Table) -> pa.Table:
    """``after``, with the rows a step set aside counted under ``reason``."""
    tally.step(reason, before.num_rows, after.num_rows)
    return after


def _count_unreadable(tally: Tally, sections: Sequence[Section]) -> None:
    """Items or lines of these sections that no row could be made of: read, and reported as unreadable."""
    unreadable = sum(s.unreadable for s in sections)
    tally.unreadable += unreadable
    tally.records += unreadable


def _counting(keep: Any, tally: Tally) -> Any:
    """``keep`` (rows of big lists inside loaded windows, judged on block worker threads), counted."""
    lock = threading.Lock()

    def counted(times: pa.Array) -> pa.Array | None:
        mask = keep(times)
        if mask is not None:
            dropped = len(mask) - (pc.sum(pc.fill_null(mask, True)).as_py() or 0)
            with lock:
                tally.already_loaded += dropped
                tally.records += dropped
        return mask

    return counted


def _unparsed_rows(archive: OpenedArchive, sections: Sequence[UnparsedSection],
                   privacy: PrivacySettings | None = None) -> list[dict[str, Any]]:
    rows = []
    for section in sections:
        path = _shown_path(section, archive, privacy)
        key = row_key(archive.user_id, "unparsed_sections", archive.sha256, path)
        rows.append({"user_id": archive.user_id, "row_key": key, "archive": archive.name,
                     "archive_sha256": archive.sha256, "path": path, "item_count": section.item_count,
                     "size_bytes": section.size_bytes, "reason": section.reason})
    return rows


def _shown_path(section: UnparsedSection, archive: OpenedArchive, privacy: PrivacySettings | None) -> str:
    """A damaged DM thread is named in its row as the ``conversation`` column would name it: through
    the privacy settings (its pseudonym when pseudonymising), never raw past them."""
    if section.conversation is None:
        return section.path
    name = section.conversation
    if privacy is not None and privacy.pseudonymize:
        protect = privacy.protector(archive.owner_username or archive.user_id)
        if protect is not None:
            name = protect.pseudonyms(pa.array([name]), pa.array([is_group_name(name)]))[0].as_py()
    return f"{section.path} (Chat History with {name})"


def _held_back(archive: OpenedArchive, opted_in: frozenset[str]) -> list[UnparsedSection]:
    """Sensitive sections the user did not opt in to: counted (values present), never stored."""
    out = []
    for entity in ENTITIES:
        if not entity.opt_in or entity.table in opted_in:
            continue
        for section in archive.sections_for(entity.table):
            values = sum(1 for item in section.items for v in item.values()
                         if v is not None and str(v).strip() not in SENTINELS)
            if values:
                out.append(UnparsedSection(section.path, values, 0,
                                           f"sensitive ({entity.description}); not loaded: set "
                                           f"{entity.opt_in} = true to load it"))
    return out


def _export_table(entity: Entity, archive: OpenedArchive) -> tuple[pa.Table | None, list[Tally]]:
    """The rows of a per-export table (profile, activity counters, settings), keyed by the export time."""
    sections = archive.sections_for(entity.table)
    if not sections:
        return None, []
    items = [item for s in sections for item in s.items]
    tally = Tally(entity.table, sections[0].report_path, records=len(items))
    _count_unreadable(tally, sections)
    if entity.kind == "profile":
        tally.repeats, items = len(items[1:]), items[:1]
    if not items:
        return None, [tally]
    n = len(items)
    columns = typed_columns(entity, gather(items, entity.columns))
    exported = pa.array([archive.exported_at] * n, TIMESTAMP)
    keys = row_keys(archive.user_id, entity.table, {"exported_at": exported, **columns},
                    ("exported_at", *entity.key), n)
    extra = {}
    if entity.table == "profile":
        extra = {"followers_listed": pa.array([_list_length(archive, "followers")] * n, pa.int64()),
                 "following_listed": pa.array([_list_length(archive, "following")] * n, pa.int64())}
    table = keyed_table(archive.user_id, keys, {"exported_at": exported, **columns, **extra,
                                                "archive_sha256": pa.array([archive.sha256] * n, pa.string())})
    table = _step(tally, "empty", table, drop_empty_rows(table, entity))
    table = _step(tally, "repeats", table, KeySet().first_seen(table))
    tally.written = table.num_rows
    return (table if table.num_rows else None), [tally]


def _list_length(archive: OpenedArchive, table: str) -> int | None:
    if not archive.has_section(table):
        return None
    return sum(len(s.items) for s in archive.sections_for(table))
