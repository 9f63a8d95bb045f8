"""Per-user bookkeeping in ``_tiktok_user_state``, not in dlt's one state blob (``user_state.py``).

dlt's state is rewritten whole by every load, and dlt keeps a version of it per load: with per-user
windows in it, it grew by ~100 bytes a user. These tests pin that it stays flat as users grow, that
the windows and snapshot times still do their job from the table, and that a dataset whose windows
an older version kept in dlt's state keeps them after the upgrade."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dlt
import pytest

from support.db import sql
from tiktok_portability_source.fake.generator import Sizes, UserHistory
from tiktok_portability_source.loader import load_archives, make_pipeline
from tiktok_portability_source.user_state import USER_STATE_TABLE, UserState

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)
TINY = Sizes(**{f.name: 2 for f in dataclasses.fields(Sizes)})
SMALL = Sizes(**{f.name: 40 for f in dataclasses.fields(Sizes)})


def dlt_state_bytes(db: Path) -> int:
    """Size of the newest version of dlt's state in the destination, as dlt stores it."""
    (state,) = sql(db, "SELECT state FROM tiktok._dlt_pipeline_state ORDER BY version DESC LIMIT 1")[0]
    return len(state)


def tiny_exports(folder: Path, users: range) -> list[Path]:
    return [UserHistory(f"user_{i:04d}", seed=i, sizes=TINY).export(folder, at=AT, unknown_sections=False).path
            for i in users]


def test_dlt_state_stays_flat_from_10_to_300_users(tmp_path: Path):
    pipeline = make_pipeline(duckdb_path=tmp_path / "t.duckdb", pipelines_dir=tmp_path / "pipelines")
    db = tmp_path / "t.duckdb"
    load_archives(pipeline, tiny_exports(tmp_path / "first", range(10)))
    after_10 = dlt_state_bytes(db)
    for start in range(10, 300, 50):  # batches of 50 archives, as `load` and `sync` run them
        load_archives(pipeline, tiny_exports(tmp_path / f"batch{start}", range(start, min(start + 50, 300))))
    after_300 = dlt_state_bytes(db)

    assert after_300 <= 2 * after_10, f"dlt state grew from {after_10} to {after_300} bytes with the users"
    # the bookkeeping is still kept, one row set per user, in the table
    users = sql(db, f"SELECT COUNT(DISTINCT user_id) FROM tiktok.{USER_STATE_TABLE} WHERE kind = 'coverage'")
    assert users == [(300,)]


def test_windows_and_snapshot_times_come_back_from_the_table(tmp_path: Path):
    """A second export of the same user, loaded by a fresh worker (empty working folder): rows inside
    the first export's windows are skipped as already loaded, and the follower history counts both
    exports, so an account missing from the newer one has disappeared at its time."""
    history = UserHistory("user_a", seed=3, sizes=SMALL)
    older = history.export(tmp_path / "a", at=AT - timedelta(days=120))
    newer = history.export(tmp_path / "b", at=AT)
    db = tmp_path / "t.duckdb"
    load_archives(make_pipeline(duckdb_path=db, pipelines_dir=tmp_path / "worker1"), [older.path])
    result = load_archives(make_pipeline(duckdb_path=db, pipelines_dir=tmp_path / "worker2"), [newer.path])

    assert result.report["watch_history"]["already_loaded"] > 0
    expected = history.expected_counts([older, newer])
    for table in ("watch_history", "likes", "followers", "following"):
        assert sql(db, f"SELECT COUNT(*) FROM tiktok.{table}") == [(expected[table],)], table
    facts = sql(db, f"SELECT value FROM tiktok.{USER_STATE_TABLE} WHERE kind = 'snapshots' AND table_name = 'followers'")
    times = sorted(datetime.fromisoformat(t) for (value,) in facts for t in json.loads(value))
    assert times == [older.exported_at, newer.exported_at]
    unfollowed = history.unfollowed_between(older, newer)["followers"]
    assert unfollowed  # the generator unfollows some accounts between the two exports
    gone = sql(db, "SELECT COUNT(*) FROM tiktok.followers WHERE disappeared_at = ?", newer.exported_at)
    assert gone == [(len(unfollowed),)]


