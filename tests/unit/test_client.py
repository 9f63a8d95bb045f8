"""Portability client: the four endpoints, error mapping, retries, 401 refresh and downloads."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import respx

from tiktok_portability_source import settings
from tiktok_portability_source.api.client import (
    DownloadedArchive,
    PortabilityClient,
    RequestStatus,
    parse_retry_after,
)
from tiktok_portability_source.errors import (
    AccessTokenInvalid,
    AmbiguousAddError,
    APIError,
    DownloadError,
    InternalError,
    InvalidParams,
    RateLimited,
    ScopeNotAuthorized,
    ScopePermissionMissed,
    TransportError,
)

BASE = settings.API_BASE_URL
ADD = BASE + settings.ADD_PATH
CHECK = BASE + settings.CHECK_PATH
DOWNLOAD = BASE + settings.DOWNLOAD_PATH
CANCEL = BASE + settings.CANCEL_PATH
TOKEN = "act.example-access-token-0001"
NEW_TOKEN = "act.example-access-token-0002"
RID = 734500000000001
BIG_RID = 9007199254740993  # 2**53 + 1: not representable as a float


def ok(data: dict | None = None, log_id: str = "LOG-OK") -> httpx.Response:
    body: dict = {"error": {"code": "ok", "message": "", "log_id": log_id}}
    if data is not None:
        body["data"] = data
    return httpx.Response(200, json=body)


def err(status: int, code: str, message: str = "msg", log_id: str = "LOG-ERR", headers=None) -> httpx.Response:
    return httpx.Response(status, headers=headers,
                          json={"data": {}, "error": {"code": code, "message": message, "log_id": log_id}})


def make_client(sleeps: list | None = None, **kw) -> PortabilityClient:
    kw.setdefault("token", lambda: TOKEN)
    kw.setdefault("jitter", lambda ceiling: ceiling)  # deterministic: the full backoff ceiling
    return PortabilityClient(sleep=(sleeps.append if sleeps is not None else (lambda s: None)), **kw)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


# --- add / check / cancel ---------------------------------------------------------------------


@respx.mock
def test_add_success_sends_documented_request():
    route = respx.post(ADD).mock(return_value=ok({"request_id": RID}))
    assert make_client().add(["profile", "activity"]) == RID
    request = route.calls.last.request
    assert request.url.params["fields"] == "request_id"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"data_format": "json", "category_selection_list": ["profile", "activity"]}


@respx.mock
def test_add_keeps_int64_request_id_exactly():
    raw = b'{"data":{"request_id":9007199254740993},"error":{"code":"ok","message":"","log_id":"L"}}'
    respx.post(ADD).mock(return_value=httpx.Response(200, content=raw, headers={"content-type": "application/json"}))
    rid = make_client().add(["video"], data_format="text")
    assert rid == BIG_RID and isinstance(rid, int) and rid != int(float(BIG_RID))


def test_add_validates_before_sending():
    with respx.mock:  # no route: any HTTP call fails the test
        client = make_client()
        with pytest.raises(ValueError):
            client.add([])
        with pytest.raises(ValueError):
            client.add(["likes"])
        with pytest.raises(ValueError):
            client.add(["profile"], data_format="csv")


@respx.mock
def test_add_normalises_plural_direct_messages():
    route = respx.post(ADD).mock(return_value=ok({"request_id": 1}))
    make_client().add(["direct_messages", "direct_message"])
    assert json.loads(route.calls.last.request.content)["category_selection_list"] == ["direct_message"]


@respx.mock
def test_check_parses_status_and_asks_for_all_fields():
    route = respx.post(CHECK).mock(return_value=ok({
        "request_id": BIG_RID, "status": "downloading", "apply_time": 1767268800, "collect_time": 1767268860,
        "data_format": "json", "category_selection_list": ["profile", "direct_messages"], "extra": "ignored"}))
    status = make_client().check(BIG_RID)
    request = route.calls.last.request
    assert request.url.params["fields"].split(",") == list(settings.CHECK_FIELDS)
    assert b"9007199254740993" in request.content and json.loads(request.content) == {"request_id": BIG_RID}
    assert status == RequestStatus(
        request_id=BIG_RID, status="downloading",
        apply_time=datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc),
        collect_time=datetime(2026, 1, 1, 12, 1, tzinfo=timezone.utc),
        data_format="json", categories=("profile", "direct_message"))
    assert status.ready and not status.terminal


@respx.mock
def test_check_tolerates_missing_keys_and_unknown_status():
    respx.post(CHECK).mock(return_value=ok({"status": "Archiving"}))
    status = make_client().check(RID)
    assert status == RequestStatus(request_id=RID, status="archiving")
    assert not status.ready and not status.terminal
    respx.post(CHECK).mock(return_value=ok({"status": "expired"}))
    assert make_client().check(RID).terminal


@respx.mock
def test_cancel_sends_body_and_accepts_error_only_reply():
    route = respx.post(CANCEL).mock(return_value=httpx.Response(
        200, json={"error": {"code": "ok", "message": "", "log_id": "20260101121500EXAMPLE0005"}}))
    assert make_client().cancel(RID) is None
    assert json.loads(route.calls.last.request.content) == {"request_id": RID}
    assert route.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"


@respx.mock
def test_cancel_sends_request_id_in_query_and_body():
    """TikTok's reference lists request_id as a query parameter, its example sends a JSON body: both go."""
    route = respx.post(CANCEL).mock(return_value=ok())
    make_client().cancel(BIG_RID)
    sent = route.calls.last.request
    assert sent.url.params.get_list("request_id") == [str(BIG_RID)]
    assert json.loads(sent.content) == {"request_id": BIG_RID}


