"""Questions a TikTok user asks of their own loaded data, answered as pandas DataFrames.

The notebooks (``notebooks/*.ipynb``) are thin on purpose: every number they show comes from a
function here, so it is tested once and reusable from any Python session. DuckDB does the heavy
lifting in SQL; pandas is only the hand-over format.

Conventions shared by every function:

- ``db`` is a :class:`Database`, a path to a DuckDB file, or an open ``duckdb.DuckDBPyConnection``.
  A ``Database`` or a path is opened read-only for the one call and closed before it returns.
  DuckDB refuses a writer while *any* other process has the file open, read-only included, so a
  connection kept open (``connect()``, or your own) makes ``tiktok-portability load`` fail until it
  is closed; notebooks therefore hold a ``Database`` (just the path), never a connection.
  ``dataset`` is the schema dlt loaded into.
- ``user_id=None`` means every loaded user: results carry a ``user_id`` column and rankings,
  numbering and date ranges are per user. A user id filters to that user.
- A table (or column) that was never loaded reads as empty: the result is an empty DataFrame with
  the usual columns, never an exception. Notebooks test ``.empty`` and say "No data for …".
- Times are UTC instants. Functions that bucket by calendar (hour, weekday, day, week, month)
  take ``tz`` (an IANA name such as ``"Europe/Amsterdam"``) to bucket in local time instead.
- Sums are cast to BIGINT so counts arrive as integers, not decimals.
"""

from __future__ import annotations

import logging
import math
import os
import time
import unicodedata
from collections.abc import Container, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import pandas as pd
import pyarrow as pa

from .layouts import BY_TABLE, ENTITIES

log = logging.getLogger(__name__)

Db = Union["Database", duckdb.DuckDBPyConnection, str, "os.PathLike[str]"]
FollowList = Literal["followers", "following"]
Period = Literal["week", "month"]

DEFAULT_DATASET = "tiktok"  # = settings.DEFAULT_DATASET; not imported to keep this module dlt-free
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FAVORITE_TABLES = ("favorite_videos", "favorite_sounds", "favorite_effects", "favorite_hashtags",
                   "favorite_collections")
SESSION_BINS_MINUTES = (0, 1, 5, 15, 30, 60, 120)
POST_SETTINGS = ("who_can_view", "allow_comments", "allow_stitches", "allow_duets", "allow_stickers",
                 "allow_sharing_to_story", "content_disclosure", "ai_generated_content")
NOT_SET = "(not set)"

# event time of every table that has one: what the heatmap and the overview bucket by
TIME_COLUMNS: dict[str, str] = {e.table: e.time_column for e in ENTITIES if e.time_column}

_KIND_SQL = {"text": "VARCHAR", "timestamp": "TIMESTAMP WITH TIME ZONE", "int": "BIGINT", "float": "DOUBLE",
             "bool": "BOOLEAN", "date": "DATE"}
_EXTRA_TYPES = {
    "is_group": "BOOLEAN", "is_own": "BOOLEAN", "is_current": "BOOLEAN", "deleted_account": "BOOLEAN",
    "followers_listed": "BIGINT", "following_listed": "BIGINT", "unparsed_count": "BIGINT",
}


# --- plumbing ------------------------------------------------------------------------------------

def connect(path: str | os.PathLike[str]) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file read-only and keep it open; a missing file gives an empty in-memory database.

    The connection holds the file until you close it, and DuckDB lets no load write to a file another
    process has open, read-only or not: ``tiktok-portability load`` fails meanwhile. For anything
    that stays around (a notebook, a long session) use :class:`Database` instead, which opens the
    file only for each query. An empty stand-in for a missing file, so that a notebook pointed at a
    file that does not exist yet says "No data" everywhere instead of failing in its first cell.
    """
    file = Path(path)
    if not file.exists():
        log.warning("DuckDB file %s does not exist; every result will be empty", file)
        return duckdb.connect(":memory:")
    return duckdb.connect(str(file), read_only=True)


def _is_lock_conflict(exc: BaseException) -> bool:
    """DuckDB's "Could not set lock on file …: Conflicting lock is held in …" (another process writes)."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.IOException) and ("conflicting lock" in text or "could not set lock" in text)


