"""The analysis functions behind the notebooks, against hand-computed answers.

Most tests build tiny tables directly in DuckDB with the loader's real table and column names, so
every expected number can be checked by eye; the last ones load generator-made exports through the
real pipeline and compare with what the generator knows happened.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from tiktok_portability_source import analysis

UTC = timezone.utc
E1 = datetime(2025, 3, 1, tzinfo=UTC)  # export times
E2 = datetime(2025, 6, 1, tzinfo=UTC)
E3 = datetime(2025, 9, 1, tzinfo=UTC)

SNAPSHOT_COLUMNS = {"user_id": "VARCHAR", "row_key": "VARCHAR", "username": "VARCHAR",
                    "followed_at": "TIMESTAMPTZ", "first_seen_at": "TIMESTAMPTZ", "last_seen_at": "TIMESTAMPTZ",
                    "disappeared_at": "TIMESTAMPTZ", "is_current": "BOOLEAN"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def add_table(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str],
              rows: Iterable[tuple[Any, ...]]) -> None:
    """Create ``tiktok.<table>`` with the given columns (a row_key is filled in when declared)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS tiktok")
    con.execute(f"CREATE TABLE tiktok.{table} ({', '.join(f'{c} {t}' for c, t in columns.items())})")
    names = [c for c in columns if c != "row_key"]
    for i, row in enumerate(rows):
        values = list(row)
        cols = names + (["row_key"] if "row_key" in columns else [])
        if "row_key" in columns:
            values.append(f"{table}-{i}")
        con.execute(f"INSERT INTO tiktok.{table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    values)


def snapshot_rows(user: str, accounts: dict[str, tuple[datetime | None, datetime, datetime, datetime | None]]):
    """(followed_at, first_seen, last_seen, disappeared) per username → rows as the loader writes them."""
    return [(user, name, followed, first, last, gone, gone is None)
            for name, (followed, first, last, gone) in accounts.items()]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(":memory:")
    yield connection
    connection.close()


@pytest.fixture
def follow_db(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Two exports; a–d stay, e and f leave in between, g arrives. You follow a, b, x (and used to follow c)."""
    d = at("2025-01-10")
    followers = {
        "a": (d, E1, E2, None), "b": (d, E1, E2, None), "c": (d, E1, E2, None), "d": (d, E1, E2, None),
        "e": (at("2025-02-01"), E1, E1, E2), "f": (at("2025-02-02"), E1, E1, E2),
        "g": (at("2025-04-01"), E2, E2, None),
    }
    following = {
        "a": (d, E1, E2, None), "b": (d, E1, E2, None), "x": (d, E1, E2, None),
        "c": (d, E1, E1, E2),
    }
    add_table(con, "followers", SNAPSHOT_COLUMNS, snapshot_rows("me", followers))
    add_table(con, "following", SNAPSHOT_COLUMNS, snapshot_rows("me", following))
    return con


# --- followers -----------------------------------------------------------------------------------

def test_two_followers_leaving_between_exports_are_named(follow_db):
    changes = analysis.follower_changes(follow_db)
    assert len(changes) == 1
    row = changes.iloc[0]
    assert (row.previous_export, row.exported_at) == (pd.Timestamp(E1), pd.Timestamp(E2))
    assert (row.listed_before, row.listed_after, row.gained, row.lost) == (6, 5, 1, 2)
    assert row.lost_usernames == ["e", "f"]
    assert row.gained_usernames == ["g"]


def test_unfollowed_since_last_export_lists_exactly_the_leavers(follow_db):
    gone = analysis.unfollowed_since_last_export(follow_db)
    assert gone["username"].tolist() == ["e", "f"]
    assert (gone["missing_since"] == pd.Timestamp(E2)).all()
    assert analysis.unfollowed_since_last_export(follow_db, which="following")["username"].tolist() == ["c"]


def test_only_the_last_pair_of_exports_counts_as_since_last_export(con):
    # e left between E1 and E2, h between E2 and E3: only h left "since the last export"
    add_table(con, "followers", SNAPSHOT_COLUMNS, snapshot_rows("me", {
        "a": (None, E1, E3, None), "e": (None, E1, E1, E2), "h": (None, E1, E2, E3),
    }))
    assert analysis.unfollowed_since_last_export(con)["username"].tolist() == ["h"]
    changes = analysis.follower_changes(con)
    assert changes["lost_usernames"].tolist() == [["e"], ["h"]]
    assert changes["gained"].tolist() == [0, 0]


def test_list_sizes_per_export(follow_db):
    sizes = analysis.list_sizes_by_export(follow_db)
    followers = sizes[sizes["list"] == "followers"]
    following = sizes[sizes["list"] == "following"]
    assert followers["accounts"].tolist() == [6, 5]
    assert following["accounts"].tolist() == [4, 3]
    assert followers["exported_at"].tolist() == [pd.Timestamp(E1), pd.Timestamp(E2)]


def test_deleted_accounts_count_in_list_sizes_and_growth_but_are_never_named(con):
    """A deleted account ("N/A" in the export) is a row without a name: it was a follower, so the
    audience curve counts it, while the named lists (who left, mutuals) leave it out."""
    columns = {**SNAPSHOT_COLUMNS, "deleted_account": "BOOLEAN"}
    rows = [(*row, False) for row in snapshot_rows("me", {"a": (at("2025-01-10"), E1, E2, None),
                                                          "e": (at("2025-01-11"), E1, E1, E2)})]
    rows.append(("me", None, at("2025-01-12"), E1, E2, None, True, True))
    add_table(con, "followers", columns, rows)
    sizes = analysis.list_sizes_by_export(con)
    assert sizes[sizes["list"] == "followers"]["accounts"].tolist() == [3, 2]
    growth = analysis.cumulative_follows(con).set_index("date")
    assert growth.loc["2025-01-12", "cumulative_followed"] == 3
    changes = analysis.follower_changes(con).iloc[0]
    assert changes.lost_usernames == ["e"] and changes.gained_usernames == []


def test_mutuals_and_follow_back_ratio(follow_db):
    assert analysis.mutuals(follow_db)["username"].tolist() == ["a", "b"]  # c no longer followed, x not a follower
    ratio = analysis.follow_back_ratio(follow_db).iloc[0]
    assert (ratio.followers, ratio.following, ratio.mutuals) == (5, 3, 2)
    assert ratio.follow_back_ratio == pytest.approx(2 / 3)  # of the 3 you follow, 2 follow back
    assert ratio.you_follow_back_ratio == pytest.approx(2 / 5)  # of your 5 followers, you follow 2


def test_follow_back_ratio_is_missing_not_infinite_without_following(con):
    add_table(con, "followers", SNAPSHOT_COLUMNS, snapshot_rows("me", {"a": (None, E1, E1, None)}))
    ratio = analysis.follow_back_ratio(con).iloc[0]
    assert (ratio.followers, ratio.following, ratio.mutuals) == (1, 0, 0)
    assert pd.isna(ratio.follow_back_ratio)
    assert ratio.you_follow_back_ratio == 0


def test_cumulative_follows_by_follow_date_and_net_of_departures(follow_db):
    growth = analysis.cumulative_follows(follow_db)
    followers = growth[growth["list"] == "followers"].set_index("date")
    assert followers.loc["2025-01-10", ["followed", "cumulative_followed", "net"]].tolist() == [4, 4, 4]
    assert followers.loc["2025-02-02", ["cumulative_followed", "net"]].tolist() == [6, 6]
    assert followers.loc["2025-04-01", ["cumulative_followed", "net"]].tolist() == [7, 7]
    # e and f are counted as gone on the day of the export that no longer listed them
    assert followers.loc["2025-06-01", ["followed", "lost", "cumulative_followed", "net"]].tolist() == [0, 2, 7, 5]


def test_profile_history_falls_back_to_list_lengths(con):
    add_table(con, "profile", {"user_id": "VARCHAR", "exported_at": "TIMESTAMPTZ", "follower_count": "BIGINT",
                               "followers_listed": "BIGINT", "following_listed": "BIGINT",
                               "likes_received": "BIGINT"},
              [("me", E1, None, 30, 18, 100), ("me", E2, 52, 50, 33, 250)])
    history = analysis.profile_history(con)
    assert history["followers"].tolist() == [30, 52]  # the profile's own counter wins when present
    assert history["following"].tolist() == [18, 33]


# --- posts -----------------------------------------------------------------------------------------

POST_COLUMNS = {"user_id": "VARCHAR", "row_key": "VARCHAR", "posted_at": "TIMESTAMPTZ", "likes": "BIGINT",
                "who_can_view": "VARCHAR", "allow_duets": "BOOLEAN", "allow_comments": "BOOLEAN",
                "sound": "VARCHAR", "location": "VARCHAR", "title": "VARCHAR"}


@pytest.fixture
def posts_db(con):
    add_table(con, "posts", POST_COLUMNS, [
        # user, posted_at (Mon 6 Jan 2025 is a Monday), likes, who_can_view, duets, comments, sound, location, title
        ("me", at("2025-01-06 09:00"), 100, "Everyone", True, True, "original sound - me", None, "one"),
        ("me", at("2025-01-08 09:30"), 300, "Everyone", False, True, "Some Song", "Paris", "two"),
        ("me", at("2025-01-27 18:00"), 50, "Only You", True, True, "Some Song", None, "three"),
        ("me", at("2025-02-03 23:30"), 500, "Everyone", False, True, "original sound - me", None, "four"),
    ])
    return con


def test_posts_per_week_include_quiet_weeks(posts_db):
    weekly = analysis.posting_cadence(posts_db, period="week")
    assert weekly["period_start"].dt.strftime("%Y-%m-%d").tolist() == [
        "2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27", "2025-02-03"]
    assert weekly["posts"].tolist() == [2, 0, 0, 1, 1]
    monthly = analysis.posting_cadence(posts_db, period="month")
    assert monthly["posts"].tolist() == [3, 1]


def test_posting_gaps_in_days(posts_db):
    gaps = analysis.posting_gaps(posts_db)
    assert pd.isna(gaps["gap_days"].iloc[0])
    assert gaps["gap_days"].iloc[1:].round(4).tolist() == [
        round(2 + 0.5 / 24, 4), round(19 + 8.5 / 24, 4), round(7 + 5.5 / 24, 4)]


def test_likes_per_post_rolling_median(posts_db):
    likes = analysis.likes_per_post(posts_db, window=3)
    assert likes["likes"].tolist() == [100, 300, 50, 500]
    assert likes["rolling_median_likes"].tolist() == [100, 200, 100, 300]


def test_likes_by_weekday_and_hour(posts_db):
    by_day = analysis.likes_by_weekday(posts_db).set_index("weekday_name")
    assert len(by_day) == 7  # quiet weekdays are listed with zero posts
    assert by_day.loc["Monday", ["posts", "total_likes"]].tolist() == [3, 650]
    assert by_day.loc["Monday", "median_likes"] == 100  # median of 100, 50, 500
    assert by_day.loc["Wednesday", "median_likes"] == 300
    assert by_day.loc["Friday", "posts"] == 0 and pd.isna(by_day.loc["Friday", "median_likes"])
    by_hour = analysis.likes_by_hour(posts_db).set_index("hour")
    assert by_hour.loc[9, "posts"] == 2 and by_hour.loc[9, "median_likes"] == 200
    assert by_hour["posts"].sum() == 4


def test_weekday_and_hour_follow_the_requested_time_zone(posts_db):
    # 23:30 UTC on Monday 3 Feb is 00:30 on Tuesday in Amsterdam (UTC+1 in winter)
    by_day = analysis.likes_by_weekday(posts_db, tz="Europe/Amsterdam").set_index("weekday_name")
    assert by_day.loc["Tuesday", "posts"] == 1
    assert by_day.loc["Monday", "posts"] == 2
    by_hour = analysis.likes_by_hour(posts_db, tz="Europe/Amsterdam").set_index("hour")
    assert by_hour.loc[0, "posts"] == 1 and by_hour.loc[10, "posts"] == 2


def test_unknown_time_zone_is_a_clear_error(posts_db):
    with pytest.raises(ValueError, match="Mars/Olympus"):
        analysis.likes_by_hour(posts_db, tz="Mars/Olympus")


def test_post_settings_effect_compares_values_of_settings_that_varied(posts_db):
    effect = analysis.post_settings_effect(posts_db)
    table = effect.set_index(["setting", "value"])
    assert table.loc[("allow_duets", "yes"), ["posts", "median_likes"]].tolist() == [2, 75]
    assert table.loc[("allow_duets", "no"), ["posts", "median_likes"]].tolist() == [2, 400]
    assert table.loc[("who_can_view", "Only You"), "median_likes"] == 50
    assert table.loc[("has_location", "yes"), "median_likes"] == 300
    assert table.loc[("original_sound", "yes"), "median_likes"] == 300
    # allow_comments never changed and the export had no stitch setting: neither can explain anything
    assert "allow_comments" not in set(effect["setting"])
    assert "allow_stitches" not in set(effect["setting"])
    everything = analysis.post_settings_effect(posts_db, varying_only=False)
    assert everything.set_index(["setting", "value"]).loc[("allow_stitches", "(not set)"), "posts"] == 4


def test_top_posts_by_likes(posts_db):
    top = analysis.top_posts(posts_db, n=2)
    assert top["title"].tolist() == ["four", "two"]
    assert top["rank"].tolist() == [1, 2]


# --- activity --------------------------------------------------------------------------------------

WATCH_COLUMNS = {"user_id": "VARCHAR", "row_key": "VARCHAR", "watched_at": "TIMESTAMPTZ", "link": "VARCHAR",
                 "video_id": "VARCHAR"}


def watch_rows(user: str, times: Iterable[datetime]) -> list[tuple[Any, ...]]:
    return [(user, t, f"https://www.tiktokv.com/share/video/{7000 + i}/", str(7000 + i)) for i, t in enumerate(times)]


def test_sessions_split_after_a_gap_of_more_than_30_minutes(con):
    start = at("2025-03-03 10:00")
    times = [start, start + timedelta(minutes=10), start + timedelta(minutes=20),  # 3 views 10 min apart
             start + timedelta(minutes=51), start + timedelta(minutes=55)]         # 31-minute gap, then 2 views
    add_table(con, "watch_history", WATCH_COLUMNS, watch_rows("me", times))
    sessions = analysis.watch_sessions(con)
    assert sessions["session_id"].tolist() == [1, 2]
    assert sessions["videos"].tolist() == [3, 2]
    assert sessions["duration_minutes"].tolist() == [20, 4]
    assert sessions["started_at"].tolist() == [pd.Timestamp(times[0]), pd.Timestamp(times[3])]
    assert sessions["ended_at"].tolist() == [pd.Timestamp(times[2]), pd.Timestamp(times[4])]

    lengths = analysis.session_length_distribution(con).set_index("bucket")
    assert lengths["sessions"].sum() == 2
    assert lengths.loc["15–30 min", "sessions"] == 1 and lengths.loc["1–5 min", "sessions"] == 1
    assert lengths.loc["15–30 min", "share"] == 0.5


def test_a_gap_of_exactly_30_minutes_stays_in_the_session(con):
    start = at("2025-03-03 12:00")
    add_table(con, "watch_history", WATCH_COLUMNS, watch_rows("me", [start, start + timedelta(minutes=30)]))
    sessions = analysis.watch_sessions(con)
    assert sessions["videos"].tolist() == [2]
    assert analysis.watch_sessions(con, gap_minutes=20)["videos"].tolist() == [1, 1]


def test_sessions_are_numbered_per_user_and_filtered_by_user(con):
    t = at("2025-03-03 12:00")
    add_table(con, "watch_history", WATCH_COLUMNS,
              watch_rows("ann", [t, t + timedelta(hours=2)]) + watch_rows("bob", [t + timedelta(minutes=5)]))
    everyone = analysis.watch_sessions(con)
    assert everyone[["user_id", "session_id"]].values.tolist() == [["ann", 1], ["ann", 2], ["bob", 1]]
    assert analysis.watch_sessions(con, user_id="bob")["user_id"].tolist() == ["bob"]
    assert analysis.users(con) == ["ann", "bob"]


def test_heatmap_counts_per_weekday_and_hour(con):
    add_table(con, "watch_history", WATCH_COLUMNS, watch_rows("me", [
        at("2025-01-06 09:05"), at("2025-01-06 09:55"),  # Monday 09h twice
        at("2025-01-12 23:30"),                          # Sunday 23h
    ]))
    heat = analysis.activity_heatmap(con)
    assert heat.shape == (7, 24)
    assert heat.loc["Monday", 9] == 2 and heat.loc["Sunday", 23] == 1
    assert heat.to_numpy().sum() == 3
    local = analysis.activity_heatmap(con, tz="Europe/Amsterdam")
    assert local.loc["Monday", 10] == 2 and local.loc["Monday", 0] == 1  # Sunday 23:30 UTC = Monday 00:30


def test_heatmap_of_other_event_tables(con):
    add_table(con, "likes", {"user_id": "VARCHAR", "liked_at": "TIMESTAMPTZ"}, [("me", at("2025-01-07 20:00"))])
    assert analysis.activity_heatmap(con, table="likes").loc["Tuesday", 20] == 1
    with pytest.raises(ValueError):
        analysis.activity_heatmap(con, table="no_such_table")


def test_daily_counts_of_watching_liking_and_favouriting(con):
    add_table(con, "watch_history", WATCH_COLUMNS, watch_rows("me", [at("2025-01-01 10:00"), at("2025-01-01 11:00"),
                                                                     at("2025-01-04 10:00")]))
    add_table(con, "likes", {"user_id": "VARCHAR", "liked_at": "TIMESTAMPTZ"}, [("me", at("2025-01-02 08:00"))])
    add_table(con, "favorite_videos", {"user_id": "VARCHAR", "favorited_at": "TIMESTAMPTZ"},
              [("me", at("2025-01-01 12:00"))])
    add_table(con, "favorite_sounds", {"user_id": "VARCHAR", "favorited_at": "TIMESTAMPTZ"},
              [("me", at("2025-01-01 13:00"))])
    daily = analysis.daily_activity(con)
    assert daily["date"].dt.strftime("%m-%d").tolist() == ["01-01", "01-02", "01-03", "01-04"]
    assert daily["watched"].tolist() == [2, 0, 0, 1]
    assert daily["liked"].tolist() == [0, 1, 0, 0]
    assert daily["favorited"].tolist() == [2, 0, 0, 0]


def test_top_searches_ignore_case_and_spaces(con):
    add_table(con, "searches", {"user_id": "VARCHAR", "searched_at": "TIMESTAMPTZ", "search_term": "VARCHAR"}, [
        ("me", at("2025-01-01"), "Cat videos"), ("me", at("2025-01-02"), "cat videos "),
        ("me", at("2025-01-03"), "bread"), ("me", at("2025-01-04"), "cat videos"),
    ])
    top = analysis.top_searches(con, n=1)
    assert top[["search_term", "searches"]].values.tolist() == [["cat videos", 3]]
    assert top["last_searched_at"].iloc[0] == pd.Timestamp(at("2025-01-04"))


def test_shares_by_method_and_logins_by_device_and_network(con):
    add_table(con, "shares", {"user_id": "VARCHAR", "shared_at": "TIMESTAMPTZ", "method": "VARCHAR"},
              [("me", at("2025-01-01"), "copy"), ("me", at("2025-01-02"), "copy"), ("me", at("2025-01-03"), None),
               ("me", at("2025-01-04"), "whatsapp")])
    shares = analysis.shares_by_method(con)
    assert shares[["method", "shares"]].values.tolist() == [["copy", 2], ["(unknown)", 1], ["whatsapp", 1]]
    assert shares["share"].tolist() == [0.5, 0.25, 0.25]

    add_table(con, "logins", {"user_id": "VARCHAR", "logged_in_at": "TIMESTAMPTZ", "device_model": "VARCHAR",
                              "device_system": "VARCHAR", "network_type": "VARCHAR", "carrier": "VARCHAR"},
              [("me", at("2025-01-01"), "Phone1,1", "OS 1", "Wi-Fi", None),
               ("me", at("2025-02-01"), "Phone1,1", "OS 1", "4G", "Example Mobile"),
               ("me", at("2025-03-01"), "Tablet", "OS 2", "Wi-Fi", None)])
    devices = analysis.logins_by_device(con)
    assert devices[["device_model", "logins"]].values.tolist() == [["Phone1,1", 2], ["Tablet", 1]]
    assert devices["last_login_at"].iloc[0] == pd.Timestamp(at("2025-02-01"))
    networks = analysis.logins_by_network(con)
    assert networks[["network_type", "carrier", "logins"]].values.tolist() == [
        ["Wi-Fi", "(unknown)", 2], ["4G", "Example Mobile", 1]]


DM_COLUMNS = {"user_id": "VARCHAR", "row_key": "VARCHAR", "sent_at": "TIMESTAMPTZ", "sender": "VARCHAR",
              "content": "VARCHAR", "video_id": "VARCHAR", "conversation": "VARCHAR", "is_group": "BOOLEAN",
              "is_own": "BOOLEAN"}


@pytest.fixture
def dm_db(con):
    add_table(con, "direct_messages", DM_COLUMNS, [
        ("me", at("2025-01-05"), "alice_secret", "meet at 5, my address is 1 Example St", None, "alice_secret", False, False),
        ("me", at("2025-01-06"), "me", "ok!", None, "alice_secret", False, True),
        ("me", at("2025-02-01"), "me", "see you", None, "alice_secret", False, True),
        ("me", at("2025-01-10"), "bob_private", "hi", None, "Group_Chat_1", True, False),
    ])
    return con


def test_direct_messages_are_pseudonymised_and_never_show_text(dm_db):
    convs = analysis.direct_messages_by_conversation(dm_db)
    assert convs["conversation"].tolist() == ["conversation 1", "conversation 2"]  # busiest first
    assert convs[["messages", "sent_by_you", "received"]].values.tolist() == [[3, 2, 1], [1, 0, 1]]
    assert convs["is_group"].tolist() == [False, True]
    monthly = analysis.direct_messages_by_month(dm_db)
    assert monthly[["conversation", "messages"]].values.tolist() == [
        ["conversation 1", 2], ["conversation 2", 1], ["conversation 1", 1]]
    for frame in (convs, monthly):
        text = frame.to_csv()
        for secret in ("alice_secret", "bob_private", "Group_Chat_1", "Example St", "see you", "ok!"):
            assert secret not in text


def test_direct_message_names_only_on_request(dm_db):
    revealed = analysis.direct_messages_by_conversation(dm_db, reveal_names=True)
    assert revealed["conversation"].tolist() == ["alice_secret", "Group_Chat_1"]
    text = revealed.to_csv() + analysis.direct_messages_by_month(dm_db, reveal_names=True).to_csv()
    assert "Example St" not in text and "bob_private" not in text  # text and senders still never leave



# --- coverage, watching, comments, LIVE, ads --------------------------------------------------------

DAY_COLUMNS = ["user_id", "kind", "date", "events", "covered"]


def test_days_outside_every_export_are_unknown_not_zero(con):
    """Export A (taken 4 Jan) reaches back to 1 Jan, export B (taken 7 Jan) to 6 Jan: 5 Jan is in
    neither, so it is NULL and not covered, while 2 Jan and 4 Jan (in A, nothing watched) are real 0s."""
    add_table(con, "archives", {"user_id": "VARCHAR", "archive_sha256": "VARCHAR", "exported_at": "TIMESTAMPTZ"},
              [("me", "A", at("2025-01-04 12:00")), ("me", "B", at("2025-01-07 23:00"))])
    add_table(con, "watch_history", {**WATCH_COLUMNS, "archive_sha256": "VARCHAR"}, [
        ("me", at("2025-01-01 10:00"), None, "1", "A"), ("me", at("2025-01-01 11:00"), None, "2", "A"),
        ("me", at("2025-01-03 09:00"), None, "3", "A"),
        ("me", at("2025-01-06 09:00"), None, "4", "B"), ("me", at("2025-01-07 09:00"), None, "5", "B"),
    ])
    # no archive column (an older load): the list spans its first to its last event
    add_table(con, "likes", {"user_id": "VARCHAR", "liked_at": "TIMESTAMPTZ"},
              [("me", at("2025-01-02 08:00")), ("me", at("2025-01-07 08:00"))])
    # every favourite list of every export spans by itself: sounds of A cover 1–4 Jan, videos of B 6–7 Jan
    favorite = {"user_id": "VARCHAR", "favorited_at": "TIMESTAMPTZ", "archive_sha256": "VARCHAR"}
    add_table(con, "favorite_sounds", favorite, [("me", at("2025-01-01 13:00"), "A")])
    add_table(con, "favorite_videos", favorite, [("me", at("2025-01-06 12:00"), "B")])
    days = pd.date_range("2025-01-01", "2025-01-07", freq="D")
    NA = pd.NA
    expected = pd.DataFrame({
        "user_id": ["me"] * 21,
        "kind": ["watched"] * 7 + ["liked"] * 7 + ["favorited"] * 7,
        "date": list(days) * 3,
        "events": pd.array([2, 0, 1, 0, NA, 1, 1] + [NA, 1, 0, 0, 0, 0, 1] + [1, 0, 0, 0, NA, 1, 0], dtype="Int64"),
        "covered": [True] * 4 + [False, True, True] + [False] + [True] * 6 + [True] * 4 + [False, True, True],
    })
    daily = analysis.daily_activity_coverage(con)
    assert list(daily.columns) == DAY_COLUMNS
    assert daily["events"].dtype == "Int64"
    pd.testing.assert_frame_equal(daily, expected, check_dtype=False)
    # the zero-filled daily_activity says 0 for 5 Jan as well: that is why the chart does not use it
    assert analysis.daily_activity(con)["watched"].tolist() == [2, 0, 1, 0, 0, 1, 1]


def test_coverage_days_follow_the_time_zone(con):
    add_table(con, "watch_history", WATCH_COLUMNS, watch_rows("me", [at("2025-01-01 12:00"), at("2025-01-02 23:30")]))
    local = analysis.daily_activity_coverage(con, tz="Europe/Amsterdam")  # 23:30 UTC = 00:30 on 3 Jan
    watched = local[local["kind"] == "watched"]
    assert watched["date"].dt.strftime("%m-%d").tolist() == ["01-01", "01-02", "01-03"]
    assert watched["events"].tolist() == [1, 0, 1]


@pytest.fixture
def watch_db(con):
    """Five views of four videos (two of video 1); only videos 1 and 3 have an @name in the link."""
    add_table(con, "watch_history", WATCH_COLUMNS, [
        ("me", at("2025-01-01 10:00"), "https://www.tiktok.com/@alice/video/1", "1"),
        ("me", at("2025-01-02 10:00"), "https://www.tiktok.com/@alice/video/1?lang=en", "1"),
        ("me", at("2025-01-03 10:00"), "https://www.tiktokv.com/share/video/2/", "2"),
        ("me", at("2025-01-04 10:00"), "https://www.tiktok.com/@bob/video/3", "3"),
        ("me", at("2025-01-05 10:00"), "https://www.tiktokv.com/share/video/4/", "4"),
    ])
    return con


VIDEO_COLUMNS = {"video_id": "VARCHAR", "status": "VARCHAR", "author_name": "VARCHAR", "author_url": "VARCHAR",
                 "title": "VARCHAR", "hashtags": "VARCHAR"}


def add_videos(con) -> None:
    """What `tiktok-portability enrich` writes (no user_id: a video is the same for everyone)."""
    add_table(con, "videos", VIDEO_COLUMNS, [
        ("1", "ok", "Alice A.", "https://www.tiktok.com/@alice", "cats! #cats", "cats"),
        ("2", "ok", "Alice A.", "https://www.tiktok.com/@alice", "#cats #food", "cats,food"),
        ("3", "unavailable", None, None, None, None),  # removed: the link's @bob still counts
        ("4", "ok", "Carol", None, "no tags", None),  # no handle: the display name
    ])


def test_top_creators_from_watch_links(watch_db):
    creators = analysis.top_creators(watch_db)
    expected = pd.DataFrame({
        "user_id": ["me", "me"], "rank": [1, 2], "creator": ["@alice", "@bob"], "views": [2, 1], "videos": [1, 1],
        "first_watched_at": [pd.Timestamp(at("2025-01-01 10:00")), pd.Timestamp(at("2025-01-04 10:00"))],
        "last_watched_at": [pd.Timestamp(at("2025-01-02 10:00")), pd.Timestamp(at("2025-01-04 10:00"))],
    })
    pd.testing.assert_frame_equal(creators, expected, check_dtype=False)
    pd.testing.assert_frame_equal(analysis.creator_coverage(watch_db), pd.DataFrame(
        {"user_id": ["me"], "views": [5], "views_with_creator": [3], "share": [0.6]}), check_dtype=False)


def test_top_creators_prefer_the_videos_table_when_enriched(watch_db):
    add_videos(watch_db)
    creators = analysis.top_creators(watch_db)
    assert creators[["rank", "creator", "views", "videos"]].values.tolist() == [
        [1, "@alice", 3, 2], [2, "@bob", 1, 1], [3, "Carol", 1, 1]]
    assert analysis.top_creators(watch_db, n=1)["creator"].tolist() == ["@alice"]
    assert analysis.creator_coverage(watch_db)[["views", "views_with_creator", "share"]].values.tolist() == [
        [5, 5, 1.0]]


def test_top_hashtags_of_own_posts_and_of_watched_videos(watch_db):
    add_table(watch_db, "hashtags", {"user_id": "VARCHAR", "hashtag_name": "VARCHAR"},
              [("me", "#Food"), ("me", "travel"), ("someone_else", "secret")])
    columns = ["user_id", "rank", "hashtag", "views", "videos", "in_your_posts"]
    before = analysis.top_hashtags(watch_db, user_id="me")  # without `enrich`: only your own, no views
    pd.testing.assert_frame_equal(before, pd.DataFrame(
        [["me", 1, "food", 0, 0, True], ["me", 2, "travel", 0, 0, True]], columns=columns), check_dtype=False)
    add_videos(watch_db)
    after = analysis.top_hashtags(watch_db, user_id="me")
    # cats: video 1 twice and video 2 once; food: video 2 once, and in your posts
    pd.testing.assert_frame_equal(after, pd.DataFrame(
        [["me", 1, "cats", 3, 2, False], ["me", 2, "food", 1, 1, True], ["me", 3, "travel", 0, 0, True]],
        columns=columns), check_dtype=False)
    assert analysis.top_hashtags(watch_db)["user_id"].tolist() == ["me", "me", "me", "someone_else"]


def test_rewatch_like_and_favourite_rates_per_video_watched(watch_db):
    watch_db.executemany("INSERT INTO tiktok.watch_history VALUES (?, ?, ?, ?, ?)", [
        ("me", "x", at("2025-01-06 10:00"), "https://www.tiktok.com/@bob/video/3", "3"),
        ("me", "y", at("2025-01-06 11:00"), None, None),  # no video id: not counted
    ])
    add_table(watch_db, "likes", {"user_id": "VARCHAR", "liked_at": "TIMESTAMPTZ", "video_id": "VARCHAR"}, [
        ("me", at("2025-01-01 10:01"), "1"), ("me", at("2025-01-03 10:01"), "2"),
        ("me", at("2025-01-09 10:00"), "1"),  # liked again later: still one video
        ("me", at("2024-06-01 10:00"), "9"),  # never watched (as far as the exports go)
    ])
    add_table(watch_db, "favorite_videos", {"user_id": "VARCHAR", "favorited_at": "TIMESTAMPTZ", "video_id": "VARCHAR"},
              [("me", at("2025-01-04 10:05"), "3")])
    rates = analysis.watch_rates(watch_db)
    # videos 1, 2, 3, 4 watched 2, 1, 2, 1 times: 1 and 3 again; 1 and 2 liked; 3 saved
    pd.testing.assert_frame_equal(rates, pd.DataFrame({
        "user_id": ["me"], "views": [6], "videos": [4], "rewatched": [2], "liked": [2], "favorited": [1],
        "rewatch_rate": [0.5], "like_rate": [0.5], "favorite_rate": [0.25]}), check_dtype=False)


def test_comments_per_month_and_their_length(con):
    add_table(con, "comments", {"user_id": "VARCHAR", "row_key": "VARCHAR", "commented_at": "TIMESTAMPTZ",
                                "comment": "VARCHAR"}, [
        ("me", at("2025-01-05 10:00"), "hello"),       # 5 characters
        ("me", at("2025-01-20 10:00"), "hi there!"),   # 9
        ("me", at("2025-01-25 10:00"), None),          # a sticker: counted, no length
        ("me", at("2025-03-02 10:00"), "ok 👍🏽"),       # 4: an emoji with its skin tone is one character
    ])
    expected = pd.DataFrame({
        "user_id": ["me"] * 3, "month": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]),
        "comments": [3, 0, 1], "with_text": [2, 0, 1], "median_length": [7.0, None, 4.0],
        "mean_length": [7.0, None, 4.0]})
    pd.testing.assert_frame_equal(analysis.comments_by_month(con), expected, check_dtype=False)


def test_live_activity_per_month(con):
    add_table(con, "live_history", {"user_id": "VARCHAR", "row_key": "VARCHAR", '"at"': "TIMESTAMPTZ",
                                    "activity": "VARCHAR", "room_id": "VARCHAR", "comment": "VARCHAR"}, [
        ("me", at("2025-01-03 20:00"), "went_live", "r1", None),
        ("me", at("2025-01-10 20:00"), "watched", "r2", None),
        ("me", at("2025-01-10 20:05"), "commented", "r2", "hi"),
        ("me", at("2025-01-10 20:06"), "commented", "r2", "bye"),
        ("me", at("2025-03-01 20:00"), "watched", "r3", None),
    ])
    expected = pd.DataFrame(
        [["me", pd.Timestamp("2025-01-01"), "commented", 2, 1], ["me", pd.Timestamp("2025-01-01"), "watched", 1, 1],
         ["me", pd.Timestamp("2025-01-01"), "went_live", 1, 1], ["me", pd.Timestamp("2025-03-01"), "watched", 1, 1]],
        columns=["user_id", "month", "activity", "events", "rooms"])
    pd.testing.assert_frame_equal(analysis.live_by_month(con), expected, check_dtype=False)


def test_ad_interests_listed_once_by_name(con):
    add_table(con, "ad_interests", {"user_id": "VARCHAR", "interest": "VARCHAR"},
              [("me", " Pets"), ("me", "Books & Literature"), ("me", "Pets"), ("me", ""), ("me", None)])
    pd.testing.assert_frame_equal(analysis.ad_interests(con), pd.DataFrame(
        {"user_id": ["me", "me"], "interest": ["Books & Literature", "Pets"]}), check_dtype=False)


@pytest.mark.parametrize("text, expected", [
    ("cat videos 🐱", "cat videos :cat_face:"),
    ("café latte art ☕️", "café latte art :hot_beverage:"),  # the emoji presentation selector is dropped
    ("👩‍💻 tips", ":woman::personal_computer: tips"),  # a ZWJ sequence: its parts, by name
    ("two\nlines", "two\nlines"),
])
def test_chart_text_names_emoji_a_font_cannot_draw(text, expected):
    assert analysis.chart_text(text) == expected


def test_chart_text_keeps_what_the_chart_fonts_have():
    assert analysis.chart_text("a🐱b✈", glyphs={ord("a"), ord("b"), ord("🐱")}) == "a🐱b:airplane:"


# --- missing data ----------------------------------------------------------------------------------

FRAME_FUNCTIONS = [
    analysis.table_overview, analysis.list_sizes_by_export, analysis.cumulative_follows, analysis.follower_changes,
    analysis.unfollowed_since_last_export, analysis.mutuals, analysis.follow_back_ratio, analysis.profile_history,
    analysis.posting_cadence, analysis.posting_gaps, analysis.likes_per_post, analysis.likes_by_weekday,
    analysis.likes_by_hour, analysis.post_settings_effect, analysis.top_posts, analysis.watch_sessions,
    analysis.session_length_distribution, analysis.activity_heatmap, analysis.daily_activity,
    analysis.top_searches, analysis.shares_by_method, analysis.logins_by_device, analysis.logins_by_network,
    analysis.direct_messages_by_conversation, analysis.direct_messages_by_month,
    analysis.daily_activity_coverage, analysis.watch_rates, analysis.top_creators, analysis.creator_coverage,
    analysis.top_hashtags, analysis.comments_by_month, analysis.live_by_month, analysis.ad_interests,
]


@pytest.mark.parametrize("function", FRAME_FUNCTIONS, ids=lambda f: f.__name__)
def test_missing_tables_give_empty_frames_with_the_usual_columns(function, con, follow_db_path):
    empty = function(con)
    full = function(follow_db_path)  # same function on a dataset that has some tables
    assert isinstance(empty, pd.DataFrame) and empty.empty
    assert list(empty.columns) == list(full.columns)


@pytest.fixture
def follow_db_path(tmp_path: Path) -> Path:
    """A DuckDB file holding only follower lists: every other table is missing."""
    path = tmp_path / "follow.duckdb"
    with duckdb.connect(str(path)) as writer:
        add_table(writer, "followers", SNAPSHOT_COLUMNS, snapshot_rows("me", {"a": (None, E1, E2, None)}))
    return path


def test_a_missing_database_file_reads_as_empty(tmp_path):
    assert analysis.users(tmp_path / "nothing-here.duckdb") == []
    assert analysis.watch_sessions(tmp_path / "nothing-here.duckdb").empty
    assert not (tmp_path / "nothing-here.duckdb").exists()  # looking never creates the file


def test_a_missing_column_reads_as_null_instead_of_failing(con):
    # an older load without the setting columns and without titles
    add_table(con, "posts", {"user_id": "VARCHAR", "posted_at": "TIMESTAMPTZ", "likes": "BIGINT"},
              [("me", at("2025-01-06"), 10), ("me", at("2025-01-07"), 30)])
    assert analysis.top_posts(con)["likes"].tolist() == [30, 10]
    assert analysis.top_posts(con)["title"].isna().all()
    assert analysis.post_settings_effect(con).empty  # nothing varied that could be compared


def test_a_path_is_opened_read_only_and_closed(follow_db_path):
    assert analysis.mutuals(follow_db_path).empty
    assert analysis.list_sizes_by_export(follow_db_path)["accounts"].tolist() == [1, 1]
    with duckdb.connect(str(follow_db_path)) as writer:  # no lock left behind
        writer.execute("SELECT 1")


def test_a_database_object_holds_no_connection_between_calls(tmp_path):
    path = tmp_path / "later.duckdb"
    db = analysis.Database(path)
    assert analysis.users(db) == [] and not path.exists()  # missing: empty, and nothing created
    with duckdb.connect(str(path)) as writer:  # a load creates the file while the object is around
        add_table(writer, "followers", SNAPSHOT_COLUMNS, snapshot_rows("me", {"a": (None, E1, E2, None)}))
    assert analysis.users(db) == ["me"]  # the same object sees it
    with duckdb.connect(str(path)) as writer:  # and leaves no lock behind
        add_table(writer, "following", SNAPSHOT_COLUMNS, snapshot_rows("me", {"b": (None, E1, E2, None)}))
    assert analysis.list_sizes_by_export(db)["accounts"].tolist() == [1, 1, 1, 1]
    assert os.fspath(db) == str(path)


def test_a_database_call_waits_while_another_process_writes(follow_db_path):
    """A load holds the file for its whole run: a call made meanwhile waits for it, then reads."""
    script = (f"import duckdb, time\ncon = duckdb.connect({str(follow_db_path)!r})\n"
              "print('locked', flush=True)\ntime.sleep(1.5)\ncon.close()")
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(duckdb.IOException, match="lock"):
            analysis.users(analysis.Database(follow_db_path, wait_seconds=0))
        started = time.monotonic()
        assert analysis.users(analysis.Database(follow_db_path, wait_seconds=30)) == ["me"]
        assert time.monotonic() - started > 0.3
    finally:
        holder.wait(timeout=30)


# --- on generated exports through the real loader ---------------------------------------------------

@pytest.fixture
def generated(tmp_path, monkeypatch):
    """One generated history, three exports four months apart (followers leave in every gap)."""
    from tiktok_portability_source.fake.generator import Sizes, UserHistory

    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.chdir(tmp_path)
    history = UserHistory("user_a", seed=7, sizes=Sizes(followers=30, following=24, watch_history=200),
                          unfollow_fraction=0.3)
    exports = [history.export(tmp_path / "exports", at=datetime(2025, m, d, tzinfo=UTC))
               for m, d in ((4, 1), (8, 1), (12, 1))]
    return history, exports


def _load(tmp_path: Path, archives: list[list[Path]]) -> Path:
    from tiktok_portability_source.loader import load_archives, make_pipeline

    db = tmp_path / "t.duckdb"
    pipeline = make_pipeline(duckdb_path=db, pipelines_dir=tmp_path / "pl")
    for batch in archives:
        load_archives(pipeline, batch)
    return db


def _assert_unfollows_match_generator(db: Path, history, exports) -> None:
    changes = {which: analysis.follower_changes(db, which=which) for which in ("followers", "following")}
    for which, frame in changes.items():
        assert len(frame) == len(exports) - 1
        for (earlier, later), row in zip(pairwise(exports), frame.itertuples()):
            expected = history.unfollowed_between(earlier, later)[which]
            assert expected, "the fixture should make accounts leave in every gap"
            assert set(row.lost_usernames) == expected
            assert row.exported_at == pd.Timestamp(later.exported_at)
    last = analysis.unfollowed_since_last_export(db)
    assert set(last["username"]) == history.unfollowed_between(exports[-2], exports[-1])["followers"]


def test_unfollowers_found_in_generated_exports_loaded_one_by_one(generated, tmp_path):
    history, exports = generated
    db = _load(tmp_path, [[e.path] for e in exports])
    _assert_unfollows_match_generator(db, history, exports)
    sizes = analysis.list_sizes_by_export(db)
    assert len(sizes) == 2 * len(exports)
    assert analysis.watch_sessions(db)["videos"].sum() == analysis.table_overview(db).set_index(
        "table_name").loc["watch_history", "rows"]


def test_unfollowers_found_in_generated_exports_loaded_together(generated, tmp_path):
    history, exports = generated
    db = _load(tmp_path, [[e.path for e in exports]])
    _assert_unfollows_match_generator(db, history, exports)
