"""OAuth: authorize URL, PKCE, callback, token endpoint, token store, rotation and redaction."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import sqlite3
import stat
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from tiktok_portability_source import settings
from tiktok_portability_source.api.auth import (
    PKCE_ALPHABET,
    OAuthClient,
    RedirectCatcher,
    StaticTokenProvider,
    TokenManager,
    TokenSet,
    TokenStore,
    authorize_url,
    code_challenge,
    new_code_verifier,
    parse_callback,
    redirect_target,
)
from tiktok_portability_source.api.client import PortabilityClient
from tiktok_portability_source.errors import (
    AccessDenied,
    InvalidGrant,
    OAuthConfigError,
    OAuthError,
    OAuthRetryable,
    RedactingFilter,
    ReauthorizationRequired,
    TokenStoreError,
    TransportError,
    redact,
)

BASE = settings.API_BASE_URL
TOKEN_URL = BASE + settings.TOKEN_PATH
REVOKE_URL = BASE + settings.REVOKE_PATH
ADD_URL = BASE + settings.ADD_PATH
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
SECRET = "client-secret-value-XYZ123"
CODE = "auth-code*0!4459.va"


class Clock:
    """A settable UTC clock."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def token_body(n: int, open_id: str = "open-1", expires_in: int = 7200) -> dict:
    return {
        "access_token": f"act.access-{n:04d}",
        "expires_in": expires_in,
        "open_id": open_id,
        "refresh_expires_in": 15552000,
        "refresh_token": f"rft.refresh-{n:04d}",
        "scope": "user.info.basic,portability.activity.single",
        "token_type": "Bearer",
    }


def make_tokens(n: int, now: datetime = T0, open_id: str = "open-1", expires_in: int = 7200) -> TokenSet:
    return TokenSet.from_response(token_body(n, open_id, expires_in), now)


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode(), keep_blank_values=True).items()}


def oauth(clock: Clock | None = None, sleeps: list | None = None, **kw) -> OAuthClient:
    return OAuthClient("awclientkey", SECRET, "http://127.0.0.1:8765/callback/", clock=clock or Clock(),
                       sleep=(sleeps.append if sleeps is not None else (lambda s: None)), **kw)


class RotatingServer:
    """A token endpoint that rotates: only the latest refresh token is accepted."""

    def __init__(self, first: int = 1, delay: float = 0.0) -> None:
        self.n = first
        self.valid = f"rft.refresh-{first:04d}"
        self.delay = delay
        self.lock = threading.Lock()
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        f = form(request)
        with self.lock:
            self.calls += 1
            if f.get("refresh_token") != self.valid:
                return httpx.Response(400, json={"error": "invalid_grant",
                                                 "error_description": "Refresh token is invalid or expired.",
                                                 "log_id": "LOG-RG"})
            if self.delay:
                time.sleep(self.delay)
            self.n += 1
            self.valid = f"rft.refresh-{self.n:04d}"
            return httpx.Response(200, json=token_body(self.n))


# --- authorize URL, PKCE, callback ------------------------------------------------------------


def test_authorize_url_params():
    url = authorize_url("awclientkey", "http://127.0.0.1:8765/callback/",
                        ["user.info.basic", "portability.activity.single"], "st4te",
                        code_challenge="ab" * 32, disable_auto_auth=1)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == settings.AUTHORIZE_URL
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert q == {
        "client_key": "awclientkey",
        "response_type": "code",
        "scope": "user.info.basic,portability.activity.single",
        "redirect_uri": "http://127.0.0.1:8765/callback/",
        "state": "st4te",
        "disable_auto_auth": "1",
        "code_challenge": "ab" * 32,
        "code_challenge_method": "S256",
    }
    assert "scope=user.info.basic,portability.activity.single" in url  # commas kept readable


def test_authorize_url_without_pkce_and_scope_string():
    url = authorize_url("k", "https://example.org/cb", "user.info.basic, portability.all.single", "s",
                        authorize_base="http://127.0.0.1:9/v2/auth/authorize/")
    q = parse_qs(urlsplit(url).query)
    assert url.startswith("http://127.0.0.1:9/v2/auth/authorize/?")
    assert q["scope"] == ["user.info.basic,portability.all.single"]
    assert "code_challenge" not in q and "code_challenge_method" not in q and "disable_auto_auth" not in q
    with pytest.raises(ValueError):
        authorize_url("k", "https://example.org/cb", [], "s")