class Database:
    """A DuckDB file to analyse, opened read-only for each call and closed before the call returns.

    Holds nothing but the path, so keeping one around (a notebook between cells) never blocks a
    load, and every call sees what the latest load wrote. While a load holds the file, a call waits
    for it, polling, up to ``wait_seconds`` (then DuckDB's lock error is raised). A missing file
    reads as an empty database (one warning), and is picked up once a load creates it.

        db = analysis.Database("tiktok_portability.duckdb")
        analysis.watch_sessions(db)   # opens, queries, closes

    It is an ``os.PathLike``: anything that takes a path takes it.
    """

    def __init__(self, path: str | os.PathLike[str], *, wait_seconds: float = 60.0) -> None:
        self.path = Path(path)
        self.wait_seconds = float(wait_seconds)
        self._warned_missing = False

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r})"

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for one block, closed on leaving it."""
        con = self._open()
        try:
            yield con
        finally:
            con.close()

    def _open(self) -> duckdb.DuckDBPyConnection:
        if not self.path.exists():
            if not self._warned_missing:
                log.warning("DuckDB file %s does not exist; every result will be empty", self.path)
                self._warned_missing = True
            return duckdb.connect(":memory:")
        deadline = time.monotonic() + self.wait_seconds
        pause = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=True)
            except duckdb.Error as exc:
                if not _is_lock_conflict(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, 1.0)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _tz_literal(tz: str | None) -> str:
    """Validate an IANA zone name up front so a typo is a clear ValueError, not a SQL error."""
    name = tz or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as 'Europe/Amsterdam'") from exc
    return _literal(name)


def _column_type(table: str, column: str) -> str:
    """The SQL type a column has when the loader writes it (from ``layouts``), for typed stand-ins."""
    if column in _EXTRA_TYPES:
        return _EXTRA_TYPES[column]
    entity = BY_TABLE.get(table)
    for col in entity.columns if entity else ():
        if col.name == column:
            return _KIND_SQL[col.kind]
    return "TIMESTAMP WITH TIME ZONE" if column.endswith("_at") else "VARCHAR"


@dataclass(frozen=True)
class _Source:
    """One connection, dataset and user filter; builds relations that exist even when tables don't."""

    con: duckdb.DuckDBPyConnection
    dataset: str
    user_id: str | None

    def columns(self, table: str) -> dict[str, str]:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = ? AND table_schema = ? AND table_name = ?",
            [self.catalog, self.dataset, table],
        ).fetchall()
        return {name: dtype for name, dtype in rows}

    def rel(self, table: str, *columns: str) -> str:
        """``(SELECT user_id, <columns> FROM table WHERE user_id = …)`` or a typed empty stand-in.

        Missing columns become typed NULLs and mistyped ones are TRY_CAST, so the SQL around a
        relation never depends on what a particular load happened to create.
        """
        return self._relation(table, ("user_id", *columns), per_user=True)

    def shared(self, table: str, *columns: str) -> str:
        """Like :meth:`rel` for a table that belongs to no user (``videos``): no user_id, no filter."""
        return self._relation(table, columns, per_user=False)

    def _relation(self, table: str, wanted: tuple[str, ...], *, per_user: bool) -> str:
        existing = self.columns(table)
        if not existing:
            nulls = ", ".join(f"NULL::{_column_type(table, c)} AS {_ident(c)}" for c in wanted)
            return f"(SELECT {nulls} WHERE false)"
        parts = []
        for c in wanted:
            sql_type = _column_type(table, c)
            if c not in existing:
                parts.append(f"NULL::{sql_type} AS {_ident(c)}")
            elif existing[c] != sql_type:
                parts.append(f"TRY_CAST({_ident(c)} AS {sql_type}) AS {_ident(c)}")
            else:
                parts.append(_ident(c))
        where = ""
        if per_user and self.user_id is not None:
            where = f" WHERE user_id = {_literal(self.user_id)}" if "user_id" in existing else " WHERE false"
        return f"(SELECT {', '.join(parts)} FROM {self.qualified(table)}{where})"

    @cached_property
    def catalog(self) -> str:
        return self.con.execute("SELECT current_database()").fetchone()[0]

    def qualified(self, table: str) -> str:
        """catalog.schema.table: a file named like the dataset (tiktok.duckdb) makes ``tiktok.x`` ambiguous."""
        return f"{_ident(self.catalog)}.{_ident(self.dataset)}.{_ident(table)}"

    def has(self, table: str) -> bool:
        return bool(self.columns(table))

    def frame(self, sql: str) -> pd.DataFrame:
        return _to_pandas(self.con.execute(sql).to_arrow_table())


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow → pandas with dates as datetimes, instants in UTC and lists as Python lists."""
    df = table.to_pandas(date_as_object=False)
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            df[field.name] = df[field.name].dt.tz_convert("UTC")
        elif pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            df[field.name] = df[field.name].map(lambda v: [] if v is None else list(v))
    return df


@contextmanager
def _source(db: Db, dataset: str, user_id: str | None) -> Iterator[_Source]:
    """Use a given connection as is; for a Database or a path, one read-only connection for this call."""
    if isinstance(db, duckdb.DuckDBPyConnection):
        yield _Source(db, dataset, user_id)
        return
    database = db if isinstance(db, Database) else Database(db)
    with database.connection() as con:
        yield _Source(con, dataset, user_id)


def _local(column: str, tz: str | None) -> str:
    """A naive local timestamp, independent of the connection's TimeZone setting."""
    return f"timezone({_tz_literal(tz)}, {column})"


# --- what is loaded --------------------------------------------------------------------------------

def users(db: Db, *, dataset: str = DEFAULT_DATASET) -> list[str]:
    """Every user id with at least one row, sorted: lets a notebook pick one when several are loaded."""
    with _source(db, dataset, None) as src:
        tables = [t for t in (*BY_TABLE, "archives") if src.has(t)]
        if not tables:
            return []
        union = " UNION ".join(f"SELECT DISTINCT user_id FROM {src.rel(t)}" for t in tables)
        return [r[0] for r in src.con.execute(f"SELECT user_id FROM ({union}) WHERE user_id IS NOT NULL "
                                              "ORDER BY 1").fetchall()]


