"""Dagster definitions: the ``tiktok_portability`` dlt source as assets, one partition per TikTok user.

    dagster dev -f pipelines/dagster_defs.py

- **Assets**: ``@dlt_assets`` (dagster-dlt), one asset per table, partitioned by user (dynamic
  partitions ``tiktok_users``, keyed by open_id). A run loads that user's downloaded export.
- **Sensor** ``tiktok_transfers`` (off until you switch it on): every few minutes it adds a
  partition for each user in the token store, advances every user's transfer (add → check, the
  cheap API calls) and requests a run for each user whose export is ready; the run downloads it,
  loads it with dagster-dlt and marks the transfer loaded.

Wiring only: the steps are ``tiktok_portability_source.api.scheduling``, the same state machine and
loader as ``tiktok-portability sync``. Configuration comes from the environment:

- API mode as for the CLI: ``SOURCES__TIKTOK_PORTABILITY__CLIENT_KEY`` / ``__CLIENT_SECRET`` /
  ``__TOKEN_STORE`` (or ``.dlt/``); authorize users once with ``tiktok-portability auth``.
- destination: ``TIKTOK_PORTABILITY_DESTINATION`` (default DuckDB in ``TIKTOK_PORTABILITY_DUCKDB``,
  ``tiktok_portability.duckdb``), ``TIKTOK_PORTABILITY_DATASET``, credentials the dlt way
  (e.g. ``DESTINATION__POSTGRES__CREDENTIALS``).

A load that fails is retried by the next tick's run, up to ``max_load_attempts`` (default 3); then the
transfer is ``failed`` with the reason and the sensor stops requesting runs for it.

Running partitions side by side:

- **Warehouse destinations** (PostgreSQL and the other server destinations): no concurrency pool, so
  the runs of different users load at the same time (as many as the run coordinator starts; the
  multiprocess executor runs each step in its own process). Each user's bookkeeping (loaded windows,
  snapshot times) is rows of that user in ``_tiktok_user_state``, written in the same load as the
  user's rows, and each user's merges stage their rows in a staging dataset of the user's own
  (``<dataset>_staging_w<digest>``, the loader's worker staging, which ``forget`` and ``VACUUM`` know):
  two loads sharing dlt's one ``<dataset>_staging`` truncate and merge each other's rows. Two runs
  creating the same table or column at once (the first loads into an empty dataset) are normal: the
  one that lost the race runs again. Runs of one user must not overlap (the sensor never requests a
  second one while one is in progress).
- **DuckDB** (one local file, one writer at a time): the assets use the concurrency pool
  ``tiktok_portability``; give it one slot (``dagster instance concurrency set tiktok_portability 1``).
  The load also holds the destination's working-folder lock (``worklock``, as ``tiktok-portability
  load`` / ``sync`` do), so a Dagster run and a CLI load of the same file wait for each other.

Each run loads in a dlt working folder of its own, ``runs/<host>_<pid>_<random>/`` in the pipeline's
pipelines dir, removed when the run ends, failed or not (a run starts by removing those of dead
processes on the same host). Two runs never share one: dlt's local state and load packages are per
folder, and dagster-dlt drops the folder's state before each run. Nothing is lost: the state is
restored from the destination.
"""

