"""API mode end to end: OAuth consent → add → check → download → load into DuckDB, over real loopback
sockets against the fake TikTok API (``fake.serve()``), including crashes, faults, revocation,
webhooks, token rotation and a hunt for leaked secrets."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support.api_env import ALL_ONGOING, ALL_SINGLE, ApiEnv, database_dump, decoded_files, sql, start_env, stop_env

from tiktok_portability_source.fake.api import FakeConfig
from tiktok_portability_source.fake.archives import DEMO_SIZES
from tiktok_portability_source.api.webhooks import WebhookReceiver, serve_webhooks


@pytest.fixture
def env(tmp_path: Path):
    api = start_env(tmp_path)
    yield api
    stop_env(api)


def make_env(tmp_path: Path, request: pytest.FixtureRequest, config: FakeConfig | None = None, **kw) -> ApiEnv:
    api = start_env(tmp_path, config, **kw)
    request.addfinalizer(lambda: stop_env(api))
    return api


def assert_complete(env: ApiEnv, open_id: str, exports=None) -> None:
    """Every table holds the generator's expected count of distinct rows, and no row_key appears twice."""
    expected = env.builder.expected(open_id, exports)
    loaded = env.counts(open_id)
    assert {t: loaded.get(t, 0) for t in expected} == expected
    assert expected["watch_history"] > 0 and expected["followers"] > 0
    assert env.duplicated() == []


# --- 1. one-time transfer --------------------------------------------------------------------------


def test_single_transfer_from_consent_to_rows(env: ApiEnv):
    service = env.service()
    open_id = env.authorize(service, "single-user", ALL_SINGLE)

    [outcome] = service.sync_until_done(timeout=60)
    assert outcome.state == "loaded", outcome.message
    assert env.calls("add") == 1 and env.calls("download") == 1
    assert outcome.transfer.rows_loaded > 0
    assert_complete(env, open_id)
    assert env.count("profile", open_id) == 1

    # the single grant is spent: a second sync adds nothing and says so
    [again] = service.sync_once()
    assert again.state == "done"
    assert "one-time grant already used" in again.message
    assert env.calls("add") == 1

    [request] = env.fake.requests_of(open_id)
    rows = sql(env.db, "SELECT request_id, typeof(request_id), state, rows_loaded, grant FROM tiktok.export_requests")
    assert rows == [(request.request_id, "BIGINT", "loaded", outcome.transfer.rows_loaded, "single")]
    assert request.request_id > 10**14  # 15 digits survived as an int64


ONGOING_START = datetime(2030, 1, 11, 6, tzinfo=timezone.utc)


# --- 2. recurring transfer over three simulated days ------------------------------------------------


def test_ongoing_transfer_over_three_days(tmp_path: Path, request: pytest.FixtureRequest):
    # a busy watcher (~28 videos a day, in sessions) so the simulated days bring new rows; the fake's
    # clock starts at a fixed moment, so the synthetic history and the days cut from it are the same
    # on every run, whatever the wall clock says
    env = make_env(tmp_path, request, sizes=replace(DEMO_SIZES, watch_history=12_000))
    env.fake.advance(ONGOING_START.timestamp() - env.fake.now())
    service = env.service()
    open_id = env.authorize(service, "daily-user", ALL_ONGOING)

    watched_before = 0
    for day in range(3):
        if day:
            env.fake.advance(86400)  # moves the fake's clock and, through env.clock, the syncer's
        [outcome] = service.sync_until_done(timeout=60)
        assert outcome.state == "loaded", outcome.message
        assert env.calls("add") == day + 1
        assert len(env.fake.requests_of(open_id)) == day + 1
        exports = env.builder.exports[open_id]
        assert len(exports) == day + 1

        expected = env.builder.expected(open_id)
        watched = env.count("watch_history", open_id)
        assert watched == expected["watch_history"]
        if day:  # exactly the rows the newer export brings: union minus what the earlier ones held
            previous = env.builder.expected(open_id, exports[:-1])["watch_history"]
            assert watched - watched_before == expected["watch_history"] - previous >= 0
        else:
            first_day = watched
        watched_before = watched
        assert_complete(env, open_id)

        # the 24 h minimum interval: no second request on the same day, even hours later
        env.fake.advance(6 * 3600)
        [same_day] = service.sync_once()
        assert same_day.state == "scheduled", same_day.message
        assert env.calls("add") == day + 1

    assert watched > first_day  # the days did bring new rows, so the checks above were not vacuous
    rows = sql(env.db, "SELECT state, COUNT(*), COUNT(DISTINCT request_id) FROM tiktok.export_requests GROUP BY 1")
    assert rows == [("loaded", 3, 3)]
    assert env.count("profile", open_id) == 3  # one profile row per export


