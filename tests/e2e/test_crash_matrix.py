"""Crash matrix: the real CLI killed (SIGKILL, via ``TIKTOK_PORTABILITY_CRASH_AT``) at every named point
of a load or a sync, then run again as a user would. The second run must leave every table with
exactly the rows of an uninterrupted run into a separate DuckDB: same row keys, same content, no
duplicates, nothing missing; and the user's refresh token must still work where TikTok's rules allow.

Archive mode: the dataset already holds user A; the killed run loads user B (a single new user: the
append path, where a second copy of a row is easiest to make). API mode: a one-time grant from
consent to rows against the fake TikTok on loopback, whose clock is frozen so both runs get the very
same archive.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from support.api_env import ALL_SINGLE, DATASET, SMALL, ApiEnv, RecordingBuilder, stop_env

from tiktok_portability_source.api import ApiService
from tiktok_portability_source.api.auth import TokenStore
from tiktok_portability_source.crash import CRASH_ENV
from tiktok_portability_source.fake.api import FakeConfig, FakeTikTok
from tiktok_portability_source.fake.generator import UserHistory

AT = datetime(2030, 1, 11, 6, tzinfo=timezone.utc)
# columns that say when or in which load a row was written, not what it holds
VOLATILE = {"_dlt_load_id", "_dlt_id", "snapshot_version", "loaded_at"}
# export_requests: the local id (a uuid, also behind its row_key) and wall-clock times of the CLI
VOLATILE_REQUESTS = VOLATILE | {"row_key", "created_at", "updated_at"}
# load_report: the latest load's account of each section. A rerun after a crash reads the same records
# and finds some already loaded, so only how they split may differ, never how many were read
VOLATILE_REPORT = VOLATILE | {"written", "already_loaded", "repeats", "empty"}
# _tiktok_user_state: when each entry was written; the windows and snapshot times themselves must match
VOLATILE_USER_STATE = VOLATILE | {"updated_at"}
Rows = dict[str, list[tuple[Any, ...]]]


def dataset_rows(db: Path) -> Rows:
    """Every row of every data table, without the volatile columns, sorted: equal dumps mean the same
    rows with the same keys and content, as many times each."""
    out: Rows = {}
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                                            "AND table_name NOT LIKE '\\_dlt\\_%' ESCAPE '\\'", [DATASET]).fetchall()]
        for table in tables:
            skip = {"export_requests": VOLATILE_REQUESTS, "load_report": VOLATILE_REPORT,
                    "_tiktok_user_state": VOLATILE_USER_STATE}.get(table, VOLATILE)
            columns = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                                                 "AND table_name = ? ORDER BY column_name", [DATASET, table]).fetchall()
                       if r[0] not in skip]
            select = ", ".join(f'"{c}"' for c in columns)
            out[table] = sorted(con.execute(f'SELECT {select} FROM {DATASET}."{table}"').fetchall(), key=repr)
    return out


def assert_same_rows(got: Rows, expected: Rows) -> None:
    assert sorted(got) == sorted(expected), "tables differ"
    differing = {t: (len(got[t]), len(expected[t])) for t in expected if got[t] != expected[t]}
    assert not differing, f"(rows after the crash and rerun, rows of the uninterrupted run): {differing}"
    assert sum(len(rows) for rows in expected.values()) > 100  # the comparison was not vacuous


def assert_killed(result: subprocess.CompletedProcess[str], point: str) -> None:
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stdout, result.stderr)
    assert f"crash point {point.split(':')[0]} reached" in result.stderr


# --- archive mode ---------------------------------------------------------------------------------


def run_load(workdir: Path, db: Path, *archives: Path, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    """``tiktok-portability load`` as a separate process, with its own dlt working folder next to ``db``."""
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV and not k.startswith("SOURCES__")}
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    if crash_at:
        env[CRASH_ENV] = crash_at
    cmd = [sys.executable, "-m", "tiktok_portability_source.cli", "load", *map(str, archives), "--duckdb", str(db),
           "--pipelines-dir", str(db.with_suffix(".pipelines")), "-q"]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=180, check=False)


@dataclass(frozen=True)
class ArchiveCase:
    base_db: Path  # user A loaded, uninterrupted; each test loads user B into a copy
    user_b: Path
    expected: Rows  # user A, then user B, both uninterrupted
    reference_db: Path


@pytest.fixture(scope="module")
def archive_case(tmp_path_factory: pytest.TempPathFactory) -> ArchiveCase:
    root = tmp_path_factory.mktemp("crash-archives")
    user_a = UserHistory("user_a", seed=31).export(root / "a", at=AT, family="D").path
    user_b = UserHistory("user_b", seed=32).export(root / "b", at=AT, family="B").path
    base = root / "base.duckdb"
    assert run_load(root, base, user_a).returncode == 0
    reference = copy_dataset(base, root / "reference.duckdb")
    done = run_load(root, reference, user_b)
    assert done.returncode == 0, done.stderr
    return ArchiveCase(base, user_b, dataset_rows(reference), reference)


def tables_holding(db: Path, user_id: str) -> set[str]:
    """The tables with at least one row of ``user_id``."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.columns WHERE table_schema = ? "
                                            "AND column_name = 'user_id'", [DATASET]).fetchall()]
        return {t for t in tables
                if con.execute(f'SELECT COUNT(*) FROM {DATASET}."{t}" WHERE user_id = ?', [user_id]).fetchone()[0]}