def test_request_id_validation():
    client = make_client()
    for bad in (0, -1, True, 2**63, "12a", 1.5):
        with pytest.raises(ValueError):
            client.check(bad)  # type: ignore[arg-type]


# --- error mapping ----------------------------------------------------------------------------


@pytest.mark.parametrize("status, code, cls", [
    (400, "invalid_params", InvalidParams),
    (400, "scope_permission_missed", ScopePermissionMissed),
    (401, "access_token_invalid", AccessTokenInvalid),
    (401, "scope_not_authorized", ScopeNotAuthorized),
    (429, "rate_limit_exceeded", RateLimited),
    (500, "internal_error", InternalError),
    (403, "user_not_in_eea", APIError),
])
@respx.mock
def test_documented_error_codes_map_to_exceptions(status, code, cls):
    respx.post(CHECK).mock(return_value=err(status, code, "Something went wrong.", "LOG-42"))
    with pytest.raises(APIError) as info:
        make_client(max_attempts=1).check(RID)
    exc = info.value
    assert type(exc) is cls
    assert (exc.code, exc.message, exc.log_id, exc.http_status) == (code, "Something went wrong.", "LOG-42", status)
    assert str(exc) == f"{code} (HTTP {status}): Something went wrong. [log_id=LOG-42]"


@respx.mock
def test_json_error_with_http_200_is_an_error():
    route = respx.post(CHECK).mock(return_value=err(200, "invalid_params", "Incorrect `request_id`.", "L200"))
    with pytest.raises(InvalidParams) as info:
        make_client().check(RID)
    assert info.value.http_status == 200 and route.call_count == 1


@respx.mock
def test_non_envelope_bodies_raise_api_errors():
    respx.post(CHECK).mock(return_value=httpx.Response(404, text="not found"))
    with pytest.raises(APIError) as info:
        make_client().check(RID)
    assert info.value.code == "http_404"
    respx.post(CHECK).mock(return_value=httpx.Response(200, json={"data": {}}))
    with pytest.raises(APIError):
        make_client().check(RID)


@respx.mock
def test_server_message_cannot_leak_a_token():
    respx.post(CHECK).mock(return_value=err(400, "invalid_params", f"bad token {TOKEN}"))
    with pytest.raises(InvalidParams) as info:
        make_client().check(RID)
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


# --- retries ----------------------------------------------------------------------------------


@respx.mock
def test_429_honours_retry_after():
    route = respx.post(CHECK).mock(side_effect=[
        err(429, "rate_limit_exceeded", headers={"Retry-After": "7"}),
        err(429, "rate_limit_exceeded", headers={"Retry-After": "2.5"}),
        ok({"status": "pending"}),
    ])
    sleeps: list = []
    assert make_client(sleeps).check(RID).status == "pending"
    assert sleeps == [7.0, 2.5] and route.call_count == 3


