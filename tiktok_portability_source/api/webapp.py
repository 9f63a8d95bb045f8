"""The package's web server: Starlette routes on uvicorn, in a background thread, with timeouts and limits.

The pieces compose, so the webhook receiver and a consent app (``/``, ``/connect``, ``/callback/``,
``/disconnect``, ``/webhook``) can share one server::

    app = build_app([*consent_routes, *webhook_routes(receiver)])   # build_app adds GET /healthz
    running = serve(app, "127.0.0.1", 8090)                           # .url, .shutdown()

Limits (``ServerLimits``), all per process:

* request line and headers: at most ``max_header_bytes`` (h11; beyond it a 400), and complete within
  ``request_header_timeout`` seconds of the connection opening or of its previous response, else the
  connection is closed. uvicorn itself has no such deadline: its keep-alive timer only runs between
  requests and any byte received cancels it, so a client that sends half a request line (or a byte of
  header now and then) would hold its connection forever;
* idle keep-alive connections close after ``keep_alive_timeout`` seconds;
* ``limit_concurrency`` open connections (half-open ones count), capped to what ``RLIMIT_NOFILE``
  leaves room for: a connection beyond it is closed as soon as it is accepted (so the process never
  runs out of descriptors), and the last one's request is answered 503 (TikTok retries either way);
* the listen ``backlog``; on shutdown, running requests get ``graceful_shutdown_timeout`` seconds;
* the webhook body: ``WebhookReceiver.max_body_bytes`` (413, read in chunks, the rest unread) and
  ``body_timeout`` seconds to arrive (408).

Residual risk: a single client that holds ``limit_concurrency`` half-open connections and renews them
within each header deadline (4,096 per 10 s by default) still keeps a delivery out until it stops;
TikTok then retries for 72 hours. There is no per-client limit here: TikTok only calls HTTPS URLs, so
production runs behind a TLS-terminating proxy, which is where per-client limits belong.

Importing this module imports Starlette and uvicorn; nothing in the package imports it at import time.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from .webhooks import WebhookReceiver

log = logging.getLogger(__name__)

BODY_TIMEOUT_SECONDS = 10.0
_FD_HEADROOM = 128  # descriptors kept for the process's own files, databases and outgoing connections


@dataclass(frozen=True)
class ServerLimits:
    """Timeouts and limits of ``serve`` (see the module docstring)."""

    request_header_timeout: float = 10.0
    keep_alive_timeout: int = 5
    max_header_bytes: int = 16 * 1024
    limit_concurrency: int | None = 4096
    backlog: int = 2048
    graceful_shutdown_timeout: int = 5


# --- routes ------------------------------------------------------------------------------------


def _plain(code: int, text: str, *, close: bool = False) -> Response:
    return PlainTextResponse(text, status_code=code, headers={"Connection": "close"} if close else None)


def webhook_routes(
    receiver: WebhookReceiver,
    *,
    paths: Sequence[str] = ("/webhook",),
    body_timeout: float = BODY_TIMEOUT_SECONDS,
) -> list[BaseRoute]:
    """The TikTok webhook endpoint, ``POST`` at each of ``paths`` (Starlette answers other methods 405).

    The body is read in chunks: past ``receiver.max_body_bytes`` it is answered 413 with the rest
    unread, and it must arrive within ``body_timeout`` seconds (else 408)."""

    async def webhook(request: Request) -> Response:
        early = receiver.check_length(request.method, request.headers.get("content-length"))
        if early is not None:
            return _plain(*early, close=early[0] != 405)
        body = bytearray()
        try:
            with anyio.fail_after(body_timeout):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > receiver.max_body_bytes:
                        break  # handle_request answers 413; the rest stays unread
        except TimeoutError:
            log.warning("rejected webhook (408): body not received within %gs", body_timeout)
            return _plain(408, "body not received in time", close=True)
        except ClientDisconnect:
            log.info("webhook sender went away before its body was complete")
            return _plain(400, "incomplete body", close=True)
        code, text = receiver.handle_request(request.method, request.headers, bytes(body))
        return _plain(code, text, close=code == 413)

    return [Route(path, webhook, methods=["POST"], name=f"webhook:{path}") for path in paths]


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def health_route(path: str = "/healthz") -> BaseRoute:
    """``GET /healthz`` answers 200 ``ok`` while the server runs."""
    return Route(path, _healthz, methods=["GET", "HEAD"], name="healthz")


def build_app(routes: Sequence[BaseRoute], *, health: bool = True,
              exception_handlers: Mapping[Any, Callable[..., Any]] | None = None) -> Starlette:
    """A Starlette app of ``routes``, plus ``/healthz`` unless ``health=False`` or a route has that path.

    ``exception_handlers`` go to Starlette as they are (the consent app renders its error pages with
    them); without any, an unhandled error is a bare 500 with no traceback (``debug=False``)."""
    all_routes = list(routes)
    if health and not any(getattr(r, "path", None) == "/healthz" for r in all_routes):
        all_routes.append(health_route())
    return Starlette(debug=False, routes=all_routes, exception_handlers=dict(exception_handlers or {}))


# --- the server --------------------------------------------------------------------------------


class _DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers.

    Armed when the connection opens and after every response; when it passes and no new request
    has started since, the connection is closed. Unlike uvicorn's keep-alive timer, bytes that
    trickle in do not push it back."""

    request_header_timeout: float = 10.0
    _request_deadline: asyncio.TimerHandle | None = None

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        if not config.access_log:  # uvicorn goes by whether its access logger has handlers; a test's may
            self.access_log = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limit = self.limit_concurrency
        if limit is not None and len(self.connections) > limit:
            _note_shedding(limit)  # closed at once: the process never runs out of file descriptors
            transport.close()
            return
        self._arm_request_deadline()

    def on_response_complete(self) -> None:
        self._arm_request_deadline()  # before uvicorn starts a pipelined request, which then disarms it
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_request_deadline()
        super().connection_lost(exc)

    def _arm_request_deadline(self) -> None:
        self._disarm_request_deadline()
        self._request_deadline = self.loop.call_later(
            self.request_header_timeout, self._request_deadline_passed, self.cycle)

    def _disarm_request_deadline(self) -> None:
        if self._request_deadline is not None:
            self._request_deadline.cancel()
            self._request_deadline = None

    def _request_deadline_passed(self, armed_for: Any) -> None:
        self._request_deadline = None
        if self.cycle is not armed_for or self.transport is None or self.transport.is_closing():
            return  # a request started in time
        log.debug("closing a connection whose request did not arrive within %gs", self.request_header_timeout)
        self.transport.close()


