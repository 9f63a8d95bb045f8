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
from .archive import OpenedArchive, open_archive
from .layouts import BY_TABLE, ENTITIES, Entity

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
) -> list[DltResource]:
    """Load one or more exports. ``user_id`` overrides the profile username (required without a profile).

    ``skip_loaded_windows=False`` sends every row and relies on the merge alone: slower, but exact even
    when a later export lost events inside a window an earlier export already covered.
    ``forget_user_id`` loads nothing and removes that user from every resource's state (``forget``).
    ``pseudonymize`` (with the secret ``pseudonymize_key``), ``drop_message_text``, ``drop_network_ids``
    and ``exclude`` (table names) are the privacy controls of ``privacy.py``; a dataset keeps the
    settings of its first load (a load with other settings is refused).
    """
    if forget_user_id is not None:
        return [_forget_state(forget_user_id)]
    from .privacy import PrivacySettings

    # validated here, before anything is read: a missing key fails the command, not a resource
    privacy = PrivacySettings.from_config(pseudonymize, pseudonymize_key, drop_message_text, drop_network_ids,
                                          exclude)
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
            # rows of big lists inside loaded windows are dropped as soon as their time is read
            early = skip.keep if skip is not None and skip.intervals else None
            owner = archive.owner_username or archive.user_id
            for table in section_tables(entity, archive.sections_for(entity.table), archive.user_id, archive.sha256,
                                        early, privacy.protector(owner)):
                if entity.kind == "messages":  # the owner's name is never pseudonymised
                    table = table.append_column("is_own", pc.fill_null(pc.equal(table["sender"], owner), False))
                table = drop_empty_rows(table, entity)
                if skip is not None:
                    table = skip.filter(table)
                table = unique.first_seen(table)
                for batch in table.to_batches(max_chunksize=batch_rows):
                    first = not sent
                    sent += batch.num_rows
                    if append and first:  # the first batch switches this load of the table to append
                        yield dlt.mark.with_hints(batch, dlt.mark.make_hints(write_disposition="append"))
                    else:
                        yield batch
            if skip is not None:
                skip.commit()
            log.debug("%s: %d rows of %s to %s", archive.name, sent, entity.table, "append" if append else "merge")

        return rows

    def snapshot_resource(entity: Entity) -> DltResource:
        # several exports of a user in one run each yield the user's whole list; the merge must
        # keep the copy computed last (it folds in every export seen so far), not the first
        @dlt.transformer(data_from=exports, name=entity.table, write_disposition=MERGE, primary_key="row_key",
                         columns={"snapshot_version": {"data_type": "bigint", "dedup_sort": "desc"}})
        def rows(archive: OpenedArchive) -> Iterator[pa.Table]:
            from . import history

            if not archive.has_section(entity.table):
                return  # not in this export: says nothing about (un)follows
            current = _snapshot_names(entity, archive, privacy)
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

        return rows

    @dlt.transformer(data_from=exports, name="profile", write_disposition=MERGE, primary_key="row_key")
    def profile(archive: OpenedArchive) -> Iterator[pa.Table]:
        import pyarrow as pa

        from .records import TIMESTAMP, gather, keyed_table, row_keys, typed_columns

        entity = BY_TABLE["profile"]
        sections = archive.sections_for("profile")
        items = [item for s in sections for item in s.items][:1]
        if not items:
            return
        columns = typed_columns(entity, gather(items, entity.columns))
        exported = pa.array([archive.exported_at], TIMESTAMP)
        yield keyed_table(archive.user_id, row_keys(archive.user_id, "profile", {"exported_at": exported},
                                                    ("exported_at",), 1), {
            "exported_at": exported,
            **columns,
            "followers_listed": pa.array([_list_length(archive, "followers")], pa.int64()),
            "following_listed": pa.array([_list_length(archive, "following")], pa.int64()),
            "archive_sha256": pa.array([archive.sha256], pa.string()),
        })

    @dlt.transformer(data_from=exports, name="unparsed_sections", write_disposition=MERGE, primary_key="row_key")
    def unparsed_sections(archive: OpenedArchive) -> Iterator[list[dict[str, Any]]]:
        import pyarrow as pa

        from .records import row_keys

        rows_ = []
        for section in archive.unparsed:
            key = row_keys(archive.user_id, "unparsed_sections",
                           {"a": pa.array([archive.sha256]), "p": pa.array([section.path])}, ("a", "p"), 1)
            rows_.append({"user_id": archive.user_id, "row_key": key[0].as_py(), "archive": archive.name,
                          "archive_sha256": archive.sha256, "path": section.path,
                          "item_count": section.item_count, "size_bytes": section.size_bytes,
                          "reason": section.reason})
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
        if entity.table in privacy.exclude:
            continue
        if entity.kind in ("events", "messages"):
            resources.append(event_resource(entity))
        elif entity.kind == "snapshot":
            resources.append(snapshot_resource(entity))
    if "profile" not in privacy.exclude:
        resources.append(profile)
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


def _snapshot_names(entity: Entity, archive: OpenedArchive, privacy: PrivacySettings) -> dict[str, datetime | None]:
    from .records import section_tables

    current: dict[str, datetime | None] = {}
    protect = privacy.protector(archive.owner_username or archive.user_id)
    for table in section_tables(entity, archive.sections_for(entity.table), archive.user_id, archive.sha256,
                                protect=protect):
        for name, when in zip(table["username"].to_pylist(), table["followed_at"].to_pylist()):
            if name is not None and (name not in current or (when and (current[name] or when) <= when)):
                current[name] = when
    return current


def _previous_observations(tables: list[str], user_ids: list[str]
                           ) -> dict[str, dict[str, dict[str, history.Observation]]]:
    """table -> user -> username -> what the destination holds of that follower/followed account."""
    from . import history

    loaded = destination.previous_snapshots(dlt.current.pipeline(), tables, user_ids)
    return {table: {user: {r[0]: history.Observation(r[0], _aware(r[1]), _aware(r[2]), _aware(r[3])) for r in rows}
                    for user, rows in by_user.items()}
            for table, by_user in loaded.items()}


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _snapshot_table(entity: Entity, archive: OpenedArchive, rows: list[dict[str, Any]]) -> pa.Table:
    import pyarrow as pa

    from .records import TIMESTAMP, keyed_table, row_keys

    usernames = pa.array([r["username"] for r in rows], pa.string())
    keys = row_keys(archive.user_id, entity.table, {"username": usernames}, ("username",), len(rows))
    return keyed_table(archive.user_id, keys, {
        "username": usernames,
        **{name: pa.array([r[name] for r in rows], TIMESTAMP)
           for name in ("followed_at", "first_seen_at", "last_seen_at", "disappeared_at")},
        "is_current": pa.array([r["is_current"] for r in rows], pa.bool_()),
        "snapshot_version": pa.array([time.time_ns()] * len(rows), pa.int64()),
    })


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