def copy_dataset(db: Path, to: Path) -> Path:
    """The DuckDB file and its dlt working folder, as a second installation that loaded the same."""
    shutil.copy(db, to)
    shutil.copytree(db.with_suffix(".pipelines"), to.with_suffix(".pipelines"))
    return to


ARCHIVE_POINTS = [
    "extract_rows:1",  # dlt's buffers hold some rows, no package yet
    "after_extract",  # an extracted package; the resource state (loaded windows) already advanced
    "normalize_rows:1",  # mid-normalize
    "after_normalize",  # a normalized package, nothing at the destination
    "load_job:1",  # mid-load: the first job done
    "load_job:12",  # mid-load: about half of the tables done, the others (and the merges) not
]


@pytest.mark.parametrize("point", ARCHIVE_POINTS)
def test_killed_archive_load_is_finished_by_the_next_run(tmp_path: Path, archive_case: ArchiveCase, point: str):
    db = copy_dataset(archive_case.base_db, tmp_path / "t.duckdb")

    assert_killed(run_load(tmp_path, db, archive_case.user_b, crash_at=point), point)
    if point.startswith("load_job"):  # really mid-load: user B's tables are not all in yet (after 12 jobs, some are)
        holding = tables_holding(db, "user_b")
        assert len(holding) < len(tables_holding(archive_case.reference_db, "user_b"))
        assert holding or point == "load_job:1"
    rerun = run_load(tmp_path, db, archive_case.user_b)
    assert rerun.returncode == 0, rerun.stderr

    # a package exists from the end of extract on; before that dlt's half-written buffers are ignored
    assert ("finishing 1 load package(s)" in rerun.stderr) == (point != "extract_rows:1"), rerun.stderr
    assert_same_rows(dataset_rows(db), archive_case.expected)


# --- API mode ---------------------------------------------------------------------------------------

OPEN_ID = "crash-api-user"


def start_frozen_env(tmp: Path) -> ApiEnv:
    """The fake TikTok on loopback with its clock stopped at ``AT``: every env built this way serves the
    same archive bytes, request ids and times, so two of them can be compared row for row."""
    tmp.mkdir(parents=True, exist_ok=True)
    fake = FakeTikTok(FakeConfig(), clock=lambda: AT.timestamp())
    fake.archive_builder = RecordingBuilder(fake.now, sizes=SMALL, workdir=tmp / "fake-archives",
                                            username_of=lambda open_id: f"user_{open_id}")
    return ApiEnv(tmp, fake, fake.serve(), fake.archive_builder)


def make_refresh_due(env: ApiEnv) -> None:
    """Hours later: the access token is past its life, so the next call refreshes it first (rotation)."""
    store = TokenStore(env.token_store)
    token_set = store.get(OPEN_ID)
    assert token_set is not None
    past = datetime.now(timezone.utc) - timedelta(hours=1)
    store.put(replace(token_set, expires_at=past))
    env.fake.expire_access_tokens(OPEN_ID)


