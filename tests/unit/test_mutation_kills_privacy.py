"""Privacy controls pinned value by value (issue 18, `make mutate`): which columns are pseudonymised
or dropped, the exact pseudonym and keyed-hash derivations, the row keys they make, and the settings a
dataset keeps. Each test is named after what a user loses when it breaks; the derivations are written
out here (HMAC-SHA256, MD5) so a change to them cannot pass unnoticed."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from tiktok_portability_source import privacy
from tiktok_portability_source import settings as config
from tiktok_portability_source.archive import LazyList, Section, jsonstream, open_archive
from tiktok_portability_source.errors import PrivacyError, registered_secrets
from tiktok_portability_source.fake.generator import UserHistory
from tiktok_portability_source.layouts import BY_TABLE
from tiktok_portability_source.privacy import PrivacySettings, Protector, parse_names, validate_columns
from tiktok_portability_source.records import section_rows, section_tables

KEY = "mutation-kills-key-0123456789abc"
AT = datetime(2025, 12, 1, tzinfo=timezone.utc)
USER = "user_a"


def hexmac(domain: str, value: str, key: str = KEY) -> str:
    return hmac.new(key.encode(), f"{domain}\x1f{value}".encode(), hashlib.sha256).hexdigest()[:16]


def pseudonym(name: str, prefix: str = "u_") -> str:
    return prefix + hexmac("username", name)


def md5_key(*parts: str) -> str:
    return hashlib.md5("\x1f".join(parts).encode()).hexdigest()


def epoch(text: str) -> str:
    return str(int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()))


def rows(table: str, items: list[dict], protect=None, constants: dict | None = None) -> list[dict]:
    entity = BY_TABLE[table]
    constants = constants or {}
    section = Section(entity, "test", items, constants)
    out = section_rows(entity, [section], USER, "sha", list(constants), protect)
    return out.to_pylist()


def settings(**on: bool) -> PrivacySettings:
    return PrivacySettings.from_config(pseudonymize_key=KEY, **on)


# --- which columns each control touches -------------------------------------------------------------


def test_the_pseudonymised_dropped_and_link_columns_are_exactly_these():
    assert privacy._columns_of("account") == privacy.USERNAME_COLUMNS == {
        "blocked_accounts": ("username",), "followers": ("username",), "following": ("username",),
        "direct_messages": ("sender", "conversation")}
    assert privacy._columns_of("link") == privacy.LINK_COLUMNS == {
        "watch_history": ("link",), "likes": ("link",), "favorite_videos": ("link",), "favorite_sounds": ("link",),
        "favorite_hashtags": ("link",), "shares": ("link",), "comments": ("url", "original_post_url"),
        "live_history": ("link",)}
    assert privacy._columns_of("message") == privacy.MESSAGE_TEXT_COLUMNS == {
        "direct_messages": ("content", "video_id")}
    assert privacy._columns_of("network", "location") == privacy.NETWORK_ID_COLUMNS == {
        "logins": ("ip", "device_model", "device_system", "carrier"),
        "devices": ("idfa", "gaid", "android_id", "idfv", "web_id", "uid", "did"),
        "locations": ("gps", "last_region")}


def test_a_protected_column_missing_from_the_layouts_is_reported_as_a_leak(monkeypatch):
    assert validate_columns() == []
    monkeypatch.setitem(privacy.USERNAME_COLUMNS, "followers", ("username", "nickname"))
    monkeypatch.setitem(privacy.NETWORK_ID_COLUMNS, "no_such_table", ("ip",))
    monkeypatch.setitem(privacy.MESSAGE_TEXT_COLUMNS, "direct_messages", ("content", "video_id", "is_group", "x"))
    assert validate_columns() == ["followers.nickname", "direct_messages.x", "no_such_table.ip"]


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "names"), [
    (None, ()), ("", ()), ("followers, logins", ("followers", "logins")), ('["followers", "logins"]', ("followers", "logins")),
    ("['likes']", ("likes",)), ('["X", "Y"]', ("X", "Y")), ("X, Y", ("X", "Y")), ([" searches ", "", "shares"], ("searches", "shares")), ((1, 2), ("1", "2")),
])
def test_exclude_names_are_read_from_toml_lists_env_strings_and_flags(value, names):
    assert parse_names(value) == names


@pytest.mark.parametrize("text", ["1", "true", "TRUE", " yes ", "On"])
def test_a_switch_written_as_text_turns_on(text):
    assert PrivacySettings.from_config(pseudonymize=text, pseudonymize_key=KEY).pseudonymize is True


@pytest.mark.parametrize("text", ["0", "false", "no", "off", "", "maybe"])
def test_a_switch_written_as_other_text_stays_off(text):
    s = PrivacySettings.from_config(drop_message_text=text, pseudonymize_key=KEY)
    assert s.drop_message_text is False and s.protector(USER) is None


def test_settings_take_every_switch_and_the_exclusions():
    s = PrivacySettings.from_config(True, KEY, 1, "yes", "followers,logins")
    assert (s.pseudonymize, s.drop_message_text, s.drop_network_ids) == (True, True, True)
    assert s.exclude == frozenset({"followers", "logins"}) and s.key == KEY
    assert s.keyed_options == ("pseudonymize", "drop_message_text", "drop_network_ids")
    assert PrivacySettings.from_config(drop_network_ids=True, pseudonymize_key=KEY).keyed_options == ("drop_network_ids",)
    assert PrivacySettings.from_config(exclude="likes").needs_key is False


def test_an_unknown_excluded_table_is_refused_naming_it_and_the_valid_ones():
    with pytest.raises(PrivacyError) as err:
        PrivacySettings.from_config(exclude="followers,folowers,zzz")
    message = str(err.value)
    assert message.startswith("exclude: unknown table(s) folowers, zzz; valid: watch_history, likes, ")
    assert message.endswith(", settings, autofill")


def test_every_keyed_option_without_a_key_is_refused_and_named():
    with pytest.raises(PrivacyError) as err:
        PrivacySettings.from_config(pseudonymize=True, drop_network_ids=True, pseudonymize_key="")
    assert str(err.value) == (
        "pseudonymize, drop_network_ids needs a secret pseudonymize_key: set it in .dlt/secrets.toml under "
        "[sources.tiktok_portability] or in the env var SOURCES__TIKTOK_PORTABILITY__PSEUDONYMIZE_KEY (generate one "
        "with: python -c \"import secrets; print(secrets.token_urlsafe(32))\"); keep it: another key gives other "
        "pseudonyms")


def test_a_key_of_fifteen_characters_is_refused_and_sixteen_accepted():
    with pytest.raises(PrivacyError) as err:
        PrivacySettings.from_config(pseudonymize=True, pseudonymize_key="k" * 15)
    assert str(err.value) == ("pseudonymize_key is too short (fewer than 16 characters): a short key can be guessed, "
                              "and with it every pseudonym reversed")
    assert PrivacySettings.from_config(pseudonymize=True, pseudonymize_key="k" * 16).key == "k" * 16


def test_an_accepted_key_is_masked_in_log_text():
    key = "mutation-kills-secret-masked-9876"
    PrivacySettings.from_config(drop_message_text=True, pseudonymize_key=key)
    assert key in registered_secrets()


def test_the_key_is_never_in_a_repr_and_the_description_says_only_whether_it_is_set():
    s = PrivacySettings.from_config(True, KEY, exclude="logins,followers")
    assert KEY not in repr(s) and KEY not in repr(s.protector(USER))
    assert s.describe() == ("pseudonymize=on, drop_message_text=off, drop_network_ids=off, exclude=followers,logins, "
                            "pseudonymize_key set")
    assert PrivacySettings().describe() == ("pseudonymize=off, drop_message_text=off, drop_network_ids=off, "
                                            "exclude=-, pseudonymize_key not set")


def test_the_fingerprint_holds_the_switches_and_a_keyed_check_value_never_the_key():
    assert settings(pseudonymize=True).fingerprint() == {
        "pseudonymize": True, "drop_message_text": False, "drop_network_ids": False,
        "key_check": hexmac("key-check", "")}
    assert PrivacySettings().fingerprint() == {
        "pseudonymize": False, "drop_message_text": False, "drop_network_ids": False, "key_check": None}


def test_a_first_load_remembers_its_settings_and_the_same_settings_load_again():
    state: dict = {}
    settings(pseudonymize=True).check_dataset(state)
    assert state == {"privacy": settings(pseudonymize=True).fingerprint()}
    settings(pseudonymize=True).check_dataset(state)


def test_a_dataset_loaded_raw_refuses_pseudonymised_rows_saying_what_changed():
    state = {"privacy": PrivacySettings().fingerprint()}
    with pytest.raises(PrivacyError) as err:
        settings(pseudonymize=True, drop_message_text=True).check_dataset(state)
    assert str(err.value) == (
        "this dataset was loaded with other privacy settings: pseudonymize on (was off), drop_message_text on (was "
        "off); loading would mix raw and protected (or differently pseudonymised) rows. Use the settings it was "
        "loaded with, or load into a new dataset (--dataset) / destination")
    assert state == {"privacy": PrivacySettings().fingerprint()}  # the refused settings are not remembered


def test_a_dataset_pseudonymised_with_one_key_refuses_another_key():
    state: dict = {}
    settings(pseudonymize=True).check_dataset(state)
    other = PrivacySettings.from_config(pseudonymize=True, pseudonymize_key="another-key-0123456789")
    with pytest.raises(PrivacyError, match="settings: a different pseudonymize_key; loading"):
        other.check_dataset(state)
    both = PrivacySettings.from_config(pseudonymize=True, drop_network_ids=True, pseudonymize_key="another-key-0123456789")
    with pytest.raises(PrivacyError, match="settings: drop_network_ids on \\(was off\\), a different pseudonymize_key; "
                                           "loading"):
        both.check_dataset(state)


def test_turning_the_controls_off_on_a_protected_dataset_is_refused():
    state: dict = {}
    settings(drop_network_ids=True).check_dataset(state)
    with pytest.raises(PrivacyError, match="settings: drop_network_ids off \\(was on\\); loading"):
        PrivacySettings().check_dataset(state)


def test_a_dataset_loaded_before_fingerprints_counts_as_loaded_raw():
    loaded = {"resources": {"watch_history": {"coverage": {USER: [["a", "b"]]}}}}
    with pytest.raises(PrivacyError, match="pseudonymize on \\(was off\\)"):
        settings(pseudonymize=True).check_dataset(dict(loaded))
    followed = {"resources": {"followers": {"snapshots": {USER: ["2025-01-01"]}}}}
    with pytest.raises(PrivacyError):
        settings(pseudonymize=True).check_dataset(followed)
    never = {"resources": {"watch_history": {"coverage": {}}, "followers": {"snapshots": {}}}}
    settings(pseudonymize=True).check_dataset(never)  # state, but no rows: a first load
    assert never["privacy"] == settings(pseudonymize=True).fingerprint()


# --- pseudonyms and keyed hashes --------------------------------------------------------------------


def test_a_pseudonym_is_u_and_the_first_16_hex_of_the_keyed_hmac_and_the_owner_keeps_their_name():
    protector = settings(pseudonymize=True).protector(USER)
    names = pa.array(["user_0042", USER, None, "user_0042", "Group_Chat_7"])
    groups = pa.array([False, False, None, None, True])
    assert protector.pseudonyms(names).to_pylist() == [
        pseudonym("user_0042"), USER, None, pseudonym("user_0042"), pseudonym("Group_Chat_7")]
    assert protector.pseudonyms(names, groups).to_pylist() == [
        pseudonym("user_0042"), USER, None, pseudonym("user_0042"), pseudonym("Group_Chat_7", "g_")]
    assert settings(pseudonymize=True).protector(None).pseudonyms(pa.array([USER])).to_pylist() == [pseudonym(USER)]


def test_the_name_inside_a_video_link_gets_the_same_pseudonym_and_the_rest_stays():
    protector = settings(pseudonymize=True).protector(USER)
    links = pa.chunked_array([["https://www.tiktok.com/@user_0042/video/7001", None],
                              ["https://www.tiktokv.com/share/video/7002/", "https://www.tiktok.com/@user_0043?lang=en",
                               f"https://www.tiktok.com/@{USER}/video/7003", "https://m.example/@x#frag",
                               "https://www.tiktok.com/@?lang=en"]])
    assert protector.link_pseudonyms(links).to_pylist() == [
        f"https://www.tiktok.com/@{pseudonym('user_0042')}/video/7001", None,
        "https://www.tiktokv.com/share/video/7002/", f"https://www.tiktok.com/@{pseudonym('user_0043')}?lang=en",
        f"https://www.tiktok.com/@{USER}/video/7003", f"https://m.example/@{pseudonym('x')}#frag",
        "https://www.tiktok.com/@?lang=en"]  # no name after the @: nothing to hide, kept as it is
    share_only = pa.array(["https://www.tiktokv.com/share/video/1/", None])
    assert protector.link_pseudonyms(share_only).to_pylist() == ["https://www.tiktokv.com/share/video/1/", None]
    assert protector.link_pseudonyms(pa.nulls(2)).to_pylist() == [None, None]
    assert protector.link_pseudonyms(pa.array([None, None], pa.string())).to_pylist() == [None, None]


def test_a_keyed_hash_is_per_value_and_domain_and_reads_numbers_as_text():
    protector = settings(drop_network_ids=True).protector(USER)
    got = protector._keyed_hash("logins.ip", pa.chunked_array([["203.0.113.1", "203.0.113.2"], ["203.0.113.1"]]))
    assert got.to_pylist() == [hexmac("logins.ip", "203.0.113.1"), hexmac("logins.ip", "203.0.113.2"),
                               hexmac("logins.ip", "203.0.113.1")]
    assert protector._keyed_hash("x", pa.array([7, 7], pa.int64())).to_pylist() == [hexmac("x", "7")] * 2
    assert protector._keyed_hash("x", pa.array([True])).to_pylist() == [hexmac("x", "true")]
    assert settings(drop_network_ids=True).hashed("d", ["v"]) == [hexmac("d", "v")]


# --- rows, as the reader makes them ---------------------------------------------------------------

DM = [{"Date": "2025-03-01 10:00:00", "From": "user_0042", "Content": "see https://www.tiktokv.com/share/video/7123/"},
      {"Date": "2025-03-01 10:00:00", "From": USER, "Content": "ok"},
      {"Date": "2025-03-01 10:00:00", "From": USER, "Content": "ok!"}]


def test_pseudonymised_messages_hide_sender_and_conversation_but_not_the_owner_or_the_text():
    protect = settings(pseudonymize=True).protector(USER)
    got = rows("direct_messages", DM, protect, {"conversation": "user_0042", "is_group": False})
    assert [(r["conversation"], r["sender"], r["content"], r["video_id"]) for r in got] == [
        (pseudonym("user_0042"), pseudonym("user_0042"), DM[0]["Content"], "7123"),
        (pseudonym("user_0042"), USER, "ok", None), (pseudonym("user_0042"), USER, "ok!", None)]
    t = epoch("2025-03-01 10:00:00")
    assert [r["row_key"] for r in got] == [
        md5_key(USER, "direct_messages", pseudonym("user_0042"), t, pseudonym("user_0042"), DM[0]["Content"]),
        md5_key(USER, "direct_messages", pseudonym("user_0042"), t, USER, "ok"),
        md5_key(USER, "direct_messages", pseudonym("user_0042"), t, USER, "ok!")]


def test_a_group_conversation_is_g_but_its_members_stay_u():
    protect = settings(pseudonymize=True).protector(USER)
    got = rows("direct_messages", DM[:1], protect, {"conversation": "Group_Chat_70", "is_group": True})
    assert (got[0]["conversation"], got[0]["sender"]) == (pseudonym("Group_Chat_70", "g_"), pseudonym("user_0042"))


def test_dropped_message_text_is_null_and_keys_two_texts_of_one_second_apart_by_their_keyed_hash():
    protect = settings(drop_message_text=True).protector(USER)
    got = rows("direct_messages", DM, protect, {"conversation": "user_0042", "is_group": False})
    assert [(r["sender"], r["content"], r["video_id"]) for r in got] == [
        ("user_0042", None, None), (USER, None, None), (USER, None, None)]
    t = epoch("2025-03-01 10:00:00")
    assert [r["row_key"] for r in got] == [
        md5_key(USER, "direct_messages", "user_0042", t, "user_0042",
                hexmac("direct_messages.content", DM[0]["Content"])),
        md5_key(USER, "direct_messages", "user_0042", t, USER, hexmac("direct_messages.content", "ok")),
        md5_key(USER, "direct_messages", "user_0042", t, USER, hexmac("direct_messages.content", "ok!"))]


LOGINS = [{"Date": "2025-02-01 08:00:00", "IP": "203.0.113.7", "DeviceModel": "Phone1,1", "DeviceSystem": "OS 1",
           "NetworkType": "4G", "Carrier": "Example Mobile"},
          {"Date": "2025-02-01 08:00:00", "IP": "203.0.113.8", "DeviceModel": "Phone1,1", "DeviceSystem": "OS 1",
           "NetworkType": "Wi-Fi", "Carrier": "Example Mobile"}]


def test_dropped_network_ids_null_ip_device_and_carrier_keep_the_network_type_and_key_by_keyed_hash():
    got = rows("logins", LOGINS, settings(drop_network_ids=True).protector(USER))
    assert [(r["ip"], r["device_model"], r["device_system"], r["carrier"], r["network_type"]) for r in got] == [
        (None, None, None, None, "4G"), (None, None, None, None, "Wi-Fi")]
    t = epoch("2025-02-01 08:00:00")
    assert [r["row_key"] for r in got] == [
        md5_key(USER, "logins", t, hexmac("logins.ip", ip), hexmac("logins.device_model", "Phone1,1"))
        for ip in ("203.0.113.7", "203.0.113.8")]


def test_without_drop_network_ids_logins_keep_and_are_keyed_by_their_raw_values():
    got = rows("logins", LOGINS, settings(pseudonymize=True).protector(USER))
    assert got[0]["ip"] == "203.0.113.7" and got[0]["carrier"] == "Example Mobile"
    assert got[0]["row_key"] == md5_key(USER, "logins", epoch("2025-02-01 08:00:00"), "203.0.113.7", "Phone1,1")


def test_dropped_network_ids_also_drop_locations_and_device_ids():
    protect = settings(drop_network_ids=True).protector(USER)
    located = rows("locations", [{"Date": "2025-05-05 05:05:05", "GpsData": "52.1,4.3", "LastRegion": "NL"}], protect)
    assert (located[0]["gps"], located[0]["last_region"]) == (None, None)
    assert located[0]["row_key"] == md5_key(USER, "locations", epoch("2025-05-05 05:05:05"),
                                            hexmac("locations.gps", "52.1,4.3"), hexmac("locations.last_region", "NL"))
    device = rows("devices", [{"Resolution": "1080x2400", "App Version": "40.1", "IDFA": "idfa-1", "DID": "77"}], protect)
    assert {k: device[0][k] for k in ("resolution", "app_version", "idfa", "did")} == {
        "resolution": "1080x2400", "app_version": "40.1", "idfa": None, "did": None}


def test_nothing_but_the_chosen_controls_changes_a_row():
    protect = settings(pseudonymize=True).protector(USER)
    watched = rows("watch_history", [{"Date": "2025-01-01 00:00:01", "Link": "https://www.tiktok.com/@user_9/video/55",
                                      "Title": "a title"}], protect)
    assert watched[0]["link"] == f"https://www.tiktok.com/@{pseudonym('user_9')}/video/55"
    assert (watched[0]["title"], watched[0]["video_id"]) == ("a title", "55")
    blocked = rows("blocked_accounts", [{"Date": "2025-01-01 00:00:01", "UserName": "user_8"}], protect)
    assert blocked[0]["username"] == pseudonym("user_8")
    assert blocked[0]["row_key"] == md5_key(USER, "blocked_accounts", pseudonym("user_8"))


def test_a_protector_keeps_columns_it_does_not_know_and_skips_those_it_is_not_given():
    protect = Protector(settings(pseudonymize=True, drop_message_text=True, drop_network_ids=True), USER)
    stored, keyed = protect(BY_TABLE["logins"], {"ip": pa.array(["1.2.3.4"]), "other": pa.array(["x"])})
    assert stored["ip"].to_pylist() == [None] and stored["other"].to_pylist() == ["x"]
    assert stored["ip"].type == pa.string()
    assert keyed["ip"].to_pylist() == [hexmac("logins.ip", "1.2.3.4")] and "device_model" not in keyed
    stored, keyed = protect(BY_TABLE["logins"], {"carrier": pa.array(["Example Mobile"])})
    assert stored["carrier"].to_pylist() == [None] and stored["carrier"].type == pa.string()
    stored, keyed = protect(BY_TABLE["direct_messages"], {"sender": pa.array(["user_1"])})
    assert stored["sender"].to_pylist() == [pseudonym("user_1")] and set(stored) == {"sender"}


# --- a generated export, end to end without a database ---------------------------------------------------


def test_a_generated_export_read_pseudonymised_names_no_third_party_and_keeps_the_owner(tmp_path):
    history = UserHistory(USER, seed=21)
    archive = history.export(tmp_path, at=AT, family="C")
    opened = open_archive(archive.path)
    protect = settings(pseudonymize=True).protector(opened.owner_username)
    assert opened.owner_username == USER
    got = {}
    for table in ("followers", "direct_messages"):
        entity = BY_TABLE[table]
        got[table] = [r for t in section_tables(entity, opened.sections_for(table), USER, opened.sha256,
                                                protect=protect) for r in t.to_pylist()]
    shown = {f.username for f in history.followers if f.ts <= AT.timestamp() and (f.until is None or f.until > AT.timestamp())}
    names = {r["username"] for r in got["followers"]}
    assert names == {None if n == "N/A" else pseudonym(n) for n in shown}
    senders = {r["sender"] for r in got["direct_messages"]}
    messages = [m for m in history.direct_messages if m.ts <= AT.timestamp()]
    assert senders == {USER if m.sender == USER else pseudonym(m.sender) for m in messages}
    conversations = {r["conversation"] for r in got["direct_messages"]}
    assert conversations == {pseudonym(m.thread, "g_" if m.thread.lower().startswith("group") else "u_")
                             for m in messages}
    assert USER in senders and not any(r["sender"].startswith("user_0") for r in got["direct_messages"])


def test_a_big_list_is_pseudonymised_like_a_small_one(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "JSON_INLINE_BYTES", 0)  # every multi-line list is read a block at a time
    monkeypatch.setattr(jsonstream, "_BLOCK_BYTES", 1 << 10)
    videos = [{"Date": f"2025-01-01 00:00:{i:02d}", "Link": f"https://www.tiktok.com/@user_{i % 3}/video/{7000 + i}"}
              for i in range(40)]
    path = tmp_path / "user_data_tiktok.json"
    path.write_text(json.dumps({"Profile": {"Profile Info": {"ProfileMap": {"userName": USER}}},
                                "Your Activity": {"Watch History": {"VideoList": videos}}}, indent=2))
    opened = open_archive(path)
    (section,) = opened.sections_for("watch_history")
    assert isinstance(section.items, LazyList)
    protect = settings(pseudonymize=True).protector(USER)
    got = [r for t in section_tables(BY_TABLE["watch_history"], [section], USER, opened.sha256, protect=protect)
           for r in t.to_pylist()]
    assert [r["link"] for r in got] == [f"https://www.tiktok.com/@{pseudonym(f'user_{i % 3}')}/video/{7000 + i}"
                                        for i in range(40)]
