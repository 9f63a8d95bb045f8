"""The layout table's building blocks and what an archive says about itself, pinned (issue 18, `make
mutate`): key matching, the declarations every event table is made of, the layout family, and when an
export was taken. The declarations run once at import; calling them here is what lets a changed one
show."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tiktok_portability_source import layouts, settings
from tiktok_portability_source.archive import open_archive
from tiktok_portability_source.fake.generator import UserHistory
from tiktok_portability_source.layouts import BY_TABLE, Column, IdFrom, JsonPath, detect_family, norm_key

USER = "user_a"
AT = datetime(2025, 12, 1, tzinfo=timezone.utc)


def test_keys_labels_and_file_names_match_whatever_their_case_spacing_and_punctuation():
    assert norm_key("Search Term") == norm_key("SearchTerm") == norm_key("search_term") == "searchterm"
    assert norm_key("Like(s)") == "likes" and norm_key("Video 2") == "video2"
    assert norm_key("Usage_Data_from_Third-party Apps") == "usagedatafromthirdpartyapps"
    assert norm_key("Ünï") == "n" and norm_key("") == ""


def test_an_event_tables_time_is_its_date_column_and_its_links_may_name_an_account():
    assert layouts._date("watched_at") == Column("watched_at", ("Date",), "timestamp", "plain")
    assert layouts._link() == Column("link", ("Link",), "text", "link")
    assert layouts._link("VideoLink", "X") == Column("link", ("Link", "VideoLink", "X"), "text", "link")
    assert layouts._video_ids() == (IdFrom(("link",), "video_id", r"/video/(\d+)"),)
    assert layouts._video_ids("content") == (IdFrom(("content",), "video_id", r"/video/(\d+)"),)


def test_an_event_table_declared_in_one_line_is_the_table_the_reader_uses():
    built = layouts._events("searches", layouts.ACTIVITY, ("Searches", "Search History"), "SearchList",
                            ("Searches", "Search History", "Zoekopdrachten"),
                            (layouts._date("searched_at"), Column("search_term", ("SearchTerm",))),
                            ("searched_at", "search_term"), description="search")
    assert built == BY_TABLE["searches"]
    assert (built.kind, built.time_column, built.ids, built.description) == ("events", "searched_at", (), "search")
    assert built.json_paths == (JsonPath(("Your Activity", "Activity"), ("Searches", "Search History"), ("SearchList",)),)
    watched = layouts._events("t", ("A",), ("B",), "L", ("F",), (Column("title", ("Title",)), layouts._date("at"),
                                                                 layouts._date("later")),
                              ("at",), layouts._video_ids())
    assert watched.time_column == "at" and watched.key == ("at",) and watched.txt_files == ("F",)
    assert watched.ids == layouts._video_ids() and watched.table == "t" and watched.description == ""


def _family(doc: dict) -> str:
    return detect_family(doc)


def test_each_layout_family_is_named_by_its_tell_tale_sections():
    assert _family({"Likes and Favorites": {"Favorite Collection": {}}}) == "D"
    assert _family({"Profile And Settings": {}, "Likes and Favorites": {"Collection": {}}}) == "D"
    assert _family({"Likes and Favorites": {"Favorite Comment": {}}}) == "D"
    assert _family({"Likes and Favorites": {"favorite location": {}}}) == "D"
    assert _family({"Likes and Favorites": {"Like List": {}}}) == "C"
    assert _family({"Profile And Settings": {}}) == "C"
    assert _family({"Your Activity": {}}) == "B"
    assert _family({"Activity": {"Comments": {}}}) == "A-activity"
    assert _family({"Activity": {"Comments": {}}, "Comment": {}}) == "A"
    assert _family({"Activity": {"Video Browsing History": {"VideoList": [{"VideoLink": "x"}]}}}) == "F"
    assert _family({"Activity": {"Video Browsing History": {"VideoList": [{"Link": "x"}]}}}) == "A"
    assert _family({"Activity": {"Video Browsing History": {"VideoList": []}}}) == "A"
    assert _family({"Activity": "x"}) == "A"
    assert _family({"Profile": {}, "Video": {}}) == "E"
    assert _family({"profile": {}}) == "E"
    assert _family({"Profile": {}, "Other": {}}) == "unknown"
    assert _family({}) == "unknown"


def test_family_f_is_recognised_from_a_big_list_still_on_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    archive = UserHistory(USER, seed=4).export(tmp_path, at=AT, family="F", container="bare")
    assert open_archive(archive.path, user_id=USER).family == "F"


def test_an_export_without_a_date_in_its_name_was_taken_at_its_newest_event(tmp_path):
    doc = {"Profile": {"Profile Info": {"ProfileMap": {"userName": USER}}},
           "Your Activity": {"Watch History": {"VideoList": [{"Date": "2025-03-01 10:00:00"},
                                                             {"date": "2025-03-02 11:00:00"}]},
                             "Searches": {"SearchList": [{"Date": "2025-02-01 00:00:00", "SearchTerm": "9999"},
                                                         {"Date": "not a time"}]}}}
    path = tmp_path / "user_data_tiktok.json"
    path.write_text(json.dumps(doc, indent=2))
    archive = open_archive(path)
    assert archive.exported_at == datetime(2025, 3, 2, 11, 0, tzinfo=timezone.utc)
    assert archive.name == "user_data_tiktok.json"


def test_an_export_without_any_dated_row_was_taken_at_its_files_time(tmp_path):
    path = tmp_path / "user_data_tiktok.json"
    path.write_text(json.dumps({"Profile": {"Profile Info": {"ProfileMap": {"userName": USER}}}}))
    os.utime(path, (1_700_000_000, 1_700_000_000))
    assert open_archive(path).exported_at == datetime.fromtimestamp(1_700_000_000, timezone.utc)


@pytest.mark.parametrize("fmt", ["json", "txt"])
def test_an_export_is_taken_at_the_time_its_folder_name_says(tmp_path, fmt):
    archive = UserHistory(USER, seed=4).export(tmp_path, at=AT, data_format=fmt)
    assert open_archive(archive.path).exported_at == AT
    given = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert open_archive(archive.path, exported_at=given).exported_at == given
