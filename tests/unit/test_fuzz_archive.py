"""Fuzzing the reader: random sections, key casings, sentinels and value types, then random damage
(truncation, byte flips, wrong types). The reader either reads the archive into rows or raises
``ArchiveError``; never another exception, never a hang. Derandomised, so CI sees the same examples."""

from __future__ import annotations

import functools
import signal
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.hostile import AT, DATA, read_all

from tiktok_portability_source import settings as archive_settings
from tiktok_portability_source.archive import ArchiveError, open_archive
from tiktok_portability_source.fake.generator import Sizes, UserHistory
from tiktok_portability_source.layouts import ENTITIES
from tiktok_portability_source.records import drop_empty_rows, section_tables

SENTINELS = ["", "N/A", "None", "null", "n/a", " ", "0"]
SECTIONS = [("Your Activity", "Watch History", "VideoList"), ("Your Activity", "Searches", "SearchList"),
            ("Likes and Favorites", "Like List", "ItemFavoriteList"), ("Activity", "Follower List", "FansList"),
            ("Comment", "Comments", "CommentsList"), ("Your Activity", "Purchases", "SendGifts"),
            ("Post", "Posts", "VideoList"), ("Direct Message", "Direct Messages", "ChatHistory"),
            ("Profile", "Profile Info", "ProfileMap"), ("Your Activity", "Future", "FutureList")]
FIELDS = ["Date", "Link", "SearchTerm", "UserName", "comment", "Price", "Likes", "From", "Content", "userName"]

casing = st.sampled_from([str, str.lower, str.upper, lambda s: s.replace(" ", "")])
scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False),
                   st.sampled_from(SENTINELS), st.text(max_size=12),
                   st.sampled_from(["2025-09-01 08:00:00", "2025-09-01 08:00:00 UTC", "2025-09-01T08:00:00Z",
                                    "01-Jan-19xx", "https://www.tiktokv.com/share/video/7000000000000000001/"]))
value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                     max_leaves=8)
item = st.one_of(st.dictionaries(st.builds(lambda f, c: c(f), st.sampled_from(FIELDS), casing), value, max_size=5),
                 value)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {"Profile": {"Profile Info": {"ProfileMap": {"userName": "user_a"}}}}
    for top, sub, key in draw(st.lists(st.sampled_from(SECTIONS), max_size=5)):
        top, sub, key = draw(casing)(top), draw(casing)(sub), draw(casing)(key)
        body = draw(st.one_of(st.lists(item, max_size=6), value, st.dictionaries(st.text(max_size=8),
                                                                                 st.lists(item, max_size=3),
                                                                                 max_size=2)))
        doc.setdefault(top, {})
        if isinstance(doc[top], dict):
            doc[top][sub] = draw(st.sampled_from([{key: body}, body, {key: body, "App": 1}]))
    return doc


@st.composite
def damaged(draw: st.DrawFn) -> tuple[bytes, str]:
    """A document's bytes and the container to put them in, maybe damaged."""
    data = orjson.dumps(draw(documents()), option=orjson.OPT_INDENT_2)
    damage = draw(st.sampled_from(["none", "truncate", "flip", "insert", "bom", "nest", "number"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip":
        for at in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=4)):
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    elif damage == "insert":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b",", b"]", b"{", b'"', b"\\", b"\xff", b"\n", b"null"])) + data[at:]
    elif damage == "bom":
        data = draw(st.sampled_from([b"\xef\xbb\xbf" + data, data.decode().encode("utf-16")]))
    elif damage == "nest":
        depth = draw(st.integers(200, 1100))
        data = data.replace(b'"user_a"', b'"user_a", "x": ' + b"[" * depth + b"]" * depth, 1)
    elif damage == "number":  # numbers orjson cannot write (beyond 64 bits, beyond double)
        data = data.replace(b"null", draw(st.sampled_from([b"123456789012345678901234567890", b"1e400", b"-0"])))
    return data, draw(st.sampled_from(["bare", "zip", "zip-truncated", "zip-flipped"]))


