"""Typed exceptions for the TikTok API, plus the redaction helpers that keep secrets out of them.

Callers decide what to do from the exception *type* (retry, refresh, re-authorize, give up), so
every error code in ``tiktok-api.md`` §2.6 and §5 maps to a class. Messages always carry the
``log_id`` (TikTok support asks for it) and never a token, client secret or authorization code.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from typing import Any, Iterable, Mapping

# --- redaction -------------------------------------------------------------------------------

REDACTED = "…(redacted)"
# act. user access token, rft. refresh token, clt. client token (tiktok-api.md §2.4)
TOKEN_PATTERN = re.compile(r"(?<![A-Za-z0-9])(act|rft|clt)\.[A-Za-z0-9._~!*%+/=\-]+")
_MIN_SECRET_LEN = 6  # shorter values would mask ordinary words
_MAX_REGISTERED = 4096

_registry: "OrderedDict[str, None]" = OrderedDict()
_registry_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret (client secret, auth code, unprefixed token, pseudonymize key) so log output
    masks it, also in the percent-encoded forms it takes inside a logged URL or form body."""
    if not value or len(value) < _MIN_SECRET_LEN or TOKEN_PATTERN.fullmatch(value):
        return  # prefixed tokens are caught by the pattern already
    from urllib.parse import quote, quote_plus

    with _registry_lock:
        for form in dict.fromkeys((value, quote(value, safe=""), quote_plus(value))):
            _registry[form] = None
            _registry.move_to_end(form)
        while len(_registry) > _MAX_REGISTERED:
            _registry.popitem(last=False)


def registered_secrets() -> tuple[str, ...]:
    """Snapshot of the registered secret values (for the redacting filter)."""
    with _registry_lock:
        return tuple(_registry)


def mask(value: str | None) -> str:
    """Render a secret for a repr: keep the ``act.``-style prefix only."""
    if not value:
        return repr(value)
    m = re.match(r"(act|rft|clt)\.", value)
    return f"{m.group(0)}{REDACTED}" if m else REDACTED


def redact(text: str, secrets: Iterable[str | None] = (), *, patterns: bool = True) -> str:
    """Mask the given secrets and (by default) anything shaped like a TikTok token in ``text``."""
    if not text:
        return text
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, mask(secret))
    if patterns:
        text = TOKEN_PATTERN.sub(lambda m: f"{m.group(1)}.{REDACTED}", text)
    return text


def _clean(text: Any) -> str:
    """Server-provided text goes through redaction too: never trust it not to echo a secret."""
    return redact("" if text is None else str(text), registered_secrets())


class RedactingFilter(logging.Filter):
    """Logging filter that masks tokens and registered secrets in every record it sees.

    Attach it to *handlers* (``install_redaction``): a filter on a logger does not see records
    propagated from child loggers such as ``httpx``.
    """

    def __init__(self, secrets: Iterable[str] = (), name: str = "") -> None:
        super().__init__(name)
        self._secrets = {s for s in secrets if s}

    def add_secret(self, value: str) -> None:
        """Mask this value too (in addition to the global registry)."""
        if value:
            self._secrets.add(value)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = (*self._secrets, *registered_secrets())
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the formatter to report
            return True
        record.msg = redact(message, secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


def redact_every_record() -> None:
    """Mask secrets in every log record as it is created, whatever handlers exist or come later.

    Orchestrators (Dagster, Airflow) attach their own handlers after our code is imported, which a
    handler filter (``install_redaction``) never sees; a record factory covers them all."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_secrets", False):
        return
    masking = RedactingFilter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        masking.filter(record)
        return record

    factory.redacts_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def install_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Add one ``RedactingFilter`` to every handler of ``logger`` (default: the root logger)."""
    target = logger or logging.getLogger()
    flt = RedactingFilter()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt


# --- exceptions ------------------------------------------------------------------------------


class TikTokError(Exception):
    """Base class of every error raised by this package's API layer."""


class APIError(TikTokError):
    """A non-``ok`` ``error.code`` from a portability endpoint (tiktok-api.md §5)."""

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
