"""Every failure a new user meets is one line naming what is wrong and what to do, exit 2, no traceback;
and read-only or failed commands leave no database file behind. The real command, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support.db import sql

from tiktok_portability_source.fake.generator import UserHistory

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)


def run(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DESTINATION__", "TIKTOK_PORTABILITY_"))}
    return subprocess.run([sys.executable, "-m", "tiktok_portability_source.cli", *args],
                          cwd=tmp, env={**clean, "RUNTIME__DLTHUB_TELEMETRY": "false", **(env or {})},
                          capture_output=True, text=True, timeout=300, check=False)


def the_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    assert len(lines[0]) < 400, lines[0]  # one readable line, not dlt's list of every key it tried
    return lines[0]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return UserHistory("user_a", seed=3).export(tmp_path_factory.mktemp("x"), at=AT).path


def test_a_misspelled_destination_is_named_with_the_ones_that_exist(tmp_path, export):
    error = the_error(run(tmp_path, "load", str(export), "--destination", "postgress"))
    assert "unknown destination 'postgress'" in error and "postgres" in error.split("'postgress'")[1]


def test_missing_destination_credentials_name_the_variable_to_set(tmp_path, export):
    error = the_error(run(tmp_path, "load", str(export), "--destination", "postgres"))
    assert "DESTINATION__POSTGRES__CREDENTIALS" in error and ".dlt/secrets.toml" in error


def test_a_database_server_that_is_down_is_one_line(tmp_path, export):
    down = {"DESTINATION__POSTGRES__CREDENTIALS": "postgresql://loader:secret-pw@127.0.0.1:9/tiktok"}
    error = the_error(run(tmp_path, "load", str(export), "--destination", "postgres", env=down))
    assert error.startswith("error: cannot reach the destination") and "secret-pw" not in error


def test_a_folder_that_is_not_an_export_fails_in_one_line_even_with_a_user_id(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "shopping.txt").write_text("milk\n")
    for extra in ([], ["--user-id", "someone"]):
        error = the_error(run(tmp_path, "load", "notes", *extra))
        assert "notes" in error and "is this a TikTok export?" in error
    assert not list(tmp_path.glob("*.duckdb"))  # and a failed first load leaves no empty database


def test_status_creates_no_database_and_honours_the_env_variable(tmp_path, export):
    result = run(tmp_path, "status", "--token-store", str(tmp_path / "state" / "tokens.json"))
    assert result.returncode == 0, result.stderr
    assert "no database at tiktok_portability.duckdb" in result.stdout
    assert not list(tmp_path.glob("*.duckdb"))

    env = {"TIKTOK_PORTABILITY_DUCKDB": str(tmp_path / "chosen.duckdb")}
    assert run(tmp_path, "load", str(export), env=env).returncode == 0
    assert sql(tmp_path / "chosen.duckdb", "SELECT COUNT(*) FROM tiktok.archives")[0][0] == 1
    status = run(tmp_path, "status", "--token-store", str(tmp_path / "state" / "tokens.json"), env=env)
    assert status.returncode == 0 and f"user_a: {export.name}" in status.stdout, status.stdout
    assert [p.name for p in tmp_path.glob("*.duckdb")] == ["chosen.duckdb"]


def test_version_and_help_speak_to_users(tmp_path):
    version = run(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("tiktok-portability 0.")
    helped = run(tmp_path, "--help")
    assert "examples:" in helped.stdout and "tiktok-portability load" in helped.stdout
    for command in ("load", "demo", "auth", "sync", "status", "forget", "fake-api", "quarantine", "webhook"):
        text = run(tmp_path, command, "--help").stdout
        options = [line.split()[0] for line in text.splitlines() if line.startswith("  --")]
        undocumented = [line for line in text.splitlines() if line.startswith("  --") and len(line.split()) < 2
                        and not any(o in line for o in ("--help",))]
        assert options, command
        assert not [u for u in undocumented if not _continued(text, u)], (command, undocumented)
    assert "(default: demo.duckdb)" in run(tmp_path, "demo", "--help").stdout


def _continued(text: str, line: str) -> bool:
    """argparse puts the help of a long option on the next line: that counts as documented."""
    lines = text.splitlines()
    following = lines[lines.index(line) + 1] if lines.index(line) + 1 < len(lines) else ""
    return following.startswith(" " * 10) and bool(following.strip())


def test_progress_log_reports_each_archive_and_the_rows_per_table(tmp_path, export):
    result = run(tmp_path, "load", str(export), str(export), "--progress", "log")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"reading archive 1/2: {export.name}" in result.stderr
    assert f"reading archive 2/2: {export.name}" in result.stderr
    assert "Extract tiktok_portability" in result.stderr and "watch_history:" in result.stderr
    quiet = run(tmp_path, "load", str(export), "--progress", "none", "--duckdb", "quiet.duckdb")
    assert quiet.returncode == 0 and "Extract tiktok_portability" not in quiet.stderr
