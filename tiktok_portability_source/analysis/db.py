"""Query plumbing: read-only DuckDB connections, typed relations that exist even when tables don't."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Union

import duckdb
import pandas as pd
import pyarrow as pa

from ..layouts import BY_TABLE

log = logging.getLogger(__name__)

Db = Union["Database", duckdb.DuckDBPyConnection, str, "os.PathLike[str]"]

DEFAULT_DATASET = "tiktok"  # = settings.DEFAULT_DATASET; not imported to keep this module dlt-free

_KIND_SQL = {"text": "VARCHAR", "timestamp": "TIMESTAMP WITH TIME ZONE", "int": "BIGINT", "float": "DOUBLE",
             "bool": "BOOLEAN", "date": "DATE"}
_EXTRA_TYPES = {
    "is_group": "BOOLEAN", "is_own": "BOOLEAN", "is_current": "BOOLEAN", "deleted_account": "BOOLEAN",
    "followers_listed": "BIGINT", "following_listed": "BIGINT", "unparsed_count": "BIGINT",
}


def connect(path: str | os.PathLike[str]) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file read-only and keep it open; a missing file gives an empty in-memory database.

    The connection holds the file until you close it, and DuckDB lets no load write to a file another
    process has open, read-only or not: ``tiktok-portability load`` fails meanwhile. For anything
    that stays around (a notebook, a long session) use :class:`Database` instead, which opens the
    file only for each query. An empty stand-in for a missing file, so that a notebook pointed at a
    file that does not exist yet says "No data" everywhere instead of failing in its first cell.
    """
    file = Path(path)
    if not file.exists():
        log.warning("DuckDB file %s does not exist; every result will be empty", file)
        return duckdb.connect(":memory:")
    return duckdb.connect(str(file), read_only=True)


def _is_lock_conflict(exc: BaseException) -> bool:
    """DuckDB's "Could not set lock on file …: Conflicting lock is held in …" (another process writes)."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.IOException) and ("conflicting lock" in text or "could not set lock" in text)


class Database:
    """A DuckDB file to analyse, opened read-only for each call and closed before the call returns.

    Holds nothing but the path, so keeping one around (a notebook between cells) never blocks a
    load, and every call sees what the latest load wrote. While a load holds the file, a call waits
    for it, polling, up to ``wait_seconds`` (then DuckDB's lock error is raised). A missing file
    reads as an empty database (one warning), and is picked up once a load creates it.

        db = analysis.Database("tiktok_portability.duckdb")
        analysis.watch_sessions(db)   # opens, queries, closes

    It is an ``os.PathLike``: anything that takes a path takes it.
    """

    def __init__(self, path: str | os.PathLike[str], *, wait_seconds: float = 60.0) -> None:
        self.path = Path(path)
        self.wait_seconds = float(wait_seconds)
        self._warned_missing = False

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r})"

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for one block, closed on leaving it."""
        con = self._open()
        try:
            yield con
        finally:
            con.close()

    def _open(self) -> duckdb.DuckDBPyConnection:
        if not self.path.exists():
            if not self._warned_missing:
                log.warning("DuckDB file %s does not exist; every result will be empty", self.path)
                self._warned_missing = True
            return duckdb.connect(":memory:")
        deadline = time.monotonic() + self.wait_seconds
        pause = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=True)
            except duckdb.Error as exc:
                if not _is_lock_conflict(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, 1.0)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _column_type(table: str, column: str) -> str:
    """The SQL type a column has when the loader writes it (from ``layouts``), for typed stand-ins."""
    if column in _EXTRA_TYPES:
        return _EXTRA_TYPES[column]
    entity = BY_TABLE.get(table)
    for col in entity.columns if entity else ():
        if col.name == column:
            return _KIND_SQL[col.kind]
    return "TIMESTAMP WITH TIME ZONE" if column.endswith("_at") else "VARCHAR"


@dataclass(frozen=True)
class _Source:
    """One connection, dataset and user filter; builds relations that exist even when tables don't."""

    con: duckdb.DuckDBPyConnection
    dataset: str
    user_id: str | None

    def columns(self, table: str) -> dict[str, str]:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = ? AND table_schema = ? AND table_name = ?",
            [self.catalog, self.dataset, table],
        ).fetchall()
        return {name: dtype for name, dtype in rows}

    def rel(self, table: str, *columns: str) -> str:
        """``(SELECT user_id, <columns> FROM table WHERE user_id = …)`` or a typed empty stand-in.

        Missing columns become typed NULLs and mistyped ones are TRY_CAST, so the SQL around a
        relation never depends on what a particular load happened to create.
        """
        return self._relation(table, ("user_id", *columns), per_user=True)

    def shared(self, table: str, *columns: str) -> str:
        """Like :meth:`rel` for a table that belongs to no user (``videos``): no user_id, no filter."""
        return self._relation(table, columns, per_user=False)

    def _relation(self, table: str, wanted: tuple[str, ...], *, per_user: bool) -> str:
        existing = self.columns(table)
        if not existing:
            nulls = ", ".join(f"NULL::{_column_type(table, c)} AS {_ident(c)}" for c in wanted)
            return f"(SELECT {nulls} WHERE false)"
        parts = []
        for c in wanted:
            sql_type = _column_type(table, c)
            if c not in existing:
                parts.append(f"NULL::{sql_type} AS {_ident(c)}")
            elif existing[c] != sql_type:
                parts.append(f"TRY_CAST({_ident(c)} AS {sql_type}) AS {_ident(c)}")
            else:
                parts.append(_ident(c))
        where = ""
        if per_user and self.user_id is not None:
            where = f" WHERE user_id = {_literal(self.user_id)}" if "user_id" in existing else " WHERE false"
        return f"(SELECT {', '.join(parts)} FROM {self.qualified(table)}{where})"

    @cached_property
    def catalog(self) -> str:
        return self.con.execute("SELECT current_database()").fetchone()[0]

    def qualified(self, table: str) -> str:
        """catalog.schema.table: a file named like the dataset (tiktok.duckdb) makes ``tiktok.x`` ambiguous."""
        return f"{_ident(self.catalog)}.{_ident(self.dataset)}.{_ident(table)}"

    def has(self, table: str) -> bool:
        return bool(self.columns(table))

    def frame(self, sql: str) -> pd.DataFrame:
        return _to_pandas(self.con.execute(sql).to_arrow_table())


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow → pandas with dates as datetimes, instants in UTC and lists as Python lists."""
    df = table.to_pandas(date_as_object=False)
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            df[field.name] = df[field.name].dt.tz_convert("UTC")
        elif pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            df[field.name] = df[field.name].map(lambda v: [] if v is None else list(v))
    return df


@contextmanager
def _source(db: Db, dataset: str, user_id: str | None) -> Iterator[_Source]:
    """Use a given connection as is; for a Database or a path, one read-only connection for this call."""
    if isinstance(db, duckdb.DuckDBPyConnection):
        yield _Source(db, dataset, user_id)
        return
    database = db if isinstance(db, Database) else Database(db)
    with database.connection() as con:
        yield _Source(con, dataset, user_id)
