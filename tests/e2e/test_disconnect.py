"""Disconnecting over loopback, no browser: the consent app's CSRF and ``state`` checks, a revocation owed
while TikTok is down and settled by the next ``sync``, and ``forget --local-only`` / archive-mode ``forget``.

The consent app runs on uvicorn and the fake TikTok on its own port; an ``httpx.Client`` with a cookie jar
plays the browser (and a second client the attacker's page, without the cookie)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.api_env import ALL_ONGOING, ApiEnv, free_port, start_env, stop_env

from tiktok_portability_source import ArchiveInput
from tiktok_portability_source.api import ApiService
from tiktok_portability_source.api.consent import ConsentSettings, consent_app
from tiktok_portability_source.api.webapp import RunningServer, serve
from tiktok_portability_source.loader import load_archives


@pytest.fixture
def env(tmp_path: Path) -> Iterator[ApiEnv]:
    api = start_env(tmp_path)
    yield api
    stop_env(api)


def start_app(env: ApiEnv, *, keep_data: bool = False) -> tuple[ApiService, RunningServer]:
    port = free_port()
    service = env.service(redirect_uri=f"http://127.0.0.1:{port}/callback/")
    app = consent_app(service, settings=ConsentSettings(keep_data_on_disconnect=keep_data))
    return service, serve(app, "127.0.0.1", port)


def to_tiktok_and_back(client: httpx.Client, open_id: str, *, decision: str = "allow") -> str:
    """/connect, the user's decision at the fake TikTok, and the URL TikTok sends the browser back to."""
    start = client.get("/connect")
    assert start.status_code == 302, start.text
    consent = httpx.get(start.headers["location"] + f"&fake_open_id={open_id}&fake_decision={decision}")
    assert consent.status_code == 302
    return consent.headers["location"]


def connect(client: httpx.Client, open_id: str) -> str:
    """The whole consent in the client's "browser"; returns the Disconnect form's CSRF token."""
    back = client.get(to_tiktok_and_back(client, open_id))
    assert back.status_code == 303 and back.headers["location"] == "/connected", back.text
    page = client.get("/connected")
    assert page.status_code == 200 and open_id in page.text
    return re.search(r"name='csrf' value='([^']+)'", page.text).group(1)


def owed(env: ApiEnv) -> dict:
    path = env.token_store.parent / "revocations_owed.json"
    return json.loads(path.read_text()).get("owed", {}) if path.exists() else {}


def test_disconnect_without_the_form_token_is_refused(env: ApiEnv):
    env.fake.add_user("csrf-user")
    _service, server = start_app(env)
    try:
        with httpx.Client(base_url=server.url) as browser, httpx.Client(base_url=server.url) as attacker:
            csrf = connect(browser, "csrf-user")
            refusals = [
                browser.post("/disconnect", data={}),  # the cookie rides along, the token does not
                browser.post("/disconnect", data={"csrf": csrf[:-2] + "xx"}),  # a wrong token
                attacker.post("/disconnect", data={"csrf": csrf}),  # a leaked token, without the session
            ]
            for response in refusals:
                assert response.status_code == 403 and "csrf-error" in response.text, response.text
            assert env.fake.calls_to("revoke") == [] and env.fake.calls_to("cancel") == []
            assert "csrf-user" in env.tokens()  # nothing changed

            done = browser.post("/disconnect", data={"csrf": csrf})
            assert done.status_code == 200 and "id='disconnected'" in done.text
            assert len(env.fake.calls_to("revoke", status=200)) == 1
            assert "csrf-user" not in env.tokens()
            assert browser.post("/disconnect", data={"csrf": csrf}).status_code == 403  # the session is over
    finally:
        server.shutdown()


def test_a_callback_whose_state_does_not_match_is_refused(env: ApiEnv):
    env.fake.add_user("state-user")
    _service, server = start_app(env)
    try:
        with httpx.Client(base_url=server.url) as browser, httpx.Client(base_url=server.url) as other:
            back = httpx.URL(to_tiktok_and_back(browser, "state-user"))
            forged = back.copy_merge_params({"state": "not-the-state-of-this-browser"})
            refused = browser.get(str(forged))
            assert refused.status_code == 400 and "state mismatch" in refused.text
            # the genuine answer, but in another browser (no pending sign-in there): refused too
            elsewhere = other.get(str(back))
            assert elsewhere.status_code == 400 and "state-error" in elsewhere.text
            # a cookie tampered with is no session at all
            browser.cookies.set("tiktok_portability_session", "e30.AAAA", domain="127.0.0.1")
            assert browser.get(str(back)).status_code == 400
            assert env.fake.calls_to("token") == []  # no code was exchanged
            assert not env.token_store.exists() or env.tokens() == {}
            # a denied consent says so plainly
            denied = browser.get(to_tiktok_and_back(browser, "state-user", decision="deny"))
            assert denied.status_code == 403 and "You declined the authorization on TikTok" in denied.text
    finally:
        server.shutdown()


