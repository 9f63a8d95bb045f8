"""TikTok webhooks: ``TikTok-Signature`` verification, event parsing and the receiver.

TikTok retries a delivery for 72 hours unless it gets HTTP 200 quickly, and delivers at least
once (docs/tiktok-api.md §8), so the receiver verifies, answers at once and hands each distinct
event to a background worker exactly once per process.

The receiver's request handling is framework-independent (``WebhookReceiver.handle_request``:
method, headers and raw body in, status and a short text out); ``serve_webhooks`` puts it on
Starlette and uvicorn (``webapp``), with timeouts and limits. Every malformed request is a 4xx
and one log line: the signature's timestamp must be ASCII digits, the body is bounded
(``MAX_BODY_BYTES``), JSON nesting is bounded (orjson stops at 1024 levels) and so are the
integers taken from it. This module imports neither Starlette nor uvicorn.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

import orjson

from .. import settings
from ..errors import WebhookPayloadError, WebhookSignatureError
from ..redaction import redact

if TYPE_CHECKING:
    from .webapp import RunningServer

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "TikTok-Signature"
# TikTok's bodies are a few hundred bytes; anything past this is answered 413 unread
MAX_BODY_BYTES = 64 * 1024
# the signature's t= part: ASCII digits only (str.isdigit() also takes '²' and other scripts' digits)
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DECIMAL = re.compile(r"[0-9]{1,19}")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
# create_time is Unix seconds: anything outside 1970 .. year 5138 is not a time
MAX_CREATE_TIME = 10**11
MAX_REQUEST_ID = 2**63 - 1  # request_id is an int64

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
    if not _TIMESTAMP.fullmatch(timestamp):
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
        """``content.request_id`` as a non-negative int64, when present (else None)."""
        value = _bounded_int(self.content.get("request_id"), MAX_REQUEST_ID)
        return None if value is _UNUSABLE else value

    def event_key(self) -> str:
        """Idempotency key: ``event`` + request_id, else ``event`` + open_id + create_time."""
        rid = self.request_id
        if rid is not None:
            return f"{self.event}:{rid}"
        return f"{self.event}:{self.user_openid or '-'}:{self.create_time or '-'}"


_UNUSABLE = object()


def _bounded_int(value: Any, maximum: int) -> Any:
    """An int (or a string of ASCII digits) in ``0..maximum``; None for None; ``_UNUSABLE`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        return _UNUSABLE
    if isinstance(value, str):
        text = value.strip()
        if not _DECIMAL.fullmatch(text):
            return _UNUSABLE
        value = int(text)
    if isinstance(value, int) and 0 <= value <= maximum:
        return value
    return _UNUSABLE


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    result = _bounded_int(value, MAX_CREATE_TIME)
    if result is _UNUSABLE:
        raise WebhookPayloadError("create_time is not a Unix time in seconds")
    return result


def _loads(document: bytes | str, what: str) -> Any:
    # orjson bounds nesting (1024 levels) and numbers (a 5,000-digit one is rejected, a 30-digit one
    # becomes a float): a hostile body is a JSONDecodeError, never a RecursionError
    try:
        return orjson.loads(document)
    except (ValueError, RecursionError):
        raise WebhookPayloadError(f"{what} is not JSON (or nested too deeply)") from None


def parse_event(body: bytes) -> WebhookEvent:
    """Parse the common body (§8.2); ``content`` is a JSON string decoded a second time."""
    data = _loads(body, "body")
    if not isinstance(data, dict):
        raise WebhookPayloadError("body is not a JSON object")
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise WebhookPayloadError("missing event name")
    raw_content = data.get("content")
    if raw_content in (None, ""):
        content: Any = {}
    elif isinstance(raw_content, str):
        content = _loads(raw_content, "content")
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


Reply = tuple[int, str]
"""An answer: HTTP status code and a short plain-text body."""

_PHRASES = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 413: "Payload Too Large"}


def status_line(code: int) -> str:
    """``"413 Payload Too Large"``: the WSGI status line for a code."""
    return f"{code} {_PHRASES.get(code, 'Error')}"


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """``headers[name]`` case-insensitively (a Starlette ``Headers`` or a plain dict)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, item in headers.items():
        if key.lower() == wanted:
            return item
    return None


class WebhookReceiver:
    """Verify, answer 200 at once, process each distinct event once in a worker.

    ``handle_request`` is the whole of it, free of any web framework: 401 for a bad signature,
    400 for a malformed body, 405 for non-POST, 413 for a body over ``max_body_bytes``, each with
    one log line and no traceback. ``check_length`` answers before a body is read. The receiver is
    also a WSGI app (``__call__``); ``webapp.webhook_routes`` puts it on Starlette.
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
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if not secret:
            raise ValueError("a client secret is required to verify webhooks")
        self._secret = secret
        self._handler = handler
        self.tolerance = tolerance
        self.max_body_bytes = max_body_bytes
        self._clock = clock
        self._max_remembered = max_remembered
        self._seen: "OrderedDict[str, None]" = OrderedDict()
        self._seen_lock = threading.Lock()
        self._queue: "queue.Queue[WebhookEvent | None]" = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="tiktok-webhooks", daemon=True)
        self._worker.start()

    def __repr__(self) -> str:
        return f"WebhookReceiver(tolerance={self.tolerance!r})"

    # --- framework-independent request handling ---------------------------------------------

    @staticmethod
    def _refuse(code: int, reason: str) -> Reply:
        log.warning("rejected webhook (%d): %s", code, reason)
        return code, reason

    def check_length(self, method: str, content_length: str | None) -> Reply | None:
        """The answer due before reading any body (405, 400 for an unreadable ``Content-Length``,
        413 beyond ``max_body_bytes``), or None to go on reading."""
        if method.upper() != "POST":
            log.info("webhook endpoint refused a %r request", method[:16])
            return 405, "POST only"
        if content_length is None:
            return None
        text = content_length.strip()
        if not _CONTENT_LENGTH.fullmatch(text):
            return self._refuse(400, "bad Content-Length")
        if int(text) > self.max_body_bytes:
            return self._refuse(413, "body too large")
        return None

    def handle_request(self, method: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one delivery: its method, its headers and its **raw** body in, (status, text) out.

        Never raises for anything a sender can send; a distinct, verified event is queued for the handler."""
        early = self.check_length(method, None)
        if early is not None:
            return early
        if len(body) > self.max_body_bytes:
            return self._refuse(413, "body too large")
        try:
            verify_signature(header_value(headers, SIGNATURE_HEADER), body, self._secret,
                             tolerance=self.tolerance, now=self._clock())
        except WebhookSignatureError as exc:
            return self._refuse(401, str(exc))
        except Exception as exc:  # nothing a sender sends may become a 500; the detail is for debugging
            log.debug("unforeseen signature failure", exc_info=True)
            return self._refuse(401, f"unreadable {SIGNATURE_HEADER} ({type(exc).__name__})")
        try:
            event = parse_event(body)
            key = event.event_key()
        except WebhookPayloadError as exc:
            return self._refuse(400, str(exc))
        except Exception as exc:  # as above: a verified but unforeseen body is still the sender's fault
            log.debug("unforeseen payload failure", exc_info=True)
            return self._refuse(400, f"malformed body ({type(exc).__name__})")
        with self._seen_lock:
            if key in self._seen:
                log.info("duplicate webhook %s ignored", key)
                return 200, "duplicate"
            self._seen[key] = None
            while len(self._seen) > self._max_remembered:
                self._seen.popitem(last=False)
        self._queue.put(event)
        return 200, "ok"

    # --- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, text = self.handle(environ)
        payload = text.encode("utf-8")
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(payload)))]
        if not status.startswith("2"):
            headers.append(("Connection", "close"))  # the body may be left unread
        start_response(status, headers)
        return [payload]

    def handle(self, environ: dict[str, Any]) -> tuple[str, str]:
        """Process one WSGI request; return (status line, short body)."""
        method = str(environ.get("REQUEST_METHOD", "GET"))
        declared = environ.get("CONTENT_LENGTH") or None
        early = self.check_length(method, declared)
        if early is not None:
            return status_line(early[0]), early[1]
        length = int(declared.strip()) if declared else 0
        stream = environ.get("wsgi.input")
        chunks: list[bytes] = []
        remaining = length
        while remaining > 0 and stream is not None:
            chunk = stream.read(min(remaining, 16384))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        headers = {SIGNATURE_HEADER: environ["HTTP_TIKTOK_SIGNATURE"]} if "HTTP_TIKTOK_SIGNATURE" in environ else {}
        code, text = self.handle_request(method, headers, b"".join(chunks))
        return status_line(code), text

    # --- the worker -------------------------------------------------------------------------

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


def serve_webhooks(host: str, port: int, receiver: WebhookReceiver, **options: Any) -> RunningServer:
    """Serve ``receiver`` at ``/`` and ``/webhook`` (plus ``/healthz``) on uvicorn in a background
    thread; port 0 picks a free port. The result has ``url`` and ``shutdown()``; ``options`` go to
    ``webapp.serve`` (``limits=ServerLimits(...)``).

    TikTok only calls HTTPS URLs: put this behind a TLS-terminating proxy in production.
    """
    from .webapp import (  # the web stack only when serving
        build_app,
        serve,
        webhook_routes,
    )

    return serve(build_app(webhook_routes(receiver, paths=("/", "/webhook"))), host, port, **options)


def __getattr__(name: str) -> Any:
    if name == "WebhookServer":  # the old name of the running server's type (imports the web stack)
        from .webapp import RunningServer

        return RunningServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EVENT_AUTHORIZATION_REMOVED",
    "EVENT_DOWNLOAD_READY",
    "SIGNATURE_HEADER",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookReceiver",
    "WebhookServer",  # noqa: F822  (module __getattr__, imported on first use)
    "WebhookSignatureError",
    "parse_event",
    "serve_webhooks",
    "sign",
    "verify_signature",
]
