"""The fake TikTok API against what docs/tiktok-api.md says TikTok does, driven with plain httpx."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tiktok_portability_source.fake.api import (
    FAULTS,
    FIRST_REQUEST_ID,
    CallRecord,
    FakeConfig,
    FakeTikTok,
    sign_webhook,
)
from tiktok_portability_source.settings import (
    ADD_PATH,
    API_BASE_URL,
    AUTHORIZE_PATH,
    CANCEL_PATH,
    CHECK_FIELDS,
    CHECK_PATH,
    DOWNLOAD_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    ZIP_MAGIC,
)

REDIRECT = "http://127.0.0.1:8910/callback/"
USER = "open-id-0001"


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def env():
    """Factory: (fake, client) in-process, with the config given."""
    made: list[tuple[FakeTikTok, httpx.Client]] = []

    def make(config: FakeConfig | None = None, **kwargs) -> tuple[FakeTikTok, httpx.Client]:
        fake = FakeTikTok(config, **kwargs)
        fake.add_user(USER, username="alice")
        client = httpx.Client(transport=fake.transport(), base_url=API_BASE_URL)
        made.append((fake, client))
        return fake, client

    yield make
    for fake, client in made:
        client.close()
        fake.close()


def authorize(client: httpx.Client, scopes: list[str], *, state: str = "st-1", **extra) -> httpx.Response:
    params = {"client_key": "awfakeclientkey0001", "response_type": "code", "scope": ",".join(scopes),
              "redirect_uri": REDIRECT, "state": state, **extra}
    return client.get(AUTHORIZE_PATH, params=params)


def callback_params(resp: httpx.Response) -> dict[str, str]:
    assert resp.status_code == 302
    location = resp.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(client: httpx.Client, code: str, **extra) -> httpx.Response:
    form = {"client_key": "awfakeclientkey0001", "client_secret": "fake-client-secret", "code": code,
            "grant_type": "authorization_code", "redirect_uri": REDIRECT, **extra}
    return client.post(TOKEN_PATH, data=form, headers={"Cache-Control": "no-cache"})


def refresh(client: httpx.Client, refresh_token: str) -> httpx.Response:
    form = {"client_key": "awfakeclientkey0001", "client_secret": "fake-client-secret",
            "grant_type": "refresh_token", "refresh_token": refresh_token}
    return client.post(TOKEN_PATH, data=form)


def login(client: httpx.Client, scopes: list[str], **extra) -> dict:
    params = callback_params(authorize(client, scopes, **extra))
    resp = exchange(client, params["code"])
    assert resp.status_code == 200, resp.text
    return resp.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add(client, token, cats, fmt="json", fields="request_id") -> httpx.Response:
    return client.post(ADD_PATH, params={"fields": fields} if fields is not None else None,
                       json={"data_format": fmt, "category_selection_list": cats}, headers=bearer(token))


def add_ok(client, token, cats, fmt="json") -> int:
    resp = add(client, token, cats, fmt)
    assert resp.status_code == 200, resp.text
    assert resp.json()["error"]["code"] == "ok"
    return resp.json()["data"]["request_id"]


def check(client, token, request_id, fields=CHECK_FIELDS) -> httpx.Response:
    return client.post(CHECK_PATH, params={"fields": ",".join(fields)}, json={"request_id": request_id},
                       headers=bearer(token))


def status_of(client, token, request_id) -> str:
    resp = check(client, token, request_id, ["status"])
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["status"]


def download(client, token, request_id) -> httpx.Response:
    return client.post(DOWNLOAD_PATH, json={"request_id": request_id}, headers=bearer(token))


def assert_envelope_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["data"] == {}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["log_id"]
    return body


def assert_oauth_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "error_description", "log_id"}
    assert body["error"] == code
    return body


# --- 1. routes -------------------------------------------------------------------------------


def test_unknown_routes_404_wrong_method_405_and_fresh_log_ids(env):
    fake, client = env()
    assert client.post("/v2/user/data/list/").status_code == 404
    assert client.post("/v2/user/data/add").status_code == 404  # no trailing slash
    assert client.post("/v2/data_portability/task/create/").status_code == 404
    resp = client.get(ADD_PATH)
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"
    assert client.post(AUTHORIZE_PATH).status_code == 405
    assert client.get(TOKEN_PATH).status_code == 405
    log_ids = {client.post("/nope/").headers["x-tt-logid"] for _ in range(3)}
    assert len(log_ids) == 3
    assert [c.status for c in fake.calls[:6]] == [404, 404, 404, 405, 405, 405]


# --- 3. OAuth --------------------------------------------------------------------------------


def test_authorize_redirects_with_code_granted_scopes_and_state(env):
    fake, client = env()
    resp = authorize(client, ["user.info.basic", "portability.activity.single"], state="xyz")
    params = callback_params(resp)
    assert params["state"] == "xyz"
    assert params["scopes"] == "user.info.basic,portability.activity.single"
    assert params["code"]
    # the raw Location carries a percent-encoded code that must be URL-decoded before the exchange
    assert "%2A%21" in resp.headers["location"]
    # the user may untick a toggleable scope; the callback lists what was really granted
    params = callback_params(authorize(client, ["user.info.basic", "portability.activity.single",
                                                "portability.all.single"], fake_untick="portability.all.single"))
    assert params["scopes"] == "user.info.basic,portability.activity.single"


def test_authorize_errors(env):
    fake, client = env()
    params = callback_params(authorize(client, ["portability.activity.single", "video.list"]))
    assert params["error"] == "invalid_scope" and params["state"] == "st-1" and "code" not in params
    params = callback_params(authorize(client, ["user.info.basic"], response_type="token"))
    assert params["error"] == "unsupported_response_type"
    assert authorize(client, ["user.info.basic"], client_key="wrong").status_code == 400
    assert authorize(client, ["user.info.basic"], fake_open_id="nobody").status_code == 400
    # programmatic consent gives the same redirect
    url = fake.authorize(USER, scopes=["bogus.scope"], redirect_uri=REDIRECT, state="s")
    assert parse_qs(urlsplit(url).query)["error"] == ["invalid_scope"]


def test_authorize_picks_user_by_fake_open_id(env):
    fake, client = env()
    fake.add_user("open-id-0002")
    token = login(client, ["portability.activity.ongoing"], fake_open_id="open-id-0002")
    assert token["open_id"] == "open-id-0002"
    assert login(client, ["portability.activity.ongoing"])["open_id"] == USER  # default: first user


def test_token_exchange_flat_body_and_single_use_code(env):
    fake, client = env()
    params = callback_params(authorize(client, ["user.info.basic", "portability.activity.single"]))
    resp = exchange(client, params["code"])
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"access_token", "expires_in", "open_id", "refresh_expires_in", "refresh_token",
                         "scope", "token_type"}
    assert body["access_token"].startswith("act.") and body["refresh_token"].startswith("rft.")
    assert body["expires_in"] == 7200 and body["refresh_expires_in"] == 15552000
    assert body["open_id"] == USER
    assert body["scope"] == "user.info.basic,portability.activity.single"
    assert body["token_type"] == "Bearer"
    # reuse
    assert_oauth_error(exchange(client, params["code"]), 400, "invalid_grant")
    assert_oauth_error(exchange(client, "never-issued"), 400, "invalid_grant")


def test_code_expires_after_ten_minutes(env):
    fake, client = env()
    code_ok = callback_params(authorize(client, ["user.info.basic"]))["code"]
    code_late = callback_params(authorize(client, ["user.info.basic"]))["code"]
    fake.advance(599)
    assert exchange(client, code_ok).status_code == 200
    fake.advance(1)
    assert_oauth_error(exchange(client, code_late), 400, "invalid_grant")


def test_token_endpoint_request_errors(env):
    fake, client = env()
    code = callback_params(authorize(client, ["user.info.basic"]))["code"]
    assert_oauth_error(exchange(client, code, redirect_uri="http://127.0.0.1:1/other/"), 400, "invalid_request")
    assert_oauth_error(exchange(client, code, client_secret="wrong"), 401, "invalid_client")
    assert_oauth_error(exchange(client, code, client_key="wrong"), 401, "invalid_client")
    assert_oauth_error(exchange(client, code, grant_type="password"), 400, "unsupported_grant_type")
    resp = client.post(TOKEN_PATH, json={"client_key": "awfakeclientkey0001", "code": code})
    assert_oauth_error(resp, 400, "invalid_request")
    resp = client.post(TOKEN_PATH, content="client_key=a&client_key=b",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_oauth_error(resp, 400, "invalid_request")
    # none of these spent the code
    assert exchange(client, code).status_code == 200


def test_pkce_hex_sha256_challenge(env):
    fake, client = env()
    verifier = secrets.token_urlsafe(48)
    challenge = hashlib.sha256(verifier.encode()).hexdigest()
    extra = {"code_challenge": challenge, "code_challenge_method": "S256"}
    code = callback_params(authorize(client, ["user.info.basic"], **extra))["code"]
    assert_oauth_error(exchange(client, code, code_verifier="x" * 43), 400, "invalid_grant")
    code = callback_params(authorize(client, ["user.info.basic"], **extra))["code"]
    assert_oauth_error(exchange(client, code), 400, "invalid_request")
    code = callback_params(authorize(client, ["user.info.basic"], **extra))["code"]
    assert exchange(client, code, code_verifier=verifier).status_code == 200
    # base64url (RFC 7636) challenges are not TikTok's: a verifier for one fails
    import base64

    b64 = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = callback_params(authorize(client, ["user.info.basic"], code_challenge=b64,
                                     code_challenge_method="S256"))["code"]
    assert_oauth_error(exchange(client, code, code_verifier=verifier), 400, "invalid_grant")


def test_refresh_rotation_and_configurable_lifetimes(env):
    fake, client = env(FakeConfig(access_token_ttl=60, refresh_token_ttl=3600))
    first = login(client, ["portability.activity.ongoing"])
    assert first["expires_in"] == 60 and first["refresh_expires_in"] == 3600
    second = refresh(client, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["open_id"] == USER and second["token_type"] == "Bearer"
    assert_oauth_error(refresh(client, first["refresh_token"]), 400, "invalid_grant")
    third = refresh(client, second["refresh_token"])
    assert third.status_code == 200
    assert add(client, third.json()["access_token"], ["activity"]).status_code == 200
    # refresh tokens expire too
    fake.advance(3600)
    assert_oauth_error(refresh(client, third.json()["refresh_token"]), 400, "invalid_grant")


def test_revoke_empty_200_and_tokens_stop_working(env):
    fake, client = env()
    tok = login(client, ["portability.activity.ongoing"])
    assert add(client, tok["access_token"], ["activity"]).status_code == 200
    form = {"client_key": "awfakeclientkey0001", "client_secret": "fake-client-secret", "token": tok["access_token"]}
    resp = client.post(REVOKE_PATH, data=form)
    assert resp.status_code == 200 and resp.content == b""
    assert_envelope_error(add(client, tok["access_token"], ["activity"]), 401, "access_token_invalid")
    assert_oauth_error(refresh(client, tok["refresh_token"]), 400, "invalid_grant")
    assert_oauth_error(client.post(REVOKE_PATH, data={**form, "client_secret": "no"}), 401, "invalid_client")


# --- 2. bearer ---------------------------------------------------------------------------------


def test_bearer_errors_are_401_access_token_invalid(env):
    fake, client = env()
    tok = login(client, ["portability.activity.ongoing"])
    body = {"data_format": "json", "category_selection_list": ["activity"]}
    assert_envelope_error(client.post(ADD_PATH, params={"fields": "request_id"}, json=body), 401,
                          "access_token_invalid")
    assert_envelope_error(add(client, "act.unknown", ["activity"]), 401, "access_token_invalid")
    assert_envelope_error(add(client, tok["refresh_token"], ["activity"]), 401, "access_token_invalid")
    resp = client.post(ADD_PATH, params={"fields": "request_id"}, json=body,
                       headers={"Authorization": f"Basic {tok['access_token']}"})
    assert_envelope_error(resp, 401, "access_token_invalid")
    # expired by the clock
    fake.advance(7200)
    assert_envelope_error(add(client, tok["access_token"], ["activity"]), 401, "access_token_invalid")
    # expired by the test control; refresh gets a working token
    tok2 = refresh(client, tok["refresh_token"]).json()
    assert add(client, tok2["access_token"], ["activity"]).status_code == 200
    fake.expire_access_tokens(USER)
    for path in (CHECK_PATH, DOWNLOAD_PATH, CANCEL_PATH):
        resp = client.post(path, params={"fields": "status"}, json={"request_id": FIRST_REQUEST_ID},
                           headers=bearer(tok2["access_token"]))
        assert_envelope_error(resp, 401, "access_token_invalid")
    # revoked by the user
    tok3 = refresh(client, tok2["refresh_token"]).json()
    fake.revoke_user(USER)
    assert_envelope_error(add(client, tok3["access_token"], ["activity"]), 401, "access_token_invalid")
    assert fake.calls[-1]._replace(at=0.0) == CallRecord(ADD_PATH, "POST", 401, USER, "access_token_invalid")


def test_token_without_portability_scope_is_not_authorized(env):
    fake, client = env()
    tok = login(client, ["user.info.basic"])
    assert_envelope_error(check(client, tok["access_token"], FIRST_REQUEST_ID), 401, "scope_not_authorized")


# --- 4. add ----------------------------------------------------------------------------------


def test_add_validation(env):
    fake, client = env()
    token = login(client, ["portability.all.ongoing"])["access_token"]
    assert_envelope_error(add(client, token, ["activity"], fields=None), 400, "invalid_params")
    assert_envelope_error(add(client, token, ["activity"], fields="status"), 400, "invalid_params")
    assert_envelope_error(add(client, token, ["activity"], fmt="csv"), 400, "invalid_params")
    assert_envelope_error(add(client, token, []), 400, "invalid_params")
    assert_envelope_error(add(client, token, ["activity", "likes"]), 400, "invalid_params")
    assert_envelope_error(add(client, token, ["direct_messages"]), 400, "invalid_params")
    resp = client.post(ADD_PATH, params={"fields": "request_id"}, content=b"not json", headers=bearer(token))
    assert_envelope_error(resp, 400, "invalid_params")
    resp = client.post(ADD_PATH, params={"fields": "request_id"}, json={"data_format": "json"}, headers=bearer(token))
    assert_envelope_error(resp, 400, "invalid_params")
    assert fake.requests_of(USER) == []
    assert len(fake.calls_to("add", status=400)) == 8


def test_add_returns_15_digit_int_ids_as_json_numbers(env):
    fake, client = env()
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    resp = add(client, token, ["activity"])
    assert b'"request_id":734500000000001' in resp.content
    assert resp.json() == {"data": {"request_id": 734500000000001},
                           "error": {"code": "ok", "message": "", "log_id": resp.headers["x-tt-logid"]}}
    ids = [add_ok(client, token, ["activity"]) for _ in range(3)]
    assert ids == [FIRST_REQUEST_ID + 1, FIRST_REQUEST_ID + 2, FIRST_REQUEST_ID + 3]
    assert all(isinstance(i, int) and len(str(i)) == 15 for i in ids)


def test_all_data_overrides_other_categories(env):
    fake, client = env()
    token = login(client, ["portability.all.single"])["access_token"]
    rid = add_ok(client, token, ["activity", "all_data", "video"])
    data = check(client, token, rid).json()["data"]
    assert data["category_selection_list"] == ["all_data"]
    assert fake.requests_of(USER)[0].requested_categories == ("activity", "all_data", "video")
    # all_data is satisfied only by portability.all.*, even when the other scopes cover every category
    token = login(client, ["portability.postsandprofile.ongoing", "portability.activity.ongoing",
                           "portability.directmessages.ongoing"])["access_token"]
    assert add(client, token, ["profile", "video", "activity", "direct_message"]).status_code == 200
    assert_envelope_error(add(client, token, ["all_data", "activity"]), 401, "scope_not_authorized")


def test_category_scope_check(env):
    fake, client = env()
    token = login(client, ["user.info.basic", "portability.activity.ongoing"])["access_token"]
    assert_envelope_error(add(client, token, ["video"]), 401, "scope_not_authorized")
    assert_envelope_error(add(client, token, ["activity", "direct_message"]), 401, "scope_not_authorized")
    token = login(client, ["portability.postsandprofile.ongoing"])["access_token"]
    assert add(client, token, ["profile", "video"]).status_code == 200
    assert_envelope_error(add(client, token, ["activity"]), 401, "scope_not_authorized")


def test_single_scope_consumed_and_reuse_rejected(env):
    fake, client = env()
    tok = login(client, ["portability.activity.single"])
    add_ok(client, tok["access_token"], ["activity"])
    assert_envelope_error(add(client, tok["access_token"], ["activity"]), 401, "scope_not_authorized")
    # the spent scope is gone from a refreshed grant too, and the request can still be checked
    tok2 = refresh(client, tok["refresh_token"]).json()
    assert tok2["scope"] == ""
    assert_envelope_error(add(client, tok2["access_token"], ["activity"]), 401, "scope_not_authorized")
    assert status_of(client, tok2["access_token"], FIRST_REQUEST_ID) == "downloading"
    assert len(fake.calls_to(ADD_PATH, status=200)) == 1
    # a new authorization grants a new single use
    assert add(client, login(client, ["portability.activity.single"])["access_token"], ["activity"]).status_code == 200


def test_broadest_single_scope_is_consumed_first(env):
    """docs/tiktok-api.md §3: all.single + activity.single, request [activity, video] spends all.single."""
    fake, client = env()
    tok = login(client, ["portability.all.single", "portability.activity.single"])
    rid = add_ok(client, tok["access_token"], ["activity", "video"])
    assert fake.get_request(rid).consumed_scopes == ("portability.all.single",)
    assert_envelope_error(add(client, tok["access_token"], ["video"]), 401, "scope_not_authorized")
    assert refresh(client, tok["refresh_token"]).json()["scope"] == "portability.activity.single"
    # the token still holds activity.single
    rid2 = add_ok(client, tok["access_token"], ["activity"])
    assert fake.get_request(rid2).consumed_scopes == ("portability.activity.single",)
    assert_envelope_error(add(client, tok["access_token"], ["activity"]), 401, "scope_not_authorized")
    # broadest first even when a narrower single would do
    tok = login(client, ["portability.activity.single", "portability.all.single"])
    rid3 = add_ok(client, tok["access_token"], ["activity"])
    assert fake.get_request(rid3).consumed_scopes == ("portability.all.single",)


def test_ongoing_scope_allows_repeated_adds_and_spends_nothing(env):
    fake, client = env()
    tok = login(client, ["portability.activity.ongoing", "portability.all.single"])
    ids = [add_ok(client, tok["access_token"], ["activity"]) for _ in range(3)]
    assert len(set(ids)) == 3
    assert all(fake.get_request(i).consumed_scopes == () for i in ids)
    assert "portability.all.single" in refresh(client, tok["refresh_token"]).json()["scope"]


def test_add_rejected_for_user_outside_eea(env):
    fake, client = env()
    fake.add_user("open-id-us", eea=False)
    token = login(client, ["portability.all.ongoing"], fake_open_id="open-id-us")["access_token"]
    assert_envelope_error(add(client, token, ["profile"]), 401, "scope_not_authorized")


def test_reject_add_while_pending_and_cancel_frees_ongoing(env):
    fake, client = env(FakeConfig(reject_add_while_pending=True, ready_after_polls=5))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    rid = add_ok(client, token, ["activity"])
    assert_envelope_error(add(client, token, ["activity"]), 400, "invalid_params")
    resp = client.post(CANCEL_PATH, json={"request_id": rid}, headers=bearer(token))
    assert resp.json()["error"]["code"] == "ok"
    assert add_ok(client, token, ["activity"]) == rid + 1


# --- 5. check --------------------------------------------------------------------------------


def test_check_returns_only_requested_fields(env):
    clock = [1_767_268_800.0]
    fake, client = env(clock=lambda: clock[0])
    token = login(client, ["portability.all.ongoing"])["access_token"]
    rid = add_ok(client, token, ["profile", "activity"], fmt="text")
    clock[0] += 60
    resp = check(client, token, rid, ["status"])
    assert resp.json()["data"] == {"status": "downloading"}
    data = check(client, token, rid).json()["data"]
    assert data == {"request_id": rid, "apply_time": 1_767_268_800, "collect_time": 1_767_268_800,
                    "status": "downloading", "data_format": "text",
                    "category_selection_list": ["profile", "activity"]}
    assert isinstance(data["apply_time"], int)
    data = check(client, token, rid, ["request_id", "apply_time"]).json()["data"]
    assert data == {"request_id": rid, "apply_time": 1_767_268_800}
    assert_envelope_error(check(client, token, rid, ["status", "size"]), 400, "invalid_params")
    assert_envelope_error(check(client, token, rid, []), 400, "invalid_params")
    assert_envelope_error(check(client, token, 999_999_999_999_999), 400, "invalid_params")
    with pytest.raises(RuntimeError):
        fake.advance(1)


def test_check_other_users_request_is_unknown(env):
    fake, client = env()
    fake.add_user("open-id-0002")
    mine = login(client, ["portability.activity.ongoing"])["access_token"]
    theirs = login(client, ["portability.activity.ongoing"], fake_open_id="open-id-0002")["access_token"]
    rid = add_ok(client, mine, ["activity"])
    assert_envelope_error(check(client, theirs, rid), 400, "invalid_params")


def test_transition_after_polls(env):
    fake, client = env(FakeConfig(ready_after_polls=3))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    rid = add_ok(client, token, ["activity"])
    assert [status_of(client, token, rid) for _ in range(4)] == ["pending", "pending", "downloading", "downloading"]
    # ready_after_polls=0: ready as soon as it is added
    fake, client = env(FakeConfig(ready_after_polls=0))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    assert fake.get_request(add_ok(client, token, ["activity"])).status == "downloading"


def test_transition_by_clock_and_expiry_after_four_days(env):
    fake, client = env(FakeConfig(ready_after_seconds=30, access_token_ttl=10 * 86400))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    rid = add_ok(client, token, ["activity"])
    assert [status_of(client, token, rid) for _ in range(3)] == ["pending"] * 3  # polls do not count
    fake.advance(29)
    assert status_of(client, token, rid) == "pending"
    assert download(client, token, rid).status_code == 400
    fake.advance(1)
    assert status_of(client, token, rid) == "downloading"
    fake.advance(4 * 86400 - 1)
    assert status_of(client, token, rid) == "downloading"
    assert download(client, token, rid).status_code == 200
    fake.advance(1)
    assert status_of(client, token, rid) == "expired"
    body = assert_envelope_error(download(client, token, rid), 400, "invalid_params")
    assert body["error"]["http_status_code"] == 400


def test_make_ready_control(env):
    fake, client = env(FakeConfig(ready_after_polls=100))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    rid = add_ok(client, token, ["activity"])
    assert status_of(client, token, rid) == "pending"
    fake.make_ready(rid)
    assert status_of(client, token, rid) == "downloading"
    assert fake.requests_of(USER)[0].ready_at is not None


# --- 6. download -----------------------------------------------------------------------------


def member_named(zf: zipfile.ZipFile, base: str) -> str:
    """Exports nest files in folders (``TikTok_Data_<epoch>/…``): find one by its base name."""
    return next(n for n in zf.namelist() if n.rsplit("/", 1)[-1] == base)


def test_download_raw_zip_repeatable(env):
    fake, client = env()
    token = login(client, ["portability.all.ongoing"])["access_token"]
    rid = add_ok(client, token, ["profile"])
    assert status_of(client, token, rid) == "downloading"
    resp = download(client, token, rid)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/zip"
    assert int(resp.headers["content-length"]) == len(resp.content)
    assert resp.content[:4] == ZIP_MAGIC
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        doc = json.loads(zf.read(member_named(zf, "user_data_tiktok.json")))
    # a "profile" request carries the profile section only (generated, layout D)
    assert list(doc) == ["Profile And Settings"]
    assert doc["Profile And Settings"]["Profile Info"]["ProfileMap"]["userName"] == "alice"
    assert download(client, token, rid).content == resp.content
    assert fake.get_request(rid).downloads == 2
    # text format: folders of .txt files
    rid = add_ok(client, token, ["profile"], fmt="text")
    check(client, token, rid)
    with zipfile.ZipFile(io.BytesIO(download(client, token, rid).content)) as zf:
        assert "Username: alice" in zf.read(member_named(zf, "Profile Info.txt")).decode()


def test_download_errors_carry_http_status_code(env):
    fake, client = env(FakeConfig(ready_after_polls=10, not_downloadable_message="Not ready yet."))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    body = assert_envelope_error(download(client, token, 123_456_789_012_345), 400, "invalid_params")
    assert body["error"]["http_status_code"] == 400
    assert body["error"]["message"] == "Incorrect `request_id`. Please validate the request."
    assert_envelope_error(client.post(DOWNLOAD_PATH, json={}, headers=bearer(token)), 400, "invalid_params")
    rid = add_ok(client, token, ["activity"])
    body = assert_envelope_error(download(client, token, rid), 400, "invalid_params")
    assert body["error"] == {"code": "invalid_params", "http_status_code": 400, "message": "Not ready yet.",
                             "log_id": body["error"]["log_id"]}
    client.post(CANCEL_PATH, json={"request_id": rid}, headers=bearer(token))
    assert_envelope_error(download(client, token, rid), 400, "invalid_params")


def test_archive_builder_is_lazy_pluggable_and_streamed_in_chunks(env, tmp_path):
    calls = []
    big = ZIP_MAGIC + os.urandom(3 * 1024 * 1024 + 10)

    def builder(open_id, categories, data_format):
        calls.append((open_id, categories, data_format))
        return big

    fake, client = env(archive_builder=builder)
    token = login(client, ["portability.all.ongoing"])["access_token"]
    rid = add_ok(client, token, ["all_data"])
    check(client, token, rid)
    assert calls == []
    for _ in range(2):
        with client.stream("POST", DOWNLOAD_PATH, json={"request_id": rid}, headers=bearer(token)) as resp:
            assert resp.headers["content-length"] == str(len(big))
            chunks = list(resp.iter_raw())
        assert b"".join(chunks) == big
        assert max(len(c) for c in chunks) == 1024 * 1024 and len(chunks) == 4
    assert calls == [(USER, ("all_data",), "json")]
    # a builder may return a path for archives too large to hold in memory
    path = tmp_path / "a.zip"
    path.write_bytes(big)
    fake, client = env(archive_builder=lambda *a: path)
    token = login(client, ["portability.all.ongoing"])["access_token"]
    rid = add_ok(client, token, ["all_data"])
    check(client, token, rid)
    assert download(client, token, rid).content == big


# --- 7. cancel -------------------------------------------------------------------------------


def test_cancel_via_body_or_query_replies_error_object_only(env):
    fake, client = env(FakeConfig(ready_after_polls=10, access_token_ttl=30 * 86400))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    a, b = add_ok(client, token, ["activity"]), add_ok(client, token, ["activity"])
    resp = client.post(CANCEL_PATH, json={"request_id": a}, headers=bearer(token))
    assert resp.status_code == 200
    assert resp.json() == {"error": {"code": "ok", "message": "", "log_id": resp.headers["x-tt-logid"]}}
    resp = client.post(CANCEL_PATH, params={"request_id": str(b)}, headers=bearer(token))
    assert resp.status_code == 200 and set(resp.json()) == {"error"}
    assert status_of(client, token, a) == status_of(client, token, b) == "cancelled"
    # terminal
    resp = client.post(CANCEL_PATH, json={"request_id": a}, headers=bearer(token))
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_params"
    fake.advance(10 * 86400)
    assert status_of(client, token, a) == "cancelled"
    resp = client.post(CANCEL_PATH, json={"request_id": 999}, headers=bearer(token))
    assert resp.status_code == 400 and set(resp.json()) == {"error"}
    # ongoing scope may add again after a cancel
    assert add_ok(client, token, ["activity"]) == b + 1


def test_cancel_downloading_is_configurable(env):
    fake, client = env()
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    rid = add_ok(client, token, ["activity"])
    assert status_of(client, token, rid) == "downloading"
    assert client.post(CANCEL_PATH, json={"request_id": rid}, headers=bearer(token)).status_code == 200
    assert status_of(client, token, rid) == "cancelled"
    fake, client = env(FakeConfig(allow_cancel_downloading=False))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    rid = add_ok(client, token, ["activity"])
    assert status_of(client, token, rid) == "downloading"
    resp = client.post(CANCEL_PATH, json={"request_id": rid}, headers=bearer(token))
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_params"
    assert status_of(client, token, rid) == "downloading"


# --- 8. rate limit ---------------------------------------------------------------------------


def test_sliding_window_429_without_retry_after(env):
    fake, client = env(FakeConfig(rate_limit_per_minute=2))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    rid = add_ok(client, token, ["activity"])
    assert add(client, token, ["activity"]).status_code == 200
    resp = add(client, token, ["activity"])
    assert_envelope_error(resp, 429, "rate_limit_exceeded")
    assert "retry-after" not in resp.headers
    assert check(client, token, rid).status_code == 200  # per endpoint
    fake.advance(30)
    assert add(client, token, ["activity"]).status_code == 429
    fake.advance(30)  # the first two calls leave the window
    assert add(client, token, ["activity"]).status_code == 200


@pytest.mark.parametrize("retry_after", ["0", "7"])
def test_429_with_retry_after(env, retry_after):
    fake, client = env(FakeConfig(rate_limit_per_minute=1, retry_after=retry_after))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    add_ok(client, token, ["activity"])
    resp = add(client, token, ["activity"])
    assert_envelope_error(resp, 429, "rate_limit_exceeded")
    assert resp.headers["retry-after"] == retry_after


# --- 11. faults ------------------------------------------------------------------------------


@pytest.fixture
def ready(env):
    fake, client = env()
    token = login(client, ["portability.all.ongoing"])["access_token"]
    rid = add_ok(client, token, ["profile"])
    assert status_of(client, token, rid) == "downloading"
    return fake, client, token, rid


def test_fault_internal_error(ready):
    fake, client, token, rid = ready
    fake.inject("internal_error", endpoint="check", times=2)
    assert_envelope_error(check(client, token, rid), 500, "internal_error")
    assert_envelope_error(check(client, token, rid), 500, "internal_error")
    assert check(client, token, rid).status_code == 200
    fake.inject("internal_error", endpoint=TOKEN_PATH)
    assert_oauth_error(exchange(client, "x"), 500, "server_error")


def test_fault_http_503_plain(ready):
    fake, client, token, rid = ready
    fake.inject("http_503")
    resp = download(client, token, rid)
    assert resp.status_code == 503 and resp.headers["content-type"].startswith("text/plain")
    with pytest.raises(ValueError):
        resp.json()
    assert download(client, token, rid).status_code == 200


def test_fault_error_200(ready):
    fake, client, token, rid = ready
    fake.inject("error_200", endpoint="download")
    resp = download(client, token, rid)
    assert resp.status_code == 200
    assert resp.content[:4] != ZIP_MAGIC
    assert resp.json()["error"]["code"] == "internal_error"
    assert download(client, token, rid).content[:4] == ZIP_MAGIC


def test_fault_rate_limit_and_token_expired(ready):
    fake, client, token, rid = ready
    fake.inject("rate_limit", endpoint="add")
    assert_envelope_error(add(client, token, ["profile"]), 429, "rate_limit_exceeded")
    fake.inject("token_expired")
    assert_envelope_error(check(client, token, rid), 401, "access_token_invalid")
    assert check(client, token, rid).status_code == 200


def test_fault_truncated_zip(ready):
    fake, client, token, rid = ready
    full = download(client, token, rid).content
    fake.inject("truncated_zip")
    resp = download(client, token, rid)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    assert resp.content[:4] == ZIP_MAGIC and len(resp.content) < len(full)
    assert int(resp.headers["content-length"]) == len(resp.content)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(resp.content))


def test_fault_drop_connection_in_process(ready):
    fake, client, token, rid = ready
    fake.inject("drop_connection")
    with pytest.raises(httpx.RemoteProtocolError):
        download(client, token, rid)
    assert download(client, token, rid).content[:4] == ZIP_MAGIC


def test_download_faults_wait_for_a_successful_download(env):
    fake, client = env(FakeConfig(ready_after_polls=2))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    rid = add_ok(client, token, ["activity"])
    fake.inject("truncated_zip")
    assert download(client, token, rid).status_code == 400  # pending: the fault stays armed
    check(client, token, rid), check(client, token, rid)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(download(client, token, rid).content))


def test_inject_rejects_unknown_faults_and_targets():
    fake = FakeTikTok()
    assert set(FAULTS) == {"internal_error", "http_503", "error_200", "drop_connection", "truncated_zip",
                           "rate_limit", "token_expired"}
    with pytest.raises(ValueError):
        fake.inject("meteor")
    with pytest.raises(ValueError):
        fake.inject("truncated_zip", endpoint="check")
    with pytest.raises(ValueError):
        fake.inject("internal_error", endpoint="/v2/user/data/list/")


# --- 9. webhooks -----------------------------------------------------------------------------


class _Receiver:
    def __init__(self) -> None:
        self.events: list[tuple[dict, bytes]] = []
        self.got = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with outer.got:
                    outer.events.append(({k.lower(): v for k, v in self.headers.items()}, raw))
                    outer.got.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait(self, n: int, timeout: float = 5.0) -> list[tuple[dict, bytes]]:
        with self.got:
            assert self.got.wait_for(lambda: len(self.events) >= n, timeout), self.events
            return list(self.events)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = _Receiver()
    yield r
    r.close()


def verify(headers: dict, raw: bytes, secret: str = "fake-client-secret") -> dict:
    parts = dict(p.split("=", 1) for p in headers["tiktok-signature"].split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, parts["s"])
    assert abs(time.time() - int(parts["t"])) <= 300
    return json.loads(raw)


def test_signature_matches_spec_test_vector():
    raw = (b'{"client_key":"awexampleclientkey01","event":"portability.download.ready",'
           b'"create_time":1767272400,"content":"{\\"request_id\\":734500000000001}"}')
    assert sign_webhook(raw, "example-client-secret", 1767272400) == (
        "t=1767272400,s=1dedefb2d7dfd14c6fde6fd47afce0517f499159c5e18e249337056c68d08092")


def test_download_ready_webhook_signed_with_duplicates(env, receiver):
    fake, client = env(FakeConfig(webhook_url=receiver.url, webhook_duplicates=1))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    rid = add_ok(client, token, ["activity"])
    assert status_of(client, token, rid) == "downloading"
    events = receiver.wait(2)
    assert fake.flush_webhooks()
    time.sleep(0.05)
    assert len(receiver.events) == 2
    bodies = {raw for _, raw in events}
    assert len(bodies) == 1  # the same event twice: handlers must be idempotent
    headers, raw = events[0]
    assert headers["content-type"] == "application/json"
    body = verify(headers, raw)
    assert body["event"] == "portability.download.ready"
    assert body["client_key"] == "awfakeclientkey0001"
    assert "user_openid" not in body
    assert isinstance(body["content"], str) and json.loads(body["content"]) == {"request_id": rid}
    assert isinstance(body["create_time"], int)
    # a tampered body does not verify
    parts = dict(p.split("=", 1) for p in headers["tiktok-signature"].split(","))
    assert sign_webhook(raw + b" ", "fake-client-secret", int(parts["t"])) != headers["tiktok-signature"]


def test_ready_webhook_fires_on_clock(env, receiver):
    fake, client = env(FakeConfig(webhook_url=receiver.url, ready_after_seconds=3600))
    token = login(client, ["portability.activity.ongoing"])["access_token"]
    rid = add_ok(client, token, ["activity"])
    time.sleep(0.3)
    assert receiver.events == []
    fake.advance(3600)  # no check call needed
    (headers, raw), = receiver.wait(1)
    assert json.loads(verify(headers, raw)["content"]) == {"request_id": rid}


def test_authorization_removed_webhook(env, receiver):
    fake, client = env(FakeConfig(webhook_url=receiver.url))
    login(client, ["portability.activity.ongoing"])
    fake.revoke_user(USER, reason=2)
    (headers, raw), = receiver.wait(1)
    body = verify(headers, raw)
    assert body["event"] == "authorization.removed"
    assert body["user_openid"] == USER
    assert json.loads(body["content"]) == {"reason": 2}
    assert fake.flush_webhooks()
    assert [(d.event, d.status_code, d.attempt) for d in fake.webhook_deliveries] == [
        ("authorization.removed", 200, 1)]


# --- loopback --------------------------------------------------------------------------------


def test_full_flow_over_loopback_socket():
    fake = FakeTikTok()
    fake.add_user(USER, username="alice")
    with fake.serve() as server, httpx.Client(base_url=server.url, timeout=5) as client:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert client.post("/nope/").status_code == 404
        tok = login(client, ["user.info.basic", "portability.all.single"])
        rid = add_ok(client, tok["access_token"], ["all_data"])
        assert_envelope_error(add(client, tok["access_token"], ["profile"]), 401, "scope_not_authorized")
        assert status_of(client, tok["access_token"], rid) == "downloading"
        resp = download(client, tok["access_token"], rid)
        assert resp.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
            assert [n.rsplit("/", 1)[-1] for n in zf.namelist()] == ["user_data_tiktok.json"]
        fake.inject("drop_connection")
        with pytest.raises(httpx.RemoteProtocolError):
            download(client, tok["access_token"], rid)
        fake.inject("truncated_zip")
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(io.BytesIO(download(client, tok["access_token"], rid).content))

        # concurrent clients are safe: unique ids
        ongoing = login(client, ["portability.activity.ongoing"])["access_token"]
        ids: list[int] = []

        def worker():
            with httpx.Client(base_url=server.url, timeout=5) as c:
                for _ in range(5):
                    ids.append(add_ok(c, ongoing, ["activity"]))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ids) == len(set(ids)) == 20
    fake.close()


def test_tokens_never_logged(env, caplog):
    caplog.set_level(logging.DEBUG)
    fake, client = env()
    tok = login(client, ["portability.all.ongoing"])
    rid = add_ok(client, tok["access_token"], ["profile"])
    check(client, tok["access_token"], rid)
    refresh(client, tok["refresh_token"])
    assert caplog.records  # the fake does log calls...
    text = caplog.text
    assert "act." not in text and "rft." not in text  # ...but never token values


def test_main_serves_until_interrupted():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tiktok_portability_source.fake.api", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("Fake TikTok API listening on http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[-1]
        params = {"client_key": "awfakeclientkey0001", "response_type": "code", "scope": "user.info.basic",
                  "redirect_uri": REDIRECT, "state": "s"}
        resp = httpx.get(f"{url}{AUTHORIZE_PATH}?{urlencode(params)}", timeout=5)
        assert resp.status_code == 302 and "code=" in resp.headers["location"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_revoke_endpoint_sends_authorization_removed_reason_5(env, receiver):
    fake, client = env(FakeConfig(webhook_url=receiver.url))
    tok = login(client, ["portability.activity.ongoing"])
    form = {"client_key": "awfakeclientkey0001", "client_secret": "fake-client-secret", "token": tok["access_token"]}
    assert client.post(REVOKE_PATH, data=form).status_code == 200
    (headers, raw), = receiver.wait(1)
    body = verify(headers, raw)
    assert (body["event"], body["user_openid"], json.loads(body["content"])) == (
        "authorization.removed", USER, {"reason": 5})


def test_undeliverable_webhook_is_retried_then_dropped(env):
    with socket_closed_port() as url:
        fake, client = env(FakeConfig(webhook_url=url, webhook_max_attempts=2, ready_after_polls=0))
        token = login(client, ["portability.activity.ongoing"])["access_token"]
        add_ok(client, token, ["activity"])
        assert fake.flush_webhooks()
        assert [(d.attempt, d.status_code) for d in fake.webhook_deliveries] == [(1, None), (2, None)]
        assert all(d.error for d in fake.webhook_deliveries)


class socket_closed_port:  # noqa: N801 - used as a context manager
    """A loopback URL on which nothing listens."""

    def __enter__(self) -> str:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/webhook"

    def __exit__(self, *exc) -> None:
        self.sock.close()
