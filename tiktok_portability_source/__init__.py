"""dlt source for a TikTok user's own data: one resource per data scope, built from ``layouts.ENTITIES``.

Archives are opened once by a hidden ``exports`` resource and fanned out to one transformer per
table, so each archive is parsed a single time. Every table merges on a deterministic ``row_key``
(loading an archive twice adds nothing); event tables skip rows already covered for that user
(see ``history.py``); followers/following keep first-seen / last-seen / disappeared-at history;
``profile`` keeps one row per export.

Rows travel as arrow batches, a block of a big list at a time (``records.section_tables``). Event
tables (millions of rows) never send a key twice in one load: the source drops repeats itself
(``_KeySet``), so their merge is on ``row_key`` as a *merge key* (delete the loaded rows with these
keys, insert) without the destination's deduplicating window over the staged rows. When a load
holds one archive and the table has no row of its user yet there is nothing to merge with: the
batches carry an ``append`` hint and go straight into the table, without a staging copy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dlt
from dlt.sources import DltResource

from . import destination, settings
from .archive import OpenedArchive, Section, UnparsedSection, open_archive
from .layouts import ENTITIES, SENTINELS, Entity
from .reconcile import REPORT_COLUMNS, REPORT_TABLE, Tally, report_rows

if TYPE_CHECKING:
    import pyarrow as pa

    from . import history
    from .privacy import PrivacySettings
    from .records import KeySet

# pyarrow, numpy and the modules built on them (records, history) are imported where rows are made:
# a process that only downloads archives (client.py is in this package) then stays small

log = logging.getLogger(__name__)

MERGE = {"disposition": "merge", "strategy": "delete-insert"}
# event tables: keys are unique per load by construction, so no deduplication at the destination
# (the primary-key hint of datasets loaded before is cleared explicitly)
EVENT_KEY = {"merge_key": "row_key", "columns": {"row_key": {"primary_key": False, "merge_key": True}}}


@dataclass(frozen=True)
class ArchiveInput:
    """An archive to load, with what the caller knows better than the archive (API mode)."""

    path: Path
    user_id: str | None = None
    exported_at: datetime | None = None


def _as_input(item: str | Path | ArchiveInput, user_id: str | None) -> ArchiveInput:
    if isinstance(item, ArchiveInput):
        return item if item.user_id or not user_id else ArchiveInput(item.path, user_id, item.exported_at)
    return ArchiveInput(Path(item), user_id)


@dlt.source(name="tiktok_portability", max_table_nesting=0)
def tiktok_portability(
    archives: Sequence[str | Path | ArchiveInput] = dlt.config.value,
    user_id: str | None = None,
    skip_loaded_windows: bool = True,
    batch_rows: int = settings.BATCH_ROWS,
    forget_user_id: str | None = None,
    pseudonymize: bool | None = dlt.config.value,
    pseudonymize_key: str | None = dlt.secrets.value,
    drop_message_text: bool | None = dlt.config.value,
    drop_network_ids: bool | None = dlt.config.value,
    exclude: Any | None = dlt.config.value,
    load_autofill: bool | None = dlt.config.value,
) -> list[DltResource]:
    """Load one or more exports. ``user_id`` overrides the profile username (required without a profile).

    ``skip_loaded_windows=False`` sends every row and relies on the merge alone: slower, but exact even
    when a later export lost events inside a window an earlier export already covered.
    ``forget_user_id`` loads nothing and removes that user from every resource's state (``forget``).
    ``pseudonymize`` (with the secret ``pseudonymize_key``), ``drop_message_text``, ``drop_network_ids``
    and ``exclude`` (table names) are the privacy controls of ``privacy.py``; a dataset keeps the
    settings of its first load (a load with other settings is refused). ``load_autofill`` loads the
    Autofill section (real name, address, phone); without it only its count of values is recorded.
    """
    if forget_user_id is not None:
        return [_forget_state(forget_user_id)]
    from .privacy import PrivacySettings

    # validated here, before anything is read: a missing key fails the command, not a resource
    privacy = PrivacySettings.from_config(pseudonymize, pseudonymize_key, drop_message_text, drop_network_ids,
                                          exclude)
    opted_in = frozenset({"autofill"} if str(load_autofill).strip().lower() in ("1", "true", "yes", "on") else ())
    inputs = [_as_input(a, user_id) for a in archives]
    run_snapshots: dict[tuple[str, str], dict[str, history.Observation]] = {}
    holding: dict[str, set[str] | None] = {}  # user -> event tables that already hold rows of theirs
    sent_keys: dict[str, KeySet] = {}  # event table -> keys sent in this load (across its archives)

    def append_only(table: str, user: str) -> bool:
        """Nothing to merge with: one archive in this load, and no row of its user in the table yet."""
        if len(inputs) != 1:
            return False
        if user not in holding:
            try:
                pipeline = dlt.current.pipeline()
            except Exception:  # iterated outside a pipeline
                pipeline = None
            events = [e.table for e in ENTITIES if e.kind in ("events", "messages")]
            holding[user] = destination.tables_holding_user(pipeline, events, user) if pipeline else None
        found = holding[user]
        return found is not None and table not in found

    @dlt.resource(name="exports", selected=False)
    def exports() -> Iterator[OpenedArchive]:
        if inputs:
            privacy.check_dataset(dlt.current.source_state())
        for item in inputs:
            log.info("reading %s", item.path.name)
            yield open_archive(item.path, user_id=item.user_id, exported_at=item.exported_at)

    def event_resource(entity: Entity) -> DltResource:
        @dlt.transformer(data_from=exports, name=entity.table, write_disposition=MERGE, **EVENT_KEY)
        def rows(archive: OpenedArchive) -> Iterator[Any]:
            import pyarrow.compute as pc

            from .history import Coverage
            from .records import KeySet, drop_empty_rows, section_tables

            # the windows loaded before this archive; widened once all of its rows went through
            skip = Coverage(dlt.current.resource_state(), entity.time_column, archive.user_id) \
                if skip_loaded_windows and entity.time_column else None
            unique = sent_keys.setdefault(entity.table, KeySet())
            append = append_only(entity.table, archive.user_id)
            sent = 0
            owner = archive.owner_username or archive.user_id
            tallies = []
            for path, group in _report_groups(archive.sections_for(entity.table)):
                unreadable = sum(s.unreadable for s in group)
                tally = Tally(entity.table, path, records=unreadable, unreadable=unreadable)
                tallies.append(tally)
                # rows of big lists inside loaded windows are dropped as soon as their time is read
                early = _counting(skip.keep, tally) if skip is not None and skip.intervals else None
                for table in section_tables(entity, group, archive.user_id, archive.sha256, early,
                                            privacy.protector(owner)):
                    tally.records += table.num_rows
                    if entity.kind == "messages":  # the owner's name is never pseudonymised
                        table = table.append_column("is_own", pc.fill_null(pc.equal(table["sender"], owner), False))
                    table = _step(tally, "empty", table, drop_empty_rows(table, entity))
                    if skip is not None:
                        table = _step(tally, "already_loaded", table, skip.filter(table))
                    table = _step(tally, "repeats", table, unique.first_seen(table))
                    tally.written += table.num_rows
                    for batch in table.to_batches(max_chunksize=batch_rows):
                        first = not sent
                        sent += batch.num_rows
                        if append and first:  # the first batch switches this load of the table to append
                            yield dlt.mark.with_hints(batch, dlt.mark.make_hints(write_disposition="append"))
                        else:
                            yield batch
            if skip is not None:
                skip.commit()
            yield from _reported(archive, tallies)
            log.debug("%s: %d rows of %s to %s", archive.name, sent, entity.table, "append" if append else "merge")

        return rows

    def snapshot_resource(entity: Entity) -> DltResource:
        # several exports of a user in one run each yield the user's whole list; the merge must
        # keep the copy computed last (it folds in every export seen so far), not the first
        @dlt.transformer(data_from=exports, name=entity.table, write_disposition=MERGE, primary_key="row_key",
                         columns={"snapshot_version": {"data_type": "bigint", "dedup_sort": "desc"},
                                  "deleted_account": {"data_type": "bool"}})
        def rows(archive: OpenedArchive) -> Iterator[Any]:
            from . import history

            if not archive.has_section(entity.table):
                return  # not in this export: says nothing about (un)follows
            sections = archive.sections_for(entity.table)
            unreadable = sum(s.unreadable for s in sections)
            tally = Tally(entity.table, _report_groups(sections)[0][0] if sections else entity.table,
                          records=unreadable, unreadable=unreadable)
            current = _snapshot_names(entity, archive, privacy, tally)
            state = dlt.current.resource_state().setdefault("snapshots", {})
            times = sorted({*state.get(archive.user_id, []), archive.exported_at.isoformat()})
            state[archive.user_id] = times
            cache_key = (entity.table, archive.user_id)
            if cache_key not in run_snapshots:  # every snapshot table of the user, and of every user the
                # load already knows (API mode names them), on one connection
                tables = [e.table for e in ENTITIES if e.kind == "snapshot"]
                users = list(dict.fromkeys([archive.user_id, *(i.user_id for i in inputs if i.user_id)]))
                users = [u for u in users if (entity.table, u) not in run_snapshots]
                for table, observed in _previous_observations(tables, users).items():
                    for user in users:
                        run_snapshots.setdefault((table, user), observed.get(user, {}))
            merged = history.merge_snapshot(run_snapshots[cache_key], current, archive.exported_at)
            run_snapshots[cache_key] = merged
            rows_ = history.snapshot_rows(merged, [datetime.fromisoformat(t) for t in times])
            yield _snapshot_table(entity, archive, rows_)
            yield from _reported(archive, [tally])

        return rows

    def export_resource(entity: Entity) -> DltResource:
        """A table with one row (profile, counters) or one row per key (settings) per export."""
        @dlt.transformer(data_from=exports, name=entity.table, write_disposition=MERGE, primary_key="row_key")
        def rows(archive: OpenedArchive) -> Iterator[Any]:
            table, tallies = _export_table(entity, archive)
            if table is not None:
                yield table
            yield from _reported(archive, tallies)

        return rows

    @dlt.transformer(data_from=exports, name="unparsed_sections", write_disposition=MERGE, primary_key="row_key")
    def unparsed_sections(archive: OpenedArchive) -> Iterator[list[dict[str, Any]]]:
        rows_ = _unparsed_rows(archive, [*archive.unparsed, *_held_back(archive, opted_in)])
        if rows_:
            yield rows_

    @dlt.transformer(data_from=exports, name="archives", write_disposition=MERGE, primary_key="row_key")
    def archives_loaded(archive: OpenedArchive) -> Iterator[dict[str, Any]]:
        import pyarrow as pa

        from .records import row_keys

        key = row_keys(archive.user_id, "archives", {"a": pa.array([archive.sha256])}, ("a",), 1)
        yield {
            "user_id": archive.user_id, "row_key": key[0].as_py(), "archive_sha256": archive.sha256,
            "archive": archive.name, "data_format": archive.data_format, "family": archive.family,
            "exported_at": archive.exported_at, "loaded_at": datetime.now(timezone.utc),
            "tables": ",".join(sorted(t for t, s in archive.sections.items() if any(x.items for x in s))),
            "unparsed_count": sum(1 for u in archive.unparsed if u.item_count),
        }

    resources: list[DltResource] = [exports]
    for entity in ENTITIES:
        if entity.table in privacy.exclude or (entity.opt_in and entity.table not in opted_in):
            continue
        if entity.kind in ("events", "messages", "records"):
            resources.append(event_resource(entity))
        elif entity.kind == "snapshot":
            resources.append(snapshot_resource(entity))
        else:
            resources.append(export_resource(entity))
    resources += [unparsed_sections, archives_loaded]
    return resources


def _forget_state(user_id: str) -> DltResource:
    @dlt.resource(name="forget_user_state", selected=True)
    def forget_user_state() -> Iterator[Any]:
        """Drop a user's windows and snapshot times, so a later load of their data starts afresh."""
        for state in dlt.current.source_state().get("resources", {}).values():
            for section in ("coverage", "snapshots"):
                state.get(section, {}).pop(user_id, None)
        yield from ()

    return forget_user_state