# --- 3. a process killed mid-transfer resumes without a second Add -----------------------------------


@pytest.mark.parametrize("crash_at", ["after_add", "after_download"])
def test_killed_sync_resumes_without_second_add(env: ApiEnv, crash_at: str):
    service = env.service()
    open_id = env.authorize(service, "crash-user", ALL_SINGLE)

    killed = env.cli("sync", crash_at=crash_at)
    assert killed.returncode not in (0, 1, 2), killed.stderr  # died, did not finish or fail cleanly
    assert "Traceback" not in killed.stderr
    [transfer] = env.transfers()
    assert transfer["state"] == {"after_add": "pending", "after_download": "downloaded"}[crash_at]
    assert isinstance(transfer["request_id"], int)
    if crash_at == "after_download":
        assert Path(transfer["archive_path"]).is_file()
    assert not env.db.exists()  # nothing was loaded before the kill

    resumed = env.cli("sync")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{open_id}: loaded: request {transfer['request_id']} loaded" in resumed.stdout
    assert env.calls("add") == 1  # a .single grant: a second Add would have been refused anyway
    assert env.calls("download") == 1  # after_download: the archive on disk was loaded, not fetched again
    assert_complete(env, open_id)
    [transfer] = env.transfers()
    assert transfer["state"] == "loaded" and transfer["rows_loaded"] > 0
    assert not list(env.archive_dir.rglob("*.zip"))  # loaded archives are removed (keep_archives off)


# --- 4. broken downloads are retried, nothing is loaded twice ----------------------------------------


def test_broken_downloads_are_retried_and_loaded_once(env: ApiEnv):
    service = env.service()
    open_id = env.authorize(service, "flaky-download", ALL_SINGLE)
    # a complete-looking 200 whose ZIP is cut short (caught by the ZIP check; the syncer downloads
    # again on its next step), then a connection dropped mid-body (the client retries at once)
    env.fake.inject("truncated_zip")
    env.fake.inject("drop_connection")

    [first] = service.sync_once()
    assert first.state == "ready" and "truncated" in first.message
    assert env.calls("download") == 1 and env.count("watch_history") == 0  # nothing of it was loaded
    [outcome] = service.sync_until_done(timeout=60)
    assert outcome.state == "loaded", outcome.message
    assert env.calls("add") == 1
    assert env.calls("download") == 3
    assert_complete(env, open_id)
    assert env.count("archives", open_id) == 1
    assert not list(env.archive_dir.rglob("*.part"))  # no half-written temp files left behind


# --- 5. 429 storms and 5xx bursts ---------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [None, "0", "7"])
def test_rate_limit_storm_ends_in_complete_load(tmp_path: Path, request: pytest.FixtureRequest, retry_after):
    env = make_env(tmp_path, request, FakeConfig(retry_after=retry_after))
    service = env.service()
    open_id = env.authorize(service, "rate-limited", ALL_SINGLE)
    for endpoint in ("add", "check", "download"):
        env.fake.inject("rate_limit", times=3, endpoint=endpoint)

    [outcome] = service.sync_until_done(timeout=60)
    assert outcome.state == "loaded", outcome.message
    assert env.calls("add", status=429) == 3 and env.calls("add", status=200) == 1
    assert env.calls("check", status=429) == 3 and env.calls("download", status=429) == 3
    assert len(env.sleeps) >= 9
    if retry_after == "7":
        assert env.sleeps.count(7.0) == 9  # Retry-After honoured
    else:
        assert all(s < 7 for s in env.sleeps)  # backoff with jitter, Retry-After: 0 means "use backoff"
    assert_complete(env, open_id)


