"""Big lists (``archive.LazyList``) are checked whatever reads them, and their spool leaves no trace.

A big list is valid JSON or the archive is refused, with one line naming the file and the list: also
when it is only counted (an unknown section, a list no table reads, the follower count of an excluded
follower table), when the load will not read it (an excluded table), and when its blocks are skipped
as already loaded. Its count is the number of items it holds, whatever its layout. The spool of a ZIP
member lives in a private folder (mode 700) and has no name once opened.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tiktok_portability_source import settings
from tiktok_portability_source.archive import (
    ArchiveError,
    LazyList,
    jsonstream,
    open_archive,
)
from tiktok_portability_source.layouts import BY_TABLE, ENTITIES
from tiktok_portability_source.records import section_tables

HOSTILE = {
    "nan": b"NaN",
    "infinity": b"-Infinity",
    "invalid-utf8": b'"caf\xe9 au lait"',
    "deep": b"[" * 100_000 + b"]" * 100_000,
}
MARK = "HOSTILE-VALUE-GOES-HERE"
FILE = "user_data_tiktok.json"


def watch(n: int) -> list[dict[str, Any]]:
    return [{"Date": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{i // 60 % 60:02d}",
             "Link": f"https://www.tiktokv.com/share/video/{7000000000000000000 + i}/"} for i in range(n)]


def profile() -> dict[str, Any]:
    return {"Profile Info": {"ProfileMap": {"userName": "user_a"}}}


def write(tmp_path: Path, doc: dict[str, Any], bad: bytes) -> Path:
    """The document pretty-printed like TikTok, with ``MARK`` replaced by the raw bytes ``bad``."""
    text = json.dumps(doc, indent=2, ensure_ascii=False).encode()
    assert text.count(json.dumps(MARK).encode()) == 1
    path = tmp_path / FILE
    path.write_bytes(text.replace(json.dumps(MARK).encode(), bad))
    return path


def damaged(n: int = 3000, at: int = 2000, field: str = "Link") -> list[dict[str, Any]]:
    """A list whose item ``at`` (well past the first 64 KiB, which is read up front) holds ``MARK``."""
    items = watch(n)
    items[at][field] = MARK
    return items


@pytest.fixture(autouse=True)
def streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every multi-line array is a big list, read in many small blocks."""
    monkeypatch.setattr(settings, "JSON_INLINE_BYTES", 0)
    monkeypatch.setattr(jsonstream, "_BLOCK_BYTES", 64 << 10)


def assert_names_the_list(exc: pytest.ExceptionInfo[ArchiveError], section: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"{FILE}: {section} is "), message
    assert "; " in message  # what to do
    assert MARK not in message


def read_rows(path: Path, keep: Any = None) -> None:
    opened = open_archive(path)
    for entity in ENTITIES:
        for _ in section_tables(entity, opened.sections_for(entity.table), opened.user_id, opened.sha256, keep):
            pass


# --- (1) a big list in an unknown section: only counted, now parsed to be counted ---------------------


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_big_list_in_an_unknown_section_refuses_the_archive(tmp_path, kind):
    doc = {"Profile": profile(), "Your Activity": {"Mystery Section": {"MysteryList": damaged(field="Note")}}}
    path = write(tmp_path, doc, HOSTILE[kind])
    with pytest.raises(ArchiveError) as exc:
        open_archive(path)
    assert_names_the_list(exc, "Your Activity › Mystery Section › MysteryList")


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_big_list_beside_the_list_a_table_reads_refuses_the_archive(tmp_path, kind):
    """A key of a known section that no table reads: never counted nor read before, checked now."""
    doc = {"Profile": profile(), "Your Activity": {"Watch History": {"VideoList": watch(10),
                                                                     "Extra": damaged(field="Note")}}}
    path = write(tmp_path, doc, HOSTILE[kind])
    with pytest.raises(ArchiveError) as exc:
        open_archive(path)
    assert_names_the_list(exc, "Your Activity › Watch History › Extra")


# --- (2) a big list of an excluded table ------------------------------------------------------------


def _followers(tmp_path: Path, kind: str) -> Path:
    fans = [{"Date": item["Date"], "UserName": f"fan_{i}"} for i, item in enumerate(watch(3000))]
    fans[2000]["UserName"] = MARK
    return write(tmp_path, {"Profile": profile(), "Your Activity": {"Follower": {"FansList": fans}}},
                 HOSTILE[kind])


