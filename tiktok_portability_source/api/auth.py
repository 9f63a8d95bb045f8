"""Login Kit v2 OAuth: authorize URL with PKCE, callback parsing, token exchange/refresh/revoke,
a token store for many users (SQLite or PostgreSQL, tokens encrypted), and a manager that honours
refresh-token rotation.

TikTok rotates the refresh token on every refresh and kills the old one at once
(docs/tiktok-api.md §2.4), so the new pair is committed to the store *before* the new access token is
used, and a user's refreshes are serialised across threads and processes (``TokenStore.locked``).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import quote, unquote, unquote_plus, urlencode, urlsplit

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from .. import settings
from ..crash import crash_point
from .filestore import JsonFile, shred_store_file
from .stores import (KEY_CHECK, META, TOKENS, Backend, MigratingStore, TokenCipher, configured_key, legacy_json_for,
                     open_backend, resolve_cipher, wrong_key)
from ..errors import (
    AccessDenied,
    InvalidGrant,
    OAuthError,
    OAuthRetryable,
    ReauthorizationRequired,
    TokenStoreError,
    TransportError,
    mask,
    oauth_error_from_body,
    register_secret,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

PKCE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def utcnow() -> datetime:
    """The default clock: aware UTC now."""
    return datetime.now(timezone.utc)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


# --- PKCE and the authorize URL --------------------------------------------------------------


def new_code_verifier(length: int = 64) -> str:
    """A random PKCE verifier: 43–128 characters from ``A-Z a-z 0-9 - . _ ~``."""
    if not 43 <= length <= 128:
        raise ValueError("PKCE verifier length must be 43..128")
    return "".join(secrets.choice(PKCE_ALPHABET) for _ in range(length))


def code_challenge(verifier: str) -> str:
    """TikTok's S256 challenge: **hex**-encoded SHA-256 of the verifier (not base64url)."""
    if not 43 <= len(verifier) <= 128 or any(c not in PKCE_ALPHABET for c in verifier):
        raise ValueError("invalid PKCE code verifier")
    return hashlib.sha256(verifier.encode("ascii")).hexdigest()


def new_state() -> str:
    """An unguessable CSRF ``state`` value."""
    return secrets.token_urlsafe(24)


def _scope_list(scopes: str | Iterable[str]) -> list[str]:
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    out: list[str] = []
    for s in (str(x).strip() for x in items):
        if s and s not in out:
            out.append(s)
    return out


def authorize_url(
    client_key: str,
    redirect_uri: str,
    scopes: str | Iterable[str],
    state: str,
    code_challenge: str | None = None,
    authorize_base: str = settings.AUTHORIZE_URL,
    disable_auto_auth: bool | int | None = None,
) -> str:
    """Build the Login Kit authorize URL (§2.2): comma-separated ``scope``, PKCE when given."""
    scope_list = _scope_list(scopes)
    if not scope_list:
        raise ValueError("at least one scope is required")
    if not state:
        raise ValueError("state is required (CSRF protection)")
    params: list[tuple[str, str]] = [
        ("client_key", client_key),
        ("response_type", "code"),
        ("scope", ",".join(scope_list)),
        ("redirect_uri", redirect_uri),
        ("state", state),
    ]
    if disable_auto_auth is not None:
        params.append(("disable_auto_auth", "1" if int(disable_auto_auth) else "0"))
    if code_challenge:
        params += [("code_challenge", code_challenge), ("code_challenge_method", "S256")]
    query = urlencode(params, quote_via=quote, safe=",")
    return f"{authorize_base}{'&' if '?' in authorize_base else '?'}{query}"


@dataclass(frozen=True, repr=False)
class Callback:
    """What the redirect carried: the (decoded) code and the scopes actually granted."""

    code: str
    scopes: tuple[str, ...]
    state: str | None = None

    def __repr__(self) -> str:
        return f"Callback(code={mask(self.code)}, scopes={self.scopes!r})"


def _query_pairs(url_or_query: str) -> dict[str, str]:
    """Split a query; ``code`` is percent-decoded without turning ``+`` into a space."""
    query = url_or_query
    if "://" in url_or_query or url_or_query.startswith("/"):
        query = urlsplit(url_or_query).query
    query = query.lstrip("?").split("#", 1)[0]
    out: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        key = unquote_plus(key)
        out.setdefault(key, unquote(value) if key == "code" else unquote_plus(value))
    return out


