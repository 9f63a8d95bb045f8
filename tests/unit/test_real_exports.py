"""Facts learned from real exports (each one a generator quirk), loaded end to end, and the load report
that keeps every loss visible: a section in a format the reader does not know costs only itself."""

from __future__ import annotations

import logging
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from support.db import sql
from tiktok_portability_source.fake.generator import UserHistory
from tiktok_portability_source.loader import load_archives

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)


def _load(new_pipeline, tmp_path: Path, **export):
    history = UserHistory("user_a", seed=11)
    archive = history.export(tmp_path / "in", at=AT, **export)
    result = load_archives(new_pipeline(), [archive.path], user_id=None if archive.username else "user_a")
    return history, archive, result, tmp_path / "t.duckdb"


def test_a_2022_txt_zip_with_leading_slashes_loads_every_table(tmp_path, new_pipeline):
    history, archive, result, db = _load(new_pipeline, tmp_path, data_format="txt", txt_generation="2022")
    with zipfile.ZipFile(archive.path) as zf:
        names = zf.namelist()
    assert names and all(n.startswith("/") for n in names)
    assert "/Activity/Video Browsing.txt" in names and "/Activity/Sharing.txt" in names
    assert archive.expected["watch_history"] > 0 and archive.expected["shares"] > 0
    for table, n in archive.expected.items():
        assert result.after.get(table, 0) == n, table
    assert sql(db, "SELECT family FROM tiktok.archives") == [("txt-2022",)]


@pytest.mark.parametrize("generation", ["2", "2025", "nl"])
def test_current_txt_direct_messages_load_every_message_with_its_whole_text(tmp_path, new_pipeline, generation):
    history, archive, result, db = _load(new_pipeline, tmp_path, data_format="txt", txt_generation=generation)
    expected = history.expected_rows("direct_messages", [archive])
    assert expected and any("\n" in m["content"] for m in expected)
    rows = sql(db, "SELECT conversation, sent_at, sender, content FROM tiktok.direct_messages")
    assert sorted((r[0], r[1], r[2], r[3]) for r in rows) == \
        sorted((m["conversation"], m["sent_at"], m["sender"], m["content"]) for m in expected)


@pytest.mark.parametrize(("fmt", "generation"), [("json", None), ("txt", "2025"), ("txt", "2")])
def test_posts_keep_every_field_and_every_image_of_a_photo_post(tmp_path, new_pipeline, fmt, generation):
    kwargs = {"txt_generation": generation} if generation else {}
    history, archive, result, db = _load(new_pipeline, tmp_path, family="D", data_format=fmt, **kwargs)
    expected = history.expected_rows("posts", [archive])
    assert any((p["media_count"] or 0) > 1 for p in expected)
    assert any(p["add_yours_text"] for p in expected)
    names = ["posted_at", "likes", "who_can_view", "allow_comments", "allow_stitches", "allow_duets", "allow_stickers",
             "allow_sharing_to_story", "sound", "title", "add_yours_text", "media_links", "media_count"]
    rows = sql(db, f"SELECT {', '.join(names)} FROM tiktok.posts ORDER BY posted_at")
    assert rows == [tuple(p[n] for n in names) for p in sorted(expected, key=lambda p: p["posted_at"])]
    assert sql(db, "SELECT count(*) FROM tiktok.posts WHERE posted_at IS NULL") == [(0,)]


@pytest.mark.parametrize(("fmt", "generation"), [("json", None), ("txt", "2025"), ("txt", "2022")])
def test_multi_line_comments_keep_every_line(tmp_path, new_pipeline, fmt, generation):
    kwargs = {"txt_generation": generation} if generation else {}
    history, archive, result, db = _load(new_pipeline, tmp_path, data_format=fmt, **kwargs)
    expected = history.expected_rows("comments", [archive])
    assert any("\n" in c["comment"] for c in expected)
    rows = sql(db, "SELECT commented_at, comment FROM tiktok.comments")
    # two comments may share a second (the generator writes such twins): compared as sorted lists
    assert sorted(rows) == sorted((c["commented_at"], c["comment"]) for c in expected)
    assert len({t for t, _ in rows}) < len(rows)