@pytest.mark.parametrize("kind", HOSTILE)
def test_follower_count_of_an_excluded_follower_table_checks_the_list(tmp_path, kind):
    """With ``followers`` excluded, the profile row still counts the list (``followers_listed``): the
    count parses it, so a damaged list is refused instead of counted."""
    from tiktok_portability_source.helpers import _list_length

    opened = open_archive(_followers(tmp_path, kind))
    with pytest.raises(ArchiveError) as exc:
        _list_length(opened, "followers")
    assert_names_the_list(exc, "Your Activity › Follower › FansList")


@pytest.mark.parametrize("kind", HOSTILE)
def test_big_list_of_an_excluded_table_is_checked(tmp_path, kind):
    """The source checks the lists of the tables it will not read (``validate_lists``)."""
    from tiktok_portability_source.archive.sections import validate_lists

    doc = {"Profile": profile(), "Your Activity": {"Watch History": {"VideoList": damaged()}}}
    opened = open_archive(write(tmp_path, doc, HOSTILE[kind]))
    validate_lists(opened, ["profile", "searches"])  # no big list there
    with pytest.raises(ArchiveError) as exc:
        validate_lists(opened, ["watch_history"])
    assert_names_the_list(exc, "Your Activity › Watch History › VideoList")


# --- (3) a big list that is read ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["Link", "Note"])  # a field a column reads, and one no column reads
@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_value_in_a_big_list_that_is_read(tmp_path, kind, field):
    doc = {"Profile": profile(), "Your Activity": {"Watch History": {"VideoList": damaged(field=field)}}}
    path = write(tmp_path, doc, HOSTILE[kind])
    with pytest.raises(ArchiveError) as exc:  # not ArrowInvalid: Invalid UTF8, without a file name
        read_rows(path)
    assert_names_the_list(exc, "Your Activity › Watch History › VideoList")


@pytest.mark.parametrize("field", ["Link", "Note"])
@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_value_in_blocks_skipped_as_already_loaded(tmp_path, kind, field):
    """Blocks whose every row lies in a window loaded before are dropped after reading their times only:
    the rest of the block is checked all the same."""
    doc = {"Profile": profile(), "Your Activity": {"Watch History": {"VideoList": damaged(field=field)}}}
    path = write(tmp_path, doc, HOSTILE[kind])
    with pytest.raises(ArchiveError) as exc:
        read_rows(path, keep=lambda times: pa.array([False] * len(times)))
    assert_names_the_list(exc, "Your Activity › Watch History › VideoList")


def test_valid_blocks_skipped_as_already_loaded_read_the_same_times(tmp_path):
    """The check reads the whole block; the times read are those of the time field alone."""
    entity = BY_TABLE["watch_history"]
    items = watch(3000)
    items[10]["Extra"] = "a field the first item does not have"  # the fallback: orjson, then the times
    items[20]["Link"] = 12345  # not text: the fallback too
    path = tmp_path / FILE
    path.write_text(json.dumps({"Profile": profile(), "Your Activity": {"Watch History": {"VideoList": items}}},
                               indent=2))
    opened = open_archive(path)
    seen: list[Any] = []

    def keep(times: pa.Array) -> pa.Array:
        seen.extend(times.to_pylist())
        return pa.array([False] * len(times))

    assert list(section_tables(entity, opened.sections_for("watch_history"), "user_a", opened.sha256, keep)) == []
    all_rows = [t for t in section_tables(entity, opened.sections_for("watch_history"), "user_a", opened.sha256)]
    assert sorted(map(str, seen)) == sorted(map(str, (v for t in all_rows for v in t["watched_at"].to_pylist())))
    assert len(seen) == 3000


# --- counts ------------------------------------------------------------------------------------------


def test_count_of_an_unknown_big_list_is_its_number_of_items(tmp_path):
    """Several items to a line, strings holding commas, brackets and braces: separators would undercount."""
    per_line, lines = 3, 400
    item = '{"t": "a,b]", "u": "},{", "v": [1, {"w": "]"}]}'
    interior = ",\n          ".join(", ".join([item] * per_line) for _ in range(lines))
    doc = {"Profile": profile(), "Your Activity": {"Mystery": {"Things": [MARK]}}}
    text = json.dumps(doc, indent=2).replace(json.dumps(MARK), interior)
    path = tmp_path / FILE
    path.write_text(text)
    opened = open_archive(path)
    counts = {u.path: u.item_count for u in opened.unparsed}
    assert counts["Your Activity › Mystery"] == per_line * lines
    assert len(json.loads(text)["Your Activity"]["Mystery"]["Things"]) == per_line * lines


def test_count_of_an_unknown_big_list_of_non_objects(tmp_path):
    things = [f"tag, [{i}]" for i in range(5000)] + [None, 7, {"a": "b"}]
    path = tmp_path / FILE
    path.write_text(json.dumps({"Profile": profile(), "Your Activity": {"Mystery": {"Things": things}}}, indent=2))
    counts = {u.path: u.item_count for u in open_archive(path).unparsed}
    assert counts["Your Activity › Mystery"] == len(things)


