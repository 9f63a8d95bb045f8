"""When you use TikTok: watch sessions, the weekday × hour heatmap, daily activity and its coverage, searches."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from .db import DEFAULT_DATASET, Db, _ident, _literal, _source
from .time import TIME_COLUMNS, WEEKDAYS, _bucket_labels, _local

FAVORITE_TABLES = ("favorite_videos", "favorite_sounds", "favorite_effects", "favorite_hashtags",
                   "favorite_collections")
SESSION_BINS_MINUTES = (0, 1, 5, 15, 30, 60, 120)


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
