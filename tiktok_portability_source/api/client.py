"""HTTP client for the four Data Portability endpoints (add / check / download / cancel).

Every call is a POST with a bearer token and a JSON body; success means ``error.code == "ok"``
whatever the HTTP status (docs/tiktok-api.md §4–5). Retries use exponential backoff with full jitter,
honour ``Retry-After`` when it is > 0 (``0`` or absent means "use backoff", dlt issue #4036) and
are bounded by both an attempt count and a total sleep budget. ``access_token_invalid`` triggers
one token refresh and one more try.

Add is special: a ``.single`` grant is spent by its first successful Add and there is no list
endpoint to recover a lost ``request_id``. So Add is retried only when the failure proves the
request was not processed: a 429 / ``rate_limit_exceeded`` reply, or a connection that was never
established (``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``). Anything else that may have
happened after TikTok created the request raises ``AmbiguousAddError`` instead, so the caller can
decide (mark the transfer ``add_unknown``, adopt the id from a later ``download.ready`` webhook)
rather than add twice: a read timeout, a dropped connection after sending, and any 5xx answer or
``internal_error`` envelope. An ``internal_error`` does not prove the request was not created: when
TikTok created it and then failed, a retry is refused (the ``.single`` is spent) and the request id
is lost.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import logging
import os
import random
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import httpx
from tenacity import RetryCallState, Retrying

from .. import settings
from ..crash import armed, crash_point
from .ratelimit import RateLimiter
from ..errors import (
    AccessTokenInvalid,
    AmbiguousAddError,
    APIError,
    DownloadError,
    TikTokError,
    TransportError,
    error_from_envelope,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

CHUNK_BYTES = 1024 * 1024
MAX_ERROR_BODY_BYTES = 1024 * 1024  # a non-ZIP download reply is parsed only up to this size
INT64_MAX = 2**63 - 1
# the request never left the machine: safe to retry even for Add
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_CATEGORY_ALIASES = {"direct_messages": "direct_message"}


# --- small helpers ---------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta or HTTP date); None when absent, 0 or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return seconds if seconds > 0 else None


def check_request_id(request_id: Any) -> int:
    """Validate an int64 request id without ever going through float."""
    if isinstance(request_id, bool):
        raise ValueError("request_id must be an integer")
    if isinstance(request_id, str) and request_id.strip().isdigit():
        request_id = int(request_id.strip())
    if not isinstance(request_id, int) or not 0 < request_id <= INT64_MAX:
        raise ValueError(f"request_id must be a positive int64, got {request_id!r}")
    return request_id


def normalise_categories(categories: Sequence[str] | str | None) -> tuple[str, ...]:
    """Categories as a tuple, accepting ``direct_messages`` (doc example) for ``direct_message``."""
    if categories is None:
        return ()
    items = categories.split(",") if isinstance(categories, str) else categories
    out: list[str] = []
    for item in items:
        name = _CATEGORY_ALIASES.get(str(item).strip(), str(item).strip())
        if name and name not in out:
            out.append(name)
    return tuple(out)


def _timestamp(value: Any) -> datetime | None:
    """Unix seconds (int or numeric string; milliseconds tolerated) → aware UTC datetime."""
    if value in (None, "", 0, "0") or isinstance(value, bool):
        return None
    try:
        seconds = int(value) if not isinstance(value, float) else value
    except (TypeError, ValueError):
        try:
            return datetime.fromisoformat(str(value)).astimezone(timezone.utc)
        except ValueError:
            return None
    if seconds > 100_000_000_000:  # milliseconds
        seconds = seconds / 1000
    return datetime.fromtimestamp(seconds, timezone.utc)


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestStatus:
    """The Check reply. Unknown statuses are kept verbatim and count as "not ready" (undocumented by TikTok: this project's choice)."""

    request_id: int
    status: str
    apply_time: datetime | None = None
    collect_time: datetime | None = None
    data_format: str | None = None
    categories: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """Ready to download (TikTok calls this state ``downloading``)."""
        return self.status == settings.STATUS_READY

    @property
    def terminal(self) -> bool:
        """``expired`` or ``cancelled``: nothing more will happen to this request."""
        return self.status in settings.TERMINAL_STATUSES

    @classmethod
    def from_data(cls, data: Mapping[str, Any], request_id: int) -> "RequestStatus":
        """Tolerant parse of ``data`` (missing and extra keys are fine, undocumented by TikTok: this project's choice)."""
        rid = request_id
        if data.get("request_id") not in (None, ""):
            try:
                rid = check_request_id(data["request_id"])
            except ValueError:
                rid = request_id
            if rid != request_id:
                log.warning("check for request %s echoed request_id %s", request_id, rid)
                rid = request_id
        fmt = data.get("data_format")
        return cls(
            request_id=rid,
            status=str(data.get("status") or "").strip().lower(),
            apply_time=_timestamp(data.get("apply_time")),
            collect_time=_timestamp(data.get("collect_time")),
            data_format=str(fmt) if fmt else None,
            categories=normalise_categories(data.get("category_selection_list")),
        )


@dataclass(frozen=True)
class DownloadedArchive:
    """A complete archive on disk with its checksum."""

    path: Path
    sha256: str
    size: int


# --- the client ------------------------------------------------------------------------------


class PortabilityClient:
    """Sync client for the portability endpoints; see the module docstring for retry rules."""

    def __init__(
        self,
        base_url: str = settings.API_BASE_URL,
        *,
        token: Callable[[], str],
        on_token_invalid: Callable[[], str] | None = None,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        max_attempts: int = 6,
        max_retry_seconds: float = 120.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        timeout: httpx.Timeout = httpx.Timeout(30, read=120),
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float], float] | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._on_token_invalid = on_token_invalid
        self._own_http = http is None
        self._http = http or httpx.Client(transport=transport, timeout=timeout)
        self.max_attempts = max(1, max_attempts)
        self.max_retry_seconds = max_retry_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._jitter = jitter or (lambda ceiling: random.uniform(0, ceiling))
        self._rate_limiter = rate_limiter  # shared by every client of a sync: one budget for all users

    @classmethod
    def for_provider(cls, provider: Any, base_url: str = settings.API_BASE_URL, **kwargs: Any) -> "PortabilityClient":
        """Build from an object with ``access_token()`` and ``force_refresh()`` (see ``auth``)."""
        return cls(base_url, token=provider.access_token, on_token_invalid=provider.force_refresh, **kwargs)

    def __repr__(self) -> str:
        return f"PortabilityClient(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> "PortabilityClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # public endpoints ---------------------------------------------------------------------
    def add(self, categories: Sequence[str], data_format: str = "json") -> int:
        """Create a data request and return its int64 ``request_id`` (see module doc on retries)."""
        cats = normalise_categories(categories)
        if not cats:
            raise ValueError("at least one category is required")
        unknown = [c for c in cats if c not in settings.CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; expected some of {settings.CATEGORIES}")
        if data_format not in settings.DATA_FORMATS:
            raise ValueError(f"data_format must be one of {settings.DATA_FORMATS}")
        body = {"data_format": data_format, "category_selection_list": list(cats)}
        data = self._json_call(settings.ADD_PATH, {"fields": "request_id"}, body, idempotent=False)
        try:
            return check_request_id(data.get("request_id"))
        except ValueError:
            raise APIError("invalid_response", "add succeeded without a valid request_id", None, 200) from None

    def check(self, request_id: int) -> RequestStatus:
        """Status of a request, asking for all six fields."""
        rid = check_request_id(request_id)
        data = self._json_call(settings.CHECK_PATH, {"fields": ",".join(settings.CHECK_FIELDS)},
                               {"request_id": rid})
        return RequestStatus.from_data(data, rid)

    def cancel(self, request_id: int) -> None:
        """Cancel a request (best effort; re-check afterwards, undocumented by TikTok: this project's choice).

        ``request_id`` goes both in the query and in the JSON body: TikTok's reference table lists it
        as a query parameter while its example sends a body (docs/tiktok-api.md §9)."""
        rid = check_request_id(request_id)
        self._json_call(settings.CANCEL_PATH, {"request_id": str(rid)}, {"request_id": rid})

    def download(
        self,
        request_id: int,
        dest: str | os.PathLike[str],
        max_bytes: int = settings.MAX_ARCHIVE_BYTES,
        *,
        verify_crc: bool = False,
    ) -> DownloadedArchive:
        """Stream the archive to ``dest`` (atomically) and return its size and SHA-256.

        Nothing is left at ``dest`` unless a complete ZIP arrived. A dropped connection is
        retried from the start; a truncated ZIP raises ``DownloadError(retryable=True)``.
        """
        rid = check_request_id(request_id)
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f".{target.name}.*.part"):  # left by a process killed mid-download
            with contextlib.suppress(OSError):
                stale.unlink()

        def attempt(token: str) -> DownloadedArchive:
            return self._download_once(rid, target, max_bytes, token, verify_crc)

        return self._with_token(settings.DOWNLOAD_PATH, attempt, idempotent=True)

    def ensure_token(self) -> None:
        """Get the access token now (refreshing it if due), before a step a refresh must not interrupt."""
        self._token()

    # plumbing -----------------------------------------------------------------------------
    def _throttle(self, path: str) -> None:
        """Wait for the shared rate limiter (TikTok counts per request type), if there is one."""
        if self._rate_limiter is not None:
            waited = self._rate_limiter.acquire(path)
            if waited > 1:
                log.debug("POST %s waited %.1fs for the rate limit", path, waited)

    def _headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def _json_call(
        self, path: str, params: Mapping[str, str] | None, body: Mapping[str, Any], *, idempotent: bool = True
    ) -> dict[str, Any]:
        def attempt(token: str) -> dict[str, Any]:
            self._throttle(path)
            try:
                response = self._http.post(self.base_url + path, params=params, json=body,
                                           headers=self._headers(token))
            except _NOT_SENT:
                raise
            except httpx.TransportError as exc:
                if not idempotent:
                    raise AmbiguousAddError(
                        f"POST {path}: {type(exc).__name__} after the request was sent; "
                        "it may have been processed"
                    ) from exc
                raise
            return self._parse_envelope(path, response, idempotent=idempotent)

        return self._with_token(path, attempt, idempotent=idempotent)

    def _parse_envelope(self, path: str, response: httpx.Response, *, idempotent: bool) -> dict[str, Any]:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        try:
            body = json.loads(response.content) if response.content else None
        except ValueError:
            body = None
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and err.get("code") == "ok" and response.status_code < 400:
            data = body.get("data") if isinstance(body, dict) else None
            return data if isinstance(data, dict) else {}
        code = err.get("code") if isinstance(err, dict) else None
        if (not idempotent and code != "rate_limit_exceeded" and response.status_code != 429
                and (response.status_code >= 500 or code == "internal_error")):
            log_id = err.get("log_id") if isinstance(err, dict) else None
            raise AmbiguousAddError(
                f"POST {path}: HTTP {response.status_code} {code or 'without a TikTok error envelope'}"
                f" [log_id={log_id or '-'}]; the request may have been created before the failure"
            )
        if isinstance(err, dict) and err.get("code") == "ok":  # "ok" with an HTTP error status
            err = {**err, "code": f"http_{response.status_code}"}
            body = {"error": err}
        raise error_from_envelope(body if isinstance(body, dict) else None, response.status_code, retry_after)

    def _download_once(
        self, rid: int, target: Path, max_bytes: int, token: str, verify_crc: bool
    ) -> DownloadedArchive:
        self._throttle(settings.DOWNLOAD_PATH)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            digest, size, head = hashlib.sha256(), 0, b""
            crash_after = armed("download_bytes")  # the crash-safety tests' hook (never set in production)
            with os.fdopen(fd, "wb") as fh, self._http.stream(
                "POST", self.base_url + settings.DOWNLOAD_PATH, json={"request_id": rid},
                headers={**self._headers(token), "Accept": "application/zip, application/json"},
                follow_redirects=True,
            ) as response:
                status = response.status_code
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    if len(head) < 4:
                        head += chunk[: 4 - len(head)]
                    size += len(chunk)
                    if status < 400 and settings.ZIP_MAGIC.startswith(head):
                        if size > max_bytes:
                            raise DownloadError(f"archive for request {rid} exceeds {max_bytes} bytes")
                    elif size > MAX_ERROR_BODY_BYTES:
                        break  # not a ZIP: only the start of an error body is worth reading
                    digest.update(chunk)
                    fh.write(chunk)
                    if crash_after is not None and size >= crash_after:
                        fh.flush()  # a partial file on disk, as a kill mid-transfer leaves it
                        crash_point("download_bytes", size)
                fh.flush()
                os.fsync(fh.fileno())
            if head != settings.ZIP_MAGIC or status >= 400:
                self._raise_not_zip(rid, tmp, status, retry_after)
            self._verify_zip(rid, tmp, size, verify_crc)
            os.replace(tmp, target)
            log.info("downloaded request %s: %d bytes to %s", rid, size, target)
            return DownloadedArchive(path=target, sha256=digest.hexdigest(), size=size)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    @staticmethod
    def _raise_not_zip(rid: int, tmp: Path, status: int, retry_after: float | None) -> None:
        with open(tmp, "rb") as fh:
            raw = fh.read(MAX_ERROR_BODY_BYTES)
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            if body["error"].get("code") != "ok":
                raise error_from_envelope(body, status, retry_after)
        if status >= 500 or status == 429:
            raise error_from_envelope(None, status, retry_after)
        raise DownloadError(f"download of request {rid} returned HTTP {status} and is not a ZIP archive")

    @staticmethod
    def _verify_zip(rid: int, tmp: Path, size: int, verify_crc: bool) -> None:
        try:
            with zipfile.ZipFile(tmp) as zf:
                infos = zf.infolist()
                end = max((i.header_offset + i.compress_size for i in infos), default=0)
                if end > size:
                    raise zipfile.BadZipFile("member data runs past the end of the file")
                if verify_crc and zf.testzip() is not None:
                    raise zipfile.BadZipFile("a member fails its CRC check")
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise DownloadError(
                f"archive for request {rid} is truncated or corrupt ({exc}); download it again",
                retryable=True,
            ) from None

    # retries ------------------------------------------------------------------------------
    def _with_token(self, path: str, attempt: Callable[[str], T], *, idempotent: bool) -> T:
        """Run ``attempt`` with retries; on ``access_token_invalid`` refresh once and go again."""
        token = self._token()
        refreshed = False
        while True:
            try:
                return self._with_retries(path, lambda: attempt(token), idempotent=idempotent)
            except AccessTokenInvalid as exc:
                if refreshed or self._on_token_invalid is None:
                    raise
                refreshed = True
                log.info("POST %s: access token rejected [log_id=%s]; refreshing once", path,
                         exc.log_id or "-")
                token = self._on_token_invalid()

    def _retryable(self, exc: BaseException | None, idempotent: bool) -> bool:
        if isinstance(exc, APIError):  # Add: only a rate limit proves the request was not processed
            return exc.retryable and (idempotent or exc.code == "rate_limit_exceeded" or exc.http_status == 429)
        if isinstance(exc, httpx.TransportError):
            return idempotent or isinstance(exc, _NOT_SENT)
        return False

    def _with_retries(self, path: str, fn: Callable[[], T], *, idempotent: bool) -> T:
        budget = self.max_retry_seconds

        def should_retry(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            if not self._retryable(exc, idempotent):
                return False
            hint = getattr(exc, "retry_after", None)
            if hint is not None and state.idle_for + hint > budget:
                log.info("POST %s: Retry-After %.0fs exceeds the retry budget; giving up", path, hint)
                return False
            return True

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            hint = getattr(exc, "retry_after", None)
            if hint is None:
                ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (state.attempt_number - 1))
                hint = max(0.0, min(ceiling, self._jitter(ceiling)))
            return max(0.0, min(hint, budget - state.idle_for))

        def stop(state: RetryCallState) -> bool:
            return state.attempt_number >= self.max_attempts or state.idle_for >= budget

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            reason = (f"{exc.code} (HTTP {exc.http_status})" if isinstance(exc, APIError)
                      else type(exc).__name__)
            log.info(
                "POST %s: retry after %s, attempt %d/%d, sleeping %.2fs [log_id=%s]",
                path, reason, state.attempt_number, self.max_attempts,
                state.next_action.sleep if state.next_action else 0.0,
                getattr(exc, "log_id", None) or "-",
            )

        retrying = Retrying(stop=stop, wait=wait, retry=should_retry, sleep=self._sleep,
                            before_sleep=before_sleep, reraise=True)
        try:
            return retrying(fn)
        except httpx.TransportError as exc:
            attempts = retrying.statistics.get("attempt_number", self.max_attempts)
            raise TransportError(
                f"POST {path} failed after {attempts} attempt(s): {type(exc).__name__}: {exc}"
            ) from exc


__all__ = [
    "AmbiguousAddError",
    "DownloadError",
    "DownloadedArchive",
    "PortabilityClient",
    "RequestStatus",
    "TikTokError",
    "check_request_id",
    "normalise_categories",
    "parse_retry_after",
]
