"""What orchestrators need from API mode: the sync split at the download / load boundary.

``tiktok-portability sync`` (cron) runs add → check → download → load in one process. An
orchestrator wants the cheap polling in a sensor or a short task and the load in a run it can
retry, log and partition by user, with the load done by its own dlt integration. The steps:

1. ``advance(service, users, stop_before="download" | "load")``: one ``Syncer`` step per user that
   stops before downloading (a sensor tick: short, no big transfer) or before loading (a worker).
2. ``to_load(service)``: users whose latest request is ready or downloaded: request a run for them.
3. ``start_load(service, transfer)``: counts the load attempt and returns the ``tiktok_portability`` dlt
   source for that downloaded archive (``source_for``), to be run by the orchestrator (dagster-dlt's
   ``DagsterDltResource.run``, dlt's ``PipelineTasksGroup``); ``load_failed`` records why a run failed.
   After ``max_load_attempts`` (default 3) the transfer is ``failed`` and no more runs are requested.
4. ``finish(service, transfer)``: the ``Syncer``'s own load step, confirmed against the destination
   (the archive's row in ``archives``): the transfer becomes ``loaded``, its archive is removed and
   ``export_requests`` is updated, exactly as after ``sync``.

Nothing here keeps state of its own: transfers live in the transfer store, cursors and follower
history in the destination (``_dlt_pipeline_state``), so any worker can run any step.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dlt

from .. import settings, tiktok_portability
from .auth import TokenStore
from ..destination import is_missing_relation
from ..redaction import redact_every_record
from ..layouts import DATA_TABLES
from ..loader import LoadFailed, make_pipeline
from .transfers import DOWNLOADED, IN_FLIGHT, READY, Outcome, StopBefore, Transfer

if TYPE_CHECKING:
    from dlt.extract.source import DltSource

    from .service import ApiService

# an orchestrator attaches its log handlers after importing this module: mask secrets at the source
redact_every_record()

# configuration of an orchestrated pipeline (the CLI's --destination / --duckdb / --dataset / --pipelines-dir)
ENV_DESTINATION = "TIKTOK_PORTABILITY_DESTINATION"
ENV_DUCKDB = settings.ENV_DUCKDB
ENV_DATASET = "TIKTOK_PORTABILITY_DATASET"
ENV_PIPELINES_DIR = "TIKTOK_PORTABILITY_PIPELINES_DIR"
ENV_USERS = "TIKTOK_PORTABILITY_USERS"  # static list of open_ids, instead of the token store's users



def pipeline_from_env(*, pipelines_dir: str | os.PathLike[str] | None = None,
                      ignore_env_pipelines_dir: bool = False) -> dlt.Pipeline:
    """``make_pipeline`` configured from ``TIKTOK_PORTABILITY_*`` env vars (DuckDB in the working
    directory by default); destination credentials come from dlt's own env vars / ``.dlt``.

    The dlt working folder is ``pipelines_dir``, else ``TIKTOK_PORTABILITY_PIPELINES_DIR`` (unless
    ``ignore_env_pipelines_dir``: Airflow's ``PipelineTasksGroup`` insists on a fresh folder of its
    own), else dlt's default. Any of them may be thrown away: the state lives in the destination.
    """
    env = os.environ
    if pipelines_dir is None and not ignore_env_pipelines_dir:
        pipelines_dir = env.get(ENV_PIPELINES_DIR) or None
    return make_pipeline(
        destination_name=env.get(ENV_DESTINATION) or None,
        duckdb_path=env.get(ENV_DUCKDB) or None,
        dataset=env.get(ENV_DATASET) or settings.DEFAULT_DATASET,
        pipelines_dir=pipelines_dir,
    )


def scheduled_users(token_store: str | os.PathLike[str] | None = None) -> list[str]:
    """The users to schedule: ``TIKTOK_PORTABILITY_USERS`` (comma-separated open_ids) if set, else
    every user in the token store (ids only: tokens are never read out)."""
    static = os.environ.get(ENV_USERS)
    if static:
        return sorted({u.strip() for u in static.split(",") if u.strip()})
    if token_store is None:
        # just this key, not the whole API config: DAG files are parsed often, and under Airflow every key
        # that is not in env or .dlt/ is looked up in Airflow Variables (a database query)
        from .config import ApiConfig

        token_store = dlt.config.get("sources.tiktok_portability.token_store") or ApiConfig(client_key=None).token_store
    path = Path(token_store).expanduser()
    return TokenStore(path).open_ids()  # a read: a store that does not exist yet is not created


def advance(service: ApiService, users: Sequence[str] | None = None, *, stop_before: StopBefore = "load",
            poll_now: bool = False) -> list[Outcome]:
    """One sync step per user (add / check / download) that never loads and never writes to the
    destination: safe in a sensor tick while a load of another user is running. Users are stepped
    ``workers`` at a time under the shared rate limit, as in ``sync``."""
    return service.step_users(service.users() if users is None else users, poll_now=poll_now,
                              stop_before=stop_before)


def _latest_in_flight(service: ApiService, users: Sequence[str] | None) -> dict[str, Transfer]:
    wanted = None if users is None else set(users)
    latest: dict[str, Transfer] = {}
    for transfer in service.transfers.all():  # oldest first: the last one per user wins
        if transfer.state in IN_FLIGHT and (wanted is None or transfer.open_id in wanted):
            latest[transfer.open_id] = transfer
    return latest


def to_load(service: ApiService, users: Sequence[str] | None = None) -> list[Transfer]:
    """Each user's in-flight transfer that is ready to download or downloaded: worth a load run. By
    user, so a sensor asks for runs in the same order whichever concurrent step finished first."""
    latest = _latest_in_flight(service, users)
    return [latest[u] for u in sorted(latest) if latest[u].state in (READY, DOWNLOADED)]


def downloaded(service: ApiService, open_id: str) -> Transfer | None:
    """The user's downloaded transfer waiting to be loaded, if any."""
    transfer = _latest_in_flight(service, [open_id]).get(open_id)
    return transfer if transfer is not None and transfer.state == DOWNLOADED else None


