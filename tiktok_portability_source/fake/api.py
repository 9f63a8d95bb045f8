"""A faithful, stateful fake of TikTok's Login Kit OAuth and Data Portability API.

Serves the demo and the end-to-end tests with no credentials, either in-process (an httpx
``WSGITransport``) or on a loopback port (a threaded ``wsgiref`` server). The behaviour follows
``docs/tiktok-api.md``: where TikTok's documentation is silent, the "fake default"
column of its section 11 is used; every choice the spec leaves open is listed in
``FakeConfig`` or documented at the method concerned.

Routes (trailing slash required; anything else is 404, a wrong method 405)::

    GET  /v2/auth/authorize/      consent (a page with Allow/Deny when ``consent_page``, else at once)
                                  -> 302 to redirect_uri with code, scopes, state (or error=access_denied)
    POST /v2/oauth/token/         authorization_code and refresh_token grants (flat JSON bodies)
    POST /v2/oauth/revoke/        empty 200; every token of the user stops working
    POST /v2/user/data/add/       ?fields=request_id
    POST /v2/user/data/check/     ?fields=<subset of six>
    POST /v2/user/data/download/  raw ZIP bytes while the request is "downloading"
    POST /v2/user/data/cancel/    request_id in the JSON body or the query

Usage::

    fake = FakeTikTok()
    fake.add_user("open-id-1")
    client = httpx.Client(transport=fake.transport(), base_url=API_BASE_URL)
    # or: with fake.serve() as server: httpx.get(server.url + ...)

Token values are never logged; the wsgiref request log is silenced.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import hmac
import html
import http
import json
import logging
import os
import secrets
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence, Union
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import httpx

from .archives import HistoryArchiveBuilder

from ..settings import (
    ADD_PATH,
    AUTHORIZE_PATH,
    BASIC_SCOPE,
    CANCEL_PATH,
    CATEGORIES,
    CHECK_FIELDS,
    CHECK_PATH,
    DATA_FORMATS,
    DOWNLOAD_PATH,
    PORTABILITY_SCOPES,
    REVOKE_PATH,
    SCOPE_CATEGORIES,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_PENDING,
    STATUS_READY,
    TOKEN_PATH,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CallRecord",
    "FakeConfig",
    "FakeRequest",
    "FakeTikTok",
    "FAULTS",
    "RunningServer",
    "WebhookDelivery",
    "main",
    "sign_webhook",
]

# --- constants -------------------------------------------------------------------------------

FIRST_REQUEST_ID = 734_500_000_000_001  # 15 digits, like the doc examples
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
MAX_REQUEST_BODY_BYTES = 1024 * 1024
KNOWN_SCOPES = frozenset((BASIC_SCOPE, *PORTABILITY_SCOPES))
EVENT_DOWNLOAD_READY = "portability.download.ready"
EVENT_AUTHORIZATION_REMOVED = "authorization.removed"
INVALID_REQUEST_ID_MESSAGE = "Incorrect `request_id`. Please validate the request."

FAULTS = (
    "internal_error",  # HTTP 500 internal_error envelope (server_error on the OAuth endpoints)
    "http_503",  # plain-text 503, no JSON
    "error_200",  # JSON error body with HTTP 200
    "drop_connection",  # download: part of the body, then the connection is closed
    "truncated_zip",  # download: a complete-looking 200 response whose ZIP is cut short
    "rate_limit",  # 429 rate_limit_exceeded regardless of the window
    "token_expired",  # 401 access_token_invalid once, whatever the token
)

# path -> (endpoint name, allowed methods)
_ROUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    AUTHORIZE_PATH: ("authorize", ("GET",)),
    TOKEN_PATH: ("token", ("POST",)),
    REVOKE_PATH: ("revoke", ("POST",)),
    ADD_PATH: ("add", ("POST",)),
    CHECK_PATH: ("check", ("POST",)),
    DOWNLOAD_PATH: ("download", ("POST",)),
    CANCEL_PATH: ("cancel", ("POST",)),
}
_NAME_TO_PATH = {name: path for path, (name, _) in _ROUTES.items()}
_OAUTH_ENDPOINTS = frozenset({"token", "revoke"})
_BEARER_ENDPOINTS = frozenset({"add", "check", "download", "cancel"})
_FAULT_TARGETS: dict[str, frozenset[str]] = {
    "internal_error": _OAUTH_ENDPOINTS | _BEARER_ENDPOINTS,
    "http_503": _OAUTH_ENDPOINTS | _BEARER_ENDPOINTS,
    "error_200": _OAUTH_ENDPOINTS | _BEARER_ENDPOINTS,
    "rate_limit": _OAUTH_ENDPOINTS | _BEARER_ENDPOINTS,
    "drop_connection": frozenset({"download"}),
    "truncated_zip": frozenset({"download"}),
    "token_expired": _BEARER_ENDPOINTS,
}
_PRE_DISPATCH_FAULTS = frozenset({"internal_error", "http_503", "error_200", "rate_limit"})
_AFTER_CREATE_FAULT = "internal_error_after_create"  # inject("internal_error", after_create=True)
_SERVED_ENVIRON_KEY = "tiktok_portability.fake_api.served"

ArchiveResult = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]
ArchiveBuilder = Callable[[str, "tuple[str, ...]", str], ArchiveResult]


# --- public data types -----------------------------------------------------------------------


@dataclass
class FakeConfig:
    """Knobs of the fake. Where TikTok's documentation is silent, the defaults are this fake's own choice."""

    client_key: str = "awfakeclientkey0001"
    client_secret: str = "fake-client-secret"
    access_token_ttl: int = 7200
    refresh_token_ttl: int = 15552000
    code_ttl: int = 600
    # A request becomes "downloading" at the ready_after_polls-th Check call (0: at once on Add)...
    ready_after_polls: int | None = 1
    # ...or, when set, after this much fake-clock time since Add (then polls are ignored).
    ready_after_seconds: float | None = None
    expire_after_seconds: int = 4 * 86400
    allow_cancel_downloading: bool = True
    reject_add_while_pending: bool = False
    rate_limit_per_minute: int | None = None  # sliding one-minute window per endpoint (per app)
    rate_limit_window_seconds: float = 60.0  # the window's length (shorter in tests that must be quick)
    retry_after: str | None = None  # Retry-After on 429 ("0" allowed); None: header absent
    webhook_url: str | None = None  # POST signed webhooks here
    webhook_duplicates: int = 0  # send each webhook this many extra times
    # Extensions (spec: "configurable errors" for Download in other states, a fake-only extension):
    not_downloadable_status: int = 400
    not_downloadable_code: str = "invalid_params"
    not_downloadable_message: str = "The data request is not ready for download or is no longer available."
    webhook_max_attempts: int = 3  # a delivery answered with non-2xx or failing is retried
    webhook_timeout: float = 5.0
    # GET /v2/auth/authorize/ shows a consent page with Allow / Deny links (a browser clicks one);
    # off: consent is given at once (the redirect follows directly). Either way the query parameter
    # fake_decision=allow|deny decides without a page (deny: error=access_denied).
    consent_page: bool = False


class CallRecord(NamedTuple):
    """One request the fake answered (for assertions)."""

    path: str
    method: str
    status: int
    open_id: str | None
    error: str | None  # error code (portability code or OAuth ``error``); None on success
    at: float = 0.0  # fake-clock time the request arrived (rate assertions)


@dataclass
class FakeRequest:
    """A snapshot of one data request (``requests_of`` returns copies)."""

    request_id: int
    open_id: str
    data_format: str
    category_selection_list: tuple[str, ...]  # effective list (["all_data"] when it overrides)
    requested_categories: tuple[str, ...]  # as sent (deduplicated)
    apply_time: int
    collect_time: int
    status: str = STATUS_PENDING
    created_at: float = 0.0
    polls: int = 0
    ready_at: float | None = None
    expired_at: float | None = None
    cancelled_at: float | None = None
    consumed_scopes: tuple[str, ...] = ()
    downloads: int = 0
    archive_size: int | None = None


@dataclass
class WebhookDelivery:
    """One attempt to deliver a webhook."""

    event: str
    body: bytes
    signature: str
    attempt: int
    status_code: int | None
    error: str | None = None


@dataclass
class _User:
    open_id: str
    username: str
    eea: bool = True


@dataclass
class _Grant:
    open_id: str
    scopes: tuple[str, ...]
    consumed: set[str] = field(default_factory=set)
    revoked: bool = False

    def held(self) -> tuple[str, ...]:
        return tuple(s for s in self.scopes if s not in self.consumed)

    def has_portability_scope(self) -> bool:
        return any(s in PORTABILITY_SCOPES for s in self.scopes)


@dataclass
class _Token:
    kind: str  # "access" | "refresh"
    grant: _Grant
    expires_at: float
    revoked: bool = False


@dataclass
class _Code:
    open_id: str
    scopes: tuple[str, ...]
    redirect_uri: str
    code_challenge: str | None
    created_at: float
    used: bool = False


@dataclass
class _Fault:
    name: str
    remaining: int
    targets: frozenset[str]


@dataclass
class _Ctx:
    environ: dict
    method: str
    path: str
    endpoint: str | None
    query: dict[str, list[str]]
    body: bytes
    log_id: str
    open_id: str | None = None


@dataclass
class _Response:
    status: int
    body: bytes | Iterable[bytes] = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


# --- helpers ---------------------------------------------------------------------------------


def sign_webhook(body: bytes, secret: str, timestamp: int) -> str:
    """The ``TikTok-Signature`` header value for ``body``: ``t=<ts>,s=<hex HMAC-SHA256 of "<ts>.<body>">``.

    Written out here rather than borrowed from ``webhooks.sign``: a bug in the production signer
    would otherwise sign and verify alike, and the webhook tests would pass on both sides."""
    digest = hmac.new(secret.encode("utf-8"), str(int(timestamp)).encode("ascii") + b"." + body, hashlib.sha256)
    return f"t={int(timestamp)},s={digest.hexdigest()}"


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _split_csv(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or ():
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def _parse_request_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _json_object(body: bytes) -> dict | None:
    if not body.strip():
        return None
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def _append_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _valid_redirect_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


class _Archive:
    """Archive bytes in memory or a file on disk, streamed in 1 MiB chunks."""

    def __init__(self, source: ArchiveResult) -> None:
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.data: memoryview | None = memoryview(source).cast("B")
            self.path: Path | None = None
            self.size = self.data.nbytes
        elif isinstance(source, (str, os.PathLike)):
            self.data = None
            self.path = Path(source)
            self.size = self.path.stat().st_size
        else:
            raise TypeError(f"archive_builder returned {type(source).__name__}; expected bytes or a path")

    def iter_chunks(self, limit: int) -> Iterator[bytes]:
        if self.data is not None:
            for start in range(0, limit, DOWNLOAD_CHUNK_BYTES):
                yield bytes(self.data[start : min(start + DOWNLOAD_CHUNK_BYTES, limit)])
            return
        assert self.path is not None
        with self.path.open("rb") as fh:
            remaining = limit
            while remaining > 0:
                chunk = fh.read(min(DOWNLOAD_CHUNK_BYTES, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk


# --- the fake --------------------------------------------------------------------------------


class FakeTikTok:
    """The fake TikTok API: users, consent, tokens, data requests, webhooks and faults."""

    def __init__(
        self,
        config: FakeConfig | None = None,
        *,
        archive_builder: ArchiveBuilder | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config or FakeConfig()
        # generated exports (every section, realistic sizes) unless a test brings its own
        self.archive_builder: ArchiveBuilder = archive_builder or HistoryArchiveBuilder(
            self.now, username_of=self._username_of)
        self._external_clock = clock
        self._offset = 0.0
        self._lock = threading.RLock()
        self._users: dict[str, _User] = {}
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, _Token] = {}
        self._requests: dict[int, FakeRequest] = {}
        self._archives: dict[int, _Archive] = {}
        self._build_locks: dict[int, threading.Lock] = {}
        self._next_request_id = FIRST_REQUEST_ID
        self._faults: list[_Fault] = []
        self._windows: dict[str, collections.deque[float]] = {}
        self.calls: list[CallRecord] = []
        self.in_flight = 0  # requests being answered right now (not counting streamed bodies)
        self.max_in_flight = 0  # the most answered at once: did the client work concurrently?
        self.webhook_deliveries: list[WebhookDelivery] = []
        # webhook worker
        self._wh_cond = threading.Condition()
        self._wh_queue: collections.deque[tuple[str, str, bytes]] = collections.deque()
        self._wh_pending = 0
        self._wh_thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._closed = threading.Event()

    # --- clock -------------------------------------------------------------------------------

    def now(self) -> float:
        """Fake-clock time (Unix seconds): the external clock, or real time plus ``advance``s."""
        if self._external_clock is not None:
            return float(self._external_clock())
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake clock forward and apply due transitions (not with an external clock)."""
        if self._external_clock is not None:
            raise RuntimeError("advance() is unavailable when an external clock was given")
        if seconds < 0:
            raise ValueError("the fake clock only moves forward")
        with self._lock:
            self._offset += seconds
        self.tick()

    def tick(self) -> None:
        """Apply time-driven transitions (ready, expired) to every request now."""
        with self._lock:
            now = self.now()
            for req in self._requests.values():
                self._advance_state(req, now)

    # --- users and consent -------------------------------------------------------------------

    def add_user(self, open_id: str, *, username: str | None = None, eea: bool = True) -> None:
        """Register a TikTok user who can consent. ``eea=False``: Add answers 401 scope_not_authorized."""
        with self._lock:
            self._users[open_id] = _User(open_id, username or f"user_{open_id}", eea)

    def authorize(
        self,
        open_id: str,
        *,
        scopes: Sequence[str],
        redirect_uri: str,
        state: str,
        code_challenge: str | None = None,
        code_challenge_method: str | None = "S256",
        untick: Sequence[str] = (),
    ) -> str:
        """What the user's consent does: returns the redirect URL with ``code``, ``scopes``, ``state``.

        An unknown scope gives a redirect with ``error=invalid_scope``; ``untick`` removes
        toggleable scopes from the grant as a user can.
        """
        with self._lock:
            if open_id not in self._users:
                raise KeyError(f"unknown fake user {open_id!r}; call add_user first")
            if not _valid_redirect_uri(redirect_uri):
                raise ValueError("redirect_uri must be an absolute http(s) URL without fragment")
            return self._consent(open_id, list(scopes), redirect_uri, state, code_challenge,
                                 code_challenge_method, untick)

    def grant_tokens(self, open_id: str, scopes: Sequence[str]) -> dict:
        """Test shortcut: the token-endpoint body for a fresh grant, without the OAuth dance."""
        with self._lock:
            if open_id not in self._users:
                raise KeyError(f"unknown fake user {open_id!r}; call add_user first")
            unknown = [s for s in scopes if s not in KNOWN_SCOPES]
            if unknown:
                raise ValueError(f"unknown scopes {unknown}")
            grant = _Grant(open_id, tuple(dict.fromkeys(scopes)))
            return self._issue(grant)

    # --- test controls -----------------------------------------------------------------------

    def make_ready(self, request_id: int) -> None:
        """Finish collection now (pending -> downloading; sends the download.ready webhook)."""
        with self._lock:
            req = self._requests[request_id]
            self._advance_state(req, self.now())
            if req.status != STATUS_PENDING:
                raise ValueError(f"request {request_id} is {req.status}, not pending")
            self._set_ready(req, self.now())

    def expire_access_tokens(self, open_id: str | None = None) -> None:
        """Make every (or one user's) access token expired; refresh tokens stay valid."""
        with self._lock:
            past = self.now() - 1
            for tok in self._tokens.values():
                if tok.kind == "access" and (open_id is None or tok.grant.open_id == open_id):
                    tok.expires_at = min(tok.expires_at, past)

    def revoke_user(self, open_id: str, reason: int = 1) -> None:
        """The user disconnects the app: all tokens die, then ``authorization.removed`` is sent."""
        with self._lock:
            self._revoke_all(open_id)
            self._queue_webhook(EVENT_AUTHORIZATION_REMOVED, {"reason": reason}, user_openid=open_id)

    def inject(self, fault: str, *, times: int = 1, endpoint: str | None = None,
               after_create: bool = False) -> None:
        """Make the next ``times`` matching calls fail with ``fault`` (see ``FAULTS``).

        ``endpoint`` is a path (``/v2/user/data/add/``) or a name (``token``, ``revoke``, ``add``,
        ``check``, ``download``, ``cancel``); None means any endpoint the fault applies to
        (``drop_connection``/``truncated_zip``: download; ``token_expired``: the four portability
        endpoints; the others: those plus token and revoke). ``drop_connection`` and
        ``truncated_zip`` wait for a download that would succeed.

        ``after_create`` (``internal_error`` on Add only): the request is created (and its scope
        spent) and *then* the answer is the 500 envelope, the case that makes an ``internal_error``
        on Add ambiguous. An Add the fake refuses anyway leaves the fault armed.
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        if after_create:
            if fault != "internal_error" or endpoint not in (None, "add", ADD_PATH):
                raise ValueError("after_create applies to internal_error on add only")
            with self._lock:
                self._faults.append(_Fault(_AFTER_CREATE_FAULT, times, frozenset({"add"})))
            return
        allowed = _FAULT_TARGETS[fault]
        if endpoint is None:
            targets = allowed
        else:
            name = _ROUTES[endpoint][0] if endpoint in _ROUTES else endpoint
            if name not in allowed:
                raise ValueError(f"fault {fault!r} does not apply to endpoint {endpoint!r}")
            targets = frozenset({name})
        with self._lock:
            self._faults.append(_Fault(fault, times, targets))

    def requests_of(self, open_id: str) -> list[FakeRequest]:
        """Snapshots of the user's data requests, oldest first, with due transitions applied."""
        with self._lock:
            now = self.now()
            out = []
            for req in self._requests.values():
                if req.open_id == open_id:
                    self._advance_state(req, now)
                    out.append(replace(req))
            return out

    def get_request(self, request_id: int) -> FakeRequest:
        with self._lock:
            req = self._requests[request_id]
            self._advance_state(req, self.now())
            return replace(req)

    def calls_to(self, endpoint: str, *, status: int | None = None) -> list[CallRecord]:
        """Recorded calls to a path or endpoint name, optionally with one status."""
        path = _NAME_TO_PATH.get(endpoint, endpoint)
        with self._lock:
            return [c for c in self.calls if c.path == path and (status is None or c.status == status)]

    def flush_webhooks(self, timeout: float = 5.0) -> bool:
        """Wait until every queued webhook has been delivered (or given up). True if drained."""
        deadline = time.monotonic() + timeout
        with self._wh_cond:
            while self._wh_pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wh_cond.wait(left)
        return True

    def close(self) -> None:
        """Stop the background threads (webhook sender, ticker)."""
        self._closed.set()
        with self._wh_cond:
            self._wh_cond.notify_all()

    def __enter__(self) -> FakeTikTok:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- serving -----------------------------------------------------------------------------

    def transport(self) -> httpx.WSGITransport:
        """An in-process httpx transport (use any base URL, e.g. ``API_BASE_URL``)."""
        return httpx.WSGITransport(app=self.wsgi_app)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
        """Serve on a socket from a background thread; use as a context manager."""
        return RunningServer(self, host, port)

    def wsgi_app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD") or "GET").upper()
        path = environ.get("PATH_INFO") or "/"
        log_id = self._new_log_id()
        ctx = _Ctx(environ, method, path, None, {}, b"", log_id)
        arrived = self.now()
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            resp = self._dispatch(ctx)
        except Exception:  # pragma: no cover - a bug in the fake; answer like a server would
            logger.exception("fake TikTok API: unhandled error on %s %s", method, path)
            resp = self._envelope_error(ctx, 500, "internal_error", "Internal error.")
        with self._lock:
            self.in_flight -= 1
            self.calls.append(CallRecord(path, method, resp.status, ctx.open_id, resp.error, arrived))
        logger.debug("fake TikTok API %s %s -> %s %s", method, path, resp.status, resp.error or "")
        headers = list(resp.headers)
        names = {k.lower() for k, _ in headers}
        if isinstance(resp.body, bytes) and "content-length" not in names:
            headers.append(("Content-Length", str(len(resp.body))))
        headers.append(("X-Tt-Logid", log_id))
        start_response(f"{resp.status} {http.HTTPStatus(resp.status).phrase}", headers)
        if isinstance(resp.body, bytes):
            return [resp.body]
        return resp.body

    # --- dispatch ----------------------------------------------------------------------------

    def _dispatch(self, ctx: _Ctx) -> _Response:
        route = _ROUTES.get(ctx.path)
        if route is None:
            return self._envelope_error(ctx, 404, "not_found", f"No route for {ctx.path}.", data=False)
        ctx.endpoint, methods = route
        if ctx.method not in methods:
            resp = self._envelope_error(ctx, 405, "method_not_allowed", f"Use {', '.join(methods)}.", data=False)
            resp.headers.append(("Allow", ", ".join(methods)))
            return resp
        ctx.query = parse_qs(ctx.environ.get("QUERY_STRING") or "", keep_blank_values=True)
        body = self._read_body(ctx.environ)
        if body is None:
            return self._error_for(ctx, 400, "invalid_params" if ctx.endpoint in _BEARER_ENDPOINTS
                                   else "invalid_request", "Request body too large.")
        ctx.body = body
        if ctx.endpoint == "authorize":
            return self._handle_authorize(ctx)

        with self._lock:
            fault = self._take_fault(_PRE_DISPATCH_FAULTS, ctx.endpoint)
        if fault is not None:
            return self._fault_response(ctx, fault)
        with self._lock:
            limited = self._rate_limited(ctx.endpoint)
        if limited:
            return self._rate_limit_response(ctx)

        if ctx.endpoint == "token":
            return self._handle_token(ctx)
        if ctx.endpoint == "revoke":
            return self._handle_revoke(ctx)
        with self._lock:
            auth = self._authenticate(ctx)
        if isinstance(auth, _Response):
            return auth
        handler = {
            "add": self._handle_add,
            "check": self._handle_check,
            "download": self._handle_download,
            "cancel": self._handle_cancel,
        }[ctx.endpoint]
        return handler(ctx, auth)

    @staticmethod
    def _read_body(environ: dict) -> bytes | None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_REQUEST_BODY_BYTES:
            return None
        stream = environ.get("wsgi.input")
        if length <= 0 or stream is None:
            return b""
        return stream.read(length)

    # --- responses ---------------------------------------------------------------------------

    def _new_log_id(self) -> str:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(self.now()))
        return stamp + secrets.token_hex(6).upper()

    @staticmethod
    def _json(status: int, obj: Any, error: str | None = None) -> _Response:
        return _Response(status, _compact(obj), [("Content-Type", "application/json; charset=UTF-8")], error)

    def _ok(self, ctx: _Ctx, data: dict) -> _Response:
        return self._json(200, {"data": data, "error": {"code": "ok", "message": "", "log_id": ctx.log_id}})

    def _envelope_error(
        self, ctx: _Ctx, status: int, code: str, message: str, *, data: bool = True,
        http_status_code: bool = False,
    ) -> _Response:
        err: dict[str, Any] = {"code": code}
        if http_status_code:
            err["http_status_code"] = status
        err.update(message=message, log_id=ctx.log_id)
        body: dict[str, Any] = {"data": {}, "error": err} if data else {"error": err}
        return self._json(status, body, code)

    def _oauth_error(self, ctx: _Ctx, code: str, description: str, status: int | None = None) -> _Response:
        if status is None:
            status = {"invalid_client": 401, "temporarily_unavailable": 503}.get(code, 400)
        body = {"error": code, "error_description": description, "log_id": ctx.log_id}
        return self._json(status, body, code)

    def _error_for(self, ctx: _Ctx, status: int, code: str, message: str) -> _Response:
        """An error in the shape of the endpoint: flat for OAuth, the envelope otherwise."""
        if ctx.endpoint in _OAUTH_ENDPOINTS:
            return self._oauth_error(ctx, code, message, status)
        return self._envelope_error(ctx, status, code, message, data=ctx.endpoint != "cancel",
                                    http_status_code=ctx.endpoint == "download")

    def _fault_response(self, ctx: _Ctx, fault: str) -> _Response:
        oauth = ctx.endpoint in _OAUTH_ENDPOINTS
        if fault == "http_503":
            body = b"Service Temporarily Unavailable"
            return _Response(503, body, [("Content-Type", "text/plain; charset=utf-8")], "http_503")
        if fault == "rate_limit":
            return self._rate_limit_response(ctx)
        status = 500 if fault == "internal_error" else 200
        if oauth:
            return self._oauth_error(ctx, "server_error", "Internal server error (injected).", status)
        resp = self._envelope_error(ctx, 500, "internal_error", "Internal server error (injected).")
        resp.status = status
        return resp

    def _rate_limit_response(self, ctx: _Ctx) -> _Response:
        resp = self._error_for(ctx, 429, "rate_limit_exceeded", "Rate limit exceeded. Please retry later.")
        if self.config.retry_after is not None:
            resp.headers.append(("Retry-After", self.config.retry_after))
        return resp

    # --- faults and limits (call with the lock held) -------------------------------------------

    def _take_fault(self, names: frozenset[str], endpoint: str) -> str | None:
        for i, fault in enumerate(self._faults):
            if fault.name in names and endpoint in fault.targets:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[i]
                return fault.name
        return None

    def _rate_limited(self, endpoint: str) -> bool:
        limit = self.config.rate_limit_per_minute
        if limit is None:
            return False
        now = self.now()
        window = self._windows.setdefault(endpoint, collections.deque())
        while window and window[0] <= now - self.config.rate_limit_window_seconds:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False

    # --- OAuth -------------------------------------------------------------------------------

    def _handle_authorize(self, ctx: _Ctx) -> _Response:
        q = {k: v[0] for k, v in ctx.query.items() if v}
        redirect_uri = q.get("redirect_uri", "")
        if q.get("client_key") != self.config.client_key:
            return self._page(ctx, 400, "invalid_client", "Unknown client_key.")
        if not redirect_uri or not _valid_redirect_uri(redirect_uri):
            return self._page(ctx, 400, "invalid_request", "redirect_uri must be an absolute http(s) URL.")
        with self._lock:
            open_id = q.get("fake_open_id") or next(iter(self._users), None)
            if open_id is None or open_id not in self._users:
                return self._page(ctx, 400, "invalid_request", "No such fake user; call add_user first.")
            ctx.open_id = open_id
            state = q.get("state", "")
            decision = q.get("fake_decision", "")
            if q.get("response_type") != "code":
                location = self._redirect_error(redirect_uri, state, "unsupported_response_type",
                                                "response_type must be code.")
            elif not state:
                location = self._redirect_error(redirect_uri, state, "invalid_request", "state is required.")
            elif decision == "deny":
                location = self._redirect_error(redirect_uri, state, "access_denied",
                                                "The user denied the authorization.")
            elif decision != "allow" and self.config.consent_page:
                return self._consent_page(ctx, open_id, q)
            else:
                location = self._consent(
                    open_id, _split_csv([q.get("scope", "")]), redirect_uri, state,
                    q.get("code_challenge"), q.get("code_challenge_method"), _split_csv([q.get("fake_untick", "")]),
                )
        error = parse_qs(urlsplit(location).query).get("error", [None])[0]
        return _Response(302, b"", [("Location", location), ("Cache-Control", "no-store")], error)

    def _consent_page(self, ctx: _Ctx, open_id: str, query: dict[str, str]) -> _Response:
        """The user's choice, as TikTok shows it: Allow or Deny links back to this URL (no cookies)."""
        base = AUTHORIZE_PATH + "?" + urlencode({k: v for k, v in query.items() if k != "fake_decision"})
        allow, deny = (html.escape(base + "&" + urlencode({"fake_decision": d}), quote=True) for d in ("allow", "deny"))
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in _split_csv([query.get("scope", "")]))
        user = html.escape(self._users[open_id].username)
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Fake TikTok: authorize</title></head><body>"
            f"<h1>Fake TikTok</h1><p id='who'>Logged in as {user}.</p>"
            f"<p>The app <code>{html.escape(query.get('client_key', ''))}</code> asks for:</p><ul>{scopes}</ul>"
            f"<p><a id='allow' href='{allow}'>Allow</a> <a id='deny' href='{deny}'>Deny</a></p></body></html>"
        ).encode()
        return _Response(200, body, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")])

    def _page(self, ctx: _Ctx, status: int, code: str, message: str) -> _Response:
        body = f"{code}: {message}\n".encode()
        return _Response(status, body, [("Content-Type", "text/plain; charset=utf-8")], code)

    @staticmethod
    def _redirect_error(redirect_uri: str, state: str, error: str, description: str) -> str:
        params = {"error": error, "error_description": description}
        if state:
            params["state"] = state
        return _append_query(redirect_uri, params)

    def _consent(
        self, open_id: str, scopes: list[str], redirect_uri: str, state: str,
        code_challenge: str | None, code_challenge_method: str | None, untick: Sequence[str],
    ) -> str:
        if not scopes:
            return self._redirect_error(redirect_uri, state, "invalid_scope", "scope is required.")
        unknown = [s for s in scopes if s not in KNOWN_SCOPES]
        if unknown:
            return self._redirect_error(redirect_uri, state, "invalid_scope",
                                        f"Scope not approved for this app: {','.join(unknown)}")
        if code_challenge and code_challenge_method not in (None, "", "S256"):
            return self._redirect_error(redirect_uri, state, "invalid_request",
                                        "code_challenge_method must be S256.")
        granted = tuple(s for s in dict.fromkeys(scopes) if s not in set(untick))
        # TikTok codes carry characters that must be URL-decoded before the exchange.
        code = secrets.token_urlsafe(24) + "*!" + secrets.token_hex(4)
        self._codes[code] = _Code(open_id, granted, redirect_uri, code_challenge or None, self.now())
        return _append_query(redirect_uri, {"code": code, "scopes": ",".join(granted), "state": state})

    def _parse_form(self, ctx: _Ctx) -> dict[str, str] | _Response:
        ctype = (ctx.environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return self._oauth_error(ctx, "invalid_request",
                                     "Content-Type must be application/x-www-form-urlencoded.")
        try:
            parsed = parse_qs(ctx.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return self._oauth_error(ctx, "invalid_request", "The body is not UTF-8.")
        dup = sorted(k for k, v in parsed.items() if len(v) > 1)
        if dup:
            return self._oauth_error(ctx, "invalid_request", f"Duplicate parameter: {', '.join(dup)}.")
        return {k: v[0] for k, v in parsed.items()}

    def _check_client(self, ctx: _Ctx, form: dict[str, str]) -> _Response | None:
        if not form.get("client_key") or not form.get("client_secret"):
            return self._oauth_error(ctx, "invalid_request", "client_key and client_secret are required.")
        key_ok = hmac.compare_digest(form["client_key"], self.config.client_key)
        secret_ok = hmac.compare_digest(form["client_secret"].encode(), self.config.client_secret.encode())
        if not (key_ok and secret_ok):
            return self._oauth_error(ctx, "invalid_client", "Client key or secret is invalid.")
        return None

    def _handle_token(self, ctx: _Ctx) -> _Response:
        form = self._parse_form(ctx)
        if isinstance(form, _Response):
            return form
        bad = self._check_client(ctx, form)
        if bad is not None:
            return bad
        grant_type = form.get("grant_type")
        if not grant_type:
            return self._oauth_error(ctx, "invalid_request", "grant_type is required.")
        with self._lock:
            if grant_type == "authorization_code":
                return self._exchange_code(ctx, form)
            if grant_type == "refresh_token":
                return self._refresh(ctx, form)
        return self._oauth_error(ctx, "unsupported_grant_type", f"Unsupported grant_type {grant_type!r}.")

    def _exchange_code(self, ctx: _Ctx, form: dict[str, str]) -> _Response:
        code_value = form.get("code")
        if not code_value:
            return self._oauth_error(ctx, "invalid_request", "code is required.")
        code = self._codes.get(code_value)
        if code is None or code.used or self.now() >= code.created_at + self.config.code_ttl:
            return self._oauth_error(ctx, "invalid_grant", "Authorization code is invalid, expired or used.")
        ctx.open_id = code.open_id
        if form.get("redirect_uri") != code.redirect_uri:
            return self._oauth_error(ctx, "invalid_request", "redirect_uri does not match the authorization.")
        if code.code_challenge:
            verifier = form.get("code_verifier")
            if not verifier:
                return self._oauth_error(ctx, "invalid_request", "code_verifier is required.")
            digest = hashlib.sha256(verifier.encode("utf-8")).hexdigest()
            if not hmac.compare_digest(digest, code.code_challenge.lower()):
                return self._oauth_error(ctx, "invalid_grant", "code_verifier does not match code_challenge.")
        code.used = True
        grant = _Grant(code.open_id, code.scopes)
        return self._json(200, self._issue(grant))

    def _refresh(self, ctx: _Ctx, form: dict[str, str]) -> _Response:
        value = form.get("refresh_token")
        if not value:
            return self._oauth_error(ctx, "invalid_request", "refresh_token is required.")
        tok = self._tokens.get(value)
        if tok is not None:
            ctx.open_id = tok.grant.open_id
        if (tok is None or tok.kind != "refresh" or tok.revoked or tok.grant.revoked
                or self.now() >= tok.expires_at):
            return self._oauth_error(ctx, "invalid_grant", "Refresh token is invalid or expired.")
        tok.revoked = True  # rotation: the old refresh token dies as the new one is issued
        return self._json(200, self._issue(tok.grant))

    def _issue(self, grant: _Grant) -> dict:
        now = self.now()
        access = "act." + secrets.token_urlsafe(36)
        refresh = "rft." + secrets.token_urlsafe(36)
        self._tokens[access] = _Token("access", grant, now + self.config.access_token_ttl)
        self._tokens[refresh] = _Token("refresh", grant, now + self.config.refresh_token_ttl)
        return {
            "access_token": access,
            "expires_in": int(self.config.access_token_ttl),
            "open_id": grant.open_id,
            "refresh_expires_in": int(self.config.refresh_token_ttl),
            "refresh_token": refresh,
            "scope": ",".join(grant.held()),
            "token_type": "Bearer",
        }

    def _handle_revoke(self, ctx: _Ctx) -> _Response:
        form = self._parse_form(ctx)
        if isinstance(form, _Response):
            return form
        bad = self._check_client(ctx, form)
        if bad is not None:
            return bad
        value = form.get("token")
        if not value:
            return self._oauth_error(ctx, "invalid_request", "token is required.")
        with self._lock:
            tok = self._tokens.get(value)
            if tok is not None and not tok.grant.revoked:
                ctx.open_id = tok.grant.open_id
                self._revoke_all(tok.grant.open_id)
                self._queue_webhook(EVENT_AUTHORIZATION_REMOVED, {"reason": 5}, user_openid=tok.grant.open_id)
        return _Response(200, b"")

    def _revoke_all(self, open_id: str) -> None:
        for tok in self._tokens.values():
            if tok.grant.open_id == open_id:
                tok.revoked = True
                tok.grant.revoked = True

    # --- portability -------------------------------------------------------------------------

    def _authenticate(self, ctx: _Ctx) -> _Grant | _Response:
        header = ctx.environ.get("HTTP_AUTHORIZATION") or ""
        scheme, _, value = header.strip().partition(" ")
        tok = self._tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if tok is not None:
            ctx.open_id = tok.grant.open_id
        assert ctx.endpoint is not None
        if self._take_fault(frozenset({"token_expired"}), ctx.endpoint):
            return self._access_token_invalid(ctx)
        if (tok is None or tok.kind != "access" or tok.revoked or tok.grant.revoked
                or self.now() >= tok.expires_at):
            return self._access_token_invalid(ctx)
        if not tok.grant.has_portability_scope():
            return self._envelope_error(ctx, 401, "scope_not_authorized",
                                        "The user did not authorize any data portability scope.")
        return tok.grant

    def _access_token_invalid(self, ctx: _Ctx) -> _Response:
        return self._envelope_error(ctx, 401, "access_token_invalid",
                                    "The access token is invalid or not found in the request.")

    def _handle_add(self, ctx: _Ctx, grant: _Grant) -> _Response:
        fields = _split_csv(ctx.query.get("fields"))
        if "request_id" not in fields:
            return self._envelope_error(ctx, 400, "invalid_params", "`fields` must include request_id.")
        body = _json_object(ctx.body)
        if body is None:
            return self._envelope_error(ctx, 400, "invalid_params", "The body must be a JSON object.")
        data_format = body.get("data_format")
        if data_format not in DATA_FORMATS:
            return self._envelope_error(ctx, 400, "invalid_params", "`data_format` must be json or text.")
        cats = body.get("category_selection_list")
        if (not isinstance(cats, list) or not cats
                or any(not isinstance(c, str) or c not in CATEGORIES for c in cats)):
            return self._envelope_error(
                ctx, 400, "invalid_params",
                f"`category_selection_list` must be a non-empty list of {', '.join(CATEGORIES)}.",
            )
        requested = tuple(dict.fromkeys(cats))
        effective = ("all_data",) if "all_data" in requested else requested
        with self._lock:
            user = self._users.get(grant.open_id)
            if user is not None and not user.eea:
                return self._envelope_error(ctx, 401, "scope_not_authorized",
                                            "Data portability is available only to users in the EEA and the UK.")
            now = self.now()
            if self.config.reject_add_while_pending:
                for req in self._requests.values():
                    if req.open_id == grant.open_id:
                        self._advance_state(req, now)
                        if req.status == STATUS_PENDING:
                            return self._envelope_error(ctx, 400, "invalid_params",
                                                        "A data request is already pending for this user.")
            consumed = self._select_scopes(grant, effective)
            if consumed is None:
                return self._envelope_error(
                    ctx, 401, "scope_not_authorized",
                    f"The granted scopes do not cover {', '.join(effective)} (a single scope may be spent).",
                )
            grant.consumed.update(consumed)
            request_id = self._next_request_id
            self._next_request_id += 1
            req = FakeRequest(
                request_id=request_id, open_id=grant.open_id, data_format=data_format,
                category_selection_list=effective, requested_categories=requested,
                apply_time=int(now), collect_time=int(now), created_at=now, consumed_scopes=consumed,
            )
            self._requests[request_id] = req
            self._build_locks[request_id] = threading.Lock()
            if self.config.ready_after_seconds is None and self.config.ready_after_polls == 0:
                self._set_ready(req, now)
            self._ensure_ticker()
            if self._take_fault(frozenset({_AFTER_CREATE_FAULT}), "add"):
                return self._envelope_error(ctx, 500, "internal_error", "Internal server error (injected).")
        return self._ok(ctx, {"request_id": request_id})

    @staticmethod
    def _select_scopes(grant: _Grant, categories: tuple[str, ...]) -> tuple[str, ...] | None:
        """The single scopes an Add consumes, () if ongoing scopes cover it, None if not covered.

        Ongoing scopes are used first (they cost nothing). Then the broadest held single scope
        covering the rest on its own is consumed (docs/tiktok-api.md §3); failing that, single scopes
        are combined broadest first and each one used is consumed.
        """
        held = set(grant.held())
        remaining = set(categories)
        for kind, cats in SCOPE_CATEGORIES.items():
            if f"portability.{kind}.ongoing" in held:
                remaining -= cats
        if not remaining:
            return ()
        singles = sorted(
            (kind for kind in SCOPE_CATEGORIES if f"portability.{kind}.single" in held),
            key=lambda kind: -len(SCOPE_CATEGORIES[kind]),
        )
        for kind in singles:
            if remaining <= SCOPE_CATEGORIES[kind]:
                return (f"portability.{kind}.single",)
        chosen: list[str] = []
        for kind in singles:
            if remaining & SCOPE_CATEGORIES[kind]:
                chosen.append(f"portability.{kind}.single")
                remaining -= SCOPE_CATEGORIES[kind]
                if not remaining:
                    return tuple(chosen)
        return None

    def _lookup(self, ctx: _Ctx, grant: _Grant, request_id: int | None) -> FakeRequest | None:
        if request_id is None:
            return None
        req = self._requests.get(request_id)
        if req is None or req.open_id != grant.open_id:
            return None
        self._advance_state(req, self.now())
        return req

    def _handle_check(self, ctx: _Ctx, grant: _Grant) -> _Response:
        fields = _split_csv(ctx.query.get("fields"))
        unknown = [f for f in fields if f not in CHECK_FIELDS]
        if not fields or unknown:
            return self._envelope_error(ctx, 400, "invalid_params",
                                        f"`fields` must be a subset of {','.join(CHECK_FIELDS)}.")
        body = _json_object(ctx.body) or {}
        with self._lock:
            req = self._lookup(ctx, grant, _parse_request_id(body.get("request_id")))
            if req is None:
                return self._envelope_error(ctx, 400, "invalid_params", INVALID_REQUEST_ID_MESSAGE)
            if req.status == STATUS_PENDING and self.config.ready_after_seconds is None:
                req.polls += 1
                polls = self.config.ready_after_polls
                if polls is not None and req.polls >= polls:
                    self._set_ready(req, self.now())
            values = {
                "request_id": req.request_id,
                "apply_time": req.apply_time,
                "collect_time": req.collect_time,
                "status": req.status,
                "data_format": req.data_format,
                "category_selection_list": list(req.category_selection_list),
            }
        wanted = set(fields)
        return self._ok(ctx, {k: v for k, v in values.items() if k in wanted})

    def _handle_download(self, ctx: _Ctx, grant: _Grant) -> _Response:
        body = _json_object(ctx.body) or {}
        with self._lock:
            req = self._lookup(ctx, grant, _parse_request_id(body.get("request_id")))
            if req is None:
                return self._envelope_error(ctx, 400, "invalid_params", INVALID_REQUEST_ID_MESSAGE,
                                            http_status_code=True)
            if req.status != STATUS_READY:
                cfg = self.config
                return self._envelope_error(ctx, cfg.not_downloadable_status, cfg.not_downloadable_code,
                                            cfg.not_downloadable_message, http_status_code=True)
            request_id = req.request_id
            build_lock = self._build_locks[request_id]
        archive = self._archive_for(req, build_lock)
        with self._lock:
            req.downloads += 1
            req.archive_size = archive.size
            fault = self._take_fault(frozenset({"drop_connection", "truncated_zip"}), "download")
        headers = [
            ("Content-Type", "application/zip"),
            ("Content-Disposition", f'attachment; filename="{request_id}.zip"'),
        ]
        size = archive.size
        if fault == "truncated_zip":
            cut = max(min(size - 1, size // 2), 0)
            headers.append(("Content-Length", str(cut)))
            return _Response(200, archive.iter_chunks(cut), headers, None)
        if fault == "drop_connection":
            headers.append(("Content-Length", str(size)))
            served = bool(ctx.environ.get(_SERVED_ENVIRON_KEY))
            return _Response(200, _dropping(archive, max(size // 2, 1), size, served), headers, None)
        headers.append(("Content-Length", str(size)))
        return _Response(200, archive.iter_chunks(size), headers, None)

    def _archive_for(self, req: FakeRequest, build_lock: threading.Lock) -> _Archive:
        with build_lock:
            with self._lock:
                archive = self._archives.get(req.request_id)
            if archive is None:
                archive = _Archive(self.archive_builder(req.open_id, req.category_selection_list, req.data_format))
                with self._lock:
                    self._archives[req.request_id] = archive
            return archive

    def _username_of(self, open_id: str) -> str | None:
        with self._lock:
            user = self._users.get(open_id)
        return user.username if user else None

    def _handle_cancel(self, ctx: _Ctx, grant: _Grant) -> _Response:
        body = _json_object(ctx.body) or {}
        raw = body.get("request_id")
        if raw is None:
            query_ids = ctx.query.get("request_id") or [None]
            raw = query_ids[0]
        with self._lock:
            req = self._lookup(ctx, grant, _parse_request_id(raw))
            if req is None:
                return self._envelope_error(ctx, 400, "invalid_params", INVALID_REQUEST_ID_MESSAGE, data=False)
            cancellable = req.status == STATUS_PENDING or (
                req.status == STATUS_READY and self.config.allow_cancel_downloading
            )
            if not cancellable:
                return self._envelope_error(ctx, 400, "invalid_params",
                                            f"The data request cannot be cancelled in status {req.status}.",
                                            data=False)
            req.status = STATUS_CANCELLED
            req.cancelled_at = self.now()
        return self._json(200, {"error": {"code": "ok", "message": "", "log_id": ctx.log_id}})

    # --- state machine (lock held) -------------------------------------------------------------

    def _advance_state(self, req: FakeRequest, now: float) -> None:
        cfg = self.config
        if (req.status == STATUS_PENDING and cfg.ready_after_seconds is not None
                and now >= req.created_at + cfg.ready_after_seconds):
            self._set_ready(req, req.created_at + cfg.ready_after_seconds)
        if req.status == STATUS_READY and req.ready_at is not None and now >= req.ready_at + cfg.expire_after_seconds:
            req.status = STATUS_EXPIRED
            req.expired_at = req.ready_at + cfg.expire_after_seconds

    def _set_ready(self, req: FakeRequest, at: float) -> None:
        req.status = STATUS_READY
        req.ready_at = at
        self._queue_webhook(EVENT_DOWNLOAD_READY, {"request_id": req.request_id})

    def _ensure_ticker(self) -> None:
        """With webhooks and time-driven readiness, a background ticker fires ready events."""
        if self.config.webhook_url is None or self.config.ready_after_seconds is None:
            return
        if self._ticker is not None and self._ticker.is_alive():
            return
        self._ticker = threading.Thread(target=self._tick_loop, name="fake-tiktok-ticker", daemon=True)
        self._ticker.start()

    def _tick_loop(self) -> None:
        while not self._closed.wait(0.2):
            with self._lock:
                self.tick()
                if not any(r.status == STATUS_PENDING for r in self._requests.values()):
                    self._ticker = None
                    return

    # --- webhooks ----------------------------------------------------------------------------

    def _queue_webhook(self, event: str, content: dict, *, user_openid: str | None = None) -> None:
        url = self.config.webhook_url
        if not url:
            return
        payload: dict[str, Any] = {
            "client_key": self.config.client_key,
            "event": event,
            "create_time": int(self.now()),
        }
        if user_openid is not None:
            payload["user_openid"] = user_openid
        payload["content"] = json.dumps(content, separators=(",", ":"))
        body = _compact(payload)
        with self._wh_cond:
            for _ in range(1 + max(self.config.webhook_duplicates, 0)):
                self._wh_queue.append((url, event, body))
                self._wh_pending += 1
            if self._wh_thread is None or not self._wh_thread.is_alive():
                self._wh_thread = threading.Thread(target=self._webhook_loop, name="fake-tiktok-webhooks",
                                                   daemon=True)
                self._wh_thread.start()
            self._wh_cond.notify_all()

    def _webhook_loop(self) -> None:
        with httpx.Client(timeout=self.config.webhook_timeout) as client:
            while True:
                with self._wh_cond:
                    while not self._wh_queue and not self._closed.is_set():
                        self._wh_cond.wait(1.0)
                    if not self._wh_queue:
                        return
                    url, event, body = self._wh_queue.popleft()
                try:
                    self._deliver(client, url, event, body)
                finally:
                    with self._wh_cond:
                        self._wh_pending -= 1
                        self._wh_cond.notify_all()

    def _deliver(self, client: httpx.Client, url: str, event: str, body: bytes) -> None:
        attempts = max(self.config.webhook_max_attempts, 1)
        for attempt in range(1, attempts + 1):
            signature = sign_webhook(body, self.config.client_secret, int(time.time()))
            headers = {"Content-Type": "application/json", "TikTok-Signature": signature}
            status: int | None = None
            error: str | None = None
            try:
                status = client.post(url, content=body, headers=headers).status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self.webhook_deliveries.append(WebhookDelivery(event, body, signature, attempt, status, error))
            if status is not None and 200 <= status < 300:
                return
            if attempt < attempts and not self._closed.wait(0.1 * 2 ** (attempt - 1)):
                continue
            logger.warning("fake TikTok API: webhook %s not delivered (%s)", event, error or status)
            return


def _dropping(archive: _Archive, sent: int, declared: int, served: bool) -> Iterator[bytes]:
    """Yield part of the archive, then 'close the connection'.

    On a socket the short body with the full Content-Length makes the client see the peer close
    early; in-process the same failure is raised as httpx raises it for a real connection.
    """
    yield from archive.iter_chunks(sent)
    if served:
        return
    raise httpx.RemoteProtocolError(
        f"peer closed connection without sending complete message body: received {sent} bytes, "
        f"expected {declared} (injected drop_connection)"
    )


# --- socket server ---------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    """wsgiref's request handler without the stderr access log (it could carry query values)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def get_environ(self) -> dict:
        env = super().get_environ()
        env[_SERVED_ENVIRON_KEY] = True
        return env


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall on reverse DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)
        self.setup_environ()


class RunningServer:
    """A fake served on a socket from a background thread. Context manager; ``shutdown()`` stops it."""

    def __init__(self, fake: FakeTikTok, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake
        server_cls = _ThreadingWSGIServer
        if ":" in host:
            server_cls = type("_ThreadingWSGIServer6", (_ThreadingWSGIServer,), {"address_family": socket.AF_INET6})
        self._server = server_cls((host, port), _QuietHandler)
        self._server.set_app(fake.wsgi_app)
        self.host = host
        self.port: int = self._server.server_address[1]
        display_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{display_host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"fake-tiktok-{self.port}", daemon=True)
        self._thread.start()
        self._stopped = False

    def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


# --- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tiktok_portability_source.fake.api --port N``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="fake-api", description="Run the fake TikTok API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    parser.add_argument("--client-key", default=FakeConfig.client_key)
    parser.add_argument("--client-secret", default=FakeConfig.client_secret)
    parser.add_argument("--user", action="append", dest="users", metavar="OPEN_ID",
                        help="fake user open_id (repeatable; default fake-open-id-0001)")
    parser.add_argument("--ready-after-polls", type=int, default=1)
    parser.add_argument("--ready-after-seconds", type=float, default=None)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--consent-page", action="store_true",
                        help="show an Allow/Deny page on /v2/auth/authorize/ instead of consenting at once")
    args = parser.parse_args(list(argv) if argv is not None else None)

    config = FakeConfig(
        client_key=args.client_key, client_secret=args.client_secret,
        ready_after_polls=args.ready_after_polls, ready_after_seconds=args.ready_after_seconds,
        webhook_url=args.webhook_url, consent_page=args.consent_page,
    )
    fake = FakeTikTok(config)
    for open_id in args.users or ["fake-open-id-0001"]:
        fake.add_user(open_id)
    try:
        server = fake.serve(args.host, args.port)
    except OSError as exc:
        print(f"fake-api: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    with server:
        print(f"Fake TikTok API listening on {server.url}", flush=True)
        print(f"  client_key={config.client_key} users={','.join(args.users or ['fake-open-id-0001'])}", flush=True)
        print(f"  authorize: {server.url}{AUTHORIZE_PATH}?client_key=...&response_type=code&scope=...", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        try:
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("stopped", flush=True)
        finally:
            fake.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
