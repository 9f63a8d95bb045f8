"""Hostile archives: each is either refused whole (one-line error naming the file and the problem,
non-zero exit, no row of any archive of the command in the destination) or, when the damage is
confined to one section, loads without that section, which is listed in ``unparsed_sections`` with
its reason. The rules are in docs/security.md, "Hostile input".

The refusals run the real CLI in subprocesses (a crash, e.g. a segfault on deep nesting, would kill
pytest itself), several at a time; every refusal is also checked at the reader level."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
from support.hostile import (
    AT,
    DATA,
    Base,
    base_export,
    big_watch_list,
    corrupt_member_data,
    dump,
    json_zip,
    nested,
    read_all,
    refusal,
    set_flag,
    set_method,
    truncated,
    with_raw_value,
    write_zip,
    zip_bomb,
)

from tiktok_portability_source.fake.generator import Sizes, UserHistory
from tiktok_portability_source.loader import TABLES

DATA_TABLES = [t for t in TABLES if t not in ("unparsed_sections", "archives")]


def run_cli(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tiktok_portability_source.cli", *args],
                          capture_output=True, text=True, timeout=180, cwd=cwd, check=False,
                          env={**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", **(env or {})})


def row_counts(db: Path) -> dict[str, int]:
    """Rows per data table (0 for a table that does not exist)."""
    if not db.exists():
        return {}
    with duckdb.connect(str(db), read_only=True) as con:
        present = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables "
                                             "WHERE table_schema = 'tiktok'").fetchall()}
        return {t: con.execute(f"SELECT COUNT(*) FROM tiktok.{t}").fetchone()[0]
                for t in DATA_TABLES + ["unparsed_sections", "archives"] if t in present}


# --- refused archives ---------------------------------------------------------------------------


@dataclass
class Refused:
    name: str  # file name of the hostile archive
    build: Callable[[Path, Base], bytes]  # its bytes
    message: str  # a fragment of the one-line error (besides the file name)
    env: dict[str, str] = field(default_factory=dict)  # limits lowered for this case


def _doc_zip(tmp: Path, base: Base) -> bytes:
    return json_zip(tmp / "clean.zip", dump(base.doc)).read_bytes()


def _deep_in_big_list(tmp: Path, base: Base) -> bytes:
    doc = base.copy()
    items = big_watch_list(45_000)
    items[30_000]["Link"] = "DEEP-MARKER"
    doc["Your Activity"]["Watch History"]["VideoList"] = items
    return with_raw_value(dump(doc), "DEEP-MARKER", nested(20_000))  # crashed pyarrow's inference


def _broken_big_list(tmp: Path, base: Base) -> bytes:
    doc = base.copy()
    items = big_watch_list(45_000)
    items[40_000]["Link"] = "BROKEN-MARKER"
    doc["Your Activity"]["Watch History"]["VideoList"] = items
    return with_raw_value(dump(doc), "BROKEN-MARKER", '"unterminated')


def _two_documents(tmp: Path, base: Base) -> bytes:
    return write_zip(tmp / "two.zip", {DATA: dump(base.doc), "old/user_data.json": dump(base.doc)}).read_bytes()


def _txt_zip(tmp: Path, base: Base) -> bytes:
    archive = UserHistory("user_a", seed=1).export(tmp / "txt", at=AT, data_format="txt")
    return Path(archive.path).read_bytes()


REFUSED = [
    Refused("truncated.zip", lambda t, b: truncated(_doc_zip(t, b), 0.6), "not a readable ZIP archive"),
    Refused("corrupted.zip", lambda t, b: corrupt_member_data(_doc_zip(t, b)), "the ZIP is damaged or truncated"),
    Refused("encrypted.zip", lambda t, b: set_flag(_doc_zip(t, b), 0), "is encrypted"),
    Refused("aes.zip", lambda t, b: set_method(_doc_zip(t, b), 99), "compression method"),
    Refused("bomb.zip", lambda t, b: zip_bomb(t / "bomb.zip", 50 << 20).read_bytes(), "over the 200-fold limit"),
    Refused("member_limit.zip", _doc_zip, "over the 20000-byte limit",
            {"TIKTOK_PORTABILITY_MAX_MEMBER_BYTES": "20000"}),
    Refused("total_limit.zip", _doc_zip, "bytes uncompressed, over the 30000-byte limit",
            {"TIKTOK_PORTABILITY_MAX_TOTAL_BYTES": "30000"}),
    Refused("archive_limit.zip", _doc_zip, "over the 4000-byte limit", {"TIKTOK_PORTABILITY_MAX_ARCHIVE_BYTES": "4000"}),
    Refused("many_members.zip", _txt_zip, "over the 10 limit", {"TIKTOK_PORTABILITY_MAX_MEMBERS": "10"}),
    Refused("truncated.json", lambda t, b: truncated(dump(b.doc), 0.5), "is not valid JSON"),
    Refused("latin1.json", lambda t, b: dump(b.doc).replace(b'"SearchTerm": "', b'"SearchTerm": "caf\xe9 ', 1),
            "is not valid UTF-8 text (byte"),
    Refused("too_deep.json", lambda t, b: with_raw_value(dump({**b.doc, "Future": "X"}), "X", nested(1100)),
            "nested deeper than the JSON reader allows"),
    Refused("root_list.json", lambda t, b: dump([b.doc]), "expected a JSON object at the top, found a list"),
    Refused("two_documents.zip", _two_documents, "holds 2 data files"),
    Refused("zip_slip_only.zip", lambda t, b: write_zip(t / "s.zip", {"../user_data_tiktok.json": dump(b.doc)})
            .read_bytes(), "no user_data_tiktok.json"),
    Refused("symlink_only.zip", lambda t, b: write_zip(t / "l.zip", {DATA: b"/etc/passwd"}, symlinks=(DATA,))
            .read_bytes(), "no user_data_tiktok.json"),
    Refused("deep_in_big_list.json", _deep_in_big_list, "nested deeper than the JSON reader allows"),
    Refused("broken_big_list.json", _broken_big_list, "is not valid JSON"),
]
# the cases run through a real `tiktok-portability load` (the rest only at the reader level)
# (each costs seconds of CPU: one per kind of failure, and those found only while rows are being written)
SUBPROCESS = {"corrupted.zip", "bomb.zip", "member_limit.zip", "latin1.json", "deep_in_big_list.json",
              "broken_big_list.json"}


@pytest.fixture(scope="module")
def refused_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, subprocess.CompletedProcess | None]]:
    """Every hostile archive written, and the CLI run on [a good archive, it] for the SUBPROCESS cases."""
    tmp = tmp_path_factory.mktemp("refused")
    base = base_export(tmp)
    # under every lowered limit, so that only the hostile archive trips it
    good = json_zip(tmp / "good.zip", dump(base_export(tmp, seed=2, sizes=Sizes.scaled(0.05)).doc))
    paths = {}
    for case in REFUSED:
        paths[case.name] = tmp / case.name
        paths[case.name].write_bytes(case.build(tmp, base))

    def run(case: Refused) -> subprocess.CompletedProcess:
        work = tmp / f"run_{case.name}"
        work.mkdir()
        return run_cli(["load", str(good), str(paths[case.name]), "-q", "--duckdb", str(work / "t.duckdb"),
                        "--pipelines-dir", str(work / "pl")], env=case.env, cwd=work)

    cases = [c for c in REFUSED if c.name in SUBPROCESS]
    with ThreadPoolExecutor(3) as pool:
        done = dict(zip([c.name for c in cases], pool.map(run, cases)))
    return {c.name: (paths[c.name], tmp / f"run_{c.name}" / "t.duckdb", done.get(c.name)) for c in REFUSED}


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_a_broken_archive_is_refused_with_one_line_naming_it(refused_runs, case: Refused,
                                                            monkeypatch: pytest.MonkeyPatch):
    path, db, proc = refused_runs[case.name]
    from tiktok_portability_source import settings

    for key, value in case.env.items():
        monkeypatch.setattr(settings, key.removeprefix("TIKTOK_PORTABILITY_"), int(value))
    message = refusal(path)
    assert message is not None and case.name in message and case.message in message, message
    assert "\n" not in message
    if proc is None:
        return
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and case.name in errors[0] and case.message in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    # all-or-nothing: not a row of the good archive given in the same command either
    assert sum(row_counts(db).values()) == 0


# --- sections skipped, the rest loads ---------------------------------------------------------------


@dataclass
class Skipped:
    name: str
    damage: Callable[[dict[str, Any]], None]  # applied to the document
    table: str  # the table that loses the section
    path: str  # the unparsed_sections path
    reason: str  # a fragment of its reason
    rows_left: int | None = 0  # rows the table keeps (None: all of them)


def _set(*keys: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        target = doc
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value(target[keys[-1]]) if callable(value) else value

    return apply


SKIPPED = [
    Skipped("list is a string", _set("Your Activity", "Searches", "SearchList", value="oops"), "searches",
            "Your Activity › Searches", "SearchList is a string, expected a list"),
    Skipped("list is an object", _set("Your Activity", "Share History", "ShareHistoryList", value={"a": 1}), "shares",
            "Your Activity › Share History", "ShareHistoryList is an object, expected a list"),
    Skipped("items are not objects", _set("Your Activity", "Login History", "LoginHistoryList",
                                          value=lambda items: ["x", 7, *items]), "logins",
            "Your Activity › Login History", "the items of LoginHistoryList are not objects (the first is a string)"),
    Skipped("stray non-object items", _set("Your Activity", "Favorite Effects", "FavoriteEffectsList",
                                           value=lambda items: [*items, "x", [1], None]), "favorite_effects",
            "", "", None),
    Skipped("section is a list", _set("Your Activity", "Favorite Sounds", value=[1, 2]), "favorite_sounds",
            "Your Activity › Favorite Sounds", "expected an object, found a list"),
    Skipped("top section is a list", _set("Comment", value=["x"]), "comments", "Comment",
            "expected an object, found a list"),
    Skipped("thread is a string", _set("Direct Message", "Direct Messages", "ChatHistory",
                                       value=lambda threads: {"Chat History with user_zz:": "oops", **threads}),
            "direct_messages", "Direct Message › Direct Messages › thread 1 (Chat History with user_zz)",
            "the thread is a string, expected a list of messages", None),
    Skipped("profile map is a list", _set("Profile", "Profile Info", "ProfileMap", value=lambda p: [p]), "profile",
            "Profile › Profile Info", "ProfileMap is a list, expected an object"),
    Skipped("big list of strings", _set("Your Activity", "Watch History", "VideoList",
                                        value=[f"https://www.tiktokv.com/share/video/{7 * 10**18 + i * 7919}/"
                                               for i in range(80_000)]),
            "watch_history", "Your Activity › Watch History", "the items of VideoList are not objects"),
]
UNSAFE = {"../../evil.txt": "a path leaving the archive (..); not read",
          "\\etc\\user_data.json": "an absolute path; not read",  # a leading "/" is dropped (2022 TXT ZIPs)
          "C:\\Users\\x\\user_data.json": "an absolute path; not read",
          "TikTok_Data_1764547200/link.txt": "a symbolic link; not read"}


@pytest.fixture(scope="module")
def skipped_load(tmp_path_factory: pytest.TempPathFactory) -> tuple[Base, subprocess.CompletedProcess, Path]:
    """One archive carrying every section damage (each in another section) and unsafe members, loaded once."""
    tmp = tmp_path_factory.mktemp("skipped")
    base = base_export(tmp)
    doc = base.copy()
    for case in SKIPPED:
        case.damage(doc)
    members = {name: b"x" for name in UNSAFE}
    archive = write_zip(tmp / "damaged.zip", {DATA: dump(doc), **members},
                        symlinks=("TikTok_Data_1764547200/link.txt",))
    db = tmp / "t.duckdb"
    proc = run_cli(["load", str(archive), "--user-id", "user_a", "-q", "--duckdb", str(db),
                    "--pipelines-dir", str(tmp / "pl")], cwd=tmp)
    return base, proc, db


def _unparsed(db: Path) -> dict[str, tuple[str, int]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT path, reason, item_count FROM tiktok.unparsed_sections").fetchall()
    return {p: (r, n) for p, r, n in rows}


@pytest.mark.parametrize("case", SKIPPED, ids=[c.name for c in SKIPPED])
def test_a_damaged_section_is_skipped_and_reported_and_the_rest_loads(skipped_load, case: Skipped):
    base, proc, db = skipped_load
    assert proc.returncode == 0, proc.stderr[-2000:]
    unparsed = _unparsed(db)
    counts = row_counts(db)
    kept = base.expected.get(case.table, 0) if case.rows_left is None else case.rows_left
    assert counts.get(case.table, 0) == kept
    if case.path:
        assert case.path in unparsed and case.reason in unparsed[case.path][0], unparsed.get(case.path)
        logged, _, thread = case.path.partition(" (Chat History with ")
        assert f"{logged}: " in proc.stderr  # the warning names the section (a DM thread by its position)
        if thread:  # ...and never the third party the thread is with
            assert thread.rstrip(")") not in proc.stderr
    else:  # stray items are dropped with a warning, the section is not skipped
        assert not [p for p in unparsed if "Favorite Effects" in p] and "2 items are not objects" in proc.stderr
    # every undamaged table has all its rows
    damaged = {c.table for c in SKIPPED if c.rows_left is not None}
    for table in DATA_TABLES:
        if table not in damaged and table not in ("followers", "following", "profile"):
            assert counts.get(table, 0) == base.expected.get(table, 0), table


@pytest.mark.parametrize("member", sorted(UNSAFE))
def test_unsafe_members_are_never_read_and_are_listed(skipped_load, member: str):
    _, proc, db = skipped_load
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _unparsed(db)[member][0] == UNSAFE[member]
    assert not Path("/etc/user_data.json").exists() and not (db.parent.parent / "evil.txt").exists()


def test_a_txt_file_that_is_not_utf8_is_skipped_and_utf16_reads(tmp_path):
    from tiktok_portability_source.cli import main

    archive = UserHistory("user_a", seed=2).export(tmp_path / "in", at=AT, data_format="txt", container="folder")
    root = Path(archive.path)
    searches = next(root.rglob("Searches.txt"))
    searches.write_bytes(searches.read_bytes() + b"\nSearch Term: caf\xe9\n")  # latin-1
    likes = next(root.rglob("Like List.txt"))
    likes.write_bytes(likes.read_text(encoding="utf-8").encode("utf-16"))  # a "Unicode" save
    db = tmp_path / "t.duckdb"
    assert main(["load", str(root), "-q", "--duckdb", str(db), "--pipelines-dir", str(tmp_path / "pl")]) == 0
    counts = row_counts(db)
    assert counts.get("searches", 0) == 0 and counts["likes"] == archive.expected["likes"] > 0
    assert counts["watch_history"] == archive.expected["watch_history"]
    reason = {p.rsplit("/", 1)[-1]: r for p, (r, _) in _unparsed(db).items()}["Searches.txt"]
    assert reason.startswith("not valid UTF-8 text (byte ")


# --- read as they are ------------------------------------------------------------------------------


def test_byte_order_marks_read_like_plain_utf8(tmp_path):
    base = base_export(tmp_path)
    clean = tmp_path / "clean.json"
    clean.write_bytes(dump(base.doc))
    expected = read_all(clean)
    variants = {"bom8.json": b"\xef\xbb\xbf" + dump(base.doc), "utf16le.json": dump(base.doc).decode().encode("utf-16"),
                "utf16be.json": b"\xfe\xff" + dump(base.doc).decode().encode("utf-16-be")}
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        assert read_all(tmp_path / name) == expected, name
        assert read_all(json_zip(tmp_path / f"{name}.zip", data)) == expected, name


def test_wrong_field_types_keep_the_row_and_null_only_what_cannot_be_read(tmp_path):
    from tiktok_portability_source.cli import main

    base = base_export(tmp_path)
    doc = base.copy()
    odd = [{"Date": 20250101, "SearchTerm": "a number where a timestamp string belongs"},
           {"Date": "2025-02-01 10:00:00", "SearchTerm": 42},  # a number where text belongs
           {"Date": "2025-02-01 10:00:01", "SearchTerm": {"text": "soup"}},  # an object where text belongs
           {"Date": "2025-02-01 10:00:02", "SearchTerm": "HUGE"}]
    doc["Your Activity"]["Searches"]["SearchList"] += odd
    likes = doc["Your Activity"]["Like List"]["ItemFavoriteList"]
    doc["Your Activity"]["Like List"]["ItemFavoriteList"] = [None, *likes, {k: None for k in likes[0]}]
    doc["Your Activity"]["Future Section"] = {"Deep": "DEEP"}
    raw = with_raw_value(dump(doc), "HUGE", json.dumps("z" * (1 << 20)))  # a 1 MiB string: the most one value may hold
    raw = with_raw_value(raw, "DEEP", nested(900))
    # a duplicate key: the last value wins, as in every JSON parser
    first_video = doc["Your Activity"]["Favorite Videos"]["FavoriteVideoList"][0]["Date"]
    raw = raw.replace(f'"Date": "{first_video}"'.encode(), f'"Date": "1999-01-01 00:00:00", "Date": "{first_video}"'.encode(), 1)
    path = tmp_path / "odd.json"
    path.write_bytes(raw)
    db = tmp_path / "t.duckdb"
    assert main(["load", str(path), "-q", "--duckdb", str(db), "--pipelines-dir", str(tmp_path / "pl")]) == 0
    counts = row_counts(db)
    assert counts["searches"] == base.expected["searches"] + len(odd)  # every odd row kept
    for table in ("likes", "favorite_videos", "watch_history"):
        assert counts[table] == base.expected[table], table  # null items and all-null items are no rows
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT searched_at_raw FROM tiktok.searches WHERE searched_at IS NULL").fetchall() == \
            [("20250101",)]
        terms = {t for (t,) in con.execute("SELECT search_term FROM tiktok.searches").fetchall()}
        assert {"42", '{"text":"soup"}'} <= terms and max(len(t or "") for t in terms) == 1 << 20
        assert con.execute("SELECT COUNT(*) FROM tiktok.favorite_videos WHERE favorited_at < '2000-01-01'"
                           ).fetchone()[0] == 0
        assert con.execute("SELECT item_count FROM tiktok.unparsed_sections WHERE path = 'Your Activity › Future Section'"
                           ).fetchall() == [(1,)]