def table_overview(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """Rows and time span per loaded table: the first thing to check before trusting any chart."""
    with _source(db, dataset, user_id) as src:
        parts = [
            f"SELECT user_id, {_literal(t)} AS table_name, count(*) AS rows, min({_ident(c)}) AS first_at, "
            f"max({_ident(c)}) AS last_at FROM {src.rel(t, c)} GROUP BY user_id"
            for t, c in TIME_COLUMNS.items() if src.has(t)
        ] or [("SELECT NULL::VARCHAR AS user_id, NULL::VARCHAR AS table_name, 0::BIGINT AS rows, "
               "NULL::TIMESTAMPTZ AS first_at, NULL::TIMESTAMPTZ AS last_at WHERE false")]
        return src.frame(" UNION ALL ".join(parts) + " ORDER BY user_id, table_name")


# --- followers and following ---------------------------------------------------------------------

def _check_list(which: str) -> str:
    if which not in ("followers", "following"):
        raise ValueError("which must be 'followers' or 'following'")
    return which


def _snapshot_ctes(src: _Source, which: str, *, deleted: bool = False) -> str:
    """``f`` = the list's rows, ``snaps`` = the exports that carried it, per user.

    Export times are read back from the rows themselves (first/last seen, disappeared), so this
    needs nothing but the table. An account counts as listed in export ``t`` when
    ``first_seen_at <= t <= last_seen_at``. ``deleted``: deleted accounts (no name) count too, for
    how many accounts a list held; without it ``f`` holds the accounts that have a name.
    """
    rel = src.rel(_check_list(which), "username", "followed_at", "first_seen_at", "last_seen_at",
                  "disappeared_at", "deleted_account")
    named = "username IS NOT NULL" + (" OR coalesce(deleted_account, false)" if deleted else "")
    return f"""
        f AS (SELECT * FROM {rel} WHERE {named}),
        snaps AS (
            SELECT DISTINCT user_id, t AS exported_at FROM (
                SELECT user_id, first_seen_at AS t FROM f
                UNION ALL SELECT user_id, last_seen_at FROM f
                UNION ALL SELECT user_id, disappeared_at FROM f)
            WHERE t IS NOT NULL)"""


def list_sizes_by_export(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """How many followers and followed accounts each export listed (deleted accounts included): the
    audience curve over time."""
    with _source(db, dataset, user_id) as src:
        parts = []
        for which in ("followers", "following"):
            parts.append(f"""(WITH {_snapshot_ctes(src, which, deleted=True)}
                SELECT s.user_id, {_literal(which)} AS list, s.exported_at,
                       count(f.user_id) AS accounts
                FROM snaps s LEFT JOIN f ON f.user_id = s.user_id
                     AND f.first_seen_at <= s.exported_at AND f.last_seen_at >= s.exported_at
                GROUP BY ALL)""")
        return src.frame(" UNION ALL ".join(parts) + " ORDER BY user_id, list, exported_at")


def cumulative_follows(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                       tz: str | None = None) -> pd.DataFrame:
    """Accounts gained by follow date, cumulatively, for both lists.

    ``cumulative_followed`` counts every account ever listed by the date it followed; ``net`` also
    subtracts accounts on the day of the first export that no longer listed them (an upper bound
    of when they left: exports only show that it happened in between). Accounts that came and went
    before the first export are invisible to both.
    """
    with _source(db, dataset, user_id) as src:
        lists = " UNION ALL ".join(
            f"SELECT user_id, {_literal(w)} AS list, followed_at, disappeared_at "
            f"FROM {src.rel(w, 'username', 'followed_at', 'disappeared_at', 'deleted_account')} "
            f"WHERE (username IS NOT NULL OR coalesce(deleted_account, false)) AND followed_at IS NOT NULL"
            for w in ("followers", "following"))
        return src.frame(f"""
            WITH f AS ({lists}),
            ev AS (
                SELECT user_id, list, CAST({_local('followed_at', tz)} AS DATE) AS date, 1 AS followed, 0 AS lost
                FROM f
                UNION ALL
                SELECT user_id, list, CAST({_local('disappeared_at', tz)} AS DATE), 0, 1
                FROM f WHERE disappeared_at IS NOT NULL),
            daily AS (
                SELECT user_id, list, date, sum(followed)::BIGINT AS followed, sum(lost)::BIGINT AS lost
                FROM ev GROUP BY ALL)
            SELECT user_id, list, date, followed, lost,
                   CAST(sum(followed) OVER w AS BIGINT) AS cumulative_followed,
                   CAST(sum(followed - lost) OVER w AS BIGINT) AS net
            FROM daily
            WINDOW w AS (PARTITION BY user_id, list ORDER BY date ROWS UNBOUNDED PRECEDING)
            ORDER BY user_id, list, date""")


def follower_changes(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                     which: FollowList = "followers") -> pd.DataFrame:
    """Per pair of consecutive exports: accounts gained and lost, as counts and sorted usernames."""
    with _source(db, dataset, user_id) as src:
        present_prev = "f.first_seen_at <= p.previous_export AND f.last_seen_at >= p.previous_export"
        present_now = "f.first_seen_at <= p.exported_at AND f.last_seen_at >= p.exported_at"
        gained = f"({present_now}) AND NOT ({present_prev})"
        lost = f"({present_prev}) AND NOT ({present_now})"
        return src.frame(f"""
            WITH {_snapshot_ctes(src, which)},
            p AS (SELECT user_id, lag(exported_at) OVER (PARTITION BY user_id ORDER BY exported_at)
                         AS previous_export, exported_at FROM snaps)
            SELECT p.user_id, p.previous_export, p.exported_at,
                   count(*) FILTER (WHERE {present_prev}) AS listed_before,
                   count(*) FILTER (WHERE {present_now}) AS listed_after,
                   count(*) FILTER (WHERE {gained}) AS gained,
                   count(*) FILTER (WHERE {lost}) AS lost,
                   coalesce(list(f.username ORDER BY f.username) FILTER (WHERE {gained}), []::VARCHAR[])
                       AS gained_usernames,
                   coalesce(list(f.username ORDER BY f.username) FILTER (WHERE {lost}), []::VARCHAR[])
                       AS lost_usernames
            FROM p JOIN f ON f.user_id = p.user_id
            WHERE p.previous_export IS NOT NULL
            GROUP BY ALL ORDER BY p.user_id, p.exported_at""")


def unfollowed_since_last_export(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                                 which: FollowList = "followers") -> pd.DataFrame:
    """Accounts the second-to-last export listed and the last one did not.

    For ``which="followers"`` these unfollowed you (or were deleted); for ``"following"`` you
    unfollowed them.
    """
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH {_snapshot_ctes(src, which)},
            ranked AS (SELECT user_id, exported_at,
                              row_number() OVER (PARTITION BY user_id ORDER BY exported_at DESC) AS k FROM snaps),
            last2 AS (SELECT user_id, max(exported_at) FILTER (WHERE k = 2) AS previous_export,
                             max(exported_at) FILTER (WHERE k = 1) AS last_export
                      FROM ranked WHERE k <= 2 GROUP BY user_id)
            SELECT f.user_id, f.username, f.followed_at, f.last_seen_at, l.last_export AS missing_since
            FROM f JOIN last2 l ON f.user_id = l.user_id
            WHERE f.first_seen_at <= l.previous_export AND f.last_seen_at >= l.previous_export
              AND NOT (f.first_seen_at <= l.last_export AND f.last_seen_at >= l.last_export)
            ORDER BY f.user_id, f.username""")


def _current_lists_sql(src: _Source) -> str:
    cols = ("username", "followed_at", "disappeared_at")
    return f"""
        fo AS (SELECT user_id, username, followed_at FROM {src.rel('followers', *cols)}
               WHERE username IS NOT NULL AND disappeared_at IS NULL),
        fi AS (SELECT user_id, username, followed_at FROM {src.rel('following', *cols)}
               WHERE username IS NOT NULL AND disappeared_at IS NULL)"""


def mutuals(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """Accounts that currently follow you and that you currently follow."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH {_current_lists_sql(src)}
            SELECT fo.user_id, fo.username, fo.followed_at AS follows_you_since,
                   fi.followed_at AS you_follow_since
            FROM fo JOIN fi ON fo.user_id = fi.user_id AND fo.username = fi.username
            ORDER BY fo.user_id, fo.username""")


def follow_back_ratio(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """Current list sizes, mutuals and both directions of following back.

    ``follow_back_ratio`` = mutuals / accounts you follow (how many follow you back);
    ``you_follow_back_ratio`` = mutuals / your followers (how many of them you follow back).
    NULL when the denominator is zero.
    """
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH {_current_lists_sql(src)},
            joined AS (
                SELECT coalesce(fo.user_id, fi.user_id) AS user_id, fo.username AS follower,
                       fi.username AS followed
                FROM fo FULL OUTER JOIN fi ON fo.user_id = fi.user_id AND fo.username = fi.username),
            c AS (SELECT user_id, count(follower) AS followers, count(followed) AS following,
                         count(*) FILTER (WHERE follower IS NOT NULL AND followed IS NOT NULL) AS mutuals
                  FROM joined GROUP BY user_id)
            SELECT user_id, followers, following, mutuals,
                   mutuals / NULLIF(following, 0)::DOUBLE AS follow_back_ratio,
                   mutuals / NULLIF(followers, 0)::DOUBLE AS you_follow_back_ratio
            FROM c ORDER BY user_id""")


def profile_history(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """Profile counters per export; ``followers``/``following`` fall back to the list lengths.

    Only late-2025 exports carry follower counts; older ones only have the lists to count.
    """
    with _source(db, dataset, user_id) as src:
        rel = src.rel("profile", "exported_at", "username", "follower_count", "following_count",
                      "followers_listed", "following_listed", "likes_received")
        return src.frame(f"""
            SELECT user_id, exported_at, username,
                   coalesce(follower_count, followers_listed) AS followers,
                   coalesce(following_count, following_listed) AS following,
                   likes_received, follower_count, following_count, followers_listed, following_listed
            FROM {rel} ORDER BY user_id, exported_at""")


# --- posts -----------------------------------------------------------------------------------------

def _check_period(period: str) -> str:
    if period not in ("week", "month"):
        raise ValueError("period must be 'week' or 'month'")
    return period


def posting_cadence(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                    period: Period = "week", tz: str | None = None) -> pd.DataFrame:
    """Posts per week (Monday-based) or month, with zero rows for quiet periods in between."""
    _check_period(period)
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH p AS (SELECT user_id, date_trunc('{period}', {_local('posted_at', tz)}) AS period
                       FROM {src.rel('posts', 'posted_at')} WHERE posted_at IS NOT NULL),
            bounds AS (SELECT user_id, min(period) AS lo, max(period) AS hi FROM p GROUP BY user_id),
            periods AS (SELECT user_id, unnest(generate_series(lo, hi, INTERVAL 1 {period})) AS period
                        FROM bounds),
            counts AS (SELECT user_id, period, count(*) AS posts FROM p GROUP BY ALL)
            SELECT periods.user_id, CAST(periods.period AS DATE) AS period_start,
                   coalesce(counts.posts, 0) AS posts
            FROM periods LEFT JOIN counts USING (user_id, period)
            ORDER BY periods.user_id, period_start""")


def posting_gaps(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """Days since the previous post, per post: long gaps are the breaks in a posting habit."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH p AS (SELECT user_id, posted_at, title,
                              lag(posted_at) OVER (PARTITION BY user_id ORDER BY posted_at) AS previous_posted_at
                       FROM {src.rel('posts', 'posted_at', 'title')} WHERE posted_at IS NOT NULL)
            SELECT user_id, posted_at, title, previous_posted_at,
                   (epoch(posted_at) - epoch(previous_posted_at)) / 86400.0 AS gap_days
            FROM p ORDER BY user_id, posted_at""")


def likes_per_post(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                   window: int = 5) -> pd.DataFrame:
    """Likes of each post in posting order, with a rolling median over the last ``window`` posts.

    The median, not the mean, because one viral post would otherwise dominate the trend.
    """
    if window < 1:
        raise ValueError("window must be at least 1")
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            SELECT user_id, posted_at, title, likes,
                   median(likes) OVER (PARTITION BY user_id ORDER BY posted_at
                                       ROWS BETWEEN {window - 1} PRECEDING AND CURRENT ROW) AS rolling_median_likes
            FROM {src.rel('posts', 'posted_at', 'title', 'likes')}
            WHERE posted_at IS NOT NULL AND likes IS NOT NULL
            ORDER BY user_id, posted_at""")


