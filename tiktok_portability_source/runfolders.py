"""Working folders of one process, named ``<host>_<pid>…``, and the sweep of those a dead one left.

The orchestrators (Dagster assets, the Airflow DAG) give each run a dlt working folder of its own
and remove it afterwards; a process killed meanwhile (OOM, SIGKILL) cannot. Its folder holds load
packages, i.e. rows: the next process on the same host that finds it, and finds its process gone,
removes it. Nothing is lost with it: a fact in ``_tiktok_user_state`` counts only once its load
completed (``user_state.py``), and the transfer of an export whose load did not complete is loaded
again.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path


def process_prefix() -> str:
    """``<host>_<pid>``: the start of this process's folder names."""
    return f"{_host()}_{os.getpid()}"


def sweep_dead(parent: Path) -> list[Path]:
    """Remove the folders in ``parent`` of processes of this host that died; the folders removed."""
    pattern = re.compile(rf"{re.escape(_host())}_(\d+)(?:_|$)")
    removed = []
    for entry in parent.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True