def test_pkce_verifier_and_hex_challenge():
    verifier = new_code_verifier()
    assert 43 <= len(verifier) <= 128 and set(verifier) <= set(PKCE_ALPHABET)
    assert len(new_code_verifier(43)) == 43 and len(new_code_verifier(128)) == 128
    fixed = "A" * 43
    challenge = code_challenge(fixed)
    assert challenge == hashlib.sha256(fixed.encode()).hexdigest()
    assert len(challenge) == 64
    assert challenge != base64.urlsafe_b64encode(hashlib.sha256(fixed.encode()).digest()).rstrip(b"=").decode()
    assert all(c in "0123456789abcdef" for c in challenge)  # hex, not base64url
    with pytest.raises(ValueError):
        code_challenge("short")
    with pytest.raises(ValueError):
        code_challenge("A" * 42 + "+")


def test_parse_callback_decodes_code_and_scopes():
    cb = parse_callback(
        "http://127.0.0.1:8765/callback/?code=auth-code%2A0%214459.va&scopes=user.info.basic%2Cportability.activity.single&state=xyz",
        "xyz",
    )
    assert cb.code == CODE
    assert cb.scopes == ("user.info.basic", "portability.activity.single")
    assert CODE not in repr(cb)
    # a bare query string works too
    assert parse_callback("?code=c1&scopes=user.info.basic&state=s", "s").code == "c1"


def test_parse_callback_state_mismatch():
    with pytest.raises(OAuthError) as info:
        parse_callback("/callback/?code=abc123456&scopes=user.info.basic&state=evil", "expected")
    assert info.value.error == "state_mismatch"
    assert "abc123456" not in str(info.value)
    with pytest.raises(OAuthError) as info:
        parse_callback("/callback/?code=abc&scopes=user.info.basic", "expected")
    assert info.value.error == "state_mismatch"


def test_parse_callback_errors():
    with pytest.raises(AccessDenied) as info:
        parse_callback("/callback/?error=access_denied&error_description=User+declined&state=s", "s")
    assert info.value.description == "User declined"
    with pytest.raises(OAuthConfigError) as info2:
        parse_callback("/callback/?error=invalid_scope&error_description=bad&state=s", "s")
    assert info2.value.error == "invalid_scope"
    with pytest.raises(OAuthError) as info3:
        parse_callback("/callback/?error=not_eligible&state=s", "s")
    assert type(info3.value) is OAuthError and info3.value.error == "not_eligible"
    with pytest.raises(OAuthError) as info4:
        parse_callback("/callback/?state=s", "s")
    assert info4.value.error == "missing_code"


# --- token endpoint ---------------------------------------------------------------------------


@respx.mock
def test_exchange_code_sends_form_and_parses_flat_body():
    route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=token_body(1)))
    tokens = oauth().exchange_code(CODE, code_verifier="v" * 43)
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["cache-control"] == "no-cache"
    assert form(request) == {
        "client_key": "awclientkey",
        "client_secret": SECRET,
        "code": CODE,
        "grant_type": "authorization_code",
        "redirect_uri": "http://127.0.0.1:8765/callback/",
        "code_verifier": "v" * 43,
    }
    assert tokens.open_id == "open-1"
    assert tokens.access_token == "act.access-0001" and tokens.refresh_token == "rft.refresh-0001"
    assert tokens.expires_at == T0 + timedelta(seconds=7200)
    assert tokens.refresh_expires_at == T0 + timedelta(seconds=15552000)
    assert tokens.scopes == ("user.info.basic", "portability.activity.single")
    assert tokens.token_type == "Bearer"


@respx.mock
def test_refresh_sends_refresh_grant():
    route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=token_body(2, expires_in=86400)))
    clock = Clock(T0 + timedelta(hours=1))
    new = oauth(clock).refresh(make_tokens(1))
    assert form(route.calls.last.request) == {
        "client_key": "awclientkey",
        "client_secret": SECRET,
        "grant_type": "refresh_token",
        "refresh_token": "rft.refresh-0001",
    }
    assert new.refresh_token == "rft.refresh-0002"
    assert new.expires_at == clock.now + timedelta(seconds=86400)