# a deleted account ("N/A") has no name: inside the follower history it is known by its follow time
_DELETED = "\x00deleted account followed at "


def _deleted_identity(followed_at: datetime | None) -> str:
    return f"{_DELETED}{followed_at.isoformat() if followed_at else ''}"


def _snapshot_names(entity: Entity, archive: OpenedArchive, privacy: PrivacySettings,
                    tally: Tally) -> dict[str, datetime | None]:
    """Account -> follow time in this export; deleted accounts count, by their follow time."""
    from .records import section_tables

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


def _previous_observations(tables: list[str], user_ids: list[str]
                           ) -> dict[str, dict[str, dict[str, history.Observation]]]:
    """table -> user -> username -> what the destination holds of that follower/followed account."""
    from . import history

    loaded = destination.previous_snapshots(dlt.current.pipeline(), tables, user_ids)
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
    import pyarrow as pa

    from .records import TIMESTAMP, keyed_table, row_keys

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
    setattr(tally, reason, getattr(tally, reason) + before.num_rows - after.num_rows)
    return after


def _counting(keep: Any, tally: Tally) -> Any:
    """``keep`` (rows of big lists inside loaded windows, judged on block worker threads), counted."""
    import threading

    import pyarrow.compute as pc

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


def _reported(archive: OpenedArchive, tallies: list[Tally]) -> Iterator[Any]:
    """The ``load_report`` rows of one table and archive, and an ``unparsed_sections`` row (with a
    warning) for every section whose records gave no row for a known reason."""
    from .records import row_keys

    def key(user: str, parts: list[str]) -> str:
        import pyarrow as pa

        names = tuple(str(i) for i in range(len(parts)))
        columns = {n: pa.array([p], pa.string()) for n, p in zip(names, parts)}
        return str(row_keys(user, REPORT_TABLE, columns, names, 1)[0].as_py())

    rows = report_rows(archive.user_id, archive.name, archive.sha256, tallies, key)
    if rows:
        yield dlt.mark.with_hints(rows, dlt.mark.make_hints(table_name=REPORT_TABLE, write_disposition=MERGE,
                                                            primary_key="row_key", columns=REPORT_COLUMNS),
                                  create_table_variant=True)
    lost = []
    for tally in tallies:
        if tally.unexplained:
            log.warning("%s: %s: %s; recorded in unparsed_sections", archive.name, tally.section, tally.reason())
            lost.append(UnparsedSection(tally.section, tally.records, 0, tally.reason()))
    if lost:
        yield dlt.mark.with_hints(_unparsed_rows(archive, lost),
                                  dlt.mark.make_hints(table_name="unparsed_sections", write_disposition=MERGE,
                                                      primary_key="row_key"),
                                  create_table_variant=True)


