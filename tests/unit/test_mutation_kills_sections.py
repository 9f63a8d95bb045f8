"""Where a JSON export's rows come from, pinned item by item (issue 18, `make mutate`): which sections a
table reads, how keys are matched, what a thread, a map or a settings object becomes, and what is
reported instead of loaded (with its count, size and reason). Each test is named after what a user
would find missing, doubled or misreported when it breaks."""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from tiktok_portability_source import settings
from tiktok_portability_source.archive import ArchiveError, LazyList, jsonstream, open_archive
from tiktok_portability_source.archive import sections as sections_module
from tiktok_portability_source.archive.model import NO_TABLE
from tiktok_portability_source.archive.sections import (
    _count_items,
    _json_size,
    _walked_size,
    is_group_name,
    setting_items,
    split_items,
    thread_name,
)
from tiktok_portability_source.fake.generator import FAMILIES, UserHistory
from tiktok_portability_source.layouts import BY_TABLE, ENTITIES, norm_key

USER = "user_a"
PROFILE = {"Profile Info": {"ProfileMap": {"userName": USER}}}
AT = datetime(2025, 12, 1, tzinfo=timezone.utc)


def opened(tmp_path: Path, doc: Any, **kwargs: Any):
    path = tmp_path / "user_data_tiktok.json"
    path.write_text(json.dumps(doc, indent=2))
    return open_archive(path, **kwargs)


def items_of(archive, table: str) -> list[dict[str, Any]]:
    return [dict(i) for s in archive.sections_for(table) for i in s.items]


def size(value: Any) -> int:
    return len(orjson.dumps(value))


def unparsed(archive) -> list[tuple[str, int, int, str, str | None]]:
    return [(u.path, u.item_count, u.size_bytes, u.reason, u.conversation) for u in archive.unparsed]


# --- finding sections -------------------------------------------------------------------------------


def test_section_and_list_names_match_whatever_their_case_and_spacing(tmp_path):
    doc = {"profile": {"PROFILE INFO": {"profilemap": {"userName": USER}}},
           "your activity": {"watchhistory": {"videolist": [{"Date": "2025-01-01 00:00:00", "Link": "l"}]}}}
    archive = opened(tmp_path, doc)
    assert archive.user_id == USER
    assert archive.sha256 == hashlib.sha256((tmp_path / "user_data_tiktok.json").read_bytes()).hexdigest()
    (section,) = archive.sections_for("watch_history")
    assert section.path == "your activity › watchhistory › VideoList"  # the list as the layout names it
    assert section.items == [{"Date": "2025-01-01 00:00:00", "Link": "l"}]
    assert archive.has_section("watch_history") and not archive.has_section("likes")
    assert archive.sections_for("likes") == []


def test_a_live_section_spelt_both_ways_is_read_once_not_twice(tmp_path):
    doc = {"Profile": PROFILE, "TikTok Live": {"Go Live History": {"GoLiveList": [
        {"LiveStartTime": "2025-01-01 10:00:00", "RoomId": "r1"}, {"LiveStartTime": "2025-01-02 10:00:00"}]}}}
    archive = opened(tmp_path, doc)
    (section,) = archive.sections_for("live_history")
    assert section.constants == {"activity": "went_live"}
    assert len(section.items) == 2


def test_both_gift_lists_of_purchases_are_read_each_with_its_kind(tmp_path):
    doc = {"Profile": PROFILE, "Your Activity": {"Purchases": {
        "SendGifts": {"SendGifts": [{"Date": "2025-01-01 00:00:00", "Price": "1"}], "App": "x"},
        "BuyGifts": {"BuyGifts": [{"Date": "2025-01-02 00:00:00", "Price": "2"}]}}}}
    archive = opened(tmp_path, doc)
    got = [(s.path, s.constants, s.items) for s in archive.sections_for("purchases")]
    assert got == [("Your Activity › Purchases › SendGifts/SendGifts", {"kind": "send_gift"},
                    [{"Date": "2025-01-01 00:00:00", "Price": "1"}]),
                   ("Your Activity › Purchases › BuyGifts/BuyGifts", {"kind": "buy_gift"},
                    [{"Date": "2025-01-02 00:00:00", "Price": "2"}])]
    assert unparsed(archive) == []


