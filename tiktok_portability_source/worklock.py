"""One run at a time per dlt working folder, and a working folder per destination.

dlt keeps a pipeline's state, schemas and pending load packages in one folder. Two processes that
share it corrupt it (a package deleted under the other, ``SchemaNotFoundError``), and with dlt's
default every load on a machine shares ``<dlt data dir>/pipelines/tiktok_portability``. So:

- by default the folder is derived from the destination's identity (the DuckDB file's absolute path,
  or the destination and dataset), so loads into different databases never meet;
- on a warehouse (any destination but DuckDB), loads run side by side: a worker named by
  ``TIKTOK_PORTABILITY_WORKER`` (or by the caller: the Dagster assets name one per user) gets a
  folder of its own, and a staging dataset of its own (``<dataset>_staging_w<digest>``: a merge
  stages its rows there, and two workers sharing one would merge, or truncate, each other's), so
  nothing but the destination's own locks stands between workers. The name
  should be stable (a user, a worker slot), not per run: the next run in the folder finishes what a
  killed one left there. DuckDB has one writer, so it keeps one folder and its lock;
- a run holds an exclusive lock on its folder (``filelock``: the same on Linux, macOS and Windows);
  a second run waits, saying so, up to ``TIKTOK_PORTABILITY_WAIT_TIMEOUT`` seconds (``--wait-timeout``),
  then fails in one line. It never corrupts.

The pipeline name stays ``tiktok_portability`` whatever the folder: dlt finds a dataset's state in
the destination by that name, so a dataset loaded with the old shared folder keeps its windows.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import dlt
from filelock import FileLock, Timeout

from .errors import LoadFailed

log = logging.getLogger(__name__)

WAIT_ENV = "TIKTOK_PORTABILITY_WAIT_TIMEOUT"
WORKER_ENV = "TIKTOK_PORTABILITY_WORKER"
DEFAULT_WAIT_SECONDS = 600.0

_held: dict[str, tuple[FileLock, threading.RLock]] = {}
_registry = threading.Lock()


def default_pipelines_dir(identity: str, worker: str | None = None) -> Path:
    """``<dlt's pipelines dir>/tiktok_portability-<digest of identity>[-w<digest of worker>]``: one
    folder per destination, and per worker where the destination takes loads side by side."""
    from dlt.common.pipeline import get_dlt_pipelines_dir

    name = f"tiktok_portability-{_digest(identity)}"
    if worker:
        name += f"-{worker_tag(worker)}"
    return Path(get_dlt_pipelines_dir()) / name


def worker_tag(worker: str) -> str:
    """``w<digest>``: a worker's name as it may appear in folder and schema names."""
    return f"w{_digest(worker)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def wait_seconds() -> float:
    raw = os.environ.get(WAIT_ENV, "").strip()
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_WAIT_SECONDS
    except ValueError:
        log.warning("%s=%r is not a number of seconds; waiting up to %g s", WAIT_ENV, raw, DEFAULT_WAIT_SECONDS)
        return DEFAULT_WAIT_SECONDS


@contextlib.contextmanager
def exclusive(pipeline: dlt.Pipeline, timeout: float | None = None) -> Iterator[None]:
    """Hold the working folder's lock for the block; re-entrant within this process."""
    folder = Path(pipeline.working_dir)
    path = str(folder) + ".lock"
    with _registry:
        if path not in _held:
            folder.parent.mkdir(parents=True, exist_ok=True)
            _held[path] = (FileLock(path, mode=0o600, thread_local=False), threading.RLock())
        file_lock, thread_lock = _held[path]
    with thread_lock:  # threads of this process take turns; the file lock is for other processes
        limit = wait_seconds() if timeout is None else timeout
        try:
            file_lock.acquire(timeout=0)
        except Timeout:
            log.warning("another tiktok-portability run is using %s; waiting up to %g s for it (--wait-timeout)",
                        folder, limit)
            try:
                file_lock.acquire(timeout=limit)
            except Timeout:
                raise LoadFailed(f"another run is still using {folder} (this destination's dlt working folder) "
                                 f"after {limit:g} s: run again once it has finished, or wait longer with "
                                 f"--wait-timeout") from None
        try:
            yield
        finally:
            file_lock.release()