@respx.mock
def test_refresh_keeps_previous_scopes_when_reply_omits_them():
    body = token_body(2)
    del body["scope"]
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=body))
    assert oauth().refresh(make_tokens(1)).scopes == ("user.info.basic", "portability.activity.single")


@respx.mock
@pytest.mark.parametrize("status", [200, 400])
def test_invalid_grant_is_not_retried_whatever_the_status(status):
    route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(
        status, json={"error": "invalid_grant", "error_description": "Refresh token is invalid or expired.",
                      "log_id": "LOG-1"}))
    sleeps: list = []
    with pytest.raises(InvalidGrant) as info:
        oauth(sleeps=sleeps).refresh(make_tokens(1))
    assert route.call_count == 1 and sleeps == []
    assert info.value.log_id == "LOG-1" and info.value.http_status == status
    assert str(info.value) == f"invalid_grant (HTTP {status}): Refresh token is invalid or expired. [log_id=LOG-1]"
    assert "rft.refresh-0001" not in str(info.value)


@respx.mock
def test_server_errors_are_retried_then_succeed():
    route = respx.post(TOKEN_URL).mock(side_effect=[
        httpx.Response(503, json={"error": "temporarily_unavailable", "error_description": "busy", "log_id": "L1"}),
        httpx.Response(500, text="<html>oops</html>"),
        httpx.ConnectError("refused"),
        httpx.Response(200, json=token_body(7)),
    ])
    sleeps: list = []
    tokens = oauth(sleeps=sleeps, max_attempts=4).exchange_code("code-1")
    assert tokens.access_token == "act.access-0007"
    assert route.call_count == 4 and len(sleeps) == 3 and all(0 <= s <= 8 for s in sleeps)


@respx.mock
def test_retries_are_bounded():
    route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(
        200, json={"error": "server_error", "error_description": "x", "log_id": "L"}))
    with pytest.raises(OAuthRetryable):
        oauth(max_attempts=3).exchange_code("code-1")
    assert route.call_count == 3
    respx.post(REVOKE_URL).mock(side_effect=httpx.ConnectError("down"))
    with pytest.raises(TransportError):
        oauth(max_attempts=2).revoke("act.access-0001")


@respx.mock
def test_config_errors_raise_at_once():
    route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(
        401, json={"error": "invalid_client", "error_description": "Client key or secret is wrong.", "log_id": "L9"}))
    with pytest.raises(OAuthConfigError) as info:
        oauth().exchange_code("code-1")
    assert route.call_count == 1 and info.value.error == "invalid_client"
    assert SECRET not in str(info.value)


@respx.mock
def test_revoke_empty_body_and_error():
    route = respx.post(REVOKE_URL).mock(return_value=httpx.Response(200, content=b""))
    oauth().revoke("act.access-0001")
    assert form(route.calls.last.request) == {"client_key": "awclientkey", "client_secret": SECRET,
                                              "token": "act.access-0001"}
    assert route.calls.last.request.headers["cache-control"] == "no-cache"
    respx.post(REVOKE_URL).mock(return_value=httpx.Response(
        400, json={"error": "invalid_request", "error_description": "token missing", "log_id": "L2"}))
    with pytest.raises(OAuthConfigError):
        oauth().revoke("act.access-0001")


# --- token set --------------------------------------------------------------------------------


def test_token_set_json_roundtrip_and_refresh_margin():
    ts = make_tokens(1)
    again = TokenSet.from_json(json.dumps(ts.to_json()))
    assert again == ts and again.expires_at.tzinfo is not None
    assert not ts.needs_refresh(T0 + timedelta(seconds=7200 - 301))
    assert ts.needs_refresh(T0 + timedelta(seconds=7200 - 300))
    assert ts.needs_refresh(T0 + timedelta(seconds=7000), margin=300)
    assert not ts.needs_refresh(T0 + timedelta(seconds=7000), margin=100)


