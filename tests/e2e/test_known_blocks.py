"""A next-day export skips, unread, the blocks of its big lists an earlier load read (issue 15, part 5).

The lists are cut where their content says (``archive/blocks.py``), so yesterday's and today's exports
share byte-identical blocks; their digests are facts in ``_tiktok_user_state``. These tests pin that
the skip saves the parse without losing a row: a block that changed is read, and its new row lands;
the tables come out exactly as a load that reads every block; a fact of an unfinished load is not
trusted."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from support.db import sql
from tiktok_portability_source import settings
from tiktok_portability_source.archive import blocks, jsonstream
from tiktok_portability_source.fake.generator import Sizes, UserHistory
from tiktok_portability_source.loader import load_archives, make_pipeline
from tiktok_portability_source.user_state import USER_STATE_TABLE

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)
EVENT_TABLES = ("watch_history", "likes", "favorite_videos")
SKIPPED = re.compile(r"watch_history: (\d+) of (\d+) blocks loaded before, skipped unread")


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few KB (a cut every ~128 items) so a list of 6,000 rows has dozens of them."""
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 32 << 10)
    monkeypatch.setattr(jsonstream, "_BLOCK_BYTES", 64 << 10)
    monkeypatch.setattr(blocks, "HIT_BITS", 7)


def two_exports(tmp_path: Path) -> tuple[UserHistory, Path, Path]:
    sizes = Sizes(**{**{f.name: 20 for f in dataclasses.fields(Sizes)}, "watch_history": 6000, "likes": 1500})
    history = UserHistory("user_a", seed=5, sizes=sizes, start=AT - timedelta(days=60), end=AT + timedelta(days=2))
    first = history.export(tmp_path / "first", at=AT, container="folder", unknown_sections=False).path
    second = history.export(tmp_path / "second", at=AT + timedelta(days=1), container="folder",
                            unknown_sections=False).path
    return history, first, second


def watch_list(folder: Path) -> tuple[Path, str, int, int]:
    """The JSON file and where its watch list's items sit."""
    path = next(folder.rglob("*.json"))
    text = path.read_text()
    start = text.index('"VideoList": [', text.index('"Watch History"'))
    return path, text, start, text.index("\n      ]", start)


def change_middle_item(folder: Path) -> str:
    """Move one watch event in the middle of the list to a day no export covers; its new time."""
    path, text, start, end = watch_list(folder)
    dates = [m.start(1) for m in re.finditer(r'"Date": "(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)"', text[start:end])]
    at = start + dates[len(dates) // 2]
    moved = "2020-02-02 02:02:02"
    path.write_text(text[:at] + moved + text[at + len(moved):])
    return moved


def skipped(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    found = [SKIPPED.search(r.getMessage()) for r in caplog.records]
    hits = [(int(m.group(1)), int(m.group(2))) for m in found if m]
    assert len(hits) == 1, [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    return hits[0]


def write(db: Path, statement: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(statement)


def table_keys(db: Path) -> dict[str, set[str]]:
    return {t: {k for (k,) in sql(db, f"SELECT row_key FROM tiktok.{t}")} for t in EVENT_TABLES}


def test_a_changed_block_in_the_middle_is_read_and_its_row_lands(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    _, first, second = two_exports(tmp_path)
    moved = change_middle_item(second)
    db = tmp_path / "t.duckdb"
    load_archives(make_pipeline(duckdb_path=db, pipelines_dir=tmp_path / "w1"), [first])
    assert sql(db, f"SELECT COUNT(*) FROM tiktok.{USER_STATE_TABLE} WHERE kind = 'blocks'")[0][0] >= 1
    caplog.set_level(logging.INFO, logger="tiktok_portability_source.helpers")
    result = load_archives(make_pipeline(duckdb_path=db, pipelines_dir=tmp_path / "w2"), [second])

    skipped_blocks, all_blocks = skipped(caplog)
    assert all_blocks >= 20 and skipped_blocks >= all_blocks - 6, (skipped_blocks, all_blocks)
    # the changed block was read: the event moved out of every window is a row
    found = sql(db, "SELECT COUNT(*) FROM tiktok.watch_history WHERE watched_at = ?",
                datetime.fromisoformat(moved).replace(tzinfo=timezone.utc))
    assert found == [(1,)]
    # every record of the export is accounted for, the skipped ones as already loaded
    report = result.report["watch_history"]
    assert report["records"] == report["written"] + report["already_loaded"] + report["repeats"] + \
        report["empty"] + report["unreadable"]
    _, text, start, end = watch_list(second)
    assert report["records"] == text.count('"Date": ', start, end)

    # the tables are what a load that reads every block gives
    control = tmp_path / "control.duckdb"
    load_archives(make_pipeline(duckdb_path=control, pipelines_dir=tmp_path / "c1"), [first])
    write(control, f"DELETE FROM tiktok.{USER_STATE_TABLE} WHERE kind = 'blocks'")
    load_archives(make_pipeline(duckdb_path=control, pipelines_dir=tmp_path / "c2"), [second])
    keys = table_keys(db)
    assert keys == table_keys(control) and all(keys.values())


def test_blocks_of_an_unfinished_load_are_not_trusted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The facts count only once dlt recorded their load as complete: here the block facts name a
    load ``_dlt_loads`` does not hold, as if it was killed after merging them; the next export reads
    every block."""
    _, first, second = two_exports(tmp_path)
    db = tmp_path / "t.duckdb"
    load_archives(make_pipeline(duckdb_path=db, pipelines_dir=tmp_path / "w1"), [first])
    write(db, f"UPDATE tiktok.{USER_STATE_TABLE} SET _dlt_load_id = '1.5' WHERE kind = 'blocks'")
    caplog.set_level(logging.INFO, logger="tiktok_portability_source.helpers")
    load_archives(make_pipeline(duckdb_path=db, pipelines_dir=tmp_path / "w2"), [second])
    assert not any(SKIPPED.search(r.getMessage()) for r in caplog.records)


def test_the_block_facts_are_small_and_only_new_blocks_are_added(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A next-day export adds the facts of the blocks it read (the head, the tail), not of every block."""
    _, first, second = two_exports(tmp_path)
    db = tmp_path / "t.duckdb"
    pipeline = make_pipeline(duckdb_path=db, pipelines_dir=tmp_path / "w")
    load_archives(pipeline, [first])
    caplog.set_level(logging.INFO, logger="tiktok_portability_source.helpers")
    load_archives(pipeline, [second])
    skipped_blocks, all_blocks = skipped(caplog)
    facts = sql(db, f"SELECT source, value FROM tiktok.{USER_STATE_TABLE} WHERE kind = 'blocks' "
                    "AND table_name = 'watch_history'")
    by_archive = {source: json.loads(value) for source, value in facts}
    assert len(by_archive) == 2
    counts = sorted(len(v) for v in by_archive.values())
    assert counts[0] <= all_blocks - skipped_blocks and counts[1] >= skipped_blocks, (counts, skipped_blocks)
