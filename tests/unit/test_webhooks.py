"""Webhooks: the §8.5 signature vector, rejection reasons, parsing and the idempotent receiver."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from wsgiref.util import setup_testing_defaults

import pytest

from tiktok_portability_source.api.webhooks import (
    EVENT_AUTHORIZATION_REMOVED,
    EVENT_DOWNLOAD_READY,
    WebhookEvent,
    WebhookPayloadError,
    WebhookReceiver,
    WebhookSignatureError,
    parse_event,
    serve_webhooks,
    sign,
    verify_signature,
)

SECRET = "example-client-secret"
T = 1767272400
# docs/tiktok-api.md §8: TikTok's example payload on one line with no spaces
VECTOR_BODY = (
    b'{"client_key":"awexampleclientkey01","event":"portability.download.ready",'
    b'"create_time":1767272400,"content":"{\\"request_id\\":734500000000001}"}'
)
VECTOR_SIG = "1dedefb2d7dfd14c6fde6fd47afce0517f499159c5e18e249337056c68d08092"
REMOVED_BODY = json.dumps({
    "client_key": "awexampleclientkey01", "event": "authorization.removed", "create_time": 1767276000,
    "user_openid": "example-open-id-0001", "content": json.dumps({"reason": 1})}).encode()


def test_signature_test_vector():
    assert VECTOR_BODY.decode() == (
        '{"client_key":"awexampleclientkey01","event":"portability.download.ready",'
        '"create_time":1767272400,"content":"{\\"request_id\\":734500000000001}"}')
    assert sign(VECTOR_BODY, SECRET, T) == f"t={T},s={VECTOR_SIG}"
    assert verify_signature(f"t={T},s={VECTOR_SIG}", VECTOR_BODY, SECRET, now=T + 10) == T
    # whitespace around parts and upper-case hex are tolerated
    assert verify_signature(f" t={T} , s={VECTOR_SIG.upper()} ", VECTOR_BODY, SECRET, now=T) == T


def test_tampered_body_is_rejected():
    tampered = VECTOR_BODY.replace(b"734500000000001", b"734500000000002")
    with pytest.raises(WebhookSignatureError, match="mismatch"):
        verify_signature(f"t={T},s={VECTOR_SIG}", tampered, SECRET, now=T)
    with pytest.raises(WebhookSignatureError, match="mismatch"):  # re-serialised JSON is not the raw body
        verify_signature(f"t={T},s={VECTOR_SIG}", json.dumps(json.loads(VECTOR_BODY)).encode(), SECRET, now=T)
    with pytest.raises(WebhookSignatureError, match="mismatch"):
        verify_signature(f"t={T},s={VECTOR_SIG}", VECTOR_BODY, "other-secret", now=T)
    with pytest.raises(WebhookSignatureError, match="mismatch"):  # timestamp is part of the payload
        verify_signature(f"t={T + 1},s={VECTOR_SIG}", VECTOR_BODY, SECRET, now=T)


def test_stale_timestamp_is_rejected():
    header = f"t={T},s={VECTOR_SIG}"
    with pytest.raises(WebhookSignatureError, match="stale"):
        verify_signature(header, VECTOR_BODY, SECRET, now=T + 301)
    with pytest.raises(WebhookSignatureError, match="stale"):
        verify_signature(header, VECTOR_BODY, SECRET, now=T - 301)
    assert verify_signature(header, VECTOR_BODY, SECRET, now=T + 300) == T
    assert verify_signature(header, VECTOR_BODY, SECRET, now=T + 1000, tolerance=3600) == T
    assert verify_signature(header, VECTOR_BODY, SECRET, now=T + 10**6, tolerance=None) == T


@pytest.mark.parametrize("header, reason", [
    (None, "missing"),
    ("", "missing"),
    (f"s={VECTOR_SIG}", "no t="),
    (f"t={T}", "no s="),
    (f"t=abc,s={VECTOR_SIG}", "not a number"),
    ("garbage", "no t="),
])
def test_malformed_headers(header, reason):
    with pytest.raises(WebhookSignatureError, match=reason):
        verify_signature(header, VECTOR_BODY, SECRET, now=T)


def test_parse_download_ready():
    event = parse_event(VECTOR_BODY)
    assert event == WebhookEvent(event=EVENT_DOWNLOAD_READY, client_key="awexampleclientkey01",
                                 create_time=T, user_openid=None, content={"request_id": 734500000000001})
    assert event.request_id == 734500000000001
    assert event.event_key() == "portability.download.ready:734500000000001"


def test_parse_authorization_removed():
    event = parse_event(REMOVED_BODY)
    assert event.event == EVENT_AUTHORIZATION_REMOVED and event.user_openid == "example-open-id-0001"
    assert event.content == {"reason": 1} and event.request_id is None
    assert event.event_key() == "authorization.removed:example-open-id-0001:1767276000"


def test_event_repr_masks_token_shaped_openid():
    body = json.dumps({"event": "authorization.removed", "create_time": 1, "user_openid": "act.example12345",
                       "content": "{}"}).encode()
    assert "act.example12345" not in repr(parse_event(body))


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"content":"{}"}', b'{"event":"x","content":"{bad"}',
                                  b'{"event":"x","content":"[1]"}', b'{"event":"x","create_time":"soon"}'])
def test_malformed_payloads(body):
    with pytest.raises(WebhookPayloadError):
        parse_event(body)


# --- receiver ---------------------------------------------------------------------------------


def call(app: WebhookReceiver, body: bytes, header: str | None, method: str = "POST") -> tuple[str, bytes]:
    environ: dict = {"REQUEST_METHOD": method, "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    setup_testing_defaults(environ)
    if header is not None:
        environ["HTTP_TIKTOK_SIGNATURE"] = header
    captured: dict = {}

    def start_response(status, headers):
        captured["status"] = status

    out = b"".join(app(environ, start_response))
    return captured["status"], out


@pytest.fixture
def receiver():
    handled: list[WebhookEvent] = []
    app = WebhookReceiver(SECRET, handled.append, clock=lambda: T + 5)
    app.handled = handled  # type: ignore[attr-defined]
    yield app
    app.close()


def test_receiver_accepts_and_dedupes(receiver):
    header = sign(VECTOR_BODY, SECRET, T)
    assert call(receiver, VECTOR_BODY, header) == ("200 OK", b"ok")
    assert call(receiver, VECTOR_BODY, header) == ("200 OK", b"duplicate")  # at-least-once redelivery
    later = sign(VECTOR_BODY, SECRET, T + 3)  # a retry re-signed later is still the same event
    assert call(receiver, VECTOR_BODY, later)[0] == "200 OK"
    assert receiver.wait_idle(5)
    assert [e.event_key() for e in receiver.handled] == ["portability.download.ready:734500000000001"]


def test_receiver_answers_200_for_unknown_events(receiver):
    body = json.dumps({"client_key": "k", "event": "video.publish.completed", "create_time": T,
                       "user_openid": "u1", "content": "{}"}).encode()
    assert call(receiver, body, sign(body, SECRET, T))[0] == "200 OK"
    assert receiver.wait_idle(5)
    assert receiver.handled[0].event == "video.publish.completed"


def test_receiver_rejections(receiver):
    assert call(receiver, VECTOR_BODY, None)[0] == "401 Unauthorized"
    assert call(receiver, VECTOR_BODY + b" ", sign(VECTOR_BODY, SECRET, T))[0] == "401 Unauthorized"
    assert call(receiver, VECTOR_BODY, sign(VECTOR_BODY, SECRET, T - 3600))[0] == "401 Unauthorized"
    bad = b'{"event": 5}'
    assert call(receiver, bad, sign(bad, SECRET, T))[0] == "400 Bad Request"
    assert call(receiver, b"", None, method="GET")[0] == "405 Method Not Allowed"
    assert receiver.wait_idle(5) and receiver.handled == []


def test_handler_failure_allows_redelivery():
    attempts: list[str] = []
    done = threading.Event()

    def flaky(event: WebhookEvent) -> None:
        attempts.append(event.event_key())
        if len(attempts) == 1:
            raise RuntimeError("database busy")
        done.set()

    app = WebhookReceiver(SECRET, flaky, clock=lambda: T)
    try:
        header = sign(VECTOR_BODY, SECRET, T)
        call(app, VECTOR_BODY, header)
        assert app.wait_idle(5)
        call(app, VECTOR_BODY, header)
        assert done.wait(5)
    finally:
        app.close()
    assert len(attempts) == 2


def test_serve_webhooks_on_loopback():
    handled: list[WebhookEvent] = []
    app = WebhookReceiver(SECRET, handled.append, tolerance=None)
    server = serve_webhooks("127.0.0.1", 0, app)
    try:
        request = urllib.request.Request(server.url + "webhook", data=REMOVED_BODY, method="POST", headers={
            "TikTok-Signature": sign(REMOVED_BODY, SECRET, 1767276000), "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        bad = urllib.request.Request(server.url, data=REMOVED_BODY, method="POST",
                                     headers={"TikTok-Signature": "t=1,s=00"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(bad, timeout=5)
        assert info.value.code == 401
        assert app.wait_idle(5)
    finally:
        server.shutdown()
        app.close()
    assert [e.user_openid for e in handled] == ["example-open-id-0001"]


# --- hostile input: every malformed request is a 4xx, never an exception --------------------------


def deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def signed(body: bytes, timestamp: int = T) -> str:
    return sign(body, SECRET, timestamp)


@pytest.mark.parametrize("timestamp", ["\u00b2", "\u0663", "\uff11767272400", "", "-5", "1" * 13])
def test_signature_timestamp_must_be_ascii_digits(timestamp):
    # str.isdigit() takes '²', Arabic-Indic and full-width digits, which the ascii-only HMAC payload then chokes on
    with pytest.raises(WebhookSignatureError):
        verify_signature(f"t={timestamp},s={VECTOR_SIG}", VECTOR_BODY, SECRET, now=T)


def test_unicode_digit_timestamp_is_401(receiver):
    assert call(receiver, VECTOR_BODY, f"t=\u00b2,s={VECTOR_SIG}")[0] == "401 Unauthorized"


def test_deep_json_is_a_payload_error(receiver):
    with pytest.raises(WebhookPayloadError):
        parse_event(deep_json())
    inner = json.dumps({"event": "x", "content": deep_json(5_000).decode()}).encode()
    with pytest.raises(WebhookPayloadError):  # the inner content document is bounded too
        parse_event(inner)
    body = deep_json(30_000)  # 60 KB: within the body limit, so it reaches the parser
    assert call(receiver, body, signed(body))[0] == "400 Bad Request"
    assert call(receiver, inner, signed(inner))[0] == "400 Bad Request"


@pytest.mark.parametrize("create_time", ['"' + "7" * 5000 + '"', "7" * 5000, '"' + "9" * 40 + '"', "9" * 40,
                                         "-1", '"\u00b2"', "1e400", str(10**15)])
def test_create_time_is_bounded(receiver, create_time):
    body = ('{"event":"authorization.removed","user_openid":"u","create_time":%s,"content":"{}"}'
            % create_time).encode()
    with pytest.raises(WebhookPayloadError):
        parse_event(body)
    assert call(receiver, body, signed(body))[0] == "400 Bad Request"


@pytest.mark.parametrize("request_id", ['"' + "7" * 5000 + '"', '"\u00b2"', "-3", '"' + "9" * 30 + '"'])
def test_unusable_request_id_falls_back_to_the_open_id_key(receiver, request_id):
    content = json.dumps('{"request_id":%s}' % request_id)
    body = ('{"event":"portability.download.ready","user_openid":"u","create_time":%d,"content":%s}'
            % (T, content)).encode()
    assert parse_event(body).request_id is None
    assert call(receiver, body, signed(body)) == ("200 OK", b"ok")
    assert receiver.wait_idle(5)
    assert [e.event_key() for e in receiver.handled] == [f"portability.download.ready:u:{T}"]


def test_oversized_body_is_413(receiver):
    filler = "x" * (100 * 1024)
    body = json.dumps({"event": "x", "create_time": T, "content": "{}", "pad": filler}).encode()
    assert call(receiver, body, signed(body))[0] == "413 Payload Too Large"
    assert receiver.wait_idle(5) and receiver.handled == []


def test_handle_request_is_framework_independent(receiver):
    header = signed(VECTOR_BODY)
    assert receiver.handle_request("POST", {"TikTok-Signature": header}, VECTOR_BODY) == (200, "ok")
    assert receiver.handle_request("POST", {"tiktok-signature": header}, VECTOR_BODY) == (200, "duplicate")
    assert receiver.handle_request("GET", {}, b"")[0] == 405
    assert receiver.handle_request("POST", {}, VECTOR_BODY)[0] == 401
    assert receiver.handle_request("POST", {"TikTok-Signature": header}, b"x" * (receiver.max_body_bytes + 1))[0] == 413
    assert receiver.check_length("POST", str(receiver.max_body_bytes + 1)) == (413, "body too large")
    assert receiver.check_length("POST", "12") is None and receiver.check_length("POST", None) is None
    assert receiver.check_length("POST", "\u00b2")[0] == 400 and receiver.check_length("POST", "-1")[0] == 400
    assert receiver.wait_idle(5) and len(receiver.handled) == 1


def test_malformed_requests_log_one_line_without_traceback(receiver, caplog):
    caplog.set_level("DEBUG")
    hostile = [(VECTOR_BODY, f"t=\u00b2,s={VECTOR_SIG}"), (deep_json(), signed(deep_json())),
               (b'{"event":"x","create_time":"' + b"7" * 5000 + b'"}', None)]
    for body, header in hostile:
        caplog.clear()
        status, _ = call(receiver, body, header if header is not None else signed(body))
        assert status.startswith("4")
        info = [r for r in caplog.records if r.levelno >= 20]
        assert len(info) == 1 and info[0].exc_info is None, [r.getMessage() for r in info]
