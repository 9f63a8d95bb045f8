"""Your own posts: cadence, gaps, likes over time and by weekday/hour, settings, top posts."""

from __future__ import annotations

import pandas as pd

from .db import DEFAULT_DATASET, Db, _column_type, _Source, _source
from .time import WEEKDAYS, Period, _check_period, _local

POST_SETTINGS = ("who_can_view", "allow_comments", "allow_stitches", "allow_duets", "allow_stickers",
                 "allow_sharing_to_story", "content_disclosure", "ai_generated_content")
NOT_SET = "(not set)"


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