def _unparsed_rows(archive: OpenedArchive, sections: Sequence[UnparsedSection]) -> list[dict[str, Any]]:
    import pyarrow as pa

    from .records import row_keys

    rows = []
    for section in sections:
        key = row_keys(archive.user_id, "unparsed_sections",
                       {"a": pa.array([archive.sha256]), "p": pa.array([section.path])}, ("a", "p"), 1)
        rows.append({"user_id": archive.user_id, "row_key": key[0].as_py(), "archive": archive.name,
                     "archive_sha256": archive.sha256, "path": section.path, "item_count": section.item_count,
                     "size_bytes": section.size_bytes, "reason": section.reason})
    return rows


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
    import pyarrow as pa

    from .records import TIMESTAMP, KeySet, drop_empty_rows, gather, keyed_table, row_keys, typed_columns

    sections = archive.sections_for(entity.table)
    if not sections:
        return None, []
    items = [item for s in sections for item in s.items]
    unreadable = sum(s.unreadable for s in sections)
    tally = Tally(entity.table, sections[0].report_path, records=len(items) + unreadable, unreadable=unreadable)
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


@dlt.resource(name="export_requests", write_disposition=MERGE, primary_key="row_key")
def export_requests(transfers: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """One row per portability request (API mode), from the local transfer store."""
    import pyarrow as pa

    from .records import row_keys

    rows = []
    for t in transfers:
        key = row_keys(t["open_id"], "export_requests", {"l": pa.array([t["local_id"]])}, ("l",), 1)[0].as_py()
        rows.append({
            "user_id": t["open_id"], "row_key": key, "request_id": t["request_id"], "state": t["state"],
            "grant": t["grant"], "categories": ",".join(t["categories"]), "data_format": t["data_format"],
            "created_at": t["created_at"], "apply_time": t["apply_time"], "collect_time": t["collect_time"],
            "checks": t["checks"], "archive_sha256": t["archive_sha256"], "archive_size": t["archive_size"],
            "rows_loaded": t["rows_loaded"], "loaded_at": t["loaded_at"], "error": t["error"],
            "updated_at": t["updated_at"],
        })
    yield rows


export_requests.apply_hints(columns={
    # declared up front so a column that is NULL for every request (e.g. error) still exists
    **{c: {"data_type": "text"} for c in ("state", "grant", "categories", "data_format", "archive_sha256", "error")},
    **{c: {"data_type": "bigint"} for c in ("request_id", "checks", "archive_size", "rows_loaded")},
    **{c: {"data_type": "timestamp", "timezone": True}
       for c in ("created_at", "apply_time", "collect_time", "loaded_at", "updated_at")},
})
