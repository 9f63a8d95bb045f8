"""Archive mode end to end: generated exports of every layout → dlt → DuckDB, checked with SQL.

Tests taking ``dest`` run on DuckDB and on PostgreSQL (``conftest.dest``): the idempotency and
per-user guarantees must not depend on the destination."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from support.db import sql
from tiktok_portability_source.fake.generator import Sizes, UserHistory
from tiktok_portability_source.layouts import DEFAULT_TABLES
from tiktok_portability_source.loader import LoadFailed, load_archives

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)
EARLIER = AT - timedelta(days=120)
DATA_TABLES = list(DEFAULT_TABLES)  # autofill is loaded only on opt-in: by default its table does not exist


def counts(result) -> dict[str, int]:
    return {t: n for t, n in result.after.items() if t in DATA_TABLES}


def expected(archive_expected: dict[str, int]) -> dict[str, int]:
    return {t: archive_expected.get(t, 0) for t in DATA_TABLES}


def load_ids(dest, table: str) -> dict[str, str]:
    """row_key -> the load that last wrote the row (``_dlt_load_id``)."""
    return dict(dest.sql(f"SELECT row_key, _dlt_load_id FROM tiktok.{table}"))


def rewritten(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """Rows a load wrote: new ones, and old ones whose ``_dlt_load_id`` it replaced (a load that writes
    nothing rewrote nothing, whichever load wrote the rows before)."""
    return {k for k, load_id in after.items() if before.get(k) != load_id}


def rows_at(dest, table: str, time_column: str, *which: str) -> set[str]:
    """Row keys of the rows at the table's earliest (``min``) / latest (``max``) time."""
    times = " UNION ".join(f"SELECT {w}({time_column}) FROM tiktok.{table}" for w in which)
    return {k for (k,) in dest.sql(f"SELECT row_key FROM tiktok.{table} WHERE {time_column} IN ({times})")}


LAYOUTS = [
    ("F", "json", "zip", None), ("A", "json", "zip", None), ("A-activity", "json", "bare", None),
    ("B", "json", "zip", None), ("C", "json", "folder", None), ("D", "json", "zip", None),
    ("E", "json", "zip", None), ("B", "txt", "zip", "1"), ("B", "txt", "folder", "2"),
    ("B", "txt", "zip", "2025"), ("B", "txt", "zip", "nl"),
]


# every layout on DuckDB; one JSON and one TXT layout on PostgreSQL as well
LAYOUT_CASES = [(*layout, "duckdb") for layout in LAYOUTS] + [
    (*layout, "postgres") for layout in LAYOUTS if layout in (("B", "json", "zip", None), ("B", "txt", "zip", "2025"))]


@pytest.mark.parametrize(("family", "fmt", "container", "generation", "dest"), LAYOUT_CASES, indirect=["dest"],
                         ids=[f"{f}-{fmt}-{c}-{g or ''}-{d}" for f, fmt, c, g, d in LAYOUT_CASES])
def test_every_layout_loads_the_expected_rows(tmp_path, dest, family, fmt, container, generation):
    history = UserHistory("user_a", seed=7)
    kwargs = {"txt_generation": generation} if generation else {}
    archive = history.export(tmp_path / "in", at=AT, family=family, data_format=fmt, container=container, **kwargs)
    result = load_archives(dest.pipeline(), [archive.path], user_id=None if archive.username else "user_a")
    assert counts(result) == expected(archive.expected)
    assert sum(archive.expected.values()) > 0
    # the synthetic future section (and TikTok's own sections without a table) are reported, not dropped
    paths = {p for (p,) in dest.sql("SELECT path FROM tiktok.unparsed_sections")}
    for unknown in archive.unknown_sections + archive.unmodelled_sections:
        assert any(p.endswith(unknown.split(" › ")[-1]) or unknown in p for p in paths), (unknown, paths)


