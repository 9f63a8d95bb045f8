"""Privacy controls and secrets, as a user meets them: the real ``tiktok-portability`` command on
generated exports, checked by reading *everything* the load left behind (every value of every table,
dlt's decoded state, every file in the pipelines folder) for names, texts, IPs and the key."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from support.api_env import ALL_ONGOING, database_dump, decoded_files, start_env, stop_env
from support.db import sql

from tiktok_portability_source.api.auth import TokenStore
from tiktok_portability_source.errors import (
    RedactingFilter,
    TokenStoreError,
    redact,
    register_secret,
    registered_secrets,
)
from tiktok_portability_source.fake.generator import WATCH_RETENTION, GeneratedArchive, UserHistory
from tiktok_portability_source.layouts import ENTITIES
from tiktok_portability_source.privacy import PrivacyError, PrivacySettings, validate_columns

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)
EARLIER = AT - timedelta(days=120)
KEY = "test-pseudonymize-key-0123456789"
OTHER_KEY = "another-pseudonymize-key-987654"
KEY_ENV = "SOURCES__TIKTOK_PORTABILITY__PSEUDONYMIZE_KEY"
HANDLE = re.compile(r"user_\d{4}")  # every third-party account of the generator, creators in links too
IP = re.compile(r"(203\.0\.113|198\.51\.100)\.\d+")


def pseudonym(name: str, key: str = KEY) -> str:
    """The documented derivation, written out: a dataset's names must not change between versions."""
    return "u_" + hmac.new(key.encode(), f"username\x1f{name}".encode(), hashlib.sha256).hexdigest()[:16]


def third_parties(history: UserHistory) -> set[str]:
    """Every account name of other people the generated exports carry (conversation names included)."""
    names = {f.username for f in history.followers + history.following}
    names |= {b.username for b in history.blocked_accounts}
    names |= set(history._threads) | set(history._group_members)
    return names - {"N/A", history.username}


