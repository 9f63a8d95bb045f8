"""The ``tiktok-portability`` API-mode commands as a user runs them: real subprocesses against the fake
TikTok API on loopback, checked through exit codes, output, the stores on disk and SQL."""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from support.api_env import (
    ALL_ONGOING,
    ALL_SINGLE,
    ApiEnv,
    free_port,
    sql,
    start_env,
    stop_env,
    user_tables,
)

from tiktok_portability_source import ArchiveInput
from tiktok_portability_source.api.auth import TokenStore
from tiktok_portability_source.layouts import DEFAULT_TABLES
from tiktok_portability_source.loader import load_archives


@pytest.fixture
def env(tmp_path: Path):
    api = start_env(tmp_path)
    yield api
    stop_env(api)


def secret_values(env: ApiEnv) -> set[str]:
    """Every token the fake ever issued, its authorization codes and the client secret."""
    return set(env.fake._tokens) | set(env.fake._codes) | {env.fake.config.client_secret}


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- auth ----------------------------------------------------------------------------------------


def test_auth_catches_the_redirect_and_stores_tokens(env: ApiEnv):
    env.fake.add_user("cli-consent")
    port = free_port()
    cmd = [sys.executable, "-m", "tiktok_portability_source.cli", "auth", "--no-browser", "--timeout", "60",
           "--scopes", ",".join(ALL_SINGLE), "--base-url", env.url, "--token-store", str(env.token_store)]
    child_env = {**os.environ, "SOURCES__TIKTOK_PORTABILITY__CLIENT_KEY": env.fake.config.client_key,
                 "SOURCES__TIKTOK_PORTABILITY__CLIENT_SECRET": env.fake.config.client_secret,
                 "SOURCES__TIKTOK_PORTABILITY__REDIRECT_URI": f"http://127.0.0.1:{port}/callback/"}
    with subprocess.Popen(cmd, cwd=env.tmp, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:  # "Open this URL to authorize the app:" then the URL
            if line.startswith(env.url):
                break
        else:
            pytest.fail("auth printed no authorize URL: " + proc.stderr.read())
        url = line.strip()
        assert "code_challenge=" in url and "portability.all.single" in url
        httpx.get(url + "&fake_open_id=cli-consent", follow_redirects=True, timeout=30)  # the user's browser
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"authorized cli-consent; tokens stored in {env.store_file}" in out
    stored = env.tokens()["cli-consent"]
    assert stored["token"]["scopes"] == list(ALL_SINGLE)
    assert oct(env.store_file.stat().st_mode & 0o777) == "0o600"
    assert not [s for s in secret_values(env) if s in out + err]


def test_auth_without_a_redirect_times_out_with_one_line(env: ApiEnv):
    result = env.cli("auth", "--no-browser", "--timeout", "0.5", common=False,
                     env={"SOURCES__TIKTOK_PORTABILITY__REDIRECT_URI": f"http://127.0.0.1:{free_port()}/callback/"})
    assert result.returncode == 1
    assert "redirect" in one_line_error(result)


# --- sync: bad input and configuration --------------------------------------------------------------


def test_sync_without_users_exits_2_with_a_clear_message(env: ApiEnv):
    result = env.cli("sync")
    assert result.returncode == 2
    assert one_line_error(result) == f"no users in {env.store_file}: run `tiktok-portability auth` first"
    assert result.stdout == ""


@pytest.mark.parametrize("missing", ["client_key", "client_secret"])
def test_missing_credentials_give_one_line_naming_the_key(env: ApiEnv, missing: str):
    service = env.service()
    env.authorize(service, "configless", ALL_SINGLE)
    present = {"client_key": env.fake.config.client_key, "client_secret": env.fake.config.client_secret}
    present.pop(missing)
    result = env.cli("sync", credentials=False,
                     env={f"SOURCES__TIKTOK_PORTABILITY__{k.upper()}": v for k, v in present.items()})
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line_error(result)
    assert line.startswith(f"error: {missing} is not configured")
    assert f"SOURCES__TIKTOK_PORTABILITY__{missing.upper()}" in line
    assert env.calls("add") == 0
    assert env.transfers() == []  # nothing was tried, so nothing is spent
    if missing == "client_secret":
        return
    [fixed] = service.sync_once()  # with the keys in place the one-time grant still works
    assert fixed.state == "loaded", fixed.message


# --- status ----------------------------------------------------------------------------------------


def test_status_shows_users_and_transfers_but_never_token_values(env: ApiEnv):
    service = env.service()
    loaded = env.authorize(service, "status-loaded", ALL_SINGLE)
    revoked = env.authorize(service, "status-revoked", ALL_ONGOING)
    service.revoke(revoked)
    [outcome] = [o for o in service.sync_until_done(timeout=60) if o.open_id == loaded]
    assert outcome.state == "loaded"

    result = env.cli("status")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"token store: {env.store_file}" in out
    assert f"  {loaded}: access token valid" in out and "scopes user.info.basic,portability.all.single" in out
    assert f"  {revoked}: REVOKED - run auth again" in out
    assert f"  {loaded} request {outcome.transfer.request_id}: loaded (all_data, single)" in out
    assert f"rows {outcome.transfer.rows_loaded}" in out
    assert f"  {loaded}: {outcome.transfer.request_id}.zip (exported " in out  # last loads
    assert not [s for s in secret_values(env) if s in out + result.stderr]


# --- forget ----------------------------------------------------------------------------------------


def _state_rows(db: Path) -> list[str]:
    return [json.dumps(json.loads(zlib.decompress(base64.b64decode(s))))
            for (s,) in sql(db, "SELECT state FROM tiktok._dlt_pipeline_state")]


def _files_mentioning(root: Path, needle: str) -> list[str]:
    hits = []
    for path in (p for p in root.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        text = repr(pq.read_table(path).to_pylist()) if raw[:4] == b"PAR1" else raw.decode("latin-1")
        if raw[:2] == b"\x1f\x8b":
            text += gzip.decompress(raw).decode("latin-1")
        if needle in text:
            hits.append(str(path.relative_to(root)))
    return hits


def test_forget_erases_a_user_everywhere_and_a_reload_brings_the_rows_back(env: ApiEnv):
    service = env.service(keep_archives=True)
    gone = env.authorize(service, "forget-me", ALL_SINGLE)
    kept = env.authorize(service, "keep-me", ALL_SINGLE)
    assert [o.state for o in service.sync_until_done(timeout=60)] == ["loaded", "loaded"]
    [archive] = list((env.archive_dir / gone).glob("*.zip"))
    saved = shutil.copy(archive, env.tmp / "forget-me-export.zip")
    tables = user_tables(env.db)
    before, kept_before = env.counts(gone), env.counts(kept)
    assert set(before) == set(tables)
    assert before["watch_history"] > 0 and before["export_requests"] == 1
    assert before["_tiktok_user_state"] > 0  # the per-user windows live in the destination, in rows of theirs
    state_versions = len(_state_rows(env.db))

    result = env.cli("forget", "--user-id", gone)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"forgot {gone}:"
    reported = {line.split(":")[0].strip(): line.split(":")[1].strip() for line in lines[1:]}
    for table, n in before.items():
        if n:
            assert reported.pop(table) == f"{n} rows deleted", table
    assert reported.pop("tokens") == "deleted"
    assert reported.pop("transfer records") == "1 deleted"
    assert reported.pop("downloaded archives") == "1 deleted"
    # dlt state no longer changes with every load, but an older version's may hold the user: all but the newest go
    assert reported.pop("earlier dlt state versions") == f"{state_versions - 1} deleted"
    assert int(reported.pop("dlt load packages kept locally").split()[0]) >= 1
    assert reported.pop("load packages set aside after failing") == "0 deleted"
    assert reported.pop("enriched videos no one else's history points to") == "0 deleted"
    assert reported.pop("database storage") == "api.duckdb rewritten into a fresh file"
    assert reported == {}

    assert env.counts(gone) == dict.fromkeys(tables, 0)
    assert env.counts(kept) == kept_before
    assert gone not in env.tokens() and kept in env.tokens()
    assert {t["open_id"] for t in env.transfers()} == {kept}
    assert not (env.archive_dir / gone).exists() and list((env.archive_dir / kept).glob("*.zip"))
    assert not [s for s in _state_rows(env.db) if gone in s]  # no window or snapshot time of theirs either
    assert _files_mentioning(env.pipelines_dir, gone) == []  # nor a copy in dlt's working folder

    # their data loaded again comes back whole: forget also dropped the windows that would skip it
    result = load_archives(env.pipeline(), [ArchiveInput(Path(saved), user_id=gone)])
    assert result.added["watch_history"] == before["watch_history"]
    assert env.counts(gone) == {**before, "export_requests": 0}
    assert env.counts(kept) == kept_before


def _poison(archive: Path, size: int) -> None:
    """Rewrite a served ZIP so that its profile bio is ``size`` bytes long."""
    import json
    import zipfile

    with zipfile.ZipFile(archive) as z:
        members = {info: z.read(info) for info in z.infolist()}

    def set_bio(node) -> bool:
        if isinstance(node, dict):
            if "bioDescription" in node:
                node["bioDescription"] = "b" * size
                return True
            return any(set_bio(v) for v in node.values())
        return False

    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:  # stored: no expansion-ratio refusal
        for info, data in members.items():
            if info.filename.endswith(".json"):
                document = json.loads(data)
                assert set_bio(document)
                data = json.dumps(document).encode()
            z.writestr(info.filename, data)


def test_a_poisoned_export_fails_only_its_user_and_every_sync_ends_in_outcome_lines(env: ApiEnv):
    """An export whose load job the destination refuses (a 120 MB bio, under a raised value limit but
    over DuckDB's memory limit) costs its own user their attempts, never another user's load."""
    service = env.service()
    env.authorize(service, "poisoned", ALL_SINGLE)
    env.authorize(service, "good", ALL_SINGLE)
    serve = env.fake.archive_builder

    def poisoned_for_one(open_id, categories, data_format):
        path = serve(open_id, categories, data_format)
        if open_id == "poisoned":
            _poison(path, 120 * 1024**2)
        return path

    env.fake.archive_builder = poisoned_for_one
    raised = {"TIKTOK_PORTABILITY_MAX_VALUE_BYTES": str(1024**3)}
    runs = [env.cli("sync", "--wait", env=raised, timeout=600) for _ in range(3)]
    for run in runs:
        assert run.returncode == 1, run.stdout + run.stderr[-3000:]  # a user needs attention, not a crash
        assert "Traceback" not in run.stderr, run.stderr[-3000:]
        assert "poisoned" in run.stdout
    states = {t["open_id"]: t["state"] for t in env.transfers()}
    assert states == {"good": "loaded", "poisoned": "failed"}
    good = env.counts("good")
    assert {t: good.get(t, 0) for t in DEFAULT_TABLES} == {t: env.builder.expected("good").get(t, 0)
                                                          for t in DEFAULT_TABLES}
    assert env.count("watch_history", "poisoned") == 0 or env.count("profile", "poisoned") == 0
    listed = env.cli("quarantine", api=False)
    assert listed.returncode == 0 and "OutOfMemoryException" in listed.stdout, listed.stdout + listed.stderr


def test_single_user_tokens_from_config_move_into_the_token_store_and_load_once(env: ApiEnv):
    """``access_token`` / ``refresh_token`` in config and an empty token store: the first sync refreshes
    once, stores the rotated pair before using it, loads; later syncs read the store (the configured
    refresh token is dead by then) and never Add again on the one-time grant."""
    elsewhere = env.tmp / "elsewhere" / "tokens.json"
    env.authorize(env.service(token_store=elsewhere), "solo", ALL_SINGLE)
    pair = TokenStore(elsewhere).get("solo").to_json()
    configured = {"SOURCES__TIKTOK_PORTABILITY__ACCESS_TOKEN": pair["access_token"],
                  "SOURCES__TIKTOK_PORTABILITY__REFRESH_TOKEN": pair["refresh_token"]}
    assert not env.store_file.exists()
    refreshes_before = env.calls("token")

    first = env.cli("sync", "--wait", env=configured)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "solo: loaded" in first.stdout
    stored = env.tokens()["solo"]["token"]
    assert stored["refresh_token"] != pair["refresh_token"]  # rotated, and kept
    assert env.calls("token") == refreshes_before + 1 and env.calls("add") == 1
    assert env.count("watch_history", "solo") == env.builder.expected("solo")["watch_history"]
    assert pair["refresh_token"] not in first.stdout + first.stderr

    again = env.cli("sync", env=configured)
    assert again.returncode == 0, again.stdout + again.stderr
    assert env.calls("token") == refreshes_before + 1 and env.calls("add") == 1  # the store is the truth now
    assert env.tokens()["solo"]["token"]["refresh_token"] == stored["refresh_token"]