def _likes_by(src: _Source, part: str, size: int, label: str, tz: str | None) -> str:
    """Posts and likes per weekday or hour; every bucket present (zero posts → NULL likes)."""
    bucket = f"{part}({_local('posted_at', tz)})" + (" - 1" if part == "isodow" else "")
    return f"""
        WITH p AS (SELECT user_id, {bucket} AS b, likes
                   FROM {src.rel('posts', 'posted_at', 'likes')}
                   WHERE posted_at IS NOT NULL AND likes IS NOT NULL),
        grid AS (SELECT u.user_id, r.range AS b FROM (SELECT DISTINCT user_id FROM p) u, range({size}) r)
        SELECT grid.user_id, grid.b AS {label}, count(p.likes) AS posts,
               median(p.likes) AS median_likes, avg(p.likes) AS mean_likes,
               coalesce(sum(p.likes), 0)::BIGINT AS total_likes
        FROM grid LEFT JOIN p ON p.user_id = grid.user_id AND p.b = grid.b
        GROUP BY ALL ORDER BY grid.user_id, {label}"""


def likes_by_weekday(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                     tz: str | None = None) -> pd.DataFrame:
    """Median and mean likes of posts by the weekday they went up (0 = Monday)."""
    with _source(db, dataset, user_id) as src:
        df = src.frame(_likes_by(src, "isodow", 7, "weekday", tz))
    df.insert(2, "weekday_name", [WEEKDAYS[int(d)] for d in df["weekday"]])
    return df


def likes_by_hour(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                  tz: str | None = None) -> pd.DataFrame:
    """Median and mean likes of posts by the hour of day they went up (0–23, in ``tz``)."""
    with _source(db, dataset, user_id) as src:
        return src.frame(_likes_by(src, "hour", 24, "hour", tz))


def post_settings_effect(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                         varying_only: bool = True) -> pd.DataFrame:
    """Median likes per value of each post setting (who can view, duets, stitches, …).

    Also ``has_location`` and ``original_sound``. With ``varying_only`` a setting the user never
    changed is dropped: it cannot explain a difference. Correlation, not causation: few posts per
    value make medians noisy, so ``posts`` is returned alongside.
    """
    with _source(db, dataset, user_id) as src:
        rel = src.rel("posts", "likes", "location", "sound", *POST_SETTINGS)
        as_text = []
        for name in POST_SETTINGS:
            if _column_type("posts", name) == "BOOLEAN":
                expr = f"CASE WHEN {name} THEN 'yes' WHEN NOT {name} THEN 'no' END"
            else:
                expr = name
            as_text.append(f"coalesce({expr}, '{NOT_SET}') AS {name}")
        as_text.append("CASE WHEN location IS NULL THEN 'no' ELSE 'yes' END AS has_location")
        as_text.append("CASE WHEN sound IS NULL THEN '" + NOT_SET + "' "
                       "WHEN lower(sound) LIKE 'original sound%' THEN 'yes' ELSE 'no' END AS original_sound")
        names = (*POST_SETTINGS, "has_location", "original_sound")
        df = src.frame(f"""
            WITH p AS (SELECT user_id, likes, {', '.join(as_text)} FROM {rel} WHERE likes IS NOT NULL),
            long AS (UNPIVOT p ON {', '.join(names)} INTO NAME setting VALUE value)
            SELECT user_id, setting, value, count(*) AS posts, median(likes) AS median_likes,
                   avg(likes) AS mean_likes,
                   count(DISTINCT value) OVER (PARTITION BY user_id, setting) AS values_used
            FROM long GROUP BY user_id, setting, value
            ORDER BY user_id, setting, value""")
    if varying_only:
        df = df[df["values_used"] > 1].reset_index(drop=True)
    return df.drop(columns="values_used")


