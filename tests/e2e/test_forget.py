"""``forget`` means forget: no row in any schema (the staging copy too), no byte in the database file,
no load package, and the other users untouched. On DuckDB and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conftest import Destination

from tiktok_portability_source.fake.generator import UserHistory
from tiktok_portability_source.forget import forget_user
from tiktok_portability_source.loader import load_archives

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)


def cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    store = ["--token-store", str(tmp / "state" / "tokens.json")] if args[0] == "forget" else []
    return subprocess.run([sys.executable, "-m", "tiktok_portability_source.cli", *args, "--duckdb", str(tmp / "t.duckdb"),
                           "--pipelines-dir", str(tmp / "pipelines"), *store],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=600, check=False)


def two_users(tmp: Path) -> tuple[UserHistory, UserHistory, list[Path], Path]:
    """user_a with two exports (the second merges, so the staging dataset is used), user_b with one."""
    a, b = UserHistory("user_a", seed=3), UserHistory("user_b", seed=4)
    first = a.export(tmp / "a", at=AT - timedelta(days=60))
    second = a.export(tmp / "a", at=AT)
    other = b.export(tmp / "b", at=AT)
    return a, b, [first.path, second.path], other.path


def only_theirs(a: UserHistory, b: UserHistory) -> set[str]:
    """Third-party names in user_a's exports and not in user_b's: none may survive user_a's forget."""
    names = {f.username for f in a.followers + a.following} | set(a._threads)
    return names - {f.username for f in b.followers + b.following} - set(b._threads) - {"N/A", "user_a", "user_b"}


def rows_of(dest, user: str) -> dict[str, int]:
    """Rows of ``user`` in every table with a user_id, in every schema (the dataset and its staging)."""
    tables = dest.sql("SELECT table_schema, table_name FROM information_schema.columns WHERE column_name = 'user_id' "
                      "AND table_schema LIKE ?", "tiktok%")
    return {f"{s}.{t}": dest.sql(f'SELECT COUNT(*) FROM "{s}"."{t}" WHERE user_id = ?', user)[0][0] for s, t in tables}


def test_forget_leaves_no_row_no_byte_and_no_package_of_the_user_in_duckdb(tmp_path):
    a, b, exports_a, export_b = two_users(tmp_path)
    for path in [*exports_a, export_b]:
        loaded = cli(tmp_path, "load", str(path))
        assert loaded.returncode == 0, loaded.stderr[-2000:]
    db = tmp_path / "t.duckdb"
    names = only_theirs(a, b)
    assert len(names) > 10
    assert any(n.encode() in db.read_bytes() for n in names)  # the scan below can see names in the file
    assert (tmp_path / "pipelines" / "tiktok_portability").stat().st_mode & 0o077 == 0  # owner-only folder

    dest = Destination("duckdb", tmp_path)
    others_before = rows_of(dest, "user_b")
    assert sum(others_before.values()) > 100

    result = cli(tmp_path, "forget", "--user-id", "user_a")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "t.duckdb rewritten into a fresh file" in result.stdout

    assert rows_of(dest, "user_a") and not any(rows_of(dest, "user_a").values())
    raw = db.read_bytes()
    assert [n for n in names if n.encode() in raw] == []
    assert not Path(str(db) + ".wal").exists()
    # no load package with rows: no job file at all is left in the working folder
    jobs = [p for p in (tmp_path / "pipelines").rglob("*") if p.suffix in (".parquet", ".jsonl", ".gz", ".insert_values")]
    assert jobs == []
    # the other user keeps every row
    assert rows_of(dest, "user_b") == others_before


def test_forget_clears_the_staging_dataset_and_vacuums_postgres(tmp_path, postgres_server, monkeypatch):
    dsn = postgres_server.create_database()
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", dsn)
    dest = Destination("postgres", tmp_path, dsn)
    a, b, exports_a, export_b = two_users(tmp_path)
    pipeline = dest.pipeline()
    # keep the staging copies a merge leaves, as a dataset loaded by an older version holds them
    monkeypatch.setenv("LOAD__TRUNCATE_STAGING_DATASET", "false")
    for path in [export_b, *exports_a]:  # a merge load empties the staging tables first: user_a last
        load_archives(pipeline, [path])
    assert dest.sql("SELECT COUNT(*) FROM tiktok_staging.followers WHERE user_id = 'user_a'")[0][0] > 0

    report = forget_user(pipeline, "user_a")
    assert report.storage.startswith("VACUUM FULL of ")
    assert report.rows.get("followers (staging)", 0) > 0
    found = rows_of(dest, "user_a")
    assert "tiktok_staging.followers" in found and not any(found.values())
    assert dest.sql("SELECT COUNT(*) FROM tiktok.followers WHERE user_id = 'user_b'")[0][0] > 0


def test_forget_of_an_unknown_user_is_an_error_and_deletes_nothing(tmp_path):
    export = UserHistory("user_a", seed=3).export(tmp_path / "a", at=AT)
    assert cli(tmp_path, "load", str(export.path)).returncode == 0
    dest = Destination("duckdb", tmp_path)
    before = rows_of(dest, "user_a")
    result = cli(tmp_path, "forget", "--user-id", "user_aa")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: no row, token, transfer or archive of user 'user_aa'")
    assert rows_of(dest, "user_a") == before
