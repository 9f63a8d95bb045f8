"""The web consent app of ``tiktok-portability serve``: users connect and disconnect in a browser.

Routes (Starlette, served by ``webapp.serve`` on uvicorn)::

    GET  /               what the app reads (the configured categories) and why; "Connect TikTok"
    GET  /connect        302 to TikTok's authorize page with a fresh ``state`` bound to this browser
    GET  <callback>      the path of ``redirect_uri``: checks ``state``, exchanges the code, stores the
                         tokens, then 303 to /connected (the code leaves the address bar at once)
    GET  /connected      the connected user's status and a Disconnect form
    POST /disconnect     CSRF-checked: cancel pending requests, revoke at TikTok, forget the user's data
                         (unless ``keep_data_on_disconnect``), "disconnected" page
    POST /webhook        TikTok's webhooks (signature checked), as ``tiktok-portability webhook``
    GET  /healthz        ``ok``

The browser's session is one cookie, signed with HMAC-SHA256 under a key derived from the app's
client secret (no server-side session store; nothing in it is secret, only unforgeable): the pending
``state`` (single use, 10 minutes), then the connected ``open_id`` and the CSRF token of the
Disconnect form. It is ``HttpOnly``, ``SameSite=Lax`` (so it comes back on TikTok's top-level redirect
but not on a cross-site POST) and ``Secure`` when ``redirect_uri`` is https.

No PKCE: TikTok's web Login Kit documents only ``client_key``, ``scope``, ``redirect_uri``, ``state``
and ``response_type`` (``code_verifier`` is "required for mobile and desktop app only"); the code is
exchanged server-side with the client secret, and ``state`` ties the callback to this browser.

Errors are short HTML pages: no traceback, no token, no code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import dlt
from dlt.common.configuration import with_config
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import AccessDenied, OAuthError, TikTokError, one_line
from .auth import (
    authorize_url,
    new_state,
    parse_callback,
    redirect_is_local,
    web_redirect_path,
)
from .service import DEFAULT_SCOPES, ApiService, require
from .webapp import build_app, webhook_routes
from .webhooks import WebhookReceiver

log = logging.getLogger(__name__)

COOKIE = "tiktok_portability_session"
STATE_MAX_AGE = 600  # seconds from /connect to the callback
SESSION_MAX_AGE = 12 * 3600
MAX_FORM_BYTES = 16 * 1024
RESERVED_PATHS = frozenset({"/", "/connect", "/connected", "/disconnect", "/webhook", "/healthz"})

CATEGORY_TEXT = {
    "all_data": "everything in your TikTok data export: profile, videos, activity (watch history, likes, "
                "comments, searches, logins) and direct messages",
    "profile": "your profile (username, bio, settings)",
    "video": "your videos and their descriptions",
    "activity": "your activity: watch history, likes, favourites, comments, searches, logins",
    "direct_message": "your direct messages",
}
DEFAULT_PURPOSE = ("So that a copy of your own TikTok data is kept in a database outside TikTok, to keep and "
                   "analyse, as the EU Digital Markets Act's data portability provides")


@dataclass(frozen=True)
class ConsentSettings:
    """Keys of ``[sources.tiktok_portability]`` that only the consent app reads."""

    keep_data_on_disconnect: bool = False  # disconnect revokes at TikTok but leaves the loaded rows
    consent_purpose: str = DEFAULT_PURPOSE  # the "why" on the front page


@with_config(sections=("sources", "tiktok_portability"))
def load_consent_settings(keep_data_on_disconnect: bool | None = dlt.config.value,
                          consent_purpose: str | None = dlt.config.value) -> ConsentSettings:
    """Env ``SOURCES__TIKTOK_PORTABILITY__KEEP_DATA_ON_DISCONNECT`` etc., or ``.dlt/config.toml``."""
    return ConsentSettings(keep_data_on_disconnect=bool(keep_data_on_disconnect),
                           consent_purpose=str(consent_purpose or DEFAULT_PURPOSE))


# --- the signed session cookie -----------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """``payload.signature`` cookies: base64url JSON and its HMAC-SHA256, with an issue time."""

    def __init__(self, secret: str, *, max_age: float = SESSION_MAX_AGE, clock: Callable[[], float] = time.time):
        if not secret:
            raise ValueError("a secret is required to sign sessions")
        self._key = hmac.new(secret.encode("utf-8"), b"tiktok-portability consent session v1", hashlib.sha256).digest()
        self.max_age = max_age
        self._clock = clock

    def dumps(self, data: dict[str, Any]) -> str:
        payload = _b64(json.dumps({**data, "iat": int(self._clock())}, separators=(",", ":")).encode())
        return payload + "." + _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def loads(self, value: str | None) -> dict[str, Any]:
        """The session, or ``{}`` when missing, tampered with, malformed or too old."""
        if not value or value.count(".") != 1:
            return {}
        payload, signature = value.split(".")
        expected = _b64(hmac.new(self._key, payload.encode("ascii", "replace"), hashlib.sha256).digest())
        if not hmac.compare_digest(signature.encode("ascii", "replace"), expected.encode("ascii")):
            return {}
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("iat"), int):
            return {}
        if self._clock() - data["iat"] > self.max_age:
            return {}
        return data


# --- pages -------------------------------------------------------------------------------------

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
          "a.button,button{display:inline-block;padding:.5rem 1rem;border-radius:.3rem;border:0;font-size:1rem;"
          "background:#111;color:#fff;text-decoration:none;cursor:pointer}button.danger{background:#b00020}"
          "code{background:#f2f2f2;padding:0 .2rem}")
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the callback URL carries the code: never pass it on
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}


def page(title: str, body: str, status: int = 200, *, page_id: str = "") -> HTMLResponse:
    """A complete HTML page; ``body`` is trusted markup (escape every value that goes into it)."""
    doc = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
           f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
           f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
           f"<body id='{html.escape(page_id, quote=True)}'><h1>{html.escape(title)}</h1>{body}</body></html>")
    return HTMLResponse(doc, status_code=status, headers=dict(_HEADERS))


def error_page(status: int, title: str, message: str, *, page_id: str = "error") -> HTMLResponse:
    return page(title, f"<p id='message'>{html.escape(message)}</p><p><a href='/'>Back to the start</a></p>",
                status, page_id=page_id)


def _list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


# --- the app -----------------------------------------------------------------------------------


class ConsentApp:
    """The routes of the consent flow around one ``ApiService`` (see the module docstring)."""

    def __init__(self, service: ApiService, *, scopes: Sequence[str] = DEFAULT_SCOPES,
                 settings: ConsentSettings | None = None, where: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        config = service.config
        self.service = service
        self.client_key = require(config.client_key, "client_key")
        self.redirect_uri = config.redirect_uri
        self.callback_path = web_redirect_path(config.redirect_uri)  # raises on a URI TikTok's web flow refuses
        if self.callback_path in RESERVED_PATHS:
            raise ValueError(f"redirect_uri {config.redirect_uri!r}: its path {self.callback_path!r} is one of the "
                             f"app's own routes; use e.g. /callback/")
        self.local = redirect_is_local(config.redirect_uri)
        self.scopes = tuple(scopes)
        self.settings = settings or ConsentSettings()
        self.where = where
        self._clock = clock
        self.signer = SessionSigner(require(config.client_secret, "client_secret"), clock=clock)

    # -- session ---------------------------------------------------------------------------------
    def session(self, request: Request) -> dict[str, Any]:
        return self.signer.loads(request.cookies.get(COOKIE))

    def _with_session(self, response: Response, data: dict[str, Any] | None) -> Response:
        if data is None:
            response.delete_cookie(COOKIE, path="/", secure=not self.local, httponly=True, samesite="lax")
        else:
            response.set_cookie(COOKIE, self.signer.dumps(data), path="/", secure=not self.local,
                                httponly=True, samesite="lax")
        return response

    def _connected_user(self, session: dict[str, Any]) -> str | None:
        open_id = session.get("open_id")
        if isinstance(open_id, str) and self.service.store.get(open_id) is not None:
            return open_id
        return None

    # -- routes ----------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.home, methods=["GET", "HEAD"], name="home"),
            Route("/connect", self.connect, methods=["GET"], name="connect"),
            Route(self.callback_path, self.callback, methods=["GET"], name="callback"),
            Route("/connected", self.connected, methods=["GET"], name="connected"),
            Route("/disconnect", self.disconnect, methods=["POST"], name="disconnect"),
        ]

    def home(self, request: Request) -> Response:
        config = self.service.config
        categories = [CATEGORY_TEXT.get(c, c) for c in config.categories]
        keep = self.settings.keep_data_on_disconnect
        body = (
            "<p>This app asks TikTok for a copy of your data, through TikTok's Data Portability API.</p>"
            f"<h2>What it reads</h2>{_list(categories)}"
            f"<p>TikTok permissions asked for: {', '.join(f'<code>{html.escape(s)}</code>' for s in self.scopes)}"
            "; TikTok shows them again before you decide, and you may untick some.</p>"
            f"<h2>Why</h2><p id='purpose'>{html.escape(self.settings.consent_purpose.rstrip('.'))}.</p>"
            "<h2>Stopping</h2><p>You can disconnect at any time, here or in TikTok's settings. Disconnecting "
            "cancels requests TikTok is still preparing and revokes this app's access"
            + (", and keeps the data copied so far." if keep else ", and deletes every copy of your data here"
               + (f" ({html.escape(self.where)})" if self.where else "") + ".")
            + "</p>"
        )
        if self._connected_user(self.session(request)):
            body += "<p id='already'>This browser is connected: <a href='/connected'>see your status</a>.</p>"
        else:
            body += "<p><a class='button' id='connect' href='/connect'>Connect TikTok</a></p>"
        return page("Copy your TikTok data", body, page_id="home")

    def connect(self, request: Request) -> Response:
        state = new_state()
        session = {k: v for k, v in self.session(request).items() if k in ("open_id", "csrf")}
        session.update(state=state, state_at=int(self._clock()))
        url = authorize_url(self.client_key, self.redirect_uri, self.scopes, state,
                            authorize_base=self.service.config.authorize_url)
        response = RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
        return self._with_session(response, session)

    def callback(self, request: Request) -> Response:
        session = self.session(request)
        state, started = session.get("state"), session.get("state_at")
        rest = {k: v for k, v in session.items() if k not in ("state", "state_at", "iat")}
        if not isinstance(state, str) or not isinstance(started, int) or self._clock() - started > STATE_MAX_AGE:
            log.warning("consent callback refused: no pending sign-in in this browser (or it expired)")
            return self._with_session(error_page(
                400, "Sign-in expired",
                "This TikTok answer does not belong to a sign-in started in this browser in the last "
                "10 minutes (the state does not match). Nothing was stored. Please start again.",
                page_id="state-error"), rest)
        try:
            callback = parse_callback("?" + request.url.query, state)
        except AccessDenied:
            log.info("consent denied by the user at TikTok")
            return self._with_session(error_page(
                403, "Not connected",
                "You declined the authorization on TikTok, so this app has no access to your data and "
                "stored nothing. You can connect later if you change your mind.", page_id="denied"), rest)
        except OAuthError as exc:
            if exc.error == "state_mismatch":
                log.warning("consent callback refused: state mismatch")
                return self._with_session(error_page(
                    400, "Sign-in refused",
                    "This TikTok answer does not match the sign-in started in this browser (state "
                    "mismatch), so it was refused and nothing was stored. Please start again.",
                    page_id="state-error"), rest)
            log.warning("consent callback: TikTok returned %s", exc.error)
            return self._with_session(error_page(
                400, "Not connected", f"TikTok returned an error ({exc.error}): {exc.description or 'no details'}."
                " Nothing was stored. Please start again.", page_id="oauth-error"), rest)
        try:
            token_set = self.service.oauth.exchange_code(callback.code)  # web flow: no PKCE verifier
        except TikTokError as exc:
            log.warning("consent callback: the code exchange failed: %s", one_line(exc))
            return self._with_session(error_page(
                502, "Not connected", "TikTok did not accept the sign-in, or could not be reached. Nothing was "
                "stored. Please start again in a moment.", page_id="exchange-error"), rest)
        self.service.owed.remove(token_set.open_id)  # consented anew: an old owed revocation would undo it
        self.service.store.put(token_set, authorized_at=self.service.clock().isoformat(),
                               granted_scopes=list(callback.scopes), connected_via="web")
        log.info("connected %s (web) with scopes %s", token_set.open_id, ",".join(token_set.scopes))
        response = RedirectResponse("/connected", status_code=303, headers={"Cache-Control": "no-store"})
        return self._with_session(response, {"open_id": token_set.open_id, "csrf": secrets.token_urlsafe(24)})

    def connected(self, request: Request) -> Response:
        session = self.session(request)
        open_id = self._connected_user(session)
        if open_id is None or not isinstance(session.get("csrf"), str):
            return RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
        token_set = self.service.store.get(open_id)
        meta = self.service.store.metadata(open_id)
        scopes = ", ".join(token_set.scopes) if token_set else ""
        status = "access revoked at TikTok: connect again" if meta.get("revoked") else "connected"
        rows = []
        for transfer in self.service.transfers.for_user(open_id)[-5:]:
            line = f"request {transfer.request_id or '-'}: {transfer.state}"
            if transfer.rows_loaded is not None:
                line += f", {transfer.rows_loaded} rows loaded"
            rows.append(line)
        keep = self.settings.keep_data_on_disconnect
        body = (
            f"<p id='status'>Your TikTok account is {html.escape(status)}.</p>"
            f"<p>TikTok user id for this app: <code id='open-id'>{html.escape(open_id)}</code><br>"
            f"Permissions granted: {html.escape(scopes) or 'none'}<br>"
            f"Connected since: {html.escape(str(meta.get('authorized_at', '?'))[:19])}</p>"
            "<h2>Transfers</h2>" + (_list(rows) if rows else "<p id='transfers'>None yet: the first copy is "
                                    "requested at the next sync.</p>")
            + "<h2>Disconnect</h2><p>Cancels what TikTok is still preparing, revokes this app's access"
            + (" and keeps the data copied so far." if keep else " and deletes every copy of your data here.")
            + "</p><form method='post' action='/disconnect'>"
            f"<input type='hidden' name='csrf' value='{html.escape(session['csrf'], quote=True)}'>"
            "<button class='danger' id='disconnect' type='submit'>Disconnect</button></form>"
        )
        return page("Connected", body, page_id="connected")

    async def disconnect(self, request: Request) -> Response:
        form = await self._form(request)
        if form is None:
            return error_page(413, "Refused", "The form is too large.", page_id="csrf-error")
        session = self.session(request)
        open_id, expected = session.get("open_id"), session.get("csrf")
        sent = form.get("csrf", "")
        if not isinstance(open_id, str) or not isinstance(expected, str) or not hmac.compare_digest(
                sent.encode("utf-8", "replace"), expected.encode("utf-8")):
            log.warning("disconnect refused: missing or wrong CSRF token")
            return error_page(403, "Refused", "This request did not come from the Disconnect button of this "
                              "site (missing or wrong form token), so nothing was changed.", page_id="csrf-error")
        from starlette.concurrency import run_in_threadpool

        keep = self.settings.keep_data_on_disconnect
        try:
            report = await run_in_threadpool(self.service.disconnect, open_id, forget=not keep)
        except TikTokError as exc:
            log.warning("disconnect of %s failed: %s", open_id, one_line(exc))
            return error_page(500, "Not disconnected", f"Disconnecting failed ({one_line(exc)}); nothing was "
                              "deleted. Please try again, or contact the site's operator.")
        tiktok = ("TikTok could not be reached just now: the app will revoke its access there as soon as "
                  "it can." if report.owed else "This app's access at TikTok is revoked.")
        body = (f"<p id='message'>Your TikTok account is disconnected. {html.escape(tiktok)} "
                + ("The data copied so far is kept." if keep else "Every copy of your data here is deleted.")
                + "</p><p><a href='/'>Back to the start</a></p>")
        return self._with_session(page("Disconnected", body, page_id="disconnected"), None)

    @staticmethod
    async def _form(request: Request) -> dict[str, str] | None:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return None
        try:
            parsed = parse_qs(bytes(body).decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return {}
        return {k: v[0] for k, v in parsed.items()}

    # -- errors ----------------------------------------------------------------------------------
    def exception_handlers(self) -> dict[Any, Callable[..., Any]]:
        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            response = error_page(exc.status_code, "Not found" if exc.status_code == 404 else "Not allowed",
                                  exc.detail or "This page does not exist.")
            for key, value in (exc.headers or {}).items():
                response.headers[key] = value
            return response

        async def server_error(request: Request, exc: Exception) -> Response:
            log.error("consent app: %s on %s %s", one_line(exc), request.method, request.url.path)
            return error_page(500, "Something went wrong", "The app hit an error and stopped this request; "
                              "nothing more was changed. Please try again later.")

        return {HTTPException: http_error, Exception: server_error}


def consent_app(service: ApiService, *, receiver: WebhookReceiver | None = None,
                scopes: Sequence[str] = DEFAULT_SCOPES, settings: ConsentSettings | None = None,
                where: str = "", clock: Callable[[], float] = time.time):
    """The Starlette app: the consent routes, ``POST /webhook`` when a receiver is given, ``/healthz``."""
    app = ConsentApp(service, scopes=scopes, settings=settings, where=where, clock=clock)
    routes = app.routes() + (webhook_routes(receiver) if receiver is not None else [])
    starlette_app = build_app(routes, exception_handlers=app.exception_handlers())
    starlette_app.state.consent = app
    return starlette_app


__all__ = ["COOKIE", "ConsentApp", "ConsentSettings", "SessionSigner", "consent_app", "load_consent_settings"]
