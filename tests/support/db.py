"""Reading a loaded DuckDB file the way an analyst would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb


def sql(db_path: Path | str, query: str, *params: Any) -> list[tuple]:
    """Run one read-only query; ``?`` parameters."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        return con.execute(query, params).fetchall()
