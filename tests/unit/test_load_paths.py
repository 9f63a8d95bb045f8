"""How event tables reach the destination: keys unique per load (the source's key set), ``append``
for a user's first load of a table, merge on ``row_key`` as a merge key otherwise, and the repair of
rows an interrupted append wrote twice."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timezone

import dlt
import pyarrow as pa

from support.db import sql
from tiktok_portability_source.fake.generator import UserHistory
from tiktok_portability_source.loader import load_archives
from tiktok_portability_source.records import KeySet

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)


def test_key_set_keeps_the_first_row_of_every_key_across_batches():
    rng = random.Random(1)
    keys = [hashlib.md5(str(i).encode()).hexdigest() for i in range(3000)]
    rows = [rng.choice(keys) for _ in range(12000)]
    seen, out = KeySet(), []
    for start in range(0, len(rows), 2500):
        batch = pa.table({"row_key": rows[start:start + 2500], "i": list(range(start, min(start + 2500, len(rows))))})
        out += seen.first_seen(batch).to_pylist()
    first = {}
    for i, key in enumerate(rows):
        first.setdefault(key, i)
    assert sorted(r["i"] for r in out) == sorted(first.values())


def test_key_set_compares_whole_keys_when_first_halves_clash():
    seen = KeySet()
    a, b, c = (f"{0:016x}{n:016x}" for n in (1, 2, 3))  # same first 8 bytes
    assert seen.first_seen(pa.table({"row_key": [a, a]})).num_rows == 1
    assert seen.first_seen(pa.table({"row_key": [b, a, c, b]}))["row_key"].to_pylist() == [b, c]
    assert seen.whole is not None


def test_first_load_appends_later_loads_merge_without_duplicates(tmp_path, new_pipeline):
    history = UserHistory("user_a", seed=21)
    first = history.export(tmp_path / "in", at=datetime(2025, 9, 1, tzinfo=timezone.utc), family="B")
    later = history.export(tmp_path / "in", at=AT, family="B")
    pipeline = new_pipeline()
    load_archives(pipeline, [first.path])
    db = tmp_path / "t.duckdb"
    staged = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'tiktok_staging' " \
             "AND table_name = 'watch_history'"
    assert sql(db, staged)[0][0] == 0  # appended: no staging copy
    result = load_archives(pipeline, [later.path])
    assert sql(db, staged)[0][0] == 1  # merged
    union = history.expected_counts([first, later])
    for table in ("watch_history", "likes", "searches", "shares", "direct_messages"):
        total, distinct = sql(db, f"SELECT COUNT(*), COUNT(DISTINCT row_key) FROM tiktok.{table}")[0]
        assert total == distinct == union[table] == result.after[table], table
    hints = pipeline.default_schema.tables["watch_history"]["columns"]["row_key"]
    assert hints.get("merge_key") and not hints.get("primary_key")
    assert pipeline.default_schema.tables["watch_history"]["write_disposition"] == "merge"


def test_a_dataset_keyed_by_the_old_primary_key_loads_on(tmp_path, new_pipeline):
    archive = UserHistory("user_a", seed=22).export(tmp_path / "in", at=AT, family="B")
    pipeline = new_pipeline()

    @dlt.resource(name="watch_history", write_disposition={"disposition": "merge", "strategy": "delete-insert"},
                  primary_key="row_key")
    def old_style():
        yield pa.table({"user_id": ["user_a"], "row_key": ["0" * 32]})

    pipeline.run(old_style())
    assert pipeline.default_schema.tables["watch_history"]["columns"]["row_key"].get("primary_key")
    load_archives(pipeline, [archive.path])
    load_archives(pipeline, [archive.path])
    total, distinct = sql(tmp_path / "t.duckdb", "SELECT COUNT(*), COUNT(DISTINCT row_key) FROM tiktok.watch_history "
                                                 "WHERE user_id = 'user_a' AND row_key <> repeat('0', 32)")[0]
    assert total == distinct == archive.expected["watch_history"]
    assert not pipeline.default_schema.tables["watch_history"]["columns"]["row_key"].get("primary_key")


def test_rows_an_interrupted_append_wrote_twice_are_repaired(tmp_path, new_pipeline, monkeypatch):
    archive = UserHistory("user_a", seed=23).export(tmp_path / "in", at=AT, family="B")
    pipeline = new_pipeline()
    load_archives(pipeline, [archive.path])
    # what a crash between an append job's commit and its bookkeeping leaves after the retry
    with pipeline.sql_client() as client:
        client.execute_sql("INSERT INTO tiktok.watch_history SELECT * FROM tiktok.watch_history LIMIT 25")
        client.execute_sql("INSERT INTO tiktok.likes SELECT * FROM tiktok.likes LIMIT 3")
    monkeypatch.setattr(type(pipeline), "list_normalized_load_packages", lambda self: ["interrupted"])
    result = load_archives(pipeline, [archive.path])
    for table in ("watch_history", "likes"):
        total, distinct = sql(tmp_path / "t.duckdb", f"SELECT COUNT(*), COUNT(DISTINCT row_key) FROM tiktok.{table}")[0]
        assert total == distinct == archive.expected[table] == result.after[table], table