def test_one_run_of_every_layout_gives_each_user_their_rows(tmp_path, new_pipeline):
    """A run of several archives hands dlt each table's rows of all of them together (one item, not
    one per archive): rows of layouts with other columns (ids only C/D carry, TXT's fields) must
    all land, each under its own user."""
    archives = {}
    for n, (family, fmt, container, generation) in enumerate(LAYOUTS):
        kwargs = {"txt_generation": generation} if generation else {}
        history = UserHistory(f"user_{n:02d}", seed=20 + n)
        archives[f"user_{n:02d}"] = history.export(tmp_path / f"in{n}", at=AT, family=family, data_format=fmt,
                                                   container=container, **kwargs)
    named = [a for a in archives.values() if a.username]
    assert len(named) >= 8  # the archives that name their user go in one run
    load_archives(new_pipeline(), [a.path for a in named])
    db = tmp_path / "t.duckdb"
    held = {t for (t,) in sql(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tiktok'")}
    for user, archive in archives.items():
        if not archive.username:
            continue
        for table in DATA_TABLES:
            n = sql(db, f"SELECT COUNT(*) FROM tiktok.{table} WHERE user_id = ?", user)[0][0] if table in held else 0
            assert n == archive.expected.get(table, 0), (user, table)


def test_older_archive_after_newer_adds_its_older_rows(tmp_path, dest):
    history = UserHistory("user_a", seed=1)
    newer = history.export(tmp_path / "in", at=AT, family="D")
    older = history.export(tmp_path / "in", at=EARLIER, family="B")
    pipeline = dest.pipeline()
    load_archives(pipeline, [newer.path])
    result = load_archives(pipeline, [older.path])
    union = history.expected_counts([newer, older])
    assert counts(result) == expected(union)
    # watch history only reaches back ~6 months per export: the older export really added rows
    assert union["watch_history"] > newer.expected["watch_history"]
    assert result.added["watch_history"] == union["watch_history"] - newer.expected["watch_history"]


def test_second_load_of_the_same_archive_adds_nothing_and_writes_only_boundary_rows(tmp_path, dest):
    archive = UserHistory("user_a", seed=2).export(tmp_path / "in", at=AT, family="B")
    pipeline = dest.pipeline()
    first = load_archives(pipeline, [archive.path])
    before = load_ids(dest, "watch_history")
    second = load_archives(pipeline, [archive.path])
    assert counts(second) == counts(first) == expected(archive.expected)
    assert all(n == 0 for n in second.added.values())
    # the per-user windows skip rows already loaded: only the rows at the window's two boundary times
    # (a boundary second may hold two rows) are sent and re-merged
    again = rewritten(before, load_ids(dest, "watch_history"))
    assert again == rows_at(dest, "watch_history", "watched_at", "min", "max")
    assert 2 <= len(again) <= 4 < archive.expected["watch_history"]


def test_overlapping_later_archive_adds_exactly_the_new_rows(tmp_path, new_pipeline):
    history = UserHistory("user_a", seed=3)
    first = history.export(tmp_path / "in", at=AT - timedelta(days=30), family="B")
    later = history.export(tmp_path / "in", at=AT, family="B")
    pipeline = new_pipeline()
    load_archives(pipeline, [first.path])
    result = load_archives(pipeline, [later.path])
    union = history.expected_counts([first, later])
    only_first = history.expected_counts([first])
    for table in ("watch_history", "likes", "searches", "shares", "comments", "direct_messages"):
        assert result.added[table] == union[table] - only_first[table], table
    assert result.added["watch_history"] > 0


def test_two_users_in_one_dataset_keep_all_rows(tmp_path, dest):
    alice, bob = UserHistory("alice", seed=4), UserHistory("bob", seed=5)
    a = alice.export(tmp_path / "in", at=AT, family="B")
    # bob's export is older: a global cursor would drop all of it
    b = bob.export(tmp_path / "in", at=EARLIER, family="C")
    pipeline = dest.pipeline()
    load_archives(pipeline, [a.path])
    load_archives(pipeline, [b.path])
    for user, archive in (("alice", a), ("bob", b)):
        for table in DATA_TABLES:
            n = dest.sql(f"SELECT COUNT(*) FROM tiktok.{table} WHERE user_id = ?", user)[0][0]
            assert n == archive.expected.get(table, 0), (user, table)


def test_unfollowers_show_up_after_a_second_export(tmp_path, dest):
    history = UserHistory("user_a", seed=6)
    first = history.export(tmp_path / "in", at=EARLIER, family="B")
    second = history.export(tmp_path / "in", at=AT, family="D")
    pipeline = dest.pipeline()
    load_archives(pipeline, [first.path])
    load_archives(pipeline, [second.path])
    gone = history.unfollowed_between(first, second)
    for table in ("followers", "following"):
        rows = dest.sql(f"SELECT username, last_seen_at, disappeared_at FROM tiktok.{table} WHERE NOT is_current")
        assert {r[0] for r in rows} == gone[table] and gone[table], table
        # "between which exports": last seen in the first export, gone by the second
        assert {(r[1], r[2]) for r in rows} == {(first.exported_at, second.exported_at)}


def test_unfollowers_are_the_same_whatever_the_load_order(tmp_path, new_pipeline):
    history = UserHistory("user_a", seed=6)
    first = history.export(tmp_path / "in", at=EARLIER, family="B")
    second = history.export(tmp_path / "in", at=AT, family="B")
    pipeline = new_pipeline()
    load_archives(pipeline, [second.path])
    load_archives(pipeline, [first.path])
    rows = sql(tmp_path / "t.duckdb", "SELECT username FROM tiktok.followers WHERE NOT is_current")
    assert {r[0] for r in rows} == history.unfollowed_between(first, second)["followers"]


def test_profile_keeps_one_row_per_export(tmp_path, new_pipeline):
    history = UserHistory("user_a", seed=8)
    exports = [history.export(tmp_path / "in", at=AT - timedelta(days=d), family="D") for d in (90, 30, 0)]
    pipeline = new_pipeline()
    for archive in exports:
        load_archives(pipeline, [archive.path])
    rows = sql(tmp_path / "t.duckdb",
               "SELECT exported_at, follower_count, followers_listed FROM tiktok.profile ORDER BY exported_at")
    assert [r[0] for r in rows] == [a.exported_at for a in exports]
    assert all(r[1] is not None and r[2] is not None for r in rows)


def test_losing_the_local_pipeline_folder_changes_nothing(tmp_path, dest):
    """A new working directory per run (ephemeral workers): state comes back from the destination."""
    history = UserHistory("user_a", seed=9)
    first = history.export(tmp_path / "in", at=EARLIER, family="B")
    second = history.export(tmp_path / "in", at=AT, family="B")
    load_archives(dest.pipeline(pipelines_dir=tmp_path / "worker1"), [first.path])
    shutil.rmtree(tmp_path / "worker1")
    result = load_archives(dest.pipeline(pipelines_dir=tmp_path / "worker2"), [second.path, first.path])
    assert counts(result) == expected(history.expected_counts([first, second]))
    gone = dest.sql("SELECT username FROM tiktok.followers WHERE NOT is_current")
    assert {r[0] for r in gone} == history.unfollowed_between(first, second)["followers"]
    # the per-user windows came back from the destination: reloading rewrites only boundary rows (the
    # two exports' windows overlap into one; the second export's oldest rows lie inside it)
    shutil.rmtree(tmp_path / "worker2")
    before = load_ids(dest, "watch_history")
    load_archives(dest.pipeline(pipelines_dir=tmp_path / "worker3"), [second.path])
    again = rewritten(before, load_ids(dest, "watch_history"))
    assert again == rows_at(dest, "watch_history", "watched_at", "max") and 1 <= len(again) <= 2


@pytest.mark.parametrize("empty_style", ["null", "list", "object", "absent"])
def test_every_empty_encoding_gives_no_rows_and_no_crash(tmp_path, new_pipeline, empty_style):
    history = UserHistory("user_a", seed=10)
    empty = {"likes", "searches", "followers", "direct_messages", "comments"}
    archive = history.export(tmp_path / "in", at=AT, family="B", empty_style=empty_style, empty_tables=empty)
    result = load_archives(new_pipeline(), [archive.path])
    for table in empty:
        assert result.after[table] == 0, table
    assert result.after["watch_history"] == archive.expected["watch_history"] > 0


def test_txt_no_data_sentinels_give_no_rows(tmp_path, new_pipeline):
    history = UserHistory("user_a", seed=10)
    empty = {"likes", "searches", "followers"}
    for generation, style in (("2025", "mixed"), ("nl", "mixed"), ("2025", "no-data")):
        archive = history.export(tmp_path / generation / style, at=AT, data_format="txt",
                                 txt_generation=generation, empty_style=style, empty_tables=empty)
        result = load_archives(new_pipeline(f"{generation}-{style}"), [archive.path])
        assert all(result.after[t] == 0 for t in empty)
        assert result.after["watch_history"] == archive.expected["watch_history"] > 0


def test_sentinel_values_become_null_and_types_are_right(tmp_path, new_pipeline):
    archive = UserHistory("user_a", seed=11).export(tmp_path / "in", at=AT, family="D")
    load_archives(new_pipeline(), [archive.path])
    db = tmp_path / "t.duckdb"
    profile = sql(db, "SELECT telephone_number, birth_date, likes_received FROM tiktok.profile")[0]
    assert profile[0] is None  # "None"
    assert profile[1] is not None and isinstance(profile[2], int)
    # "N/A" is a deleted account: a row without a name, never the text "N/A"
    assert sql(db, "SELECT COUNT(*) FROM tiktok.followers WHERE username = 'N/A'")[0][0] == 0
    assert sql(db, "SELECT COUNT(*) FROM tiktok.followers WHERE (username IS NULL) <> deleted_account")[0][0] == 0
    assert sql(db, "SELECT COUNT(*) FROM tiktok.comments WHERE photo = 'N/A' OR url = ''")[0][0] == 0
    assert sql(db, "SELECT COUNT(*) FROM tiktok.logins WHERE carrier = ''")[0][0] == 0
    types = dict(sql(db, "SELECT column_name, data_type FROM information_schema.columns "
                         "WHERE table_schema = 'tiktok' AND table_name = 'watch_history'"))
    assert types["watched_at"] == "TIMESTAMP WITH TIME ZONE"
    # the D comment dates carry " UTC": parsed, none left NULL
    assert sql(db, "SELECT COUNT(*) FROM tiktok.comments WHERE commented_at IS NULL")[0][0] == 0


def test_video_ids_come_from_every_share_link_form_and_never_from_cdn_links(tmp_path, new_pipeline):
    archive = UserHistory("user_a", seed=12).export(tmp_path / "in", at=AT, family="B")
    load_archives(new_pipeline(), [archive.path])
    db = tmp_path / "t.duckdb"
    missing = sql(db, "SELECT COUNT(*) FROM tiktok.watch_history WHERE video_id IS NULL OR NOT regexp_matches(video_id, '^[0-9]{19}$')")
    assert missing[0][0] == 0
    forms = sql(db, "SELECT COUNT(DISTINCT regexp_extract(link, '^https://[^/]+/(@[^/]+/)?', 0)) FROM tiktok.watch_history")
    assert forms[0][0] >= 2
    assert "video_id" not in {c for (c,) in sql(db, "SELECT column_name FROM information_schema.columns "
                                                "WHERE table_name = 'posts'")}


def test_direct_messages_are_threaded_with_group_and_own_flags(tmp_path, new_pipeline):
    archive = UserHistory("user_a", seed=13).export(tmp_path / "in", at=AT, family="B")
    load_archives(new_pipeline(), [archive.path])
    db = tmp_path / "t.duckdb"
    groups = sql(db, "SELECT DISTINCT conversation FROM tiktok.direct_messages WHERE is_group")
    assert groups and all(g[0].startswith("Group_Chat_") for g in groups)
    assert not any(c.endswith(":") for (c,) in sql(db, "SELECT DISTINCT conversation FROM tiktok.direct_messages"))
    own = sql(db, "SELECT DISTINCT sender FROM tiktok.direct_messages WHERE is_own")
    assert own == [("user_a",)]


def test_json_and_txt_of_the_same_export_give_the_same_rows(tmp_path, new_pipeline):
    history = UserHistory("user_a", seed=14)
    as_json = history.export(tmp_path / "json", at=AT, family="B")
    as_txt = history.export(tmp_path / "txt", at=AT, data_format="txt", txt_generation="2025")
    pipeline = new_pipeline()
    first = load_archives(pipeline, [as_json.path])
    second = load_archives(pipeline, [as_txt.path])
    # every table both carry but Status records (TXT writes other fields: other rows) and settings (TXT
    # lists fewer); column by column in test_json_vs_txt.py
    both = sorted(as_json.tables & as_txt.tables - {"devices", "settings"})
    assert len(both) >= 20
    for table in both:
        assert second.added[table] == 0, table
        assert first.after[table] == as_json.expected[table] == as_txt.expected[table], table


def test_archive_without_profile_needs_a_user_id(tmp_path, new_pipeline):
    archive = UserHistory("user_a", seed=15).export(tmp_path / "in", at=AT, family="A-activity")
    with pytest.raises(LoadFailed, match="--user-id"):
        load_archives(new_pipeline(), [archive.path])
    result = load_archives(new_pipeline(), [archive.path], user_id="user_a")
    assert result.after["watch_history"] == archive.expected["watch_history"]


def test_malformed_json_is_a_one_line_error_naming_the_file_and_loads_nothing(tmp_path):
    good = UserHistory("user_a", seed=16).export(tmp_path / "in", at=AT, family="B", container="bare")
    broken = tmp_path / "in" / "broken.json"
    text = Path(good.path).read_text()
    broken.write_text(text.replace("]", "],", 1)[: len(text) // 2])
    proc = subprocess.run(
        [sys.executable, "-m", "tiktok_portability_source.cli", "load", str(good.path), str(broken), "-q",
         "--duckdb", str(tmp_path / "t.duckdb"), "--pipelines-dir", str(tmp_path / "pl")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.json" in errors[0] and "not valid JSON" in errors[0], proc.stderr
    assert "line " in errors[0]  # where in the file, so the user can fix it
    # all-or-nothing: the good archive given in the same command was not loaded either
    tables = sql(tmp_path / "t.duckdb", "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'tiktok' "
                                        "AND table_name = 'watch_history'") if (tmp_path / "t.duckdb").exists() else [(0,)]
    assert tables[0][0] == 0


def test_large_watch_history_travels_in_batches(tmp_path, new_pipeline):
    sizes = Sizes(watch_history=30_000)
    history = UserHistory("user_a", seed=17, start=AT - timedelta(days=170), end=AT, sizes=sizes)
    archive = history.export(tmp_path / "in", at=AT, family="B", duplicates=True)
    from tiktok_portability_source import tiktok_portability

    # iterated outside a pipeline: no per-user windows (they would come from the last active pipeline)
    source = tiktok_portability(archives=[archive.path], batch_rows=10_000, skip_loaded_windows=False)
    items = list(source.with_resources("watch_history", "load_report"))
    batches = [b for b in items if not isinstance(b, dict)]
    assert len(batches) >= 3 and all(b.num_rows <= 10_000 for b in batches)
    # the rest is the table's load report: every record read, none lost
    reports = [r for r in items if isinstance(r, dict)]
    assert [r["table_name"] for r in reports] == ["watch_history"]
    assert reports[0]["written"] == sum(b.num_rows for b in batches) == 30_000
    result = load_archives(new_pipeline(), [archive.path])
    assert result.after["watch_history"] == archive.expected["watch_history"] == 30_000


def test_a_load_leaves_the_duckdb_file_closed_and_checkpointed(tmp_path, new_pipeline):
    """The file stays open for the whole load (one checkpoint instead of one per step) and is closed at
    its end: no write-ahead log is left and an analyst can open the file at once."""
    archive = UserHistory("user_a", seed=5).export(tmp_path / "in", at=AT, family="B")
    load_archives(new_pipeline(), [archive.path])
    assert not (tmp_path / "t.duckdb.wal").exists()
    assert sql(tmp_path / "t.duckdb", "SELECT COUNT(*) FROM tiktok.watch_history")[0][0] == \
        archive.expected["watch_history"] > 0


def test_several_exports_in_one_load_keep_the_follower_history(tmp_path, new_pipeline):
    history = UserHistory("user_a", seed=18)
    exports = [history.export(tmp_path / "in", at=AT - timedelta(days=d), family="B") for d in (200, 100, 0)]
    load_archives(new_pipeline(), [a.path for a in exports])
    rows = sql(tmp_path / "t.duckdb", "SELECT username, disappeared_at FROM tiktok.followers WHERE NOT is_current")
    gone = {r[0] for r in rows}
    expected_gone = history.unfollowed_between(exports[0], exports[2])["followers"] | \
        history.unfollowed_between(exports[1], exports[2])["followers"]
    assert gone == expected_gone and gone
    assert {r[1] for r in rows} <= {exports[1].exported_at, exports[2].exported_at}
