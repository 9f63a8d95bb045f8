"""Rows as ``records.py`` makes them, pinned value by value (issue 18, `make mutate`): cleaning, typing,
ids read from links, row keys (the MD5 derivation written out here), big lists read a block at a time,
rows dropped as already loaded or as repeats, and the rows that are not rows at all. Each test is
named after what a user would find wrong in their tables when it breaks."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tiktok_portability_source import records, settings
from tiktok_portability_source.archive import ArchiveError, LazyList, Section, jsonstream, open_archive
from tiktok_portability_source.fake.generator import UserHistory
from tiktok_portability_source.layouts import BY_TABLE, ENTITIES
from tiktok_portability_source.records import (
    KeySet,
    clean_text,
    drop_empty_rows,
    extract_id,
    gather,
    gather_arrow,
    key_text,
    keyed_table,
    md5_hex,
    parse_bools,
    parse_dates,
    parse_floats,
    parse_ints,
    parse_timestamps,
    row_key,
    row_keys,
    section_rows,
    section_tables,
    to_text_array,
    trim,
    typed_columns,
    utc,
)

USER = "user_a"
UTC = timezone.utc
TS = pa.timestamp("us", tz="UTC")


def md5_key(*parts: str) -> str:
    return hashlib.md5("\x1f".join(parts).encode()).hexdigest()


def epoch(text: str) -> str:
    return str(int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()))


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rows(table: str, items: list[dict], constants: dict | None = None) -> list[dict]:
    entity = BY_TABLE[table]
    constants = constants or {}
    out = section_rows(entity, [Section(entity, "test", items, constants)], USER, "sha-1", list(constants))
    return [] if out is None else out.to_pylist()


# --- text clean-up --------------------------------------------------------------------------------


def test_values_that_are_not_text_become_their_text_so_one_odd_row_cannot_fail_a_batch():
    assert to_text_array([None, "a", 5, 1.5, True, {"a": [1, "b"]}, [1, 2]]).to_pylist() == [
        None, "a", "5", "1.5", "True", '{"a":[1,"b"]}', "[1,2]"]
    assert to_text_array(["x", None]).to_pylist() == ["x", None]
    assert to_text_array(pa.array([7, None], pa.int64())).to_pylist() == ["7", None]
    assert to_text_array(pa.chunked_array([["a"], ["b"]])).to_pylist() == ["a", "b"]
    assert to_text_array(pa.chunked_array([["a"], ["b"]])).type == pa.string()
    deep: Any = []
    for _ in range(300):
        deep = [deep]
    assert to_text_array(["ok", deep]).to_pylist() == ["ok", None]  # deeper than JSON text can be written


def test_trimming_strips_unicode_and_separator_spaces_and_reads_a_slice_of_a_column():
    assert trim(pa.array(["  a b  ", "\tc\n", None])).to_pylist() == ["a b", "c", None]
    assert trim(pa.array(["\u00a0d\u2003", " é "])).to_pylist() == ["d", "é"]
    assert trim(pa.array(["\x1ce\x1f", "f"])).to_pylist() == ["e", "f"]
    assert trim(pa.array(["ab", "c\x1c"]).slice(1)).to_pylist() == ["c"]
    assert trim(pa.array(["é", " g "]).slice(1)).to_pylist() == ["g"]
    assert trim(pa.array(["\x1dh"], pa.large_string())).to_pylist() == ["h"]
    assert trim(pa.array([], pa.string())).to_pylist() == []
    assert trim(pa.array([None, None], pa.string())).to_pylist() == [None, None]


def test_every_way_of_writing_nothing_is_null_and_other_short_text_stays():
    values = [" None ", "N/A", "null", "NULL", "none", "n/a", "", "  ", "x", "Nonesuch", "nil", "0"]
    assert clean_text(pa.array(values)).to_pylist() == [None] * 8 + ["x", "Nonesuch", "nil", "0"]
    assert clean_text(pa.array(["None", "a long value"])).to_pylist() == [None, "a long value"]
    assert clean_text(pa.array(["n/a ", "https://x"])).to_pylist() == [None, "https://x"]
    assert clean_text(pa.array(["long values only"])).to_pylist() == ["long values only"]


# --- typing -----------------------------------------------------------------------------------------


def test_times_in_every_export_spelling_are_the_same_utc_instant():
    got = parse_timestamps(pa.array(["2025-01-02 03:04:05", "2025-01-02T03:04:05Z", "2025-01-02 03:04:05 UTC",
                                     "2025-01-02 03:04:05UTC", "2025-01-02T03:04:05", None, "19xx-01-02", "yesterday"]))
    assert got.type == TS
    assert got.to_pylist() == [when("2025-01-02 03:04:05")] * 5 + [None, None, None]
    plain = parse_timestamps(pa.array(["2024-02-29 23:59:59", None]))
    assert plain.type == TS and plain.to_pylist() == [when("2024-02-29 23:59:59"), None]


def test_birth_dates_read_as_dates_and_an_anonymised_year_is_null():
    got = parse_dates(pa.array(["01-Jan-1990", "31-Dec-2001", "19xx", None]))
    assert got.type == pa.date32() and got.to_pylist() == [date(1990, 1, 1), date(2001, 12, 31), None, None]


def test_counts_read_with_thousands_separators_and_anything_else_is_null():
    got = parse_ints(pa.array(["1,234", "-5", "0", "12a", "1.5", "9" * 18, "9" * 19, "", None]))
    assert got.type == pa.int64() and got.to_pylist() == [1234, -5, 0, None, None, int("9" * 18), None, None, None]


def test_prices_read_as_numbers_and_anything_else_is_null():
    got = parse_floats(pa.array(["0.99", "-1", "12.50", "1.", ".5", "1,5", "abc", None]))
    assert got.type == pa.float64() and got.to_pylist() == [0.99, -1.0, 12.5, None, None, None, None, None]


def test_yes_no_flags_read_in_every_spelling_and_anything_else_is_null():
    got = parse_bools(pa.array(["Yes", "on", "TRUE", "1", "y", "No", "OFF", "false", "0", "N", "maybe", None]))
    assert got.to_pylist() == [True] * 5 + [False] * 5 + [None, None]


def test_an_id_is_read_from_a_share_link_and_is_null_elsewhere():
    links = pa.array(["https://www.tiktokv.com/share/video/7001/", "https://www.tiktok.com/@u/video/7002?x=1",
                      "https://www.tiktokv.com/share/music/9/", None])
    assert extract_id(links, r"/video/(\d+)").to_pylist() == ["7001", "7002", None, None]


def test_a_field_spelt_two_ways_in_one_section_takes_the_first_value_present():
    items = [{"Date": "d1", "Link": "l1"}, {"date": "d2", "VideoLink": "v2"}, {"Link": None, "VideoLink": "v3"},
             {"Link": "l4", "VideoLink": "v4"}, {"Title": "t5"}]
    got = gather(items, BY_TABLE["watch_history"].columns)
    assert got == {"watched_at": ["d1", "d2", None, None, None], "link": ["l1", "v2", "v3", "l4", None],
                   "title": [None, None, None, None, "t5"]}
    table = pa.table({"VideoLink": ["v1", "v2", None], "Link": [None, "l2", None], "DATE": ["a", "b", "c"]})
    arrow = gather_arrow(table, BY_TABLE["watch_history"].columns)
    assert {k: v.to_pylist() for k, v in arrow.items()} == {
        "watched_at": ["a", "b", "c"], "link": ["v1", "l2", None], "title": [None, None, None]}


def test_typed_columns_keep_an_unreadable_time_as_raw_text_and_count_lines_of_a_photo_post():
    entity = BY_TABLE["posts"]
    raw = {c.name: [None, None, None] for c in entity.columns}
    raw.update(posted_at=["2025-01-01 00:00:00", "tomorrow", None], likes=["1,000", "many", None],
               media_links=["https://a/1.jpeg\nhttps://a/2.jpeg\nhttps://a/3.jpeg", "https://a/v.mp4", None],
               allow_duets=["Yes", "No", "N/A"])
    out = typed_columns(entity, raw)
    assert out["posted_at"].to_pylist() == [when("2025-01-01 00:00:00"), None, None]
    assert out["posted_at_raw"].to_pylist() == [None, "tomorrow", None]
    assert out["likes"].to_pylist() == [1000, None, None] and "likes_raw" not in out
    assert out["media_count"].to_pylist() == [3, 1, None]
    assert out["allow_duets"].to_pylist() == [True, False, None]
    assert "posted_at_raw" not in typed_columns(entity, {**raw, "posted_at": ["2025-01-01 00:00:00", None, None]})


def test_a_comment_reads_its_video_id_from_the_original_post_link_else_from_its_url():
    got = rows("comments", [
        {"Date": "2025-01-01 00:00:00", "Comment": "a", "originalPostUrl": "https://www.tiktokv.com/share/video/11/",
         "Url": "https://www.tiktokv.com/share/video/22/"},
        {"Date": "2025-01-01 00:00:01", "Comment": "b", "Url": "https://www.tiktokv.com/share/video/33/"},
        {"Date": "2025-01-01 00:00:02", "Comment": "c"}])
    assert [r["video_id"] for r in got] == ["11", "33", None]


def test_a_value_over_the_size_limit_refuses_the_archive_naming_the_column(monkeypatch):
    monkeypatch.setattr(settings, "MAX_VALUE_BYTES", 20)
    assert rows("searches", [{"Date": "2025-01-01 00:00:00", "SearchTerm": "x" * 20}])[0]["search_term"] == "x" * 20
    with pytest.raises(ArchiveError) as err:
        rows("searches", [{"Date": "2025-01-01 00:00:00", "SearchTerm": "x" * 21}])
    assert str(err.value) == ("searches.search_term holds a value of 21 bytes, over the limit of 20 "
                              "(TIKTOK_PORTABILITY_MAX_VALUE_BYTES): the export looks damaged; nothing of it was loaded")
    assert rows("searches", [{"Date": "2025-01-01 00:00:00"}])[0]["search_term"] is None  # all-null column


# --- row keys ------------------------------------------------------------------------------------------


def test_a_time_enters_a_key_as_epoch_seconds_and_numbers_as_their_text():
    assert key_text(pa.array([when("1970-01-01 00:00:01"), when("1969-12-31 23:59:59"), None], TS)).to_pylist() == [
        "1", "-1", None]
    assert key_text(pa.array([3, None], pa.int64())).to_pylist() == ["3", None]
    assert key_text(pa.array(["a"])).to_pylist() == ["a"]


@pytest.mark.parametrize("n", [1, 64, 65, 200])
def test_md5_of_every_key_text_is_the_hex_digest_of_its_utf8_whatever_the_count(n, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    records.release_memory(everywhere=True)  # the hashing connection is opened anew: in memory, no file
    texts = [f"user_ü\x1ft\x1f{i}" for i in range(n)]
    assert md5_hex(pa.array(texts)).to_pylist() == [hashlib.md5(t.encode()).hexdigest() for t in texts]
    assert md5_hex(pa.array(texts)).type == pa.string()
    assert list(tmp_path.iterdir()) == []


def test_a_row_key_is_the_md5_of_user_table_and_natural_key_with_null_as_a_zero_byte():
    columns = {"at": pa.array([when("2025-01-01 00:00:00"), None], TS), "video_id": pa.array(["7", None]),
               "link": pa.array(["l1", "l2"])}
    got = row_keys(USER, "watch_history", columns, ("at", "video_id|link"), 2).to_pylist()
    assert got == [md5_key(USER, "watch_history", epoch("2025-01-01 00:00:00"), "7"),
                   md5_key(USER, "watch_history", "\x00", "l2")]
    raw = {"at": ["2025-01-01 00:00:00", "19xx"]}
    assert row_keys(USER, "watch_history", columns, ("at", "link"), 2, raw).to_pylist() == [
        md5_key(USER, "watch_history", epoch("2025-01-01 00:00:00"), "l1"), md5_key(USER, "watch_history", "19xx", "l2")]
    assert row_keys(USER, "profile", columns, (), 2).to_pylist() == [md5_key(USER, "profile", "")] * 2
    assert row_keys(USER, "watch_history", columns, ("link",), 0).to_pylist() == []
    assert row_keys(USER, "watch_history", columns, ("link",), 0).type == pa.string()
    assert row_key(USER, "archives", "abc", "x") == md5_key(USER, "archives", "abc", "x")


def test_a_deleted_blocked_account_is_keyed_by_its_block_time_and_a_named_one_by_its_name():
    got = rows("blocked_accounts", [{"Date": "2025-01-01 00:00:00", "UserName": "N/A"},
                                    {"Date": "2025-01-02 00:00:00", "UserName": "user_1"}])
    assert [(r["username"], r["row_key"]) for r in got] == [
        (None, md5_key(USER, "blocked_accounts", epoch("2025-01-01 00:00:00"))),
        ("user_1", md5_key(USER, "blocked_accounts", "user_1"))]


def test_an_unreadable_time_keys_its_row_by_its_raw_text_so_two_such_rows_stay_apart():
    got = rows("searches", [{"Date": "19xx-01-01 10:00:00", "SearchTerm": "cats"},
                            {"Date": "19xx-01-02 10:00:00", "SearchTerm": "cats"},
                            {"Date": {"odd": 1}, "SearchTerm": "dogs"}])
    assert [r["searched_at_raw"] for r in got] == ["19xx-01-01 10:00:00", "19xx-01-02 10:00:00", '{"odd":1}']
    assert [r["row_key"] for r in got] == [
        md5_key(USER, "searches", "19xx-01-01 10:00:00", "cats"), md5_key(USER, "searches", "19xx-01-02 10:00:00", "cats"),
        md5_key(USER, "searches", "{'odd': 1}", "dogs")]
    undated = rows("searches", [{"SearchTerm": "fish"}, {"Date": "2025-01-01 00:00:00", "SearchTerm": "fish"},
                                {"Date": "19xx", "SearchTerm": "fish"}])
    assert [r["row_key"] for r in undated] == [
        md5_key(USER, "searches", "\x00", "fish"), md5_key(USER, "searches", epoch("2025-01-01 00:00:00"), "fish"),
        md5_key(USER, "searches", "19xx", "fish")]


# --- sections to rows ----------------------------------------------------------------------------------


def test_rows_of_several_sections_carry_each_sections_constants_and_the_archive_hash():
    entity = BY_TABLE["purchases"]
    sent = Section(entity, "send", [{"Date": "2025-01-01 00:00:00", "Price": "1.5"}], {"kind": "send_gift"})
    empty = Section(entity, "none", [], {"kind": "nothing"})
    bought = Section(entity, "buy", [{"Date": "2025-01-02 00:00:00", "Price": "0.99"},
                                     {"Date": "2025-01-03 00:00:00", "Price": "2"}], {"kind": "buy_gift"})
    plain = Section(entity, "plain", [{"Date": "2025-01-04 00:00:00", "Price": "3"}])
    (table,) = section_tables(entity, [sent, empty, bought, plain], USER, "sha-9")
    got = table.to_pylist()
    assert table.column_names[:2] == ["user_id", "row_key"]
    assert [(r["kind"], r["price"], r["archive_sha256"], r["user_id"]) for r in got] == [
        ("send_gift", 1.5, "sha-9", USER), ("buy_gift", 0.99, "sha-9", USER), ("buy_gift", 2.0, "sha-9", USER),
        (None, 3.0, "sha-9", USER)]
    assert got[0]["row_key"] == md5_key(USER, "purchases", epoch("2025-01-01 00:00:00"), "send_gift", "1.5")
    assert got[3]["row_key"] == md5_key(USER, "purchases", epoch("2025-01-04 00:00:00"), "\x00", "3")
    assert section_rows(entity, [empty], USER, "sha") is None
    assert list(section_tables(entity, [empty], USER, "sha")) == []


def test_a_key_column_no_item_has_is_null_in_the_key_not_a_failure():
    entity = BY_TABLE["direct_messages"]
    table = section_rows(entity, [Section(entity, "t", [{"Date": "2025-01-01 00:00:00", "From": "a", "Content": "hi"}])],
                         USER, "sha-1")
    assert table.schema.field("conversation").type == pa.string()
    got = table.to_pylist()
    assert got[0]["conversation"] is None
    assert got[0]["row_key"] == md5_key(USER, "direct_messages", "\x00", epoch("2025-01-01 00:00:00"), "a", "hi")


def test_the_schema_puts_user_and_key_first_and_not_null():
    table = keyed_table(USER, pa.array(["k1", "k2"]), {"x": pa.array([1, 2])})
    assert table.schema == pa.schema([pa.field("user_id", pa.string(), nullable=False),
                                      pa.field("row_key", pa.string(), nullable=False), pa.field("x", pa.int64())])
    assert table.to_pylist() == [{"user_id": USER, "row_key": "k1", "x": 1}, {"user_id": USER, "row_key": "k2", "x": 2}]
    assert utc(datetime(2025, 1, 1, tzinfo=UTC)).type == TS
    assert utc(datetime(2025, 1, 1, 3, tzinfo=timezone(timedelta(hours=2)))).as_py() == when("2025-01-01 01:00:00")


def test_an_item_with_no_value_is_no_row_and_one_value_is_enough():
    entity = BY_TABLE["searches"]
    table = pa.table({"user_id": ["u"] * 4, "searched_at": pa.array([None, when("2025-01-01 00:00:00"), None, None], TS),
                      "search_term": [None, None, "cats", None], "archive_sha256": ["s"] * 4})
    assert drop_empty_rows(table, entity).column("search_term").to_pylist() == [None, "cats"]
    assert drop_empty_rows(table, entity).num_rows == 2
    full = table.slice(1, 2)
    assert drop_empty_rows(full, entity) is full
    assert drop_empty_rows(pa.table({"user_id": ["u"]}), entity).num_rows == 1


# --- repeats -------------------------------------------------------------------------------------------


def _keys(*hexes: str) -> pa.Table:
    return pa.table({"row_key": list(hexes), "n": list(range(len(hexes)))})


def test_a_key_sent_once_is_never_sent_again_in_the_same_load():
    seen = KeySet()
    a, b, c = (hashlib.md5(x.encode()).hexdigest() for x in "abc")
    assert seen.first_seen(_keys(a, b, a)).column("n").to_pylist() == [0, 1]
    assert seen.first_seen(_keys(c, a, b, c)).column("n").to_pylist() == [0]
    assert seen.first_seen(_keys(a, b, c)).num_rows == 0
    fresh = _keys(hashlib.md5(b"d").hexdigest())
    assert seen.first_seen(fresh) is fresh


def test_keys_sharing_their_first_half_are_still_told_apart():
    seen = KeySet()
    x, y, z = "0" * 16 + "1" * 16, "0" * 16 + "2" * 16, "f" * 32
    assert seen.first_seen(_keys(x, z)).column("n").to_pylist() == [0, 1]
    assert seen.first_seen(_keys(y, x, y)).column("n").to_pylist() == [0]  # y is new; x and y again are not
    assert seen.whole is not None
    assert seen.first_seen(_keys(x, y, z, "e" * 32, "e" * 32)).column("n").to_pylist() == [3]
    clash = KeySet()
    assert clash.first_seen(_keys(x, y, x)).column("n").to_pylist() == [0, 1]  # clash inside one batch
    assert clash.first_seen(_keys(y, "a" * 32)).column("n").to_pylist() == [1]
    later = KeySet()
    assert later.first_seen(_keys(x)).num_rows == 1
    assert later.first_seen(_keys(y)).column("n").to_pylist() == [0]  # clashes with a key of an earlier batch
    assert later.first_seen(_keys(y, x)).num_rows == 0


def test_a_malformed_row_key_is_refused():
    with pytest.raises(ValueError, match="^row keys must be 32 hex characters$"):
        KeySet().first_seen(_keys("abc"))
    with pytest.raises(ValueError, match="row keys must be 32 hex characters"):
        KeySet().first_seen(_keys("a" * 32, "b" * 33))
    with pytest.raises(ValueError, match="row keys must be 32 hex characters"):
        KeySet().first_seen(pa.table({"row_key": pa.array(["a" * 32, None])}))


# --- big lists, read a block at a time ------------------------------------------------------------------


def _watch(n: int, first: int = 0) -> list[dict[str, Any]]:
    return [{"Date": f"2025-01-01 00:{(first + i) // 60 % 60:02d}:{(first + i) % 60:02d}",
             "Link": f"https://www.tiktokv.com/share/video/{7000 + first + i}/"} for i in range(n)]


def _big(tmp_path: Path, monkeypatch, videos: Any) -> Any:
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)  # every multi-line list is a big list
    monkeypatch.setattr(jsonstream, "_BLOCK_BYTES", 1 << 10)  # of many blocks
    path = tmp_path / "user_data_tiktok.json"
    doc = {"Profile": {"Profile Info": {"ProfileMap": {"userName": USER}}},
           "Your Activity": {"Watch History": {"VideoList": videos}}}
    path.write_text(json.dumps(doc, indent=2))
    opened = open_archive(path)
    (section,) = opened.sections_for("watch_history")
    assert isinstance(section.items, LazyList)
    return opened


def test_a_big_list_gives_every_row_once_with_the_keys_of_a_small_one(tmp_path, monkeypatch):
    items = _watch(120)
    opened = _big(tmp_path, monkeypatch, items)
    entity = BY_TABLE["watch_history"]
    tables = list(section_tables(entity, opened.sections_for("watch_history"), USER, opened.sha256))
    assert len(tables) > 2
    got = [r for t in tables for r in t.to_pylist()]
    expected = rows("watch_history", items)
    for r in expected:
        r["archive_sha256"] = opened.sha256
    assert got == expected
    assert got[5]["row_key"] == md5_key(USER, "watch_history", epoch("2025-01-01 00:00:05"), "7005")


def test_rows_of_a_big_list_inside_loaded_windows_are_dropped_and_the_rest_kept(tmp_path, monkeypatch):
    opened = _big(tmp_path, monkeypatch, _watch(120))
    entity = BY_TABLE["watch_history"]
    cut = when("2025-01-01 00:00:30")
    seen: list[int] = []

    def keep(times: pa.Array) -> pa.Array | None:
        seen.append(len(times))
        return pa.array([t is None or t >= cut for t in times.to_pylist()])

    got = [r for t in section_tables(entity, opened.sections_for("watch_history"), USER, opened.sha256, keep)
           for r in t.to_pylist()]
    assert [r["video_id"] for r in got] == [str(7000 + i) for i in range(30, 120)]
    assert sum(seen) >= 120
    nothing = [t for t in section_tables(entity, opened.sections_for("watch_history"), USER, opened.sha256,
                                         lambda times: None)]
    assert sum(t.num_rows for t in nothing) == 120


def test_a_big_list_with_stray_values_keeps_its_records_and_counts_the_rest_unreadable(tmp_path, monkeypatch):
    items: list[Any] = _watch(40)
    items[25:25] = ["not a record", 5, None]
    items[31]["Link"] = 12345  # a number where text is expected: read as its text
    opened = _big(tmp_path, monkeypatch, items)
    entity = BY_TABLE["watch_history"]
    (section,) = opened.sections_for("watch_history")
    got = [r for t in section_tables(entity, [section], USER, opened.sha256) for r in t.to_pylist()]
    assert len(got) == 40 and section.unreadable == 2
    assert [r["link"] for r in got if r["link"] == "12345"] == ["12345"]
    dropped = [r for t in section_tables(entity, [section], USER, opened.sha256,
                                         lambda times: pa.array([False] * len(times))) for r in t.to_pylist()]
    assert dropped == []


def test_a_big_list_without_a_time_column_keeps_every_row_when_windows_are_given(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    monkeypatch.setattr(jsonstream, "_BLOCK_BYTES", 1 << 10)
    path = tmp_path / "user_data_tiktok.json"
    tags = [{"HashtagName": f"tag{i}", "HashtagLink": f"https://www.tiktok.com/challenge/{i}"} for i in range(60)]
    path.write_text(json.dumps({"Profile": {"Profile Info": {"ProfileMap": {"userName": USER}}},
                                "Your Activity": {"Hashtag": {"HashtagList": tags}}}, indent=2))
    opened = open_archive(path)
    entity = BY_TABLE["hashtags"]
    got = [r for t in section_tables(entity, opened.sections_for("hashtags"), USER, opened.sha256,
                                     lambda times: pa.array([False] * len(times))) for r in t.to_pylist()]
    assert [r["hashtag_id"] for r in got] == [str(i) for i in range(60)]


# --- a generated export ----------------------------------------------------------------------------------


def test_every_table_of_a_generated_export_has_the_generators_rows(tmp_path):
    history = UserHistory(USER, seed=5)
    at = datetime(2025, 12, 1, tzinfo=UTC)
    for fmt in ("json", "txt"):
        archive = history.export(tmp_path / fmt, at=at, family="D", data_format=fmt)
        opened = open_archive(archive.path)
        got = {}
        for entity in ENTITIES:
            tables = section_tables(entity, opened.sections_for(entity.table), USER, opened.sha256)
            got[entity.table] = [r for t in tables for r in t.to_pylist()]
        for table in ("posts", "comments", "direct_messages"):
            expected = history.expected_rows(table, [archive])
            names = list(expected[0])
            assert sorted((tuple(r[k] for k in names) for r in got[table]), key=repr) == \
                sorted((tuple(e[k] for k in names) for e in expected), key=repr), (fmt, table)
        distinct = {t: len({r["row_key"] for r in got[t]}) for t in got}
        for table, count in archive.expected.items():
            if table in ("followers", "following", "blocked_accounts", "autofill"):
                continue  # snapshots: a deleted account is one row per date (helpers.py), none opted in
            assert distinct[table] == count, (fmt, table)


def test_a_big_list_keys_unreadable_or_missing_times_like_a_small_one(tmp_path, monkeypatch):
    items = _watch(60)
    items[3]["Date"] = "19xx-01-01 00:00:03"
    items[40]["Date"] = "19xx-01-01 00:00:40"
    del items[50]["Date"]
    opened = _big(tmp_path, monkeypatch, items)
    entity = BY_TABLE["watch_history"]
    got = [r for t in section_tables(entity, opened.sections_for("watch_history"), USER, opened.sha256)
           for r in t.to_pylist()]
    assert [r.get("watched_at_raw") for r in got if r["watched_at"] is None] == ["19xx-01-01 00:00:03",
                                                                           "19xx-01-01 00:00:40", None]
    assert got[3]["row_key"] == md5_key(USER, "watch_history", "19xx-01-01 00:00:03", "7003")
    assert got[40]["row_key"] == md5_key(USER, "watch_history", "19xx-01-01 00:00:40", "7040")
    assert got[50]["row_key"] == md5_key(USER, "watch_history", "\x00", "7050")
    assert got[4]["row_key"] == md5_key(USER, "watch_history", epoch("2025-01-01 00:00:04"), "7004")


def test_a_row_whose_window_check_says_nothing_is_kept_not_dropped(tmp_path, monkeypatch):
    opened = _big(tmp_path, monkeypatch, _watch(80))
    entity = BY_TABLE["watch_history"]

    def keep(times: pa.Array) -> pa.Array:
        return pa.array([None if t.second % 2 else False for t in times.to_pylist()], pa.bool_())

    got = [r for t in section_tables(entity, opened.sections_for("watch_history"), USER, opened.sha256, keep)
           for r in t.to_pylist()]
    assert [r["video_id"] for r in got] == [str(7000 + i) for i in range(80) if i % 2]


def test_rows_of_a_block_read_the_python_way_are_dropped_by_time_like_any_other(tmp_path, monkeypatch):
    items: list[Any] = _watch(80)
    for i in range(0, 80, 10):
        items[i]["Link"] = 7000 + i  # a number where text is expected: the block is read the Python way
    items[15:15] = ["stray"]
    opened = _big(tmp_path, monkeypatch, items)
    entity = BY_TABLE["watch_history"]
    cut = when("2025-01-01 00:00:25")

    def keep(times: pa.Array) -> pa.Array:
        return pa.array([t is None or t >= cut for t in times.to_pylist()])

    got = [r for t in section_tables(entity, opened.sections_for("watch_history"), USER, opened.sha256, keep)
           for r in t.to_pylist()]
    assert [(r["watched_at"].second, r["link"]) for r in got] == [
        (i % 60, str(7000 + i) if i % 10 == 0 else f"https://www.tiktokv.com/share/video/{7000 + i}/")
        for i in range(25, 80)]


def test_a_big_list_reads_a_late_field_holding_a_number_as_a_small_list_would(tmp_path, monkeypatch):
    items: list[Any] = _watch(60)
    items[45]["Title"] = 1.0  # a field the first item lacks, holding a number: "1.0", as Python writes it
    items[50]["Title"] = "plain"
    opened = _big(tmp_path, monkeypatch, items)
    entity = BY_TABLE["watch_history"]
    got = [r for t in section_tables(entity, opened.sections_for("watch_history"), USER, opened.sha256)
           for r in t.to_pylist()]
    assert [(i, r["title"]) for i, r in enumerate(got) if r["title"] is not None] == [(45, "1.0"), (50, "plain")]
    assert [r["title"] for r in rows("watch_history", items)][45] == "1.0"


def test_stray_values_in_several_blocks_of_a_big_list_are_all_counted(tmp_path, monkeypatch):
    items: list[Any] = _watch(100)
    items[90:90] = ["late stray"]
    items[5:5] = ["early stray", 42]
    opened = _big(tmp_path, monkeypatch, items)
    entity = BY_TABLE["watch_history"]
    (section,) = opened.sections_for("watch_history")
    got = [r for t in section_tables(entity, [section], USER, opened.sha256) for r in t.to_pylist()]
    assert len(got) == 100 and section.unreadable == 3


def test_sections_with_and_without_constants_fill_the_others_rows_with_null():
    entity = BY_TABLE["purchases"]
    plain = Section(entity, "plain", [{"Date": "2025-01-04 00:00:00", "Price": "3"}])
    bought = Section(entity, "buy", [{"Date": "2025-01-02 00:00:00", "Price": "0.99"}], {"kind": "buy_gift"})
    got = section_rows(entity, [plain, bought], USER, "sha").to_pylist()  # constants not announced up front
    assert [(r["kind"], r["price"]) for r in got] == [(None, 3.0), ("buy_gift", 0.99)]


def test_a_big_dm_thread_keeps_its_conversation_on_every_row(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    monkeypatch.setattr(jsonstream, "_BLOCK_BYTES", 1 << 10)
    messages = [{"Date": f"2025-01-01 00:00:{i:02d}", "From": "user_b" if i % 2 else USER, "Content": f"m{i}"}
                for i in range(40)]
    path = tmp_path / "user_data_tiktok.json"
    path.write_text(json.dumps({"Profile": {"Profile Info": {"ProfileMap": {"userName": USER}}},
                                "Direct Message": {"Direct Messages": {"ChatHistory": {
                                    "Chat History with Group_Chat_9:": messages}}}}, indent=2))
    opened = open_archive(path)
    entity = BY_TABLE["direct_messages"]
    (section,) = opened.sections_for("direct_messages")
    assert isinstance(section.items, LazyList)
    got = [r for t in section_tables(entity, [section], USER, opened.sha256) for r in t.to_pylist()]
    assert [(r["conversation"], r["is_group"], r["content"]) for r in got] == [
        ("Group_Chat_9", True, f"m{i}") for i in range(40)]
    assert got[1]["row_key"] == md5_key(USER, "direct_messages", "Group_Chat_9", epoch("2025-01-01 00:00:01"),
                                        "user_b", "m1")
