"""The webhook receiver on its real server (Starlette on uvicorn), attacked over real sockets on loopback.

Every malformed request gets a 4xx and one log line without a traceback; a correctly signed delivery
still gets its 200 (and its event handled) while >1,000 half-open connections are held open; a
connection that never finishes its request headers is closed after the header deadline.
"""

from __future__ import annotations

import http.client
import json
import logging
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tiktok_portability_source.api.webhooks import (
    WebhookEvent,
    WebhookReceiver,
    serve_webhooks,
    sign,
)

SECRET = "e2e-client-secret"
HALF_OPEN = 1100


def removed_body(open_id: str = "survivor", **extra) -> bytes:
    return json.dumps({"client_key": "k", "event": "authorization.removed", "create_time": int(time.time()),
                       "user_openid": open_id, "content": json.dumps({"reason": 1}), **extra}).encode()


def signed(body: bytes) -> dict[str, str]:
    return {"TikTok-Signature": sign(body, SECRET, int(time.time())), "Content-Type": "application/json"}


class Served:
    def __init__(self, receiver: WebhookReceiver, server) -> None:
        self.receiver, self.server = receiver, server
        parts = urlsplit(server.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.handled: list[WebhookEvent] = []

    def post(self, body: bytes, headers: dict[str, str], path: str = "/", timeout: float = 5.0,
             method: str = "POST") -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def raw(self, payload: bytes, timeout: float = 5.0) -> bytes:
        """Send raw bytes; return everything the server answers before it closes (or the timeout)."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            sock.sendall(payload)
            chunks: list[bytes] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = sock.recv(65536)
                except (TimeoutError, ConnectionResetError):
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)


@pytest.fixture
def served() -> Iterator[Served]:
    handled: list[WebhookEvent] = []
    receiver = WebhookReceiver(SECRET, handled.append)
    server = serve_webhooks("127.0.0.1", 0, receiver)
    s = Served(receiver, server)
    s.handled = handled
    try:
        yield s
    finally:
        server.shutdown()
        receiver.close()


def status_of(raw: bytes) -> int:
    assert raw.startswith(b"HTTP/1."), raw[:200]
    return int(raw.split(b" ", 2)[1])


def assert_one_quiet_line(caplog: pytest.LogCaptureFixture) -> None:
    """One log line at INFO or above for the rejected request, and no traceback anywhere."""
    time.sleep(0.05)  # the server thread logs after it answered
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 1, [(r.name, r.getMessage()) for r in lines]
    assert all(r.exc_info is None and r.levelno < logging.ERROR for r in caplog.records), \
        [(r.name, r.getMessage()) for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# --- the review's findings ---------------------------------------------------------------------


def test_unicode_digit_timestamp_is_401(served: Served, caplog: pytest.LogCaptureFixture):
    body = removed_body()
    good = signed(body)["TikTok-Signature"]
    caplog.set_level(logging.INFO)
    caplog.clear()
    # http.client sends the header as latin-1, so '²' arrives as the byte 0xb2
    status, _ = served.post(body, {"TikTok-Signature": "t=\u00b2," + good.split(",", 1)[1]})
    assert status == 401
    assert_one_quiet_line(caplog)


def test_deep_json_is_400(served: Served, caplog: pytest.LogCaptureFixture):
    body = b"[" * 100_000 + b"]" * 100_000
    # 200 KB: over the body limit, so a 413 is as good as a 400; 30,000 levels fit and reach the parser
    caplog.set_level(logging.INFO)
    small = b"[" * 30_000 + b"]" * 30_000
    caplog.clear()
    status, _ = served.post(small, signed(small))
    assert status == 400
    assert_one_quiet_line(caplog)
    caplog.clear()
    status, _ = served.post(body, signed(body))
    assert 400 <= status < 500
    assert_one_quiet_line(caplog)
    assert served.receiver.wait_idle(5) and served.handled == []


@pytest.mark.parametrize("quoted", [True, False])
def test_5000_digit_create_time_is_400(served: Served, caplog: pytest.LogCaptureFixture, quoted: bool):
    digits = "7" * 5000
    body = ('{"client_key":"k","event":"authorization.removed","create_time":%s,"user_openid":"u",'
            '"content":"{}"}' % (f'"{digits}"' if quoted else digits)).encode()
    caplog.set_level(logging.INFO)
    caplog.clear()
    status, _ = served.post(body, signed(body))
    assert status == 400
    assert_one_quiet_line(caplog)
    assert served.receiver.wait_idle(5) and served.handled == []


def test_oversized_body_is_413(served: Served, caplog: pytest.LogCaptureFixture):
    body = removed_body(pad="x" * (100 * 1024))
    caplog.set_level(logging.INFO)
    caplog.clear()
    status, _ = served.post(body, signed(body))
    assert status == 413
    assert_one_quiet_line(caplog)
    assert served.receiver.wait_idle(5) and served.handled == []


def test_declared_oversize_is_413_without_reading_the_rest(served: Served):
    head = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTikTok-Signature: t=1,s=00\r\n"
            b"Content-Length: 10485760\r\n\r\n")
    started = time.monotonic()
    answer = served.raw(head + b"x" * 1024, timeout=5)  # 1 KiB of a declared 10 MiB, then silence
    assert status_of(answer) == 413
    assert time.monotonic() - started < 3  # answered and closed at once, not after a read timeout


def test_chunked_oversize_is_413(served: Served):
    chunk = b"x" * 16384
    head = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTikTok-Signature: t=1,s=00\r\nTransfer-Encoding: chunked\r\n\r\n"
    payload = head + (b"4000\r\n" + chunk + b"\r\n") * 8 + b"0\r\n\r\n"  # 128 KiB with no Content-Length
    assert status_of(served.raw(payload)) == 413


def raise_nofile(needed: int) -> tuple[int, int] | None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return None
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return soft, hard


def test_half_open_connections_do_not_starve_signed_deliveries(served: Served):
    # both ends of every connection live in this process: two descriptors each, plus headroom
    previous = raise_nofile(2 * HALF_OPEN + 256)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    count = min(HALF_OPEN, (soft - 256) // 2)  # scaled down only where the hard limit forbids 1,100
    assert count >= 200, f"RLIMIT_NOFILE {soft} leaves room for only {count} half-open connections"
    attackers: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        partial = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTikTok-Sig"  # headers never finished
        while len(attackers) < count and time.monotonic() < deadline:
            try:
                sock = socket.create_connection((served.host, served.port), timeout=2)
                sock.sendall(partial)
            except OSError:
                continue
            attackers.append(sock)
        assert len(attackers) == count, f"only {len(attackers)} of {count} connections were accepted"
        time.sleep(0.2)  # let the server take them all in

        body = removed_body("survivor")
        started = time.monotonic()
        status, text = served.post(body, signed(body), timeout=5)
        elapsed = time.monotonic() - started
        assert status == 200 and text == b"ok"
        assert elapsed < 3, f"the signed delivery took {elapsed:.1f}s behind {count} half-open connections"
        assert served.receiver.wait_idle(5)
        assert [e.user_openid for e in served.handled] == ["survivor"]
    finally:
        for sock in attackers:
            sock.close()
        if previous is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, previous)


def test_malformed_http_is_4xx_without_traceback(served: Served, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    cases = [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        b"POST /\xff\xfe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello on the plain port
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTikTok-Signature: t=\xb2,s=00\r\nContent-Length: 2\r\n\r\n{}",
        b"POST / HTTP/1.1\r\nHost: x\r\nTikTok-Signature: \xff\xfe\xfd\r\nContent-Length: 2\r\n\r\n{}",
    ]
    for payload in cases:
        caplog.clear()
        if b"\r\n\r\n" in payload:  # answered requests end the connection at once rather than after keep-alive
            payload = payload.replace(b"\r\n", b"\r\nConnection: close\r\n", 1)
        answer = served.raw(payload, timeout=5)
        if answer:  # a request too broken to parse may also just be closed
            assert 400 <= status_of(answer) < 500, (payload[:60], answer[:120])
        assert all(r.exc_info is None and r.levelno < logging.ERROR for r in caplog.records), \
            (payload[:60], [r.getMessage() for r in caplog.records])
        assert len([r for r in caplog.records if r.levelno >= logging.INFO]) <= 1, \
            (payload[:60], [r.getMessage() for r in caplog.records])
    body = removed_body("after-the-storm")
    assert served.post(body, signed(body), path="/webhook")[0] == 200
    assert served.receiver.wait_idle(5) and [e.user_openid for e in served.handled] == ["after-the-storm"]


def test_healthz(served: Served):
    assert served.post(b"", {}, path="/healthz", method="GET") == (200, b"ok")


# --- the server's own limits (webapp) ----------------------------------------------------------


def test_request_header_deadline_closes_half_open_and_trickling_connections():
    from tiktok_portability_source.api.webapp import (
        ServerLimits,
        build_app,
        serve,
        webhook_routes,
    )

    receiver = WebhookReceiver(SECRET, lambda event: None)
    server = serve(build_app(webhook_routes(receiver)), "127.0.0.1", 0,
                   limits=ServerLimits(request_header_timeout=1.0))
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    try:
        def closed_after(sock: socket.socket, trickle: bool) -> float:
            started = time.monotonic()
            sock.settimeout(0.2)
            while time.monotonic() - started < 6:
                if trickle:
                    try:
                        sock.send(b"a")
                    except OSError:
                        return time.monotonic() - started
                try:
                    if sock.recv(1024) == b"":
                        return time.monotonic() - started
                except TimeoutError:
                    continue
                except OSError:
                    return time.monotonic() - started
            return float("inf")

        with socket.create_connection((host, port)) as idle:  # connects, says nothing
            assert closed_after(idle, trickle=False) < 3
        with socket.create_connection((host, port)) as loris:  # a byte of header every 0.2 s
            loris.sendall(b"POST / HTTP/1.1\r\nX-Slow: ")
            assert closed_after(loris, trickle=True) < 3
        with socket.create_connection((host, port)) as keep:  # a kept-alive connection, then a partial request
            body = removed_body()
            keep.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTikTok-Signature: "
                         + signed(body)["TikTok-Signature"].encode() + b"\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            keep.settimeout(5)
            assert keep.recv(65536).startswith(b"HTTP/1.1 200")
            keep.sendall(b"POST / HTTP/1.1\r\nHo")
            assert closed_after(keep, trickle=True) < 3
    finally:
        server.shutdown()
        receiver.close()


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:  # closed with our request unread
        return True


def test_connections_beyond_the_limit_are_shed_at_once_and_the_slots_come_back():
    from tiktok_portability_source.api.webapp import (
        ServerLimits,
        build_app,
        serve,
        webhook_routes,
    )

    handled: list[WebhookEvent] = []
    receiver = WebhookReceiver(SECRET, handled.append)
    server = serve(build_app(webhook_routes(receiver)), "127.0.0.1", 0,
                   limits=ServerLimits(limit_concurrency=40, request_header_timeout=1.0))
    s = Served(receiver, server)
    held: list[socket.socket] = []
    try:
        for _ in range(60):
            sock = socket.create_connection((s.host, s.port), timeout=2)
            sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
            held.append(sock)
        time.sleep(0.3)
        readable, _, _ = select.select(held, [], [], 0)  # a closed connection reads as EOF at once
        assert len(readable) == 20 and all(map(closed, readable))  # the 20 over the limit were closed at once, the 40 wait for their deadline
        time.sleep(1.5)  # the header deadline frees the 40 slots; the attacker is still connected
        body = removed_body("after-the-deadline")
        assert s.post(body, signed(body), path="/webhook") == (200, b"ok")
        assert receiver.wait_idle(5) and [e.user_openid for e in handled] == ["after-the-deadline"]
    finally:
        for sock in held:
            sock.close()
        server.shutdown()
        receiver.close()


def test_slow_body_is_408():
    from tiktok_portability_source.api.webapp import build_app, serve, webhook_routes

    receiver = WebhookReceiver(SECRET, lambda event: None)
    server = serve(build_app(webhook_routes(receiver, body_timeout=0.5)), "127.0.0.1", 0)
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ev")
            started = time.monotonic()
            answer = sock.recv(65536)
            assert status_of(answer) == 408 and time.monotonic() - started < 3
    finally:
        server.shutdown()
        receiver.close()


def test_routes_compose_into_a_larger_app():
    """The consent app reuses the pieces: its own routes next to the webhook at a path of its choosing."""
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from tiktok_portability_source.api.webapp import build_app, serve, webhook_routes

    handled: list[WebhookEvent] = []
    receiver = WebhookReceiver(SECRET, handled.append)
    home = Route("/", lambda request: PlainTextResponse("consent page"), methods=["GET"])
    server = serve(build_app([home, *webhook_routes(receiver, paths=("/webhook",))]), "127.0.0.1", 0)
    s = Served(receiver, server)
    try:
        assert s.post(b"", {}, path="/", method="GET") == (200, b"consent page")
        assert s.post(b"", {}, path="/healthz", method="GET") == (200, b"ok")
        body = removed_body("composed")
        assert s.post(body, signed(body), path="/webhook") == (200, b"ok")
        assert receiver.wait_idle(5) and [e.user_openid for e in handled] == ["composed"]
    finally:
        server.shutdown()
        receiver.close()
    with pytest.raises(OSError):  # shut down means the port is closed
        socket.create_connection((s.host, s.port), timeout=1).close()


def test_the_package_import_leaves_the_web_stack_alone():
    code = ("import sys, tiktok_portability_source, tiktok_portability_source.api.webhooks; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'starlette', 'uvicorn', 'anyio', 'h11'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
