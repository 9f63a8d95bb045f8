"""One user's damaged export stays that user's trouble: a value too large is refused before anything is
written, a package the destination refuses is set aside (the next load, anyone's, goes through), and a
database another process holds is one line. All through the real ``tiktok-portability`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import dlt
import duckdb
import pytest
from support.db import sql

from tiktok_portability_source.fake.generator import GeneratedArchive, UserHistory
from tiktok_portability_source.layouts import DEFAULT_TABLES

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)


def cli(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", **(env or {})}
    return subprocess.run([sys.executable, "-m", "tiktok_portability_source.cli", *args,
                           "--duckdb", str(tmp / "t.duckdb"), "--pipelines-dir", str(tmp / "pipelines")],
                          cwd=tmp, env=full_env, capture_output=True, text=True, timeout=600, check=False)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0]


def with_bio(tmp: Path, user: str, size: int) -> GeneratedArchive:
    """An export (a folder) whose profile bio is ``size`` bytes long."""
    export = UserHistory(user, seed=3).export(tmp / user, at=AT, container="folder")
    data_file = next(export.path.rglob("user_data_tiktok.json"))
    data = json.loads(data_file.read_text(encoding="utf-8"))
    data["Profile"]["Profile Info"]["ProfileMap"]["bioDescription"] = "b" * size
    data_file.write_text(json.dumps(data), encoding="utf-8")
    return export


def user_rows(db: Path, user: str) -> dict[str, int]:
    tables = {t for (t,) in sql(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tiktok'")}
    return {t: sql(db, f"SELECT COUNT(*) FROM tiktok.{t} WHERE user_id = ?", user)[0][0] if t in tables else 0
            for t in DEFAULT_TABLES}


def pending_packages(tmp: Path) -> list[str]:
    """What dlt would replay before the next load."""
    pipeline = dlt.pipeline("tiktok_portability", pipelines_dir=str(tmp / "pipelines"))
    return [*pipeline.list_extracted_load_packages(), *pipeline.list_normalized_load_packages()]


def test_a_value_over_the_limit_refuses_the_archive_before_anything_is_written(tmp_path):
    big = with_bio(tmp_path, "user_a", 2 * 1024**2)  # over the default limit of 1 MiB
    error = one_line_error(cli(tmp_path, "load", str(big.path)))
    assert big.path.name in error and "profile.bio_description" in error and "2,097,152 bytes" in error
    assert "TIKTOK_PORTABILITY_MAX_VALUE_BYTES" in error
    # nothing of it: no row in any table, nothing left pending for the next load to replay
    if (tmp_path / "t.duckdb").exists():
        assert not any(user_rows(tmp_path / "t.duckdb", "user_a").values())
    assert pending_packages(tmp_path) == []

    # a limit lowered below a value refuses it; the same archive with a value under it loads whole
    small = with_bio(tmp_path, "user_b", 5_000)
    error = one_line_error(cli(tmp_path, "load", str(small.path), env={"TIKTOK_PORTABILITY_MAX_VALUE_BYTES": "4000"}))
    assert "profile.bio_description holds a value of 5,000 bytes" in error
    assert cli(tmp_path, "load", str(small.path)).returncode == 0
    assert user_rows(tmp_path / "t.duckdb", "user_b") == {t: small.expected.get(t, 0) for t in DEFAULT_TABLES}
    assert sql(tmp_path / "t.duckdb", "SELECT length(bio_description) FROM tiktok.profile") == [(5_000,)]


def test_a_package_the_destination_refuses_is_set_aside_and_blocks_no_later_load(tmp_path):
    """A value under our limit (raised here) but over DuckDB's memory limit fails its load job."""
    poisoned = with_bio(tmp_path, "user_a", 120 * 1024**2)
    raised = {"TIKTOK_PORTABILITY_MAX_VALUE_BYTES": str(1024**3)}
    error = one_line_error(cli(tmp_path, "load", str(poisoned.path), env=raised))
    assert "load step failed" in error and "set aside in" in error and "nothing was lost" in error
    listed = cli(tmp_path, "quarantine")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 1, listed.stdout + listed.stderr
    load_id = listed.stdout.split(":")[0]
    aside = tmp_path / "pipelines" / "quarantine" / "tiktok_portability" / load_id
    assert (aside.stat().st_mode & 0o777) == 0o700
    assert all((p.stat().st_mode & 0o077) == 0 for p in aside.rglob("*"))

    # the next load, another user's, does not replay the failed package and loads every row
    good = UserHistory("user_c", seed=8).export(tmp_path / "c", at=AT)
    result = cli(tmp_path, "load", str(good.path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "finishing" not in result.stderr
    assert user_rows(tmp_path / "t.duckdb", "user_c") == {t: good.expected.get(t, 0) for t in DEFAULT_TABLES}

    # nothing of the poisoned export was lost for good: fixed (the bio cut), it loads whole
    data_file = next(poisoned.path.rglob("user_data_tiktok.json"))
    data = json.loads(data_file.read_text(encoding="utf-8"))
    data["Profile"]["Profile Info"]["ProfileMap"]["bioDescription"] = "fixed"
    data_file.write_text(json.dumps(data), encoding="utf-8")
    assert cli(tmp_path, "load", str(poisoned.path)).returncode == 0
    assert user_rows(tmp_path / "t.duckdb", "user_a") == {t: poisoned.expected.get(t, 0) for t in DEFAULT_TABLES}

    # the set-aside copy holds rows: the command deletes it, and an unknown id is an error
    assert one_line_error(cli(tmp_path, "quarantine", "--drop", "123.456")).startswith("error: no set-aside package")
    assert cli(tmp_path, "quarantine", "--drop", load_id).returncode == 0
    assert not aside.exists()


def test_forget_deletes_set_aside_packages(tmp_path):
    poisoned = with_bio(tmp_path, "user_a", 120 * 1024**2)
    one_line_error(cli(tmp_path, "load", str(poisoned.path), env={"TIKTOK_PORTABILITY_MAX_VALUE_BYTES": str(1024**3)}))
    assert list((tmp_path / "pipelines" / "quarantine").rglob("REASON.txt"))
    result = cli(tmp_path, "forget", "--user-id", "user_a")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "load packages set aside after failing: 1 deleted" in result.stdout
    assert not list((tmp_path / "pipelines" / "quarantine").rglob("*.parquet"))


def test_a_database_another_process_holds_is_one_line(tmp_path):
    export = UserHistory("user_a", seed=3).export(tmp_path / "x", at=AT)
    db = tmp_path / "t.duckdb"
    duckdb.connect(str(db)).close()
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(db)!r}); "
                               "print('held', flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        error = one_line_error(cli(tmp_path, "load", str(export.path)))
        assert f"{db} is in use by another process" in error and f"PID {holder.pid}" in error
        assert time.monotonic() - started < 60
    finally:
        holder.kill()
        holder.wait()
    # once the other process is gone the same command loads everything
    assert cli(tmp_path, "load", str(export.path)).returncode == 0
    assert user_rows(db, "user_a") == {t: export.expected.get(t, 0) for t in DEFAULT_TABLES}


@pytest.mark.parametrize("flag_first", [True, False])
def test_debug_shows_the_traceback(tmp_path, flag_first):
    big = with_bio(tmp_path, "user_a", 2 * 1024**2)
    args = ["--debug", "load", str(big.path)] if flag_first else ["load", str(big.path), "--debug"]
    result = cli(tmp_path, *args)
    assert result.returncode != 0 and "Traceback" in result.stderr and "ArchiveError" in result.stderr


def test_a_load_waits_for_a_database_another_process_holds_for_a_moment(tmp_path):
    export = UserHistory("user_a", seed=3).export(tmp_path / "x", at=AT)
    db = tmp_path / "t.duckdb"
    duckdb.connect(str(db)).close()
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(db)!r}); "
                               "print('held', flush=True); time.sleep(3)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = cli(tmp_path, "load", str(export.path))
    finally:
        holder.wait()
    assert result.returncode == 0, result.stderr[-2000:]
    assert "in use by another process" in result.stderr and f"PID {holder.pid}" in result.stderr
    assert user_rows(db, "user_a") == {t: export.expected.get(t, 0) for t in DEFAULT_TABLES}