def test_a_present_but_empty_section_loads_nothing_and_is_not_reported(tmp_path):
    doc = {"Profile": PROFILE, "Your Activity": {
        "Watch History": {"VideoList": None}, "Like List": {"ItemFavoriteList": []}, "Searches": {},
        "Share History": {"ShareHistoryList": "N/A", "App": 1}, "Login History": {"App": "x", "IsFastLane": True},
        "Status": {"Status List": {}}, "Most Recent Location Data": {"LocationData": " none "}}}
    archive = opened(tmp_path, doc)
    assert unparsed(archive) == []
    for table in ("watch_history", "likes", "searches", "shares", "logins", "devices", "locations"):
        assert archive.sections_for(table) == [], table


def test_an_unknown_section_beside_a_known_one_is_counted_not_loaded(tmp_path, caplog):
    doc = {"Profile": PROFILE, "App": {"x": 1}, "IsFastLane": True,
           "Your Activity": {"Watch History": {"VideoList": [{"Date": "2025-01-01 00:00:00"}]},
                             "Brand New": {"NewList": [{"a": 1}, {"a": 2}, {"a": 3}], "App": "ignored"},
                             "Empty New": {}, "App": "meta"},
           "Future Top": [1, 2], "Empty Top": None, "Text Top": "hello"}
    with caplog.at_level(logging.WARNING):
        archive = opened(tmp_path, doc)
    assert unparsed(archive) == [
        ("Your Activity › Brand New", 3, len(orjson.dumps(doc["Your Activity"]["Brand New"])), NO_TABLE, None),
        ("Your Activity › Empty New", 0, 2, NO_TABLE, None),
        ("Future Top", 2, 5, NO_TABLE, None),
        ("Text Top", 1, 7, NO_TABLE, None)]
    assert ("user_data_tiktok.json: 3 sections no table reads were recorded in unparsed_sections (counted, not "
            "loaded): Your Activity › Brand New (3); Future Top (2); Text Top (1)") in caplog.messages


def test_one_unknown_section_is_named_in_the_warning_in_the_singular(tmp_path, caplog):
    doc = {"Profile": PROFILE, "Your Activity": {"Brand New": {"NewList": [{"a": 1}]}}}
    with caplog.at_level(logging.WARNING):
        opened(tmp_path, doc)
    assert ("user_data_tiktok.json: 1 section no table reads was recorded in unparsed_sections (counted, not "
            "loaded): Your Activity › Brand New (1)") in caplog.messages


