"""Every error this package raises on purpose, under one root; each message is one line saying what is
wrong and what to do.

    PortabilityError
    ├── ConfigError            configuration that cannot work
    │   └── ConfigMissing      a required key is not set (also a TikTokError: API mode cannot start)
    ├── ArchiveError           an export that cannot be read (names the file, section or field)
    ├── LoadFailed             a load that did not complete (says what was kept and what to do)
    ├── PrivacyError           privacy settings that cannot be honoured (also a ValueError)
    ├── UnknownUser            a user id that names no one here
    └── TikTokError            the API and OAuth: APIError (by error code), OAuthError,
                               ReauthorizationRequired, TransportError, DownloadError, WebhookError…

API errors are typed so that callers decide from the type (retry, refresh, re-authorize, give up):
every error code in ``docs/tiktok-api.md`` §2.6 and §5 maps to a class. Their messages carry the
``log_id`` (TikTok support asks for it) and never a token, client secret or authorization code
(``redaction.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Mapping

from .redaction import (  # noqa: F401  (re-exported: the redaction helpers lived here before)
    REDACTED,
    TOKEN_PATTERN,
    RedactingFilter,
    install_redaction,
    mask,
    redact,
    redact_every_record,
    register_secret,
    registered_secrets,
)
from .redaction import _clean


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (for error messages that must stay one line)."""
    return " ".join(str(exc).split()) or type(exc).__name__


_DUCKDB_LOCK = re.compile(r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock is held in '
                          r'(?P<program>.+?) \(PID (?P<pid>\d+)\)')


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


_DSN_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def duckdb_lock_holder(exc: BaseException) -> str | None:
    """``file (program, PID n)`` when ``exc`` (or a cause) is DuckDB refusing a file another process holds."""
    for cause in _causes(exc):
        found = _DUCKDB_LOCK.search(str(cause))
        if found:
            return f"{found['file']} ({found['program']}, PID {found['pid']})"
    return None


def explain(exc: BaseException) -> str:
    """One line for a failure no code of ours anticipated: the root cause, and what to do when we
    know it (a DuckDB file another process holds, a destination misnamed, unconfigured or down); the
    CLI prints it instead of a traceback. A password inside a connection string is masked."""
    return _DSN_PASSWORD.sub(r"\1***@", _explained(exc))


def _explained(exc: BaseException) -> str:
    chain = list(_causes(exc))
    for cause in chain:
        found = _DUCKDB_LOCK.search(str(cause))
        if found:
            return (f"{found['file']} is in use by another process ({found['program']}, PID {found['pid']}): "
                    "wait for that load to finish, or close its connection (a notebook's too), then run again")
        kind = type(cause).__name__
        if kind == "UnknownDestinationModule":
            name = getattr(cause, "ref", None) or re.search(r"Destination '([^']+)'", str(cause))[1]  # type: ignore[index]
            return (f"unknown destination {name!r}: use a dlt destination name (duckdb, postgres, motherduck, "
                    "bigquery, snowflake, filesystem, …) and install its extra, e.g. pip install 'dlt[postgres]'")
        if kind == "ConfigFieldMissingException":
            return _missing_config(cause)
        if kind in ("OperationalError", "DestinationConnectionError") or "could not connect" in str(cause).lower():
            first = str(chain[-1]).strip().splitlines()[0] if str(chain[-1]).strip() else type(chain[-1]).__name__
            return (f"cannot reach the destination ({first.rstrip('.')}): check that the database server is "
                    "running and that its credentials are right")
    root = chain[-1]
    return f"{type(root).__name__}: {one_line(root)}; run again with --debug for the details"


def _missing_config(exc: BaseException) -> str:
    """dlt's missing-configuration error names two dozen keys it tried; one of each is enough."""
    keys: list[str] = []

    def walk(node: Any) -> None:
        for found in (node or {}).values():
            for item in found:
                if hasattr(item, "traces"):
                    walk(item.traces)
                elif getattr(item, "provider", "") == "Environment Variables" and "." not in item.key \
                        and not item.key.startswith("TIKTOK_PORTABILITY__"):
                    keys.append(item.key)
                    break

    walk(getattr(exc, "traces", None))
    credentials = sorted({k.rsplit("__", 1)[0] for k in keys if "__CREDENTIALS__" in k})
    if credentials:
        section = credentials[0].lower().replace("__", ".")
        return (f"the destination's credentials are not configured: set {credentials[0]} to a connection "
                f"string (e.g. postgresql://user:password@host:5432/database), or [{section}] in .dlt/secrets.toml")
    if keys:
        return f"missing configuration: set {', '.join(keys)} (environment) or the same keys in .dlt/*.toml"
    return f"missing configuration: {one_line(exc)}"