_last_shed_warning = 0.0


def _note_shedding(limit: int) -> None:
    global _last_shed_warning
    now = time.monotonic()
    if now - _last_shed_warning >= 10:  # one line per 10 s, however many connections are shed
        _last_shed_warning = now
        log.warning("web server: %d connections open; closing new ones until some finish", limit)


def _protocol(request_header_timeout: float) -> type[H11Protocol]:
    return type("DeadlineH11Protocol", (_DeadlineH11Protocol,), {"request_header_timeout": request_header_timeout})


def _concurrency(limit: int | None) -> int | None:
    """``limit``, lowered so that the connections it admits fit under ``RLIMIT_NOFILE``."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limit
    room = max(soft - _FD_HEADROOM, 16)
    if limit is None or limit > room:
        log.info("web server: at most %d concurrent connections (RLIMIT_NOFILE %d)", room, soft)
        return room
    return limit


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    return sock


class RunningServer:
    """A uvicorn server running an app in a daemon thread: ``url``, ``host``, ``port``, ``shutdown()``."""

    def __init__(self, server: uvicorn.Server, sock: socket.socket, thread: threading.Thread) -> None:
        self.server = server
        self._sock = sock
        self._thread = thread
        self.host, self.port = sock.getsockname()[:2]
        self._stopped = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self.server.started and not self.server.should_exit

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting, close idle connections, give running requests a moment, stop the thread."""
        if self._stopped:
            return
        self._stopped = True
        self.server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(5)
        self._sock.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"RunningServer({self.url})"


def serve(app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, limits: ServerLimits | None = None,
          startup_timeout: float = 15.0) -> RunningServer:
    """Run ``app`` on uvicorn in a background thread; return once it accepts connections.

    Port 0 picks a free port (see ``url``). Logging is left to the process (no uvicorn log config,
    no access log: a rejected request logs its own line)."""
    limits = limits or ServerLimits()
    sock = _bind(host, port)
    config = uvicorn.Config(
        app,
        http=_protocol(limits.request_header_timeout),
        lifespan="auto",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_keep_alive=limits.keep_alive_timeout,
        limit_concurrency=_concurrency(limits.limit_concurrency),
        backlog=limits.backlog,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_graceful_shutdown=limits.graceful_shutdown_timeout,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="web-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            sock.close()
            raise RuntimeError(f"the web server on {host}:{port} did not start")
        time.sleep(0.01)
    return RunningServer(server, sock, thread)


__all__ = [
    "BODY_TIMEOUT_SECONDS",
    "RunningServer",
    "ServerLimits",
    "build_app",
    "health_route",
    "serve",
    "webhook_routes",
]