def test_sliding_window_rate_limit_with_two_users(env: ApiEnv):
    service = env.service()
    users = [env.authorize(service, f"window-{i}", ALL_SINGLE) for i in range(2)]
    env.fake.config.rate_limit_per_minute = 1  # per endpoint, on the fake's clock
    env.fake.config.retry_after = "30"

    outcomes = service.sync_until_done(timeout=120)
    assert [o.state for o in outcomes] == ["loaded", "loaded"], [o.message for o in outcomes]
    assert env.calls("add", status=200) == 2 and env.calls("add", status=429) >= 1
    assert 30.0 in env.sleeps
    for open_id in users:
        assert_complete(env, open_id)


def test_5xx_bursts_end_in_complete_load(env: ApiEnv):
    service = env.service()
    open_id = env.authorize(service, "server-trouble", ALL_SINGLE)
    # Add is retried only after a rate limit: an internal_error may come after TikTok created the request
    # (a retry would be refused and the id lost), so it makes the Add ambiguous (test_api_edge_cases.py)
    env.fake.inject("rate_limit", times=3, endpoint="add")
    env.fake.inject("http_503", times=3, endpoint="check")
    env.fake.inject("internal_error", times=2, endpoint="download")
    env.fake.inject("http_503", times=2, endpoint="download")
    env.fake.inject("token_expired", endpoint="add")  # a 401 although the token looks valid...
    env.fake.inject("http_503", times=2, endpoint="token")  # ...and the refresh meets 5xx too

    [outcome] = service.sync_until_done(timeout=60)
    assert outcome.state == "loaded", outcome.message
    assert env.calls("add", status=200) == 1
    assert env.calls("add", status=429) == 3
    assert env.calls("token", status=503) == 2 and env.calls("token", status=200) == 2  # code, one refresh
    assert env.calls("add", status=401) == 1
    assert_complete(env, open_id)


def test_ambiguous_add_is_never_repeated(env: ApiEnv):
    """A 503 without TikTok's envelope on Add may have been processed: never Add again on a single grant."""
    service = env.service()
    open_id = env.authorize(service, "ambiguous", ALL_SINGLE)
    env.fake.inject("http_503", times=1, endpoint="add")

    [outcome] = service.sync_once()
    assert outcome.state == "add_unknown"
    [again] = service.sync_once()
    assert again.state == "add_unknown" and "re-authorize" in again.message
    assert env.calls("add") == 1
    assert env.fake.requests_of(open_id) == []  # (the fake's 503 came before the Add: the client can't know)
    assert sql(env.db, "SELECT state, request_id FROM tiktok.export_requests") == [("add_unknown", None)]


# --- 6. a revoked user stops cleanly; the others still load ------------------------------------------


def test_revoked_user_stops_cleanly_and_others_load(env: ApiEnv):
    service = env.service()
    gone = env.authorize(service, "revoked-user", ALL_ONGOING)
    kept = env.authorize(service, "kept-user", ALL_ONGOING)
    env.fake.revoke_user(gone)  # the user disconnects the app in TikTok; no webhook configured here

    result = env.cli("sync")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert set(lines) == {gone, kept}
    assert lines[gone].startswith("stopped: ") and "authorize" in lines[gone]
    assert lines[kept].startswith("loaded: ")
    assert env.count("watch_history", kept) == env.builder.expected(kept)["watch_history"] > 0
    assert env.count("watch_history", gone) == 0
    assert env.tokens()[gone]["metadata"]["revoked"] is True

    # the next run does not even call TikTok for the revoked user
    calls = len(env.fake.calls)
    [stopped] = [o for o in service.sync_once() if o.open_id == gone]
    assert stopped.state == "stopped"
    assert [c for c in env.fake.calls[calls:] if c.open_id == gone] == []
    assert all(t["state"] != "adding" for t in env.transfers())

    # after consenting again the user is served at once: the refused Add was no request
    env.authorize(service, gone, ALL_ONGOING)
    [back] = [o for o in service.sync_until_done(timeout=60) if o.open_id == gone]
    assert back.state == "loaded", back.message
    assert_complete(env, gone)


