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


def delete_user_rows(pipeline: dlt.Pipeline, user_id: str) -> dict[str, int]:
    """Delete every row of one user from every table of the dataset that has a ``user_id`` column."""
    removed: dict[str, int] = {}
    try:
        with pipeline.sql_client() as client:
            schema = client.fully_qualified_dataset_name(escape=False).split(".")[-1]
            with client.execute_query(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = %s AND column_name = 'user_id'",
                schema,
            ) as cursor:
                tables = sorted({row[0] for row in cursor.fetchall()})
            for table in tables:
                qualified = client.make_qualified_table_name(table)
                with client.execute_query(f"SELECT COUNT(*) FROM {qualified} WHERE user_id = %s", user_id) as cursor:
                    count = int(cursor.fetchall()[0][0])
                if count:
                    client.execute_sql(f"DELETE FROM {qualified} WHERE user_id = %s", user_id)
                removed[table] = count
    except DatabaseUndefinedRelation:
        return removed
    return removed
