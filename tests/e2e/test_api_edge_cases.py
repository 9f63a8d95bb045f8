"""API-mode edge cases, end to end over loopback against the fake TikTok API: an Add that failed after
TikTok created the request, users TikTok refuses, exports nearing their 4-day expiry, and grants that
mix single and ongoing scopes (docs/tiktok-api.md §3, §6, §7)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.api_env import ALL_ONGOING, ALL_SINGLE, ApiEnv, start_env, stop_env

from tiktok_portability_source.api.transfers import TransferStore
from tiktok_portability_source.api.webhooks import WebhookReceiver, serve_webhooks
from tiktok_portability_source.fake.api import FakeConfig
from tiktok_portability_source.fake.archives import HistoryArchiveBuilder

DAY = 86400


def make_env(tmp_path: Path, request: pytest.FixtureRequest, config: FakeConfig | None = None) -> ApiEnv:
    env = start_env(tmp_path, config)
    request.addfinalizer(lambda: stop_env(env))
    # exports of fewer categories than all_data (the recording builder only makes full ones)
    full = env.builder
    env.fake.archive_builder = lambda open_id, categories, fmt: (
        full(open_id, categories, fmt) if "all_data" in categories
        else HistoryArchiveBuilder.__call__(full, open_id, categories, fmt))
    return env


def start_webhooks(env: ApiEnv, request: pytest.FixtureRequest, handler) -> WebhookReceiver:
    receiver = WebhookReceiver(env.fake.config.client_secret, handler)
    server = serve_webhooks("127.0.0.1", 0, receiver)
    request.addfinalizer(receiver.close)
    request.addfinalizer(server.shutdown)
    env.fake.config.webhook_url = server.url
    return receiver


def status_line(env: ApiEnv, open_id: str) -> str:
    result = env.cli("status")
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if line.startswith(f"  {open_id}: "))


# --- 1. internal_error after TikTok created the request -------------------------------------------


def test_add_failing_after_creation_is_adopted_from_the_ready_webhook(tmp_path: Path, request: pytest.FixtureRequest):
    env = make_env(tmp_path, request)
    service = env.service()
    receiver = start_webhooks(env, request, service.handle_webhook)
    owner = env.authorize(service, "lost-reply", ALL_SINGLE)
    other = env.authorize(service, "never-created", ALL_SINGLE)

    # TikTok creates the request (spending the .single) and then answers 500 internal_error: a retry
    # would be refused and the request id lost, so the Add is ambiguous, not retried
    env.fake.inject("internal_error", endpoint="add", after_create=True)
    [lost] = service.sync_once(users=[owner])
    assert lost.state == "add_unknown", lost.message
    env.fake.inject("http_503", endpoint="add")  # another user's Add that never reached TikTok
    [unknown] = service.sync_once(users=[other])
    assert unknown.state == "add_unknown"
    [created] = env.fake.requests_of(owner)
    assert env.fake.requests_of(other) == [] and env.calls("add", owner) == 1

    # the export is ready: the webhook names an id no transfer has; Check with each add_unknown user's
    # token finds the owner (the other user's Check is refused)
    env.fake.make_ready(created.request_id)
    assert env.fake.flush_webhooks(10) and receiver.wait_idle(10)
    states = {t["open_id"]: (t["state"], t["request_id"]) for t in env.transfers()}
    assert states == {owner: ("ready", created.request_id), other: ("add_unknown", None)}
    assert env.calls("check", other, status=400) == 1

    [done] = service.sync_once(users=[owner])
    assert done.state == "loaded", done.message
    assert env.count("watch_history", owner) > 0
    assert env.calls("add", owner) == 1 and env.calls("download", owner) == 1
    [again] = service.sync_once(users=[owner])
    assert again.state == "done" and env.calls("add", owner) == 1


# --- 2. a user TikTok refuses is not asked again on every sync --------------------------------------


def test_rejected_user_backs_off_and_status_says_why(tmp_path: Path, request: pytest.FixtureRequest):
    env = make_env(tmp_path, request)
    service = env.service()
    env.fake.add_user("outside-eea", eea=False)
    open_id = env.authorize(service, "outside-eea", ALL_ONGOING)

    outcomes = [service.sync_once()[0] for _ in range(3)]
    assert [o.state for o in outcomes] == ["rejected"] * 3
    assert env.calls("add") == 1 and len(env.transfers()) == 1
    assert "next try after" in outcomes[0].message and "scope_not_authorized" in outcomes[2].message

    line = status_line(env, open_id)
    assert "rejected: scope_not_authorized" in line and "EEA" in line
    [transfer] = env.transfers()
    assert f"next try after {transfer['next_add_at']}" in line
    assert abs(wait_of(transfer) - timedelta(hours=24)) < timedelta(minutes=1)

    env.fake.advance(DAY + 60)  # the day is over: one more try, refused again: now two days
    assert service.sync_once()[0].state == "rejected" and env.calls("add") == 2
    env.fake.advance(DAY)
    assert service.sync_once()[0].state == "rejected" and env.calls("add") == 2
    assert abs(wait_of(env.transfers()[-1]) - timedelta(hours=48)) < timedelta(minutes=1)


def wait_of(transfer: dict) -> timedelta:
    return datetime.fromisoformat(transfer["next_add_at"]) - datetime.fromisoformat(transfer["created_at"])


# --- 3. an export close to TikTok's 4-day expiry, not loaded yet ------------------------------------


def test_ready_export_near_expiry_is_warned_about(tmp_path: Path, request: pytest.FixtureRequest,
                                                  caplog: pytest.LogCaptureFixture):
    env = make_env(tmp_path, request)
    service = env.service()
    open_id = env.authorize(service, "slow-loader", ALL_SINGLE)

    with caplog.at_level(logging.WARNING):
        [ready] = service.step_users(stop_before="download")  # a sensor tick: checked, not downloaded
        assert ready.state == "ready"
        [transfer] = env.transfers()
        assert transfer["ready_at"]
        assert "WARNING" not in status_line_block(env)
        assert "expires at TikTok" not in caplog.text

        env.fake.advance(3 * DAY + 2 * 3600)  # 22 h of the 4 days left
        [still] = service.step_users(stop_before="download")
        assert still.state == "ready"
    assert f"user {open_id}: request {transfer['request_id']} expires at TikTok in about 22 h" in caplog.text

    # the CLI runs on the wall clock: move ready_at back by the time the fake's clock was advanced
    store = TransferStore(env.transfer_store)
    for record in store.all():
        record.ready_at = (datetime.now(timezone.utc) - timedelta(days=3, hours=2)).isoformat()
        store.save(record)
    assert "WARNING: request" in status_line_block(env) and "expires at TikTok in about 22 h" in status_line_block(env)

    [loaded] = service.sync_once()
    assert loaded.state == "loaded", loaded.message  # in time: nothing to warn about any more
    assert "WARNING" not in status_line_block(env)


def status_line_block(env: ApiEnv) -> str:
    result = env.cli("status")
    assert result.returncode == 0, result.stderr
    return result.stdout.split("transfers:", 1)[1].split("last loads:", 1)[0]


# --- 5. mixed scopes: a leftover single, and the ongoing part of a mixed grant -----------------------


def test_leftover_single_scope_is_used_once_the_first_request_is_done(tmp_path: Path,
                                                                        request: pytest.FixtureRequest):
    env = make_env(tmp_path, request)
    service = env.service()
    open_id = env.authorize(service, "two-singles",
                            ("user.info.basic", "portability.all.single", "portability.activity.single"))

    [first] = service.sync_until_done(timeout=60)
    assert first.state == "loaded", first.message
    [second] = service.sync_until_done(timeout=60)  # TikTok spent all.single; activity.single is left
    assert second.state == "loaded", second.message
    [third] = service.sync_once()
    assert third.state == "done" and "one-time grant already used" in third.message
    requests = env.fake.requests_of(open_id)
    assert [(r.category_selection_list, r.consumed_scopes) for r in requests] == [
        (("all_data",), ("portability.all.single",)), (("activity",), ("portability.activity.single",))]
    assert [(t["categories"], t["grant"], t["spends"]) for t in env.transfers()] == [
        (["all_data"], "single", ["portability.all.single"]),
        (["activity"], "single", ["portability.activity.single"])]
    assert env.calls("add", status=200) == 2 and env.calls("add") == 2  # never a refused Add


def test_mixed_single_and_ongoing_grant_keeps_its_ongoing_part(tmp_path: Path, request: pytest.FixtureRequest):
    env = make_env(tmp_path, request)
    service = env.service()
    open_id = env.authorize(service, "mixed", ("user.info.basic", "portability.all.single",
                                               "portability.activity.ongoing"))

    [first] = service.sync_until_done(timeout=60)
    assert first.state == "loaded" and first.transfer.categories == ["all_data"]
    [same_day] = service.sync_once()
    assert same_day.state == "scheduled", same_day.message  # the ongoing part waits for its interval
    for day in (1, 2):
        env.fake.advance(DAY)
        [outcome] = service.sync_until_done(timeout=60)
        assert outcome.state == "loaded", outcome.message
        assert outcome.transfer.categories == ["activity"] and outcome.transfer.grant == "ongoing"
        assert env.calls("add") == 1 + day
    assert [r.consumed_scopes for r in env.fake.requests_of(open_id)] == [("portability.all.single",), (), ()]
