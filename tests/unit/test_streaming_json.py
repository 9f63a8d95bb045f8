"""Big JSON lists are streamed (archive.LazyList) and read in blocks by pyarrow: the rows, keys and
reports must be exactly those of parsing the whole document, for every layout and odd formatting."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from tiktok_portability_source.archive import jsonstream as archive_module
from tiktok_portability_source import settings
from tiktok_portability_source.archive import ArchiveError, LazyList, open_archive
from tiktok_portability_source.fake.generator import Sizes, UserHistory
from tiktok_portability_source.layouts import BY_TABLE, ENTITIES
from tiktok_portability_source.records import row_keys, section_tables

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)


def rows_of(path: Path, **kwargs) -> dict[str, list[dict]]:
    """Every table's rows, sorted, as Python values (what the source would yield)."""
    opened = open_archive(path, **kwargs)
    out = {}
    for entity in ENTITIES:
        rows = []
        for table in section_tables(entity, opened.sections_for(entity.table), opened.user_id, opened.sha256):
            rows += table.to_pylist()
        out[entity.table] = sorted(rows, key=lambda r: r["row_key"])
    out["_unparsed"] = sorted((u.path, u.item_count) for u in opened.unparsed)
    out["_meta"] = [opened.user_id, opened.family, opened.exported_at, opened.sha256,
                    {t: sum(len(s.items) for s in opened.sections_for(t)) for t in opened.sections}]
    return out


def whole_document(path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs) -> dict[str, list[dict]]:
    """The same, with the document parsed whole (the reader before streaming)."""
    monkeypatch.setattr(archive_module, "_split_json", _never_split)
    try:
        return rows_of(path, **kwargs)
    finally:
        monkeypatch.undo()


def _never_split(*args, **kwargs):
    raise archive_module._NotSplittable("test: parse whole")


def lazy_lists(path: Path, **kwargs) -> list[LazyList]:
    opened = open_archive(path, **kwargs)
    return [s.items for sections in opened.sections.values() for s in sections if isinstance(s.items, LazyList)]


@pytest.mark.parametrize("family", ["F", "A", "A-activity", "B", "C", "D", "E"])
@pytest.mark.parametrize("container", ["zip", "bare"])
def test_streamed_lists_give_exactly_the_rows_of_the_whole_document(tmp_path, monkeypatch, family, container):
    archive = UserHistory("user_a", seed=7).export(tmp_path, at=AT, family=family, container=container)
    user = {} if archive.username else {"user_id": "user_a"}
    expected = whole_document(archive.path, monkeypatch, **user)
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)  # every multi-line array is streamed
    assert lazy_lists(archive.path, **user)
    assert rows_of(archive.path, **user) == expected


def test_blocks_cut_between_items_and_pyarrow_reads_them(tmp_path, monkeypatch):
    sizes = Sizes(watch_history=20_000, likes=5_000)
    history = UserHistory("user_a", seed=3, start=AT - timedelta(days=170), end=AT, sizes=sizes)
    archive = history.export(tmp_path, at=AT, family="B")
    expected = whole_document(archive.path, monkeypatch)
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 64 << 10)
    monkeypatch.setattr(archive_module, "_BLOCK_BYTES", 100 << 10)  # many blocks
    watch = next(s.items for s in open_archive(archive.path).sections_for("watch_history"))
    assert isinstance(watch, LazyList) and len(watch) == 20_000 + archive.duplicate_rows["watch_history"]
    assert len(list(watch.blocks())) > 10
    assert rows_of(archive.path) == expected


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
@pytest.mark.parametrize("block_bytes", [1, 5000, 1 << 16])
def test_spans_cover_the_list_exactly_and_cut_only_between_items(tmp_path, monkeypatch, eol, block_bytes):
    """Workers read blocks from ``spans``: joined with the commas between them they give back the whole
    list, every block is whole items, and an item bigger than a block (a long title) stays whole."""
    items = [dict(item, Title="] ],\n{ [" * (3000 if n % 7 == 0 else 1)) for n, item in enumerate(WATCH * 20)]
    path = _write_json(tmp_path, json.dumps(_doc(items), indent=2).replace("\n", eol))
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    (watch,) = lazy_lists(path)
    spans = list(watch.spans(block_bytes))
    assert b",".join(watch.read(span) for span in spans) == watch.read((0, watch.length))
    blocks = list(watch.blocks(block_bytes))
    assert [archive_module.parse_items(b, "t") for b in blocks] and \
        [i for b in blocks for i in archive_module.parse_items(b, "t")] == items
    assert len(blocks) > (10 if block_bytes < 1 << 16 else 1)
    expected = whole_document(path, monkeypatch)
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    monkeypatch.setattr(archive_module, "_BLOCK_BYTES", block_bytes)
    assert rows_of(path) == expected and len(expected["watch_history"]) == len(items)


