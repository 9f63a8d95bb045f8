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

Modules: ``db`` (connections, typed relations, empty-result handling), ``time`` (time zones,
calendar buckets), ``overview`` (what is loaded), ``followers``, ``posts``, ``activity`` (sessions,
heatmap, daily activity and coverage, searches), ``watching`` (watch rates, creators, hashtags,
comments, LIVE, ads), ``account`` (shares, logins, direct messages), ``text`` (chart labels).
Import from this package; the split is an implementation detail.
"""

from __future__ import annotations

from .account import (
    direct_messages_by_conversation,
    direct_messages_by_month,
    logins_by_device,
    logins_by_network,
    shares_by_method,
)
from .activity import (
    ACTIVITY_KINDS,
    FAVORITE_TABLES,
    SESSION_BINS_MINUTES,
    activity_heatmap,
    daily_activity,
    daily_activity_coverage,
    session_length_distribution,
    top_searches,
    watch_sessions,
)
from .db import DEFAULT_DATASET, Database, Db, connect
from .followers import (
    FollowList,
    cumulative_follows,
    follow_back_ratio,
    follower_changes,
    list_sizes_by_export,
    mutuals,
    profile_history,
    unfollowed_since_last_export,
)
from .overview import table_overview, users
from .posts import (
    NOT_SET,
    POST_SETTINGS,
    likes_by_hour,
    likes_by_weekday,
    likes_per_post,
    post_settings_effect,
    posting_cadence,
    posting_gaps,
    top_posts,
)
from .text import chart_text
from .time import TIME_COLUMNS, WEEKDAYS, Period
from .watching import (
    ad_interests,
    comments_by_month,
    creator_coverage,
    live_by_month,
    top_creators,
    top_hashtags,
    watch_rates,
)

__all__ = [
    "ACTIVITY_KINDS",
    "DEFAULT_DATASET",
    "FAVORITE_TABLES",
    "NOT_SET",
    "POST_SETTINGS",
    "SESSION_BINS_MINUTES",
    "TIME_COLUMNS",
    "WEEKDAYS",
    "Database",
    "Db",
    "FollowList",
    "Period",
    "activity_heatmap",
    "ad_interests",
    "chart_text",
    "comments_by_month",
    "connect",
    "creator_coverage",
    "cumulative_follows",
    "daily_activity",
    "daily_activity_coverage",
    "direct_messages_by_conversation",
    "direct_messages_by_month",
    "follow_back_ratio",
    "follower_changes",
    "likes_by_hour",
    "likes_by_weekday",
    "likes_per_post",
    "list_sizes_by_export",
    "live_by_month",
    "logins_by_device",
    "logins_by_network",
    "mutuals",
    "post_settings_effect",
    "posting_cadence",
    "posting_gaps",
    "profile_history",
    "session_length_distribution",
    "shares_by_method",
    "table_overview",
    "top_creators",
    "top_hashtags",
    "top_posts",
    "top_searches",
    "unfollowed_since_last_export",
    "users",
    "watch_rates",
    "watch_sessions",
]