@pytest.mark.parametrize(("fmt", "generation"), [("json", None), ("txt", "2025"), ("txt", "2022")])
def test_deleted_accounts_are_rows_without_a_name(tmp_path, new_pipeline, fmt, generation):
    kwargs = {"txt_generation": generation} if generation else {}
    history, archive, result, db = _load(new_pipeline, tmp_path, data_format=fmt, **kwargs)
    for table in ("followers", "following"):
        deleted = sql(db, f"SELECT username, followed_at FROM tiktok.{table} WHERE deleted_account")
        assert deleted and all(name is None and when is not None for name, when in deleted), table
        assert result.after[table] == archive.expected[table]
    blocked = sql(db, "SELECT count(*) FROM tiktok.blocked_accounts WHERE username IS NULL AND blocked_at IS NOT NULL")
    assert blocked[0][0] >= 1 and result.after["blocked_accounts"] == archive.expected["blocked_accounts"]


def test_deleted_accounts_keep_their_history_across_exports(tmp_path, new_pipeline):
    history = UserHistory("user_a", seed=11)
    first = history.export(tmp_path / "a", at=datetime(2025, 9, 1, tzinfo=timezone.utc), family="B")
    second = history.export(tmp_path / "b", at=AT, family="B")
    load_archives(new_pipeline(), [first.path])
    load_archives(new_pipeline(), [second.path])
    db = tmp_path / "t.duckdb"
    assert sql(db, "SELECT count(*) FROM tiktok.followers") == \
        [(history.expected_counts([first, second])["followers"],)]
    # a deleted account listed by both exports is one row, still current
    rows = sql(db, "SELECT first_seen_at < last_seen_at, is_current FROM tiktok.followers WHERE deleted_account")
    assert rows and all(current for _, current in rows)


def _rewrite_member(archive: Path, out: Path, pick, rewrite) -> str:
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        target = next(n for n in src.namelist() if pick(n))
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, rewrite(data) if info.filename == target else data)
    return target


def test_a_dm_file_in_an_unknown_grammar_costs_only_itself_and_is_reported(tmp_path, new_pipeline, caplog):
    history = UserHistory("user_a", seed=11)
    archive = history.export(tmp_path / "in", at=AT, data_format="txt", txt_generation="2025")
    odd = tmp_path / "odd.zip"

    def unknown_grammar(data: bytes) -> bytes:  # each message as a JSON line: a grammar nobody parses
        lines = [line for line in data.decode().splitlines() if re.match(r"^\d{4}-", line)]
        return "\n".join('{"at": "%s", "text": "%s"}' % (line[:19], line[24:].replace('"', "'"))
                         for line in lines).encode()

    member = _rewrite_member(archive.path, odd, lambda n: n.endswith("Direct Messages.txt"), unknown_grammar)
    with caplog.at_level(logging.WARNING):
        result = load_archives(new_pipeline(), [odd])
    db = tmp_path / "t.duckdb"
    assert result.after["direct_messages"] == 0
    for table in ("watch_history", "likes", "followers", "posts", "comments"):
        assert result.after[table] == archive.expected[table] > 0, table
    rows = sql(db, "SELECT path, item_count, reason FROM tiktok.unparsed_sections WHERE path LIKE '%Direct Messages%'")
    lines = len(unknown_grammar(zipfile.ZipFile(archive.path).read(member)).splitlines())
    assert [(p, n) for p, n, _ in rows] == [(member.lstrip("/"), lines)]
    assert "direct_messages" in rows[0][2] and "does not know" in rows[0][2]
    assert any("Direct Messages.txt" in r.getMessage() and "unparsed_sections" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)


