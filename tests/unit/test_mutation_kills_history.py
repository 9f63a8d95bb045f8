"""Which rows a later load skips and who counts as having unfollowed, pinned to the second (issue 18,
`make mutate`). Each test is named after the row a user would lose, or the unfollow they would be told
about wrongly, when it breaks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import time

import pyarrow as pa
import pytest

from tiktok_portability_source.history import (
    Coverage,
    Observation,
    add_interval,
    covered_mask,
    disappeared_at,
    merge_snapshot,
    snapshot_rows,
    time_range,
    union,
)

UTC = timezone.utc
T0 = datetime(2025, 1, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def times(*seconds: float | None) -> pa.Array:
    return pa.array([None if s is None else at(s) for s in seconds], TS)


def window(lo: float, hi: float) -> list[str]:
    return [at(lo).isoformat(), at(hi).isoformat()]


def test_a_row_one_second_inside_a_window_is_skipped_and_one_on_its_edge_is_sent():
    mask = covered_mask(times(99, 100, 101, 199, 200, 201, None), [window(100, 200)])
    assert mask.to_pylist() == [False, False, True, True, False, False, False]
    assert covered_mask(times(), [window(0, 1)]).to_pylist() == []
    assert covered_mask(times(5), []).to_pylist() == [False]


def test_windows_are_iso_utc_and_merge_only_where_they_meet(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # whatever the machine's zone: windows are written in UTC
    time.tzset()
    other = timezone(timedelta(hours=2))
    got = add_interval([], datetime(2025, 1, 1, 2, 0, tzinfo=other), datetime(2025, 1, 1, 3, 0, tzinfo=other))
    assert got == [["2025-01-01T00:00:00+00:00", "2025-01-01T01:00:00+00:00"]]
    assert add_interval([window(0, 10)], at(10), at(20)) == [window(0, 20)]  # touching: one window
    assert add_interval([window(0, 10)], at(11), at(20)) == [window(0, 10), window(11, 20)]
    assert add_interval([window(0, 100)], at(10), at(20)) == [window(0, 100)]  # inside: unchanged
    assert add_interval([window(50, 60), window(0, 10)], at(5), at(55)) == [window(0, 60)]
    assert union([[window(30, 40)], [window(0, 10), window(35, 50)], []]) == [window(0, 10), window(30, 50)]


@pytest.fixture(autouse=True)
def _restore_zone():
    yield
    time.tzset()  # monkeypatch has put TZ back by now: read it again


def test_the_time_range_of_rows_ignores_unreadable_times_and_is_none_without_any():
    assert time_range(times(30, None, 10, 20)) == (at(10), at(30))
    assert time_range(times(None, None)) is None
    assert time_range(times()) is None


def test_coverage_keeps_rows_outside_loaded_windows_and_remembers_the_range_of_all_it_saw():
    coverage = Coverage([window(100, 200)], "watched_at")
    assert coverage.keep(times(150, 250, None)).to_pylist() == [False, True, True]
    assert coverage.keep(times(50, 120)).to_pylist() == [True, False]
    assert coverage.keep(times(None)).to_pylist() == [True]
    assert coverage.seen() == [window(50, 250)]
    table = pa.table({"watched_at": times(110, 300), "n": [1, 2]})
    assert coverage.filter(table).column("n").to_pylist() == [2]
    assert coverage.seen() == [window(50, 300)]


def test_coverage_without_windows_keeps_every_row():
    coverage = Coverage(None, "at")
    assert coverage.keep(times(1, 2)) is None
    table = pa.table({"at": times(5), "n": [1]})
    assert coverage.filter(table) is table
    assert coverage.seen() == [window(1, 5)]
    assert Coverage([], "at").seen() is None


def test_an_account_seen_again_keeps_its_first_sighting_and_moves_its_last():
    jan, feb, mar = at(0), at(100), at(200)
    assert merge_snapshot({}, {"ann": at(-9)}, feb) == {"ann": Observation("ann", at(-9), feb, feb)}
    history = merge_snapshot({}, {"ann": None}, feb)
    assert history == {"ann": Observation("ann", None, feb, feb)}
    history = merge_snapshot(history, {"ann": None}, mar)
    assert history["ann"] == Observation("ann", None, feb, mar)
    history = merge_snapshot(history, {"ann": None}, jan)
    assert history["ann"] == Observation("ann", None, jan, mar)
    untouched = merge_snapshot(history, {"bob": None}, feb)
    assert untouched["ann"] == Observation("ann", None, jan, mar) and history is not untouched
    assert "bob" not in history


def test_a_follow_date_comes_from_the_newest_export_that_has_one():
    old, new = at(-50), at(-10)
    same_time = merge_snapshot({"ann": Observation("ann", old, at(0), at(10))}, {"ann": new}, at(10))
    assert same_time["ann"].followed_at == new  # an export of the same moment counts as newer
    older = merge_snapshot({"ann": Observation("ann", new, at(0), at(10))}, {"ann": old}, at(5))
    assert older["ann"].followed_at == new
    gap = merge_snapshot({"ann": Observation("ann", new, at(0), at(10))}, {"ann": None}, at(20))
    assert gap["ann"].followed_at == new  # a newer export without a date keeps the known one
    both_none = merge_snapshot({"ann": Observation("ann", None, at(0), at(10))}, {"ann": None}, at(5))
    assert both_none["ann"].followed_at is None


def test_an_account_gone_from_a_later_export_disappeared_at_that_export_and_not_before():
    exports = [at(0), at(10), at(20)]
    assert disappeared_at(at(-5), exports) == at(0)
    assert disappeared_at(at(5), exports) == at(10)
    assert disappeared_at(at(20), exports) is None
    assert disappeared_at(at(0), []) is None


def test_snapshot_rows_are_sorted_by_name_with_every_field_and_exports_in_any_order():
    history = {"cid": Observation("cid", None, at(0), at(10)), "ann": Observation("ann", at(-1), at(0), at(20))}
    assert snapshot_rows(history, [at(20), at(0), at(10)]) == [
        {"username": "ann", "followed_at": at(-1), "first_seen_at": at(0), "last_seen_at": at(20),
         "disappeared_at": None, "is_current": True},
        {"username": "cid", "followed_at": None, "first_seen_at": at(0), "last_seen_at": at(10),
         "disappeared_at": at(20), "is_current": False}]
