"""Airflow DAG ``tiktok_portability``: every authorized user's TikTok export, synced and loaded with
dlt's Airflow helper (``PipelineTasksGroup``). Copy or symlink this file into the dags folder; the
``tiktok-portability`` package must be installed in Airflow's environment.

One task group per user, ``user_<open_id>``:

    download  →  tiktok_portability  →  finish

- ``download``: one sync step that stops before loading (add / check / download, on the transfer
  store); skips the rest of the group while the export is not downloaded yet.
- ``tiktok_portability``: ``PipelineTasksGroup.add_run`` with the ``tiktok_portability`` source for the
  downloaded archive (built when the task runs), in a fresh dlt working folder that is removed
  afterwards: state comes back from the destination.
- ``finish``: marks the transfer loaded once its archive is in the destination, removes the archive,
  updates ``export_requests`` (as ``tiktok-portability sync`` does).

Why one group per user at parse time and not dynamic task mapping: ``PipelineTasksGroup`` builds its
tasks from a pipeline object when the DAG is parsed (and that pipeline must be created after the group,
in the group's own working folder), so it cannot be ``.expand()``-ed over a list computed at run time.
The users come from the token store (ids only) each time the DAG file is parsed, so a newly
authorized user appears at the next parse; set ``TIKTOK_PORTABILITY_USERS=id1,id2`` for a fixed list
(e.g. when the DAG processor cannot read the token store).

Local files: one folder, ``TIKTOK_PORTABILITY_AIRFLOW_WORKDIR`` (default ``$AIRFLOW_HOME/tiktok_portability``,
owner only), and nothing left in it between runs. ``PipelineTasksGroup`` gives each group a random
``dlt_<id>`` folder and its pipeline must be created in it when the file is parsed, i.e. every 30-40 s in
the DAG processor and once more in every task process: left alone, that is one dlt working folder per
user per parse. Here each process keeps them in ``<workdir>/<host>_<pid>/``; a parse removes the folders
it made before it ends (the pipeline objects do not need them: the load task's ``pipeline.drop()``
makes the folder again), a load task removes its folder when it ends, failed or not, and the
``download`` / ``finish`` tasks use a temporary folder there. A parse also removes what a killed
process on this host left behind (a ``<host>_<pid>`` folder whose process is gone).

Tasks run one at a time (``max_active_tasks=1``): the groups' pipelines stage their merges in dlt's one
``<dataset>_staging`` dataset, where two loads at once truncate and merge each other's rows (and a
DuckDB file takes one writer). The Dagster assets show what running users side by side on a warehouse
takes (a staging dataset per user).

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
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.configuration import conf, get_airflow_home
from dlt.common.known_env import DLT_DATA_DIR, DLT_PROJECT_DIR
from dlt.helpers.airflow_helper import DEFAULT_RETRY_BACKOFF, PipelineTasksGroup

from tiktok_portability_source import runfolders
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
ENV_WORKDIR = "TIKTOK_PORTABILITY_AIRFLOW_WORKDIR"

# .dlt/ next to the DAGs, as PipelineTasksGroup sets it (the token store path is read before any group exists)
os.environ.setdefault(DLT_PROJECT_DIR, conf.get("core", "dags_folder"))


def group_id(open_id: str) -> str:
    """A valid, stable, unique Airflow group id for an opaque open_id."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", open_id)[:60]
    return f"user_{cleaned}" if cleaned == open_id else f"user_{cleaned}_{hashlib.sha256(open_id.encode()).hexdigest()[:8]}"


def workdir() -> Path:
    """The one local folder of the DAG's dlt working folders (made owner-only if missing)."""
    folder = Path(os.environ.get(ENV_WORKDIR) or Path(get_airflow_home()) / "tiktok_portability").expanduser()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder.absolute()


def _process_folder() -> Path:
    """This process's folder in ``workdir()``: ``<host>_<pid>``, so a sweep can tell a dead one."""
    folder = workdir() / runfolders.process_prefix()
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _remove(folder: str | os.PathLike[str]) -> None:
    """Remove a working folder, then its process folder if nothing else of this process is in it."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # not empty: another group of this process is still running
        os.rmdir(Path(folder).parent)


def sweep() -> list[Path]:
    """Remove the folders of processes of this host that died (a killed parse or task); the folders removed."""
    return runfolders.sweep_dead(workdir())


class UserGroup(PipelineTasksGroup):
    """dlt's ``PipelineTasksGroup`` with its working folder managed: ``dlt_<id>`` in this process's
    folder in ``workdir()``; the DAG file removes it once parsed, and the load task once it has run."""

    def __init__(self, group_id: str, **kwargs: Any) -> None:
        super().__init__(group_id, use_data_folder=False, local_data_folder=str(_process_folder()),
                         wipe_local_data=True, **kwargs)
        self.data_dir = os.environ[DLT_DATA_DIR]  # PipelineTasksGroup's fresh folder, set for dlt

    # dlt's signature, not (*args, **kwargs): Airflow passes a callable every context value its
    # signature can take, and inspect.signature follows __wrapped__
    @functools.wraps(PipelineTasksGroup._run)
    def _run(self, *args: Any, **kwargs: Any) -> None:
        _process_folder()  # owner-only again: the parse removed it, and dlt would make it with the umask
        # dlt's own wipe removes the pipeline's working folder only, not the dlt_<id> folder around it
        try:
            super()._run(*args, **kwargs)
        finally:
            _remove(self.data_dir)


@contextlib.contextmanager
def _service() -> Iterator[ApiService]:
    """API mode for a plain task. Its pipeline (only ``finish`` needs one) is built at run time in a
    temporary working folder: the parse-time pipelines belong to the groups' load tasks."""
    folder = tempfile.mkdtemp(prefix="service-", dir=_process_folder())
    try:
        yield ApiService(load_api_config(), lambda: scheduling.pipeline_from_env(pipelines_dir=folder))
    finally:
        _remove(folder)


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
    parsed: list[UserGroup] = []
    try:
        for user in scheduling.scheduled_users():
            group = UserGroup(group_id(user), retry_policy=DEFAULT_RETRY_BACKOFF, retry_pipeline_steps=("load",))
            parsed.append(group)
            # created after the group, so it lives in the group's fresh working folder (dlt-notes §14)
            user_pipeline = scheduling.pipeline_from_env(ignore_env_pipelines_dir=True)
            with group:
                fetch = PythonOperator(task_id="download", python_callable=functools.partial(download, user))
            [load] = group.add_run(user_pipeline, functools.partial(downloaded_source, user), decompose="none")
            with group:
                done = PythonOperator(task_id="finish", python_callable=functools.partial(finish, user))
            fetch >> load >> done
    finally:  # the folders the pipelines were created in: the load task makes its own again
        for group in parsed:
            _remove(group.data_dir)
        sweep()
