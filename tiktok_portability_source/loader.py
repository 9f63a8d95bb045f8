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
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.exceptions import PipelineStepFailed

from . import destination, settings
from . import tiktok_portability
from .archive import ArchiveError
from .layouts import ENTITIES
from .records import release_memory

log = logging.getLogger(__name__)

TABLES: tuple[str, ...] = tuple(e.table for e in ENTITIES) + ("unparsed_sections", "archives")
EVENT_TABLES: tuple[str, ...] = tuple(e.table for e in ENTITIES if e.kind in ("events", "messages"))


class LoadFailed(Exception):
    """A load that did not complete; the message is one line saying why and what to do."""


@dataclass
class LoadResult:
    before: dict[str, int]
    after: dict[str, int]
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)

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
) -> dlt.Pipeline:
    """DuckDB file by default (in the working directory); any dlt destination by name otherwise."""
    # arrow rows get dlt's load id too, so every row can be traced to the load that wrote it
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    # one table at a time: an archive's big lists are read block by block, and round-robin between
    # tables would hold a block of each in memory at once (the order of rows does not matter)
    os.environ.setdefault("EXTRACT__NEXT_ITEM_MODE", "fifo")
    # the parquet files between extract and load live a few seconds on local disk: compressing them
    # costs more CPU than it saves
    os.environ.setdefault("DATA_WRITER__COMPRESSION", "none")
    if destination_name and destination_name != "duckdb":
        dest: Any = destination_name
    else:
        db_file = Path(duckdb_path or settings.DEFAULT_DUCKDB).absolute()
        if db_file.stem == dataset:
            # DuckDB names the catalog after the file; "tiktok.tiktok" then fails to bind at load time
            raise LoadFailed(f"{db_file.name}: a DuckDB file named like the dataset '{dataset}' confuses DuckDB; "
                             "choose another file name or another --dataset")
        # DuckDB caches every block a load writes up to its memory limit (80% of RAM by default):
        # the cache, not the data, would set the peak memory of big loads
        dest = dlt.destinations.duckdb(DuckDbCredentials(str(db_file), global_config=dict(settings.DUCKDB_CONFIG)))
    return dlt.pipeline(pipeline_name=pipeline_name, destination=dest, dataset_name=dataset,
                        pipelines_dir=str(pipelines_dir) if pipelines_dir else None)


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        if isinstance(seen, ArchiveError):
            return seen
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return seen


def load_archives(pipeline: dlt.Pipeline, archives: Sequence[Any], *, user_id: str | None = None,
                  skip_loaded_windows: bool = True) -> LoadResult:
    """Extract → normalize → load, logging each step; all-or-nothing for the archives given."""
    start = time.perf_counter()
    # extract() alone does not restore state: on a fresh worker the per-user windows and snapshot
    # times must come back from the destination first (run() would do this implicitly)
    pipeline.sync_destination()
    # a load that stopped half-way is finished first by this one; an appended table (see the source)
    # may then hold a job's rows twice, which is repaired below
    interrupted = bool(pipeline.list_normalized_load_packages())
    before = destination.table_counts(pipeline, TABLES)
    source = tiktok_portability(archives=list(archives), user_id=user_id, skip_loaded_windows=skip_loaded_windows)
    steps: dict[str, float] = {}
    try:
        for step in ("extract", "normalize", "load"):
            t0 = time.perf_counter()
            log.info("%s…", step)
            if step == "extract":
                pipeline.extract(source)
                release_memory(everywhere=True)  # the load step's DuckDB starts from a lower base
            elif step == "normalize":
                pipeline.normalize()
            else:
                pipeline.load().raise_on_failed_jobs()
            steps[step] = time.perf_counter() - t0
    except PipelineStepFailed as exc:
        cause = _root_cause(exc)
        if isinstance(cause, ArchiveError):
            raise LoadFailed(str(cause)) from None
        hint = ""
        if exc.step == "load":
            hint = (f"; fix the destination and run again, or drop the pending package with "
                    f"`dlt pipeline {pipeline.pipeline_name} abort-packages`")
        raise LoadFailed(f"{exc.step} step failed: {type(cause).__name__}: {str(cause).splitlines()[0]}{hint}") from None
    if interrupted:
        repaired = destination.remove_repeated_rows(pipeline, EVENT_TABLES)
        if repaired:
            log.warning("removed rows written twice by an interrupted load: %s", repaired)
    after = destination.table_counts(pipeline, TABLES)
    return LoadResult(before, after, time.perf_counter() - start, steps)
