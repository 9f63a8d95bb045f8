"""Erase one user completely: loaded rows, dlt state about them, tokens, transfers and archives."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import dlt

from . import destination, quarantine, tiktok_portability, worklock
from .enrich import drop_unreferenced
from .api.auth import TokenStore
from .api.transfers import TransferStore, archive_folder


@dataclass
class ForgetReport:
    rows: dict[str, int] = field(default_factory=dict)
    tokens: bool = False
    transfers: int = 0
    archives: int = 0
    states: int = 0
    packages: int = 0
    set_aside: int = 0
    videos: int = 0
    storage: str = ""

    @property
    def found(self) -> bool:
        """Whether anything of the user was there (an id with a typo finds nothing)."""
        return bool(any(self.rows.values()) or self.tokens or self.transfers or self.archives or self.set_aside)

    def lines(self) -> list[str]:
        out = [f"{table}: {n} rows deleted" for table, n in sorted(self.rows.items()) if n]
        out.append(f"enriched videos no one else's history points to: {self.videos} deleted")
        out.append(f"database storage: {self.storage}")
        out.append(f"earlier dlt state versions: {self.states} deleted")
        out.append(f"dlt load packages kept locally: {self.packages} deleted")
        out.append(f"load packages set aside after failing: {self.set_aside} deleted")
        out.append(f"tokens: {'deleted' if self.tokens else 'none stored'}")
        out.append(f"transfer records: {self.transfers} deleted")
        out.append(f"downloaded archives: {self.archives} deleted")
        return out


def forget_user(pipeline: dlt.Pipeline, user_id: str, *, tokens: TokenStore | None = None,
                transfers: TransferStore | None = None, archive_dir: Path | None = None) -> ForgetReport:
    """State first, then rows: a crash in between leaves rows a second ``forget`` removes, never a
    window that would make a later load of the same user skip rows."""
    with worklock.exclusive(pipeline):
        return _forget(pipeline, user_id, tokens, transfers, archive_dir)


def _forget(pipeline: dlt.Pipeline, user_id: str, tokens: TokenStore | None, transfers: TransferStore | None,
            archive_dir: Path | None) -> ForgetReport:
    report = ForgetReport()
    pipeline.sync_destination()
    pipeline.run(tiktok_portability(archives=[], forget_user_id=user_id))
    report.rows = destination.delete_user_rows(pipeline, user_id)
    report.videos = drop_unreferenced(pipeline)  # enriched videos only this user's history pointed to
    report.states = _drop_earlier_states(pipeline)
    report.storage = destination.rewrite_storage(pipeline)  # last: the deletes above leave free bytes
    report.packages = _drop_loaded_packages(pipeline)
    report.set_aside = quarantine.drop(pipeline)  # rows of whoever was in them: all go, the archives reload
    if tokens is not None:
        report.tokens = tokens.delete(user_id)
    if transfers is not None:
        report.transfers = transfers.forget_user(user_id)
    if archive_dir is not None:
        folder = archive_folder(archive_dir, user_id)
        if folder.exists():
            report.archives = sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder)
    return report


def _drop_earlier_states(pipeline: dlt.Pipeline) -> int:
    """Every earlier version of dlt's state still holds the user's windows and snapshot times; dlt
    restores only the newest (written just now without the user), so the older ones can go."""
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("_dlt_pipeline_state")
        version, name = client.escape_column_name("version"), client.escape_column_name("pipeline_name")
        where = f"WHERE {name} = %s AND {version} < (SELECT MAX({version}) FROM {table} WHERE {name} = %s)"
        with client.execute_query(f"SELECT COUNT(*) FROM {table} {where}", pipeline.pipeline_name,
                                  pipeline.pipeline_name) as cursor:
            count = int(cursor.fetchall()[0][0])
        if count:
            client.execute_sql(f"DELETE FROM {table} {where}", pipeline.pipeline_name, pipeline.pipeline_name)
    return count


def _drop_loaded_packages(pipeline: dlt.Pipeline) -> int:
    """dlt keeps every completed load package (the loaded rows as files) in its working folder."""
    storage = pipeline._get_load_storage()
    load_ids = list(storage.list_loaded_packages())
    for load_id in load_ids:
        storage.delete_loaded_package(load_id)
    return len(load_ids)