def _downgrade(pipeline: dlt.Pipeline, db: Path) -> dict[str, dict[str, dict[str, object]]]:
    """Make the dataset look as an older version left it: the table's entries moved into dlt's
    resource state (``resources.<table>.<kind>.<user>``), and the table gone."""
    legacy: dict[str, dict[str, dict[str, object]]] = {}
    for user, kind, table, value in sql(db, f"SELECT user_id, kind, table_name, value FROM tiktok.{USER_STATE_TABLE}"):
        legacy.setdefault(table, {}).setdefault(kind, {})[user] = json.loads(value)

    @dlt.source(name="tiktok_portability")
    def old_layout():
        def keeper(table: str, entries: dict[str, dict[str, object]]):
            @dlt.resource(name=table)
            def keep():
                dlt.current.resource_state().update(entries)
                yield from ()
            return keep
        return [keeper(t, e) for t, e in legacy.items()]

    pipeline.sync_destination()
    pipeline.drop_pending_packages()
    from dlt.pipeline.helpers import pipeline_drop

    pipeline_drop(pipeline, resources=[USER_STATE_TABLE])()
    pipeline.run(old_layout())
    return legacy


def _entries(db: Path) -> dict[tuple[str, str], list]:
    """(kind, table) -> its facts combined: the windows merged, the snapshot times sorted."""
    from tiktok_portability_source.history import union

    facts: dict[tuple[str, str], list] = {}
    for kind, table, value in sql(db, f"SELECT kind, table_name, value FROM tiktok.{USER_STATE_TABLE}"):
        facts.setdefault((kind, table), []).append(json.loads(value))
    return {key: union(values) if key[0] == "coverage" else sorted({t for v in values for t in v})
            for key, values in facts.items()}


def test_a_dataset_with_windows_in_dlt_state_keeps_them_after_the_upgrade(tmp_path: Path):
    history = UserHistory("user_a", seed=5, sizes=SMALL)
    older = history.export(tmp_path / "a", at=AT - timedelta(days=30))
    newer = history.export(tmp_path / "b", at=AT)

    def load_both(db: Path, downgrade: bool) -> tuple[dict, list]:
        pipeline = make_pipeline(duckdb_path=db, pipelines_dir=tmp_path / db.stem)
        load_archives(pipeline, [older.path])
        if downgrade:
            legacy = _downgrade(pipeline, db)
            assert legacy["watch_history"]["coverage"]["user_a"]  # the old layout really holds the windows
            assert sql(db, "SELECT COUNT(*) FROM information_schema.tables "
                           f"WHERE table_name = '{USER_STATE_TABLE}'") == [(0,)]
        result = load_archives(pipeline, [newer.path])
        state = pipeline.state["sources"]["tiktok_portability"].get("resources", {})
        return result.report, state, _entries(db)

    upgraded_report, upgraded_state, upgraded_rows = load_both(tmp_path / "upgraded.duckdb", downgrade=True)
    control_report, _, control_rows = load_both(tmp_path / "control.duckdb", downgrade=False)

    # the old windows were honoured exactly as the table's would have been, and followers saw both exports
    assert upgraded_report == control_report
    assert upgraded_report["watch_history"]["already_loaded"] > 0
    assert upgraded_rows == control_rows
    for table in ("watch_history", "followers"):
        query = f"SELECT * EXCLUDE (_dlt_load_id, snapshot_version) FROM tiktok.{table} ORDER BY row_key" \
            if table == "followers" else f"SELECT row_key FROM tiktok.{table} ORDER BY row_key"
        assert sql(tmp_path / "upgraded.duckdb", query) == sql(tmp_path / "control.duckdb", query), table
    # and they moved: nothing per user is left in dlt's state
    assert not any(entries.get(kind) for entries in upgraded_state.values() for kind in ("coverage", "snapshots"))


def test_a_fact_added_after_an_archives_rows_went_out_fails_loudly():
    """The rows are made by a resource dlt runs after the table resources; should a dlt version run
    them in another order, a window would be lost: the load fails instead."""

    @dataclasses.dataclass(eq=False)
    class Archive:
        name: str = "export.zip"
        sha256: str = "ab" * 32

    state, archive = UserState(), Archive()
    state.add("user_a", "coverage", "likes", [["2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00"]], archive)
    (row,) = state.rows("user_a", archive)
    assert (row["kind"], row["table_name"], row["source"]) == ("coverage", "likes", archive.sha256)
    with pytest.raises(RuntimeError, match="export.zip: coverage of watch_history changed after the archive"):
        state.add("user_a", "coverage", "watch_history", [], archive)
    state.add("user_a", "coverage", "watch_history", [], Archive(sha256="cd" * 32))  # the next archive may