def source_for(transfer: Transfer) -> DltSource:
    """The dlt source that loads one downloaded transfer (what ``sync`` would load)."""
    if transfer.state != DOWNLOADED or not transfer.archive_path:
        raise LoadFailed(f"request {transfer.request_id} of {transfer.open_id} is {transfer.state}, not downloaded")
    return tiktok_portability(archives=[transfer.archive_input()])


def start_load(service: ApiService, transfer: Transfer, *, count: bool = True) -> DltSource:
    """``source_for`` that first counts the load attempt (``count=False`` for a run that loads only some
    tables). Raises ``LoadFailed`` once ``max_load_attempts`` were used: the transfer is then ``failed``
    and ``to_load`` no longer offers it, so a broken export stops being retried on every tick."""
    if count and not service.syncer.begin_load(transfer):
        raise LoadFailed(f"{transfer.open_id}: request {transfer.request_id} {transfer.error}")
    return source_for(transfer)


def load_failed(service: ApiService, transfer: Transfer, exc: BaseException | str) -> None:
    """The orchestrator's load of ``start_load``'s source raised: record why (and give up after the last
    attempt), so the reason is in ``status`` and ``export_requests``, not only in the run's log."""
    current = service.transfers.get(transfer.local_id) or transfer
    service.syncer.load_failed(current, exc)
    service.record_requests([transfer.open_id])


def rows_written(pipeline: dlt.Pipeline, open_id: str, archive_sha256: str | None) -> int | None:
    """Rows of the user's data tables written by the load that recorded this archive in ``archives``;
    ``None`` if the archive is not in the destination (the load did not happen).

    Plain SQL on one connection, no ``information_schema`` (BigQuery has none at dataset level);
    a table that does not exist counts 0, as in ``destination.query``."""
    if not archive_sha256:
        return None

    def scalar(client: Any, sql: str, table: str, *params: Any) -> Any:
        try:
            with client.execute_query(sql.format(table=client.make_qualified_table_name(table)), *params) as cursor:
                return cursor.fetchall()[0][0]
        except Exception as exc:
            if is_missing_relation(exc):
                return None
            raise

    with pipeline.sql_client() as client:
        load_id = scalar(client, "SELECT MAX(_dlt_load_id) FROM {table} WHERE user_id = %s AND archive_sha256 = %s",
                         "archives", open_id, archive_sha256)
        if load_id is None:
            return None
        return sum(int(scalar(client, "SELECT COUNT(*) FROM {table} WHERE user_id = %s AND _dlt_load_id = %s",
                              table, open_id, load_id) or 0) for table in DATA_TABLES)


def finish(service: ApiService, transfer: Transfer) -> Outcome:
    """After the orchestrator loaded ``start_load(transfer)``: the ``Syncer``'s load step with the load
    confirmed in the destination, so the transfer ends exactly as after ``sync`` (``loaded``, rows
    counted, archive removed unless ``keep_archives``, ``export_requests`` updated).

    Raises ``LoadFailed`` unless the transfer ended ``loaded``. An archive missing from the destination
    counts as a failed load attempt (``failed`` after the last one, as under ``sync``)."""
    pipeline = service.pipeline
    current = service.transfers.get(transfer.local_id) or transfer
    try:
        if current.state != DOWNLOADED:
            raise LoadFailed(f"{current.state}: {current.error or 'not a downloaded export'}")
        rows = rows_written(pipeline, current.open_id, current.archive_sha256)
        if rows is None:
            service.syncer.load_failed(current, f"archive {current.archive_sha256} of request "
                                                f"{current.request_id} is not in the destination")
            raise LoadFailed(f"{current.state}: {current.error}")
        service.syncer.loaded(current, rows)
    except LoadFailed as exc:
        raise LoadFailed(f"{transfer.open_id}: request {transfer.request_id} not loaded ({exc})") from None
    finally:
        service.record_requests([transfer.open_id])
    return service.syncer.describe(current)