def test_a_known_top_section_that_is_not_an_object_is_reported_with_what_it_is(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    doc = {"Profile": PROFILE, "Your Activity": [{"a": 1}, {"a": 2}], "Likes and Favorites": 5,
           "TikTok Live": "x", "Comment": True}
    archive = opened(tmp_path, doc)
    assert unparsed(archive) == [
        ("Your Activity", 2, 17, "expected an object, found a list", None),
        ("Likes and Favorites", 1, 1, "expected an object, found a number", None),
        ("TikTok Live", 1, 3, "expected an object, found a string", None),
        ("Comment", 1, 4, "expected an object, found true/false", None)]
    assert "Your Activity: expected an object, found a list; section skipped" in caplog.messages


def test_a_section_of_the_wrong_shape_is_skipped_with_its_reason_and_the_rest_loads(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    doc = {"Profile": PROFILE, "Your Activity": {
        "Watch History": [{"Date": "2025-01-01 00:00:00"}],
        "Like List": {"ItemFavoriteList": "not a list"},
        "Searches": {"SearchList": ["a", "b", {"SearchTerm": "c"}]},
        "Share History": {"ShareHistoryList": [{"Date": "2025-01-01 00:00:00", "Link": "l"}, 7, None, "x"]},
        "Status": {"Status List": 3},
        "Most Recent Location Data": {"LocationData": [{"Date": "2025-01-01 00:00:00"}]},
    }, "TikTok Live": {"Watch Live History": {"WatchLiveMap": [1, 2]}},
        "Direct Message": {"Direct Messages": {"ChatHistory": ["x"]}},
        "Profile And Settings": {"Settings": {"SettingsMap": ["a"]}}}
    archive = opened(tmp_path, doc)
    activity = doc["Your Activity"]
    assert unparsed(archive) == [
        ("Your Activity › Watch History", 1, size(activity["Watch History"]), "expected an object, found a list", None),
        ("Your Activity › Like List", 1, 12, "ItemFavoriteList is a string, expected a list", None),
        ("Your Activity › Searches", 3, size(activity["Searches"]["SearchList"]),
         "the items of SearchList are not objects (the first is a string)", None),
        ("Direct Message › Direct Messages", 1, 5, "ChatHistory is a list, expected an object of threads", None),
        ("Your Activity › Status", 1, 1, "Status List is a number, expected a list", None),
        ("TikTok Live › Watch Live History", 2, 5, "WatchLiveMap is a list, expected an object of items", None),
        ("Profile And Settings › Settings", 1, 5, "SettingsMap is a list, expected an object", None),
    ]
    (shares,) = archive.sections_for("shares")
    assert shares.items == [{"Date": "2025-01-01 00:00:00", "Link": "l"}] and shares.unreadable == 2
    assert "Your Activity › Share History: 2 items are not objects and were skipped" in caplog.messages
    assert items_of(archive, "locations") == [{"Date": "2025-01-01 00:00:00"}]
    single = opened(tmp_path, {"Profile": PROFILE, "Your Activity": {"Most Recent Location Data": {
        "LocationData": {"Date": "2025-01-01 00:00:00", "GpsData": "1,2"}}}})
    assert [(s.entity.table, s.path, s.items) for s in single.sections_for("locations")] == [
        ("locations", "Your Activity › Most Recent Location Data › LocationData",
         [{"Date": "2025-01-01 00:00:00", "GpsData": "1,2"}])]
    assert archive.sections_for("watch_history") == [] and archive.sections_for("likes") == []


def test_a_profile_that_is_not_an_object_is_skipped_and_the_user_must_be_named(tmp_path):
    doc = {"Profile": {"Profile Info": {"ProfileMap": ["user_a"]}},
           "Your Activity": {"Searches": {"SearchList": [{"SearchTerm": "a"}]}}}
    with pytest.raises(ArchiveError, match="the archive has no profile to take the user id from"):
        opened(tmp_path, doc)
    archive = opened(tmp_path, doc, user_id="someone")
    assert unparsed(archive) == [("Profile › Profile Info", 1, 10, "ProfileMap is a list, expected an object", None)]
    assert items_of(archive, "searches") == [{"SearchTerm": "a"}]


def test_a_top_level_list_is_refused_saying_so(tmp_path, monkeypatch):
    path = tmp_path / "user_data_tiktok.json"
    path.write_text(json.dumps([{"a": 1}, {"a": 2}], indent=2))
    with pytest.raises(ArchiveError, match=r"^user_data_tiktok.json: expected a JSON object at the top, found a list$"):
        open_archive(path)
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    with pytest.raises(ArchiveError, match=r"^user_data_tiktok.json: expected a JSON object at the top, found a list$"):
        open_archive(path)
    path.write_text(json.dumps([[{"a": 1}, {"a": 2}]], indent=2))  # a list holding the big list
    with pytest.raises(ArchiveError, match=r"^user_data_tiktok.json: expected a JSON object at the top, found a list$"):
        open_archive(path)
    path.write_text("7")
    with pytest.raises(ArchiveError, match=r"^user_data_tiktok.json: expected a JSON object at the top, found a number$"):
        open_archive(path)


# --- what a section's items become -------------------------------------------------------------------


def test_dm_threads_are_sections_named_by_position_with_their_conversation_and_group_flag(tmp_path):
    chat = {"Chat History with user_b:": [{"Date": "2025-01-01 00:00:00", "From": "user_b", "Content": "hi"}],
            "Chat History with empty:": [],
            "chat history with Group_Chat_7::": [{"Date": "2025-01-02 00:00:00", "From": USER, "Content": "yo"},
                                                 "stray", 5, None],
            "Chat History with broken:": "not a list",
            "Chat History with worse:": [5, {"From": "x"}],
            "Chat History with meta:": {"App": "x"},
            "Chat History with last:": [{"From": "last", "Content": "bye"}]}
    archive = opened(tmp_path, {"Profile": PROFILE, "Direct Message": {"Direct Messages": {"ChatHistory": chat}}})
    got = [(s.path, s.report_path, s.constants, len(s.items), s.unreadable) for s in archive.sections_for("direct_messages")]
    assert {s.entity.table for s in archive.sections_for("direct_messages")} == {"direct_messages"}
    assert got == [
        ("Direct Message › Direct Messages › thread 1", "Direct Message › Direct Messages",
         {"conversation": "user_b", "is_group": False}, 1, 0),
        ("Direct Message › Direct Messages › thread 3", "Direct Message › Direct Messages",
         {"conversation": "Group_Chat_7", "is_group": True}, 1, 2),
        ("Direct Message › Direct Messages › thread 7", "Direct Message › Direct Messages",
         {"conversation": "last", "is_group": False}, 1, 0)]
    assert unparsed(archive) == [
        ("Direct Message › Direct Messages › thread 4", 1, 12, "the thread is a string, expected a list of messages",
         "broken"),
        ("Direct Message › Direct Messages › thread 5", 2, 16,
         "the items of the thread are not objects (the first is a number)", "worse"),
        ("Direct Message › Direct Messages › thread 6", 1, 11, "the thread is an object, expected a list of messages",
         "meta")]


def test_a_thread_name_loses_its_prefix_and_colons_and_group_chats_are_recognised():
    assert thread_name("Chat History with user_b:") == "user_b"
    assert thread_name("  CHAT HISTORY WITH  user_c ::  ") == "user_c"
    assert thread_name("user_d") == "user_d"
    assert thread_name("Chat History with a:b:") == "a:b"
    assert thread_name("Chat History with MAX_X:") == "MAX_X"
    assert [is_group_name(n) for n in ("Group_Chat_1", "group chat 2", "GROUP_CHAT_3", "groupie", "my group_chat_")] == [
        True, True, True, False, False]


def test_settings_are_one_item_per_setting_with_nested_values_as_compact_json():
    got = setting_items({"Who Can Comment": "Friends", "Allow DMs": None, "Limits": [1, {"a": True}],
                         "Count": 5, "On": False})
    assert got == [{"Setting": "Who Can Comment", "SettingKey": "whocancomment", "Value": "Friends"},
                   {"Setting": "Allow DMs", "SettingKey": "allowdms", "Value": None},
                   {"Setting": "Limits", "SettingKey": "limits", "Value": '[1,{"a":true}]'},
                   {"Setting": "Count", "SettingKey": "count", "Value": "5"},
                   {"Setting": "On", "SettingKey": "on", "Value": "false"}]
    deep: Any = "x"
    for _ in range(300):
        deep = [deep]
    assert setting_items({"Deep": deep}) == [{"Setting": "Deep", "SettingKey": "deep", "Value": None}]


def test_a_setting_holding_a_long_list_keeps_the_whole_list(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    values = [f"v{i}" for i in range(50)]
    doc = {"Profile": PROFILE, "App Settings": {"Settings": {"SettingsMap": {"Blocked Words": values, "Mode": "a"}}}}
    archive = opened(tmp_path, doc)
    assert items_of(archive, "settings") == [
        {"Setting": "Blocked Words", "SettingKey": "blockedwords", "Value": json.dumps(values, separators=(",", ":"))},
        {"Setting": "Mode", "SettingKey": "mode", "Value": "a"}]


def test_interests_written_as_one_string_or_one_per_item_are_one_row_each(tmp_path):
    entity = BY_TABLE["ad_interests"]
    assert split_items(entity, [{"AdInterestCategories": "Food| Travel ||Pets"}, {"AdInterestCategories": "Cars"},
                                {"Interest": 5}, {"other": "x|y"}]) == [
        {"AdInterestCategories": "Food"}, {"AdInterestCategories": "Travel"}, {"AdInterestCategories": "Pets"},
        {"AdInterestCategories": "Cars"}, {"Interest": 5}, {"other": "x|y"}]
    assert split_items(BY_TABLE["searches"], [{"SearchTerm": "a|b"}]) == [{"SearchTerm": "a|b"}]
    doc = {"Profile": PROFILE, "Your Activity": {"Ad Interests": {"AdInterestCategories": "Food|Travel"}}}
    archive = opened(tmp_path, doc)
    assert items_of(archive, "ad_interests") == [{"AdInterestCategories": "Food"}, {"AdInterestCategories": "Travel"}]
    (section,) = archive.sections_for("ad_interests")
    assert section.path == "Your Activity › Ad Interests › AdInterestCategories"


def test_live_rooms_watched_and_their_comments_carry_the_room_id_and_placeholders_are_no_rows(tmp_path):
    comments = [{"CommentTime": "2025-01-01 10:01:00", "CommentContent": "wow"},
                {"CommentTime": "2025-01-01 10:02:00", "CommentContent": "again"}, "stray", 7, None]
    rooms = {"000": "not a room",
             "111": {"WatchTime": "2025-01-01 10:00:00", "Link": "l1", "Comments": comments},
             "-1": {"WatchTime": "", "Comments": []},
             "222": {"WatchTime": "2025-01-02 10:00:00", "Comments": None},
             "333": {"WatchTime": "2025-01-03 10:00:00"},
             "444": {"WatchTime": "2025-01-04 10:00:00", "Comments": [{"CommentContent": "late"}]}}
    archive = opened(tmp_path, {"Profile": PROFILE, "TikTok Live": {"Watch Live History": {"WatchLiveMap": rooms}}})
    got = [(s.entity.table, s.path, s.constants, s.items, s.unreadable) for s in archive.sections_for("live_history")]
    assert got == [
        ("live_history", "TikTok Live › Watch Live History › WatchLiveMap", {"activity": "watched"},
         [{"WatchTime": "2025-01-01 10:00:00", "Link": "l1", "Comments": comments, "RoomId": "111"},
          {"WatchTime": "2025-01-02 10:00:00", "Comments": None, "RoomId": "222"},
          {"WatchTime": "2025-01-03 10:00:00", "RoomId": "333"},
          {"WatchTime": "2025-01-04 10:00:00", "Comments": [{"CommentContent": "late"}], "RoomId": "444"}], 1),
        ("live_history", "TikTok Live › Watch Live History › WatchLiveMap › Comments", {"activity": "commented"},
         [{"CommentTime": "2025-01-01 10:01:00", "CommentContent": "wow", "RoomId": "111"},
          {"CommentTime": "2025-01-01 10:02:00", "CommentContent": "again", "RoomId": "111"},
          {"CommentContent": "late", "RoomId": "444"}], 3)]


def test_shop_orders_keep_their_order_id_and_their_whole_product_list(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    products = [{"product_name": f"p{i}", "price": str(i)} for i in range(30)]
    orders = {"O-1": {"order_date": "2025-01-01 00:00:00", "Products": products}}
    archive = opened(tmp_path, {"Profile": PROFILE, "TikTok Shop": {"Order History": {"OrderHistories": orders}}})
    assert items_of(archive, "shop_orders") == [{"order_date": "2025-01-01 00:00:00", "Products": products,
                                                 "order_id": "O-1"}]


def test_autofill_is_one_record_of_the_section_itself_and_nothing_when_all_empty(tmp_path):
    fill = {"FirstName": "Ann", "City": "N/A", "App": "x"}
    archive = opened(tmp_path, {"Profile": PROFILE, "Profile And Settings": {"Autofill": fill}})
    assert items_of(archive, "autofill") == [fill]
    assert archive.sections_for("autofill")[0].path == "Profile And Settings › Autofill"
    empty = opened(tmp_path, {"Profile": PROFILE, "Profile And Settings": {"Autofill": {"FirstName": "", "City": None}}})
    assert empty.sections_for("autofill") == [] and unparsed(empty) == []


def test_the_profile_is_one_record_and_its_username_is_the_user(tmp_path):
    archive = opened(tmp_path, {"Profile": {"Profile Info": {"ProfileMap": {"userName": " user_z ", "bio": "b"}}}})
    assert items_of(archive, "profile") == [{"userName": " user_z ", "bio": "b"}]
    assert archive.user_id == "user_z"


def test_a_nested_list_key_that_is_missing_leaves_the_section_unread(tmp_path):
    doc = {"Profile": PROFILE, "Your Activity": {"Purchases": {"SendGifts": {"Other": [1]}}}}
    archive = opened(tmp_path, doc)
    assert archive.sections_for("purchases") == []
    assert unparsed(archive) == [("Your Activity › Purchases", 1, size(doc["Your Activity"]["Purchases"]), NO_TABLE, None)]
    doc = {"Profile": PROFILE, "Your Activity": {"Purchases": {"SendGifts": [{"Price": "1"}]}}}
    archive = opened(tmp_path, doc)
    assert archive.sections_for("purchases") == []
    assert unparsed(archive) == [("Your Activity › Purchases", 1, size(doc["Your Activity"]["Purchases"]), NO_TABLE, None)]


def test_a_big_list_of_non_objects_is_skipped_with_its_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    monkeypatch.setattr(jsonstream, "_BLOCK_BYTES", 1 << 10)
    doc = {"Profile": PROFILE, "Your Activity": {"Searches": {"SearchList": ["a", "b", "c"]},
                                                 "Watch History": {"VideoList": [None, {"Date": "2025-01-01 00:00:00"}]}},
           "Direct Message": {"Direct Messages": {"ChatHistory": {"Chat History with x:": [1, 2], "Chat History with y:": [
               None, {"From": "y", "Content": "hi"}]}}}}
    archive = opened(tmp_path, doc)
    assert [(u.path, u.item_count, u.reason, u.conversation) for u in archive.unparsed] == [
        ("Your Activity › Searches", 3, "the items of SearchList are not objects (the first is a string)", None),
        ("Direct Message › Direct Messages › thread 1", 2, "the messages of the thread are not objects", "x")]
    (watch,) = archive.sections_for("watch_history")
    assert isinstance(watch.items, LazyList) and list(watch.items) == [{"Date": "2025-01-01 00:00:00"}]
    assert (watch.entity, watch.path) == (BY_TABLE["watch_history"], "Your Activity › Watch History › VideoList")
    (thread,) = archive.sections_for("direct_messages")
    assert thread.constants == {"conversation": "y", "is_group": False} and list(thread.items) == [
        {"From": "y", "Content": "hi"}]
    assert isinstance(thread.items, LazyList) and thread.unreadable == 0


# --- counts and sizes in the report ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    {"a": [1, 2, {"b": None}], "c": "é", "d": {}}, [], {}, "x", 1.5, None, True, [[[]]], {"k": [{"x": [1, "2"]}]}])
def test_a_sections_size_is_its_compact_json_size_at_any_depth(value):
    assert _json_size(value) == len(orjson.dumps(value))
    assert _walked_size(value) == len(orjson.dumps(value))


def test_a_section_nested_deeper_than_json_writes_still_has_its_size():
    deep: Any = {"k": 1}
    for _ in range(300):
        deep = [deep]
    assert _json_size(deep) == 2 * 300 + len(b'{"k":1}')
    assert _json_size({"a": deep, "b": [1, 2]}) == len(b'{"a":,"b":[1,2]}') + 2 * 300 + len(b'{"k":1}')


def test_counts_are_items_of_lists_else_one_for_a_value_and_none_for_empties_or_metadata():
    assert _count_items([1, 2, 3]) == 3
    assert _count_items({"A": [1, 2], "B": {"C": [3]}, "D": "x"}) == 3
    assert _count_items({"D": "x", "E": 5}) == 1
    assert _count_items({"D": "", "E": None, "App": "x", "IsFastLane": True}) == 0
    assert _count_items({"App": "x", "Note": "n"}) == 1
    assert _count_items("N/A") == 0 and _count_items("hello") == 1 and _count_items(None) == 0


def nested_list(levels: int) -> Any:
    value: Any = {"a": [1, 2, 3]}
    for _ in range(levels):
        value = {"n": value}
    return value


def test_a_list_nested_64_levels_deep_counts_its_items_and_deeper_counts_as_one():
    assert _count_items(nested_list(64)) == 3
    assert _count_items(nested_list(65)) == 1
    assert _count_items(nested_list(200)) == 1
    assert _count_items({"n": {"n": {"a": [1, 2]}}}) == 2


def test_a_big_list_counts_its_bytes_on_disk_in_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    doc = {"Profile": PROFILE, "Your Activity": {"Brand New": {"NewList": [{"a": 1}, {"a": 2}]}}}
    archive = opened(tmp_path, doc)
    assert [(u.path, u.item_count) for u in archive.unparsed] == [("Your Activity › Brand New", 2)]
    archive = opened(tmp_path, {"Profile": PROFILE, "Your Activity": {"Searches": {"SearchList": [{"a": 1}, {"a": 2}]}}})
    (section,) = archive.sections_for("searches")
    lazy = section.items
    assert isinstance(lazy, LazyList) and lazy.length > 20
    assert _json_size(lazy) == lazy.length + 2  # its brackets, and the items as written (indentation included)
    assert _json_size({"k": [lazy, 1]}) == len(b'{"k":[,1]}') + lazy.length + 2
    assert _walked_size({"k": [lazy, 1]}) == len(b'{"k":[,1]}') + lazy.length + 2
    assert _count_items(lazy) == 2 and _count_items({"x": lazy}) == 2


# --- families ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_the_layout_family_of_every_generated_export_is_recognised(tmp_path, family):
    archive = UserHistory(USER, seed=2).export(tmp_path, at=AT, family=family)
    read = open_archive(archive.path, **({} if archive.username else {"user_id": USER}))
    assert read.family == family
    assert read.data_format == "json"
    counts = {t: c for t, c in archive.expected.items() if t in archive.tables}
    for table in counts:
        assert read.has_section(table) or counts[table] == 0, table
    assert {e.table for e in ENTITIES if read.has_section(e.table)} - {"autofill"} <= set(archive.tables)
    for table, found in read.sections.items():
        for section in found:
            assert section.entity is BY_TABLE[table], (table, section.path)
            tops = {norm_key(top) for spec in section.entity.json_paths for top in spec.tops}
            assert norm_key(section.path.split(" › ")[0]) in tops, section.path


def test_an_unknown_layout_is_named_unknown(tmp_path):
    assert opened(tmp_path, {"Profile": PROFILE}, user_id=USER).family == "E"
    assert opened(tmp_path, {"Other": {}}, user_id=USER).family == "unknown"


def test_the_sections_module_reads_a_whole_document_when_it_cannot_be_split(tmp_path, monkeypatch):
    def never(*args: Any, **kwargs: Any) -> Any:
        raise jsonstream._NotSplittable("test")

    monkeypatch.setattr(jsonstream, "_split_json", never)
    archive = opened(tmp_path, {"Profile": PROFILE, "Your Activity": {"Searches": {"SearchList": [{"SearchTerm": "a"}]}}})
    assert items_of(archive, "searches") == [{"SearchTerm": "a"}]
    assert sections_module._kind([]) == "a list" and sections_module._kind({}) == "an object"


# --- documents read whole ----------------------------------------------------------------------------------


def test_a_damaged_document_is_refused_naming_the_file_and_what_is_wrong(tmp_path):
    path = tmp_path / "user_data_tiktok.json"
    path.write_bytes(b'{"Profile": ')
    with pytest.raises(ArchiveError) as err:
        open_archive(path)
    assert str(err.value) == ("user_data_tiktok.json is not valid JSON (unexpected end of data: line 1 column 13 "
                              "(char 12)); re-download the export or fix the file")
    path.write_bytes(b'{"a": "caf\xe9"}')
    with pytest.raises(ArchiveError, match=r"^user_data_tiktok.json is not valid UTF-8 text \(byte 10\); "):
        open_archive(path)
    path.write_bytes(b"\xff\xfe{\x00\x00\xd8")
    with pytest.raises(ArchiveError, match=r"^user_data_tiktok.json starts with a UTF-16 byte-order mark but is not "
                                           r"valid UTF-16 \("):
        open_archive(path)
    path.write_bytes(b"\xff\xfe" + "null".encode("utf-16-le"))
    with pytest.raises(ArchiveError, match=r"^user_data_tiktok.json: expected a JSON object at the top, found null$"):
        open_archive(path)


def test_a_document_saved_as_utf16_reads_like_the_original_with_its_own_hash_and_export_time(tmp_path):
    doc = {"Profile": PROFILE, "Your Activity": {"Searches": {"SearchList": [
        {"Date": "2025-01-01 00:00:00", "SearchTerm": "é"}]}, "Brand New": {"L": [{"a": 1}]}}}
    path = tmp_path / "user_data_tiktok.json"
    path.write_bytes(json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-16"))
    archive = open_archive(path)
    assert (archive.source, archive.user_id, archive.family) == (path, USER, "B")
    assert archive.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert items_of(archive, "searches") == [{"Date": "2025-01-01 00:00:00", "SearchTerm": "é"}]
    assert [(u.path, u.item_count) for u in archive.unparsed] == [("Your Activity › Brand New", 1)]
    zipped = tmp_path / "export.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("TikTok_Data_1764547200/user_data_tiktok.json", path.read_bytes())
    archive = open_archive(zipped)
    assert archive.exported_at == AT and archive.source == zipped
    assert archive.sha256 == hashlib.sha256(zipped.read_bytes()).hexdigest()


def test_a_sub_section_of_another_shape_does_not_hide_the_next_name_the_table_reads(tmp_path):
    doc = {"Profile": PROFILE, "Your Activity": {"Watch History": {"Other": [1]},
                                                 "Video Browsing History": {"VideoList": [{"Date": "2025-01-01 00:00:00"}]}}}
    archive = opened(tmp_path, doc)
    assert [(s.path, s.items) for s in archive.sections_for("watch_history")] == [
        ("Your Activity › Video Browsing History › VideoList", [{"Date": "2025-01-01 00:00:00"}])]
    assert unparsed(archive) == [("Your Activity › Watch History", 1, size({"Other": [1]}), NO_TABLE, None)]


def test_a_big_list_of_a_section_with_constants_carries_them(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    lives = [{"LiveStartTime": f"2025-01-0{i + 1} 10:00:00", "RoomId": f"r{i}"} for i in range(3)]
    archive = opened(tmp_path, {"Profile": PROFILE, "TikTok Live": {"Go Live History": {"GoLiveList": lives}}})
    (section,) = archive.sections_for("live_history")
    assert isinstance(section.items, LazyList)
    assert (section.constants, list(section.items)) == ({"activity": "went_live"}, lives)
