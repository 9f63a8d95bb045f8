"""Followers and following: list sizes per export, gains and losses, mutuals, profile counters."""

from __future__ import annotations

from typing import Literal

import pandas as pd

from .db import DEFAULT_DATASET, Db, _literal, _Source, _source
from .time import _local

FollowList = Literal["followers", "following"]


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