def test_a_list_of_non_objects_is_one_block(tmp_path):
    interior = json.dumps([f"tag {n}]" for n in range(5000)], indent=2)[1:-1].encode()
    (tmp_path / "list").write_bytes(interior)
    tags = LazyList(tmp_path / "list", 0, len(interior), "t")
    assert tags.separator is None and list(tags.spans(100)) == [(0, tags.length)]
    assert archive_module.parse_items(next(tags.blocks(100)), "t") == [f"tag {n}]" for n in range(5000)]


def _write_json(tmp_path: Path, text: str, name: str = "user_data_tiktok.json") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def _doc(watch: list[dict], **extra) -> dict:
    return {"Profile": {"Profile Info": {"ProfileMap": {"userName": "user_a"}}},
            "Your Activity": {"Watch History": {"VideoList": watch}, **extra}}


WATCH = [{"Date": f"2025-09-0{d} 08:00:0{s}", "Link": f"https://www.tiktokv.com/share/video/70000000000000000{d}{s}/"}
         for d in range(1, 9) for s in range(10)]


@pytest.mark.parametrize("style", ["indent2", "tabs", "crlf", "bom", "minified", "one-line-items"])
def test_formatting_variants_read_the_same(tmp_path, monkeypatch, style):
    doc = _doc(WATCH + [WATCH[3]], **{"Searches": {"SearchList": [{"Date": "2025-09-04 19:20:00",
                                                                  "SearchTerm": "bread, [recipe] {x}\n"}]}})
    text = json.dumps(doc, indent="\t" if style == "tabs" else None if style in ("minified", "one-line-items") else 2,
                      ensure_ascii=False)
    if style == "one-line-items":
        items = ",\n        ".join(json.dumps(i) for i in doc["Your Activity"]["Watch History"]["VideoList"])
        text = text.replace(json.dumps(doc["Your Activity"]["Watch History"]["VideoList"]), "[\n        " + items + "\n]")
    if style == "crlf":
        text = text.replace("\n", "\r\n")
    path = _write_json(tmp_path, ("\ufeff" if style == "bom" else "") + text)
    expected = whole_document(path, monkeypatch)
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    assert rows_of(path) == expected
    assert len({r["row_key"] for r in expected["watch_history"]}) == len(WATCH)  # the duplicate: one key
    if style in ("indent2", "tabs", "crlf", "bom"):
        assert lazy_lists(path)


def test_odd_items_in_a_streamed_list(tmp_path, monkeypatch):
    """Numbers, nested values, nulls and non-objects: read the Python way, with the same result."""
    odd = WATCH[:5] + [
        {"Date": "2025-09-09 10:00:00", "Link": 12345},
        {"date": "2025-09-09 10:00:01", "LINK": "https://www.tiktok.com/@u/video/7000000000000000999", "x": {"a": [1]}},
        None, "just text", {},
        {"Date": "19xx-01-01 00:00:00", "Link": "https://www.tiktokv.com/share/video/7000000000000000998/"},
        {"Date": " 2025-09-09 10:00:02 UTC ", "Link": "  N/A "},
    ]
    path = _write_json(tmp_path, json.dumps(_doc(odd), indent=2))
    expected = whole_document(path, monkeypatch)
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    assert rows_of(path) == expected


