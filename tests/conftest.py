"""Shared fixtures: every test runs in its own folder with its own DuckDB file and dlt working dir.

``dest`` runs a test once per destination (DuckDB, and a throwaway PostgreSQL from ``pg_server``
with a fresh database per test), with a pipeline factory and SQL reads that work on both.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.db import sql
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One PostgreSQL for the whole session (started on first use); skipped when none can be had."""
    from support.pg_server import REQUIRE_ENV, Unavailable, server

    try:
        with server() as running:
            yield running
    except Unavailable as exc:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"PostgreSQL is required ({REQUIRE_ENV}=1) but unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@dataclass
class Destination:
    """Where a test loads: ``pipeline()`` like ``new_pipeline``, ``sql()`` reads like ``sql`` (``?`` params)."""

    name: str
    tmp: Path
    dsn: str | None = None

    def pipeline(self, pipelines_dir: Path | None = None):
        pipelines_dir = pipelines_dir or self.tmp / "pipelines"
        if self.name == "duckdb":
            return make_pipeline(duckdb_path=self.tmp / "t.duckdb", pipelines_dir=pipelines_dir)
        return make_pipeline(destination_name=self.name, pipelines_dir=pipelines_dir)

    def sql(self, query: str, *params: Any) -> list[tuple]:
        if self.name == "duckdb":
            return sql(self.tmp / "t.duckdb", query, *params)
        import psycopg2

        with contextlib.closing(psycopg2.connect(self.dsn)) as con, con.cursor() as cur:
            cur.execute(query.replace("?", "%s"), params)
            return cur.fetchall()


@pytest.fixture(params=["duckdb", "postgres"])
def dest(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Destination:
    if request.param == "duckdb":
        return Destination("duckdb", tmp_path)
    dsn = request.getfixturevalue("postgres_server").create_database()
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", dsn)  # what make_pipeline's dlt reads
    return Destination("postgres", tmp_path, dsn)
