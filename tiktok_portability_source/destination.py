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


def is_missing_relation(exc: BaseException) -> bool:
    """True when ``exc`` says a table or dataset does not exist (yet): such a table reads as empty.
    Destinations word it differently, hence the message check beside dlt's own exception."""
    text = str(exc).lower()
    return isinstance(exc, DatabaseUndefinedRelation) or "does not exist" in text or "not found" in text



def query(pipeline: dlt.Pipeline, sql_template: str, table: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``sql_template`` with ``{table}`` replaced by the qualified table name; [] if it is missing."""
    try:
        with pipeline.sql_client() as client:
            qualified = client.make_qualified_table_name(table)
            with client.execute_query(sql_template.format(table=qualified), *params) as cursor:
                return [tuple(row) for row in cursor.fetchall()]
    except Exception as exc:  # no dataset yet, or the destination has never been written to
        if is_missing_relation(exc):
            return []
        raise


def table_counts(pipeline: dlt.Pipeline, tables: Iterable[str]) -> dict[str, int]:
    """Row counts of ``tables`` (0 for a missing one) on one connection: a client per table costs
    ~0.1 s to open, i.e. seconds per load."""
    counts: dict[str, int] = {}
    with pipeline.sql_client() as client:
        for table in tables:
            try:
                with client.execute_query(f"SELECT COUNT(*) FROM {client.make_qualified_table_name(table)}") as cur:
                    counts[table] = int(cur.fetchall()[0][0])
            except Exception as exc:
                if not is_missing_relation(exc):
                    raise
                counts[table] = 0
    return counts


def delete_user_rows(pipeline: dlt.Pipeline, user_id: str) -> dict[str, int]:
    """Delete every row of one user from every table of the dataset that has a ``user_id`` column."""
    removed: dict[str, int] = {}
    try:
        with pipeline.sql_client() as client:
            schema = client.fully_qualified_dataset_name(quote=False).split(".")[-1]
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


def tables_holding_user(pipeline: dlt.Pipeline, tables: Iterable[str], user_id: str) -> set[str] | None:
    """Which of ``tables`` already hold a row of ``user_id`` (one connection for all); None if unknown."""
    holding: set[str] = set()
    try:
        with pipeline.sql_client() as client:
            for table in tables:
                sql = f"SELECT 1 FROM {client.make_qualified_table_name(table)} WHERE user_id = %s LIMIT 1"
                try:
                    with client.execute_query(sql, user_id) as cursor:
                        if cursor.fetchall():
                            holding.add(table)
                except Exception as exc:
                    if not is_missing_relation(exc):
                        raise
    except Exception as exc:  # no destination to ask: the caller takes the safe path
        log.debug("cannot tell which tables hold rows of a user: %s", exc)
        return None
    return holding


def remove_repeated_rows(pipeline: dlt.Pipeline, tables: Iterable[str]) -> dict[str, int]:
    """Keep one copy of rows stored twice under one ``row_key`` (an append job that ran again after a
    crash writes identical rows); returns the rows removed per table. Only used after such a crash."""
    removed: dict[str, int] = {}
    with pipeline.sql_client() as client:
        for table in tables:
            qualified = client.make_qualified_table_name(table)
            repeated = f"SELECT row_key FROM {qualified} GROUP BY row_key HAVING COUNT(*) > 1"
            try:
                with client.execute_query(f"SELECT COUNT(*) FROM {qualified} WHERE row_key IN ({repeated})") as cur:
                    count = int(cur.fetchall()[0][0])
            except Exception as exc:
                if is_missing_relation(exc):
                    continue
                raise
            if not count:
                continue
            with client.execute_query(f"SELECT COUNT(*) FROM {qualified}") as cur:
                total = int(cur.fetchall()[0][0])
            copy = client.make_qualified_table_name(f"{table}__repeated")
            with client.begin_transaction():
                client.execute_sql(f"CREATE TABLE {copy} AS SELECT DISTINCT * FROM {qualified} "
                                   f"WHERE row_key IN ({repeated})")
                client.execute_sql(f"DELETE FROM {qualified} WHERE row_key IN (SELECT row_key FROM {copy})")
                client.execute_sql(f"INSERT INTO {qualified} SELECT * FROM {copy}")
                client.execute_sql(f"DROP TABLE {copy}")
            with client.execute_query(f"SELECT COUNT(*) FROM {qualified}") as cur:
                removed[table] = total - int(cur.fetchall()[0][0])
    return {t: n for t, n in removed.items() if n}


def previous_snapshots(pipeline: dlt.Pipeline, tables: Iterable[str], user_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of follower/following tables already loaded for one user, on one connection (a missing
    table gives no rows)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with pipeline.sql_client() as client:
        for table in tables:
            sql = (f"SELECT username, followed_at, first_seen_at, last_seen_at "
                   f"FROM {client.make_qualified_table_name(table)} WHERE user_id = %s")
            try:
                with client.execute_query(sql, user_id) as cursor:
                    out[table] = [tuple(row) for row in cursor.fetchall()]
            except Exception as exc:
                if not is_missing_relation(exc):
                    raise
                out[table] = []
    return out
