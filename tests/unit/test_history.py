"""The per-user coverage windows and the follower history, on their own: the rules that decide which
rows a later load skips and who counts as having unfollowed. Expected values are worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa

from tiktok_portability_source.history import (
    Coverage,
    union,
    Observation,
    add_interval,
    covered_mask,
    disappeared_at,
    merge_snapshot,
    snapshot_rows,
)

UTC = timezone.utc
T0 = datetime(2025, 1, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def times(*hours: float | None) -> pa.Array:
    return pa.array([None if h is None else at(h) for h in hours], TS)


def window(lo: float, hi: float) -> list[str]:
    return [at(lo).isoformat(), at(hi).isoformat()]


def test_only_rows_strictly_inside_a_loaded_window_are_skipped():
    """A row on a window's edge may be a different event in the same second as the edge row: sent
    again, the merge on row_key keeps it once. Outside or unreadable (NULL): always sent."""
    mask = covered_mask(times(0, 5, 10, 10.5, 20, None), [window(0, 10), window(15, 25)])
    assert mask.to_pylist() == [False, True, False, False, True, False]


def test_windows_merge_where_they_overlap_or_touch_and_stay_apart_otherwise():
    merged = add_interval([window(0, 10), window(20, 30)], at(10), at(12))
    assert merged == [window(0, 12), window(20, 30)]
    merged = add_interval(merged, at(11), at(21))
    assert merged == [window(0, 30)]
    assert add_interval([window(5, 6)], at(0), at(1)) == [window(0, 1), window(5, 6)]


def test_coverage_skips_a_reloaded_archive_and_keeps_an_older_one_loaded_after_a_newer():
    newer = Coverage([], "watched_at")
    assert newer.keep(times(100, 150, 200)) is None  # nothing loaded yet: keep all
    assert newer.seen() == [window(100, 200)]

    again = Coverage(newer.seen(), "watched_at")
    assert again.keep(times(100, 150, 200)).to_pylist() == [True, False, True]  # edges sent, middle skipped
    older = Coverage(newer.seen(), "watched_at")
    assert older.keep(times(10, 50, 99)).to_pylist() == [True, True, True]  # before the window: all new
    assert union([newer.seen(), older.seen()]) == [window(10, 99), window(100, 200)]


def test_a_window_grows_by_every_row_seen_even_the_skipped_ones():
    seen = Coverage([window(0, 10)], "watched_at")
    seen.keep(times(5, 30))
    assert seen.seen() == [window(5, 30)]
    assert union([[window(0, 10)], seen.seen()]) == [window(0, 30)]


def test_windows_of_several_archives_add_up_in_any_order():
    facts = [[window(0, 10)], [window(20, 30)], [window(9, 21)], [window(40, 50), window(60, 70)]]
    expected = [window(0, 30), window(40, 50), window(60, 70)]
    assert union(facts) == expected
    assert union(facts[::-1]) == expected
    assert union([]) == []


def test_an_archive_without_rows_adds_no_window():
    empty = Coverage([window(0, 10)], "watched_at")
    empty.keep(pa.array([], TS))
    assert empty.seen() is None


def test_follower_history_across_exports_in_any_order():
    jan, feb, mar = at(0), at(24 * 31), at(24 * 59)
    followed = at(-100)
    history = merge_snapshot({}, {"ann": followed, "bob": None}, mar)  # the newest export first
    history = merge_snapshot(history, {"ann": followed, "cid": None}, jan)
    history = merge_snapshot(history, {"ann": followed, "bob": None, "cid": None}, feb)
    assert history["ann"] == Observation("ann", followed, jan, mar)
    assert history["bob"] == Observation("bob", None, feb, mar)
    assert history["cid"] == Observation("cid", None, jan, feb)

    rows = {r["username"]: r for r in snapshot_rows(history, [mar, jan, feb])}
    assert (rows["cid"]["disappeared_at"], rows["cid"]["is_current"]) == (mar, False)  # left between feb and mar
    assert (rows["ann"]["disappeared_at"], rows["ann"]["is_current"]) == (None, True)
    assert rows["bob"]["first_seen_at"] == feb and rows["bob"]["is_current"]


def test_disappeared_at_is_the_first_export_after_the_last_sighting():
    exports = [at(0), at(10), at(20)]
    assert disappeared_at(at(0), exports) == at(10)
    assert disappeared_at(at(10), exports) == at(20)
    assert disappeared_at(at(20), exports) is None


def test_a_newer_export_updates_the_follow_date_and_an_older_one_fills_a_gap_only():
    old, new = at(-50), at(-10)
    history = merge_snapshot({}, {"ann": old}, at(0))
    history = merge_snapshot(history, {"ann": new}, at(10))  # re-followed: the newer date wins
    assert history["ann"].followed_at == new
    history = merge_snapshot(history, {"ann": at(-99)}, at(5))  # an older export does not overwrite it
    assert history["ann"].followed_at == new
    history = merge_snapshot({"bob": Observation("bob", None, at(10), at(10))}, {"bob": old}, at(0))
    assert history["bob"].followed_at == old  # ...but fills a date the newer one lacked
