"""Time zones and calendar buckets: local time in SQL, periods, weekdays, duration labels."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..layouts import ENTITIES
from .db import _literal

Period = Literal["week", "month"]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# event time of every table that has one: what the heatmap and the overview bucket by
TIME_COLUMNS: dict[str, str] = {e.table: e.time_column for e in ENTITIES if e.time_column}


def _tz_literal(tz: str | None) -> str:
    """Validate an IANA zone name up front so a typo is a clear ValueError, not a SQL error."""
    name = tz or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as 'Europe/Amsterdam'") from exc
    return _literal(name)


def _local(column: str, tz: str | None) -> str:
    """A naive local timestamp, independent of the connection's TimeZone setting."""
    return f"timezone({_tz_literal(tz)}, {column})"


def _check_period(period: str) -> str:
    if period not in ("week", "month"):
        raise ValueError("period must be 'week' or 'month'")
    return period


def _bucket_labels(bins: Sequence[float]) -> list[str]:
    edges = list(bins)
    labels = [f"{_num(a)}–{_num(b)} min" for a, b in pairwise(edges)]
    return labels + [f"{_num(edges[-1])}+ min"]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
