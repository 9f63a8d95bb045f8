"""Promises the docs make that no other test held: each test is named after the promise it keeps.
The real command in a subprocess, on generated exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support.db import sql

from tiktok_portability_source.api import ratelimit
from tiktok_portability_source.fake.generator import UserHistory
from tiktok_portability_source.layouts import DEFAULT_TABLES

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)
KEY = "test-pseudonymize-key-0123456789"


def cli(tmp: Path, *args: str, db: str = "t", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "TIKTOK_PORTABILITY_"))}
    return subprocess.run([sys.executable, "-m", "tiktok_portability_source.cli", *args, "--duckdb", str(tmp / f"{db}.duckdb"),
                           "--pipelines-dir", str(tmp / f"{db}-pipelines")], cwd=tmp,
                          env={**clean, "RUNTIME__DLTHUB_TELEMETRY": "false", **(env or {})},
                          capture_output=True, text=True, timeout=600, check=False)


def counts(db: Path, user: str = "user_a") -> dict[str, int]:
    tables = {t for (t,) in sql(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tiktok'")}
    return {t: sql(db, f"SELECT COUNT(*) FROM tiktok.{t} WHERE user_id = ?", user)[0][0] if t in tables else 0
            for t in DEFAULT_TABLES}


@pytest.fixture(scope="module")
def history() -> UserHistory:
    return UserHistory("user_a", seed=3)


def test_a_utf32_json_export_with_a_bom_loads_like_utf8(tmp_path, history):
    export = history.export(tmp_path / "x", at=AT, container="bare")
    document = json.loads(export.path.read_text(encoding="utf-8"))
    utf32 = tmp_path / "user_data_tiktok.json"
    utf32.write_bytes(json.dumps(document, ensure_ascii=False).encode("utf-32"))  # "utf-32" writes a BOM
    assert utf32.read_bytes()[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
    result = cli(tmp_path, "load", str(utf32))
    assert result.returncode == 0, result.stderr[-2000:]
    assert counts(tmp_path / "t.duckdb") == {t: export.expected.get(t, 0) for t in DEFAULT_TABLES}


def test_a_utf32_txt_file_with_a_bom_loads_like_utf8(tmp_path, history):
    export = history.export(tmp_path / "x", at=AT, data_format="txt", container="folder")
    watch = next(export.path.rglob("*Watch History*.txt"))
    watch.write_bytes(watch.read_text(encoding="utf-8").encode("utf-32"))
    result = cli(tmp_path, "load", str(export.path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert counts(tmp_path / "t.duckdb")["watch_history"] == export.expected["watch_history"]


def test_a_member_name_twice_in_one_zip_refuses_the_archive(tmp_path, history):
    export = history.export(tmp_path / "x", at=AT)
    with zipfile.ZipFile(export.path) as z:
        name = next(n for n in z.namelist() if n.endswith(".json"))
        data = z.read(name)
    twice = tmp_path / "twice.zip"
    with pytest.warns(UserWarning), zipfile.ZipFile(twice, "w") as z:
        z.writestr(name, data)
        z.writestr(name, b'{"Profile": {}}')
    result = cli(tmp_path, "load", str(twice))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "appears twice" in result.stderr and not (tmp_path / "t.duckdb").exists()


def test_an_invalid_limit_value_warns_and_keeps_the_default(tmp_path, history):
    export = history.export(tmp_path / "x", at=AT)
    result = cli(tmp_path, "load", str(export.path), env={"TIKTOK_PORTABILITY_MAX_MEMBERS": "lots"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "TIKTOK_PORTABILITY_MAX_MEMBERS='lots' is not a positive integer; using 20000" in result.stderr


def test_no_pseudonymize_on_the_command_line_wins_over_config(tmp_path, history):
    export = history.export(tmp_path / "x", at=AT)
    on = {"SOURCES__TIKTOK_PORTABILITY__PSEUDONYMIZE": "true", "SOURCES__TIKTOK_PORTABILITY__PSEUDONYMIZE_KEY": KEY}
    assert cli(tmp_path, "load", str(export.path), db="on", env=on).returncode == 0
    assert cli(tmp_path, "load", str(export.path), "--no-pseudonymize", db="off", env=on).returncode == 0
    followers = {f.username for f in history.followers} - {"N/A"}
    on_names = {n for (n,) in sql(tmp_path / "on.duckdb", "SELECT username FROM tiktok.followers WHERE username IS NOT NULL")}
    off_names = {n for (n,) in sql(tmp_path / "off.duckdb", "SELECT username FROM tiktok.followers WHERE username IS NOT NULL")}
    assert off_names and off_names <= followers and not on_names & followers


def test_an_excluded_table_is_not_loaded_and_included_again_loads_its_full_history(tmp_path, history):
    export = history.export(tmp_path / "x", at=AT)
    result = cli(tmp_path, "load", str(export.path), "--exclude", "likes", "searches")
    assert result.returncode == 0, result.stderr[-2000:]
    first = counts(tmp_path / "t.duckdb")
    assert first["likes"] == 0 and first["searches"] == 0 and first["watch_history"] == export.expected["watch_history"]
    again = cli(tmp_path, "load", str(export.path))  # the same export: the windows of likes were never set
    assert again.returncode == 0, again.stderr[-2000:]
    assert counts(tmp_path / "t.duckdb") == {t: export.expected.get(t, 0) for t in DEFAULT_TABLES}


def test_demo_pseudonymize_runs_without_a_key_and_leaves_no_raw_follower_name(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tiktok_portability_source.cli", "demo", "--pseudonymize",
                             "--workdir", str(tmp_path / "demo_data"), "--duckdb", str(tmp_path / "demo.duckdb")],
                            cwd=tmp_path, env={**{k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")},
                                               "RUNTIME__DLTHUB_TELEMETRY": "false"},
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    names = [n for (n,) in sql(tmp_path / "demo.duckdb", "SELECT username FROM tiktok.followers WHERE username IS NOT NULL")]
    assert names and all(n.startswith("u_") and len(n) == 18 for n in names)


def test_rate_limit_zero_switches_the_limiter_off_and_a_limit_paces_requests():
    assert ratelimit.for_config(0, 60.0) is None
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limiter = ratelimit.RateLimiter(3, 10.0, slack=0, clock=lambda: clock[0], sleep=sleep)
    waits = [limiter.acquire("add") for _ in range(7)]
    assert waits == [0, 0, 0, 10.0, 0, 0, 10.0]  # the 4th and the 7th wait for a window to pass
    assert sum(slept) == 20.0
