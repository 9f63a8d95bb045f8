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

dagster-dlt wipes the local dlt state before every run; ours lives in the destination, so nothing is
lost. Loads share one dlt pipeline state, so run them one at a time: they use the concurrency pool
``tiktok_portability``; give it one slot (``dagster instance concurrency set tiktok_portability 1``).
"""

# no `from __future__ import annotations`: dagster reads the context and resource annotations at runtime
from collections.abc import Iterator
from typing import Any, Optional

import dlt
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

from tiktok_portability_source import tiktok_portability
from tiktok_portability_source.api import scheduling
from tiktok_portability_source.api import ApiService
from tiktok_portability_source.api.config import load_api_config
from tiktok_portability_source.loader import LoadFailed

USERS = DynamicPartitionsDefinition(name="tiktok_users")
POOL = "tiktok_portability"
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


def build_definitions(pipeline: Optional[dlt.Pipeline] = None, *, tiktok: Optional[TikTokApi] = None,  # noqa: UP045
                      minimum_interval_seconds: int = 300) -> Definitions:
    """The definitions for one dlt pipeline (from ``TIKTOK_PORTABILITY_*`` env vars by default)."""
    pipeline = pipeline or scheduling.pipeline_from_env()

    # the source object only describes the tables here; each run builds one for its user's archive
    @dlt_assets(dlt_source=tiktok_portability(archives=[]), dlt_pipeline=pipeline, name="tiktok_portability",
                group_name="tiktok", partitions_def=USERS, pool=POOL)
    def tiktok_assets(context: AssetExecutionContext, dlt: DagsterDltResource, tiktok: TikTokApi) -> Iterator[Any]:
        open_id = context.partition_key
        service = tiktok.service(pipeline)
        [outcome] = scheduling.advance(service, [open_id], stop_before="load")  # downloads a ready export
        transfer = scheduling.downloaded(service, open_id)
        if transfer is None:
            raise Failure(f"{open_id}: no downloaded export to load ({outcome.state}: {outcome.message})",
                          allow_retries=False)
        try:  # a run for some tables only is not a load attempt: the export stays for a full run
            source = scheduling.start_load(service, transfer, count=not context.is_subset)
        except LoadFailed as exc:  # the export failed max_load_attempts times: the transfer is failed now
            raise Failure(str(exc), allow_retries=False) from None
        try:
            yield from dlt.run(context=context, dlt_source=source)
        except Exception as exc:
            if not context.is_subset:
                scheduling.load_failed(service, transfer, exc)  # after the last attempt: no more run requests
            raise
        if context.is_subset:  # some tables only: keep the export for a run that loads them all
            context.log.warning(f"{open_id}: only some tables selected; the export stays downloaded")
            return
        done = scheduling.finish(service, transfer)
        context.log.info(f"{open_id}: {done.message}")

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