@respx.mock
def test_retry_after_zero_or_absent_uses_backoff():
    respx.post(CHECK).mock(side_effect=[
        err(429, "rate_limit_exceeded", headers={"Retry-After": "0"}),
        httpx.Response(429, text="slow down"),
        ok({"status": "pending"}),
    ])
    sleeps: list = []
    make_client(sleeps, backoff_base=0.5).check(RID)
    assert sleeps == [0.5, 1.0]  # exponential, not instant


def test_backoff_uses_full_jitter():
    ceilings: list = []
    client = make_client(jitter=lambda c: ceilings.append(c) or 0.0, backoff_base=1.0, backoff_cap=3.0)
    sleeps: list = []
    client._sleep = sleeps.append
    with respx.mock:
        respx.post(CHECK).mock(return_value=err(500, "internal_error"))
        with pytest.raises(InternalError):
            client.check(RID)
    assert ceilings[:5] == [1.0, 2.0, 3.0, 3.0, 3.0] and sleeps == [0.0] * 5


@respx.mock
def test_5xx_burst_then_success():
    route = respx.post(CANCEL).mock(side_effect=[
        err(500, "internal_error"), httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(503, text=""), ok(),
    ])
    sleeps: list = []
    make_client(sleeps).cancel(RID)
    assert route.call_count == 4 and sleeps == [0.5, 1.0, 2.0]


@respx.mock
def test_gives_up_after_max_attempts():
    route = respx.post(CHECK).mock(return_value=err(500, "internal_error", log_id="LOG-500"))
    sleeps: list = []
    with pytest.raises(InternalError) as info:
        make_client(sleeps, max_attempts=4).check(RID)
    assert route.call_count == 4 and len(sleeps) == 3 and info.value.log_id == "LOG-500"


@respx.mock
def test_total_sleep_is_bounded_by_the_retry_budget():
    respx.post(CHECK).mock(return_value=err(500, "internal_error"))
    sleeps: list = []
    with pytest.raises(InternalError):
        make_client(sleeps, max_attempts=50, backoff_base=4.0, backoff_cap=30.0, max_retry_seconds=20.0).check(RID)
    assert sum(sleeps) == pytest.approx(20.0) and sleeps == [4.0, 8.0, 8.0]


@respx.mock
def test_retry_after_beyond_budget_raises_at_once():
    route = respx.post(CHECK).mock(return_value=err(429, "rate_limit_exceeded", headers={"Retry-After": "600"}))
    sleeps: list = []
    with pytest.raises(RateLimited) as info:
        make_client(sleeps, max_retry_seconds=120).check(RID)
    assert info.value.retry_after == 600.0 and sleeps == [] and route.call_count == 1


@respx.mock
def test_400s_are_never_retried():
    route = respx.post(CHECK).mock(return_value=err(400, "invalid_params"))
    sleeps: list = []
    with pytest.raises(InvalidParams):
        make_client(sleeps).check(RID)
    assert route.call_count == 1 and sleeps == []


@respx.mock
def test_connection_errors_retry_then_transport_error():
    route = respx.post(CHECK).mock(side_effect=[httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                                                ok({"status": "pending"})])
    assert make_client().check(RID).status == "pending" and route.call_count == 3
    respx.post(CHECK).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as info:
        make_client(max_attempts=3).check(RID)
    assert "3 attempt" in str(info.value)


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0") is None and parse_retry_after(None) is None and parse_retry_after("x") is None
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=1767268800.0) == 30.0


# --- add is not blindly retried ---------------------------------------------------------------


@respx.mock
def test_add_read_timeout_is_ambiguous_and_not_retried():
    route = respx.post(ADD).mock(side_effect=httpx.ReadTimeout("no reply"))
    with pytest.raises(AmbiguousAddError):
        make_client().add(["activity"])
    assert route.call_count == 1


