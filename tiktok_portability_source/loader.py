"""Build the pipeline and run an archive load: the one entry point the CLI, API sync and pipelines share."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import Destination
from dlt.common.runtime.collector_base import Collector
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.exceptions import PipelineStepFailed

from . import destination, quarantine, settings, worklock
from . import tiktok_portability
from .errors import ArchiveError, LoadFailed, PrivacyError
from .crash import CRASH_ENV, crash_point
from .layouts import ALL_TABLES, EVENT_TABLES
from .records import release_memory

log = logging.getLogger(__name__)

TABLES = ALL_TABLES  # every table a load may write (the per-load summary counts them)



@dataclass
class LoadResult:
    before: dict[str, int]
    after: dict[str, int]
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    # table -> what became of the records this load read (reconcile.COUNTS), from load_report
    report: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def added(self) -> dict[str, int]:
        return {t: self.after.get(t, 0) - self.before.get(t, 0) for t in self.after}


def make_pipeline(
    *,
    duckdb_path: str | os.PathLike[str] | None = None,
    destination_name: str | None = None,
    dataset: str = settings.DEFAULT_DATASET,
    pipelines_dir: str | os.PathLike[str] | None = None,
    pipeline_name: str = settings.PIPELINE_NAME,
    worker: str | None = None,
) -> dlt.Pipeline:
    """DuckDB file by default (in the working directory); any dlt destination by name otherwise.

    ``worker`` (default ``TIKTOK_PORTABILITY_WORKER``) gives a warehouse load a working folder of its
    own, so that workers load side by side (``worklock``); DuckDB ignores it."""
    # arrow rows get dlt's load id too, so every row can be traced to the load that wrote it
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    # one table at a time: an archive's big lists are read block by block, and round-robin between
    # tables would hold a block of each in memory at once (the order of rows does not matter)
    os.environ.setdefault("EXTRACT__NEXT_ITEM_MODE", "fifo")
    # the parquet files between extract and load live a few seconds on local disk: compressing them
    # costs more CPU than it saves
    os.environ.setdefault("DATA_WRITER__COMPRESSION", "none")
    # a loaded package's job files are the rows, personal data included: gone once loaded; and the
    # staging copies a merge leaves in <dataset>_staging are emptied after each load
    os.environ.setdefault("LOAD__DELETE_COMPLETED_JOBS", "true")
    os.environ.setdefault("LOAD__TRUNCATE_STAGING_DATASET", "true")
    if destination_name and destination_name != "duckdb":
        dest: Any = destination_name
        credentials = os.environ.get(f"DESTINATION__{destination_name.upper()}__CREDENTIALS", "")
        identity = f"{destination_name}|{dataset}|{credentials}"  # hashed into a folder name, never stored
        worker = worker or os.environ.get(worklock.WORKER_ENV) or None
        if worker:  # merges stage their rows in a dataset of the worker's own
            dest = Destination.from_reference(destination_name, staging_dataset_name_layout=worker_staging(worker))
    else:
        db_file = Path(duckdb_path or settings.DEFAULT_DUCKDB).absolute()
        if db_file.stem == dataset:
            # DuckDB names the catalog after the file; "tiktok.tiktok" then fails to bind at load time
            raise LoadFailed(f"{db_file.name}: a DuckDB file named like the dataset '{dataset}' confuses DuckDB; "
                             "choose another file name or another --dataset")
        # DuckDB caches every block a load writes up to its memory limit (80% of RAM by default):
        # the cache, not the data, would set the peak memory of big loads
        dest = dlt.destinations.duckdb(DuckDbCredentials(str(db_file), global_config=dict(settings.DUCKDB_CONFIG)))
        identity = f"duckdb|{db_file}|{dataset}"
        worker = None  # one writer: every load of the file shares one folder and waits for its lock
    if pipelines_dir is None:  # not dlt's one shared folder: two databases never share a working folder
        pipelines_dir = worklock.default_pipelines_dir(identity, worker)
    pipeline = dlt.pipeline(pipeline_name=pipeline_name, destination=dest, dataset_name=dataset,
                            pipelines_dir=str(pipelines_dir))
    os.chmod(pipeline.working_dir, 0o700)  # its packages hold rows between extract and load: owner only
    return pipeline


class _CrashCollector(Collector):
    """dlt's progress callbacks as crash points: rows extracted / normalized, load jobs completed.

    dlt reports a job complete only after it moved the job file to ``completed_jobs``, so
    ``load_job:<n>`` dies with n jobs done at the destination and the rest of the package not.
    Installed only while ``CRASH_ENV`` is set (tests); production keeps dlt's null collector."""

    def __init__(self) -> None:
        self.step = ""
        self.rows = 0
        self.jobs_done = 0

    def _start(self, step: str) -> None:
        self.step, self.rows = step, 0

    def _stop(self) -> None:
        pass

    def update(self, name: str, inc: int = 1, total: int | None = None, inc_total: int | None = None,
               message: str | None = None, label: str | None = None) -> None:
        stage = self.step.split(" ", 1)[0]
        if stage == "Load":
            # one call per job that reached completed_jobs (the start-up calls carry totals or 0)
            if name == "Jobs" and inc == 1 and total is None and inc_total is None and label is None:
                self.jobs_done += 1
                crash_point("load_job", self.jobs_done)
        elif name not in ("Resources", "Files", "Items"):  # a table's rows
            self.rows += inc
            crash_point({"Extract": "extract_rows", "Normalize": "normalize_rows"}.get(stage, ""), self.rows)


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        if isinstance(seen, ArchiveError):
            return seen
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return seen


