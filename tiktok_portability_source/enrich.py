"""``enrich``: author, caption, hashtags and thumbnail of watched, liked and favourite videos, from
TikTok's public oEmbed endpoint, into a ``videos`` table keyed by ``video_id``. Opt-in: it sends
video ids to TikTok (docs/enrichment.md).

- Which ids: the distinct ``video_id`` of ``watch_history``, ``likes`` and ``favorite_videos`` (of
  the users asked for), minus those already in ``videos``. The table is the cache: an id is asked
  for once, and a dead one (``status`` ``unavailable``) is not asked for again.
- The request: ``GET <oembed>?url=https://www.tiktok.com/@_/video/<id>``. Export links are often the
  ``tiktokv.com/share/video/<id>/`` form, which oEmbed does not take, and a pseudonymised link names
  no real account; the video page URL with a placeholder name is resolved from the id alone.
- Answers: 200 → ``ok``; 400/404 (removed, private, or an id TikTok does not know) → ``unavailable``;
  429 → wait ``Retry-After`` (at most ``max_retry_after`` seconds) and retry up to ``max_retries``
  times, then stop the run (asking on only adds 429s): the id stays for the next run. A network
  error, a 5xx or an unreadable body leaves the id for the next run too; several in a row stop it.
- Pace: one request every ``1 / rate_per_second`` seconds (``api.ratelimit.RateLimiter``).
- Resumable: rows are merged every ``batch_size`` ids (and on Ctrl-C), so a stopped run keeps what
  it fetched and the next one asks only for the rest.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import dlt
import httpx

from . import destination
from .api.ratelimit import RateLimiter
from .errors import ConfigError, PrivacyError
from .privacy import PrivacySettings

log = logging.getLogger(__name__)

OEMBED_URL = "https://www.tiktok.com/oembed"
TABLE = "videos"
SOURCE_TABLES = ("watch_history", "likes", "favorite_videos")
STATUS_OK = "ok"
STATUS_UNAVAILABLE = "unavailable"  # oEmbed 400/404: removed, private, or unknown to TikTok
DEFAULT_RATE = 1.0  # requests per second; TikTok documents no limit for oEmbed
DEFAULT_BATCH = 200
MAX_RETRIES = 3  # retries of one id after a 429
MAX_RETRY_AFTER = 60.0  # seconds; a longer Retry-After stops the run instead
MAX_CONSECUTIVE_ERRORS = 3  # network errors / 5xx in a row before the run stops
USER_AGENT = "tiktok-portability-enrich/0.1"
SOURCE_NAME = "tiktok_portability"  # the dlt source whose state holds the privacy fingerprint

COLUMNS: dict[str, dict[str, Any]] = {
    "video_id": {"data_type": "text", "nullable": False},
    "status": {"data_type": "text", "nullable": False},
    "author_name": {"data_type": "text"},
    "author_url": {"data_type": "text"},
    "title": {"data_type": "text"},
    "hashtags": {"data_type": "text"},  # lowercase, without '#', comma-separated, in caption order
    "thumbnail_url": {"data_type": "text"},
    "http_status": {"data_type": "bigint"},
    "fetched_at": {"data_type": "timestamp", "nullable": False},
}

_HASHTAG = re.compile(r"#(\w+)")
_MENTION = re.compile(r"(?<![\w.@])@([\w.]+)")
_HANDLE_URL = re.compile(r"^(?P<pre>https?://[^/]+/@)(?P<name>[^/?#]+)(?P<post>.*)$")


@dataclass
class EnrichReport:
    candidates: int = 0  # ids not in `videos` when the run started
    ok: int = 0
    unavailable: int = 0
    deferred: int = 0  # asked for, but left for the next run (429, network error, 5xx)
    requests: int = 0  # HTTP requests, retries included
    stopped: str | None = None  # why the run ended early (not for --limit)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def fetched(self) -> int:
        return self.ok + self.unavailable

    @property
    def remaining(self) -> int:
        """Ids the next run will ask for."""
        return self.candidates - self.fetched

    def lines(self) -> list[str]:
        out = [(f"videos: {self.candidates} to enrich; {self.ok} ok, {self.unavailable} unavailable, "
                f"{self.deferred} left for the next run ({self.requests} requests, {self.seconds:.1f}s)")]
        if self.stopped:
            out.append(f"stopped early: {self.stopped}")
        if self.remaining:
            out.append(f"{self.remaining} video ids not enriched yet: run `tiktok-portability enrich` again")
        return out


def video_page_url(video_id: str) -> str:
    """The URL oEmbed is asked about: a video page with a placeholder account name."""
    return f"https://www.tiktok.com/@_/video/{video_id}"


def parse_hashtags(caption: str | None) -> list[str]:
    """``#Word`` tags of a caption, lowercase, each once, in order (``#a#b`` is two tags)."""
    seen: dict[str, None] = {}
    for tag in _HASHTAG.findall(caption or ""):
        seen.setdefault(tag.lower(), None)
    return list(seen)


