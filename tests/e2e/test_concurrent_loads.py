"""Several loads on one machine: each database gets its own dlt working folder, and two runs on one
folder take turns (the second waits, saying so, or fails in one line); nothing is ever corrupted.
Real ``tiktok-portability`` processes with dlt's default folder (moved under the test's folder)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.db import sql

from tiktok_portability_source.fake.generator import UserHistory
from tiktok_portability_source.layouts import DEFAULT_TABLES

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)


def env_for(tmp: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOK_PORTABILITY_")}
    return {**clean, "RUNTIME__DLTHUB_TELEMETRY": "false", "DLT_DATA_DIR": str(tmp / "dlt-home")}


def start(tmp: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tiktok_portability_source.cli", *args], cwd=tmp, env=env_for(tmp),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=600)
    return process.returncode, out, err


def rows(db: Path, user: str) -> dict[str, int]:
    tables = {t for (t,) in sql(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tiktok'")}
    return {t: sql(db, f"SELECT COUNT(*) FROM tiktok.{t} WHERE user_id = ?", user)[0][0] if t in tables else 0
            for t in DEFAULT_TABLES}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("exports")
    return [UserHistory(f"user_{i}", seed=30 + i).export(tmp / str(i), at=AT) for i in range(3)]


def test_three_loads_at_once_into_three_databases_each_end_with_exact_rows(tmp_path, exports):
    runs = [start(tmp_path, "load", str(e.path), "--duckdb", f"db{i}.duckdb") for i, e in enumerate(exports)]
    results = [finish(r) for r in runs]
    for code, out, err in results:
        assert code == 0, err[-3000:]
    for i, export in enumerate(exports):
        assert rows(tmp_path / f"db{i}.duckdb", f"user_{i}") == {t: export.expected.get(t, 0) for t in DEFAULT_TABLES}
    folders = sorted(p.name for p in (tmp_path / "dlt-home" / "pipelines").iterdir() if p.is_dir())
    assert len(folders) == 3 and all(f.startswith("tiktok_portability-") for f in folders)


HOLD = """
import sys, time
from tiktok_portability_source import worklock
from tiktok_portability_source.loader import make_pipeline
with worklock.exclusive(make_pipeline(duckdb_path=sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_second_run_on_the_same_database_waits_or_fails_in_one_line(tmp_path, exports):
    db = tmp_path / "one.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db), "60"], cwd=tmp_path, env=env_for(tmp_path),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        code, _, err = finish(start(tmp_path, "load", str(exports[0].path), "--duckdb", str(db), "--wait-timeout", "2"))
        assert code == 2 and "Traceback" not in err, err[-3000:]
        assert [line for line in err.splitlines() if line.startswith("error: ")] == [
            next(line for line in err.splitlines() if line.startswith("error: another run is still using"))]
        assert "waiting up to 2 s" in err and 2 <= time.monotonic() - started < 60
        assert not db.exists()  # it waited for its turn before touching the database
    finally:
        holder.kill()
        holder.wait()

    # two loads of the same export started together: one waits for the other, both succeed, rows exact
    first, second = (start(tmp_path, "load", str(exports[0].path), "--duckdb", str(db)) for _ in range(2))
    results = [finish(first), finish(second)]
    assert [code for code, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    assert rows(db, "user_0") == {t: exports[0].expected.get(t, 0) for t in DEFAULT_TABLES}
    assert sql(db, "SELECT COUNT(*) FROM tiktok.archives")[0][0] == 1


def test_a_dataset_loaded_with_the_old_shared_folder_keeps_its_windows(tmp_path):
    """Earlier versions used dlt's one shared folder; the state lives in the destination under the same
    pipeline name, so the first load with the new per-database folder still skips what was loaded."""
    history = UserHistory("user_a", seed=3)
    older = history.export(tmp_path / "a", at=AT - timedelta(days=30))
    newer = history.export(tmp_path / "a", at=AT)
    db = tmp_path / "t.duckdb"
    old_folder = tmp_path / "dlt-home" / "pipelines"  # where the old version kept tiktok_portability/
    code, _, err = finish(start(tmp_path, "load", str(older.path), "--duckdb", str(db), "--pipelines-dir", str(old_folder)))
    assert code == 0, err[-2000:]
    assert (old_folder / "tiktok_portability" / "state.json").exists()

    code, out, err = finish(start(tmp_path, "load", str(newer.path), "--duckdb", str(db)))
    assert code == 0, err[-2000:]
    assert rows(db, "user_a") == {t: history.expected_counts([older, newer]).get(t, 0) for t in DEFAULT_TABLES}
    import hashlib

    newer_sha = hashlib.sha256(newer.path.read_bytes()).hexdigest()
    skipped = sql(db, "SELECT SUM(already_loaded) FROM tiktok.load_report WHERE table_name = 'watch_history' "
                      "AND archive_sha256 = ?", newer_sha)[0][0]
    assert skipped and skipped > 0  # the older export's window was known: its rows were not sent again


def test_two_workers_load_side_by_side_into_one_postgres_dataset(tmp_path, exports, postgres_server):
    """A warehouse takes loads side by side: two workers (``TIKTOK_PORTABILITY_WORKER``) into one new
    PostgreSQL dataset at once, each with its own working folder and no lock of ours between them.
    They race to create the tables (dlt applies what is still missing, and the loser loads again);
    every row arrives exactly once, and each user's windows are their own."""
    import psycopg2

    dsn = postgres_server.create_database()

    def worker(name: str, export) -> subprocess.Popen[str]:
        env = {**env_for(tmp_path), "TIKTOK_PORTABILITY_WORKER": name, "DESTINATION__POSTGRES__CREDENTIALS": dsn}
        return subprocess.Popen([sys.executable, "-m", "tiktok_portability_source.cli", "load", str(export.path),
                                 "--destination", "postgres"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    runs = [worker("w1", exports[1]), worker("w2", exports[2])]
    results = [finish(r) for r in runs]
    for code, _, err in results:
        assert code == 0, err[-3000:]
        assert "waiting up to" not in err  # neither waited for the other
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        for i in (1, 2):
            for table in DEFAULT_TABLES:
                cur.execute("SELECT to_regclass(%s)", (f"tiktok.{table}",))
                if cur.fetchone()[0] is None:
                    assert exports[i].expected.get(table, 0) == 0, table
                    continue
                cur.execute(f"SELECT COUNT(*), COUNT(DISTINCT row_key) FROM tiktok.{table} WHERE user_id = %s",
                            (f"user_{i}",))
                total, distinct = cur.fetchone()
                assert total == distinct == exports[i].expected.get(table, 0), (table, i)
        cur.execute("SELECT COUNT(DISTINCT user_id) FROM tiktok._tiktok_user_state WHERE kind = 'coverage'")
        assert cur.fetchone()[0] == 2
    folders = sorted(p.name for p in (tmp_path / "dlt-home" / "pipelines").iterdir() if p.is_dir())
    assert len(folders) == 2 and all("-w" in f for f in folders), folders