@respx.mock
def test_add_5xx_without_envelope_is_ambiguous():
    route = respx.post(ADD).mock(return_value=httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(AmbiguousAddError):
        make_client().add(["activity"])
    assert route.call_count == 1


@respx.mock
def test_add_retries_when_not_processed():
    # internal_error is no longer among these: TikTok may have created the request before failing, and a
    # retry would then be refused (the .single spent) and the request id lost (see the next test)
    route = respx.post(ADD).mock(side_effect=[
        httpx.ConnectError("refused"),
        err(429, "rate_limit_exceeded", headers={"Retry-After": "3"}),
        httpx.Response(429, text="slow down"),
        ok({"request_id": RID}),
    ])
    sleeps: list = []
    assert make_client(sleeps).add(["activity"]) == RID
    assert route.call_count == 4 and sleeps == [0.5, 3.0, 2.0]


@pytest.mark.parametrize("reply", [
    err(500, "internal_error", log_id="L500"),
    err(200, "internal_error", log_id="L500"),  # the envelope decides, whatever the status
    err(503, "some_new_code", log_id="L500"),
    httpx.Response(500, json={"data": {}, "error": {"code": "ok", "message": "", "log_id": "L500"}}),
])
@respx.mock
def test_add_internal_error_or_5xx_is_ambiguous_and_not_retried(reply):
    route = respx.post(ADD).mock(side_effect=[reply, ok({"request_id": RID})])
    with pytest.raises(AmbiguousAddError) as info:
        make_client().add(["activity"])
    assert route.call_count == 1 and "L500" in str(info.value)


@respx.mock
def test_internal_error_is_still_retried_for_check():
    route = respx.post(CHECK).mock(side_effect=[err(500, "internal_error"), ok({"status": "pending"})])
    assert make_client().check(RID).status == "pending" and route.call_count == 2


# --- token refresh on 401 ---------------------------------------------------------------------


@respx.mock
def test_401_refreshes_once_and_retries(caplog):
    route = respx.post(CHECK).mock(side_effect=[err(401, "access_token_invalid", log_id="L401"), ok({"status": "pending"})])
    refreshes: list = []

    def refresh() -> str:
        refreshes.append(1)
        return NEW_TOKEN

    with caplog.at_level(logging.DEBUG):
        assert make_client(on_token_invalid=refresh).check(RID).status == "pending"
    assert len(refreshes) == 1
    assert [c.request.headers["authorization"] for c in route.calls] == [f"Bearer {TOKEN}", f"Bearer {NEW_TOKEN}"]
    assert TOKEN not in caplog.text and NEW_TOKEN not in caplog.text and "L401" in caplog.text


@respx.mock
def test_second_401_raises():
    route = respx.post(CHECK).mock(return_value=err(401, "access_token_invalid"))
    refreshes: list = []
    with pytest.raises(AccessTokenInvalid):
        make_client(on_token_invalid=lambda: refreshes.append(1) or NEW_TOKEN).check(RID)
    assert len(refreshes) == 1 and route.call_count == 2


@respx.mock
def test_scope_not_authorized_does_not_refresh():
    respx.post(ADD).mock(return_value=err(401, "scope_not_authorized"))
    refreshes: list = []
    with pytest.raises(ScopeNotAuthorized):
        make_client(on_token_invalid=lambda: refreshes.append(1) or NEW_TOKEN).add(["activity"])
    assert refreshes == []


# --- download ---------------------------------------------------------------------------------


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@respx.mock
def test_download_streams_to_disk_with_checksum(tmp_path):
    payload = zip_bytes({"user_data.json": os.urandom(3 * 1024 * 1024), "readme.txt": b"hello"})
    route = respx.post(DOWNLOAD).mock(return_value=httpx.Response(
        200, content=payload, headers={"content-type": "application/zip"}))
    dest = tmp_path / "archives" / f"{BIG_RID}.zip"
    result = make_client().download(BIG_RID, dest, verify_crc=True)
    assert result == DownloadedArchive(path=dest, sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))
    assert dest.read_bytes() == payload
    assert json.loads(route.calls.last.request.content) == {"request_id": BIG_RID}
    assert route.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"
    assert _files(dest.parent) == [dest.name]


@respx.mock
def test_download_json_error_instead_of_zip(tmp_path):
    respx.post(DOWNLOAD).mock(return_value=httpx.Response(400, json={"data": {}, "error": {
        "code": "invalid_params", "http_status_code": 400,
        "message": "Incorrect `request_id`. Please validate the request.", "log_id": "20260101121000EXAMPLE0004"}}))
    dest = tmp_path / "a.zip"
    with pytest.raises(InvalidParams) as info:
        make_client().download(RID, dest)
    assert info.value.log_id == "20260101121000EXAMPLE0004" and info.value.http_status == 400
    assert _files(tmp_path) == []