def test_len_of_a_big_list_of_records_counts_its_objects(tmp_path):
    """``len`` of a list a table reads is its number of records, as for a list parsed up front."""
    items: list[Any] = watch(3000)
    items[5:5] = [None, "text", 3]
    path = tmp_path / FILE
    path.write_text(json.dumps({"Profile": profile(), "Your Activity": {"Watch History": {"VideoList": items}}},
                               indent=2))
    lazy = open_archive(path).sections_for("watch_history")[0].items
    assert isinstance(lazy, LazyList)
    assert len(lazy) == 3000 and lazy.item_count() == 3003


# --- the spool ------------------------------------------------------------------------------------


def export_zip(tmp_path: Path, secret: str = "secret-dm-text") -> Path:
    doc = {"Profile": profile(), "Your Activity": {"Watch History": {"VideoList": watch(3000)}},
           "Direct Message": {"Direct Messages": {"ChatHistory": {"Chat History with user_b:": [
               {"Date": "2025-01-01 00:00:00", "From": "user_b", "Content": f"{secret} {i}"} for i in range(2000)]}}}}
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"TikTok_Data_1764547200/{FILE}", json.dumps(doc, indent=2))
    return path


@pytest.fixture
def tmpdir_(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder of the test's own, never swept before in this process."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setattr(jsonstream, "_swept", set())
    return folder


def all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.skipif(os.name != "posix", reason="POSIX: unlinked while open")
def test_spool_is_private_and_has_no_name(tmp_path, tmpdir_):
    opened = open_archive(export_zip(tmp_path))
    lists = [s.items for t in ("watch_history", "direct_messages") for s in opened.sections_for(t)]
    assert lists and all(isinstance(x, LazyList) and x.path is None for x in lists)
    folder = tmpdir_ / f"tiktok-portability-{os.getuid()}"
    assert stat.S_IMODE(folder.lstat().st_mode) == 0o700 and folder.is_dir()
    assert list(folder.iterdir()) == []  # the data is only reachable through the open descriptor
    assert b"secret-dm-text" not in all_bytes(tmpdir_)
    assert sum(len(x) for x in lists) == 5000  # and it reads
    rows = [r for e in ENTITIES for t in section_tables(e, opened.sections_for(e.table), "user_a", opened.sha256)
            for r in t.to_pylist()]
    assert sum(1 for r in rows if str(r.get("content", "")).startswith("secret-dm-text")) == 2000
    spool = lists[0].source
    assert isinstance(spool, jsonstream._Spool) and spool._fd is not None
    fd = spool._fd
    del opened, lists, spool, rows
    import gc

    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)  # closed with the archive


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes and owners")
def test_existing_private_folder_is_made_private_again(tmp_path, tmpdir_):
    folder = tmpdir_ / f"tiktok-portability-{os.getuid()}"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    open_archive(export_zip(tmp_path))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.skipif(os.name != "posix", reason="POSIX links and owners")
def test_spool_folder_that_is_a_link_or_someone_elses_is_refused(tmp_path, tmpdir_, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmpdir_ / f"tiktok-portability-{os.getuid()}").symlink_to(elsewhere)
    with pytest.raises(ArchiveError, match="is a symbolic link; remove it, or set TMPDIR") as exc:
        open_archive(export_zip(tmp_path))
    assert "\n" not in str(exc.value) and list(elsewhere.iterdir()) == []

    other = os.getuid() + 4242
    (tmpdir_ / f"tiktok-portability-{other}").mkdir(mode=0o700)  # ours, posing as another uid's
    monkeypatch.setattr(os, "getuid", lambda: other)
    with pytest.raises(ArchiveError, match="belongs to another user"):
        open_archive(export_zip(tmp_path))


@pytest.mark.skipif(os.name != "posix", reason="POSIX owners")
def test_leftover_spool_files_are_removed(tmp_path, tmpdir_):
    folder = tmpdir_ / f"tiktok-portability-{os.getuid()}"
    folder.mkdir(mode=0o700)
    (folder / "tiktok-portability-99999-0123456789abcdef.json.part").write_bytes(b"left by a killed run")
    (folder / "notes.txt").write_bytes(b"not ours")
    old = tmpdir_ / "tiktok-portability-abc123.json.part"  # an earlier version's, in TMPDIR itself
    old.write_bytes(b"left by an old version")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    recent = tmpdir_ / "tiktok-portability-def456.json.part"  # maybe still in use by an old version
    recent.write_bytes(b"in use")
    open_archive(export_zip(tmp_path))
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert not old.exists() and recent.exists()