def top_posts(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None, n: int = 10) -> pd.DataFrame:
    """The ``n`` most-liked posts per user, newest first among ties."""
    with _source(db, dataset, user_id) as src:
        rel = src.rel("posts", "posted_at", "title", "likes", "who_can_view", "sound", "location")
        return src.frame(f"""
            SELECT user_id, row_number() OVER (PARTITION BY user_id ORDER BY likes DESC, posted_at DESC) AS rank,
                   posted_at, title, likes, who_can_view, sound, location
            FROM {rel} WHERE likes IS NOT NULL
            QUALIFY rank <= {int(n)}
            ORDER BY user_id, rank""")


# --- activity --------------------------------------------------------------------------------------

def watch_sessions(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                   gap_minutes: float = 30.0) -> pd.DataFrame:
    """Watch history cut into sessions: a gap of more than ``gap_minutes`` starts a new one.

    The export only has when each video started, so ``duration_minutes`` runs from the first to the
    last video started (a one-video session lasts 0 minutes). ``session_id`` counts from 1 per user.
    """
    gap_seconds = float(gap_minutes) * 60
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH w AS (SELECT user_id, watched_at,
                              lag(watched_at) OVER (PARTITION BY user_id ORDER BY watched_at) AS previous
                       FROM {src.rel('watch_history', 'watched_at')} WHERE watched_at IS NOT NULL),
            s AS (SELECT user_id, watched_at,
                         sum(CASE WHEN previous IS NULL OR epoch(watched_at) - epoch(previous) > {gap_seconds}
                                  THEN 1 ELSE 0 END)
                             OVER (PARTITION BY user_id ORDER BY watched_at ROWS UNBOUNDED PRECEDING) AS session_id
                  FROM w)
            SELECT user_id, session_id::BIGINT AS session_id, min(watched_at) AS started_at,
                   max(watched_at) AS ended_at, count(*) AS videos,
                   (epoch(max(watched_at)) - epoch(min(watched_at))) / 60.0 AS duration_minutes
            FROM s GROUP BY user_id, session_id ORDER BY user_id, session_id""")


def _bucket_labels(bins: Sequence[float]) -> list[str]:
    edges = list(bins)
    labels = [f"{_num(a)}–{_num(b)} min" for a, b in pairwise(edges)]
    return labels + [f"{_num(edges[-1])}+ min"]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def session_length_distribution(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                                gap_minutes: float = 30.0,
                                bins_minutes: Sequence[float] = SESSION_BINS_MINUTES) -> pd.DataFrame:
    """Sessions per duration bucket (lower edge inclusive), every bucket listed, with its share."""
    edges = sorted(float(b) for b in bins_minutes)
    if not edges or edges[0] != 0:
        raise ValueError("bins_minutes must start at 0")
    sessions = watch_sessions(db, dataset=dataset, user_id=user_id, gap_minutes=gap_minutes)
    labels = _bucket_labels(edges)
    columns = ["user_id", "bucket", "min_minutes", "sessions", "share"]
    if sessions.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in ("min_minutes", "share") else
                                          "int64" if c == "sessions" else "object") for c in columns})
    cut = pd.cut(sessions["duration_minutes"], [*edges, math.inf], right=False, labels=labels)
    counts = (sessions.assign(bucket=cut).groupby(["user_id", "bucket"], observed=False).size()
              .rename("sessions").reset_index())
    counts["bucket"] = counts["bucket"].astype(pd.CategoricalDtype(labels, ordered=True))
    counts["min_minutes"] = counts["bucket"].map(dict(zip(labels, edges))).astype("float64")
    counts["sessions"] = counts["sessions"].astype("int64")
    counts["share"] = counts["sessions"] / counts.groupby("user_id")["sessions"].transform("sum")
    return counts[columns].sort_values(["user_id", "min_minutes"]).reset_index(drop=True)


def activity_heatmap(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                     table: str = "watch_history", tz: str | None = None) -> pd.DataFrame:
    """Events per weekday × hour as a 7 × 24 matrix (rows Monday…Sunday, columns 0…23).

    Summed over all users when ``user_id`` is None (a matrix has no room for a user column).
    Empty (no rows) when there are no events, so ``.empty`` means "no data" as everywhere else.
    """
    if table not in TIME_COLUMNS:
        raise ValueError(f"table must be one of {sorted(TIME_COLUMNS)}")
    column = TIME_COLUMNS[table]
    with _source(db, dataset, user_id) as src:
        long = src.frame(f"""
            SELECT isodow({_local(column, tz)}) - 1 AS weekday, hour({_local(column, tz)}) AS hour,
                   count(*) AS events
            FROM {src.rel(table, column)} WHERE {_ident(column)} IS NOT NULL GROUP BY ALL""")
    hours = list(range(24))
    if long.empty:
        empty = pd.DataFrame(columns=hours, dtype="int64")
        empty.index.name = "weekday"
        return empty
    matrix = (long.pivot(index="weekday", columns="hour", values="events")
              .reindex(index=range(7), columns=hours).fillna(0).astype("int64"))
    matrix.index = pd.Index(WEEKDAYS, name="weekday")
    matrix.columns = pd.Index(hours, name="hour")
    return matrix


def daily_activity(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                   tz: str | None = None) -> pd.DataFrame:
    """Videos watched, liked and favourited (any favourite list) per day, zero-filled in between.

    Zero-filled everywhere, also on days no export reached (watch history goes back ~180 days per
    export): :func:`daily_activity_coverage` tells "no activity" from "not in any export".
    """
    with _source(db, dataset, user_id) as src:
        def events(table: str, kind: str) -> str:
            col = TIME_COLUMNS[table]
            return (f"SELECT user_id, CAST({_local(_ident(col), tz)} AS DATE) AS date, '{kind}' AS kind "
                    f"FROM {src.rel(table, col)} WHERE {_ident(col)} IS NOT NULL")

        union = " UNION ALL ".join([events("watch_history", "watched"), events("likes", "liked"),
                                    *(events(t, "favorited") for t in FAVORITE_TABLES)])
        return src.frame(f"""
            WITH ev AS ({union}),
            bounds AS (SELECT user_id, min(date) AS lo, max(date) AS hi FROM ev GROUP BY user_id),
            days AS (SELECT user_id, CAST(unnest(generate_series(lo, hi, INTERVAL 1 DAY)) AS DATE) AS date
                     FROM bounds),
            counts AS (SELECT user_id, date, count(*) FILTER (WHERE kind = 'watched') AS watched,
                              count(*) FILTER (WHERE kind = 'liked') AS liked,
                              count(*) FILTER (WHERE kind = 'favorited') AS favorited
                       FROM ev GROUP BY ALL)
            SELECT days.user_id, days.date, coalesce(watched, 0) AS watched, coalesce(liked, 0) AS liked,
                   coalesce(favorited, 0) AS favorited
            FROM days LEFT JOIN counts USING (user_id, date)
            ORDER BY days.user_id, days.date""")


ACTIVITY_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("watched", ("watch_history",)), ("liked", ("likes",)), ("favorited", FAVORITE_TABLES))


def daily_activity_coverage(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                            tz: str | None = None) -> pd.DataFrame:
    """Per day and kind (watched, liked, favorited): events, and whether any export covered that day.

    An export holds only the last ~180 days of watch history, so a day no export reached is unknown,
    not a day without watching. A day is ``covered`` for a kind when one export's list (one table,
    one ``archive_sha256``; any favourite list counts for "favorited") reaches it: from the list's
    first event to its last, or to the export's own date when the ``archives`` table has it (a list
    holds every event up to the moment of export). ``events`` is then the count (0 on a quiet day);
    outside coverage it is NULL (``pd.NA``), never 0. Days run from the user's first to last event
    of any kind, so all kinds share one calendar.
    Columns: ``user_id, kind, date, events`` (nullable Int64) ``, covered``.
    """
    with _source(db, dataset, user_id) as src:
        parts = []
        for kind, tables in ACTIVITY_KINDS:
            for table in tables:
                col = _ident(TIME_COLUMNS[table])
                parts.append(
                    f"SELECT user_id, {_literal(kind)} AS kind, {_literal(table)} AS source, archive_sha256, "
                    f"CAST({_local(col, tz)} AS DATE) AS date "
                    f"FROM {src.rel(table, TIME_COLUMNS[table], 'archive_sha256')} WHERE {col} IS NOT NULL")
        kinds = ", ".join(f"({_literal(kind)}, {i})" for i, (kind, _) in enumerate(ACTIVITY_KINDS))
        df = src.frame(f"""
            WITH ev AS ({' UNION ALL '.join(parts)}),
            exports AS (SELECT user_id, archive_sha256, max(CAST({_local('exported_at', tz)} AS DATE)) AS day
                        FROM {src.rel('archives', 'archive_sha256', 'exported_at')}
                        WHERE archive_sha256 IS NOT NULL GROUP BY ALL),
            spans AS (SELECT ev.user_id, ev.kind, ev.source, ev.archive_sha256, min(ev.date) AS lo,
                             greatest(max(ev.date), coalesce(any_value(x.day), max(ev.date))) AS hi
                      FROM ev LEFT JOIN exports x ON x.user_id = ev.user_id AND x.archive_sha256 = ev.archive_sha256
                      GROUP BY ALL),
            bounds AS (SELECT user_id, min(date) AS lo, max(date) AS hi FROM ev GROUP BY user_id),
            days AS (SELECT user_id, CAST(unnest(generate_series(lo, hi, INTERVAL 1 DAY)) AS DATE) AS date
                     FROM bounds),
            grid AS (SELECT days.user_id, k.kind, k.position, days.date
                     FROM days, (VALUES {kinds}) k(kind, position)),
            cov AS (SELECT g.user_id, g.kind, g.position, g.date, bool_or(s.lo IS NOT NULL) AS covered
                    FROM grid g LEFT JOIN spans s ON s.user_id = g.user_id AND s.kind = g.kind
                                                  AND g.date BETWEEN s.lo AND s.hi
                    GROUP BY ALL),
            counts AS (SELECT user_id, kind, date, count(*) AS events FROM ev GROUP BY ALL)
            SELECT cov.user_id, cov.kind, cov.date,
                   CASE WHEN cov.covered THEN coalesce(counts.events, 0) END AS events, cov.covered
            FROM cov LEFT JOIN counts USING (user_id, kind, date)
            ORDER BY cov.user_id, cov.position, cov.date""")
    df["events"] = df["events"].astype("Int64")
    return df


def top_searches(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None, n: int = 20) -> pd.DataFrame:
    """The ``n`` most repeated search terms per user (case and surrounding spaces ignored)."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH s AS (SELECT user_id, lower(trim(search_term)) AS search_term, searched_at
                       FROM {src.rel('searches', 'searched_at', 'search_term')}
                       WHERE search_term IS NOT NULL AND trim(search_term) <> '')
            SELECT user_id, search_term, count(*) AS searches, min(searched_at) AS first_searched_at,
                   max(searched_at) AS last_searched_at
            FROM s GROUP BY user_id, search_term
            QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY count(*) DESC, search_term) <= {int(n)}
            ORDER BY user_id, searches DESC, search_term""")


# --- what you watch, comment on and are shown ------------------------------------------------------

def watch_rates(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """Of the distinct videos watched: the share watched more than once, liked, and saved to favourites.

    ``videos`` = distinct ``video_id`` in the watch history (``views`` = its rows with an id);
    ``rewatched`` = those watched more than once; ``liked`` / ``favorited`` = those also in the like
    list / favourite videos. Rates are counts / ``videos``. A like of a video whose viewing is not
    in the watch history (older than the exports reach) is not counted: like and view must overlap.
    """
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH v AS (SELECT user_id, video_id, count(*) AS views
                       FROM {src.rel('watch_history', 'video_id')} WHERE video_id IS NOT NULL GROUP BY ALL),
            l AS (SELECT DISTINCT user_id, video_id FROM {src.rel('likes', 'video_id')} WHERE video_id IS NOT NULL),
            f AS (SELECT DISTINCT user_id, video_id FROM {src.rel('favorite_videos', 'video_id')}
                  WHERE video_id IS NOT NULL),
            c AS (SELECT v.user_id, sum(v.views)::BIGINT AS views, count(*) AS videos,
                         count(*) FILTER (WHERE v.views > 1) AS rewatched, count(l.video_id) AS liked,
                         count(f.video_id) AS favorited
                  FROM v LEFT JOIN l ON l.user_id = v.user_id AND l.video_id = v.video_id
                         LEFT JOIN f ON f.user_id = v.user_id AND f.video_id = v.video_id
                  GROUP BY v.user_id)
            SELECT user_id, views, videos, rewatched, liked, favorited,
                   rewatched / videos::DOUBLE AS rewatch_rate, liked / videos::DOUBLE AS like_rate,
                   favorited / videos::DOUBLE AS favorite_rate
            FROM c ORDER BY user_id""")


