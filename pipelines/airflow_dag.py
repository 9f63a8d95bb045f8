"""Airflow DAG ``tiktok_portability``: every authorized user's TikTok export, synced and loaded with
dlt's Airflow helper (``PipelineTasksGroup``). Copy or symlink this file into the dags folder; the
``tiktok-portability`` package must be installed in Airflow's environment.

One task group per user, ``user_<open_id>``:

    download  →  tiktok_portability  →  finish

- ``download``: one sync step that stops before loading (add / check / download, on the transfer
  store); skips the rest of the group while the export is not downloaded yet.
- ``tiktok_portability``: ``PipelineTasksGroup.add_run`` with the ``tiktok_portability`` source for the
  downloaded archive (built when the task runs), in a fresh dlt working folder that is wiped
  afterwards: state comes back from the destination.
- ``finish``: marks the transfer loaded once its archive is in the destination, removes the archive,
  updates ``export_requests`` (as ``tiktok-portability sync`` does).

Why one group per user at parse time and not dynamic task mapping: ``PipelineTasksGroup`` builds its
tasks from a pipeline object when the DAG is parsed (and that pipeline must be created after the group,
in the group's own working folder), so it cannot be ``.expand()``-ed over a list computed at run time.
The users come from the token store (ids only) each time the DAG file is parsed, so a newly
authorized user appears at the next parse; set ``TIKTOK_PORTABILITY_USERS=id1,id2`` for a fixed list
(e.g. when the DAG processor cannot read the token store).

Tasks run one at a time (``max_active_tasks=1``): all users share one dlt pipeline state in the
destination, and concurrent loads would overwrite each other's cursors (and lock a DuckDB file).

Configuration, from the environment of the scheduler and the workers (or ``.dlt/`` in the dags folder):
``SOURCES__TIKTOK_PORTABILITY__CLIENT_KEY`` / ``__CLIENT_SECRET`` / ``__TOKEN_STORE``;
``TIKTOK_PORTABILITY_DESTINATION`` (default DuckDB at ``TIKTOK_PORTABILITY_DUCKDB``; use a server
destination when workers do not share a disk), ``TIKTOK_PORTABILITY_DATASET``, destination
credentials the dlt way (``DESTINATION__POSTGRES__CREDENTIALS``); ``TIKTOK_PORTABILITY_SCHEDULE``
(cron, default every 15 minutes).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.configuration import conf
from dlt.common.known_env import DLT_PROJECT_DIR
from dlt.helpers.airflow_helper import DEFAULT_RETRY_BACKOFF, PipelineTasksGroup

from tiktok_portability_source.api import scheduling
from tiktok_portability_source.api import ApiService
from tiktok_portability_source.api.config import load_api_config

try:  # Airflow 3
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef]
    from airflow.operators.python import PythonOperator  # type: ignore[no-redef]

DAG_ID = "tiktok_portability"

# .dlt/ next to the DAGs, as PipelineTasksGroup sets it (the token store path is read before any group exists)
os.environ.setdefault(DLT_PROJECT_DIR, conf.get("core", "dags_folder"))


def group_id(open_id: str) -> str:
    """A valid, stable, unique Airflow group id for an opaque open_id."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", open_id)[:60]
    return f"user_{cleaned}" if cleaned == open_id else f"user_{cleaned}_{hashlib.sha256(open_id.encode()).hexdigest()[:8]}"


@contextlib.contextmanager
def _service() -> Iterator[ApiService]:
    """API mode for a plain task. Its pipeline (only ``finish`` needs one) is built at run time in a
    temporary working folder: the parse-time pipelines belong to the PipelineTasksGroups, which wipe them."""
    with tempfile.TemporaryDirectory(prefix="tiktok-portability-") as workdir:
        yield ApiService(load_api_config(), lambda: scheduling.pipeline_from_env(pipelines_dir=workdir))


def download(open_id: str) -> str:
    with _service() as service:
        [outcome] = scheduling.advance(service, [open_id], stop_before="load")
        if scheduling.downloaded(service, open_id) is None:
            raise AirflowSkipException(f"{open_id}: nothing to load yet ({outcome.state}: {outcome.message})")
    return f"{outcome.state}: {outcome.message}"


def downloaded_source(open_id: str) -> Any:
    """Called by PipelineTasksGroup right before ``pipeline.run``: the source for the downloaded archive."""
    with _service() as service:
        transfer = scheduling.downloaded(service, open_id)
        if transfer is None:
            raise AirflowSkipException(f"{open_id}: no downloaded export")
        # counts the attempt; after max_load_attempts (default 3) the transfer is failed and this raises
        return scheduling.start_load(service, transfer)


def finish(open_id: str) -> str:
    with _service() as service:
        transfer = scheduling.downloaded(service, open_id)
        if transfer is None:
            raise AirflowSkipException(f"{open_id}: no downloaded export")
        return scheduling.finish(service, transfer).message


with DAG(
    dag_id=DAG_ID,
    schedule=os.environ.get("TIKTOK_PORTABILITY_SCHEDULE", "*/15 * * * *"),
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["tiktok", "dlt"],
    doc_md=__doc__,
) as dag:
    for user in scheduling.scheduled_users():
        group = PipelineTasksGroup(group_id(user), use_data_folder=False, wipe_local_data=True,
                                   retry_policy=DEFAULT_RETRY_BACKOFF, retry_pipeline_steps=("load",))
        # created after the group, so it lives in the group's fresh working folder (dlt-notes §14)
        user_pipeline = scheduling.pipeline_from_env(ignore_env_pipelines_dir=True)
        with group:
            fetch = PythonOperator(task_id="download", python_callable=functools.partial(download, user))
        [load] = group.add_run(user_pipeline, functools.partial(downloaded_source, user), decompose="none")
        with group:
            done = PythonOperator(task_id="finish", python_callable=functools.partial(finish, user))
        fetch >> load >> done
