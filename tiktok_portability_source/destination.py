"""Small, portable SQL against the loaded dataset: row counts and earlier snapshot rows.

Reads go through dlt's own SQL client so they work on any SQL destination dlt supports.
A table that does not exist yet reads as empty.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

log = logging.getLogger(__name__)


def query(pipeline: dlt.Pipeline, sql_template: str, table: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``sql_template`` with ``{table}`` replaced by the qualified table name; [] if it is missing."""
    try:
        with pipeline.sql_client() as client:
            qualified = client.make_qualified_table_name(table)
            with client.execute_query(sql_template.format(table=qualified), *params) as cursor:
                return [tuple(row) for row in cursor.fetchall()]
    except DatabaseUndefinedRelation:
        return []
    except Exception as exc:  # no dataset yet, or the destination has never been written to
        if "does not exist" in str(exc).lower() or "not found" in str(exc).lower():
            return []
        raise


def table_counts(pipeline: dlt.Pipeline, tables: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in tables:
        rows = query(pipeline, "SELECT COUNT(*) FROM {table}", table)
        counts[table] = int(rows[0][0]) if rows else 0
    return counts


def previous_snapshot(pipeline: dlt.Pipeline, table: str, user_id: str) -> list[tuple[Any, ...]]:
    """Rows of a follower/following table already loaded for one user."""
    return query(
        pipeline,
        "SELECT username, followed_at, first_seen_at, last_seen_at FROM {table} WHERE user_id = %s",
        table,
        user_id,
    )
