"""What is loaded: the users and, per table, rows and time span."""

from __future__ import annotations

import pandas as pd

from ..layouts import BY_TABLE
from .db import DEFAULT_DATASET, Db, _ident, _literal, _source
from .time import TIME_COLUMNS


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