def start_webhooks(env: ApiEnv, request: pytest.FixtureRequest, handler) -> WebhookReceiver:
    receiver = WebhookReceiver(env.fake.config.client_secret, handler)
    server = serve_webhooks("127.0.0.1", 0, receiver)
    request.addfinalizer(receiver.close)
    request.addfinalizer(server.shutdown)
    env.fake.config.webhook_url = server.url
    return receiver


def test_authorization_removed_webhook_stops_in_flight_transfer(tmp_path: Path, request: pytest.FixtureRequest):
    env = make_env(tmp_path, request, FakeConfig(ready_after_polls=3))
    service = env.service()
    receiver = start_webhooks(env, request, service.handle_webhook)
    gone = env.authorize(service, "leaving-user", ALL_ONGOING)
    kept = env.authorize(service, "staying-user", ALL_ONGOING)

    assert [o.state for o in service.sync_once()] == ["pending", "pending"]
    env.fake.revoke_user(gone, reason=1)
    assert env.fake.flush_webhooks(10) and receiver.wait_idle(10)

    meta = service.store.metadata(gone)
    assert meta["revoked"] is True and "authorization.removed" in meta["reauth_reason"]
    assert {t["open_id"]: t["state"] for t in env.transfers()} == {gone: "stopped", kept: "pending"}

    # the event for someone this service never stored (or has forgotten) must not create an entry
    env.fake.add_user("stranger")
    env.fake.grant_tokens("stranger", ALL_ONGOING)
    env.fake.revoke_user("stranger")
    assert env.fake.flush_webhooks(10) and receiver.wait_idle(10)
    assert service.users() == sorted([gone, kept])

    checks = env.calls("check", gone)
    outcomes = {o.open_id: o for o in service.sync_until_done(timeout=60)}
    assert outcomes[gone].state == "stopped"
    assert outcomes[kept].state == "loaded", outcomes[kept].message
    assert env.calls("check", gone) == checks  # the stopped transfer is never polled again
    assert env.count("watch_history", gone) == 0
    assert_complete(env, kept)


# --- 7. portability.download.ready skips the polling ------------------------------------------------


def test_download_ready_webhook_skips_polling_and_is_handled_once(tmp_path: Path, request: pytest.FixtureRequest):
    env = make_env(tmp_path, request, FakeConfig(ready_after_polls=None, ready_after_seconds=600,
                                                  webhook_duplicates=1))
    service = env.service()
    handled = []
    receiver = start_webhooks(env, request, lambda event: (handled.append(event), service.handle_webhook(event)))
    open_id = env.authorize(service, "webhook-user", ALL_SINGLE)

    [first] = service.sync_once()
    assert first.state == "pending" and env.calls("check") == 1
    env.fake.advance(600)  # collection finishes: the fake sends the event twice
    assert env.fake.flush_webhooks(10) and receiver.wait_idle(10)
    ready = [d for d in env.fake.webhook_deliveries if d.event == "portability.download.ready"]
    assert len(ready) == 2 and all(d.status_code == 200 for d in ready)
    assert len(handled) == 1 and handled[0].request_id == first.transfer.request_id
    [transfer] = env.transfers()
    assert transfer["state"] == "ready"

    [done] = service.sync_once()
    assert done.state == "loaded", done.message
    assert env.calls("check") == 1  # downloaded on the webhook's word, no second poll
    assert_complete(env, open_id)
    service.handle_webhook(handled[0])  # a late redelivery changes nothing
    assert env.transfers()[0]["state"] == "loaded"
    assert env.calls("download") == 1


# --- 8. expired access token mid-flow ----------------------------------------------------------------


