"""Content-defined blocks of big lists (``archive/blocks.py``, ``LazyList.spans``).

What a user relies on: the blocks tile the list exactly (a gap or an overlap would lose or double
rows), and two exports of one list share the blocks of their common run, which is what lets a
next-day load skip them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiktok_portability_source.archive import blocks, jsonstream
from tiktok_portability_source.archive.blocks import block_digest
from tiktok_portability_source.archive.jsonstream import LazyList, parse_items


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonstream, "_BLOCK_BYTES", 32 << 10)  # blocks of 4 to 48 KB
    monkeypatch.setattr(blocks, "HIT_BITS", 7)  # a cut every ~128 items
    monkeypatch.setattr(blocks, "SCAN_BYTES", 20_000)  # many stretches, cut points across their edges


def watch_items(first: int, last: int) -> list[dict[str, str]]:
    """Watch events ``first``..``last`` (newest first), each unique, some long."""
    return [{"Date": f"2025-{1 + n % 12:02d}-{1 + n % 28:02d} {n % 24:02d}:{n % 60:02d}:{n * 7 % 60:02d}",
             "Link": f"https://www.tiktokv.com/share/video/{7_000_000_000 + n * 7919}/",
             **({"Title": "] ],\n{ [" * 2000} if n % 997 == 0 else {})}
            for n in range(last, first - 1, -1)]


def lazy(tmp_path: Path, name: str, items: list[dict[str, str]], eol: str = "\n") -> LazyList:
    interior = json.dumps(items, indent=2)[1:-1].replace("\n", eol).encode()
    (tmp_path / name).write_bytes(interior)
    return LazyList(tmp_path / name, 0, len(interior), name)


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_content_blocks_tile_the_list_and_hold_whole_items(tmp_path: Path, eol: str) -> None:
    items = watch_items(0, 6000)
    watch = lazy(tmp_path, "watch", items, eol)
    spans = list(watch.spans())
    assert len(spans) > 20
    assert b",".join(watch.read(span) for span in spans) == watch.read((0, watch.length))
    assert [i for span in spans for i in parse_items(watch.read(span), "t")] == items
    longest = jsonstream._BLOCK_BYTES * 3 // 2
    # only a block holding an item bigger than the longest block may be longer
    assert all(end - start <= longest or b"] ]" in watch.read((start, end)) for start, end in spans)


def test_a_next_day_list_shares_the_blocks_of_its_unchanged_run(tmp_path: Path) -> None:
    """New events at the head, the oldest gone at the tail, one event changed in the middle: the
    blocks between the changes are byte for byte the same, and the changed event's block is not."""
    today = watch_items(200, 6000)
    tomorrow = watch_items(300, 6150)
    middle = len(tomorrow) // 2
    tomorrow[middle] = {**tomorrow[middle], "Link": "https://www.tiktokv.com/share/video/1/"}
    first, second = lazy(tmp_path, "a", today), lazy(tmp_path, "b", tomorrow)
    known = {block_digest("t", first.read(span)) for span in first.spans()}
    spans = list(second.spans())
    shared = [span for span in spans if block_digest("t", second.read(span)) in known]
    shared_bytes = sum(end - start for start, end in shared)
    assert shared_bytes >= 0.7 * second.length, (len(shared), len(spans))
    changed = json.dumps(tomorrow[middle]["Link"]).encode()
    assert not any(changed in second.read(span) for span in shared)
    assert any(changed in second.read(span) for span in spans)


def test_look_alike_items_still_give_blocks_of_the_shortest_size(tmp_path: Path) -> None:
    """A list whose items are all the same is all hits or none: never a block of one item."""
    items = [{"Date": "2025-01-01 00:00:00", "Link": "N/A"}] * 20_000
    watch = lazy(tmp_path, "same", items)
    spans = list(watch.spans())
    assert len(spans) > 5
    assert all(end - start >= jsonstream._BLOCK_BYTES // 8 for start, end in spans[:-1])
    assert sum(len(parse_items(watch.read(span), "t")) for span in spans) == 20_000


def test_a_block_digest_depends_on_what_else_makes_its_rows() -> None:
    """The same bytes in two DM threads are two partners' messages: other rows, another digest."""
    block = b'{"Date": "2025-01-01 00:00:00", "Content": "hi"}'
    assert block_digest("direct_messages\x1f[('conversation', 'anna')]", block) != \
        block_digest("direct_messages\x1f[('conversation', 'bo')]", block)
    assert block_digest("t", block) == block_digest("t", block) != block_digest("t", block + b" ")
