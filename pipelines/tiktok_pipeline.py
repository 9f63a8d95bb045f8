"""Runnable examples in the dlt verified-source style: one function per use case.

Each function uses the same entry points as the `tiktok-portability` CLI (``loader`` and
``api.ApiService``), so there is one code path from an archive or a token to rows.

    python pipelines/tiktok_pipeline.py archive path/to/export.zip [more.zip ...]
    python pipelines/tiktok_pipeline.py sync          # API mode, config from .dlt/ or env
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import dlt

from tiktok_portability_source import tiktok_portability
from tiktok_portability_source.api import ApiService
from tiktok_portability_source.api.config import load_api_config
from tiktok_portability_source.loader import LoadResult, load_archives, make_pipeline


def load_archive_exports(paths: Sequence[str | Path], user_id: str | None = None) -> LoadResult:
    """Archive mode into the default DuckDB file (``tiktok_portability.duckdb``)."""
    return load_archives(make_pipeline(), list(paths), user_id=user_id)


def load_selected_tables(paths: Sequence[str | Path], tables: Sequence[str] = ("watch_history", "likes")) -> None:
    """Only some resources, with plain dlt: every table is a resource of the source."""
    pipeline = make_pipeline(duckdb_path="tiktok_selected.duckdb")
    source = tiktok_portability(archives=list(paths)).with_resources(*tables)
    print(pipeline.run(source))


def load_into_another_destination(paths: Sequence[str | Path], destination: str = "postgres") -> LoadResult:
    """Any dlt destination by name; credentials from .dlt/secrets.toml or env, e.g.
    DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:pass@localhost:5432/tiktok"""
    return load_archives(make_pipeline(destination_name=destination), list(paths))


def sync_api_transfers(wait: bool = False) -> None:
    """API mode for every user in the token store: one step each, or until done with ``wait``."""
    service = ApiService(load_api_config(), make_pipeline)
    outcomes = service.sync_until_done() if wait else service.sync_once()
    for outcome in outcomes:
        print(f"{outcome.open_id}: {outcome.state}: {outcome.message}")


if __name__ == "__main__":
    dlt.config["runtime.dlthub_telemetry"] = False
    command, *rest = sys.argv[1:] or ["help"]
    if command == "archive" and rest:
        print(load_archive_exports(rest).added)
    elif command == "selected" and rest:
        load_selected_tables(rest)
    elif command == "sync":
        sync_api_transfers(wait="--wait" in rest)
    else:
        print(__doc__)