@contextmanager
def hard_timeout(seconds: int) -> Iterator[None]:
    """A hang fails the example (hypothesis' deadline only measures examples that finish)."""
    def expired(*_: object) -> None:
        raise TimeoutError(f"reader took more than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def write(tmp: Path, data: bytes, container: str, flip_at: int) -> Path:
    if container == "bare":
        path = tmp / "user_data_tiktok.json"
        path.write_bytes(data)
        return path
    path = tmp / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(DATA, data)
    raw = path.read_bytes()
    if container == "zip-truncated":
        raw = raw[: flip_at % len(raw)]
    elif container == "zip-flipped":
        at = flip_at % len(raw)
        raw = raw[:at] + bytes([raw[at] ^ 0xA5]) + raw[at + 1:]
    path.write_bytes(raw)
    return path


def rows_per_table(path: Path, **kwargs: Any) -> dict[str, int]:
    """The rows ``load`` would send per table: ``read_all``, without the items that have no value at all
    (``records.drop_empty_rows``, as the source drops them)."""
    opened = open_archive(path, **kwargs)
    return {e.table: sum(drop_empty_rows(t, e).num_rows for t in section_tables(e, opened.sections_for(e.table),
                                                                               opened.user_id, opened.sha256))
            for e in ENTITIES if opened.sections_for(e.table)}


def outcome(path: Path, stream: bool) -> dict[str, int] | str:
    """Rows per table, or "refused" (ArchiveError: one line naming the file); ``stream``: every multi-line
    list is left on disk and read in blocks (``archive.LazyList``) instead of parsed up front."""
    inline = archive_settings.JSON_INLINE_BYTES
    archive_settings.JSON_INLINE_BYTES = 0 if stream else inline
    try:
        with hard_timeout(20):
            return rows_per_table(path, user_id="user_a")
    except ArchiveError as exc:
        message = str(exc)
        assert message and "\n" not in message and path.name in message
        return "refused"
    finally:
        archive_settings.JSON_INLINE_BYTES = inline


@settings(max_examples=250, deadline=4000, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(case=damaged(), flip_at=st.integers(0, 2**16))
def test_the_reader_reads_or_raises_archive_error(tmp_path: Path, case: tuple[bytes, str], flip_at: int):
    """Whatever the damage: rows or one ArchiveError, never another exception or a hang; and the same
    answer whether the lists are parsed up front or streamed in blocks (a read that depended on it would
    lose or invent rows)."""
    data, container = case
    path = write(tmp_path, data, container, flip_at)
    parsed, streamed = outcome(path, stream=False), outcome(path, stream=True)
    assert parsed == streamed
    if parsed != "refused":
        assert set(parsed) <= {e.table for e in ENTITIES} and all(isinstance(n, int) for n in parsed.values())


# --- one fuzzed section inside a valid export: it costs only itself ---------------------------------

TARGETS = {  # table -> (top, sub, list key) in a family-B export
    "searches": ("Your Activity", "Searches", "SearchList"),
    "likes": ("Your Activity", "Like List", "ItemFavoriteList"),
    "logins": ("Your Activity", "Login History", "LoginHistoryList"),
    "followers": ("Your Activity", "Follower", "FansList"),
    "comments": ("Comment", "Comments", "CommentsList"),
}
list_item = st.one_of(st.none(), scalar,
                      st.dictionaries(st.builds(lambda f, c: c(f), st.sampled_from(FIELDS), casing), value, max_size=5))


@functools.lru_cache(maxsize=1)
def base_document() -> tuple[bytes, dict[str, int]]:
    """A small valid export (no repeats) and the rows each table gets from it."""
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-base-"))
    archive = UserHistory("user_a", seed=1, sizes=Sizes.scaled(0.2)).export(
        tmp, at=AT, family="B", container="bare", duplicates=False, unknown_sections=False)
    return archive.path.read_bytes(), archive.expected


def _read_section(path: Path, stream: bool) -> tuple[Any, list[Any], dict[str, int], dict[str, int]]:
    """(opened archive, its tables per entity, rows per table as read, rows per table once empty items
    are dropped) with every multi-line list parsed up front, or streamed (``stream``)."""
    inline = archive_settings.JSON_INLINE_BYTES
    archive_settings.JSON_INLINE_BYTES = 0 if stream else inline
    try:
        with hard_timeout(20):
            opened = open_archive(path)
            tables = {e.table: (e, list(section_tables(e, opened.sections_for(e.table), opened.user_id,
                                                       opened.sha256))) for e in ENTITIES}
    finally:
        archive_settings.JSON_INLINE_BYTES = inline
    read = {t: sum(x.num_rows for x in xs) for t, (_, xs) in tables.items()}
    kept = {t: sum(drop_empty_rows(x, e).num_rows for x in xs) for t, (e, xs) in tables.items()}
    return opened, list(tables), read, kept


@settings(max_examples=60, deadline=4000, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(table=st.sampled_from(sorted(TARGETS)), items=st.lists(list_item, max_size=8), key_case=casing)
def test_a_fuzzed_section_costs_only_itself(tmp_path: Path, table: str, items: list[Any], key_case: Any):
    """A valid export whose one list holds fuzzed items: every other table gets exactly the generator's
    rows; the fuzzed list gives one row per object item and counts the other (non-null) items as
    unreadable, or, when its first item is no object, is skipped whole and recorded in unparsed_sections
    with its item count. Streamed in blocks, the same rows are loaded (empty items aside) and the same
    items counted."""
    data, expected = base_document()
    doc = orjson.loads(data)
    top, sub, key = TARGETS[table]
    doc[top][sub] = {key_case(key): items}
    path = tmp_path / "user_data_tiktok.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    opened, _, rows, kept = _read_section(path, stream=False)
    for other in rows:
        if other != table and other not in ("settings", "autofill"):  # settings: one row per setting
            assert rows[other] == expected.get(other, 0), other
    objects = sum(1 for i in items if isinstance(i, dict))
    stray = sum(1 for i in items if i is not None and not isinstance(i, dict))
    skipped = [(u.path, u.item_count) for u in opened.unparsed if sub in u.path]
    unreadable = sum(s.unreadable for s in opened.sections_for(table))
    if items and items[0] is not None and not isinstance(items[0], dict):
        assert (rows[table], [n for _, n in skipped]) == (0, [len(items)]), skipped
    else:
        assert (rows[table], unreadable, skipped) == (objects, stray, []), (items, skipped)
    streamed, _, _, streamed_kept = _read_section(path, stream=True)
    assert streamed_kept == kept
    assert [(u.path, u.item_count) for u in streamed.unparsed if sub in u.path] == skipped
    assert sum(s.unreadable for s in streamed.sections_for(table)) == unreadable


@pytest.mark.parametrize("line", ["Chat History with " + " " * 200_000 + "x", ">>> Chat History with " + "a" * 300_000 + " :",
                                  "[" + "2" * 100_000 + "] " + "b" * 100_000])
def test_pathological_txt_lines_are_read_in_linear_time(tmp_path: Path, line: str):
    folder = tmp_path / "export" / "Direct Messages"
    folder.mkdir(parents=True)
    (folder / "Direct Messages.txt").write_text(">>> Chat History with user_b:\n" + line + "\n")
    (tmp_path / "export" / "Searches.txt").write_text("Search Term: " + "x" * 1_000_000 + "\nDate: 2025-01-01 00:00:00\n")
    with hard_timeout(10):
        counts = read_all(tmp_path / "export", user_id="user_a")
    assert counts["searches"] == 1
