"""dlt source for a TikTok user's own data: one resource per data scope, built from ``layouts.ENTITIES``.

Archives are opened once by a hidden ``exports`` resource and fanned out to one transformer per
table, so each archive is parsed a single time. Every table merges on a deterministic ``row_key``
(loading an archive twice adds nothing); event tables skip rows already covered for that user
(see ``history.py``, remembered per user in ``_tiktok_user_state``); followers/following keep first-seen / last-seen / disappeared-at history;
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dlt
from dlt.sources import DltResource

from . import settings
from .archive import OpenedArchive, open_archive
from .archive.sections import validate_lists
from .layouts import ENTITIES, EVENT_TABLES, Entity
from .reconcile import REPORT_COLUMNS, REPORT_TABLE
from .user_state import COLUMNS as USER_STATE_COLUMNS
from .user_state import USER_STATE_TABLE

if TYPE_CHECKING:
    from .helpers import LoadState

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
    state: LoadState | None = None

    def load_state() -> LoadState:
        nonlocal state
        if state is None:
            from .helpers import LoadState

            state = LoadState([i.user_id for i in inputs if i.user_id], len(inputs), privacy, opted_in,
                              skip_loaded_windows, batch_rows, table_names=frozenset(t.name for t in tables))
        return state

    @dlt.resource(name="exports", selected=False)
    def exports() -> Iterator[OpenedArchive]:
        if inputs:
            privacy.check_dataset(dlt.current.source_state())
        skipped = [e.table for e in ENTITIES if e.table in privacy.exclude or (e.opt_in and e.table not in opted_in)]
        for number, item in enumerate(inputs, start=1):
            log.info("reading archive %d/%d: %s (%s)", number, len(inputs), item.path.name, _size(item.path))
            archive = open_archive(item.path, user_id=item.user_id, exported_at=item.exported_at)
            validate_lists(archive, skipped)  # lists no table will read are still checked, not just counted
            yield archive
        if len(inputs) > 1:
            from .helpers import END_OF_RUN

            yield END_OF_RUN  # the event tables hand over what they gathered

    def event_resource(entity: Entity) -> DltResource:
        @dlt.transformer(data_from=exports, name=entity.table, write_disposition=MERGE, **EVENT_KEY)
        def rows(archive: OpenedArchive) -> Iterator[Any]:
            from .helpers import event_rows

            yield from event_rows(load_state(), entity, archive)

        return rows

    def snapshot_resource(entity: Entity) -> DltResource:
        # several exports of a user in one run each yield the user's whole list; the merge must
        # keep the copy computed last (it folds in every export seen so far), not the first
        @dlt.transformer(data_from=exports, name=entity.table, write_disposition=MERGE, primary_key="row_key",
                         columns={"snapshot_version": {"data_type": "bigint", "dedup_sort": "desc"},
                                  "deleted_account": {"data_type": "bool"}})
        def rows(archive: OpenedArchive) -> Iterator[Any]:
            from .helpers import snapshot_rows

            yield from snapshot_rows(load_state(), entity, archive)

        return rows

    def export_resource(entity: Entity) -> DltResource:
        """A table with one row (profile, counters) or one row per key (settings) per export."""
        @dlt.transformer(data_from=exports, name=entity.table, write_disposition=MERGE, primary_key="row_key")
        def rows(archive: OpenedArchive) -> Iterator[Any]:
            from .helpers import export_rows

            yield from export_rows(load_state(), entity, archive)

        return rows

    @dlt.transformer(data_from=exports, name="unparsed_sections", write_disposition=MERGE, primary_key="row_key")
    def unparsed_sections(archive: OpenedArchive) -> Iterator[list[dict[str, Any]]]:
        from .helpers import EndOfRun, unparsed_rows, wait_for_tables

        if isinstance(archive, EndOfRun):
            return
        yield from wait_for_tables(load_state(), archive)
        rows = unparsed_rows(load_state(), archive)
        if rows:
            yield rows

    @dlt.transformer(data_from=exports, name=REPORT_TABLE, write_disposition=MERGE, primary_key="row_key",
                     columns=REPORT_COLUMNS)
    def load_report(archive: OpenedArchive) -> Iterator[list[dict[str, Any]]]:
        from .helpers import EndOfRun, report_rows_of, wait_for_tables

        if isinstance(archive, EndOfRun):  # every table resource handed over what it gathered
            yield from wait_for_tables(load_state(), archive)  # type: ignore[arg-type]
            load_state().check_flushed()
            return
        yield from wait_for_tables(load_state(), archive)
        rows = report_rows_of(load_state(), archive)
        if rows:
            yield rows

    @dlt.transformer(data_from=exports, name="archives", write_disposition=MERGE, primary_key="row_key")
    def archives_loaded(archive: OpenedArchive) -> Iterator[dict[str, Any]]:
        from .helpers import EndOfRun, archive_row

        if not isinstance(archive, EndOfRun):
            yield archive_row(archive)

    tables: list[DltResource] = []
    for entity in ENTITIES:
        if entity.table in privacy.exclude or (entity.opt_in and entity.table not in opted_in):
            continue
        if entity.table in EVENT_TABLES:
            tables.append(event_resource(entity))
        elif entity.kind == "snapshot":
            tables.append(snapshot_resource(entity))
        else:
            tables.append(export_resource(entity))

    @dlt.transformer(data_from=exports, name=USER_STATE_TABLE, write_disposition=MERGE, primary_key="row_key",
                     columns=USER_STATE_COLUMNS)
    def user_state(archive: OpenedArchive) -> Iterator[list[dict[str, Any]]]:
        from .helpers import EndOfRun, user_state_rows, wait_for_tables

        if isinstance(archive, EndOfRun):
            return
        yield from wait_for_tables(load_state(), archive)
        rows = user_state_rows(load_state(), archive)
        if rows:
            yield rows

    # the bookkeeping resources sum up what the table resources did with an archive: they wait for
    # them (``wait_for_tables``). dlt's fork hands an archive to the transformers in the reverse of
    # their order here, so with fifo extraction they are listed first and need not wait
    return [exports, user_state, load_report, unparsed_sections, *tables, archives_loaded]


def _size(path: Path) -> str:
    """A file's or folder's size for a progress line."""
    try:
        size = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except OSError:
        return "size unknown"
    return f"{size / 1024**2:.1f} MB"


def _forget_state(user_id: str) -> DltResource:
    @dlt.resource(name="forget_user_state", selected=True)
    def forget_user_state() -> Iterator[Any]:
        """Drop a user's windows and snapshot times kept in dlt state by older versions (their rows in
        ``_tiktok_user_state`` go with the user's other rows), so a later load starts afresh."""
        for state in dlt.current.source_state().get("resources", {}).values():
            for section in ("coverage", "snapshots"):
                state.get(section, {}).pop(user_id, None)
        yield from ()

    return forget_user_state


@dlt.resource(name="export_requests", write_disposition=MERGE, primary_key="row_key")
def export_requests(transfers: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """One row per portability request (API mode), from the local transfer store."""
    from .records import row_key

    rows = []
    for t in transfers:
        key = row_key(t["open_id"], "export_requests", t["local_id"])
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
