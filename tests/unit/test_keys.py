"""Natural keys pinned by rows, not by counts: events that share a second and differ in one key field
stay apart, and rows the keys must merge are merged.

The generator writes same-second events in every table whose key holds more than a time (two DMs of
one thread in one second from different senders, two logins differing only in their IP…) and a view
written twice in its two link forms. Each test compares the loaded rows with the generator's own
events (never with ``layouts.py``), in JSON and in TXT (TXT times have second resolution too), and is
named after what breaks when a key loses a field.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from support.db import sql

from tiktok_portability_source.fake.generator import GeneratedArchive, UserHistory

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)
AT_S = int(AT.timestamp())
FORMATS = ("json", "txt")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[UserHistory, dict[str, tuple[GeneratedArchive, Path]]]:
    """One history exported at one moment as JSON (family B) and as TXT (2025), each loaded into its own
    DuckDB file."""
    from tiktok_portability_source.loader import load_archives, make_pipeline

    tmp = tmp_path_factory.mktemp("keys")
    history = UserHistory("user_a", seed=3)
    out: dict[str, tuple[GeneratedArchive, Path]] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        mp.chdir(tmp)
        for fmt in FORMATS:
            archive = history.export(tmp / "in" / fmt, at=AT, family="B", data_format=fmt, txt_generation="2025")
            db = tmp / f"{fmt}.duckdb"
            load_archives(make_pipeline(duckdb_path=db, pipelines_dir=tmp / f"{fmt}-pipelines"), [archive.path])
            out[fmt] = (archive, db)
    return history, out


def _text(value: str | None) -> str | None:
    return None if value in (None, "", "N/A") else value


def _shown(events: Iterable[Any]) -> list[Any]:
    """The materialised events an export taken at AT shows."""
    return [e for e in events if e.ts <= AT_S]


def _pairs(rows: Iterable[tuple[Any, ...]], field: int) -> set[frozenset[tuple[Any, ...]]]:
    """Pairs of distinct rows in one second that differ in ``field`` alone."""
    groups: dict[tuple[Any, ...], set[tuple[Any, ...]]] = {}
    for row in set(rows):
        groups.setdefault(tuple(v for n, v in enumerate(row) if n != field), set()).add(row)
    return {frozenset(pair) for g in groups.values() for pair in combinations(g, 2)}


def _assert_pairs_loaded(db: Path, query: str, expected: list[tuple[Any, ...]], field: int) -> None:
    """The generator's same-second pairs differing in ``field`` exist, and each of their rows is loaded
    once; and the table holds exactly the generator's rows."""
    pairs = _pairs(expected, field)
    assert pairs, "the generator wrote no such pair"
    loaded = Counter(sql(db, query))
    for pair in pairs:
        for row in pair:
            assert loaded[row] == 1, (row, pair)
    assert loaded == Counter(expected)


# --- direct messages: (conversation, time, sender, content) -------------------------------------

DM_QUERY = "SELECT conversation, epoch(sent_at)::BIGINT, sender, content FROM tiktok.direct_messages"


