"""``enrich`` against the fake oEmbed endpoint over real loopback sockets, on a loaded archive; and
(at the end) its parts that need neither: hashtags, Retry-After, URL and privacy checks, the fake.

Expected values are computed here from the fake's documented rules (fake/oembed.py docstring), not
by calling the fake's own code: 404 for ids divisible by 7, 429 first for ids divisible by 5, handle
``creator_<n % 1000:03d>``, caption ``clip <last 4>`` plus `` #FYP#<topic>`` unless n % 3 == 0.
Time never passes for real: the rate limiter and the Retry-After waits get a fake clock and sleep.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest

from support.db import sql
from tiktok_portability_source.enrich import (
    _check_privacy, _check_url, _protected, _retry_after, _row, candidate_ids, enrich_videos, parse_hashtags,
    video_page_url,
)
from tiktok_portability_source.errors import ConfigError, PrivacyError
from tiktok_portability_source.fake.generator import UserHistory
from tiktok_portability_source.fake.oembed import FakeOEmbed, OEmbedConfig
from tiktok_portability_source.loader import load_archives, make_pipeline
from tiktok_portability_source.privacy import PrivacySettings, Protector

KEY = "k" * 32
TOPICS = ("Cats", "Cooking", "DanceChallenge", "Café")  # as the fake's rules name them


class FakeTime:
    """A clock that moves only when slept on; every sleep recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def loaded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One archive of user_a loaded once; each test works on its own copy of the database."""
    tmp = tmp_path_factory.mktemp("enrich_template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        archive = UserHistory("user_a", seed=3).export(tmp, at=datetime(2025, 12, 1, tzinfo=timezone.utc))
        pipeline = make_pipeline(duckdb_path=tmp / "template.duckdb", pipelines_dir=tmp / "pipelines")
        load_archives(pipeline, [archive.path])
    return tmp / "template.duckdb"


@pytest.fixture
def db(loaded_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "t.duckdb"
    shutil.copy(loaded_db, path)
    return path


def pipeline_on(db: Path):
    return make_pipeline(duckdb_path=db, pipelines_dir=db.parent / "pipelines")


def source_ids(db: Path) -> set[str]:
    return {r[0] for r in sql(db, "SELECT video_id FROM tiktok.watch_history UNION SELECT video_id FROM tiktok.likes "
                                  "UNION SELECT video_id FROM tiktok.favorite_videos") if r[0] is not None}


def stored(db: Path) -> dict[str, tuple]:
    rows = sql(db, "SELECT video_id, status, author_name, author_url, title, hashtags, thumbnail_url, http_status, "
                   "fetched_at FROM tiktok.videos")
    assert len(rows) == len({r[0] for r in rows}), "a video id stored twice"
    return {r[0]: r[1:] for r in rows}


def expected_ok(video_id: str) -> tuple:
    n = int(video_id)
    tagged = n % 3 != 0
    title = f"clip {video_id[-4:]}" + (f" #FYP#{TOPICS[n % 4]}" if tagged else "")
    hashtags = f"fyp,{TOPICS[n % 4].lower()}" if tagged else ""
    return (f"Creator {n % 1000}", f"https://www.tiktok.com/@creator_{n % 1000:03d}", title, hashtags)


def test_every_candidate_once_with_the_fakes_answers_and_a_second_run_asks_nothing(db: Path) -> None:
    ids = source_ids(db)
    assert len(ids) > 20
    assert any(int(i) % 7 == 0 for i in ids) and any(int(i) % 5 == 0 for i in ids)  # the rules are exercised
    fake, t = FakeOEmbed(), FakeTime()
    with fake.serve() as server:
        report = enrich_videos(pipeline_on(db), base_url=server.url + "/oembed", rate_per_second=5,
                               sleep=t.sleep, clock=t.clock)
        rows = stored(db)
        assert set(rows) == ids
        for video_id, (status, author, author_url, title, hashtags, thumb, http_status, fetched_at) in rows.items():
            assert fetched_at is not None
            if int(video_id) % 7 == 0:
                assert (status, http_status, author, title, hashtags) == ("unavailable", 404, None, None, None)
            else:
                assert (status, http_status) == ("ok", 200)
                assert (author, author_url, title, hashtags) == expected_ok(video_id)
                assert thumb and video_id in thumb
            # one request per id, two for a throttled one (429, then its answer)
            assert fake.hits(video_id) == (2 if int(video_id) % 5 == 0 else 1)
        dead = sum(int(i) % 7 == 0 for i in ids)
        assert (report.candidates, report.ok, report.unavailable, report.deferred) == (len(ids), len(ids) - dead, dead, 0)
        assert report.requests == len(fake.calls) and report.remaining == 0 and report.stopped is None
        # paced at 5/s: every request after the first waited its 0.2 s on the (fake) clock
        paced = sum(abs(s - 0.2) < 1e-9 for s in t.sleeps)
        assert paced >= len(ids) - 1 - sum(int(i) % 5 == 0 for i in ids)

        calls = len(fake.calls)
        again = enrich_videos(pipeline_on(db), base_url=server.url + "/oembed", sleep=t.sleep, clock=t.clock)
    assert len(fake.calls) == calls, "the second run asked TikTok again"
    assert (again.candidates, again.requests) == (0, 0)
    assert stored(db) == rows


def test_429_waits_the_retry_after_it_is_given_and_the_video_ends_ok(db: Path) -> None:
    fake, t = FakeOEmbed(OEmbedConfig(throttle_times=2, retry_after=7)), FakeTime()
    throttled = sorted(i for i in source_ids(db) if int(i) % 5 == 0)
    with fake.serve() as server:
        report = enrich_videos(pipeline_on(db), base_url=server.url + "/oembed", rate_per_second=1000,
                               sleep=t.sleep, clock=t.clock)
    assert report.stopped is None and report.deferred == 0
    assert t.sleeps.count(7.0) == 2 * len(throttled)  # two 429s each, each waited out as asked
    rows = stored(db)
    for video_id in throttled:
        assert fake.hits(video_id) == 3
        assert rows[video_id][0] == ("unavailable" if int(video_id) % 7 == 0 else "ok")


def test_persistent_429_stops_the_run_and_leaves_the_id_for_the_next(db: Path) -> None:
    fake, t = FakeOEmbed(OEmbedConfig(throttle_times=5, retry_after=1)), FakeTime()
    with fake.serve() as server:
        url = server.url + "/oembed"
        first = enrich_videos(pipeline_on(db), base_url=url, max_retries=3, sleep=t.sleep, clock=t.clock)
        assert first.stopped and "429" in first.stopped
        assert first.deferred == 1 and first.remaining > 0
        blocked = next(i for i in sorted(fake._seen) if fake.hits(i) == 4)  # 1 try + 3 retries, all 429
        assert int(blocked) % 5 == 0
        assert blocked not in stored(db), "a throttled id must not be recorded (least of all as dead)"
        assert len(stored(db)) == first.fetched

        fake.config.throttle_times = 0  # TikTok lifts the limit
        second = enrich_videos(pipeline_on(db), base_url=url, max_retries=3, sleep=t.sleep, clock=t.clock)
    assert second.stopped is None and second.candidates == first.remaining
    assert fake.hits(blocked) == 5  # asked again, once, by the next run
    rows = stored(db)
    assert set(rows) == source_ids(db)
    assert rows[blocked][0] == ("unavailable" if int(blocked) % 7 == 0 else "ok")


def test_a_limit_stops_early_and_the_next_run_fetches_only_the_rest(db: Path) -> None:
    fake, t = FakeOEmbed(OEmbedConfig(throttle_modulus=0)), FakeTime()
    ids = source_ids(db)
    with fake.serve() as server:
        url = server.url + "/oembed"
        first = enrich_videos(pipeline_on(db), base_url=url, limit=10, batch_size=3, sleep=t.sleep, clock=t.clock)
        assert (first.fetched, first.requests, first.remaining) == (10, 10, len(ids) - 10)
        done = set(stored(db))
        assert len(done) == 10 and len(fake.calls) == 10
        counted = enrich_videos(pipeline_on(db), base_url=url, limit=0, sleep=t.sleep, clock=t.clock)
        assert (counted.candidates, counted.requests) == (len(ids) - 10, 0)  # limit 0: only counts
        rest = enrich_videos(pipeline_on(db), base_url=url, sleep=t.sleep, clock=t.clock)
    assert rest.requests == len(ids) - 10
    assert set(stored(db)) == ids
    assert all(fake.hits(i) == 1 for i in ids)  # nothing asked twice across the runs


def test_an_interrupted_run_keeps_what_it_fetched(db: Path) -> None:
    fake, t = FakeOEmbed(OEmbedConfig(throttle_modulus=0)), FakeTime()
    ids = source_ids(db)

    def sleep(seconds: float) -> None:  # Ctrl-C during the wait before the 8th request
        if len(t.sleeps) == 6:
            raise KeyboardInterrupt
        t.sleep(seconds)

    with fake.serve() as server:
        url = server.url + "/oembed"
        with pytest.raises(KeyboardInterrupt):
            enrich_videos(pipeline_on(db), base_url=url, batch_size=5, sleep=sleep, clock=t.clock)
        assert len(fake.calls) == 7
        assert len(stored(db)) == 7  # one batch of 5 merged on the way, the 2 after it on the interrupt
        rest = enrich_videos(pipeline_on(db), base_url=url, sleep=t.sleep, clock=t.clock)
    assert rest.requests == len(ids) - 7
    assert set(stored(db)) == ids and all(fake.hits(i) == 1 for i in ids)


def test_network_errors_leave_the_ids_and_stop_after_a_few(db: Path) -> None:
    fake = FakeOEmbed()
    server = fake.serve()
    url = server.url + "/oembed"
    server.shutdown()  # nothing listens there any more
    t = FakeTime()
    report = enrich_videos(pipeline_on(db), base_url=url, sleep=t.sleep, clock=t.clock)
    assert report.stopped and "in a row" in report.stopped
    assert (report.deferred, report.fetched, report.remaining) == (3, 0, len(source_ids(db)))
    assert sql(db, "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'videos'") == [(0,)]


def test_only_the_users_asked_for(db: Path) -> None:
    pipeline = pipeline_on(db)
    assert candidate_ids(pipeline, ["someone_else"]) == []
    assert set(candidate_ids(pipeline, ["user_a"])) == source_ids(db) == set(candidate_ids(pipeline))


def test_drop_unreferenced_removes_only_videos_no_history_row_names(db: Path) -> None:
    from tiktok_portability_source.destination import delete_user_rows
    from tiktok_portability_source.enrich import drop_unreferenced

    t = FakeTime()
    with FakeOEmbed().serve() as server:
        enrich_videos(pipeline_on(db), base_url=server.url + "/oembed", sleep=t.sleep, clock=t.clock)
    pipeline = pipeline_on(db)
    assert drop_unreferenced(pipeline) == 0
    with pipeline.sql_client() as client:  # the likes go; watched and saved videos stay referenced
        client.execute_sql(f"DELETE FROM {client.make_qualified_table_name('likes')}")
    kept = {r[0] for r in sql(db, "SELECT video_id FROM tiktok.watch_history UNION "
                                  "SELECT video_id FROM tiktok.favorite_videos") if r[0]}
    before = set(stored(db))
    assert kept < before
    assert drop_unreferenced(pipeline) == len(before - kept)
    assert set(stored(db)) == kept
    delete_user_rows(pipeline, "user_a")  # forget
    assert drop_unreferenced(pipeline) == len(kept) and stored(db) == {}

# --- parts --------------------------------------------------------------------------------


def test_hashtags_lowercase_once_each_in_order_and_adjacent_tags_split() -> None:
    assert parse_hashtags("Scramble #foryoupage#PetsOfTikTok #aesthetic #FORYOUPAGE") == [
        "foryoupage", "petsoftiktok", "aesthetic"]
    assert parse_hashtags("Café #Café_au_lait! #été") == ["café_au_lait", "été"]
    assert parse_hashtags("no tags, just # a lone hash") == []
    assert parse_hashtags(None) == []


def test_retry_after_seconds_or_http_date() -> None:
    assert _retry_after("7") == 7.0
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (_retry_after(soon) or 0) <= 30
    assert _retry_after(None) is None and _retry_after("soon") is None


def test_only_https_or_loopback_http() -> None:
    _check_url("https://www.tiktok.com/oembed")
    _check_url("http://127.0.0.1:8766/oembed")
    for bad in ("http://www.tiktok.com/oembed", "ftp://x/oembed", "www.tiktok.com/oembed"):
        with pytest.raises(ConfigError):
            _check_url(bad)


def test_pseudonymised_creator_matches_the_archive_loads_pseudonym() -> None:
    settings = PrivacySettings(pseudonymize=True, key=KEY)
    body = {"title": "duet with @Other.Name #fyp", "author_name": "Real Name",
            "author_url": "https://www.tiktok.com/@creator_001", "thumbnail_url": "https://cdn/x.jpeg"}
    row = _protected(_row("7000000000000000001", "ok", 200, body), settings)
    as_loaded = Protector(settings, None).pseudonyms(pa.array(["creator_001", "Other.Name"])).to_pylist()
    assert row["author_url"] == f"https://www.tiktok.com/@{as_loaded[0]}"
    assert row["title"] == f"duet with @{as_loaded[1]} #fyp"
    assert row["author_name"] is None and row["hashtags"] == "fyp"
    assert _protected(_row("1", "ok", 200, body), PrivacySettings())["author_name"] == "Real Name"


def test_a_pseudonymised_dataset_needs_the_same_key() -> None:
    loaded_with = PrivacySettings(pseudonymize=True, key=KEY).fingerprint()
    pipeline = SimpleNamespace(state={"sources": {"tiktok_portability": {"privacy": loaded_with}}})
    _check_privacy(pipeline, PrivacySettings(pseudonymize=True, key=KEY))
    for other in (PrivacySettings(), PrivacySettings(pseudonymize=True, key="z" * 32)):
        with pytest.raises(PrivacyError):
            _check_privacy(pipeline, other)
    plain = SimpleNamespace(state={"sources": {"tiktok_portability": {"privacy": PrivacySettings().fingerprint()}}})
    _check_privacy(plain, PrivacySettings())


def test_the_fake_takes_the_page_url_we_send_and_refuses_share_links() -> None:
    fake = FakeOEmbed()
    status, _, body = fake.answer("/oembed", "url=" + video_page_url("7000000000000000001"))
    assert status == 200 and body["embed_product_id"] == "7000000000000000001"
    status, _, _ = fake.answer("/oembed", "url=https://www.tiktokv.com/share/video/7000000000000000001/")
    assert status == 400