class PortabilityError(Exception):
    """The root of every error this package raises on purpose."""


class ConfigError(PortabilityError):
    """Configuration that cannot work; the message names the key and where to set it."""


class ArchiveError(PortabilityError):
    """An archive that cannot be read; the message names the file and what to do."""


class LoadFailed(PortabilityError):
    """A load that did not complete; the message is one line saying why and what to do."""


class UnknownUser(PortabilityError):
    """A user id that names no one here (``forget`` of a typo)."""


class PrivacyError(PortabilityError, ValueError):
    """Privacy settings that cannot be honoured; the message says what to change."""


# --- exceptions ------------------------------------------------------------------------------


class TikTokError(PortabilityError):
    """Base class of every error raised by this package's API layer."""


class APIError(TikTokError):
    """A non-``ok`` ``error.code`` from a portability endpoint (docs/tiktok-api.md §5)."""

    retryable_codes = frozenset({"internal_error", "rate_limit_exceeded"})

    def __init__(
        self,
        code: str,
        message: str = "",
        log_id: str | None = None,
        http_status: int = 0,
        retry_after: float | None = None,
    ) -> None:
        self.code = str(code)
        self.message = _clean(message)
        self.log_id = log_id
        self.http_status = int(http_status)
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.code} (HTTP {self.http_status}): {self.message} [log_id={self.log_id or '-'}]"

    def __reduce__(self):  # keep pickling (multiprocessing) working with keyword fields
        return (type(self), (self.code, self.message, self.log_id, self.http_status, self.retry_after))

    @property
    def retryable(self) -> bool:
        """True for TikTok faults and rate limits; a 4xx other than 429 is never retried."""
        if self.code in self.retryable_codes:
            return True
        if type(self) is APIError:  # unknown code: fall back to the HTTP status
            return self.http_status == 429 or self.http_status >= 500
        return False


class InvalidParams(APIError):
    """``invalid_params`` (400): a field is invalid, e.g. an unknown request_id."""


class ScopePermissionMissed(APIError):
    """``scope_permission_missed`` (400): the token lacks scopes for the requested fields."""


class AccessTokenInvalid(APIError):
    """``access_token_invalid`` (401): refresh once, then re-authorize."""


class ScopeNotAuthorized(APIError):
    """``scope_not_authorized`` (401): scope not granted, unticked or a spent ``.single``."""


class RateLimited(APIError):
    """``rate_limit_exceeded`` (429); ``retry_after`` is the server's hint in seconds, if any."""

    @property
    def retryable(self) -> bool:
        return True


class InternalError(APIError):
    """``internal_error`` (500): TikTok fault, retry with backoff."""

    @property
    def retryable(self) -> bool:
        return True


API_ERRORS: dict[str, type[APIError]] = {
    "invalid_params": InvalidParams,
    "scope_permission_missed": ScopePermissionMissed,
    "access_token_invalid": AccessTokenInvalid,
    "scope_not_authorized": ScopeNotAuthorized,
    "rate_limit_exceeded": RateLimited,
    "internal_error": InternalError,
}


def error_from_envelope(
    body: Mapping[str, Any] | None, http_status: int, retry_after: float | None = None
) -> APIError:
    """Build the typed error for an envelope ``{"data":…, "error":{code, message, log_id}}``.

    Also accepts the unwrapped inner object and bodies that are not envelopes at all (then the
    code is ``http_<status>``), so a surprising reply still yields an ``APIError``.
    """
    err: Any = body.get("error") if isinstance(body, Mapping) else None
    if err is None and isinstance(body, Mapping) and "code" in body:
        err = body  # the generic error page shows the inner object unwrapped
    if not isinstance(err, Mapping):
        err = {"code": f"http_{http_status}", "message": "unexpected response body"}
    code = str(err.get("code") or f"http_{http_status}")
    if code == "rate_limit_exceeded" or (http_status == 429 and code.startswith("http_")):
        cls: type[APIError] = RateLimited
    else:
        cls = API_ERRORS.get(code, APIError)
    log_id = err.get("log_id")
    return cls(code, err.get("message") or "", str(log_id) if log_id else None, http_status, retry_after)