def candidate_ids(pipeline: dlt.Pipeline, users: Sequence[str] | None = None) -> list[str]:
    """Distinct video ids of the source tables (of ``users``, or everyone's) not yet in ``videos``."""
    where = "video_id IS NOT NULL"
    if users:
        where += f" AND user_id IN ({', '.join(['%s'] * len(users))})"
    wanted: set[str] = set()
    for table in SOURCE_TABLES:
        rows = destination.query(pipeline, f"SELECT DISTINCT video_id FROM {{table}} WHERE {where}", table,
                                 *(users or ()))
        wanted.update(str(r[0]) for r in rows if str(r[0]).isdigit())
    known = {str(r[0]) for r in destination.query(pipeline, "SELECT video_id FROM {table}", TABLE)}
    return sorted(wanted - known, key=lambda v: (len(v), v))


def enrich_videos(
    pipeline: dlt.Pipeline,
    *,
    base_url: str = OEMBED_URL,
    limit: int | None = None,
    rate_per_second: float = DEFAULT_RATE,
    users: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH,
    max_retries: int = MAX_RETRIES,
    max_retry_after: float = MAX_RETRY_AFTER,
    privacy: PrivacySettings | None = None,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> EnrichReport:
    """Ask oEmbed about every video id not yet in ``videos`` (at most ``limit`` of them; 0 only counts
    them) and merge the answers into ``videos``. ``privacy``: the settings the dataset was loaded
    with; with ``pseudonymize`` the creator's handle becomes its pseudonym and the display name is
    not stored. ``sleep``/``clock``/``client`` are for tests."""
    started = time.perf_counter()
    if rate_per_second <= 0:
        raise ConfigError("--rate must be more than 0 requests per second")
    if batch_size < 1:
        raise ConfigError("batch_size must be at least 1")
    _check_url(base_url)
    pipeline.sync_destination()  # the schema and the source state (privacy fingerprint) of a fresh worker
    privacy = privacy or PrivacySettings()
    _check_privacy(pipeline, privacy)
    from .loader import finish_pending

    finish_pending(pipeline)  # an interrupted archive load first: its rows are candidates too

    ids = candidate_ids(pipeline, users)
    report = EnrichReport(candidates=len(ids))
    if limit is not None:
        ids = ids[:max(limit, 0)]
    if not ids:
        report.seconds = time.perf_counter() - started
        return report

    own_client = client is None
    http = client or httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    fetcher = _Fetcher(http, base_url, RateLimiter(1, 1.0 / rate_per_second, slack=0.0, clock=clock, sleep=sleep),
                       sleep, max_retries, max_retry_after, report)
    pending: list[dict[str, Any]] = []
    errors_in_row = 0
    try:
        for video_id in ids:
            row = fetcher.fetch(video_id)
            if row is None:
                report.deferred += 1
                if fetcher.stop:
                    report.stopped = fetcher.stop
                    break
                errors_in_row += 1
                if errors_in_row >= MAX_CONSECUTIVE_ERRORS:
                    report.stopped = f"{errors_in_row} failed requests in a row (last: {report.errors[-1]})"
                    break
                continue
            errors_in_row = 0
            pending.append(_protected(row, privacy))
            if row["status"] == STATUS_OK:
                report.ok += 1
            else:
                report.unavailable += 1
            if len(pending) >= batch_size:
                _write(pipeline, pending)
                log.info("videos: %d/%d enriched", report.fetched, report.candidates)
                pending = []
    except BaseException:  # Ctrl-C included: keep what was fetched, then stop as asked
        if pending:
            _write(pipeline, pending)
        raise
    finally:
        if own_client:
            http.close()
    if pending:
        _write(pipeline, pending)
    report.seconds = time.perf_counter() - started
    return report


def drop_unreferenced(pipeline: dlt.Pipeline) -> int:
    """Delete ``videos`` rows whose id no source table holds any more (after ``forget``): what is left
    of a forgotten user's history. Returns how many were deleted."""
    referenced: set[str] = set()
    for table in SOURCE_TABLES:
        referenced.update(str(r[0]) for r in destination.query(
            pipeline, "SELECT DISTINCT video_id FROM {table} WHERE video_id IS NOT NULL", table))
    orphans = sorted({str(r[0]) for r in destination.query(pipeline, "SELECT video_id FROM {table}", TABLE)}
                     - referenced)
    if orphans:
        with pipeline.sql_client() as client:
            qualified = client.make_qualified_table_name(TABLE)
            for at in range(0, len(orphans), 500):
                chunk = orphans[at:at + 500]
                client.execute_sql(f"DELETE FROM {qualified} WHERE video_id IN ({', '.join(['%s'] * len(chunk))})",
                                   *chunk)
    return len(orphans)


# --- internals -------------------------------------------------------------------------------


class _Fetcher:
    """One id → its row (``ok``/``unavailable``), or None when it is left for the next run."""

    def __init__(self, http: httpx.Client, base_url: str, limiter: RateLimiter, sleep: Callable[[float], None],
                 max_retries: int, max_retry_after: float, report: EnrichReport) -> None:
        self.http, self.base_url, self.limiter, self.sleep = http, base_url, limiter, sleep
        self.max_retries, self.max_retry_after, self.report = max_retries, max_retry_after, report
        self.stop: str | None = None  # set when the whole run should end (rate limited)

    def fetch(self, video_id: str) -> dict[str, Any] | None:
        for attempt in range(self.max_retries + 1):
            self.limiter.acquire("oembed")
            self.report.requests += 1
            try:
                response = self.http.get(self.base_url, params={"url": video_page_url(video_id)})
            except httpx.HTTPError as exc:
                return self._error(f"{type(exc).__name__}: {exc}")
            status = response.status_code
            if status == 200:
                try:
                    body = response.json()
                except ValueError as exc:
                    return self._error(f"unreadable answer: {exc}")
                if not isinstance(body, dict):
                    return self._error("unreadable answer: not a JSON object")
                return _row(video_id, STATUS_OK, status, body)
            if status in (400, 404):
                return _row(video_id, STATUS_UNAVAILABLE, status, {})
            if status != 429:
                return self._error(f"HTTP {status}")
            wait = _retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = min(5.0 * 2 ** attempt, self.max_retry_after)
            if wait > self.max_retry_after:
                self.stop = f"rate limited by TikTok: asked to wait {wait:.0f}s; run again later"
                return None
            if attempt == self.max_retries:
                break
            log.info("oEmbed: 429, waiting %.0fs as asked (Retry-After)", wait)
            self.sleep(wait)
        self.stop = f"rate limited by TikTok: still 429 after {self.max_retries} retries; run again later"
        return None

    def _error(self, detail: str) -> None:
        self.report.errors.append(detail)
        log.warning("oEmbed request failed (%s); that video is left for the next run", detail)


def _row(video_id: str, status: str, http_status: int, body: dict[str, Any]) -> dict[str, Any]:
    caption = _text(body.get("title"))
    return {
        "video_id": video_id,
        "status": status,
        "author_name": _text(body.get("author_name")),
        "author_url": _text(body.get("author_url")),
        "title": caption,
        "hashtags": ",".join(parse_hashtags(caption)) if status == STATUS_OK else None,
        "thumbnail_url": _text(body.get("thumbnail_url")),
        "http_status": http_status,
        "fetched_at": datetime.now(timezone.utc),
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


def _protected(row: dict[str, Any], privacy: PrivacySettings) -> dict[str, Any]:
    """With ``pseudonymize``: the creator's handle (in ``author_url`` and ``@mentions`` of the caption)
    becomes the pseudonym the archive loads give it; the display name, a third party's name that
    cannot be pseudonymised consistently, is not stored."""
    if not privacy.pseudonymize:
        return row

    def pseudonym(name: str) -> str:
        return "u_" + privacy.hashed("username", [name])[0]

    row = dict(row, author_name=None)
    if row["author_url"]:
        match = _HANDLE_URL.match(row["author_url"])
        row["author_url"] = (match["pre"] + pseudonym(match["name"]) + match["post"]) if match else None
    if row["title"]:
        row["title"] = _MENTION.sub(lambda m: "@" + pseudonym(m.group(1)), row["title"])
    return row


def _check_url(base_url: str) -> None:
    """HTTPS only: the ids are the user's viewing history. Plain HTTP only to this machine (the fake)."""
    parts = urlsplit(base_url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return
    raise ConfigError(f"oEmbed URL {base_url!r}: must be https:// (http:// only to 127.0.0.1 or localhost)")


def _check_privacy(pipeline: dlt.Pipeline, privacy: PrivacySettings) -> None:
    """A pseudonymised dataset gets pseudonymised creators, with the same key, or nothing."""
    stored = (pipeline.state.get("sources", {}).get(SOURCE_NAME) or {}).get("privacy") or {}
    if not stored.get("pseudonymize"):
        return
    if not privacy.pseudonymize or privacy.fingerprint()["key_check"] != stored.get("key_check"):
        raise PrivacyError("this dataset was loaded with pseudonymize on: enrich needs the same setting and "
                           "pseudonymize_key, or it would store creators' real names beside their pseudonyms")


def _write(pipeline: dlt.Pipeline, rows: Iterable[dict[str, Any]]) -> None:
    resource = dlt.resource(list(rows), name=TABLE, write_disposition="merge", primary_key="video_id",
                            columns=COLUMNS)
    pipeline.run(resource).raise_on_failed_jobs()