def test_reprs_never_show_secrets():
    ts = make_tokens(1)
    text = repr(ts) + str(ts) + repr(oauth()) + repr(StaticTokenProvider("act.static-1", "rft.static-1"))
    for secret in ("act.access-0001", "rft.refresh-0001", SECRET, "act.static-1", "rft.static-1"):
        assert secret not in text
    assert "act.…(redacted)" in repr(ts) and "rft.…(redacted)" in repr(ts)
    assert "open-1" in repr(ts)


def test_redact_and_filter(caplog):
    assert redact("Bearer act.abc-123 and rft.def!456.va or clt.x", ()) == (
        "Bearer act.…(redacted) and rft.…(redacted) or clt.…(redacted)")
    assert redact("secret=hunter2hunter2", ["hunter2hunter2"]) == "secret=…(redacted)"
    assert redact("exact.value contract.pdf", ()) == "exact.value contract.pdf"
    logger = logging.getLogger("test.redaction")
    flt = RedactingFilter(["my-registered-secret"])
    caplog.handler.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            logger.info("token %s secret %s client %s", "act.leak-1", "my-registered-secret", SECRET)
            try:
                raise RuntimeError("failed with rft.leak-2")
            except RuntimeError:
                logger.exception("boom")
    finally:
        caplog.handler.removeFilter(flt)
    assert "act.leak-1" not in caplog.text and "my-registered-secret" not in caplog.text
    assert "rft.leak-2" not in caplog.text
    oauth()  # registers SECRET globally
    assert SECRET not in caplog.text


# --- token store ------------------------------------------------------------------------------


def test_store_roundtrip_mode_and_directory(tmp_path):
    store = TokenStore(tmp_path / "secrets" / "tokens.json")
    assert store.get("open-1") is None and store.open_ids() == []
    store.put(make_tokens(1))
    store.put(make_tokens(5, open_id="open-2"))
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.path.parent).st_mode) == 0o700
    assert store.get("open-1") == make_tokens(1)
    assert store.open_ids() == ["open-1", "open-2"]
    store.set_metadata("open-1", granted_scopes=["portability.activity.single"], revoked=False)
    assert store.metadata("open-1") == {"granted_scopes": ["portability.activity.single"], "revoked": False}
    assert store.get("open-1") == make_tokens(1)  # metadata does not disturb tokens
    assert store.delete("open-2") is True and store.delete("open-2") is False
    assert store.open_ids() == ["open-1"]
    # the rows live in a SQLite file beside the configured tokens.json path, with its WAL and its key:
    # every one of them owner-only, and no token in plaintext in any
    names = sorted(p.name for p in store.path.parent.iterdir())
    assert set(names) <= {"store.sqlite3", "store.sqlite3-wal", "store.sqlite3-shm", "store.sqlite3.key"}, names
    assert "store.sqlite3" in names and "store.sqlite3.key" in names
    for p in store.path.parent.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        assert b"act.access-0001" not in p.read_bytes() and b"rft.refresh-0001" not in p.read_bytes()


def test_store_mode_ignores_umask(tmp_path):
    old = os.umask(0)
    try:
        store = TokenStore(tmp_path / "d" / "tokens.json")
        store.put(make_tokens(1))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.path.parent).st_mode) == 0o700


def test_store_write_is_atomic(tmp_path, monkeypatch):
    """A write that fails half-way (here: the commit) leaves the stored pair as it was."""
    store = TokenStore(tmp_path / "tokens.json")
    store.put(make_tokens(1))
    store.put(make_tokens(2))
    backend = store.backend
    real_run = backend._run

    def failing_commit(conn, sql, params):
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return real_run(conn, sql, params)

    monkeypatch.setattr(backend, "_run", failing_commit)
    with pytest.raises(TokenStoreError, match="disk I/O error"):
        store.put(make_tokens(3, open_id="open-1"))
    monkeypatch.undo()
    assert TokenStore(store.path).get("open-1") == make_tokens(2)  # what another process sees
    assert store.get("open-1") == make_tokens(2)
    assert not list(tmp_path.glob(".*.tmp"))  # no temp copy of anything


