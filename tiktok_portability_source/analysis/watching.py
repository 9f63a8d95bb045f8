"""What you watch, comment on and are shown: watch rates, creators, hashtags, comments, LIVE, ad interests."""

from __future__ import annotations

import pandas as pd

from .db import DEFAULT_DATASET, Db, _ident, _Source, _source
from .time import _local


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