def test_a_section_whose_fields_were_all_renamed_is_reported_not_dropped(tmp_path, new_pipeline, caplog):
    import json

    history = UserHistory("user_a", seed=11)
    archive = history.export(tmp_path / "in", at=AT, family="B", container="folder")
    data_file = next(Path(archive.path).rglob("user_data_tiktok.json"))
    doc = json.loads(data_file.read_text())
    searches = doc["Your Activity"]["Searches"]["SearchList"]
    doc["Your Activity"]["Searches"]["SearchList"] = [{"Zeit": s["Date"], "Begriff": s["SearchTerm"]} for s in searches]
    data_file.write_text(json.dumps(doc))
    with caplog.at_level(logging.WARNING):
        result = load_archives(new_pipeline(), [archive.path])
    db = tmp_path / "t.duckdb"
    assert result.after["searches"] == 0 and result.after["likes"] == archive.expected["likes"]
    assert sql(db, "SELECT item_count FROM tiktok.unparsed_sections WHERE path LIKE '%Searches%'") == [(len(searches),)]
    report = sql(db, "SELECT records, written, empty FROM tiktok.load_report WHERE table_name = 'searches'")
    assert report == [(len(searches), 0, len(searches))]
    assert any("Searches" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


@pytest.mark.parametrize(("fmt", "generation"), [("json", None), ("txt", "2025")])
def test_the_load_report_accounts_for_every_record(tmp_path, new_pipeline, fmt, generation):
    kwargs = {"txt_generation": generation} if generation else {}
    history, archive, result, db = _load(new_pipeline, tmp_path, data_format=fmt, **kwargs)
    rows = sql(db, "SELECT table_name, records, written, already_loaded, repeats, empty, unreadable "
                   "FROM tiktok.load_report")
    assert rows
    for table, records, written, already, repeats, empty, unreadable in rows:
        assert records == written + already + repeats + empty + unreadable, table
    by_table = {t: (rec, rep) for t, rec, _, _, rep, _, _ in
                sql(db, "SELECT table_name, sum(records), 0, 0, sum(repeats), 0, 0 FROM tiktok.load_report GROUP BY 1")}
    # the exact duplicates the generator wrote are the repeats, and every table's rows were read
    for table, written in archive.duplicate_rows.items():
        assert by_table[table][1] == written, table
    for table, n in archive.expected.items():
        if n and table in by_table:
            assert by_table[table][0] >= n, table
    assert result.report["watch_history"]["records"] == by_table["watch_history"][0]


def test_a_second_load_rewrites_no_undated_record_and_says_so(tmp_path, new_pipeline):
    """Devices, hashtags and ad interests have no time to skip by: their loaded rows are known by key."""
    history = UserHistory("user_a", seed=11)
    archive = history.export(tmp_path / "in", at=AT, family="B")
    load_archives(new_pipeline(), [archive.path])
    second = load_archives(new_pipeline(), [archive.path])
    db = tmp_path / "t.duckdb"
    for table in ("devices", "hashtags", "ad_interests"):
        assert archive.expected[table] > 0, table
        assert second.report[table]["written"] == 0, table
        assert second.report[table]["already_loaded"] + second.report[table]["repeats"] == \
            second.report[table]["records"] > 0, table
        assert sql(db, f"SELECT count(*) FROM tiktok.{table}") == [(archive.expected[table],)], table


@pytest.mark.parametrize("streamed", [False, True])
def test_non_object_items_are_counted_unreadable_whether_the_list_is_streamed_or_not(tmp_path, new_pipeline,
                                                                                     monkeypatch, streamed):
    import json

    from tiktok_portability_source import settings

    history = UserHistory("user_a", seed=11)
    archive = history.export(tmp_path / "in", at=AT, family="B", container="folder")
    data_file = next(Path(archive.path).rglob("user_data_tiktok.json"))
    doc = json.loads(data_file.read_text())
    searches = doc["Your Activity"]["Searches"]["SearchList"]
    searches[1:1] = ["not an item", 42]
    data_file.write_text(json.dumps(doc, indent=2))
    if streamed:  # every multi-line list is left on disk and read in blocks
        monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    result = load_archives(new_pipeline(), [archive.path])
    report = result.report["searches"]
    assert report["unreadable"] == 2 and result.after["searches"] == archive.expected["searches"]
    assert report["records"] == len(searches) == sum(report[c] for c in report if c != "records")