def _one_line_cause(exc: BaseException) -> str:
    cause = _root_cause(exc)
    return f"{type(cause).__name__}: {(str(cause).splitlines() or [''])[0]}"


def worker_staging(worker: str) -> str:
    """dlt's ``staging_dataset_name_layout`` of a worker: ``<dataset>_staging_w<digest>``."""
    return f"%s{destination.STAGING_SUFFIX}_{worklock.worker_tag(worker)}"


def _load_step(pipeline: dlt.Pipeline) -> Any:
    """``pipeline.load()``, again when it lost a race with another worker to create a table or add a
    column (dlt re-reads the destination and applies only what is still missing)."""
    from dlt.pipeline.helpers import retry_schema_update
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random

    for attempt in Retrying(retry=retry_if_exception(retry_schema_update()), stop=stop_after_attempt(4),
                            wait=wait_random(0.2, 1.5), reraise=True,
                            before_sleep=lambda s: log.warning("another load changed the schema at the same "
                                                               "time; loading again")):
        with attempt:
            return pipeline.load()
    raise AssertionError("unreachable")  # Retrying either returns or re-raises


def finish_pending(pipeline: dlt.Pipeline) -> bool:
    """Normalize and load what a killed run left behind (extracted or normalized packages); True if any.

    This must happen before the next extract: that run's resource state (loaded windows, snapshot
    times) already counts the pending rows as loaded, and what the source decides from the
    destination (append or merge, earlier follower snapshots) is only right once they are there.
    A job that reached the destination but was not yet marked done runs again; for an appended
    table that means its rows twice, which ``remove_repeated_rows`` undoes.
    """
    extracted, normalized = pipeline.list_extracted_load_packages(), pipeline.list_normalized_load_packages()
    if not extracted and not normalized:
        return False
    log.warning("finishing %d load package(s) an interrupted run left behind", len(extracted) + len(normalized))
    try:
        if extracted:
            pipeline.normalize()
        pipeline.load().raise_on_failed_jobs()
    except Exception as exc:  # noqa: BLE001 - whatever it is, it must not block the loads after it
        quarantine.set_aside(pipeline, _one_line_cause(exc))
        return True
    repaired = destination.remove_repeated_rows(pipeline, EVENT_TABLES)
    if repaired:
        log.warning("removed rows written twice by the interrupted load: %s", repaired)
    return True


def load_archives(pipeline: dlt.Pipeline, archives: Sequence[Any], *, user_id: str | None = None,
                  skip_loaded_windows: bool = True) -> LoadResult:
    """Extract → normalize → load, logging each step; all-or-nothing for the archives given. One run
    at a time per working folder: another waits (``worklock``)."""
    with worklock.exclusive(pipeline), destination.kept_open(pipeline):
        return _load_archives(pipeline, archives, user_id=user_id, skip_loaded_windows=skip_loaded_windows)


def _load_archives(pipeline: dlt.Pipeline, archives: Sequence[Any], *, user_id: str | None,
                   skip_loaded_windows: bool) -> LoadResult:
    start = time.perf_counter()
    # extract() alone does not restore state: on a fresh worker the per-user windows and snapshot
    # times must come back from the destination first (run() would do this implicitly)
    pipeline.sync_destination()
    before = destination.table_counts(pipeline, TABLES)
    source = tiktok_portability(archives=list(archives), user_id=user_id, skip_loaded_windows=skip_loaded_windows)
    steps: dict[str, float] = {}
    load_ids: list[str] = []
    collector = pipeline.collector
    try:
        t0 = time.perf_counter()
        if finish_pending(pipeline):
            steps["finish pending"] = time.perf_counter() - t0
        if os.environ.get(CRASH_ENV):  # the crash-safety tests' hooks into dlt's progress callbacks
            pipeline.collector = _CrashCollector()
        for step in ("extract", "normalize", "load"):
            t0 = time.perf_counter()
            log.info("%s…", step)
            if step == "extract":
                with destination.session(pipeline):  # the source's reads of earlier rows share one client
                    pipeline.extract(source)
                crash_point("after_extract")
                release_memory(everywhere=True)  # the load step's DuckDB starts from a lower base
            elif step == "normalize":
                pipeline.normalize()
                crash_point("after_normalize")
            else:
                info = _load_step(pipeline)
                info.raise_on_failed_jobs()
                load_ids = list(info.loads_ids)
            steps[step] = time.perf_counter() - t0
    except PipelineStepFailed as exc:
        cause = _root_cause(exc)
        if isinstance(cause, (ArchiveError, PrivacyError)):  # already say what to do
            raise LoadFailed(str(cause)) from exc
        hint = ""
        if exc.step == "load":
            aside = quarantine.set_aside(pipeline, _one_line_cause(exc))
            hint = ("; nothing was lost: the same command loads the archive again once the cause is fixed"
                    + "".join(f"; its failed package was set aside in {item.path}" for item in aside))
        raise LoadFailed(f"{exc.step} step failed: {_one_line_cause(exc)}{hint}") from exc
    finally:
        pipeline.collector = collector
    after = destination.table_counts(pipeline, TABLES)
    report = destination.load_report_totals(pipeline, load_ids)
    return LoadResult(before, after, time.perf_counter() - start, steps, report)