class OAuthError(TikTokError):
    """An OAuth failure from the token/revoke endpoints or the authorize callback (§2.6)."""

    def __init__(
        self, error: str, description: str = "", log_id: str | None = None, http_status: int = 0
    ) -> None:
        self.error = str(error)
        self.description = _clean(description)
        self.log_id = log_id
        self.http_status = int(http_status)
        super().__init__(str(self))

    def __str__(self) -> str:
        return (
            f"{self.error} (HTTP {self.http_status}): {self.description} "
            f"[log_id={self.log_id or '-'}]"
        )

    def __reduce__(self):
        return (type(self), (self.error, self.description, self.log_id, self.http_status))


class InvalidGrant(OAuthError):
    """Code or refresh token invalid, expired, reused or rotated away: the user must re-authorize."""


class AccessDenied(OAuthError):
    """The user declined the authorization."""


class OAuthRetryable(OAuthError):
    """``server_error`` / ``temporarily_unavailable``: retry with backoff."""


class OAuthConfigError(OAuthError):
    """A bug or misconfiguration (wrong key/secret, redirect_uri mismatch, unapproved scope)."""


OAUTH_ERRORS: dict[str, type[OAuthError]] = {
    "invalid_grant": InvalidGrant,
    "access_denied": AccessDenied,
    "server_error": OAuthRetryable,
    "temporarily_unavailable": OAuthRetryable,
    "invalid_request": OAuthConfigError,
    "invalid_client": OAuthConfigError,
    "unauthorized_client": OAuthConfigError,
    "unsupported_grant_type": OAuthConfigError,
    "unsupported_response_type": OAuthConfigError,
    "invalid_scope": OAuthConfigError,
}


def oauth_error_from_body(body: Mapping[str, Any] | None, http_status: int = 0) -> OAuthError:
    """Build the typed error for ``{"error", "error_description", "log_id"}`` (any HTTP status)."""
    body = body if isinstance(body, Mapping) else {}
    error: Any = body.get("error")
    description: Any = body.get("error_description") or ""
    log_id: Any = body.get("log_id")
    if isinstance(error, Mapping):  # tolerate a v2 envelope on the OAuth endpoints
        description = error.get("message") or description
        log_id = error.get("log_id") or log_id
        error = error.get("code")
    if not error:
        error = "server_error" if http_status >= 500 else f"http_{http_status}"
    cls = OAUTH_ERRORS.get(str(error), OAuthError)
    return cls(str(error), str(description), str(log_id) if log_id else None, http_status)


class ReauthorizationRequired(TikTokError):
    """The stored grant is unusable (invalid_grant, expired or missing refresh token)."""

    def __init__(self, open_id: str | None, reason: str) -> None:
        self.open_id = open_id
        self.reason = _clean(reason)
        super().__init__(f"user {open_id or '?'} must authorize the app again: {self.reason}")

    def __reduce__(self):
        return (type(self), (self.open_id, self.reason))


class TransportError(TikTokError):
    """Connection-level failure that persisted after all retries."""


class AmbiguousAddError(TikTokError):
    """Add may or may not have reached TikTok (e.g. read timeout after sending).

    Adding again could spend a ``.single`` grant twice; the caller must decide (there is no list
    endpoint, so the request id of a lost reply cannot be recovered).
    """


class DownloadError(TikTokError):
    """The download is not a usable ZIP: not a ZIP, truncated, or over the size cap."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        self.retryable = retryable
        super().__init__(_clean(message))


class TokenStoreError(TikTokError):
    """The token store file cannot be read or written (never includes its contents)."""


class WebhookError(TikTokError):
    """Base class for webhook problems."""


class WebhookSignatureError(WebhookError):
    """``TikTok-Signature`` missing, malformed, not matching or too old (answer 401)."""


class WebhookPayloadError(WebhookError):
    """The webhook body is not the documented JSON shape (answer 400)."""


class ConfigMissing(TikTokError, ConfigError):
    """A required config key is not set; the message names the key and where to set it."""