def _messages(history: UserHistory) -> list[tuple[Any, ...]]:
    return [(m.thread, m.ts, m.sender, m.content) for m in _shown(history.direct_messages)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_dms_in_one_second_from_different_senders_stay_two_rows(loaded, fmt):
    history, out = loaded
    _assert_pairs_loaded(out[fmt][1], DM_QUERY, _messages(history), field=2)


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_dms_in_one_second_from_one_sender_with_different_texts_stay_two_rows(loaded, fmt):
    history, out = loaded
    _assert_pairs_loaded(out[fmt][1], DM_QUERY, _messages(history), field=3)


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_message_sent_to_two_conversations_in_one_second_stays_two_rows(loaded, fmt):
    history, out = loaded
    _assert_pairs_loaded(out[fmt][1], DM_QUERY, _messages(history), field=0)


# --- logins: (time, IP, device model) ---------------------------------------------------------------

LOGIN_QUERY = ("SELECT epoch(logged_in_at)::BIGINT, ip, device_model, device_system, network_type, carrier "
               "FROM tiktok.logins")


def _logins(history: UserHistory) -> list[tuple[Any, ...]]:
    return [(e.ts, e.ip, e.model, e.system, _text(e.network), _text(e.carrier)) for e in _shown(history.logins)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_logins_in_one_second_from_different_ips_stay_two_rows(loaded, fmt):
    history, out = loaded
    _assert_pairs_loaded(out[fmt][1], LOGIN_QUERY, _logins(history), field=1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_logins_in_one_second_on_different_device_models_stay_two_rows(loaded, fmt):
    history, out = loaded
    _assert_pairs_loaded(out[fmt][1], LOGIN_QUERY, _logins(history), field=2)


# --- watch history, likes, favourite videos: (time, video) ------------------------------------------

VIDEO_TABLES = {"watch_history": "watched_at", "likes": "liked_at", "favorite_videos": "favorited_at"}


def _videos(history: UserHistory, archive: GeneratedArchive, table: str) -> list[tuple[int, str]]:
    """(time, video id) of every row of a lazily generated table the export shows (its index window)."""
    events = history.videos[table]
    after = AT_S - 180 * 86400 if table == "watch_history" else None
    lo, hi = events.window(after, AT_S)
    return [(events.ts(i), events.video(i)) for i in range(lo, hi)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("table", list(VIDEO_TABLES))
def test_two_views_or_likes_in_one_second_of_different_videos_stay_two_rows(loaded, fmt, table):
    history, out = loaded
    archive, db = out[fmt]
    query = f"SELECT epoch({VIDEO_TABLES[table]})::BIGINT, video_id FROM tiktok.{table}"
    _assert_pairs_loaded(db, query, _videos(history, archive, table), field=1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_view_written_in_its_two_link_forms_is_one_row_keyed_by_its_video_id(loaded, fmt):
    """The export repeats some rows with the link in the other form (``/share/video/<id>/`` and
    ``/@name/video/<id>``): the same second and video, so one row: the key takes the video id first."""
    history, out = loaded
    archive, db = out[fmt]
    for table, time in VIDEO_TABLES.items():
        assert archive.duplicate_rows.get(table, 0) >= 1, table
        rows = sql(db, f"SELECT epoch({time})::BIGINT, video_id, link FROM tiktok.{table}")
        assert Counter((t, v) for t, v, _ in rows) == Counter(_videos(history, archive, table)), table
        assert all(link and f"/video/{v}" in link for _, v, link in rows), table
    report = dict(sql(db, "SELECT table_name, sum(repeats) FROM tiktok.load_report GROUP BY 1"))
    assert {t: report[t] for t in VIDEO_TABLES} == {t: archive.duplicate_rows[t] for t in VIDEO_TABLES}


# --- every other event table: the loaded rows are the generator's events, same-second ones included ----

def _price(value: str) -> float:
    return float(value)


# table -> (query, the generator's events as rows, key fields other than the time (positions in the row))
EVENT_TABLES: dict[str, tuple[str, Callable[[UserHistory], list[tuple[Any, ...]]], tuple[int, ...]]] = {
    "favorite_sounds": ("SELECT epoch(favorited_at)::BIGINT, link FROM tiktok.favorite_sounds",
                        lambda h: [(e.ts, e.link) for e in _shown(h.favorite_sounds)], (1,)),
    "favorite_effects": ("SELECT epoch(favorited_at)::BIGINT, link FROM tiktok.favorite_effects",
                         lambda h: [(e.ts, e.link) for e in _shown(h.favorite_effects)], (1,)),
    "favorite_hashtags": ("SELECT epoch(favorited_at)::BIGINT, link FROM tiktok.favorite_hashtags",
                          lambda h: [(e.ts, _text(e.link)) for e in _shown(h.favorite_hashtags)], (1,)),
    "favorite_collections": ("SELECT epoch(favorited_at)::BIGINT, collection FROM tiktok.favorite_collections",
                             lambda h: [(e.ts, e.name) for e in _shown(h.favorite_collections)], (1,)),
    "searches": ("SELECT epoch(searched_at)::BIGINT, search_term FROM tiktok.searches",
                 lambda h: [(e.ts, e.term) for e in _shown(h.searches)], (1,)),
    "shares": ("SELECT epoch(shared_at)::BIGINT, link, method, shared_content FROM tiktok.shares",
               lambda h: [(e.ts, e.link, e.method, e.content) for e in _shown(h.shares)], (1, 2, 3)),
    "comments": ("SELECT epoch(commented_at)::BIGINT, comment FROM tiktok.comments",
                 lambda h: [(e.ts, e.text) for e in _shown(h.comments)], (1,)),
    "off_tiktok_activity": ("SELECT epoch(event_at)::BIGINT, source, event FROM tiktok.off_tiktok_activity",
                            lambda h: [(e.ts, e.source, e.event) for e in _shown(h.off_tiktok_activity)], (1, 2)),
    "purchases": ("SELECT epoch(purchased_at)::BIGINT, kind, price FROM tiktok.purchases",
                  lambda h: [(e.ts, f"{e.kind}_gift", _price(e.price)) for e in _shown(h.purchases)], (1, 2)),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("table", list(EVENT_TABLES))
def test_events_in_one_second_differing_in_one_key_field_stay_apart(loaded, fmt, table):
    history, out = loaded
    query, events, fields = EVENT_TABLES[table]
    for field in fields:
        _assert_pairs_loaded(out[fmt][1], query, events(history), field)


# --- TXT grammar ---------------------------------------------------------------------------------------

def test_txt_double_colon_labels_are_stripped(loaded):
    """``HashTag Link:: <url>`` (2023 on) and ``>>> Chat History with <name>::``: the value is the URL and
    the name, without a colon; the TXT rows equal the generator's values exactly."""
    history, out = loaded
    archive, db = out["txt"]
    from zipfile import ZipFile

    with ZipFile(archive.path) as zf:
        text = zf.read(next(n for n in zf.namelist() if n.endswith("Favorite HashTags.txt"))).decode()
    assert "HashTag Link:: https://" in text
    loaded_links = sql(db, "SELECT epoch(favorited_at)::BIGINT, link, hashtag_id FROM tiktok.favorite_hashtags")
    expected = [(e.ts, _text(e.link)) for e in _shown(history.favorite_hashtags)]
    assert Counter((t, link) for t, link, _ in loaded_links) == Counter(expected)
    assert all(hid is not None for _, link, hid in loaded_links if link)
    conversations = {c for (c,) in sql(db, "SELECT DISTINCT conversation FROM tiktok.direct_messages")}
    assert conversations == {m.thread for m in _shown(history.direct_messages)}
    # no text value of any table starts with the second colon of a label
    for (table,) in sql(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tiktok' "
                            "AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\'"):
        columns = [c for (c,) in sql(db, "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                         "'tiktok' AND table_name = ? AND data_type = 'VARCHAR'", table)]
        for column in columns:
            found = sql(db, f'SELECT count(*) FROM tiktok."{table}" WHERE "{column}" LIKE \':%\'')[0][0]
            assert found == 0, (table, column)