_HANDLE = r"'/@([^/?#]+)'"


def _creators_sql(src: _Source) -> str:
    """``cw`` = every watch row with its creator, or NULL when neither source names one.

    From the ``videos`` table (``tiktok-portability enrich``) when it has the video: the handle in
    ``author_url``, else ``author_name``; otherwise the ``@handle`` of the watch link (only links of
    the ``tiktok.com/@name/video/…`` form have one). Handles are shown as ``@name``.
    """
    videos = src.shared("videos", "video_id", "author_url", "author_name", "status")
    return f"""
        vc AS (SELECT video_id,
                      any_value(coalesce('@' || nullif(regexp_extract(author_url, {_HANDLE}, 1), ''),
                                         nullif(trim(author_name), ''))) AS creator
               FROM {videos} WHERE video_id IS NOT NULL AND coalesce(status, 'ok') = 'ok' GROUP BY video_id),
        cw AS (SELECT w.user_id, w.watched_at, w.video_id,
                      coalesce(vc.creator, '@' || nullif(regexp_extract(w.link, {_HANDLE}, 1), '')) AS creator
               FROM {src.rel('watch_history', 'watched_at', 'video_id', 'link')} w
               LEFT JOIN vc ON vc.video_id = w.video_id)"""


def top_creators(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                 n: int = 15) -> pd.DataFrame:
    """The ``n`` creators watched most (views, distinct videos, first and last view) per user.

    Only views whose creator is known count (see :func:`creator_coverage` for how many that is): the
    ``videos`` table filled by ``tiktok-portability enrich`` when present, else the ``@name`` in
    the watch link. Ties by name.
    """
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH {_creators_sql(src)}
            SELECT user_id, row_number() OVER (PARTITION BY user_id ORDER BY count(*) DESC, creator) AS rank,
                   creator, count(*) AS views, count(DISTINCT video_id) AS videos,
                   min(watched_at) AS first_watched_at, max(watched_at) AS last_watched_at
            FROM cw WHERE creator IS NOT NULL GROUP BY user_id, creator
            QUALIFY rank <= {int(n)}
            ORDER BY user_id, rank""")


def creator_coverage(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """Views in the watch history and how many of them name their creator (``share``): how much of
    your watching :func:`top_creators` can see."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH {_creators_sql(src)}
            SELECT user_id, count(*) AS views, count(creator) AS views_with_creator,
                   count(creator) / count(*)::DOUBLE AS share
            FROM cw GROUP BY user_id ORDER BY user_id""")


def top_hashtags(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                 n: int = 20) -> pd.DataFrame:
    """Hashtags of the videos you watched (``views``, ``videos``) and of your own posts (``in_your_posts``).

    Watched videos' hashtags come from the ``videos`` table (``tiktok-portability enrich``); without
    it only your own hashtags (the export's ``hashtags`` list) are there, with 0 views. Lower-cased,
    without ``#``. The ``n`` first per user: most viewed, then your own, then by name.
    """
    with _source(db, dataset, user_id) as src:
        clean = "lower(trim(ltrim(trim({}), '#')))"
        return src.frame(f"""
            WITH own AS (SELECT DISTINCT user_id, {clean.format('hashtag_name')} AS hashtag
                         FROM {src.rel('hashtags', 'hashtag_name')} WHERE hashtag_name IS NOT NULL),
            tags AS (SELECT DISTINCT video_id, lower(tag) AS hashtag FROM (
                         SELECT video_id, unnest(regexp_split_to_array(hashtags, '[\\s,#\\[\\]"'']+')) AS tag
                         FROM {src.shared('videos', 'video_id', 'hashtags', 'status')}
                         WHERE video_id IS NOT NULL AND hashtags IS NOT NULL AND coalesce(status, 'ok') = 'ok')
                     WHERE tag <> ''),
            watched AS (SELECT w.user_id, t.hashtag, count(*) AS views, count(DISTINCT w.video_id) AS videos
                        FROM {src.rel('watch_history', 'video_id')} w JOIN tags t ON t.video_id = w.video_id
                        GROUP BY ALL),
            j AS (SELECT coalesce(watched.user_id, own.user_id) AS user_id,
                         coalesce(watched.hashtag, own.hashtag) AS hashtag,
                         coalesce(watched.views, 0)::BIGINT AS views, coalesce(watched.videos, 0)::BIGINT AS videos,
                         own.hashtag IS NOT NULL AS in_your_posts
                  FROM watched FULL OUTER JOIN own ON own.user_id = watched.user_id AND own.hashtag = watched.hashtag
                  WHERE coalesce(watched.hashtag, own.hashtag) <> '')
            SELECT user_id, row_number() OVER (PARTITION BY user_id
                                               ORDER BY views DESC, in_your_posts DESC, hashtag) AS rank,
                   hashtag, views, videos, in_your_posts
            FROM j QUALIFY rank <= {int(n)}
            ORDER BY user_id, rank""")


def comments_by_month(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                      tz: str | None = None) -> pd.DataFrame:
    """Comments you wrote per calendar month (zero rows for quiet months in between) and their length.

    ``with_text``: comments that have text (a sticker- or photo-only comment has none);
    ``median_length`` / ``mean_length``: their length in characters as displayed (an emoji counts
    once), NULL in a month without any.
    """
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH c AS (SELECT user_id, date_trunc('month', {_local('commented_at', tz)}) AS month,
                              length_grapheme(comment) AS length
                       FROM {src.rel('comments', 'commented_at', 'comment')} WHERE commented_at IS NOT NULL),
            bounds AS (SELECT user_id, min(month) AS lo, max(month) AS hi FROM c GROUP BY user_id),
            months AS (SELECT user_id, unnest(generate_series(lo, hi, INTERVAL 1 MONTH)) AS month FROM bounds),
            counts AS (SELECT user_id, month, count(*) AS comments, count(length) AS with_text,
                              median(length) AS median_length, avg(length) AS mean_length
                       FROM c GROUP BY ALL)
            SELECT months.user_id, CAST(months.month AS DATE) AS month, coalesce(counts.comments, 0) AS comments,
                   coalesce(counts.with_text, 0) AS with_text, counts.median_length::DOUBLE AS median_length,
                   counts.mean_length
            FROM months LEFT JOIN counts USING (user_id, month)
            ORDER BY months.user_id, month""")


