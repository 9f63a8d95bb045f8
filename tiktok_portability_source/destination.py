"""Small, portable SQL against the loaded dataset: row counts and earlier snapshot rows.

Reads go through dlt's own SQL client so they work on any SQL destination dlt supports.
A table that does not exist yet reads as empty.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from . import settings
from .errors import duckdb_lock_holder

log = logging.getLogger(__name__)


def is_missing_relation(exc: BaseException) -> bool:
    """True when ``exc`` says a table or dataset does not exist (yet): such a table reads as empty.
    Destinations word it differently, hence the message check beside dlt's own exception."""
    text = str(exc).lower()
    return isinstance(exc, DatabaseUndefinedRelation) or "does not exist" in text or "not found" in text


@contextlib.contextmanager
def kept_open(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Keep a DuckDB destination's database file open for the whole block (a load).

    dlt opens a connection for each step and client and closes it after; DuckDB closes the file with
    its last connection, checkpointing it, and opens it again for the next: about a second per load.
    One connection held meanwhile (dlt's own, so with the same settings) makes DuckDB do it once."""
    if pipeline.destination.destination_name != "duckdb":
        yield
        return
    deadline = time.monotonic() + settings.DUCKDB_BUSY_WAIT_SECONDS
    warned = False
    with contextlib.ExitStack() as stack:
        while True:
            try:
                stack.enter_context(pipeline.sql_client())
                break
            except Exception as exc:  # another process holds the file: wait a little, then say who
                holder = duckdb_lock_holder(exc)
                if holder is None or time.monotonic() >= deadline:
                    raise
                if not warned:
                    log.warning("the database %s is in use by another process; waiting up to %g s",
                                holder, settings.DUCKDB_BUSY_WAIT_SECONDS)
                    warned = True
                time.sleep(0.5)
        yield


_sessions: dict[tuple[int, int], Any] = {}  # (pipeline, thread) -> the client a ``session`` keeps open


@contextlib.contextmanager
def session(pipeline: dlt.Pipeline) -> Iterator[None]:
    """One SQL client for every read of the block (``connection``) instead of one per read.

    Opening dlt's client resolves its configuration each time (~30 ms): a load of 50 small archives
    asks the destination a few hundred questions while it extracts. Not for a block that writes
    through dlt (normalize, load): on PostgreSQL the open reads could hold locks its DDL waits for."""
    key = (id(pipeline), threading.get_ident())
    if key in _sessions:
        yield
        return
    with pipeline.sql_client() as client:
        _sessions[key] = client
        try:
            yield
        finally:
            del _sessions[key]


@contextlib.contextmanager
def connection(pipeline: dlt.Pipeline) -> Iterator[Any]:
    """dlt's SQL client: the one the current ``session`` keeps open, else a new one for the block."""
    client = _sessions.get((id(pipeline), threading.get_ident()))
    if client is not None:
        yield client
        return
    with pipeline.sql_client() as client:
        yield client


def query(pipeline: dlt.Pipeline, sql_template: str, table: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``sql_template`` with ``{table}`` replaced by the qualified table name; [] if it is missing."""
    try:
        with connection(pipeline) as client:
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


def load_report_totals(pipeline: dlt.Pipeline, load_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """table -> summed ``load_report`` counts of the given loads (what this run read and did with it)."""
    from .reconcile import COUNTS, REPORT_TABLE

    if not load_ids:
        return {}
    out: dict[str, dict[str, int]] = {}
    with pipeline.sql_client() as client:
        sums = ", ".join(f"SUM({c})" for c in COUNTS)
        sql = (f"SELECT table_name, {sums} FROM {client.make_qualified_table_name(REPORT_TABLE)} "
               f"WHERE _dlt_load_id IN ({', '.join(['%s'] * len(load_ids))}) GROUP BY table_name")
        try:
            with client.execute_query(sql, *load_ids) as cursor:
                for row in cursor.fetchall():
                    out[row[0]] = {c: int(v or 0) for c, v in zip(COUNTS, row[1:])}
        except Exception as exc:
            if not is_missing_relation(exc):
                raise
    return out


def user_tables(pipeline: dlt.Pipeline) -> list[str]:
    """Every table of the pipeline's dlt schemas with a ``user_id`` column: where a user's rows can be.

    Read from the dlt schema (restored from the destination by ``sync_destination``), not from
    ``information_schema``, which BigQuery does not offer at dataset level."""
    tables: set[str] = set()
    for name in pipeline.schema_names:
        for table in pipeline.schemas[name].data_tables(include_incomplete=True):
            if "user_id" in (table.get("columns") or {}):
                tables.add(table["name"])
    return sorted(tables)


def delete_user_rows(pipeline: dlt.Pipeline, user_id: str) -> dict[str, int]:
    """Delete every row of one user from every table of the dataset that has a ``user_id`` column
    (a table the schema knows but no load has created yet is skipped), and from its copy in the
    staging dataset, where a merge leaves the rows it merged (counted under ``<table> (staging)``)."""
    removed: dict[str, int] = {}
    tables = user_tables(pipeline)
    if not tables:
        return removed
    with pipeline.sql_client() as client:
        _delete_rows(client, tables, user_id, removed, "")
        for staging in staging_datasets(client):
            with client.with_alternative_dataset_name(staging):
                _delete_rows(client, tables, user_id, removed, " (staging)")
    return removed


STAGING_SUFFIX = "_staging"  # dlt's default layout is ``%s_staging``; workers add ``_w<digest>`` (loader)


def staging_datasets(client: Any) -> list[str]:
    """The dataset's staging copies, where merges leave rows: this pipeline's, dlt's default one and
    every worker's own (``<dataset>_staging_w<digest>``), as far as the destination lists schemas."""
    names = [client.staging_dataset_name, f"{client.dataset_name}{STAGING_SUFFIX}"]
    pattern = f"{client.dataset_name}{STAGING_SUFFIX}_w%"
    try:
        with client.execute_query("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                                  pattern) as cursor:
            names += sorted(str(row[0]) for row in cursor.fetchall())
    except Exception as exc:  # noqa: BLE001 - no such view at this level (BigQuery): the known ones only
        log.debug("cannot list the staging datasets: %s", exc)
    return list(dict.fromkeys(names))


def _delete_rows(client: Any, tables: Sequence[str], user_id: str, removed: dict[str, int], label: str) -> None:
    for table in tables:
        qualified = client.make_qualified_table_name(table)
        try:
            with client.execute_query(f"SELECT COUNT(*) FROM {qualified} WHERE user_id = %s", user_id) as cursor:
                count = int(cursor.fetchall()[0][0])
        except Exception as exc:
            if is_missing_relation(exc):
                continue
            raise
        if count:
            client.execute_sql(f"DELETE FROM {qualified} WHERE user_id = %s", user_id)
        removed[table + label] = removed.get(table + label, 0) + count


def rewrite_storage(pipeline: dlt.Pipeline) -> str:
    """Leave no byte of deleted rows in the database's files; what was done, for ``forget``'s report.

    A DELETE only marks rows free: DuckDB keeps their bytes in free blocks of the file, PostgreSQL in
    dead tuples. DuckDB: the database is copied into a fresh file that replaces the old one.
    PostgreSQL: ``VACUUM FULL`` rewrites each table of the dataset (and its staging copy)."""
    name = pipeline.destination.destination_name
    if name == "duckdb":
        return _rewrite_duckdb(pipeline)
    if name == "postgres":
        tables = user_tables(pipeline)
        with pipeline.sql_client() as client:
            connection = client.native_connection
            connection.commit()
            connection.autocommit = True  # VACUUM cannot run inside a transaction
            try:
                for dataset in (client.dataset_name, *staging_datasets(client)):
                    with client.with_alternative_dataset_name(dataset):
                        for table in tables:
                            try:
                                client.execute_sql(f"VACUUM FULL {client.make_qualified_table_name(table)}")
                            except Exception as exc:
                                if not is_missing_relation(exc):
                                    raise
            finally:
                connection.autocommit = False
        return f"VACUUM FULL of {len(tables)} tables"
    return f"left to {name}: deleted rows stay in its storage as long as its retention (time travel) keeps them"


def _rewrite_duckdb(pipeline: dlt.Pipeline) -> str:
    import os
    from pathlib import Path

    import duckdb

    path = Path(pipeline.destination_client().config.credentials.database)  # type: ignore[attr-defined]
    if not path.exists():
        return "no database file"
    fresh = path.with_name(path.name + ".rewrite")
    fresh.unlink(missing_ok=True)
    with duckdb.connect(":memory:") as con:
        def quoted(p: Path) -> str:  # ATTACH takes no parameters
            return "'" + str(p).replace("'", "''") + "'"

        con.execute(f"ATTACH {quoted(path)} AS old (READ_ONLY)")
        con.execute(f"ATTACH {quoted(fresh)} AS fresh")
        con.execute("COPY FROM DATABASE old TO fresh")
        con.execute("DETACH fresh")
        con.execute("DETACH old")
    os.chmod(fresh, path.stat().st_mode & 0o777)
    os.replace(fresh, path)
    Path(str(path) + ".wal").unlink(missing_ok=True)
    return f"{path.name} rewritten into a fresh file"


def rows_per_user(pipeline: dlt.Pipeline, tables: Iterable[str], user_ids: Iterable[str]) -> dict[str, int]:
    """Rows of each user summed over ``tables``, one grouped query per table on one connection: how a
    batched load of many users' archives tells each user's new rows (a missing table counts 0)."""
    users = sorted(set(user_ids))
    totals = dict.fromkeys(users, 0)
    if not users:
        return totals
    marks = ", ".join(["%s"] * len(users))
    with pipeline.sql_client() as client:
        for table in tables:
            sql = (f"SELECT user_id, COUNT(*) FROM {client.make_qualified_table_name(table)} "
                   f"WHERE user_id IN ({marks}) GROUP BY user_id")
            try:
                with client.execute_query(sql, *users) as cursor:
                    for user_id, count in cursor.fetchall():
                        totals[user_id] += int(count)
            except Exception as exc:
                if not is_missing_relation(exc):
                    raise
    return totals


def tables_holding_user(pipeline: dlt.Pipeline, tables: Iterable[str], user_id: str) -> set[str] | None:
    """Which of ``tables`` already hold a row of ``user_id`` (one connection for all); None if unknown."""
    holding: set[str] = set()
    try:
        with connection(pipeline) as client:
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


def user_row_keys(pipeline: dlt.Pipeline, table: str, user_id: str) -> set[str]:
    """The row keys a (small) table already holds for ``user_id``; empty when the table does not exist."""
    with connection(pipeline) as client:
        sql = f"SELECT row_key FROM {client.make_qualified_table_name(table)} WHERE user_id = %s"
        try:
            with client.execute_query(sql, user_id) as cursor:
                return {row[0] for row in cursor.fetchall()}
        except Exception as exc:
            if not is_missing_relation(exc):
                raise
            return set()


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


def previous_snapshots(pipeline: dlt.Pipeline, tables: Iterable[str], user_ids: Sequence[str]
                       ) -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    """Rows of follower/following tables already loaded, per table and user, for several users on one
    connection (a load of many users' archives would otherwise open one per user); a missing table
    gives no rows."""
    columns = ("username", "followed_at", "first_seen_at", "last_seen_at")
    with connection(pipeline) as client:
        return {table: _rows_of_users(client, table, columns, user_ids) for table in tables}


def rows_of_users(pipeline: dlt.Pipeline, table: str, columns: Sequence[str], user_ids: Sequence[str], *,
                  completed_loads_only: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """user -> ``columns`` of that user's rows in ``table`` (none when the table does not exist).

    ``completed_loads_only``: only rows written by a load dlt recorded as complete in ``_dlt_loads``
    (as dlt does when it restores its state): a load killed half-way, whose package is gone with its
    working folder, may have merged some tables and not others."""
    with connection(pipeline) as client:
        return _rows_of_users(client, table, columns, user_ids, completed_loads_only)


def _rows_of_users(client: Any, table: str, columns: Sequence[str], user_ids: Sequence[str],
                   completed_loads_only: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    by_user: dict[str, list[tuple[Any, ...]]] = {}
    selected = ", ".join(f"t.{c}" for c in ["user_id", *columns])
    source = f"{client.make_qualified_table_name(table)} t"
    if completed_loads_only:
        source += (f" JOIN {client.make_qualified_table_name('_dlt_loads')} l "
                   "ON t._dlt_load_id = l.load_id AND l.status = 0")
    for at in range(0, len(user_ids), 500):  # bounded IN lists
        chunk = list(user_ids[at:at + 500])
        sql = f"SELECT {selected} FROM {source} WHERE t.user_id IN ({', '.join(['%s'] * len(chunk))})"
        try:
            with client.execute_query(sql, *chunk) as cursor:
                for row in cursor.fetchall():
                    by_user.setdefault(row[0], []).append(tuple(row[1:]))
        except Exception as exc:
            if not is_missing_relation(exc):
                raise
            break
    return by_user