def test_expired_access_token_is_refreshed_and_rotation_persisted(tmp_path: Path, request: pytest.FixtureRequest):
    """(A 401 for a token that is still valid, ``token_expired``, is covered by the 5xx and the secrets tests.)"""
    env = make_env(tmp_path, request, FakeConfig(ready_after_polls=2))
    service = env.service()
    open_id = env.authorize(service, "expiring", ALL_SINGLE)
    before = env.tokens()[open_id]["token"]

    [pending] = service.sync_once()
    assert pending.state == "pending"
    env.fake.expire_access_tokens()  # the store still believes the token has hours left
    [outcome] = service.sync_until_done(timeout=60)
    assert outcome.state == "loaded", outcome.message
    assert env.calls("check", status=401) == 1
    assert env.calls("token") == 2  # the code exchange, then one refresh

    after = env.tokens()[open_id]["token"]
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]  # rotated and persisted
    assert_complete(env, open_id)

    # a fresh process with only the store on disk still works: the stored refresh token is the live one
    env.fake.expire_access_tokens()
    fresh = env.service()
    status = fresh.client_for(open_id).check(pending.transfer.request_id)
    assert status.ready
    assert env.calls("token", status=200) == 3
    assert env.tokens()[open_id]["token"]["refresh_token"] != after["refresh_token"]


# --- 9. no token or secret value appears anywhere but the token store ------------------------------


def test_no_token_value_appears_anywhere(tmp_path: Path, request: pytest.FixtureRequest,
                                         caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
    for name in (None, "tiktok_portability_source", "dlt", "httpx", "httpcore", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    env = make_env(tmp_path, request, FakeConfig(ready_after_polls=2))
    service = env.service()
    in_process = env.authorize(service, "secret-keeper", ALL_ONGOING)
    via_cli = env.authorize(service, "secret-keeper-cli", ALL_SINGLE)
    stored: set[str] = set()

    def remember_stored() -> None:
        for user in env.tokens().values():
            stored.update((user["token"]["access_token"], user["token"]["refresh_token"]))

    # in-process: add, poll, a rejected token and its refresh (rotation), download, load
    remember_stored()
    assert [o.state for o in service.sync_once(users=[in_process])] == ["pending"]
    env.fake.expire_access_tokens(in_process)
    assert [o.state for o in service.sync_until_done(timeout=60, users=[in_process])] == ["loaded"]
    remember_stored()
    # the CLI: a refresh after an injected 401, the whole transfer, then status
    env.fake.config.ready_after_polls = 1
    env.fake.inject("token_expired")
    cli_sync = env.cli("sync", "--user", via_cli)
    assert cli_sync.returncode == 0, cli_sync.stdout + cli_sync.stderr
    assert "refreshed tokens" in cli_sync.stderr  # the CLI did log about tokens, just not their values
    remember_stored()
    cli_status = env.cli("status")
    assert cli_status.returncode == 0, cli_status.stderr
    assert env.count("watch_history", via_cli) > 0 and env.count("watch_history", in_process) > 0

    # what must never leak: every token the fake ever issued (rotated-away ones too), codes, the secret
    issued = set(env.fake._tokens)
    assert stored <= issued and len(issued) >= 8  # 2 grants + 2 refreshes, access and refresh each
    secrets = issued | set(env.fake._codes) | {env.fake.config.client_secret}

    captured = capsys.readouterr()
    logs = caplog.text + "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "refreshed tokens" in logs  # the in-process refresh was logged, without the values
    places = {
        "log records": logs,
        "stdout/stderr of the test process": captured.out + captured.err,
        "cli sync output": cli_sync.stdout + cli_sync.stderr,
        "cli status output": cli_status.stdout + cli_status.stderr,
        "duckdb tables and decoded dlt state": database_dump(env.db),
    }
    # every file, the token store's own too: it holds the tokens encrypted only
    places.update({str(p.relative_to(tmp_path)): text for p, text in decoded_files(tmp_path, set()).items()})
    assert any("pipelines" in name for name in places) and any(name.endswith("store.sqlite3") for name in places)
    found = [(where, secret[:8] + "…") for where, text in places.items() for secret in secrets if secret in text]
    assert found == []
    # the store does hold them, readable with its key (so the search above was looking for the right strings)
    assert {env.tokens()[via_cli]["token"]["access_token"], env.tokens()[in_process]["token"]["refresh_token"]} <= issued
