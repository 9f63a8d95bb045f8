"""The same history exported at the same moment as JSON (family D) and as TXT (generation 2025), loaded
into two DuckDB files: every table both formats carry holds the same rows, compared column by column
(row keys included: a key is made from values, never from the format that carried them).

Which tables each format carries comes from the generator (``FAMILY_TABLES``, ``TXT_TABLES``), not from
the reader. Columns only one format carries are listed below with the reason, and checked to be
really carried by JSON only: a skip list that hides a difference fails."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from support.db import sql

from tiktok_portability_source.fake.generator import (
    FAMILY_TABLES,
    OPT_IN_TABLES,
    TXT_TABLES,
    GeneratedArchive,
    UserHistory,
)

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)
FAMILY, GENERATION = "D", "2025"
BOTH = sorted((FAMILY_TABLES[FAMILY] & TXT_TABLES[GENERATION]) - set(OPT_IN_TABLES))
# bookkeeping columns that differ per archive or per load by construction (snapshot_version: the time
# a follower snapshot was written, which orders merges)
BOOKKEEPING = {"_dlt_load_id", "_dlt_id", "archive_sha256", "snapshot_version"}
# table -> {column: why only the JSON export carries it}; each must be filled from JSON and empty from TXT
JSON_ONLY: dict[str, dict[str, str]] = {
    "profile": {c: "ProfileMap key of C/D exports; TXT Profile Info.txt has no such label"
                for c in ("display_name", "follower_count", "following_count", "account_region")},
    "devices": {
        "idfv": "TXT Status.txt has no IDFV label", "android_id": "TXT Status.txt has no Android ID label",
        "uid": "JSON C/D only (UID)", "did": "JSON C/D only (DID)",
        "row_key": "every field is the key of a Status record: the JSON-only fields make other keys",
    },
    "activity_summary": {"note": "TXT writes the note as a bracketed first line, not as a field"},
}
# (table, column) -> how the JSON text is written in TXT: the same value in another spelling
OTHER_SPELLING = {("devices", "resolution"): lambda v: v.replace("x", "*")}  # C/D 1080x2400, TXT 1080*2400
# rows only JSON lists: (table, why); compared on the rows both list
JSON_ONLY_ROWS = {"settings": "TXT Settings.txt lists a subset of the settings SettingsMap holds"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[GeneratedArchive, Path]]:
    from tiktok_portability_source.loader import load_archives, make_pipeline

    tmp = tmp_path_factory.mktemp("json_vs_txt")
    history = UserHistory("user_a", seed=14)
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        mp.chdir(tmp)
        for fmt in ("json", "txt"):
            archive = history.export(tmp / "in" / fmt, at=AT, family=FAMILY, data_format=fmt,
                                     txt_generation=GENERATION)
            db = tmp / f"{fmt}.duckdb"
            load_archives(make_pipeline(duckdb_path=db, pipelines_dir=tmp / f"{fmt}-pl"), [archive.path])
            out[fmt] = (archive, db)
    return out


def _columns(db: Path, table: str) -> list[str]:
    return [c for (c,) in sql(db, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'tiktok' "
                                  "AND table_name = ? ORDER BY ordinal_position", table)]


def _rows(db: Path, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    return sql(db, f"SELECT {', '.join(columns)} FROM tiktok.{table}")


def test_the_formats_carry_the_tables_the_generator_says(loaded):
    assert len(BOTH) >= 25
    for fmt, (archive, _) in loaded.items():
        assert set(BOTH) <= archive.tables, fmt
    json_archive, txt_archive = loaded["json"][0], loaded["txt"][0]
    same = [t for t in BOTH if t not in JSON_ONLY_ROWS]
    assert {t: json_archive.expected[t] for t in same} == {t: txt_archive.expected[t] for t in same}
    assert all(json_archive.expected[t] > txt_archive.expected[t] > 0 for t in JSON_ONLY_ROWS)


@pytest.mark.parametrize("table", BOTH)
def test_json_and_txt_give_the_same_rows_column_by_column(loaded, table):
    (json_archive, json_db), (_, txt_db) = loaded["json"], loaded["txt"]
    json_cols, txt_cols = _columns(json_db, table), _columns(txt_db, table)
    only = JSON_ONLY.get(table, {})
    assert set(txt_cols) - BOOKKEEPING <= set(json_cols), "a column only TXT carries"
    assert set(json_cols) - set(txt_cols) - BOOKKEEPING <= set(only), "a JSON-only column not listed"
    compared = [c for c in json_cols if c in txt_cols and c not in BOOKKEEPING and c not in only]
    assert compared
    for column in only:  # listed as JSON-only: filled from JSON, empty (or absent) from TXT
        if column == "row_key":
            continue
        assert sql(json_db, f"SELECT count({column}) FROM tiktok.{table}")[0][0] > 0, column
        if column in txt_cols:
            assert sql(txt_db, f"SELECT count({column}) FROM tiktok.{table}")[0][0] == 0, column

    json_rows, txt_rows = _rows(json_db, table, compared), _rows(txt_db, table, compared)
    assert len(json_rows) == json_archive.expected[table] > 0
    for (t, column), spelling in OTHER_SPELLING.items():
        if t == table:
            at = compared.index(column)
            assert any(r[at] != spelling(r[at]) for r in json_rows), column  # the spellings do differ
            json_rows = [(*r[:at], spelling(r[at]), *r[at + 1:]) for r in json_rows]
    if table in JSON_ONLY_ROWS:
        key = compared.index("setting_key")
        txt_keys = {r[key] for r in txt_rows}
        assert txt_keys < {r[key] for r in json_rows}
        json_rows = [r for r in json_rows if r[key] in txt_keys]
    if "row_key" not in compared:
        assert sorted(json_rows, key=repr) == sorted(txt_rows, key=repr)
        return
    at = compared.index("row_key")
    by_key = {fmt: {r[at]: r for r in rows} for fmt, rows in (("json", json_rows), ("txt", txt_rows))}
    assert len(by_key["json"]) == len(json_rows) and len(by_key["txt"]) == len(txt_rows)
    assert by_key["json"].keys() == by_key["txt"].keys(), "row keys differ"
    differing = {}
    for n, column in enumerate(compared):
        bad = [(k, by_key["json"][k][n], by_key["txt"][k][n]) for k in by_key["json"]
               if by_key["json"][k][n] != by_key["txt"][k][n]]
        if bad:
            differing[column] = (len(bad), bad[0][1:])  # (rows, (json value, txt value) of one of them)
    assert differing == {}