def parse_callback(url_or_query: str, expected_state: str) -> Callback:
    """Validate the redirect (state, error) and return the code and granted scopes (§2.3)."""
    if not expected_state:
        raise ValueError("expected_state is required (CSRF protection)")
    params = _query_pairs(url_or_query)
    state = params.get("state")
    error = params.get("error")
    if error and state is None:
        raise oauth_error_from_body(
            {"error": error, "error_description": params.get("error_description", "")}
        )
    if not secrets.compare_digest(
        (state or "").encode(), expected_state.encode()
    ):
        raise OAuthError("state_mismatch", "the callback state does not match this login attempt")
    if error:
        raise oauth_error_from_body(
            {"error": error, "error_description": params.get("error_description", "")}
        )
    code = params.get("code")
    if not code:
        raise OAuthError("missing_code", "the callback carries neither a code nor an error")
    register_secret(code)
    return Callback(code=code, scopes=tuple(_scope_list(params.get("scopes", ""))), state=state)


# --- tokens ----------------------------------------------------------------------------------


def _dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    return _aware(datetime.fromisoformat(str(value)))


@dataclass(frozen=True, repr=False)
class TokenSet:
    """One user's token pair with absolute expiry times (UTC)."""

    open_id: str
    access_token: str
    refresh_token: str
    expires_at: datetime
    refresh_expires_at: datetime
    scopes: tuple[str, ...] = ()
    token_type: str = "Bearer"

    def __post_init__(self) -> None:
        object.__setattr__(self, "expires_at", _aware(self.expires_at))
        object.__setattr__(self, "refresh_expires_at", _aware(self.refresh_expires_at))
        object.__setattr__(self, "scopes", tuple(self.scopes))
        register_secret(self.access_token)
        register_secret(self.refresh_token)

    def __repr__(self) -> str:
        return (
            f"TokenSet(open_id={self.open_id!r}, access_token={mask(self.access_token)}, "
            f"refresh_token={mask(self.refresh_token)}, expires_at={self.expires_at.isoformat()}, "
            f"refresh_expires_at={self.refresh_expires_at.isoformat()}, scopes={self.scopes!r})"
        )

    __str__ = __repr__

    @classmethod
    def from_response(
        cls, body: Mapping[str, Any], now: datetime, previous: "TokenSet | None" = None
    ) -> "TokenSet":
        """Parse the flat token body (§2.4); expiry = ``now`` + ``expires_in``.

        Fields a refresh reply might omit (scope, refresh token) fall back to ``previous``.
        """
        now = _aware(now)
        try:
            access = str(body["access_token"])
            expires_in = int(body["expires_in"])
        except (KeyError, TypeError, ValueError):
            raise OAuthError("invalid_response", "token response lacks access_token/expires_in") from None
        refresh = body.get("refresh_token") or (previous.refresh_token if previous else None)
        open_id = body.get("open_id") or (previous.open_id if previous else None)
        if not refresh or not open_id:
            raise OAuthError("invalid_response", "token response lacks refresh_token/open_id")
        if body.get("refresh_expires_in") is not None:
            refresh_expires_at = now + timedelta(seconds=int(body["refresh_expires_in"]))
        elif previous is not None:
            refresh_expires_at = previous.refresh_expires_at
        else:
            raise OAuthError("invalid_response", "token response lacks refresh_expires_in")
        scope = body.get("scope")
        scopes = tuple(_scope_list(scope)) if scope else (previous.scopes if previous else ())
        return cls(
            open_id=str(open_id),
            access_token=access,
            refresh_token=str(refresh),
            expires_at=now + timedelta(seconds=expires_in),
            refresh_expires_at=refresh_expires_at,
            scopes=scopes,
            token_type=str(body.get("token_type") or "Bearer"),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO 8601 UTC times)."""
        return {
            "open_id": self.open_id,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
            "refresh_expires_at": self.refresh_expires_at.isoformat(),
            "scopes": list(self.scopes),
            "token_type": self.token_type,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> "TokenSet":
        """Inverse of ``to_json`` (also accepts the JSON text)."""
        d = json.loads(data) if isinstance(data, str) else data
        return cls(
            open_id=str(d["open_id"]),
            access_token=str(d["access_token"]),
            refresh_token=str(d["refresh_token"]),
            expires_at=_dt(d["expires_at"]),
            refresh_expires_at=_dt(d["refresh_expires_at"]),
            scopes=tuple(_scope_list(d.get("scopes") or ())),
            token_type=str(d.get("token_type") or "Bearer"),
        )

    def needs_refresh(self, now: datetime, margin: float = settings.TOKEN_REFRESH_MARGIN_SECONDS) -> bool:
        """True when the access token expires within ``margin`` seconds."""
        return _aware(now) >= self.expires_at - timedelta(seconds=margin)

    def refresh_expired(self, now: datetime) -> bool:
        """True when the refresh token itself is past its lifetime."""
        return _aware(now) >= self.refresh_expires_at


# --- OAuth client ----------------------------------------------------------------------------


def _is_oauth_error(error: Any) -> bool:
    """A flat ``error`` string, or (tolerated) a v2 envelope whose code is not ``ok``."""
    if isinstance(error, Mapping):
        return error.get("code") not in (None, "", "ok")
    return error not in (None, "", "ok", 0)


def _is_retryable_oauth(exc: BaseException) -> bool:
    return isinstance(exc, (OAuthRetryable, httpx.TransportError))


class OAuthClient:
    """Token endpoint calls (§2.4–2.6). Retries server_error/temporarily_unavailable/5xx and
    connection errors with bounded backoff; ``invalid_grant`` and config errors are raised at once.
    """

    def __init__(
        self,
        client_key: str,
        client_secret: str,
        redirect_uri: str,
        base_url: str = settings.API_BASE_URL,
        http: httpx.Client | None = None,
        clock: Clock = utcnow,
        *,
        transport: httpx.BaseTransport | None = None,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        timeout: httpx.Timeout | float = 30.0,
    ) -> None:
        self.client_key = client_key
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.base_url = base_url.rstrip("/")
        self._own_http = http is None
        self._http = http or httpx.Client(transport=transport, timeout=timeout)
        self._clock = clock
        self._max_attempts = max(1, max_attempts)
        self._wait = wait_random_exponential(multiplier=backoff_base, max=backoff_cap)
        self._sleep = sleep
        register_secret(client_secret)

    def __repr__(self) -> str:
        return f"OAuthClient(client_key={self.client_key!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> "OAuthClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post_form(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any] | None]:
        """POST once; return (status, parsed JSON body or None). OAuth errors raise typed."""
        response = self._http.post(
            self.base_url + path,
            data=form,
            headers={"Cache-Control": "no-cache", "Accept": "application/json"},
        )
        body: Any = None
        if response.content.strip():
            try:
                body = json.loads(response.content)
            except ValueError:
                body = None
        # §2.6, undocumented by TikTok: this project's choice: the HTTP status of an OAuth error is undocumented; read the body.
        if isinstance(body, dict) and _is_oauth_error(body.get("error")):
            raise oauth_error_from_body(body, response.status_code)
        if response.status_code >= 500 or response.status_code == 429:
            raise OAuthRetryable("server_error", f"HTTP {response.status_code} without an OAuth body",
                                 None, response.status_code)
        if response.status_code >= 400:
            raise OAuthError(f"http_{response.status_code}", "error response without an OAuth body",
                             None, response.status_code)
        if body is not None and not isinstance(body, dict):
            raise OAuthError("invalid_response", "token endpoint returned non-object JSON", None,
                             response.status_code)
        if body is None and response.content.strip():
            raise OAuthError("invalid_response", "token endpoint returned non-JSON", None,
                             response.status_code)
        return response.status_code, body

    def _call(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any] | None]:
        def before_sleep(state: Any) -> None:
            exc = state.outcome.exception()
            detail = f"{exc.error} [log_id={exc.log_id or '-'}]" if isinstance(exc, OAuthError) \
                else type(exc).__name__
            log.info("retrying %s (attempt %d/%d) after %s", path, state.attempt_number,
                     self._max_attempts, detail)

        retrying = Retrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable_oauth),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._post_form, path, form)
        except httpx.TransportError as exc:
            raise TransportError(
                f"POST {path} failed after {self._max_attempts} attempts: {type(exc).__name__}"
            ) from exc

    def exchange_code(self, code: str, code_verifier: str | None = None) -> TokenSet:
        """Trade an authorization code (used once, at once: undocumented by TikTok: this project's choice) for a token pair."""
        register_secret(code)
        form = {
            "client_key": self.client_key,
            "client_secret": self._client_secret,
            "code": code,
            "grant_type": "authorization_code",
            "redirect_uri": self.redirect_uri,
        }
        if code_verifier:
            form["code_verifier"] = code_verifier
        now = self._clock()
        _, body = self._call(settings.TOKEN_PATH, form)
        return TokenSet.from_response(body or {}, now)

    def refresh(self, token_set: TokenSet) -> TokenSet:
        """Refresh grant. The returned pair replaces ``token_set``, whose refresh token is now dead."""
        form = {
            "client_key": self.client_key,
            "client_secret": self._client_secret,
            "grant_type": "refresh_token",
            "refresh_token": token_set.refresh_token,
        }
        now = self._clock()
        _, body = self._call(settings.TOKEN_PATH, form)
        return TokenSet.from_response(body or {}, now, previous=token_set)

    def revoke(self, access_token: str) -> None:
        """Revoke the user's authorization (§2.5); success is an empty body."""
        form = {"client_key": self.client_key, "client_secret": self._client_secret, "token": access_token}
        self._call(settings.REVOKE_PATH, form)


# --- token store -----------------------------------------------------------------------------


class TokenStore(MigratingStore):
    """Many users' token sets, one row per ``open_id``, with per-user metadata (``api/stores.py``).

    By default a SQLite file, ``store.sqlite3``, beside the configured ``token_store`` path (which
    still names ``…/tokens.json``, the file of earlier versions: found there, it is moved in on first
    use and deleted); a path not ending in ``.json`` is the SQLite file itself. With ``store_url`` the
    rows live in PostgreSQL instead. The token pair of each row is encrypted (``store_key``, or a key
    file generated beside a local store); metadata (scopes granted, times, ``revoked``…) is not.

    A write touches one row in one transaction, so its cost does not grow with the number of users.
    ``locked(open_id)`` serialises a user's token refresh across threads and processes (a file lock
    beside a SQLite store, an advisory lock in PostgreSQL); the rotated pair is committed by ``put``
    before the lock is let go.
    """

    VERSION = 1
    REAUTH_MARKS = ("revoked", "needs_reauth", "reauth_reason")  # a fresh grant clears them

    def __init__(self, path: str | os.PathLike[str], *, strict_permissions: bool = False, url: str | None = None,
                 key: str | None = None, backend: Backend | None = None) -> None:
        """``url=None`` / ``key=None``: ``store_url`` / ``store_key`` from config (``url=""``: the local file)."""
        super().__init__(legacy_json_for(path, "tokens"),
                         backend or open_backend(path, url=url, strict=strict_permissions))
        self.strict_permissions = strict_permissions
        self._key = key
        self._cipher: TokenCipher | None = None
        if key:
            register_secret(key)

    def __repr__(self) -> str:
        return f"TokenStore({self.location!r})"

    # -- plumbing ----------------------------------------------------------------------------
    def cipher(self) -> TokenCipher:
        """The store's token encryption, for another file that must hold a token (owed revocations)."""
        return self._encryption()

    def _encryption(self) -> TokenCipher:
        if self._cipher is None:
            with self._setup:
                if self._cipher is None:
                    self._cipher = resolve_cipher(self._backend, self._key or configured_key())
        return self._cipher

    def _encode(self, token_set: TokenSet) -> str:
        return self._encryption().encrypt(json.dumps(token_set.to_json(), sort_keys=True))

    def _decode(self, open_id: str, stored: str) -> TokenSet:
        from cryptography.fernet import InvalidToken

        cipher = self._encryption()
        try:
            token_set = TokenSet.from_json(cipher.decrypt(stored))
        except InvalidToken:
            raise wrong_key(self.location, cipher.source) from None
        except (KeyError, TypeError, ValueError):
            raise TokenStoreError(f"token store {self.location}: the stored tokens of {open_id} have an unexpected "
                                  "shape") from None
        if token_set.open_id != open_id:  # rows swapped by hand: never hand out another user's token
            raise TokenStoreError(f"token store {self.location}: the row of {open_id} holds another user's tokens")
        return token_set

    def _row(self, open_id: str) -> tuple[str | None, dict[str, Any]] | None:
        if not self._ready():
            return None
        rows = self._backend.query(f"SELECT token, metadata FROM {TOKENS} WHERE open_id = ?", (open_id,))
        return (rows[0][0], _meta(rows[0][1])) if rows else None

    def _update(self, open_id: str, change: Callable[[str | None, dict[str, Any]], tuple[str | None, dict[str, Any]]]
                ) -> None:
        """Read-modify-write of one user's row in one transaction (row locked until it commits)."""
        self._ready()
        backend = self._backend
        now = datetime.now(timezone.utc).isoformat()
        with backend.transaction("tokens") as tx:
            if backend.for_update:  # PostgreSQL: a row to lock, even for a user not stored yet
                tx.execute(f"INSERT INTO {TOKENS} (open_id, token, metadata, updated_at) VALUES (?, NULL, '{{}}', ?) "
                           "ON CONFLICT (open_id) DO NOTHING", (open_id, now))
            rows = tx.execute(f"SELECT token, metadata FROM {TOKENS} WHERE open_id = ?{backend.for_update}", (open_id,))
            token, meta = change(rows[0][0] if rows else None, _meta(rows[0][1]) if rows else {})
            tx.execute(f"INSERT INTO {TOKENS} (open_id, token, metadata, updated_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (open_id) DO UPDATE SET token = excluded.token, metadata = excluded.metadata, "
                       "updated_at = excluded.updated_at",
                       (open_id, token, json.dumps(meta, sort_keys=True, default=str), now))

    def _migrate(self) -> None:
        """``tokens.json`` of an earlier version: every user in one transaction, then the file is
        overwritten and deleted. A row already in the store wins (a run killed after the commit and
        before the delete leaves the file behind; the store is newer then)."""
        legacy = JsonFile(self.legacy_path, "token store", strict=self.strict_permissions)
        with legacy.locked():  # an older version still writing it waits, and so does a racing migration
            data = legacy.read()
            if data is not None:
                users = data.get("users", {})
                if not isinstance(users, dict):
                    raise TokenStoreError(f"token store {self.legacy_path} has an unexpected shape")
                now = datetime.now(timezone.utc).isoformat()
                rows = []
                for open_id, entry in users.items():
                    entry = entry if isinstance(entry, dict) else {}
                    try:
                        token = TokenSet.from_json(entry["token"]) if entry.get("token") else None
                    except (KeyError, TypeError, ValueError):
                        raise TokenStoreError(f"token store {self.legacy_path}: the tokens of {open_id} have an "
                                              "unexpected shape") from None
                    meta = entry.get("metadata") if isinstance(entry.get("metadata"), dict) else {}
                    rows.append((str(open_id), self._encode(token) if token else None,
                                 json.dumps(meta, sort_keys=True, default=str), now))
                with self._backend.transaction("tokens") as tx:
                    for row in rows:
                        tx.execute(f"INSERT INTO {TOKENS} (open_id, token, metadata, updated_at) VALUES (?, ?, ?, ?) "
                                   "ON CONFLICT (open_id) DO NOTHING", row)
                crash_point("migrated_tokens")  # in the store, the JSON file not deleted yet
                log.info("moved %d user(s) from %s into the token store %s", len(rows), self.legacy_path, self.location)
            shred_store_file(self.legacy_path)
        with contextlib.suppress(OSError):
            legacy.lock_path.unlink()

    # public API ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, open_id: str | None = None) -> Iterator[None]:
        """Hold the refresh lock of ``open_id`` (of the whole store without one); re-entrant."""
        self._ready()
        with self._backend.locked("tokens" if open_id is None else f"tokens:{open_id}"):
            yield

    def get(self, open_id: str) -> TokenSet | None:
        """The stored token set of ``open_id``, or None."""
        row = self._row(open_id)
        return self._decode(open_id, row[0]) if row and row[0] else None

    def put(self, token_set: TokenSet, **metadata: Any) -> None:
        """Store (replace) a user's tokens; a fresh grant clears ``revoked``/``needs_reauth``.

        Committed (durably) when this returns."""
        self._ready()
        token = self._encode(token_set)

        def change(_: str | None, meta: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
            for mark in self.REAUTH_MARKS:
                meta.pop(mark, None)
            meta.update(metadata)
            return token, meta

        self._update(token_set.open_id, change)

    def delete(self, open_id: str) -> bool:
        """Remove the user's tokens and metadata; True if there was anything. Nothing of the row stays
        in the store's files (see ``Backend.scrub``)."""
        if not self._ready():
            return False
        with self._backend.transaction("tokens") as tx:
            tx.execute(f"DELETE FROM {TOKENS} WHERE open_id = ?", (open_id,))
            deleted = tx.rowcount > 0
        if deleted:
            self._backend.scrub()
        return deleted

    def open_ids(self) -> list[str]:
        """Every user in the store (including ones marked revoked), sorted."""
        if not self._ready():
            return []
        return sorted(r[0] for r in self._backend.query(f"SELECT open_id FROM {TOKENS}"))

    def metadata(self, open_id: str) -> dict[str, Any]:
        """A copy of the user's metadata (empty when unknown)."""
        row = self._row(open_id)
        return row[1] if row else {}

    def set_metadata(self, open_id: str, **kv: Any) -> None:
        """Merge JSON-serialisable values into the user's metadata (``None`` deletes a key)."""

        def change(token: str | None, meta: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
            for key, value in kv.items():
                if value is None:
                    meta.pop(key, None)
                else:
                    meta[key] = value
            return token, meta

        self._update(open_id, change)

    def reencrypt(self) -> int:
        """Encrypt every stored pair with the first key of ``store_key`` (after putting a new key first:
        ``store_key = "<new>,<old>"``); then the old key can go. Returns the rows rewritten."""
        if not self._ready():
            return 0
        cipher = self._encryption()
        with self._backend.transaction("tokens") as tx:
            rows = tx.execute(f"SELECT open_id, token FROM {TOKENS} WHERE token IS NOT NULL{self._backend.for_update}")
            for open_id, token in rows:
                self._decode(open_id, token)  # a row no key opens fails here, before anything changed
                tx.execute(f"UPDATE {TOKENS} SET token = ? WHERE open_id = ?", (cipher.rotate(token), open_id))
            tx.execute(f"UPDATE {META} SET value = ? WHERE name = 'key_check'", (cipher.encrypt(KEY_CHECK.decode()),))
        return len(rows)

    def close(self) -> None:
        self._backend.close()


def _meta(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        raise TokenStoreError("a token store row has metadata that is not JSON") from None
    return value if isinstance(value, dict) else {}


# --- token manager and providers -------------------------------------------------------------


class TokenManager:
    """Hands out valid access tokens for stored users, refreshing (and persisting) as needed."""

    def __init__(
        self,
        oauth: OAuthClient,
        store: TokenStore,
        clock: Clock = utcnow,
        margin: float = settings.TOKEN_REFRESH_MARGIN_SECONDS,
    ) -> None:
        self.oauth = oauth
        self.store = store
        self._clock = clock
        self._margin = margin
        self._seen: dict[str, TokenSet] = {}  # the pair each user's last token came from

    def __repr__(self) -> str:
        return f"TokenManager(store={self.store!r})"

    def _load(self, open_id: str) -> TokenSet:
        if self.store.metadata(open_id).get("revoked"):
            raise ReauthorizationRequired(open_id, "the authorization was revoked or expired")
        token_set = self.store.get(open_id)
        if token_set is None:
            raise ReauthorizationRequired(open_id, "no stored token")
        return token_set

    def access_token(self, open_id: str) -> str:
        """A valid access token for ``open_id``; refreshes when it expires within the margin."""
        token_set = self._load(open_id)
        self._seen[open_id] = token_set
        if not token_set.needs_refresh(self._clock(), self._margin):
            return token_set.access_token
        return self._refresh(open_id, token_set, force=False)

    def force_refresh(self, open_id: str) -> str:
        """Refresh after TikTok said ``access_token_invalid`` (unless another process just did)."""
        started = self._seen.get(open_id) or self._load(open_id)
        return self._refresh(open_id, started, force=True)

    def _refresh(self, open_id: str, started: TokenSet, *, force: bool) -> str:
        with self.store.locked(open_id):
            current = self._load(open_id)  # re-read under the lock
            now = self._clock()
            rotated_elsewhere = current.refresh_token != started.refresh_token
            if (rotated_elsewhere or not force) and not current.needs_refresh(now, self._margin):
                self._seen[open_id] = current
                return current.access_token
            if current.refresh_expired(now):
                self._mark_reauth(open_id, "refresh_token_expired")
                raise ReauthorizationRequired(open_id, "the refresh token has expired")
            try:
                new = self.oauth.refresh(current)
            except InvalidGrant as exc:
                self._mark_reauth(open_id, "invalid_grant")
                raise ReauthorizationRequired(open_id, f"refresh rejected: {exc}") from None
            # from here until put() returns, the old refresh token is dead at TikTok and the new
            # one lives only in this process: nothing may run in between
            crash_point("refresh_response")
            if new.open_id != open_id:  # should not happen; never file tokens under another user
                log.warning("refresh for %s returned open_id %s; keeping the stored key", open_id, new.open_id)
                new = replace(new, open_id=open_id)
            self.store.put(new)  # committed (durably) BEFORE the new access token is handed out
            crash_point("refresh_persisted")
            self._seen[open_id] = new
            log.info("refreshed tokens for %s (access token valid until %s)", open_id,
                     new.expires_at.isoformat())
            return new.access_token

    def _mark_reauth(self, open_id: str, reason: str) -> None:
        self.store.set_metadata(open_id, revoked=True, needs_reauth=True, reauth_reason=reason,
                                reauth_marked_at=self._clock().isoformat())
        log.warning("user %s must authorize the app again (%s)", open_id, reason)

    def for_user(self, open_id: str) -> "UserTokenProvider":
        """A per-user provider to plug into ``PortabilityClient``."""
        return UserTokenProvider(self, open_id)


@dataclass(frozen=True)
class UserTokenProvider:
    """``access_token()`` / ``force_refresh()`` bound to one user of a ``TokenManager``."""

    manager: TokenManager
    open_id: str

    def access_token(self) -> str:
        return self.manager.access_token(self.open_id)

    def force_refresh(self) -> str:
        return self.manager.force_refresh(self.open_id)


class StaticTokenProvider:
    """Single-user setup with ``access_token`` / ``refresh_token`` from config.

    The access token is used until TikTok rejects it; then, if a refresh token and an
    ``OAuthClient`` are available, it refreshes. The rotated pair is written to ``store`` (if
    given) before use, because the configured refresh token is dead from that moment on.
    """

    def __init__(
        self,
        access_token: str | None,
        refresh_token: str | None = None,
        *,
        oauth: OAuthClient | None = None,
        store: TokenStore | None = None,
        open_id: str | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._access_token = access_token
        self._refresh_token = refresh_token
        self.oauth = oauth
        self.store = store
        self.open_id = open_id
        self._clock = clock
        self.token_set: TokenSet | None = None  # set once we refreshed
        register_secret(access_token)
        register_secret(refresh_token)

    def __repr__(self) -> str:
        current = self.token_set
        return (
            f"StaticTokenProvider(access_token={mask(current.access_token if current else self._access_token)}, "
            f"refresh_token={mask(current.refresh_token if current else self._refresh_token)}, "
            f"open_id={self.open_id!r})"
        )

    def access_token(self) -> str:
        """The configured (or last refreshed) access token."""
        if self.token_set is not None:
            if not self.token_set.needs_refresh(self._clock()):
                return self.token_set.access_token
            return self.force_refresh()
        if self._access_token:
            return self._access_token
        return self.force_refresh()

    def force_refresh(self) -> str:
        """Refresh with the configured refresh token (persisting the rotated pair first)."""
        refresh_token = self.token_set.refresh_token if self.token_set else self._refresh_token
        if not refresh_token or self.oauth is None:
            raise ReauthorizationRequired(self.open_id, "no refresh token configured")
        now = self._clock()
        current = self.token_set or TokenSet(
            open_id=self.open_id or "", access_token=self._access_token or "",
            refresh_token=refresh_token, expires_at=now, refresh_expires_at=now + timedelta(days=365),
        )
        try:
            new = self.oauth.refresh(current)
        except InvalidGrant as exc:
            raise ReauthorizationRequired(self.open_id, f"refresh rejected: {exc}") from None
        crash_point("refresh_response")
        if self.store is not None:
            self.store.put(new)  # persisted before the new access token is used
            crash_point("refresh_persisted")
        else:
            log.warning("the configured refresh token was rotated and is now invalid; configure a "
                        "token_store so the new one survives this process")
        self.token_set, self.open_id = new, new.open_id
        return new.access_token


# --- loopback redirect catcher ---------------------------------------------------------------

_CLOSE_PAGE = (
    b"<!doctype html><html><head><meta charset='utf-8'><title>tiktok-portability</title></head>"
    b"<body><p>Authorization received. You can close this window.</p></body></html>"
)


def redirect_target(redirect_uri: str) -> tuple[str, int, str]:
    """(host, port, path) to listen on for a loopback ``redirect_uri`` (desktop rules, §2.1).

    The desktop flow (``auth``) only: a web deployment (``serve``) checks its URI with
    ``web_redirect_path`` instead."""
    parts = urlsplit(redirect_uri)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("`auth` (the desktop flow) needs a localhost/127.0.0.1 redirect_uri; for an https "
                         "redirect_uri on your own site, run `tiktok-portability serve` (docs/web-consent.md)")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port, parts.path or "/"


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_REDIRECT_URI_LENGTH = 511  # TikTok: "less than 512 characters"


def web_redirect_path(redirect_uri: str) -> str:
    """The path a web app (``serve``) must answer for ``redirect_uri`` (web rules, §2.1).

    TikTok's web Login Kit takes only an absolute ``https`` URI, shorter than 512 characters, with
    no query and no fragment, matching a registered one exactly. ``http`` is accepted here only
    for a loopback host (``127.0.0.1``/``localhost``/``::1``), so the flow can be tried and tested
    locally; TikTok itself will refuse such a URI for a web app."""
    if not redirect_uri or len(redirect_uri) > MAX_REDIRECT_URI_LENGTH:
        raise ValueError("redirect_uri must be set and shorter than 512 characters")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"redirect_uri {redirect_uri!r} must be an absolute https URL "
                         "(e.g. https://example.org/callback/)")
    if parts.query or parts.fragment or "?" in redirect_uri or "#" in redirect_uri:
        raise ValueError(f"redirect_uri {redirect_uri!r} must have no query and no fragment (TikTok refuses them)")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"redirect_uri {redirect_uri!r} must use https: TikTok's web Login Kit only takes "
                         "https redirect URIs (http is allowed here for 127.0.0.1/localhost, for local tests)")
    return parts.path or "/"


def redirect_is_local(redirect_uri: str) -> bool:
    """True for an ``http`` loopback redirect URI (a local try-out or test, not a deployment)."""
    parts = urlsplit(redirect_uri)
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


class RedirectCatcher:
    """One-shot loopback HTTP server that captures the OAuth redirect (use ``catch_redirect``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, path: str = "/callback/") -> None:
        self.expected_path = "/" + path.strip("/")
        self._event = threading.Event()
        self._url: str | None = None
        catcher = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                if "/" + urlsplit(self.path).path.strip("/") != catcher.expected_path:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(_CLOSE_PAGE)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(_CLOSE_PAGE)
                if catcher._url is None:
                    host_header = self.headers.get("Host") or f"{host}:{catcher.port}"
                    catcher._url = f"http://{host_header}{self.path}"
                    catcher._event.set()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # the request line carries the authorization code: never log it

        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="oauth-redirect", daemon=True)

    def __enter__(self) -> "RedirectCatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the redirect arrives; return its full URL (raises ``TimeoutError``)."""
        if not self._event.wait(timeout):
            raise TimeoutError("no OAuth redirect received before the timeout")
        assert self._url is not None
        return self._url

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


def catch_redirect(
    host: str = "127.0.0.1",
    port: int = 0,
    path: str = "/callback/",
    timeout: float = 300.0,
    on_ready: Callable[[int], None] | None = None,
) -> str:
    """Serve one OAuth redirect on loopback and return the callback URL it received.

    Pass the port of the registered ``redirect_uri`` (see ``redirect_target``); ``port=0`` binds
    a free port and reports it through ``on_ready`` (which is also where to open the browser).
    """
    with RedirectCatcher(host, port, path) as catcher:
        if on_ready is not None:
            on_ready(catcher.port)
        return catcher.wait(timeout)


__all__ = [
    "AccessDenied",
    "Callback",
    "OAuthClient",
    "RedirectCatcher",
    "StaticTokenProvider",
    "TokenManager",
    "TokenSet",
    "TokenStore",
    "UserTokenProvider",
    "authorize_url",
    "catch_redirect",
    "code_challenge",
    "new_code_verifier",
    "new_state",
    "parse_callback",
    "redirect_is_local",
    "redirect_target",
    "utcnow",
    "web_redirect_path",
]