def live_by_month(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                  tz: str | None = None) -> pd.DataFrame:
    """LIVE activity per calendar month: ``went_live``, ``watched`` (rooms) and ``commented``
    (your comments), with the number of distinct rooms. Only months with activity are listed."""
    with _source(db, dataset, user_id) as src:
        at = _ident("at")
        return src.frame(f"""
            SELECT user_id, CAST(date_trunc('month', {_local(at, tz)}) AS DATE) AS month,
                   coalesce(activity, '(unknown)') AS activity, count(*) AS events,
                   count(DISTINCT room_id) AS rooms
            FROM {src.rel('live_history', 'at', 'activity', 'room_id')} WHERE {at} IS NOT NULL
            GROUP BY ALL ORDER BY user_id, month, activity""")


def ad_interests(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """The interest categories TikTok infers about you for ads, sorted by name."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            SELECT DISTINCT user_id, trim(interest) AS interest
            FROM {src.rel('ad_interests', 'interest')} WHERE interest IS NOT NULL AND trim(interest) <> ''
            ORDER BY user_id, interest""")


# --- sharing, logins and messages -----------------------------------------------------------------

def shares_by_method(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """How the user shares (copy link, chat, WhatsApp…): counts and share of all shares."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            SELECT user_id, coalesce(method, '(unknown)') AS method, count(*) AS shares,
                   count(*) / sum(count(*)) OVER (PARTITION BY user_id) AS share
            FROM {src.rel('shares', 'shared_at', 'method')}
            GROUP BY user_id, coalesce(method, '(unknown)') ORDER BY user_id, shares DESC, method""")


