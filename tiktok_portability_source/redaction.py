"""Keeping secrets out of messages and logs: token patterns, registered secrets, a logging filter.

Tokens live only in the token store. Everything else that could carry one (an exception built from a
server reply, a logged URL, a repr) goes through ``redact``; the CLI puts ``RedactingFilter`` on its
log handlers, and orchestrators get a record factory (``redact_every_record``) that masks every
record as it is created.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from typing import Any, Iterable

# --- redaction -------------------------------------------------------------------------------

REDACTED = "…(redacted)"
# act. user access token, rft. refresh token, clt. client token (docs/tiktok-api.md §2.4)
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
