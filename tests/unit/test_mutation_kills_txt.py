"""The TXT grammar and TXT exports pinned line by line (issue 18, `make mutate`): labels and values,
records and sub-sections, both DM grammars, files no table reads and files in a grammar this version
does not know. Each test is named after what a user would find cut, merged or missing when it breaks."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tiktok_portability_source.archive import ArchiveError, open_archive
from tiktok_portability_source.archive.model import NO_TABLE
from tiktok_portability_source.archive.txt import (
    _label_of,
    _txt_labels,
    decode_text,
    is_no_data,
    parse_direct_messages,
    parse_records,
)
from tiktok_portability_source.fake.generator import TXT_GENERATIONS, UserHistory
from tiktok_portability_source.layouts import BY_TABLE

USER = "user_a"
AT = datetime(2025, 12, 1, tzinfo=timezone.utc)
PROFILE = "Username: user_a\nBio Description: hello: world\n"


def folder(tmp_path: Path, files: dict[str, str | bytes], name: str = "export") -> Path:
    root = tmp_path / name
    for member, text in files.items():
        path = root / member
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return root


def items_of(archive, table: str) -> list[dict]:
    return [dict(i) for s in archive.sections_for(table) for i in s.items]


# --- lines ------------------------------------------------------------------------------------------


def test_a_label_line_splits_on_its_first_colon_and_a_url_is_no_label():
    assert _label_of("Date: 2025-01-01 10:00:00") == ("Date", "2025-01-01 10:00:00")
    assert _label_of("HashTag Link:: https://x/tag/1") == ("HashTag Link", "https://x/tag/1")
    assert _label_of("  Title :  a: b  ") == ("Title", "a: b")
    assert _label_of("Empty:") == ("Empty", "")
    assert _label_of("Title: XOXO: x") == ("Title", "XOXO: x")
    assert _label_of("Title:XO") == ("Title", "XO")
    assert _label_of("https://cdn.example/a.jpeg") is None
    assert _label_of("http://x") is None
    assert _label_of("no colon here") is None
    assert _label_of("12 apples: many") is None  # a word first
    assert _label_of("[bracket]: x") is None and _label_of("a/b: x") is None
    assert _label_of("L" + "x" * 59 + ": v") == ("L" + "x" * 59, "v")
    assert _label_of("L" + "x" * 60 + ": v") is None  # a label is short
    assert _label_of("Ünïcode Label: v") == ("Ünïcode Label", "v")


def test_no_data_sentences_in_every_language_are_recognised_and_nothing_else():
    for line in ("You have no data in this section", "you have no data in this section.",
                 "Dit gedeelte bevat geen gegevens", "Er staan geen gegevens in dit gedeelte",
                 "Du hast keine Daten in diesem Bereich"):
        assert is_no_data(line), line
    for line in ("You have data in this section", "Date: 2025-01-01", "Du hast Daten"):
        assert not is_no_data(line), line


def test_text_is_read_as_utf8_or_in_the_encoding_its_bom_names_and_bad_bytes_are_named():
    assert decode_text("Date: é".encode(), "a.txt") == "Date: é"
    assert decode_text(b"\xef\xbb\xbfDate: x", "a.txt") == "Date: x"
    assert decode_text("Date: ü".encode("utf-16"), "a.txt") == "Date: ü"
    assert decode_text("Date: ü".encode("utf-32"), "a.txt") == "Date: ü"
    with pytest.raises(ValueError, match=r"^Watch History.txt is not valid UTF-8 text \(byte 3\)$"):
        decode_text(b"abc\xff", "Watch History.txt")
    with pytest.raises(ValueError, match=r"^b.txt is not valid UTF-16 text \(byte 4\)$"):
        decode_text(b"\xff\xfeA\x00\x00\xd8", "b.txt")
    with pytest.raises(ValueError, match=r"^c.txt is not valid UTF-8 text \(byte 2\)$"):
        decode_text(b"\xef\xbb\xbfab\xff", "c.txt")


# --- records -----------------------------------------------------------------------------------------


def test_records_are_split_by_blank_lines_and_by_a_repeated_label():
    text = "Date: 1\nLink: a\n\n\nDate: 2\nLink: b\nDate: 3\nLink: c\n"
    parsed = parse_records(text, {"date", "link"})
    assert parsed.records == [{"date": "1", "link": "a"}, {"date": "2", "link": "b"}, {"date": "3", "link": "c"}]
    assert parsed.headers == [None, None, None] and parsed.unplaced_lines == 0
    assert parsed.labels == {"date": "Date", "link": "Link"} and parsed.is_empty_sentinel is False


def test_an_empty_value_is_a_field_and_a_bare_label_at_a_blocks_start_is_a_header():
    text = "Send Gifts History:\nDate: 1\nPrice: \n\nBuy Gifts History:\r\nDate: 2\nPrice: 3\n"
    parsed = parse_records(text, {"date", "price"})
    assert parsed.records == [{"date": "1", "price": ""}, {"date": "2", "price": "3"}]
    assert parsed.headers == ["Send Gifts History", "Buy Gifts History"]
    known = parse_records("Price:\nDate: 4\n", {"date", "price"})
    assert known.records == [{"price": "", "date": "4"}] and known.headers == [None]  # a known label: a field
    spaced = parse_records("Note: \nDate: 5\n", {"date"})
    assert spaced.records == [{"note": "", "date": "5"}]  # "Label: " with its space: an empty field


def test_a_header_line_without_colon_opens_a_sub_section_and_a_bracketed_note_is_skipped():
    text = ("(Note: activity may take days to appear.)\nWatch History\nDate: 1\n\n"
            "Other Things:\nDate: 2\n(a note inside a record)\n")
    parsed = parse_records(text, {"date"})
    assert parsed.records == [{"date": "1"}, {"date": "2\n(a note inside a record)"}]
    assert parsed.headers == ["Watch History", "Other Things"] and parsed.unplaced_lines == 0
    numbered = parse_records("2023 Purchases:\nDate: 1\n\n12 ItemsX:\nDate: 2\n", {"date"})  # a digit first: no label
    assert numbered.records == [{"date": "1"}, {"date": "2"}] and numbered.unplaced_lines == 0
    assert numbered.headers == ["2023 Purchases", "12 ItemsX"]


def test_a_line_that_belongs_nowhere_is_counted_not_dropped():
    parsed = parse_records("odd: line: here\nDate: 1\n", {"date"})
    assert parsed.records == [{"odd": "line: here", "date": "1"}]
    parsed = parse_records("http://x/a: b\nDate: 1\n", {"date"})
    assert parsed.records == [{"date": "1"}] and parsed.unplaced_lines == 1
    parsed = parse_records("http://x/a: b\n\n12: c\n\nDate: 1\n", {"date"})
    assert parsed.records == [{"date": "1"}] and parsed.unplaced_lines == 2


def test_a_no_data_sentence_ends_a_record_and_marks_an_empty_file():
    parsed = parse_records("You have no data in this section\n", {"date"})
    assert parsed.records == [] and parsed.is_empty_sentinel is True
    parsed = parse_records("Date: 1\nYou have no data in this section\nLink: x\n", {"date", "link"})
    assert parsed.records == [{"date": "1"}, {"link": "x"}] and parsed.is_empty_sentinel is False
    assert parse_records("", {"date"}).is_empty_sentinel is False


def test_free_text_keeps_lines_shaped_like_unknown_labels_but_a_known_label_starts_a_field():
    text = "Comment: first\nsmile: yes\nDate: 2025-01-01\nLink: x\nmore text\n"
    parsed = parse_records(text, {"comment", "date", "link"})
    assert parsed.records == [{"comment": "first\nsmile: yes", "date": "2025-01-01", "link": "x\nmore text"}]
    parsed = parse_records("Comment:\nsecond line\n", {"comment"})
    assert parsed.records == [{"comment": "second line"}]
    parsed = parse_records("Link: a\nLabel Two: b\n", {"link"})
    assert parsed.records == [{"link": "a", "labeltwo": "b"}]
    assert parsed.labels == {"link": "Link", "labeltwo": "Label Two"}


def test_the_labels_a_table_knows_are_its_columns_keys_and_the_date():
    assert _txt_labels(BY_TABLE["comments"]) == frozenset(
        {"date", "comment", "photo", "url", "video", "sticker", "originalposturl", "originalpostlink"})
    assert "date" in _txt_labels(BY_TABLE["off_tiktok_activity"])


# --- direct messages ------------------------------------------------------------------------------------


def test_messages_in_both_grammars_with_times_in_every_spelling():
    text = (">>> Chat History with friend_a:\n[2022-01-01 10:00:00] friend_a: old: style\n"
            ">>>Chat History with friend_b ::\n2025-12-20T23:09:06Z friend_b: new\n"
            "2025-12-20 23:09:07UTC user_a:\n2025-12-20 23:09:08 friend_b: x:y\n\n"
            ">> chat history with friend_a:\n2025-12-21 00:00:00 UTC friend_a: again\n")
    parsed = parse_direct_messages(text)
    assert parsed.unplaced_lines == 0
    assert parsed.threads == {
        "friend_a": [{"date": "2022-01-01 10:00:00", "from": "friend_a", "content": "old: style"},
                     {"date": "2025-12-21 00:00:00 UTC", "from": "friend_a", "content": "again"}],
        "friend_b": [{"date": "2025-12-20T23:09:06Z", "from": "friend_b", "content": "new"},
                     {"date": "2025-12-20 23:09:07UTC", "from": "user_a", "content": ""},
                     {"date": "2025-12-20 23:09:08", "from": "friend_b", "content": "x:y"}]}


def test_a_message_spanning_lines_keeps_every_line_as_written():
    text = (">>> Chat History with f:\n2025-01-01 00:00:00 UTC f: one\n  two  \r\n2025-01-01 00:00:01 UTC f: :three\n"
            "You have no data in this section\n")
    assert parse_direct_messages(text).threads == {"f": [
        {"date": "2025-01-01 00:00:00 UTC", "from": "f", "content": "one\n  two  "},
        {"date": "2025-01-01 00:00:01 UTC", "from": "f", "content": ":three"}]}


def test_lines_before_any_thread_or_message_are_counted():
    parsed = parse_direct_messages("2025-01-01 00:00:00 UTC f: orphan\n>>> Chat History with g:\nnot a message\n")
    assert parsed.threads == {"g": []} and parsed.unplaced_lines == 2


# --- whole TXT exports ----------------------------------------------------------------------------------


def test_a_txt_export_reads_each_file_into_its_table_with_sub_sections_and_constants(tmp_path):
    root = folder(tmp_path, {
        "Profile/Profile Info.txt": PROFILE,
        "Activity/Purchases.txt": ("Send Gifts History:\nDate: 2025-01-01 00:00:00\nPrice: 1\n\n"
                                   "Buy Gifts History:\nDate: 2025-01-02 00:00:00\nPrice: 2\n"),
        "Activity/Video Browsing History.txt": "Date: 2025-01-03 00:00:00\nLink: https://x/video/1\n",
        "Activity/Hashtag.txt": "Hashtag Name: a\nHashtag Link: https://x/challenge/1\n",
        "Ads/Ad Interests.txt": "Ad Interest Categories: Food|Travel\n",
    })
    archive = open_archive(root)
    assert (archive.user_id, archive.data_format, archive.family) == (USER, "txt", "txt-1")
    assert len(archive.sha256) == 64 and archive.sha256 == open_archive(root).sha256
    got = [(s.path, s.constants, s.items) for s in archive.sections_for("purchases")]
    assert {s.entity.table for s in archive.sections_for("purchases")} == {"purchases"}
    assert got == [("Activity/Purchases.txt › Send Gifts History", {"kind": "send_gift"},
                    [{"date": "2025-01-01 00:00:00", "price": "1"}]),
                   ("Activity/Purchases.txt › Buy Gifts History", {"kind": "buy_gift"},
                    [{"date": "2025-01-02 00:00:00", "price": "2"}])]
    assert items_of(archive, "watch_history") == [{"date": "2025-01-03 00:00:00", "link": "https://x/video/1"}]
    assert archive.sections_for("watch_history")[0].path == "Activity/Video Browsing History.txt"
    assert items_of(archive, "ad_interests") == [{"adinterestcategories": "Food"}, {"adinterestcategories": "Travel"}]
    assert items_of(archive, "profile") == [{"username": USER, "biodescription": "hello: world"}]
    assert archive.unparsed == []


@pytest.mark.parametrize(("marker", "generation"), [("Video Browsing", "txt-2022"), ("Browsing History", "txt-2"),
                                                   ("Kijkgeschiedenis", "txt-nl"), ("Watch History", "txt-2025"),
                                                   ("Searches", "txt")])
def test_the_generation_of_a_txt_export_is_named_by_its_watch_history_file(tmp_path, marker, generation):
    root = folder(tmp_path, {"Profile Info.txt": PROFILE, f"{marker}.txt": "Date: 2025-01-01 00:00:00\n"})
    assert open_archive(root).family == generation


def test_only_the_first_profile_record_counts_and_settings_are_one_item_per_label(tmp_path):
    root = folder(tmp_path, {"Profile Info.txt": PROFILE + "\nUsername: someone_else\n",
                             "Settings.txt": "Who Can Comment: Friends\nPrivate Account: On\n\nInterface Language: nl\n"})
    archive = open_archive(root)
    assert items_of(archive, "profile") == [{"username": USER, "biodescription": "hello: world"}]
    assert [(s.entity.table, s.path) for s in archive.sections_for("settings")] == [("settings", "Settings.txt")]
    assert items_of(archive, "settings") == [
        {"Setting": "Who Can Comment", "SettingKey": "whocancomment", "Value": "Friends"},
        {"Setting": "Private Account", "SettingKey": "privateaccount", "Value": "On"},
        {"Setting": "Interface Language", "SettingKey": "interfacelanguage", "Value": "nl"}]


def test_dm_threads_of_a_txt_export_carry_conversation_and_group_and_count_stray_lines(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    root = folder(tmp_path, {"Profile Info.txt": PROFILE, "Direct Messages.txt": (
        "a stray first line\n>>> Chat History with friend_a::\n2025-01-01 00:00:00 UTC friend_a: hi\n"
        ">>> Chat History with Group Chat 5::\n2025-01-02 00:00:00 UTC user_a: all\n")})
    archive = open_archive(root)
    got = [(s.path, s.report_path, s.constants, s.items, s.unreadable) for s in archive.sections_for("direct_messages")]
    assert {s.entity.table for s in archive.sections_for("direct_messages")} == {"direct_messages"}
    assert "Direct Messages.txt: 1 lines fit no record and were not loaded (counted in load_report)" in caplog.messages
    assert got == [
        ("Direct Messages.txt › friend_a", "Direct Messages.txt", {"conversation": "friend_a", "is_group": False},
         [{"date": "2025-01-01 00:00:00 UTC", "from": "friend_a", "content": "hi"}], 1),
        ("Direct Messages.txt › Group Chat 5", "Direct Messages.txt", {"conversation": "Group Chat 5", "is_group": True},
         [{"date": "2025-01-02 00:00:00 UTC", "from": "user_a", "content": "all"}], 0)]


def test_stray_lines_of_a_records_file_are_counted_on_its_first_section(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    root = folder(tmp_path, {"Profile Info.txt": PROFILE, "Purchases.txt": (
        "http://x/a: b\nSend Gifts History:\nDate: 2025-01-01 00:00:00\n\nBuy Gifts History:\nDate: 2025-01-02 00:00:00\n")})
    archive = open_archive(root)
    assert [(s.path, s.unreadable) for s in archive.sections_for("purchases")] == [
        ("Purchases.txt › Send Gifts History", 1), ("Purchases.txt › Buy Gifts History", 0)]
    root = folder(tmp_path, {"Profile Info.txt": "http://x/a: b\n" + PROFILE, "Settings.txt": "http://x/b: c\nA: 1\n"},
                  "second")
    archive = open_archive(root)
    assert [(s.entity.table, s.path, s.unreadable) for s in archive.sections_for("profile")] == [
        ("profile", "Profile Info.txt", 1)]
    assert "Purchases.txt: 1 lines fit no record and were not loaded (counted in load_report)" in caplog.messages
    assert [s.unreadable for s in archive.sections_for("settings")] == [1]


def test_a_table_file_in_an_unknown_grammar_is_reported_with_its_line_count_not_dropped(tmp_path, caplog):
    root = folder(tmp_path, {"Profile Info.txt": PROFILE, "Searches.txt": "http://x/a: b\n\n  \nhttp://x/c: d\n",
                             "Direct Messages.txt": '{"from": "a"}\n{"from": "b"}\n'})
    with caplog.at_level(logging.WARNING):
        archive = open_archive(root)
    assert [(u.path, u.item_count, u.size_bytes, u.reason) for u in archive.unparsed] == [
        ("Direct Messages.txt", 2, 28, "read as direct_messages, but no record could be read from its 2 lines: a format "
                                       "this version does not know"),
        ("Searches.txt", 2, 32, "read as searches, but no record could be read from its 2 lines: a format this "
                                "version does not know")]
    assert archive.sections_for("searches") == [] and archive.sections_for("direct_messages") == []


def test_files_no_table_reads_are_counted_and_empty_or_undecodable_ones_cost_only_themselves(tmp_path, caplog):
    root = folder(tmp_path, {"Profile Info.txt": PROFILE, "Future Feature.txt": "A: 1\n\nA: 2\nB: 3\n",
                             "Searches.txt": "You have no data in this section\n", "Likes.txt": b"Date: \xff\n",
                             "Comments.txt": "", "A/no-data.txt": "You have no data in this section\n",
                             "Following.txt": "Date: 2025-01-01 00:00:00\nUsername: user_b\n"})
    with caplog.at_level(logging.WARNING):
        archive = open_archive(root)
    assert [(u.path, u.item_count, u.size_bytes, u.reason) for u in archive.unparsed] == [
        ("Future Feature.txt", 2, 16, NO_TABLE), ("Likes.txt", 0, 8, "not valid UTF-8 text (byte 6)")]
    assert archive.sections_for("searches") == [] and archive.sections_for("comments") == []
    assert items_of(archive, "following") == [{"date": "2025-01-01 00:00:00", "username": "user_b"}]
    assert ("export: 1 section no table reads was recorded in unparsed_sections (counted, not loaded): "
            "Future Feature.txt (2)") in caplog.messages


def test_a_folder_of_txt_files_none_of_which_tiktok_writes_is_refused(tmp_path):
    root = folder(tmp_path, {"notes.txt": "A: 1\n", "todo.txt": "B: 2\n"})
    with pytest.raises(ArchiveError) as err:
        open_archive(root)
    assert str(err.value) == ("export: none of its 2 .txt files is one TikTok writes (such as 'Watch History.txt'); "
                              "is this a TikTok export? If it is one in a layout this version does not know, please "
                              "report it")
    only_no_data = folder(tmp_path, {"no-data.txt": "You have no data in this section\n"}, "nodata")
    assert open_archive(only_no_data, user_id=USER).sections == {}


@pytest.mark.parametrize("generation", TXT_GENERATIONS)
def test_every_txt_generation_gives_the_generators_messages_comments_and_posts(tmp_path, generation):
    history = UserHistory(USER, seed=9)
    archive = history.export(tmp_path, at=AT, data_format="txt", txt_generation=generation)
    read = open_archive(archive.path, **({} if archive.username else {"user_id": USER}))
    assert read.family == f"txt-{generation}"
    assert read.sha256 == hashlib.sha256(archive.path.read_bytes()).hexdigest()
    messages = [(i["from"], i["content"]) for s in read.sections_for("direct_messages") for i in s.items]
    expected = [(m["sender"], m["content"]) for m in history.expected_rows("direct_messages", [archive])]
    assert sorted(messages) == sorted(expected)
    threads = {s.constants["conversation"] for s in read.sections_for("direct_messages")}
    assert threads == {m["conversation"] for m in history.expected_rows("direct_messages", [archive])}
    comments = sorted(i["comment"] for s in read.sections_for("comments") for i in s.items)
    assert comments == sorted(c["comment"] for c in history.expected_rows("comments", [archive]))
    assert sum(len(s.items) for s in read.sections_for("posts")) == archive.expected["posts"]