def test_unusual_formatting_falls_back_to_the_whole_document(tmp_path, monkeypatch):
    text = json.dumps(_doc(WATCH), indent=2)
    text = text.replace('\n      ]\n    }', '\n  ]\n    }')  # closing bracket not under its opening line
    path = _write_json(tmp_path, text)
    expected = whole_document(path, monkeypatch)
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    assert rows_of(path) == expected and len(expected["watch_history"]) == len(WATCH)


def test_invalid_json_inside_a_streamed_list_is_an_error_naming_the_file(tmp_path, monkeypatch):
    text = json.dumps(_doc(WATCH), indent=2).replace('"Link": "https://www.tiktokv.com/share/video/7000000000000000055/"',
                                                     '"Link": "https://www.tiktokv.com/share/video/70000000000000"00055/"')
    path = _write_json(tmp_path, text)
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    opened = open_archive(path)
    with pytest.raises(ArchiveError, match="user_data_tiktok.json: Your Activity › Watch History › VideoList is not valid JSON"):
        for entity in ENTITIES:
            list(section_tables(entity, opened.sections_for(entity.table), opened.user_id, opened.sha256))


def _old_row_keys(user_id, table, columns, key, length, raw_fallback=None):
    """The row keys as the first version computed them (per row, hashlib)."""
    import pyarrow.compute as pc

    parts = []
    for spec in key:
        names = spec.split("|")
        array = columns[names[0]]
        for other in names[1:]:
            array = pc.coalesce(array, columns[other])
        if pa.types.is_timestamp(array.type):
            array = pc.cast(pc.cast(array, pa.timestamp("s", tz="UTC")), pa.int64())
        values = pc.cast(array, pa.string()).to_pylist()
        raw = raw_fallback.get(names[0]) if raw_fallback else None
        if raw is not None and pa.types.is_timestamp(columns[names[0]].type):
            values = [v if v is not None else (None if r is None else str(r)) for v, r in zip(values, raw)]
        parts.append(values)
    prefix = f"{user_id}\x1f{table}"
    keys = []
    for row in zip(*parts) if parts else ([] for _ in range(length)):
        text = "\x1f".join("\x00" if v is None else v for v in row)
        keys.append(hashlib.md5(f"{prefix}\x1f{text}".encode()).hexdigest())
    return keys


def test_row_keys_are_those_of_the_first_version():
    ts = pa.array([datetime(2025, 1, 1, tzinfo=timezone.utc), None, None, datetime(1969, 12, 31, 23, 59, 59,
                                                                                     tzinfo=timezone.utc)],
                  pa.timestamp("us", tz="UTC"))
    columns = {"at": ts, "video_id": pa.array(["7", None, "é\x00\x1f", None]),
               "link": pa.array(["l1", "l2", None, None]), "n": pa.array([1, None, 3, 4], pa.int64())}
    raw = {"at": ["2025-01-01 00:00:00", "19xx-01-01", None, "1969-12-31 23:59:59"]}
    for key in [("at", "video_id|link"), ("at", "n"), ("link",), ()]:
        for fallback in (None, raw, {"at": pa.array(raw["at"])}):
            got = row_keys("user_ü", "watch_history", columns, key, 4, fallback).to_pylist()
            assert got == _old_row_keys("user_ü", "watch_history", columns, key, 4,
                                        raw if fallback is not None else None), (key, fallback)
    assert row_keys("u", "t", columns, ("link",), 0).to_pylist() == []
    entity = BY_TABLE["watch_history"]
    assert entity.key == ("watched_at", "video_id|link")