def test_facts_arriving_in_any_order_give_the_same_windows(tmp_path: Path):
    """Each archive's facts are rows of their own: the windows of two exports of a user are the same
    whether they were loaded together, one after the other, or the other way round."""
    history = UserHistory("user_a", seed=9, sizes=SMALL)
    exports = [history.export(tmp_path / "x", at=AT - timedelta(days=d)) for d in (200, 0)]

    def windows(db_name: str, batches: list[list[Path]]) -> list[tuple]:
        db = tmp_path / f"{db_name}.duckdb"
        pipeline = make_pipeline(duckdb_path=db, pipelines_dir=tmp_path / db_name)
        for batch in batches:
            load_archives(pipeline, batch)
        return sql(db, f"SELECT kind, table_name, source, value FROM tiktok.{USER_STATE_TABLE} ORDER BY 1, 2, 3")

    together = windows("together", [[e.path for e in exports]])
    assert windows("in_order", [[exports[0].path], [exports[1].path]]) == together
    assert windows("reversed", [[exports[1].path], [exports[0].path]]) == together
    sources = {source for _, _, source, _ in together}
    assert len(sources) == 2 and len(together) == 2 * len({(k, t) for k, t, _, _ in together})


def test_the_bookkeeping_is_complete_whatever_dlts_extraction_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """In a pipeline of the user's own, dlt may interleave the table resources (``round_robin``, its
    default) instead of running them one after another (``fifo``, which the loader sets): the load
    report, the windows and the snapshot times must come out the same."""
    from tiktok_portability_source import tiktok_portability

    history = UserHistory("user_a", seed=11, sizes=SMALL)
    generated = [history.export(tmp_path / "x", at=AT - timedelta(days=d)) for d in (120, 0)]
    exports = [g.path for g in generated]

    def load(mode: str) -> tuple[list, dict, list, dict]:
        monkeypatch.setenv("EXTRACT__NEXT_ITEM_MODE", mode)
        # dlt falls back to fifo once a fork added more sources than this: raised so that it really
        # interleaves the source's ~35 transformers
        monkeypatch.setenv("EXTRACT__MAX_PARALLEL_ITEMS", "200")
        db = tmp_path / f"{mode}.duckdb"
        pipeline = dlt.pipeline(f"own_{mode}", destination=dlt.destinations.duckdb(str(db)), dataset_name="tiktok",
                                pipelines_dir=str(tmp_path / mode))
        pipeline.run(tiktok_portability(archives=exports, batch_rows=5))  # many batches: more to interleave
        # how the records split between written, already_loaded and repeats depends on which archive's
        # rows came first; what was read, and what the tables hold, may not
        report = sql(db, "SELECT archive, table_name, section, records, unreadable FROM tiktok.load_report "
                         "ORDER BY 1, 2, 3")
        followers = sql(db, "SELECT row_key, first_seen_at, last_seen_at, disappeared_at FROM tiktok.followers "
                            "ORDER BY 1")
        counts = {t: sql(db, f"SELECT COUNT(*) FROM tiktok.{t}")[0][0] for t in ("watch_history", "likes", "devices")}
        return report, _entries(db), followers, counts

    fifo, interleaved = load("fifo"), load("round_robin")
    assert interleaved == fifo
    report, entries, followers, counts = fifo
    assert {table for _, table, *_ in report} >= {"watch_history", "followers", "profile"}
    expected = history.expected_counts(generated)
    assert counts == {t: expected[t] for t in counts}
    assert ("coverage", "watch_history") in entries and ("snapshots", "followers") in entries
    assert followers


def test_a_fact_of_a_load_that_never_completed_is_not_trusted(tmp_path: Path):
    """A load killed half-way in a working folder that is then thrown away (an orchestrator's per-run
    folder) may have merged ``_tiktok_user_state`` and not the data: its facts must not skip rows."""
    import duckdb

    history = UserHistory("user_a", seed=13, sizes=SMALL)
    export = history.export(tmp_path / "x", at=AT)
    db = tmp_path / "t.duckdb"
    load_archives(make_pipeline(duckdb_path=db, pipelines_dir=tmp_path / "first"), [export.path])
    with duckdb.connect(str(db)) as con:  # the data is gone, but the facts of a half-finished load remain
        con.execute("DELETE FROM tiktok.watch_history")
        con.execute("UPDATE tiktok._tiktok_user_state SET _dlt_load_id = '1.5'")  # no such load in _dlt_loads
    result = load_archives(make_pipeline(duckdb_path=db, pipelines_dir=tmp_path / "second"), [export.path])
    assert result.report["watch_history"]["already_loaded"] == 0
    assert sql(db, "SELECT COUNT(*) FROM tiktok.watch_history") == [(export.expected["watch_history"],)]