def logins_by_device(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """Logins per device model and system, with first and last use: spot a device you don't know."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            SELECT user_id, coalesce(device_model, '(unknown)') AS device_model,
                   coalesce(device_system, '(unknown)') AS device_system, count(*) AS logins,
                   min(logged_in_at) AS first_login_at, max(logged_in_at) AS last_login_at
            FROM {src.rel('logins', 'logged_in_at', 'device_model', 'device_system')}
            GROUP BY ALL ORDER BY user_id, logins DESC, device_model, device_system""")


def logins_by_network(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None) -> pd.DataFrame:
    """Logins per network type (Wi-Fi, 4G…) and carrier."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            SELECT user_id, coalesce(network_type, '(unknown)') AS network_type,
                   coalesce(carrier, '(unknown)') AS carrier, count(*) AS logins
            FROM {src.rel('logins', 'logged_in_at', 'network_type', 'carrier')}
            GROUP BY ALL ORDER BY user_id, logins DESC, network_type, carrier""")


def _conversations_sql(src: _Source, reveal_names: bool) -> str:
    """``m`` = messages without their text; ``names`` = the label shown for each conversation.

    Pseudonyms are ``conversation N`` numbered per user by message count (then first message),
    so they are stable for a given dataset and say nothing about who the other side is. Only
    ``reveal_names=True`` shows the names TikTok gave the conversations.
    """
    rel = src.rel("direct_messages", "sent_at", "conversation", "is_group", "is_own")
    label = ("conversation" if reveal_names else
             "'conversation ' || row_number() OVER (PARTITION BY user_id ORDER BY messages DESC, first_at, "
             "md5(coalesce(conversation, '')))")
    return f"""
        m AS (SELECT user_id, sent_at, conversation, coalesce(is_group, false) AS is_group,
                     coalesce(is_own, false) AS is_own
              FROM {rel} WHERE sent_at IS NOT NULL),
        totals AS (SELECT user_id, conversation, count(*) AS messages, min(sent_at) AS first_at
                   FROM m GROUP BY ALL),
        names AS (SELECT user_id, conversation, coalesce({label}, '(unnamed)') AS label FROM totals)"""


def direct_messages_by_conversation(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                                    reveal_names: bool = False) -> pd.DataFrame:
    """Messages per conversation, sent vs received, first and last message; never message text.

    Conversation names are pseudonymised unless ``reveal_names=True``; senders are never returned.
    """
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH {_conversations_sql(src, reveal_names)}
            SELECT m.user_id, n.label AS conversation, bool_or(m.is_group) AS is_group, count(*) AS messages,
                   count(*) FILTER (WHERE m.is_own) AS sent_by_you,
                   count(*) FILTER (WHERE NOT m.is_own) AS received,
                   min(m.sent_at) AS first_message_at, max(m.sent_at) AS last_message_at
            FROM m JOIN names n ON n.user_id = m.user_id AND n.conversation IS NOT DISTINCT FROM m.conversation
            GROUP BY m.user_id, n.label
            ORDER BY m.user_id, messages DESC, conversation""")


def direct_messages_by_month(db: Db, *, dataset: str = DEFAULT_DATASET, user_id: str | None = None,
                             reveal_names: bool = False, tz: str | None = None) -> pd.DataFrame:
    """Messages per conversation and calendar month (``month`` = its first day); names as above."""
    with _source(db, dataset, user_id) as src:
        return src.frame(f"""
            WITH {_conversations_sql(src, reveal_names)}
            SELECT m.user_id, n.label AS conversation, bool_or(m.is_group) AS is_group,
                   CAST(date_trunc('month', {_local('m.sent_at', tz)}) AS DATE) AS month,
                   count(*) AS messages, count(*) FILTER (WHERE m.is_own) AS sent_by_you
            FROM m JOIN names n ON n.user_id = m.user_id AND n.conversation IS NOT DISTINCT FROM m.conversation
            GROUP BY ALL
            ORDER BY m.user_id, month, conversation""")


# --- chart labels ----------------------------------------------------------------------------------

_INVISIBLE = frozenset({0x200D, 0xFE0E, 0xFE0F})  # zero-width joiner, text/emoji presentation selectors


def _pictograph(code: int) -> bool:
    """Emoji and symbols the usual chart fonts lack: outside the BMP, Misc Symbols, Dingbats, arrows+."""
    return code > 0xFFFF or 0x2600 <= code <= 0x27BF or 0x2B00 <= code <= 0x2BFF


def chart_text(text: str, glyphs: Container[int] | None = None) -> str:
    """``text`` for a chart label: a character the chart font cannot draw becomes ``:its_name:``.

    Matplotlib draws a missing glyph as an empty box, so "cat videos 🐱" would lose what matters;
    here it reads "cat videos :cat_face:". ``glyphs``: the code points the chart's fonts have (an
    emoji font among them keeps emoji as they are); without it, emoji and pictographs are replaced.
    Zero-width joiners and emoji presentation selectors are dropped; whitespace is kept.
    """
    out = []
    for ch in str(text):
        code = ord(ch)
        if code in _INVISIBLE:
            continue
        drawable = (code in glyphs) if glyphs is not None else not _pictograph(code)
        if drawable or ch.isspace():
            out.append(ch)
            continue
        name = unicodedata.name(ch, "")
        out.append(f":{name.lower().replace(' ', '_')}:" if name else f"\\u{code:04x}")
    return "".join(out)