def refresh_token_works(env: ApiEnv) -> bool:
    """The stored refresh token is live at the fake: a forced refresh succeeds (and is stored)."""
    before = env.tokens()[OPEN_ID]["token"]["refresh_token"]
    # the CLI's wall clock, like the runs that stored the pair (the fake's clock is years ahead)
    ApiService(env.config(), env.pipeline).tokens.force_refresh(OPEN_ID)
    return env.tokens()[OPEN_ID]["token"]["refresh_token"] != before


@pytest.fixture
def api_env(tmp_path: Path) -> Iterator[ApiEnv]:
    env = start_frozen_env(tmp_path / "run")
    env.authorize(env.service(), OPEN_ID, ALL_SINGLE)
    make_refresh_due(env)
    yield env
    stop_env(env)


@pytest.fixture(scope="module")
def api_expected(tmp_path_factory: pytest.TempPathFactory) -> Rows:
    env = start_frozen_env(tmp_path_factory.mktemp("crash-api-reference"))
    try:
        env.authorize(env.service(), OPEN_ID, ALL_SINGLE)
        make_refresh_due(env)
        done = env.cli("sync")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{OPEN_ID}: loaded" in done.stdout
        return dataset_rows(env.db)
    finally:
        stop_env(env)


API_POINTS = [
    "refresh_persisted",  # the rotated pair is on disk, the new access token never used
    "refresh_response",  # TikTok rotated the refresh token, the new pair is not on disk yet
    "write_tokens",  # the rotated pair is written in the store's transaction, not committed
    "write_transfers",  # the first transfer record (the Add intent) is written in a transaction, not committed
    "download_bytes:1",  # part of the archive in a temp file
    "after_extract",  # the first load into an empty dataset, killed between extract and normalize
]


@pytest.mark.parametrize("point", API_POINTS)
def test_killed_sync_is_finished_by_the_next_run(api_env: ApiEnv, api_expected: Rows, point: str):
    env = api_env
    stored = env.tokens()[OPEN_ID]["token"]["refresh_token"]
    assert_killed(env.cli("sync", crash_at=point), point)
    assert_store_intact(env)
    if point == "write_tokens":  # the transaction with the new pair never committed: the store has the old one
        assert env.tokens()[OPEN_ID]["token"]["refresh_token"] == stored
    transfers = env.transfers()
    if point.startswith("refresh_"):
        assert transfers == [] and env.calls("add") == 0  # the refresh ran before the Add intent was saved

    rerun = env.cli("sync")
    if point in ("refresh_response", "write_tokens"):
        # TikTok's rule (docs/tiktok-api.md §2.4): the old refresh token died when the new one was issued,
        # and the new one died with the process. The run says so in one line; nothing was spent.
        assert rerun.returncode == 1, rerun.stdout + rerun.stderr
        assert f"{OPEN_ID}: stopped:" in rerun.stdout and "tiktok-portability auth" in rerun.stdout
        assert env.tokens()[OPEN_ID]["metadata"]["needs_reauth"] is True
        assert env.transfers() == [] and env.calls("add") == 0
        env.authorize(env.service(), OPEN_ID, ALL_SINGLE)  # the user consents again
        rerun = env.cli("sync")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{OPEN_ID}: loaded" in rerun.stdout

    assert_same_rows(dataset_rows(env.db), api_expected)
    assert env.calls("add") == 1  # a one-time grant: never a second Add
    downloads = env.calls("download")
    assert downloads == (2 if point.startswith("download_bytes") else 1)  # a loaded archive is not fetched again
    assert not list(env.archive_dir.rglob("*.part")) and not list(env.archive_dir.rglob("*.zip"))
    assert not list(env.token_store.parent.glob(".*.tmp"))  # no stray copy of tokens anywhere
    [transfer] = env.transfers()
    assert transfer["state"] == "loaded"
    assert refresh_token_works(env)


def assert_store_intact(env: ApiEnv) -> None:
    """A kill never leaves a half-written token store: it opens, owner-only, the user's pair present, and
    no token in plaintext in any file beside it."""
    assert stat.S_IMODE(env.store_file.stat().st_mode) == 0o600
    token = env.tokens()[OPEN_ID]["token"]
    assert token["refresh_token"].startswith("rft.") and token["access_token"].startswith("act.")
    for path in env.store_file.parent.iterdir():
        if path.is_file():
            assert token["refresh_token"].encode() not in path.read_bytes(), path