# no `from __future__ import annotations`: dagster reads the context and resource annotations at runtime
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import dlt
from dlt.common.destination import Destination
from dlt.pipeline.helpers import retry_schema_update
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random
from dagster import (
    AssetExecutionContext,
    AssetSelection,
    ConfigurableResource,
    DagsterRunStatus,
    Definitions,
    DynamicPartitionsDefinition,
    Failure,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from dagster_dlt import DagsterDltResource, dlt_assets

from tiktok_portability_source import runfolders, tiktok_portability, worklock
from tiktok_portability_source.api import scheduling
from tiktok_portability_source.api import ApiService
from tiktok_portability_source.api.config import load_api_config
from tiktok_portability_source.loader import LoadFailed, worker_staging

USERS = DynamicPartitionsDefinition(name="tiktok_users")
POOL = "tiktok_portability"  # DuckDB destinations only
SINGLE_WRITER = {"duckdb"}  # destination types whose loads must run one at a time
RUN_TAG = "tiktok_portability/load"
IN_PROGRESS = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
               DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


class TikTokApi(ConfigurableResource):  # type: ignore[misc]
    """API-mode overrides; unset fields come from ``.dlt/`` or ``SOURCES__TIKTOK_PORTABILITY__*``."""

    token_store: Optional[str] = None  # noqa: UP045 - dagster config fields need typing.Optional
    api_base_url: Optional[str] = None  # noqa: UP045
    min_interval_seconds: Optional[int] = None  # noqa: UP045

    def service(self, pipeline: dlt.Pipeline) -> ApiService:
        explicit = {k: v for k, v in {"token_store": self.token_store, "api_base_url": self.api_base_url,
                                      "min_interval_seconds": self.min_interval_seconds}.items() if v is not None}
        return ApiService(load_api_config(**explicit), lambda: pipeline)


def single_writer(pipeline: dlt.Pipeline) -> bool:
    """A destination that takes one load at a time (a local DuckDB file), not a warehouse."""
    return str(pipeline.destination.destination_type).rsplit(".", 1)[-1] in SINGLE_WRITER


@contextlib.contextmanager
def run_pipeline(pipeline: dlt.Pipeline, open_id: str) -> Iterator[dlt.Pipeline]:
    """``pipeline`` (same name, destination, dataset) for one run of one user: in a fresh working
    folder of the run's own, removed afterwards, and on a warehouse with the user's own staging dataset."""
    destination = pipeline.destination
    if not single_writer(pipeline):
        params = {**destination.config_params, **destination.caps_params,
                  "staging_dataset_name_layout": worker_staging(open_id)}
        destination = Destination.from_reference(destination.destination_type, **params)
    runs = Path(pipeline.pipelines_dir) / "runs"
    runs.mkdir(mode=0o700, parents=True, exist_ok=True)
    runfolders.sweep_dead(runs)
    folder = tempfile.mkdtemp(prefix=f"{runfolders.process_prefix()}_", dir=runs)  # owner only
    try:
        yield dlt.pipeline(pipeline_name=pipeline.pipeline_name, pipelines_dir=folder, destination=destination,
                           staging=pipeline.staging, dataset_name=pipeline.dataset_name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _load(context: AssetExecutionContext, resource: DagsterDltResource, service: ApiService,
          loading: dlt.Pipeline, transfer: Any) -> Iterator[Any]:
    """Load the user's downloaded export with dagster-dlt in ``loading``, then finish the transfer."""
    open_id = transfer.open_id
    try:  # a run for some tables only is not a load attempt: the export stays for a full run
        source = scheduling.start_load(service, transfer, count=not context.is_subset)
    except LoadFailed as exc:  # the export failed max_load_attempts times: the transfer is failed now
        raise Failure(str(exc), allow_retries=False) from None
    try:
        yield from _run_dlt(context, resource, loading, transfer, source)
    except Exception as exc:
        if not context.is_subset:
            scheduling.load_failed(service, transfer, exc)  # after the last attempt: no more run requests
        raise
    if context.is_subset:  # some tables only: keep the export for a run that loads them all
        context.log.warning(f"{open_id}: only some tables selected; the export stays downloaded")
        return
    done = scheduling.finish(service, transfer)
    context.log.info(f"{open_id}: {done.message}")


def _run_dlt(context: AssetExecutionContext, resource: DagsterDltResource, loading: dlt.Pipeline,
             transfer: Any, source: Any) -> Iterator[Any]:
    """dagster-dlt's run, again when its load lost a race with another user's load to create a table or
    add a column (dlt re-reads the destination and applies only what is still missing). dagster-dlt
    drops the working folder before it runs, so the source is made anew and extracted again."""
    for attempt in Retrying(retry=retry_if_exception(retry_schema_update()), stop=stop_after_attempt(4),
                            wait=wait_random(0.2, 1.5), reraise=True):
        with attempt:
            if attempt.retry_state.attempt_number > 1:
                context.log.warning("another load changed the schema at the same time; loading again")
                source = scheduling.source_for(transfer)
            # the materializations come once dlt has loaded: nothing is reported twice
            results = list(resource.run(context=context, dlt_source=source, dlt_pipeline=loading))
    yield from results


def build_definitions(pipeline: Optional[dlt.Pipeline] = None, *, tiktok: Optional[TikTokApi] = None,  # noqa: UP045
                      minimum_interval_seconds: int = 300) -> Definitions:
    """The definitions for one dlt pipeline (from ``TIKTOK_PORTABILITY_*`` env vars by default). Its
    working folder is not the runs': each run loads with a copy in a folder of its own (``run_pipeline``)."""
    pipeline = pipeline or scheduling.pipeline_from_env()
    one_writer = single_writer(pipeline)

    # the source object only describes the tables here; each run builds one for its user's archive
    @dlt_assets(dlt_source=tiktok_portability(archives=[]), dlt_pipeline=pipeline, name="tiktok_portability",
                group_name="tiktok", partitions_def=USERS, pool=POOL if one_writer else None)
    def tiktok_assets(context: AssetExecutionContext, dlt: DagsterDltResource, tiktok: TikTokApi) -> Iterator[Any]:
        open_id = context.partition_key
        with run_pipeline(pipeline, open_id) as loading:
            service = tiktok.service(loading)
            [outcome] = scheduling.advance(service, [open_id], stop_before="load")  # downloads a ready export
            transfer = scheduling.downloaded(service, open_id)
            if transfer is None:
                raise Failure(f"{open_id}: no downloaded export to load ({outcome.state}: {outcome.message})",
                              allow_retries=False)
            # DuckDB: one load at a time, also against the CLI (whose working folder's lock this is)
            with worklock.exclusive(pipeline) if one_writer else contextlib.nullcontext():
                yield from _load(context, dlt, service, loading, transfer)

    @sensor(name="tiktok_transfers", asset_selection=AssetSelection.assets(tiktok_assets),
            minimum_interval_seconds=minimum_interval_seconds)
    def tiktok_transfers(context: SensorEvaluationContext, tiktok: TikTokApi) -> SensorResult:
        service = tiktok.service(pipeline)  # the sensor never touches the destination
        users = service.users()
        known = set(context.instance.get_dynamic_partitions(USERS.name))
        for outcome in scheduling.advance(service, users, stop_before="download"):
            context.log.info(f"{outcome.open_id}: {outcome.state}: {outcome.message}")
        running = {r.dagster_run.tags.get("dagster/partition") for r in context.instance.get_run_records(
            RunsFilter(statuses=IN_PROGRESS, tags={RUN_TAG: "1"}))}
        # no run_key: a failed run leaves the transfer ready/downloaded and the next tick tries again
        runs = [RunRequest(partition_key=t.open_id, tags={RUN_TAG: "1"})
                for t in scheduling.to_load(service, users) if t.open_id not in running]
        new = [u for u in users if u not in known]
        return SensorResult(run_requests=runs,
                            dynamic_partitions_requests=[USERS.build_add_request(new)] if new else None)

    return Definitions(assets=[tiktok_assets], sensors=[tiktok_transfers],
                       resources={"dlt": DagsterDltResource(), "tiktok": tiktok or TikTokApi()})


defs = build_definitions()
