"""Shared fixtures: every test runs in its own folder with its own DuckDB file and dlt working dir."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from tiktok_portability_source.loader import make_pipeline


@pytest.fixture(autouse=True)
def isolated_dlt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")


@pytest.fixture
def new_pipeline(tmp_path: Path) -> Callable[..., object]:
    """A pipeline on ``<tmp>/<db>.duckdb`` with its working folder under ``<tmp>/pipelines``."""

    def make(db: str = "t", pipelines_dir: Path | None = None):
        return make_pipeline(duckdb_path=tmp_path / f"{db}.duckdb", pipelines_dir=pipelines_dir or tmp_path / "pipelines")

    return make


def sql(db_path: Path | str, query: str, *params) -> list[tuple]:
    """Read the loaded DuckDB file the way an analyst would."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        return con.execute(query, params).fetchall()