@respx.mock
def test_download_json_error_with_http_200(tmp_path):
    respx.post(DOWNLOAD).mock(return_value=err(200, "scope_not_authorized", log_id="L-DL"))
    with pytest.raises(ScopeNotAuthorized):
        make_client().download(RID, tmp_path / "a.zip")
    assert _files(tmp_path) == []


@respx.mock
def test_download_not_zip_not_json(tmp_path):
    respx.post(DOWNLOAD).mock(return_value=httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(DownloadError) as info:
        make_client().download(RID, tmp_path / "a.zip")
    assert not info.value.retryable and _files(tmp_path) == []


@respx.mock
def test_truncated_zip_raises_and_leaves_no_file(tmp_path):
    payload = zip_bytes({"user_data.json": os.urandom(200_000)})
    respx.post(DOWNLOAD).mock(return_value=httpx.Response(200, content=payload[: len(payload) // 2]))
    dest = tmp_path / "a.zip"
    with pytest.raises(DownloadError) as info:
        make_client().download(RID, dest)
    assert info.value.retryable and "truncated" in str(info.value)
    assert _files(tmp_path) == []


@respx.mock
def test_download_over_max_bytes(tmp_path):
    payload = zip_bytes({"big.bin": os.urandom(300_000)})
    respx.post(DOWNLOAD).mock(return_value=httpx.Response(200, content=payload))
    with pytest.raises(DownloadError) as info:
        make_client().download(RID, tmp_path / "a.zip", max_bytes=100_000)
    assert "exceeds 100000 bytes" in str(info.value) and not info.value.retryable
    assert _files(tmp_path) == []


class _DroppingStream(httpx.SyncByteStream):
    """Yields part of the body, then the connection drops."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self):
        yield self.data
        raise httpx.ReadError("connection reset by peer")


@respx.mock
def test_dropped_download_is_retried_from_the_start(tmp_path):
    payload = zip_bytes({"user_data.json": os.urandom(100_000)})
    route = respx.post(DOWNLOAD).mock(side_effect=[
        httpx.Response(200, stream=_DroppingStream(payload[:50_000])),
        httpx.Response(200, content=payload),
    ])
    sleeps: list = []
    result = make_client(sleeps).download(RID, tmp_path / "a.zip")
    assert route.call_count == 2 and len(sleeps) == 1
    assert result.sha256 == hashlib.sha256(payload).hexdigest() and result.size == len(payload)
    assert _files(tmp_path) == ["a.zip"]


@respx.mock
def test_download_refreshes_token_on_401(tmp_path):
    payload = zip_bytes({"a.json": b"{}"})
    route = respx.post(DOWNLOAD).mock(side_effect=[err(401, "access_token_invalid"), httpx.Response(200, content=payload)])
    make_client(on_token_invalid=lambda: NEW_TOKEN).download(RID, tmp_path / "a.zip")
    assert route.calls.last.request.headers["authorization"] == f"Bearer {NEW_TOKEN}"


@respx.mock
def test_failed_download_keeps_previous_file(tmp_path):
    dest = tmp_path / "a.zip"
    dest.write_bytes(b"previous")
    respx.post(DOWNLOAD).mock(return_value=err(400, "invalid_params"))
    with pytest.raises(InvalidParams):
        make_client().download(RID, dest)
    assert dest.read_bytes() == b"previous"


# --- secrets ----------------------------------------------------------------------------------


@respx.mock
def test_tokens_never_logged_during_retries(caplog):
    respx.post(CHECK).mock(side_effect=[
        err(429, "rate_limit_exceeded", log_id="LOG-RL", headers={"Retry-After": "1"}),
        httpx.ConnectError("refused"),
        err(401, "access_token_invalid"),
        ok({"status": "pending"}),
    ])
    with caplog.at_level(logging.DEBUG):
        client = make_client(on_token_invalid=lambda: NEW_TOKEN)
        client.check(RID)
    assert "LOG-RL" in caplog.text and settings.CHECK_PATH in caplog.text and "attempt 1/6" in caplog.text
    assert TOKEN not in caplog.text and NEW_TOKEN not in caplog.text
    assert TOKEN not in repr(client)
