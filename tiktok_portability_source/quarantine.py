"""Load packages that failed at the destination, set aside so that they block no later load.

dlt retries a pending package before every later load. One that cannot load (a value the destination
refuses, a table changed by hand) would then fail every load after it, other users' too. Instead it
is copied here, owner-only, with the reason, and aborted: dlt restores the pipeline state from before
it, so running the same load again reads the archive again and loses nothing. The copy holds the
rows, personal data included: ``tiktok-portability quarantine --drop`` deletes it, and ``forget``
deletes every copy.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import dlt

log = logging.getLogger(__name__)

REASON_FILE = "REASON.txt"


@dataclass(frozen=True)
class SetAside:
    load_id: str
    path: Path
    reason: str


def folder(pipeline: dlt.Pipeline) -> Path:
    """``<pipelines_dir>/quarantine/<pipeline name>``: beside the working folder, not in it (dlt owns that)."""
    return Path(pipeline.pipelines_dir) / "quarantine" / pipeline.pipeline_name


def set_aside(pipeline: dlt.Pipeline, reason: str) -> list[SetAside]:
    """Copy every normalized package that is pending to the quarantine, then abort them all."""
    storage = pipeline._get_load_storage()
    load_ids = list(storage.list_normalized_packages())
    root = folder(pipeline)
    out = []
    for load_id in load_ids:
        source = Path(storage.normalized_packages.storage.make_full_path(load_id))
        target = root / load_id
        _private_copy(source, target)
        (target / REASON_FILE).write_text(reason + "\n", encoding="utf-8")
        os.chmod(target / REASON_FILE, 0o600)
        out.append(SetAside(load_id, target, reason))
    if load_ids or pipeline.list_extracted_load_packages():
        pipeline.abort_packages()
        for load_id in load_ids:  # the aborted package lands among the loaded ones, rows and all
            if load_id in storage.list_loaded_packages():
                storage.delete_loaded_package(load_id)
    for item in out:
        log.warning("load package %s could not be loaded (%s); set aside in %s; "
                    "`tiktok-portability quarantine --drop %s` deletes it", item.load_id, reason, item.path, item.load_id)
    return out


def listed(pipeline: dlt.Pipeline) -> list[SetAside]:
    root = folder(pipeline)
    if not root.is_dir():
        return []
    return [SetAside(p.name, p, (p / REASON_FILE).read_text(encoding="utf-8").strip() if (p / REASON_FILE).exists() else "")
            for p in sorted(root.iterdir()) if p.is_dir()]


def drop(pipeline: dlt.Pipeline, load_id: str | None = None) -> int:
    """Delete one set-aside package (or all, without ``load_id``); the number deleted."""
    items = [i for i in listed(pipeline) if load_id is None or i.load_id == load_id]
    for item in items:
        shutil.rmtree(item.path)
    return len(items)


def _private_copy(source: Path, target: Path) -> None:
    """A copy only the owner can read: the package holds the archive's rows."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for parent in (target.parent, target.parent.parent):
        os.chmod(parent, 0o700)
    shutil.copytree(source, target, dirs_exist_ok=True)
    for path in [target, *target.rglob("*")]:
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