def test_world_readable_store_warns(tmp_path, caplog):
    store = TokenStore(tmp_path / "tokens.json")
    store.put(make_tokens(1))
    os.chmod(store.path, 0o644)
    with caplog.at_level(logging.WARNING):
        TokenStore(store.path).get("open-1")
    assert str(store.path) in caplog.text and "chmod 600" in caplog.text
    assert "act.access-0001" not in caplog.text and "rft.refresh-0001" not in caplog.text


# --- token manager ----------------------------------------------------------------------------


def test_valid_token_needs_no_http(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    store.put(make_tokens(1))
    with respx.mock:  # any HTTP call would fail: no routes
        assert TokenManager(oauth(), store, clock=Clock()).access_token("open-1") == "act.access-0001"


def test_rotation_is_persisted_before_the_new_token_is_used(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    store.put(make_tokens(1))
    clock = Clock(T0 + timedelta(seconds=7000))  # within the 300 s margin
    server = RotatingServer(first=1)
    seen: list[tuple[str, str]] = []

    def api(request: httpx.Request) -> httpx.Response:
        on_disk = TokenStore(store.path).get("open-1")  # committed: what another process reads
        seen.append((request.headers["authorization"], on_disk.refresh_token))
        assert on_disk.access_token == "act.access-0002"
        return httpx.Response(200, json={"data": {"request_id": 734500000000001},
                                         "error": {"code": "ok", "message": "", "log_id": "L"}})

    with respx.mock:
        respx.post(TOKEN_URL).mock(side_effect=server)
        respx.post(ADD_URL).mock(side_effect=api)
        manager = TokenManager(oauth(clock), store, clock=clock)
        client = PortabilityClient.for_provider(manager.for_user("open-1"), sleep=lambda s: None)
        assert client.add(["activity"]) == 734500000000001
    assert seen == [("Bearer act.access-0002", "rft.refresh-0002")]
    assert server.calls == 1


def test_invalid_grant_marks_user_and_requires_reauth(tmp_path, caplog):
    store = TokenStore(tmp_path / "tokens.json")
    store.put(make_tokens(1))
    clock = Clock(T0 + timedelta(hours=3))
    with respx.mock, caplog.at_level(logging.DEBUG):
        route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(
            400, json={"error": "invalid_grant", "error_description": "Refresh token is invalid or expired.",
                       "log_id": "LOG-IG"}))
        manager = TokenManager(oauth(clock), store, clock=clock)
        with pytest.raises(ReauthorizationRequired) as info:
            manager.access_token("open-1")
        assert info.value.open_id == "open-1" and "LOG-IG" in str(info.value)
        meta = store.metadata("open-1")
        assert meta["revoked"] is True and meta["needs_reauth"] is True and meta["reauth_reason"] == "invalid_grant"
        with pytest.raises(ReauthorizationRequired):  # no second attempt with a dead token
            manager.access_token("open-1")
        assert route.call_count == 1
    assert "rft.refresh-0001" not in caplog.text and "act.access-0001" not in caplog.text
    store.put(make_tokens(9))  # re-authorization clears the mark
    assert "revoked" not in store.metadata("open-1")


def test_unknown_user_and_expired_refresh_token(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    manager = TokenManager(oauth(), store, clock=Clock(T0 + timedelta(days=200)))
    with pytest.raises(ReauthorizationRequired):
        manager.access_token("nobody")
    store.put(make_tokens(1))
    with respx.mock:  # refresh token is past its 180 days: no HTTP at all
        with pytest.raises(ReauthorizationRequired) as info:
            manager.access_token("open-1")
    assert "expired" in str(info.value)
    assert store.metadata("open-1")["reauth_reason"] == "refresh_token_expired"


def test_two_managers_do_not_refresh_with_a_stale_token(tmp_path):
    path = tmp_path / "tokens.json"
    TokenStore(path).put(make_tokens(1))
    clock = Clock()
    server = RotatingServer(first=1)
    with respx.mock:
        respx.post(TOKEN_URL).mock(side_effect=server)
        m1 = TokenManager(oauth(clock), TokenStore(path), clock=clock)
        m2 = TokenManager(oauth(clock), TokenStore(path), clock=clock)
        assert m1.access_token("open-1") == m2.access_token("open-1") == "act.access-0001"
        # both got access_token_invalid with the same token; both force a refresh
        assert m1.force_refresh("open-1") == "act.access-0002"
        assert m2.force_refresh("open-1") == "act.access-0002"  # reuses m1's rotation
    assert server.calls == 1
    assert TokenStore(path).get("open-1").refresh_token == "rft.refresh-0002"


def test_concurrent_refresh_across_stores_happens_once(tmp_path):
    path = tmp_path / "tokens.json"
    TokenStore(path).put(make_tokens(1))
    clock = Clock(T0 + timedelta(seconds=7100))
    server = RotatingServer(first=1, delay=0.2)
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            manager = TokenManager(oauth(clock), TokenStore(path), clock=clock)
            barrier.wait()
            results.append(manager.access_token("open-1"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with respx.mock:
        respx.post(TOKEN_URL).mock(side_effect=server)
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert errors == []
    assert results == ["act.access-0002", "act.access-0002"]
    assert server.calls == 1


def test_client_401_forces_one_refresh_through_manager(tmp_path, caplog):
    store = TokenStore(tmp_path / "tokens.json")
    store.put(make_tokens(1))
    clock = Clock()
    server = RotatingServer(first=1)
    auths: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        auths.append(request.headers["authorization"])
        if request.headers["authorization"] == "Bearer act.access-0001":
            return httpx.Response(401, json={"data": {}, "error": {
                "code": "access_token_invalid", "message": "The access token is invalid or not found in the request.",
                "log_id": "L401"}})
        return httpx.Response(200, json={"data": {"request_id": 5}, "error": {"code": "ok", "message": "", "log_id": "L"}})

    with respx.mock, caplog.at_level(logging.DEBUG):
        respx.post(TOKEN_URL).mock(side_effect=server)
        respx.post(ADD_URL).mock(side_effect=api)
        manager = TokenManager(oauth(clock), store, clock=clock)
        client = PortabilityClient.for_provider(manager.for_user("open-1"), sleep=lambda s: None)
        assert client.add(["profile"]) == 5
    assert auths == ["Bearer act.access-0001", "Bearer act.access-0002"]
    assert store.get("open-1").refresh_token == "rft.refresh-0002"
    for secret in ("act.access-0001", "act.access-0002", "rft.refresh-0001", "rft.refresh-0002", SECRET):
        assert secret not in caplog.text


def test_static_provider_persists_rotation(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    server = RotatingServer(first=1)
    with respx.mock:
        respx.post(TOKEN_URL).mock(side_effect=server)
        provider = StaticTokenProvider("act.access-0001", "rft.refresh-0001", oauth=oauth(), store=store,
                                       clock=Clock())
        assert provider.access_token() == "act.access-0001"
        assert provider.force_refresh() == "act.access-0002"
        assert store.get("open-1").refresh_token == "rft.refresh-0002"
        assert provider.access_token() == "act.access-0002"
    with pytest.raises(ReauthorizationRequired):
        StaticTokenProvider("act.only").force_refresh()


# --- loopback redirect ------------------------------------------------------------------------


def test_redirect_target():
    assert redirect_target("http://127.0.0.1:8765/callback/") == ("127.0.0.1", 8765, "/callback/")
    with pytest.raises(ValueError):
        redirect_target("https://example.org/callback/")


def test_catch_redirect_returns_callback_url():
    with RedirectCatcher("127.0.0.1", 0, "/callback/") as catcher:
        base = f"http://127.0.0.1:{catcher.port}"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(base + "/favicon.ico", timeout=5)
        assert info.value.code == 404
        with urllib.request.urlopen(base + "/callback/?code=c%2A1&scopes=user.info.basic&state=s1", timeout=5) as r:
            page = r.read().decode()
        assert r.status == 200 and "You can close this window" in page and "c*1" not in page
        url = catcher.wait(timeout=5)
    assert url == f"{base}/callback/?code=c%2A1&scopes=user.info.basic&state=s1"
    assert parse_callback(url, "s1").code == "c*1"


def test_catch_redirect_times_out():
    with RedirectCatcher("127.0.0.1", 0) as catcher:
        with pytest.raises(TimeoutError):
            catcher.wait(timeout=0.05)