def test_keep_data_on_disconnect_revokes_but_keeps_the_rows(env: ApiEnv):
    env.fake.add_user("keeper")
    _service, server = start_app(env, keep_data=True)
    try:
        with httpx.Client(base_url=server.url) as browser:
            csrf = connect(browser, "keeper")
            assert [o.state for o in env.service().sync_until_done(timeout=60)] == ["loaded"]
            rows = env.count("watch_history", "keeper")
            done = browser.post("/disconnect", data={"csrf": csrf})
            assert done.status_code == 200 and "data copied so far is kept" in done.text
    finally:
        server.shutdown()
    assert len(env.fake.calls_to("revoke", status=200)) == 1
    assert env.count("watch_history", "keeper") == rows > 0
    assert "keeper" not in env.tokens()


def test_a_revocation_owed_while_tiktok_is_down_is_retried_by_the_next_sync(env: ApiEnv):
    service = env.service(min_interval_seconds=0)
    gone = env.authorize(service, "owed-user", ALL_ONGOING)
    kept = env.authorize(service, "kept-user", ALL_ONGOING)
    assert {o.state for o in service.sync_until_done(timeout=60)} == {"loaded"}
    env.fake.config.ready_after_polls = 1000  # the next exports stay pending at TikTok
    assert {o.state for o in service.sync_once()} == {"pending"}
    [pending] = [r.request_id for r in env.fake.requests_of(gone) if r.status == "pending"]

    token = env.tokens()[gone]["token"]
    port = env.server.port
    env.server.shutdown()  # TikTok is unreachable
    result = env.cli("forget", "--user-id", gone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TikTok: could not be reached" in result.stderr and "next `tiktok-portability sync`" in result.stderr
    assert result.stdout.startswith(f"forgot {gone}:")
    # deleted here anyway; the revocation (and the cancel) are owed
    assert all(n == 0 for n in env.counts(gone).values()) and gone not in env.tokens()
    assert set(owed(env)) == {gone} and owed(env)[gone]["request_ids"] == [pending]
    assert owed(env)[gone]["attempts"] == 1
    owed_file = (env.token_store.parent / "revocations_owed.json").read_bytes()  # the token waits there encrypted
    assert token["refresh_token"].encode() not in owed_file and token["access_token"].encode() not in owed_file
    assert env.fake.calls_to("revoke") == []

    env.server = env.fake.serve(port=port)  # TikTok is back
    result = env.cli("sync", "--user", kept)
    assert result.returncode == 0, result.stdout + result.stderr
    assert owed(env) == {}
    assert [c.open_id for c in env.fake.calls_to("revoke", status=200)] == [gone]
    assert [r.status for r in env.fake.requests_of(gone)] == ["downloading", "cancelled"]
    assert env.fake.requests_of(kept)[-1].status == "pending"  # the other user is untouched
    assert env.count("watch_history", kept) > 0

    # settled once: a further sync does not revoke again
    assert service.settle_revocations() == {}
    assert len(env.fake.calls_to("revoke")) == 1


def test_forget_local_only_and_archive_users_never_call_tiktok(env: ApiEnv):
    service = env.service()
    api_user = env.authorize(service, "local-only-user", ALL_ONGOING)
    assert [o.state for o in service.sync_until_done(timeout=60)] == ["loaded"]
    export = env.builder.exports[api_user][0].path
    load_archives(env.pipeline(), [ArchiveInput(Path(export), user_id="archive-user")])
    assert env.count("watch_history", "archive-user") > 0
    calls_before = len(env.fake.calls)

    result = env.cli("forget", "--user-id", api_user, "--local-only")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TikTok: not contacted (local only)" in result.stderr
    assert "tokens: deleted" in result.stdout
    assert all(n == 0 for n in env.counts(api_user).values()) and api_user not in env.tokens()

    # an archive-mode user has no token: plain forget deletes without TikTok, credentials or not
    result = env.cli("forget", "--user-id", "archive-user", credentials=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TikTok: not contacted: no token stored" in result.stderr
    assert all(n == 0 for n in env.counts("archive-user").values())

    assert len(env.fake.calls) == calls_before  # neither forget reached TikTok
    assert owed(env) == {}


def test_forget_of_a_connected_user_needs_the_app_keys_and_deletes_nothing_without_them(env: ApiEnv):
    service = env.service()
    user = env.authorize(service, "keys-user", ALL_ONGOING)
    result = env.cli("forget", "--user-id", user, credentials=False)
    assert result.returncode == 2
    assert "forget --local-only" in result.stderr and "Traceback" not in result.stderr
    assert user in env.tokens() and env.fake.calls_to("revoke") == []