def load(tmp: Path, *args: str, db: str = "t", key: str | None = KEY, pipelines: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    """``tiktok-portability load …`` in its own process, config only from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    if key:
        env[KEY_ENV] = key
    cmd = [sys.executable, "-m", "tiktok_portability_source.cli", "load", *args,
           "--duckdb", str(tmp / f"{db}.duckdb"), "--pipelines-dir", str(tmp / (pipelines or f"{db}-pipelines"))]
    return subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=300, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def everything(tmp: Path, db: str, *outputs: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Every place a value could end up: tables and decoded state, pipeline files, command output."""
    places = {"tables and dlt state": database_dump(tmp / f"{db}.duckdb")}
    places.update({str(p): text for p, text in decoded_files(tmp / f"{db}-pipelines", set()).items()})
    places.update({f"output {i}": o.stdout + o.stderr for i, o in enumerate(outputs)})
    return places


def leaks(places: dict[str, str], values: set[str], pattern: re.Pattern[str] | None = None) -> list[tuple[str, str]]:
    found = [(where, v) for where, text in places.items() for v in values if v in text]
    if pattern is not None:
        found += [(where, m.group(0)) for where, text in places.items() for m in pattern.finditer(text)]
    return found[:10]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[UserHistory, GeneratedArchive, GeneratedArchive]:
    """Two exports of one user four months apart (JSON B, then TXT): some followers left in between."""
    tmp = tmp_path_factory.mktemp("exports")
    history = UserHistory("user_a", seed=21)
    first = history.export(tmp, at=EARLIER, family="B")
    second = history.export(tmp, at=AT, data_format="txt", txt_generation="2025")
    assert history.unfollowed_between(first, second)["followers"]
    return history, first, second


def counts(db: Path) -> dict[str, int]:
    tables = {t for (t,) in sql(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tiktok'")}
    return {e.table: sql(db, f"SELECT COUNT(*) FROM tiktok.{e.table}")[0][0] if e.table in tables else 0
            for e in ENTITIES}


# --- pseudonymize ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pseudonymized(tmp_path_factory: pytest.TempPathFactory, exports) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    """Both exports loaded with --pseudonymize, one process each (the same key): the folder and the runs."""
    _, first, second = exports
    tmp = tmp_path_factory.mktemp("pseudonymized")
    runs = [ok(load(tmp, str(first.path), "--pseudonymize")), ok(load(tmp, str(second.path), "--pseudonymize"))]
    return tmp, runs


def _shown(events: list, at: datetime) -> list:
    """The events an export taken at ``at`` lists (a follow until it is undone)."""
    at_s = int(at.timestamp())
    return [e for e in events if e.ts <= at_s and (getattr(e, "until", None) is None or e.until > at_s)]


def _accounts(history: UserHistory, table: str, *archives: GeneratedArchive) -> set[str | None]:
    """The names a table lists in any of these exports (None: a deleted account)."""
    names: set[str | None] = set()
    for a in archives:
        names |= {None if e.username == "N/A" else e.username for e in _shown(getattr(history, table), a.exported_at)}
    return names


def _pseudo_link(link: str) -> str:
    """A link with its ``@name`` replaced by the name's pseudonym (the documented derivation)."""
    return re.sub(r"/@([^/?#\s]+)", lambda m: "/@" + pseudonym(m.group(1)), link, count=1)


def _video_rows(history: UserHistory, table: str, *archives: GeneratedArchive) -> list[tuple[int, str, str]]:
    """(time, video id, link) of every row of a lazily generated table the exports show."""
    events, indices = history.videos[table], set()
    for a in archives:
        at_s = int(a.exported_at.timestamp())
        after = at_s - int(WATCH_RETENTION.total_seconds()) if table == "watch_history" else None
        indices |= set(range(*events.window(after, at_s)))
    return [(events.ts(i), events.video(i), events.link(i)) for i in sorted(indices)]


def test_pseudonymized_loads_keep_no_third_party_name_and_keep_follower_history(tmp_path, exports, pseudonymized):
    history, first, second = exports
    folder, runs = pseudonymized
    db = folder / "t.duckdb"
    places = everything(folder, "t", *runs)
    names = third_parties(history)
    assert len(names) > 20
    assert leaks(places, names, HANDLE) == []
    assert leaks(places, {KEY}) == []
    # the user's own name is not a third party: it stays (and the scan above could have seen names)
    assert sql(db, "SELECT DISTINCT user_id FROM tiktok.followers") == [("user_a",)]
    assert ("user_a",) in sql(db, "SELECT DISTINCT sender FROM tiktok.direct_messages WHERE is_own")

    # nothing lost: every row of both exports is there
    union = history.expected_counts([first, second])
    assert counts(db) == {e.table: union.get(e.table, 0) for e in ENTITIES}
    # who unfollowed between the exports, as pseudonyms, with the export times
    rows = sql(db, "SELECT username, last_seen_at, disappeared_at FROM tiktok.followers WHERE NOT is_current")
    gone = history.unfollowed_between(first, second)["followers"]
    assert {r[0] for r in rows} == {pseudonym(n) for n in gone}
    assert {(r[1], r[2]) for r in rows} == {(first.exported_at, second.exported_at)}

    # loading the exports again adds nothing: the keys are made from the same pseudonyms (on a copy)
    shutil.copytree(folder, tmp_path / "again")
    before = counts(tmp_path / "again" / "t.duckdb")
    ok(load(tmp_path / "again", str(first.path), str(second.path), "--pseudonymize", "--no-skip"))
    assert counts(tmp_path / "again" / "t.duckdb") == before


def test_every_pseudonym_is_the_keyed_hash_of_its_name(exports, pseudonymized):
    """Wherever a third party's name was, its pseudonym is ``u_`` + HMAC-SHA256(key, "username\x1f" + name)
    (group chats ``g_`` + the same digits of their name): the whole tables are compared with the
    generator's rows, names replaced by their pseudonyms."""
    history, first, second = exports
    db = pseudonymized[0] / "t.duckdb"
    for table in ("followers", "following", "blocked_accounts"):
        expected = {None if n is None else pseudonym(n) for n in _accounts(history, table, first, second)}
        assert {n for (n,) in sql(db, f"SELECT username FROM tiktok.{table}")} == expected, table
        assert table == "blocked_accounts" or len(expected) > 10, table

    def conversation(name: str) -> str:
        return ("g_" + pseudonym(name)[2:]) if name.startswith("Group_Chat_") else pseudonym(name)

    messages = history.expected_rows("direct_messages", [first, second])
    expected_dms = Counter((conversation(m["conversation"]), int(m["sent_at"].timestamp()),
                            m["sender"] if m["sender"] == history.username else pseudonym(m["sender"]), m["content"])
                           for m in messages)
    loaded = Counter(sql(db, "SELECT conversation, epoch(sent_at)::BIGINT, sender, content FROM tiktok.direct_messages"))
    assert loaded == expected_dms
    assert any(c.startswith("g_") for c, *_ in loaded) and any(c.startswith("u_") for c, *_ in loaded)

    for table, time in (("watch_history", "watched_at"), ("likes", "liked_at")):
        expected_links = Counter((t, v, _pseudo_link(link)) for t, v, link in _video_rows(history, table, first, second))
        assert sum(1 for _, _, link in expected_links if "/@u_" in link) >= 2, table
        assert Counter(sql(db, f"SELECT epoch({time})::BIGINT, video_id, link FROM tiktok.{table}")) == \
            expected_links, table


def test_link_and_account_pseudonyms_join(exports, pseudonymized):
    """A creator the user follows carries the same pseudonym in ``following.username`` and in the
    ``@name`` of the links of their videos: the tables join on it."""
    history, first, second = exports
    db = pseudonymized[0] / "t.duckdb"
    followed = _accounts(history, "following", first, second) - {None}
    creators = {m.group(1) for _, _, link in _video_rows(history, "watch_history", first, second)
                if (m := re.search(r"/@([^/]+)/", link))}
    assert creators & followed
    joined = sql(db, "SELECT DISTINCT f.username FROM tiktok.following f JOIN tiktok.watch_history w "
                     "ON regexp_extract(w.link, '/@([^/]+)/', 1) = f.username")
    assert {u for (u,) in joined} == {pseudonym(n) for n in creators & followed}


def test_pseudonyms_are_the_same_in_every_dataset_with_the_key_and_differ_with_another(tmp_path, exports):
    history, first, _ = exports
    ok(load(tmp_path, str(first.path), "--pseudonymize", db="a"))
    ok(load(tmp_path, str(first.path), "--pseudonymize", db="b"))
    ok(load(tmp_path, str(first.path), "--pseudonymize", db="c", key=OTHER_KEY))
    query = "SELECT username, row_key FROM tiktok.following ORDER BY 1"
    a, b, c = (sql(tmp_path / f"{db}.duckdb", query) for db in "abc")
    assert a == b and len(a) == first.expected["following"]
    # deleted accounts (no name) are keyed by their follow time, the same with any key
    named_a, named_c = ([(n, k) for n, k in rows if n is not None] for rows in (a, c))
    assert len(named_a) < len(a)
    assert {n for n, _ in named_c}.isdisjoint(n for n, _ in named_a)
    assert {k for _, k in named_c}.isdisjoint(k for _, k in named_a)
    assert {n for n, _ in named_c} <= {pseudonym(n, OTHER_KEY) for n in third_parties(history)}


def test_missing_or_weak_key_fails_before_anything_is_written(tmp_path, exports):
    _, first, _ = exports
    result = load(tmp_path, str(first.path), "--pseudonymize", key=None)
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: ") and "Traceback" not in result.stderr
    assert "pseudonymize_key" in error[0] and KEY_ENV in error[0] and "secrets.toml" in error[0]
    assert not (tmp_path / "t.duckdb").exists()
    weak = load(tmp_path, str(first.path), "--drop-message-text", key="tiny-key")
    assert weak.returncode == 2 and "too short" in weak.stderr and "tiny-key" not in weak.stderr
    assert not (tmp_path / "t.duckdb").exists()


def test_a_dataset_keeps_the_privacy_settings_of_its_first_load(tmp_path, exports):
    _, first, second = exports
    ok(load(tmp_path, str(first.path), key=None))  # raw
    db = tmp_path / "t.duckdb"
    raw = counts(db)
    refused = load(tmp_path, str(second.path), "--pseudonymize")
    assert refused.returncode == 2
    assert "loaded with other privacy settings" in refused.stderr and "pseudonymize on (was off)" in refused.stderr
    assert counts(db) == raw
    assert sql(db, "SELECT COUNT(*) FROM tiktok.followers WHERE username LIKE 'u\\_%' ESCAPE '\\'")[0][0] == 0
    # a new worker (empty pipelines folder) gets the same answer: the settings live with the data
    shutil.rmtree(tmp_path / "t-pipelines")
    assert load(tmp_path, str(second.path), "--drop-network-ids").returncode == 2

    ok(load(tmp_path, str(first.path), "--pseudonymize", db="p"))
    other_key = load(tmp_path, str(second.path), "--pseudonymize", db="p", key=OTHER_KEY)
    assert other_key.returncode == 2 and "a different pseudonymize_key" in other_key.stderr
    assert OTHER_KEY not in other_key.stderr and KEY not in other_key.stderr
    ok(load(tmp_path, str(second.path), "--pseudonymize", db="p"))  # the same settings go on loading


# --- drop / exclude --------------------------------------------------------------------------------


def test_dropped_message_text_keeps_two_messages_of_one_second_from_one_sender_apart(tmp_path, exports):
    """Every message stays a row without its text: two sent in one second by one sender in one thread
    too (their texts, dropped, still key them apart as keyed hashes), and no text is left anywhere."""
    history, first, _ = exports
    ok(load(tmp_path, str(first.path), key=None, db="raw"))
    run = ok(load(tmp_path, str(first.path), "--drop-message-text"))
    db = tmp_path / "t.duckdb"
    n, texts, ids, senders = sql(db, "SELECT COUNT(*), COUNT(content), COUNT(video_id), COUNT(sender) "
                                     "FROM tiktok.direct_messages")[0]
    assert n == first.expected["direct_messages"] > 0 and texts == ids == 0 and senders == n
    expected = Counter((m["conversation"], int(m["sent_at"].timestamp()), m["sender"])
                       for m in history.expected_rows("direct_messages", [first]))
    assert 2 in expected.values()  # the generator's same-second messages differing only in their text
    assert Counter(sql(db, "SELECT conversation, epoch(sent_at)::BIGINT, sender FROM tiktok.direct_messages")) == \
        expected
    contents = {m.content for m in history.direct_messages}
    assert leaks(everything(tmp_path, "t", run), contents) == []
    # the row keys are not the raw-mode keys (which hash the text and could be reversed by guessing)
    query = "SELECT row_key FROM tiktok.direct_messages"
    assert {k for (k,) in sql(db, query)}.isdisjoint(k for (k,) in sql(tmp_path / "raw.duckdb", query))


def test_dropped_network_ids_leave_no_ip_or_device_and_keep_two_logins_of_one_second_apart(tmp_path, exports):
    """Logins stay rows without IP or device: two in one second that differed only in their IP (or only
    in their device model) too, keyed apart by the dropped values' keyed hashes."""
    history, first, _ = exports
    run = ok(load(tmp_path, str(first.path), "--drop-network-ids"))
    db = tmp_path / "t.duckdb"
    n, kept = sql(db, "SELECT COUNT(*), COUNT(ip) + COUNT(device_model) + COUNT(device_system) + COUNT(carrier) "
                      "FROM tiktok.logins")[0]
    assert n == first.expected["logins"] > 0 and kept == 0
    at_s = int(first.exported_at.timestamp())
    expected = Counter(e.ts for e in history.logins if e.ts <= at_s)
    assert 2 in expected.values()  # the generator's same-second logins (another IP, another device model)
    assert Counter(t for (t,) in sql(db, "SELECT epoch(logged_in_at)::BIGINT FROM tiktok.logins")) == expected
    assert leaks(everything(tmp_path, "t", run), {"Phone1,1", "Phone2,3", "Tablet1,2", "Example Mobile"}, IP) == []
    # device and advertising ids, and locations, are network ids too: the rows stay, the values go
    ok(load(tmp_path, str(first.path), db="raw", key=None))
    raw = tmp_path / "raw.duckdb"
    ids = ("idfa", "gaid", "android_id", "idfv", "web_id", "uid", "did")
    secrets = {str(v) for (v,) in sql(raw, f"SELECT unnest([{', '.join(ids)}]) FROM tiktok.devices") if v}
    secrets |= {v for row in sql(raw, "SELECT gps, last_region FROM tiktok.locations") for v in row if v}
    assert len(secrets) >= 4 and first.expected["devices"] > 0 and first.expected["locations"] > 0
    secrets = {v for v in secrets if len(v) > 4}  # a region code such as "FR" is in every SQL file
    assert sql(db, f"SELECT COUNT(*), {' + '.join(f'COUNT({c})' for c in ids)} FROM tiktok.devices")[0] == \
        (first.expected["devices"], 0)
    assert sql(db, "SELECT COUNT(*), COUNT(gps) + COUNT(last_region) FROM tiktok.locations")[0] == \
        (first.expected["locations"], 0)
    assert leaks(everything(tmp_path, "t", run), secrets) == []


def test_autofill_is_loaded_only_on_opt_in_and_otherwise_only_counted(tmp_path):
    history = UserHistory("user_a", seed=21)
    archive = history.export(tmp_path / "in", at=AT, family="D")
    values = {"alex@example.com"}  # the generator's other "Example …" values are not autofill's
    assert archive.autofill_values >= 3
    run = ok(load(tmp_path, str(archive.path), key=None))
    db = tmp_path / "t.duckdb"
    assert "autofill" not in counts(db) or counts(db)["autofill"] == 0
    held = sql(db, "SELECT item_count, reason FROM tiktok.unparsed_sections WHERE path LIKE '%Autofill%'")
    assert [n for n, _ in held] == [archive.autofill_values] and "load_autofill" in held[0][1]
    assert leaks(everything(tmp_path, "t", run), values) == []
    ok(load(tmp_path, str(archive.path), "--load-autofill", db="opted", key=None))
    assert sql(tmp_path / "opted.duckdb", "SELECT first_name, last_name, city, email, phone_number "
                                          "FROM tiktok.autofill") == [("Alex", "Example", "Example City",
                                                                       "alex@example.com", None)]


def test_excluded_tables_are_not_loaded_and_nothing_else_is_lost(tmp_path, exports):
    _, first, _ = exports
    ok(load(tmp_path, str(first.path), "--exclude", "direct_messages", "off_tiktok_activity", key=None))
    loaded = counts(tmp_path / "t.duckdb")
    assert loaded["direct_messages"] == loaded["off_tiktok_activity"] == 0
    assert first.expected["direct_messages"] > 0 and first.expected["off_tiktok_activity"] > 0
    assert loaded == {e.table: 0 if e.table in ("direct_messages", "off_tiktok_activity")
                      else first.expected.get(e.table, 0) for e in ENTITIES}
    bad = load(tmp_path, str(first.path), "--exclude", "dms", key=None)
    assert bad.returncode == 2 and "dms" in bad.stderr and "direct_messages" in bad.stderr


def test_config_file_and_env_switch_the_controls_too(tmp_path, exports):
    """The same keys from .dlt/config.toml (flags only override): what orchestrators rely on."""
    _, first, _ = exports
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "config.toml").write_text(
        '[sources.tiktok_portability]\npseudonymize = true\nexclude = ["searches"]\n')
    ok(load(tmp_path, str(first.path)))
    db = tmp_path / "t.duckdb"
    assert counts(db)["searches"] == 0 and counts(db)["followers"] == first.expected["followers"]
    assert sql(db, "SELECT COUNT(*) FROM tiktok.followers WHERE username NOT LIKE 'u\\_%' ESCAPE '\\'")[0][0] == 0


def test_api_sync_honours_the_controls(tmp_path):
    env = start_env(tmp_path)
    try:
        env.authorize(env.service(), "priv-user", ALL_ONGOING)
        result = env.cli("sync", "--wait", "--pseudonymize", "--drop-message-text", env={KEY_ENV: KEY})
        assert result.returncode == 0, result.stdout + result.stderr
        assert env.count("followers", "priv-user") > 0
        history = env.builder.history("priv-user")
        assert leaks({"db": database_dump(env.db)}, third_parties(history) | {KEY}, HANDLE) == []
        assert sql(env.db, "SELECT COUNT(content) FROM tiktok.direct_messages")[0][0] == 0
        status = env.cli("status", env={KEY_ENV: KEY})
        assert status.returncode == 0, status.stderr
        assert "pseudonymize_key set" in status.stdout and KEY not in status.stdout + status.stderr
    finally:
        stop_env(env)


# --- secrets ---------------------------------------------------------------------------------------


def test_the_key_is_masked_in_reprs_logs_and_errors(caplog):
    settings = PrivacySettings.from_config(True, KEY, exclude="searches")
    assert KEY not in repr(settings) + repr(settings.protector("me")) + settings.describe()
    assert KEY in registered_secrets()
    logger = logging.getLogger("tiktok_portability_source.test_privacy")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("resolved %s", KEY)
        try:
            raise RuntimeError(f"failed with {KEY}")
        except RuntimeError:
            logger.exception("boom")
    assert caplog.records and KEY not in caplog.text
    assert redact(f"key={KEY}", registered_secrets()) == "key=…(redacted)"
    with pytest.raises(PrivacyError) as weak:
        PrivacySettings.from_config(True, "tiny-key")
    assert "tiny-key" not in str(weak.value)


def test_strict_permissions_refuse_a_token_store_others_can_read(tmp_path):
    env = start_env(tmp_path)
    try:
        env.authorize(env.service(), "perm-user", ALL_ONGOING)
        os.chmod(env.store_file, 0o644)
        with pytest.raises(TokenStoreError, match="chmod 600"):
            TokenStore(env.token_store, strict_permissions=True).open_ids()
        assert TokenStore(env.token_store).open_ids() == ["perm-user"]  # default: warns, works
        strict = env.cli("status", env={"SOURCES__TIKTOK_PORTABILITY__STRICT_PERMISSIONS": "true"})
        assert strict.returncode == 2 and "chmod 600" in strict.stderr
        assert ok(env.cli("status")).stdout.count("perm-user") >= 1
    finally:
        stop_env(env)


def test_a_secret_is_masked_also_percent_encoded_as_in_a_logged_url():
    code = "code*with!special/chars+=="
    register_secret(code)
    text = f"GET /callback/?code={quote(code, safe='')}&state=x POST code={quote_plus(code)} raw {code}"
    masked = redact(text, registered_secrets())
    assert code not in masked and quote(code, safe="") not in masked and quote_plus(code) not in masked
    assert masked.count("…(redacted)") == 3 and "state=x" in masked


def test_every_protected_column_still_exists_in_the_layouts():
    """A column renamed in layouts.py would silently stop being pseudonymised or dropped."""
    assert validate_columns() == []


def test_a_damaged_dm_thread_is_named_by_its_pseudonym_in_unparsed_sections_and_nowhere_raw(tmp_path):
    """A thread whose messages are not a list is recorded in ``unparsed_sections``; its name is a third
    party's, so the row, the staging copy, the load package and the warning carry only its pseudonym."""
    import json

    history = UserHistory("user_a", seed=5)
    export = history.export(tmp_path / "x", at=AT, container="folder")
    data_file = next(export.path.rglob("user_data_tiktok.json"))
    data = json.loads(data_file.read_text(encoding="utf-8"))
    threads = data["Direct Message"]["Direct Messages"]["ChatHistory"]
    victim = next(k for k in threads if "Group" not in k and threads[k])
    name = victim.removeprefix("Chat History with ").rstrip(":")
    threads[victim] = "this thread is damaged"
    data_file.write_text(json.dumps(data), encoding="utf-8")

    run = ok(load(tmp_path, str(export.path), "--pseudonymize"))
    rows = sql(tmp_path / "t.duckdb", "SELECT path, reason FROM tiktok.unparsed_sections WHERE path LIKE '%Chat History with%'")
    assert [r[0].rsplit("(Chat History with ", 1)[1] for r in rows] == [f"{pseudonym(name)})"]
    assert "expected a list of messages" in rows[0][1]
    assert leaks(everything(tmp_path, "t", run), {name}) == []

    # without pseudonymisation the user's own database may name the thread as the export does
    ok(load(tmp_path, str(export.path), db="plain", key=None))
    assert sql(tmp_path / "plain.duckdb", "SELECT COUNT(*) FROM tiktok.unparsed_sections "
                                         "WHERE path LIKE ?", f"%(Chat History with {name})")[0][0] == 1
