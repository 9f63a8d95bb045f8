"""TikTok webhooks: ``TikTok-Signature`` verification, event parsing and a small WSGI receiver.

TikTok retries a delivery for 72 hours unless it gets HTTP 200 quickly, and delivers at least
once (docs/tiktok-api.md §8), so the receiver verifies, answers at once and hands each distinct
event to a background worker exactly once per process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import socketserver
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .. import settings
from ..errors import WebhookPayloadError, WebhookSignatureError
from ..redaction import redact

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "TikTok-Signature"
MAX_BODY_BYTES = 1024 * 1024

EVENT_DOWNLOAD_READY = "portability.download.ready"
EVENT_AUTHORIZATION_REMOVED = "authorization.removed"


# --- signatures ------------------------------------------------------------------------------


def _digest(body: bytes, secret: str, timestamp: str) -> str:
    payload = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The ``TikTok-Signature`` header value ``t=<ts>,s=<hex hmac>`` for a raw body (§8.5)."""
    return f"t={int(timestamp)},s={_digest(body, secret, str(int(timestamp)))}"


def verify_signature(
    header: str | None,
    body: bytes,
    secret: str,
    *,
    tolerance: float | None = settings.WEBHOOK_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check the header against the **raw** body; return its timestamp or raise
    ``WebhookSignatureError`` (missing header/part, mismatch, stale). ``tolerance=None`` skips
    the age check."""
    if not secret:
        raise ValueError("a client secret is required to verify webhooks")
    if not header or not header.strip():
        raise WebhookSignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp: str | None = None
    signatures: list[str] = []
    for element in header.split(","):
        key, sep, value = element.strip().partition("=")
        if not sep:
            continue
        if key.strip() == "t":
            timestamp = value.strip()
        elif key.strip() == "s":
            signatures.append(value.strip())
    if timestamp is None:
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} has no t= part")
    if not signatures:
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} has no s= part")
    if not timestamp.isdigit():
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} timestamp is not a number")
    expected = _digest(body, secret, timestamp).encode("ascii")
    if not any(hmac.compare_digest(expected, s.lower().encode("utf-8", "replace")) for s in signatures):
        raise WebhookSignatureError("signature mismatch")
    ts = int(timestamp)
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - ts) > tolerance:
            raise WebhookSignatureError(
                f"stale signature: timestamp is {abs(current - ts):.0f}s away from now "
                f"(tolerance {tolerance:.0f}s)"
            )
    return ts


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookEvent:
    """A delivered event; ``content`` is the decoded inner JSON document."""

    event: str
    client_key: str | None
    create_time: int | None
    user_openid: str | None = None
    content: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # the doc example even puts a token in user_openid
        return redact(
            f"WebhookEvent(event={self.event!r}, client_key={self.client_key!r}, "
            f"create_time={self.create_time!r}, user_openid={self.user_openid!r}, "
            f"content={self.content!r})"
        )

    @property
    def request_id(self) -> int | None:
        """``content.request_id`` as an int64, when present."""
        value = self.content.get("request_id")
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return None

    def event_key(self) -> str:
        """Idempotency key: ``event`` + request_id, else ``event`` + open_id + create_time."""
        rid = self.request_id
        if rid is not None:
            return f"{self.event}:{rid}"
        return f"{self.event}:{self.user_openid or '-'}:{self.create_time or '-'}"


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise WebhookPayloadError("create_time is not an integer")


def parse_event(body: bytes) -> WebhookEvent:
    """Parse the common body (§8.2); ``content`` is a JSON string decoded a second time."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookPayloadError("body is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookPayloadError("body is not a JSON object")
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise WebhookPayloadError("missing event name")
    raw_content = data.get("content")
    if raw_content in (None, ""):
        content: Any = {}
    elif isinstance(raw_content, str):
        try:
            content = json.loads(raw_content)
        except ValueError:
            raise WebhookPayloadError("content is not a JSON document") from None
    else:
        content = raw_content  # tolerate an already-decoded object
    if not isinstance(content, dict):
        raise WebhookPayloadError("content is not a JSON object")
    openid = data.get("user_openid")
    client_key = data.get("client_key")
    return WebhookEvent(
        event=event,
        client_key=str(client_key) if client_key is not None else None,
        create_time=_int_or_none(data.get("create_time")),
        user_openid=str(openid) if openid not in (None, "") else None,
        content=content,
    )


# --- receiver --------------------------------------------------------------------------------


class WebhookReceiver:
    """WSGI app: verify, answer 200 at once, process each distinct event once in a worker.

    401 for a bad signature, 400 for a malformed body, 405 for non-POST, 413 for huge bodies.
    A handler failure is logged and forgets the event key, so a redelivery gets another chance.
    """

    def __init__(
        self,
        secret: str,
        handler: Callable[[WebhookEvent], None],
        tolerance: float | None = settings.WEBHOOK_TOLERANCE_SECONDS,
        *,
        clock: Callable[[], float] = time.time,
        max_remembered: int = 10_000,
    ) -> None:
        if not secret:
            raise ValueError("a client secret is required to verify webhooks")
        self._secret = secret
        self._handler = handler
        self.tolerance = tolerance
        self._clock = clock
        self._max_remembered = max_remembered
        self._seen: "OrderedDict[str, None]" = OrderedDict()
        self._seen_lock = threading.Lock()
        self._queue: "queue.Queue[WebhookEvent | None]" = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="tiktok-webhooks", daemon=True)
        self._worker.start()

    def __repr__(self) -> str:
        return f"WebhookReceiver(tolerance={self.tolerance!r})"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, text = self.handle(environ)
        payload = text.encode("utf-8")
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", str(len(payload)))])
        return [payload]

    def handle(self, environ: dict[str, Any]) -> tuple[str, str]:
        """Process one WSGI request; return (status line, short body)."""
        if environ.get("REQUEST_METHOD", "GET").upper() != "POST":
            return "405 Method Not Allowed", "POST only"
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return "400 Bad Request", "bad Content-Length"
        if length > MAX_BODY_BYTES:
            return "413 Payload Too Large", "body too large"
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        try:
            verify_signature(environ.get("HTTP_TIKTOK_SIGNATURE"), body, self._secret,
                             tolerance=self.tolerance, now=self._clock())
        except WebhookSignatureError as exc:
            log.warning("rejected webhook: %s", exc)
            return "401 Unauthorized", str(exc)
        try:
            event = parse_event(body)
        except WebhookPayloadError as exc:
            log.warning("malformed webhook: %s", exc)
            return "400 Bad Request", str(exc)
        key = event.event_key()
        with self._seen_lock:
            if key in self._seen:
                log.info("duplicate webhook %s ignored", key)
                return "200 OK", "duplicate"
            self._seen[key] = None
            while len(self._seen) > self._max_remembered:
                self._seen.popitem(last=False)
        self._queue.put(event)
        return "200 OK", "ok"

    def _work(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                try:
                    self._handler(event)
                except Exception:
                    log.exception("webhook handler failed for %s", event.event_key())
                    with self._seen_lock:
                        self._seen.pop(event.event_key(), None)
            finally:
                self._queue.task_done()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has been handled (tests, graceful shutdown)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float | None = 5.0) -> None:
        """Finish queued events, then stop the worker."""
        self._queue.put(None)
        self._worker.join(timeout)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("webhook %s", format % args)


class WebhookServer(socketserver.ThreadingMixIn, WSGIServer):
    """Threaded wsgiref server; ``shutdown()`` stops it and closes the socket."""

    daemon_threads = True
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()


def serve_webhooks(host: str, port: int, receiver: WebhookReceiver) -> WebhookServer:
    """Start serving ``receiver`` in a background thread (port 0 picks a free port).

    TikTok only calls HTTPS URLs: put this behind a TLS-terminating proxy in production.
    """
    server = make_server(host, port, receiver, server_class=WebhookServer, handler_class=_QuietHandler)
    assert isinstance(server, WebhookServer)
    server._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="webhook-server",
                                      daemon=True)
    server._thread.start()
    return server


__all__ = [
    "EVENT_AUTHORIZATION_REMOVED",
    "EVENT_DOWNLOAD_READY",
    "SIGNATURE_HEADER",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookReceiver",
    "WebhookServer",
    "WebhookSignatureError",
    "parse_event",
    "serve_webhooks",
    "sign",
    "verify_signature",
]
