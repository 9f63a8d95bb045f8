"""Tests of the synthetic archive generator.

The archives are read back here with ``json`` and a tiny TXT reader written from
docs/export-formats.md, not with the project's reader, so that the generator's contract
(layout per family, expected counts) is checked independently of it.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import json
import re
import sys
import time
import zipfile
from array import array
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tiktok_portability_source.fake.generator import (
    FAMILIES,
    TABLES,
    TXT_GENERATIONS,
    GeneratedArchive,
    Sizes,
    UserHistory,
    generate_archive,
)

UTC = timezone.utc
AT = datetime(2025, 12, 1, tzinfo=UTC)

# --- an independent reading of the reference (docs/export-formats.md) ------------------------

TOP_KEYS = {
    "F": {"Activity", "Ads and data", "App Settings", "Comment", "Direct Messages", "Profile", "Video"},
    "A": {"Activity", "Ads and data", "App Settings", "Comment", "Direct Messages", "Income Plus Wallet Transactions",
          "Poi Review", "Profile", "Tiktok Live", "Tiktok Shopping", "Video"},
    "A-activity": {"Activity"},
    "B": {"Ads and data", "App Settings", "Comment", "Direct Message", "Income Plus Wallet Transactions",
          "Location Review", "Post", "Profile", "TikTok Shop", "Tiktok Live", "Your Activity"},
    "C": {"Comment", "Direct Message", "Income+ Wallet", "Likes and Favorites", "Location Review", "Post",
          "Profile And Settings", "TikTok Live", "TikTok Shop", "Your Activity"},
    "D": {"Comment", "Direct Message", "Income+ Wallet", "Likes and Favorites", "Location Review", "Post",
          "Profile And Settings", "TikTok Live", "TikTok Shop", "Your Activity"},
    "E": {"Profile", "Video"},
}

_A = {
    "watch_history": ("Activity", "Video Browsing History", "VideoList"),
    "likes": ("Activity", "Like List", "ItemFavoriteList"),
    "favorite_videos": ("Activity", "Favorite Videos", "FavoriteVideoList"),
    "favorite_sounds": ("Activity", "Favorite Sounds", "FavoriteSoundList"),
    "favorite_effects": ("Activity", "Favorite Effects", "FavoriteEffectsList"),
    "favorite_hashtags": ("Activity", "Favorite Hashtags", "FavoriteHashtagList"),
    "followers": ("Activity", "Follower List", "FansList"),
    "following": ("Activity", "Following List", "Following"),
    "searches": ("Activity", "Search History", "SearchList"),
    "shares": ("Activity", "Share History", "ShareHistoryList"),
    "logins": ("Activity", "Login History", "LoginHistoryList"),
    "purchases": ("Activity", "Purchase History"),
    "off_tiktok_activity": ("Ads and data", "Off TikTok Activity", "OffTikTokActivityDataList"),
    "comments": ("Comment", "Comments", "CommentsList"),
    "direct_messages": ("Direct Messages", "Chat History", "ChatHistory"),
    "posts": ("Video", "Videos", "VideoList"),
    "profile": ("Profile", "Profile Information", "ProfileMap"),
    "blocked_accounts": ("App Settings", "Block", "BlockList"),
}
_B = {
    **{k: ("Your Activity",) + v[1:] for k, v in _A.items() if v[0] == "Activity"},
    "watch_history": ("Your Activity", "Watch History", "VideoList"),
    "favorite_collections": ("Your Activity", "Favorite Collection", "FavoriteCollectionList"),
    "followers": ("Your Activity", "Follower", "FansList"),
    "following": ("Your Activity", "Following", "Following"),
    "searches": ("Your Activity", "Searches", "SearchList"),
    "purchases": ("Your Activity", "Purchases"),
    "off_tiktok_activity": ("Ads and data", "Off TikTok Activity", "OffTikTokActivityDataList"),
    "comments": ("Comment", "Comments", "CommentsList"),
    "direct_messages": ("Direct Message", "Direct Messages", "ChatHistory"),
    "posts": ("Post", "Posts", "VideoList"),
    "profile": ("Profile", "Profile Info", "ProfileMap"),
    "blocked_accounts": ("App Settings", "Block List", "BlockList"),
}
_C = {
    **_B,
    **{k: ("Likes and Favorites",) + _B[k][1:] for k in
       ("likes", "favorite_videos", "favorite_sounds", "favorite_effects", "favorite_hashtags")},
    "followers": ("Profile And Settings", "Follower", "FansList"),
    "following": ("Profile And Settings", "Following", "Following"),
    "profile": ("Profile And Settings", "Profile Info", "ProfileMap"),
    "blocked_accounts": ("Profile And Settings", "Block List", "BlockList"),
    "off_tiktok_activity": ("Your Activity", "Off TikTok Activity", "OffTikTokActivityDataList"),
}
# sections beyond the event lists; live_history names only its top section (Go Live History and
# Watch Live History are read from it), shop tables their top section and sub-section
_RECORDS_A = {
    "devices": ("Activity", "Status", "Status List"),
    "hashtags": ("Activity", "Hashtag", "HashtagList"),
    "ad_interests": ("Ads and data", "Ad Interests", "AdInterestCategories"),
    "settings": ("App Settings", "Settings", "SettingsMap"),
}
_SHOP = {"shop_product_browsing": ("Product Browsing History", "ProductBrowsingHistories"),
         "shop_orders": ("Order History", "OrderHistories"), "shop_vouchers": ("Vouchers", "Vouchers")}
_A.update({**_RECORDS_A, "live_history": ("Tiktok Live",),
           **{t: ("Tiktok Shopping", *v) for t, v in _SHOP.items()}})
_B.update({
    **{t: ("Your Activity", *v[1:]) if v[0] == "Activity" else v for t, v in _RECORDS_A.items()},
    "live_history": ("Tiktok Live",),
    "locations": ("Your Activity", "Most Recent Location Data", "LocationData"),
    **{t: ("TikTok Shop", *v) for t, v in _SHOP.items()},
})
_C.update({
    **{t: v for t, v in _B.items() if t in ("devices", "hashtags", "locations", *_SHOP)},
    "ad_interests": ("Your Activity", "Ad Interests", "AdInterestCategories"),
    "settings": ("Profile And Settings", "Settings", "SettingsMap"),
    "live_history": ("TikTok Live",),
    "activity_summary": ("Your Activity", "Activity Summary", "ActivitySummaryMap"),
})
PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    "F": {**{k: v for k, v in _A.items() if k != "live_history" and k not in _SHOP},
          "off_tiktok_activity": ("Ads and data", "Usage Data From Third-Party Apps And Websites", "UsageDataList")},
    "A": _A,
    "A-activity": {
        **{k: v for k, v in _A.items() if v[0] == "Activity"},
        "comments": ("Activity", "Comments", "CommentsList"),
    },
    "B": _B,
    "C": _C,
    "D": {**_C, "favorite_collections": ("Likes and Favorites", "Favorite Collection", "FavoriteCollectionList")},
    "E": {
        "followers": ("Profile", "Follower List", "FansList"),
        "following": ("Profile", "Following List", "Following"),
        "profile": ("Profile", "Profile Information", "ProfileMap"),
        "posts": ("Video", "Videos", "VideoList"),
    },
}

VIDEO_ID = re.compile(r"/video/(\d+)")


def _get(d: dict[str, Any], key: str) -> Any:
    """Case-insensitive item access, as a reader must do."""
    for k, v in d.items():
        if k.lower() == key.lower():
            return v
    raise KeyError(key)


def _date(value: str) -> str:
    return value.removesuffix(" UTC")


def _json_rows(doc: dict[str, Any], family: str, table: str) -> list[Any]:
    """The raw items of one table, [] when empty in any encoding."""
    path = PATHS[family].get(table)
    if path is None:
        return []
    node: Any = doc
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return []
        node = node[key]
    if table == "purchases":
        out = []
        for kind, key in (("send", "SendGifts"), ("buy", "BuyGifts")):
            items = (node.get(key) or {}).get(key) or []
            out += [(kind, item) for item in items]
        return out
    if table == "direct_messages":
        return [(thread, m) for thread, msgs in (node or {}).items() for m in msgs]
    if table == "live_history":  # Go Live items, watched rooms and their comments (not the "-1" placeholder)
        rows: list[Any] = [("went_live", g) for g in (node.get("Go Live History") or {}).get("GoLiveList") or []]
        for room, r in ((node.get("Watch Live History") or {}).get("WatchLiveMap") or {}).items():
            if r["WatchTime"]:
                rows.append(("watched", room, r))
                rows += [("commented", room, c) for c in r["Comments"] or []]
        return rows
    if table in ("profile", "activity_summary", "locations"):  # one map, one object
        return [node] if node else []
    if table == "ad_interests":  # one string: "Food & Drink|Travel"
        return [c for c in (node or "").split("|") if c]
    if table == "settings":
        return list(node or {})
    if table == "shop_orders":  # order id -> order
        return list((node or {}).items())
    return list(node or [])


def _json_key(table: str, item: Any) -> Any:
    """The natural key of one raw item (brief: 'Natural keys')."""
    if table in ("watch_history", "likes", "favorite_videos"):
        link = _get(item, "VideoLink") if "VideoLink" in item else _get(item, "Link")
        return (_get(item, "Date"), VIDEO_ID.search(link).group(1))
    if table in ("favorite_sounds", "favorite_hashtags"):
        return (_get(item, "Date"), _get(item, "Link"))
    if table == "favorite_effects":
        return (_get(item, "Date"), _get(item, "EffectLink"))
    if table == "favorite_collections":
        return (_get(item, "Date"), _get(item, "FavoriteCollection"))
    if table == "searches":
        return (_get(item, "Date"), _get(item, "SearchTerm"))
    if table == "shares":
        return tuple(_get(item, k) for k in ("Date", "Link", "Method", "SharedContent"))
    if table == "logins":
        return tuple(_get(item, k) for k in ("Date", "IP", "DeviceModel"))
    if table == "comments":
        return (_date(_get(item, "Date")), _get(item, "Comment"))
    if table == "direct_messages":
        thread, m = item
        return (_thread_name(thread), m["Date"], m["From"], m["Content"])
    if table in ("followers", "following", "blocked_accounts"):
        return _account_key(_get(item, "UserName"), _get(item, "Date"))
    if table == "off_tiktok_activity":
        return tuple(_get(item, k) for k in ("TimeStamp", "Source", "Event"))
    if table == "purchases":
        kind, p = item
        return (p["Date"], kind, p["Price"])
    if table == "posts":
        return (_get(item, "Date"), item.get("Sound"), item.get("Title"))
    if table == "profile":
        return "profile"
    if table == "devices":
        return _device_key(item.items())
    if table == "hashtags":
        return (item["HashtagName"], item["HashtagLink"])
    if table == "ad_interests":
        return item
    if table == "live_history":
        if item[0] == "went_live":
            return ("went_live", item[1]["LiveStartTime"], item[1]["RoomId"], None)
        if item[0] == "watched":
            return ("watched", item[2]["WatchTime"], item[1], None)
        return ("commented", item[2]["CommentTime"], item[1], item[2]["CommentContent"])
    if table == "activity_summary":
        return "activity_summary"
    if table == "settings":
        return _norm(item)
    if table == "locations":
        return (item["Date"], item["GpsData"], item["LastRegion"])
    if table == "shop_product_browsing":
        return (item["browsing_date"], item["shop_name"], item["product_name"])
    if table == "shop_orders":
        return item[0]
    if table == "shop_vouchers":
        return (item["ReceivedDate"], item["VoucherId"], item["VoucherName"])
    raise AssertionError(table)


def _norm(key: str) -> str:
    """Keys compared without case, spaces or punctuation."""
    return re.sub(r"[^0-9a-z]+", "", key.lower())


DEVICE_FIELDS = ("resolution", "appversion", "idfa", "gaid", "androidid", "idfv", "webid", "uid", "did")


def _device_key(pairs: Any) -> tuple[str | None, ...]:
    """Every field of a Status record (JSON key or TXT label), "" as NULL, ints as text."""
    found = {("resolution" if _norm(k) == "screenresolution" else _norm(k)): v for k, v in pairs}
    assert set(found) <= set(DEVICE_FIELDS), found
    return tuple(None if found.get(f) in (None, "", "N/A") else str(found[f]) for f in DEVICE_FIELDS)


def _account_key(username: str, date: str) -> Any:
    """A deleted account ("N/A") is a row of its own, told apart by its date."""
    return ("N/A", _date(date)) if username == "N/A" else username


def _thread_name(thread: str) -> str:
    """``Chat History with NAME:`` (JSON key, TXT-1/2022 header) or ``…NAME::`` -> NAME."""
    return thread.removeprefix(">>> ").removeprefix("Chat History with ").rstrip(":")


def _distinct(table: str, keys: list[Any]) -> set[Any]:
    return set(keys)


def _usernames(keys: set[Any]) -> set[str]:
    """The real accounts of a snapshot table's keys (deleted ones are keyed by their date)."""
    return {k for k in keys if isinstance(k, str)}


def read_json(archive: GeneratedArchive) -> dict[str, Any]:
    p = archive.path
    if p.suffix == ".zip":
        with zipfile.ZipFile(p) as zf:
            names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] in ("user_data_tiktok.json", "user_data.json")]
            assert len(names) == 1, zf.namelist()
            return json.loads(zf.read(names[0]))
    if p.is_dir():
        found = [f for f in p.rglob("*.json")]
        assert len(found) == 1
        return json.loads(found[0].read_bytes())
    return json.loads(p.read_bytes())


def json_keys(archive: GeneratedArchive, doc: dict[str, Any] | None = None) -> dict[str, list[Any]]:
    doc = doc if doc is not None else read_json(archive)
    return _per_export(archive, {t: [_json_key(t, i) for i in _json_rows(doc, archive.family, t)] for t in TABLES})


def _per_export(archive: GeneratedArchive, keys: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Settings and the activity summary are rows of one export: keyed by its time as well."""
    for table in ("settings", "activity_summary"):
        keys[table] = [(archive.exported_at, k) for k in keys[table]]
    return keys


# --- an independent TXT reader -----------------------------------------------------------

TXT_NAMES = {
    "1": {"Video Browsing History.txt": "watch_history", "Like List.txt": "likes", "Favorite Videos.txt": "favorite_videos",
          "Favorite Sounds.txt": "favorite_sounds", "Favorite Effects.txt": "favorite_effects",
          "Favorite HashTags.txt": "favorite_hashtags", "Follower List.txt": "followers",
          "Following List.txt": "following", "Search History.txt": "searches", "Share History.txt": "shares",
          "Login History.txt": "logins", "Purchase History.txt": "purchases", "Off TikTok Activity.txt": "off_tiktok_activity",
          "Block List.txt": "blocked_accounts", "Comments.txt": "comments", "Direct Messages.txt": "direct_messages",
          "Profile Info.txt": "profile", "Videos.txt": "posts"},
    "2": {"Browsing History.txt": "watch_history", "Like List.txt": "likes", "Favorite Videos.txt": "favorite_videos",
          "Favorite Sounds.txt": "favorite_sounds", "Favorite Effects.txt": "favorite_effects",
          "Favorite HashTags.txt": "favorite_hashtags", "Favorite Collections.txt": "favorite_collections",
          "Follower.txt": "followers", "Following.txt": "following", "Searches.txt": "searches",
          "Share History.txt": "shares", "Login History.txt": "logins", "Purchases.txt": "purchases",
          "Off TikTok Activity.txt": "off_tiktok_activity", "Block List.txt": "blocked_accounts",
          "Comments.txt": "comments", "Direct Messages.txt": "direct_messages", "Profile Info.txt": "profile",
          "Posts.txt": "posts"},
}
TXT_NAMES["2022"] = {
    "Video Browsing.txt": "watch_history", "Likes.txt": "likes", "Favorite Videos.txt": "favorite_videos",
    "Favorite Sounds.txt": "favorite_sounds", "Favorite Effects.txt": "favorite_effects",
    "Favorite HashTags.txt": "favorite_hashtags", "Follower.txt": "followers", "Following.txt": "following",
    "Searches.txt": "searches", "Sharing.txt": "shares", "Login History.txt": "logins", "Purchases.txt": "purchases",
    "Block List.txt": "blocked_accounts", "Comments.txt": "comments", "Direct Messages.txt": "direct_messages",
    "Profile Info.txt": "profile", "Videos.txt": "posts",
}
_TXT_RECORDS = {"Status.txt": "devices", "Hashtag.txt": "hashtags", "Ad Interests.txt": "ad_interests",
                "Settings.txt": "settings"}
for _gen in ("1", "2", "2022"):
    TXT_NAMES[_gen].update(_TXT_RECORDS)
TXT_NAMES["2022"]["Usage_Data_from_Third-party Apps and Websites.txt"] = "off_tiktok_activity"
TXT_NAMES["2025"] = {("Watch History.txt" if t == "watch_history" else n): t for n, t in TXT_NAMES["2"].items()}
TXT_NAMES["2025"].update({"Activity Summary.txt": "activity_summary", "Most Recent Location Data.txt": "locations"})
TXT_NAMES["nl"] = {
    {"Watch History.txt": "Kijkgeschiedenis.txt", "Like List.txt": "Likelijst.txt", "Follower.txt": "Volger.txt",
     "Following.txt": "Volgend.txt", "Searches.txt": "Zoekopdrachten.txt",
     "Direct Messages.txt": "Directe berichten.txt"}.get(n, n): t
    for n, t in TXT_NAMES["2025"].items()
}
SENTINELS = ("You have no data in this section", "Dit gedeelte bevat geen gegevens")
# every label the TXT files of modelled sections use; a line whose text before the
# first ": " is none of these continues the previous value (photo URLs, multi-line comments)
TXT_LABELS = frozenset({
    "Date", "Link", "Video Link", "Sound Link", "HashTag Link", "Effect Link", "Favorite Collection", "Search Term",
    "Shared Content", "Method", "IP", "Device Model", "Device System", "Network Type", "Carrier", "Comment", "Photo",
    "Url", "Username", "Source", "Event", "Price", "Like(s)", "Who can view", "Allow comments", "Allow stitches",
    "Allow duets", "Allow stickers", "Allow sharing to story", "Content disclosure", "AI generated content", "Sound",
    "Location", "Title", "Adds yours text", "Alternate text", "Cover image", "Profile Photo", "Profile Video",
    "Telephone Number", "Email Address", "Bio Description", "Birthdate", "Like(s) Received", "Value",
    "Screen Resolution", "App Version", "IDFA", "GAID", "Web ID", "Hashtag Name", "Hashtag Link",
    "Ad Interest Categories", "GPS Data", "Last Region",
})
ACTIVITY_SUMMARY_NOTE = "(Note: Activity may take several days to appear.)"
ACTIVITY_SUMMARY_LABELS = ("Videos commented on since account registration",
                           "Videos shared since account registration",
                           "Videos watched to the end since account registration")
DM_OLD = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] (\S+): (.*)$")  # TXT-1, TXT-2022
DM_NEW = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC (\S+): (.*)$")  # 2023 on


def read_txt_tree(archive: GeneratedArchive) -> dict[str, str]:
    """Relative path -> text of every file of a TXT archive (zip or folder)."""
    if archive.path.suffix == ".zip":
        with zipfile.ZipFile(archive.path) as zf:
            return {n: zf.read(n).decode("utf-8") for n in zf.namelist()}
    return {str(f.relative_to(archive.path)): f.read_text("utf-8") for f in archive.path.rglob("*") if f.is_file()}


def _txt_blocks(text: str) -> list[tuple[str | None, dict[str, str]]]:
    """(current header, {label: value}) per record; first-': ' split, '::', sentinels, and
    unlabelled continuation lines appended to the previous value with a newline."""
    out, header = [], None
    for block in text.split("\n\n"):
        rec: dict[str, str] = {}
        last = None
        for line in block.split("\n"):
            if not line or line in SENTINELS:
                continue
            label, sep, value = line.partition(": ")
            if sep and label.rstrip(":") in TXT_LABELS:
                last = label.rstrip(":")
                rec[last] = value
            elif not rec and ": " not in line and line.endswith(":"):
                header = line[:-1]
            else:
                assert last is not None, line
                rec[last] += "\n" + line
        if rec:
            out.append((header, rec))
    return out


def _txt_messages(text: str) -> list[tuple[str, str, str, str]]:
    """(thread name, date, sender, content) of a TXT DM file in either grammar; a line that is
    no header and no message continues the previous message."""
    out: list[list[str]] = []
    thread = None
    for line in text.split("\n"):
        if not line or line in SENTINELS:
            continue
        if line.startswith(">>> Chat History with "):
            thread = _thread_name(line)
            continue
        m = DM_OLD.match(line) or DM_NEW.match(line)
        if m:
            assert thread is not None
            out.append([thread, m.group(1), m.group(2), m.group(3)])
        else:
            out[-1][3] += "\n" + line
    return [tuple(m) for m in out]  # type: ignore[misc]


def txt_keys(archive: GeneratedArchive) -> dict[str, list[Any]]:
    names = TXT_NAMES[archive.txt_generation]
    keys: dict[str, list[Any]] = {t: [] for t in TABLES}
    for rel, text in read_txt_tree(archive).items():
        table = names.get(rel.rsplit("/", 1)[-1])
        if table is None:
            continue
        if table == "direct_messages":
            keys[table] += _txt_messages(text)
            continue
        if text.strip() in SENTINELS:
            continue
        if table == "settings":  # one "Label: value" line per setting, any label
            keys[table] += [_norm(line.partition(": ")[0]) for line in text.splitlines() if line]
            continue
        if table == "activity_summary":  # a note line, then one counter per line
            assert _activity_summary_txt(text)
            keys[table].append("activity_summary")
            continue
        for header, r in _txt_blocks(text):
            d = _date(r.get("Date", ""))
            link = r.get("Link") or r.get("Video Link") or r.get("Sound Link") or r.get("HashTag Link") or r.get("Effect Link")
            k: Any
            if table in ("watch_history", "likes", "favorite_videos"):
                k = (d, VIDEO_ID.search(link).group(1))
            elif table in ("favorite_sounds", "favorite_effects", "favorite_hashtags"):
                k = (d, link)
            elif table == "favorite_collections":
                k = (d, r["Favorite Collection"])
            elif table == "searches":
                k = (d, r["Search Term"])
            elif table == "shares":
                k = (d, r["Link"], r["Method"], r["Shared Content"])
            elif table == "logins":
                k = (d, r["IP"], r["Device Model"])
            elif table == "comments":
                k = (d, r["Comment"])
            elif table in ("followers", "following", "blocked_accounts"):
                k = _account_key(r["Username"], d)
            elif table == "off_tiktok_activity":
                k = (d, r["Source"], r["Event"])
            elif table == "purchases":
                k = (d, "send" if header == "Send Gifts History" else "buy", r["Price"])
            elif table == "posts":
                k = (d, r.get("Sound"), r.get("Title"))
            elif table == "devices":
                k = _device_key(r.items())
            elif table == "hashtags":
                k = (r["Hashtag Name"], r["Hashtag Link"])
            elif table == "ad_interests":
                keys[table] += [c for c in r["Ad Interest Categories"].split("|") if c]
                continue
            elif table == "locations":
                k = (d, r["GPS Data"], r["Last Region"])
            else:
                k = "profile"
            keys[table].append(k)
    return _per_export(archive, keys)


def _activity_summary_txt(text: str) -> dict[str, int]:
    """The counters of ``Activity Summary.txt``; its first line is TikTok's note in brackets."""
    first, *lines = text.rstrip("\n").split("\n")
    assert first == ACTIVITY_SUMMARY_NOTE, first
    counters = dict(line.split(": ") for line in lines)
    assert tuple(counters) == ACTIVITY_SUMMARY_LABELS
    return {label: int(value) for label, value in counters.items()}


def assert_counts(archive: GeneratedArchive, keys: dict[str, list[Any]]) -> None:
    got = {t: len(_distinct(t, keys[t])) for t in TABLES}
    got["autofill"] = 0  # written, but loaded only on the user's opt-in
    assert got == archive.expected


# --- tests ----------------------------------------------------------------------------------------


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    for kwargs in ({"family": "B"}, {"family": "A"}, {"family": "D"}, {"data_format": "txt", "txt_generation": "1"},
                   {"data_format": "txt", "txt_generation": "2022"}, {"data_format": "txt", "txt_generation": "2025"}):
        a = generate_archive(tmp_path / "one", seed=3, **kwargs)
        b = generate_archive(tmp_path / "two", seed=3, **kwargs)
        c = generate_archive(tmp_path / "three", seed=4, **kwargs)
        assert a.path.name == b.path.name
        assert a.path.read_bytes() == b.path.read_bytes()
        assert a.path.read_bytes() != c.path.read_bytes()
        assert a.expected == b.expected


def test_folder_container_is_deterministic(tmp_path: Path) -> None:
    a = generate_archive(tmp_path / "one", data_format="txt", container="folder")
    b = generate_archive(tmp_path / "two", data_format="txt", container="folder")
    ta, tb = read_txt_tree(a), read_txt_tree(b)
    assert len(ta) > 15
    assert ta == tb


def test_sizes_scaled() -> None:
    s = Sizes.scaled(10)
    assert s.watch_history == 600 and s.likes == 400 and s.blocked_accounts == 20
    tiny = Sizes.scaled(0.01)
    assert all(v == 1 for v in vars(tiny).values())
    assert all(v == 0 for v in vars(Sizes.scaled(0)).values())


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("container", ["zip", "bare", "folder"])
def test_every_family_and_container_is_readable_with_its_signature(tmp_path: Path, family: str, container: str) -> None:
    json_name = "user_data.json" if container == "folder" else "user_data_tiktok.json"
    a = generate_archive(tmp_path, family=family, container=container, json_name=json_name)
    assert a.family == family and a.data_format == "json" and a.exported_at == AT
    if container == "zip":
        assert a.path.suffix == ".zip"
        with zipfile.ZipFile(a.path) as zf:
            assert zf.namelist() == [f"TikTok_Data_{int(AT.timestamp())}/{json_name}"]
    elif container == "bare":
        assert a.path.is_file() and a.path.name == json_name
    else:
        assert a.path.is_dir()
        assert (a.path / f"TikTok_Data_{int(AT.timestamp())}" / json_name).is_file()
    raw = (a.path.read_bytes() if a.path.is_file() and container == "bare" else None)
    doc = read_json(a)
    assert set(doc) == TOP_KEYS[family]
    if raw is not None:
        assert raw.startswith(b'{\n  "') and "\\u" not in raw.decode()  # 2-space indent, raw UTF-8
    assert_counts(a, json_keys(a, doc))
    assert sum(a.expected.values()) > 40


def test_family_specific_keys(tmp_path: Path) -> None:
    docs = {f: read_json(generate_archive(tmp_path, family=f)) for f in FAMILIES}
    # F: watch items {Date, VideoLink}
    assert set(docs["F"]["Activity"]["Video Browsing History"]["VideoList"][0]) == {"Date", "VideoLink"}
    # A: classic signature
    a = docs["A"]
    assert {"Video Browsing History", "Follower List", "Following List", "Search History", "Purchase History"} <= set(a["Activity"])
    assert "Income Plus Wallet Transaction" in a["Income Plus Wallet Transactions"]
    assert "Block" in a["App Settings"] and "Chat History" in a["Direct Messages"]
    assert set(a["Activity"]["Like List"]["ItemFavoriteList"][0]) == {"Date", "Link"}
    assert set(a["Comment"]["Comments"]["CommentsList"][0]) == {"Date", "Comment"}
    # A-activity: Comments and POI Review inside Activity
    assert {"Comments", "POI Review", "Video Browsing History"} <= set(docs["A-activity"]["Activity"])
    # B
    b = docs["B"]
    assert {"Watch History", "Follower", "Following", "Searches", "Purchases"} <= set(b["Your Activity"])
    assert set(b["Your Activity"]["Like List"]["ItemFavoriteList"][0]) == {"date", "link"}
    assert b["Your Activity"]["Like List"]["IsFastLane"] is False
    assert b["Your Activity"]["Watch History"]["App"] == 1
    assert set(b["Comment"]["Comments"]["CommentsList"][0]) == {"date", "comment", "photo", "url"}
    assert "Transaction History" in b["Income Plus Wallet Transactions"]
    # C / D
    for f in ("C", "D"):
        d = docs[f]
        assert {"Profile Info", "Follower", "Following", "Block List", "Settings"} <= set(d["Profile And Settings"])
        assert set(d["Likes and Favorites"]["Like List"]["ItemFavoriteList"][0]) == {"date", "link"}
        assert isinstance(d["Profile And Settings"]["Profile Info"]["ProfileMap"]["followerCount"], int)
    assert "Favorite Collection" in docs["D"]["Likes and Favorites"]
    assert "Favorite Collection" not in docs["C"]["Likes and Favorites"]
    d_comment = docs["D"]["Comment"]["Comments"]["CommentsList"][0]
    assert d_comment["date"].endswith(" UTC")
    assert {"video", "sticker", "originalPostUrl", "original post link"} <= set(d_comment)
    # E
    e = docs["E"]
    assert set(e["Profile"]) == {"Auto Fill", "Follower List", "Following List", "Profile Information", "Synthetic Future Section"}
    assert set(e["Video"]) == {"RecentlyDeletedPosts", "Videos"}


@pytest.mark.parametrize("gen", TXT_GENERATIONS)
@pytest.mark.parametrize("container", ["zip", "folder"])
def test_txt_generations(tmp_path: Path, gen: str, container: str) -> None:
    a = generate_archive(tmp_path, data_format="txt", txt_generation=gen, container=container,
                         empty_tables={"favorite_effects"})
    assert a.data_format == "txt" and a.family == f"TXT-{gen}" and a.txt_generation == gen
    files = read_txt_tree(a)
    base = {rel.rsplit("/", 1)[-1]: text for rel, text in files.items()}
    if gen == "2022":  # member names from the root, no epoch folder
        assert all(rel.startswith("/" if container == "zip" else ("Activity/", "Ads and data/", "App Settings/",
                                                                   "Comments/", "Direct Messages/", "Profile/",
                                                                   "Videos/")) for rel in files)
        assert not any("TikTok_Data_" in rel for rel in files)
    else:
        assert all(rel.startswith(f"TikTok_Data_{int(AT.timestamp())}/") for rel in files)
    assert set(TXT_NAMES[gen]) <= set(base)
    assert {"Status.txt", "Settings.txt", "Hashtag.txt", "Ad Interests.txt",
            "Synthetic Future Section.txt"} <= set(base)
    assert ("Activity Summary.txt" in base) == ("Most Recent Location Data.txt" in base) == (gen in ("2025", "nl"))
    assert not any("Live" in name or "Shop" in name for name in base)  # no LIVE or Shop files in TXT
    if gen == "2022":
        assert a.unmodelled_sections == ["Ads_Based_On_Data_Received_from_Partners.txt"]
        assert "Off TikTok Activity.txt" not in base and "Favorite Collections.txt" not in base
    else:
        assert a.unmodelled_sections == []
    for name in a.unmodelled_sections:
        assert base[name].strip() and base[name] not in (s + "\n" for s in SENTINELS)
    sentinel = "Dit gedeelte bevat geen gegevens" if gen == "nl" else "You have no data in this section"
    assert base["Favorite Effects.txt"] == sentinel + "\n"
    watch = {"1": "Video Browsing History.txt", "2022": "Video Browsing.txt", "2": "Browsing History.txt",
             "2025": "Watch History.txt", "nl": "Kijkgeschiedenis.txt"}[gen]
    first = base[watch].split("\n\n")[0].split("\n")
    if gen in ("1", "2022"):
        assert first[0].startswith("Date: ") and first[1].startswith("Video Link: https://")
        assert "HashTag Link: " in base["Favorite HashTags.txt"]
        assert ">>> Chat History with " in base["Direct Messages.txt"]
    else:
        assert first[1].startswith("Link: https://")
        assert "HashTag Link:: " in base["Favorite HashTags.txt"]
        assert "Like(s): " in base["Posts.txt"] and "Title: N/A" in base["Posts.txt"]
        assert "Photo: N/A\nUrl: \n" in base["Comments.txt"]  # empty value keeps its trailing space
    assert first[0].endswith(" UTC") == (gen in ("2025", "nl"))
    assert base["Login History.txt"].startswith("Date: ")
    assert (" UTC\n" in base["Login History.txt"]) == (gen not in ("1", "2022"))
    purchases = base["Purchase History.txt" if gen == "1" else "Purchases.txt"]
    assert purchases.startswith("Send Gifts History:\n") and "\nBuy Gifts History:\n" in purchases
    profile = base["Profile Info.txt"]
    assert "Username: user_a\n" in profile and "Telephone Number: None\n" in profile
    searches = base["Zoekopdrachten.txt" if gen == "nl" else ("Search History.txt" if gen == "1" else "Searches.txt")]
    assert searches.startswith("Date: ") and "\nSearch Term: " in searches
    assert_counts(a, txt_keys(a))
    assert a.expected["favorite_effects"] == 0 and a.expected["watch_history"] > 10


def test_txt_dms_are_threaded_with_group_chat_and_owner(tmp_path: Path) -> None:
    a = generate_archive(tmp_path, data_format="txt", txt_generation="1")
    text = next(t for r, t in read_txt_tree(a).items() if r.endswith("Direct Messages.txt"))
    assert ">>> Chat History with Group_Chat_7000000000000000006:\n" in text
    assert re.search(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] user_a: ", text, re.M)
    assert re.search(r"^\[[^]]+\] user_\d{4}: https://www\.tiktokv\.com/share/video/7\d{18}/$|"
                     r"^\[[^]]+\] user_a: https://www\.tiktokv\.com/share/video/7\d{18}/$", text, re.M)


def test_txt_no_data_and_absent_styles(tmp_path: Path) -> None:
    a = generate_archive(tmp_path, data_format="txt", empty_style="no-data", empty_tables={"likes", "searches"})
    names = [r.rsplit("/", 1)[-1] for r in read_txt_tree(a)]
    assert "Like List.txt" not in names and "Searches.txt" not in names
    assert names.count("no-data.txt") == 2  # one per folder that lost a file
    b = generate_archive(tmp_path, data_format="txt", empty_style="absent", empty_tables={"likes"})
    names = [r.rsplit("/", 1)[-1] for r in read_txt_tree(b)]
    assert "Like List.txt" not in names and "no-data.txt" not in names
    assert a.expected["likes"] == b.expected["likes"] == a.expected["searches"] == 0


def test_watch_history_only_covers_180_days(tmp_path: Path) -> None:
    h = UserHistory(sizes=Sizes(watch_history=3000))
    a = h.export(tmp_path, at=AT)
    items = read_json(a)["Your Activity"]["Watch History"]["VideoList"]
    dates = [datetime.strptime(i["Date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) for i in items]
    assert min(dates) > AT - timedelta(days=180)
    assert min(dates) < AT - timedelta(days=170)
    assert max(dates) <= AT
    # likes reach back over the whole span
    likes = read_json(a)["Your Activity"]["Like List"]["ItemFavoriteList"]
    assert min(i["date"] for i in likes) < "2025-02-01"
    # ~half of a year-long history lies in the window
    assert 1300 < a.expected["watch_history"] < 1700
    # later export: different window, union larger than either
    b = h.export(tmp_path, at=AT - timedelta(days=120))
    both = h.expected_counts([a, b])
    assert both["watch_history"] > max(a.expected["watch_history"], b.expected["watch_history"])
    keys_a, keys_b = json_keys(a), json_keys(b)
    assert both["watch_history"] == len(set(keys_a["watch_history"]) | set(keys_b["watch_history"]))


def test_watch_history_has_rewatches_and_all_link_forms(tmp_path: Path) -> None:
    a = generate_archive(tmp_path, sizes=Sizes(watch_history=400))
    doc = read_json(a)
    watch = doc["Your Activity"]["Watch History"]["VideoList"]
    ids = [VIDEO_ID.search(i["Link"]).group(1) for i in watch]
    distinct_rows = {(i["Date"], i["Link"]) for i in watch}
    assert len(set(ids)) < len(distinct_rows)  # same video at different times
    assert all(re.fullmatch(r"7\d{18}", v) for v in ids)
    links = [i["Link"] for i in watch]
    assert any(re.fullmatch(r"https://www\.tiktokv\.com/share/video/7\d{18}/", x) for x in links)
    assert any(re.fullmatch(r"https://www\.tiktok\.com/@user_\d{4}/video/7\d{18}", x) for x in links)
    ya = doc["Your Activity"]
    assert all(re.fullmatch(r"https://m\.tiktok\.com/h5/share/music/7\d{18}\.html", i["Link"])
               for i in ya["Favorite Sounds"]["FavoriteSoundList"])
    assert all(re.fullmatch(r"https://m\.tiktok\.com/share/stickers/detail/7\d{18}\.html", i["EffectLink"])
               for i in ya["Favorite Effects"]["FavoriteEffectsList"])
    tags = [i["Link"] for i in ya["Favorite Hashtags"]["FavoriteHashtagList"]]
    assert "" in tags and any(re.fullmatch(r"https://m\.tiktok\.com/h5/share/tag/7\d{18}\.html", t) for t in tags)


def test_duplicates_are_in_the_file_but_not_in_expected(tmp_path: Path) -> None:
    h = UserHistory(sizes=Sizes(watch_history=500))
    dup = h.export(tmp_path, at=AT, family="C")
    clean = h.export(tmp_path, at=AT, family="C", duplicates=False)
    assert dup.expected == clean.expected
    keys = json_keys(dup)
    for table in ("watch_history", "shares", "searches"):
        assert dup.duplicate_rows[table] >= 1
        assert len(keys[table]) == dup.expected[table] + dup.duplicate_rows[table]
    ckeys = json_keys(clean)
    assert clean.duplicate_rows == {}
    assert len(ckeys["watch_history"]) == clean.expected["watch_history"]
    # exact row repeats: the whole item, not just the key
    items = read_json(dup)["Your Activity"]["Share History"]["ShareHistoryList"]
    as_text = [json.dumps(i, sort_keys=True) for i in items]
    assert len(as_text) - len(set(as_text)) == dup.duplicate_rows["shares"]


def test_unknown_and_unmodelled_sections(tmp_path: Path) -> None:
    a = generate_archive(tmp_path, family="B")
    doc = read_json(a)
    assert a.unknown_sections == ["Your Activity › Synthetic Future Section"]
    assert len(doc["Your Activity"]["Synthetic Future Section"]["FutureList"]) == 3
    # sections with a table are no longer unmodelled; LIVE settings have no table
    assert a.unmodelled_sections == ["Tiktok Live › Go Live Settings"]
    for path in a.unmodelled_sections:
        top, sub = path.split(" › ")
        assert doc[top][sub]  # present, with data
    assert doc["Your Activity"]["Status"]["Status List"][0]["Resolution"]
    assert doc["App Settings"]["Settings"]["SettingsMap"]["Interests"] == "Food|Travel|Pets"
    assert {"devices", "hashtags", "ad_interests", "settings", "live_history", "locations"} <= a.tables

    a2 = generate_archive(tmp_path, family="A")
    assert a2.unknown_sections == ["Activity › Synthetic Future Section"]
    assert "Synthetic Future Section" in read_json(a2)["Activity"]

    plain = generate_archive(tmp_path, family="B", unknown_sections=False, unmodelled_sections=False)
    pdoc = read_json(plain)
    assert plain.unknown_sections == [] and plain.unmodelled_sections == []
    assert "Synthetic Future Section" not in pdoc["Your Activity"] and "Go Live Settings" not in pdoc["Tiktok Live"]
    assert pdoc["Your Activity"]["Status"] == doc["Your Activity"]["Status"]  # a table's section stays
    assert plain.expected == a.expected


@pytest.mark.parametrize("style", ["null", "list", "object", "absent", "mixed"])
def test_empty_styles(tmp_path: Path, style: str) -> None:
    a = generate_archive(tmp_path, family="B", empty_style=style,
                         empty_tables={"likes", "searches", "direct_messages", "purchases"})
    doc = read_json(a)
    ya = doc["Your Activity"]
    for table in ("likes", "searches", "direct_messages", "purchases"):
        assert a.expected[table] == 0
        assert table not in a.tables
    assert a.expected["watch_history"] > 0 and a.expected["comments"] > 0
    if style == "null":
        assert ya["Like List"] == {"IsFastLane": False, "ItemFavoriteList": None}
        assert ya["Searches"]["SearchList"] is None
        assert ya["Purchases"] == {"BuyGifts": {"BuyGifts": None}, "SendGifts": {"SendGifts": None}}
    elif style == "list":
        assert ya["Like List"]["ItemFavoriteList"] == [] and ya["Searches"]["SearchList"] == []
        assert doc["Direct Message"]["Direct Messages"] == {"ChatHistory": {}}
    elif style == "object":
        assert ya["Like List"] == {} and ya["Searches"] == {} and ya["Purchases"] == {}
    elif style == "absent":
        assert "Like List" not in ya and "Searches" not in ya and "Direct Message" not in doc
    else:
        assert ya["Like List"]["ItemFavoriteList"] is None
        assert doc["Direct Message"]["Direct Messages"] == {"ChatHistory": {}}
    assert_counts(a, json_keys(a, doc))


def test_mixed_style_for_naturally_empty_sections(tmp_path: Path) -> None:
    # an export before anything happened: every event section is empty, in the realistic encodings
    h = UserHistory()
    a = h.export(tmp_path, at=datetime(2024, 6, 1, tzinfo=UTC), family="A")
    doc = read_json(a)
    assert doc["Activity"]["Video Browsing History"]["VideoList"] is None
    assert doc["Activity"]["Follower List"] == {}
    assert doc["Ads and data"]["Off TikTok Activity"] == {}
    assert doc["Direct Messages"]["Chat History"] == {"ChatHistory": {}}
    assert doc["Profile"]["Profile Information"]["ProfileMap"]["likesReceived"] == "None"
    assert doc["Activity"]["Status"] == {"Status List": None} and doc["Tiktok Live"]["Go Live History"] == {
        "GoLiveList": None}
    # the account's settings are there from the start, like its profile
    assert {t: n for t, n in a.expected.items() if n} == {"profile": 1, "settings": len(
        doc["App Settings"]["Settings"]["SettingsMap"])}
    assert_counts(a, json_keys(a, doc))


def test_sentinels_and_value_forms(tmp_path: Path) -> None:
    a = generate_archive(tmp_path, family="B")
    doc = read_json(a)
    fans = doc["Your Activity"]["Follower"]["FansList"]
    assert [f["UserName"] for f in fans].count("N/A") == 2
    assert a.expected["followers"] == len(fans)  # a deleted account is a row (username NULL)
    prof = doc["Profile"]["Profile Info"]["ProfileMap"]
    assert prof["userName"] == "user_a" and a.username == "user_a"
    assert re.fullmatch(r"\d\d-[A-Z][a-z]{2}-\d{4}", prof["birthDate"])
    assert prof["likesReceived"].isdigit() and prof["telephoneNumber"] == "None"
    assert prof["emailAddress"].endswith("@example.com")
    posts = doc["Post"]["Posts"]["VideoList"]
    assert "N/A" in [p["Title"] for p in posts]
    assert all("x-tos-expires=" in p["Link"] and "/video/" not in p["Link"] for p in posts)
    assert any(len(p["Link"].split("\n")) > 1 for p in posts)  # photo-mode post
    assert int(prof["likesReceived"]) == sum(int(p["Likes"]) for p in posts)
    logins = doc["Your Activity"]["Login History"]["LoginHistoryList"]
    assert "" in [x["Carrier"] for x in logins]
    assert all(re.fullmatch(r"(203\.0\.113|198\.51\.100)\.\d+", x["IP"]) for x in logins)
    comment = doc["Comment"]["Comments"]["CommentsList"][0]
    assert comment["photo"] == "N/A" and comment["url"] == ""
    text = json.dumps(doc, ensure_ascii=False)
    assert any(ch in text for ch in "😂🔥🎶")


def test_direct_messages(tmp_path: Path) -> None:
    a = generate_archive(tmp_path, family="B")
    threads = read_json(a)["Direct Message"]["Direct Messages"]["ChatHistory"]
    assert "Chat History with Group_Chat_7000000000000000006:" in threads
    assert all(re.fullmatch(r"Chat History with (user_\d{4}|Group_Chat_\d+):", t) for t in threads)
    senders = {m["From"] for msgs in threads.values() for m in msgs}
    assert "user_a" in senders and len(senders) > 2
    contents = [m["Content"] for msgs in threads.values() for m in msgs]
    assert any(re.fullmatch(r"https://www\.tiktokv\.com/share/video/7\d{18}/", c) for c in contents)
    orders = set()
    for msgs in threads.values():
        if len(msgs) > 1:
            dates = [m["Date"] for m in msgs]
            orders.add("asc" if dates == sorted(dates) else "desc" if dates == sorted(dates, reverse=True) else "?")
    assert orders == {"asc", "desc"}


def test_with_profile_false(tmp_path: Path) -> None:
    a = generate_archive(tmp_path, family="B", with_profile=False)
    doc = read_json(a)
    assert "Profile Info" not in doc.get("Profile", {})
    assert a.username is None and a.expected["profile"] == 0 and "profile" not in a.tables
    assert a.expected["direct_messages"] > 0
    t = generate_archive(tmp_path, data_format="txt", with_profile=False)
    assert not any(r.endswith("Profile Info.txt") for r in read_txt_tree(t))
    assert t.username is None and t.expected["profile"] == 0


def test_unfollowed_between_and_union_counts(tmp_path: Path) -> None:
    h = UserHistory(seed=7)
    early = h.export(tmp_path, at=datetime(2025, 4, 15, tzinfo=UTC), family="A")
    late = h.export(tmp_path, at=datetime(2025, 11, 15, tzinfo=UTC), family="D")
    gone = h.unfollowed_between(early, late)
    assert gone["followers"] or gone["following"]
    ke, kl = json_keys(early), json_keys(late)
    for table in ("followers", "following"):
        assert gone[table] == _usernames(_distinct(table, ke[table])) - _usernames(_distinct(table, kl[table]))
    both = h.expected_counts([late, early])
    assert both == h.expected_counts([early, late])
    for table in TABLES:
        if table == "profile":
            continue
        keys = ke[table] + kl[table]
        if table == "posts":  # family A shows no Sound/Title: the same post, keyed by its time
            keys = [k[0] for k in keys]
        assert both[table] == len(_distinct(table, keys)), table
    assert both["profile"] == 2
    assert both["followers"] == len(_distinct("followers", ke["followers"]) | _distinct("followers", kl["followers"]))
    assert both["followers"] > late.expected["followers"]
    # loading the same export twice adds nothing
    assert h.expected_counts([late, late]) == late.expected


def test_unfollows_seen_for_many_seeds(tmp_path: Path) -> None:
    """Two exports months apart show unfollows whatever the seed (the property tests rely on)."""
    for seed in range(20):
        h = UserHistory(f"user_{seed}", seed=seed)
        a = h.export(tmp_path, at=datetime(2025, 5, 1, tzinfo=UTC), family="E")
        b = h.export(tmp_path, at=datetime(2025, 9, 1, tzinfo=UTC), family="E")
        gone = h.unfollowed_between(a, b)
        assert gone["followers"] | gone["following"], seed


def test_expected_counts_rejects_foreign_archives(tmp_path: Path) -> None:
    a = generate_archive(tmp_path, seed=1)
    with pytest.raises(ValueError):
        UserHistory(seed=2).expected_counts([a])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"family": "X"},
        {"data_format": "xml"},
        {"data_format": "txt", "container": "bare"},
        {"data_format": "txt", "txt_generation": "9"},
        {"empty_style": "weird"},
        {"empty_tables": {"nope"}},
        {"json_name": "data.json"},
        {"container": "tar"},
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        generate_archive(tmp_path, **kwargs)


def test_json_at_zip_root_without_epoch_folder(tmp_path: Path) -> None:
    a = generate_archive(tmp_path, epoch_folder=False, json_name="user_data.json")
    with zipfile.ZipFile(a.path) as zf:
        assert zf.namelist() == ["user_data.json"]
    t = generate_archive(tmp_path, data_format="txt", txt_generation="2", epoch_folder=False)
    assert all(r.startswith("Tiktok/") for r in read_txt_tree(t))


def test_small_exports_are_fast(tmp_path: Path) -> None:
    h = UserHistory()
    best = min(_timed(lambda i=i: h.export(tmp_path, at=AT - timedelta(days=i))) for i in range(5))
    assert best < 0.05


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def test_200k_watch_rows_write_quickly(tmp_path: Path) -> None:
    at = AT
    sizes = Sizes(watch_history=200_000)
    t = time.perf_counter()
    a = generate_archive(tmp_path, sizes=sizes, start=at - timedelta(days=179), end=at, at=at)
    elapsed = time.perf_counter() - t
    assert elapsed < 5
    assert a.expected["watch_history"] == 200_000
    items = read_json(a)["Your Activity"]["Watch History"]["VideoList"]
    assert len(items) == 200_000 + a.duplicate_rows["watch_history"]
    assert len({(i["Date"], VIDEO_ID.search(i["Link"]).group(1)) for i in items}) == 200_000


@pytest.mark.parametrize("family", ["F", "B", "D"])
def test_streamed_json_is_pretty_printed_like_json_dumps(tmp_path: Path, family: str) -> None:
    """Chunked writing (several chunks of watch rows) gives exactly 2-space, raw UTF-8 JSON."""
    a = generate_archive(tmp_path, family=family, sizes=Sizes(watch_history=20_000))
    with zipfile.ZipFile(a.path) as zf:
        raw = zf.read(zf.namelist()[0]).decode("utf-8")
    assert a.expected["watch_history"] > 8192  # more than one chunk
    assert raw == json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    assert "😂" in raw or "🔥" in raw



# --- quirks of real exports (docs/export-formats.md) -------------------------------------------------

OLD_GENS = ("1", "2022")  # bracketed DMs, no " UTC", posts with date/link/likes only
NAMES_2022 = {
    "Activity/Video Browsing.txt", "Activity/Likes.txt", "Activity/Favorite Videos.txt",
    "Activity/Favorite Sounds.txt", "Activity/Favorite Effects.txt", "Activity/Favorite HashTags.txt",
    "Activity/Follower.txt", "Activity/Following.txt", "Activity/Searches.txt", "Activity/Sharing.txt",
    "Activity/Login History.txt", "Activity/Purchases.txt", "Activity/Status.txt", "Activity/Hashtag.txt",
    "App Settings/Block List.txt", "App Settings/Settings.txt", "Comments/Comments.txt",
    "Direct Messages/Direct Messages.txt", "Profile/Profile Info.txt", "Videos/Videos.txt",
    "Ads and data/Ad Interests.txt", "Ads and data/Ads_Based_On_Data_Received_from_Partners.txt",
    "Ads and data/Usage_Data_from_Third-party Apps and Websites.txt",
}
POST_LABELS = {  # TXT label -> JSON key
    "Date": "Date", "Link": "Link", "Like(s)": "Likes", "Who can view": "WhoCanView",
    "Allow comments": "AllowComments", "Allow stitches": "AllowStitches", "Allow duets": "AllowDuets",
    "Allow stickers": "AllowStickers", "Allow sharing to story": "AllowSharingToStory",
    "Content disclosure": "ContentDisclosure", "AI generated content": "AIGeneratedContent", "Sound": "Sound",
    "Location": "Location", "Title": "Title", "Adds yours text": "AddYoursText", "Alternate text": "AlternateText",
    "Cover image": "CoverImage",
}
LATE_POST_KEYS = {"AlternateText", "CoverImage"}
FLAGS = {"allow_comments": "AllowComments", "allow_stitches": "AllowStitches", "allow_duets": "AllowDuets",
         "allow_stickers": "AllowStickers", "allow_sharing_to_story": "AllowSharingToStory"}


def _file(archive: GeneratedArchive, name: str) -> str:
    """The text of the one file of a TXT archive with this base name."""
    found = [t for rel, t in read_txt_tree(archive).items() if rel.rsplit("/", 1)[-1] == name]
    assert len(found) == 1, name
    return found[0]


def _posts_file(gen: str) -> str:
    return "Videos.txt" if gen in OLD_GENS else "Posts.txt"


def _fmt(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("epoch_folder", [True, False])
def test_txt_2022_names_and_leading_slash(tmp_path: Path, epoch_folder: bool) -> None:
    h = UserHistory()
    a = h.export(tmp_path, at=AT, data_format="txt", txt_generation="2022", epoch_folder=epoch_folder,
                 unknown_sections=False)
    assert a.family == "TXT-2022" and a.txt_generation == "2022"
    with zipfile.ZipFile(a.path) as zf:
        names = zf.namelist()
    assert set(names) == {"/" + n for n in NAMES_2022}  # from the root, never TikTok_Data_<epoch>/
    folder = h.export(tmp_path, at=AT, data_format="txt", txt_generation="2022", container="folder",
                      epoch_folder=epoch_folder, unknown_sections=False)
    files = {rel.removeprefix("/"): text for rel, text in read_txt_tree(a).items()}
    assert read_txt_tree(folder) == files  # the same tree, without the slash
    # labels: watch and likes "Date" + "Video Link", sharing "Date", "Shared Content", "Link", "Method"
    for name in ("Activity/Video Browsing.txt", "Activity/Likes.txt"):
        records = _txt_blocks(files[name])
        assert len(records) > 3 and all(list(r) == ["Date", "Video Link"] for _, r in records), name
        assert all(VIDEO_ID.search(r["Video Link"]) for _, r in records)
    shares = _txt_blocks(files["Activity/Sharing.txt"])
    assert shares and all(list(r) == ["Date", "Shared Content", "Link", "Method"] for _, r in shares)
    assert not re.search(r"\d\d:\d\d:\d\d UTC", "".join(files.values()))  # no " UTC" anywhere
    assert "favorite_collections" not in a.tables and a.expected["favorite_collections"] == 0
    assert a.expected["watch_history"] > 10 and a.expected["shares"] > 3
    # off-TikTok activity under its old name; Status, Hashtag, Settings and Ad Interests have tables
    assert "off_tiktok_activity" in a.tables
    usage = _txt_blocks(files["Ads and data/Usage_Data_from_Third-party Apps and Websites.txt"])
    assert len(usage) == a.expected["off_tiktok_activity"] > 3
    assert all(list(r) == ["Date", "Source", "Event"] for _, r in usage)
    assert {"devices", "hashtags", "ad_interests", "settings"} <= a.tables
    assert re.search(r"^Hashtag Name: \w+\nHashtag Link: https://www\.tiktok\.com/share/challenge/7\d{18}/$",
                     files["Activity/Hashtag.txt"], re.M)
    assert "|" in files["Ads and data/Ad Interests.txt"]
    # the partners file alone has no table: an unmodelled section holding a few records
    unmodelled = {"Ads_Based_On_Data_Received_from_Partners.txt"}
    assert set(a.unmodelled_sections) == unmodelled
    blocks = files["Ads and data/Ads_Based_On_Data_Received_from_Partners.txt"].strip().split("\n\n")
    assert len(blocks) >= 3 and all(b.startswith("Date: ") for b in blocks)
    assert_counts(a, txt_keys(a))
    assert_counts(folder, txt_keys(folder))
    plain = h.export(tmp_path, at=AT, data_format="txt", txt_generation="2022", unmodelled_sections=False,
                     unknown_sections=False)
    assert plain.unmodelled_sections == []
    assert {n.rsplit("/", 1)[-1] for n in read_txt_tree(plain)} == {n.rsplit("/", 1)[-1] for n in NAMES_2022} - unmodelled


@pytest.mark.parametrize("gen", TXT_GENERATIONS)
def test_txt_direct_message_grammars(tmp_path: Path, gen: str) -> None:
    h = UserHistory()
    t = h.export(tmp_path, at=AT, data_format="txt", txt_generation=gen)
    j = h.export(tmp_path, at=AT, family="B")
    text = _file(t, "Directe berichten.txt" if gen == "nl" else "Direct Messages.txt")
    lines = text.split("\n")
    old = gen in OLD_GENS
    colon = ":" if old else "::"
    headers = [line for line in lines if line.startswith(">>> ")]
    assert len(headers) > 2
    assert all(re.fullmatch(r">>> Chat History with (user_\d{4}|Group_Chat_\d+)" + colon, h_) for h_ in headers)
    assert f">>> Chat History with Group_Chat_7000000000000000006{colon}" in headers
    this, other = (DM_OLD, DM_NEW) if old else (DM_NEW, DM_OLD)
    messages = [line for line in lines if this.match(line)]
    assert len(messages) > 10 and not any(other.match(line) for line in lines)
    if old:
        assert re.search(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] user_a: ", text, re.M)
    else:
        assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC user_a: ", text, re.M)
        assert not any(line.startswith("[2") for line in lines)
    for k, line in enumerate(lines):  # threads are separated by a blank line
        if line.startswith(">>> ") and k:
            assert lines[k - 1] == "" and lines[k - 2] != ""
    continuation = [line for line in lines if line and not line.startswith(">>> ") and not this.match(line)]
    assert "see you at 5: ok?" in continuation  # a continued text that itself contains ": "
    parsed = _txt_messages(text)
    contents = [m[3] for m in parsed]
    assert "running late\nsee you at 5: ok?" in contents
    assert any(re.fullmatch(r"\[https://p16-sign\.tiktokcdn\.com/tos-[^\s\]]+\.jpeg\]", c) for c in contents)
    assert any(re.fullmatch(r"https://www\.tiktokv\.com/share/video/7\d{18}/", c) for c in contents)
    # the same messages as the JSON export of the same moment, multi-line contents included
    json_messages = set(json_keys(j)["direct_messages"])
    assert any("\n" in m[3] for m in json_messages)
    assert set(parsed) == json_messages
    assert len(set(parsed)) == t.expected["direct_messages"] == len(parsed)


@pytest.mark.parametrize("gen", TXT_GENERATIONS)
def test_txt_photo_posts_continue_on_unlabelled_lines(tmp_path: Path, gen: str) -> None:
    h = UserHistory()
    t = h.export(tmp_path, at=AT, data_format="txt", txt_generation=gen)
    j = h.export(tmp_path, at=AT, family="B")
    text = _file(t, _posts_file(gen))
    label = "Video Link" if gen in OLD_GENS else "Link"
    url = r"https://[^\s:]+\S*"
    assert re.search(rf"^{label}: {url}-0\.jpeg\S*\n{url}-1\.jpeg\S*\n{url}-2\.jpeg\S*\nLike\(s\): \d+$", text, re.M)
    assert not re.search(r"\.jpeg\S* https://", text)  # never joined by a space
    txt_links = {_date(r["Date"]): r[label] for _, r in _txt_blocks(text)}
    json_links = {p["Date"]: p["Link"] for p in read_json(j)["Post"]["Posts"]["VideoList"]}
    assert txt_links == json_links  # the same "\n"-joined string in both formats
    assert sorted(len(v.split("\n")) for v in txt_links.values())[-1] == 3


def test_multi_line_comments_in_every_format(tmp_path: Path) -> None:
    h = UserHistory()
    found: dict[str, set[tuple[str, str]]] = {}
    for fam in ("F", "A", "A-activity", "B", "C", "D"):
        a = h.export(tmp_path, at=AT, family=fam)
        found[fam] = {(_date(_get(i, "Date")), _get(i, "Comment")) for i in _json_rows(read_json(a), fam, "comments")}
    for gen in TXT_GENERATIONS:
        a = h.export(tmp_path, at=AT, data_format="txt", txt_generation=gen)
        text = _file(a, "Comments.txt")
        assert "\nComment: so good\nsecond line: still the comment\n" in text
        for block in text.split("\n\n"):  # a continuation line never starts with a label word
            for line in block.split("\n")[1:]:
                if line and line.split(": ", 1)[0] not in TXT_LABELS:
                    assert not any(line.startswith(w) for w in ("Date", "Comment", "Photo", "Url")), line
        found[gen] = {(_date(r["Date"]), r["Comment"]) for _, r in _txt_blocks(text)}
    texts = {c for _, c in found["B"]}
    assert "so good\nsecond line: still the comment" in texts
    assert any(c.count("\n") >= 2 for c in texts)
    assert all(v == found["B"] for v in found.values()), {k: len(v) for k, v in found.items()}


def test_deleted_accounts_in_followers_following_and_blocks(tmp_path: Path) -> None:
    h = UserHistory()
    exports = [h.export(tmp_path, at=AT, family=f) for f in FAMILIES]
    exports += [h.export(tmp_path, at=AT, data_format="txt", txt_generation=g) for g in TXT_GENERATIONS]
    seen = set()
    for a in exports:
        keys = json_keys(a) if a.data_format == "json" else txt_keys(a)
        for table, n in (("followers", 2), ("following", 1), ("blocked_accounts", 1)):
            if table not in a.tables:
                continue
            seen.add((a.family, table))
            deleted = [k for k in keys[table] if not isinstance(k, str)]
            assert len(deleted) == len(set(deleted)) == n, (a.family, table, deleted)
            assert all(datetime.strptime(d, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) <= AT for _, d in deleted)
            # a deleted account is a row: real accounts by name plus N/A ones by date
            assert a.expected[table] == len(_usernames(set(keys[table]))) + n
        assert_counts(a, json_keys(a) if a.data_format == "json" else txt_keys(a))
    assert {t for _, t in seen} == {"followers", "following", "blocked_accounts"}
    assert sum(1 for f, t in seen if t == "blocked_accounts") == 5 + len(TXT_GENERATIONS)  # F, A, B, C, D + TXT
    b = next(a for a in exports if a.family == "B")
    assert '"UserName": "N/A"' in json.dumps(read_json(b))
    assert "\nUsername: N/A\n" in _file(next(a for a in exports if a.family == "TXT-2025"), "Block List.txt")
    # the same deleted account in two exports is one row
    early = h.export(tmp_path, at=AT - timedelta(days=60), family="B")
    both = h.expected_counts([early, b])
    for table in ("followers", "following", "blocked_accounts"):
        union = set(json_keys(early)[table]) | set(json_keys(b)[table])
        assert both[table] == len(union), table
    assert {k for k in union if not isinstance(k, str)}  # blocked accounts: one N/A in both
    # unfollowed_between never reports a deleted account
    gone = h.unfollowed_between(early, b)
    assert all(isinstance(u, str) and u != "N/A" for us in gone.values() for u in us)
    # small histories: as many as the sizes allow
    small = UserHistory(sizes=Sizes(followers=5, following=2, blocked_accounts=1))
    s = small.export(tmp_path, at=datetime(2025, 12, 31, tzinfo=UTC), family="B")
    sk = json_keys(s)
    assert [sum(1 for k in sk[t] if not isinstance(k, str)) for t in ("followers", "following", "blocked_accounts")] \
        == [1, 0, 0]


UNDATED = ("profile", "direct_messages", "devices", "hashtags", "ad_interests", "settings", "activity_summary")


@pytest.mark.parametrize("gen", TXT_GENERATIONS)
def test_utc_suffix_per_generation(tmp_path: Path, gen: str) -> None:
    a = generate_archive(tmp_path, data_format="txt", txt_generation=gen)
    with_utc, without = set(), set()
    for rel, text in read_txt_tree(a).items():
        table = TXT_NAMES[gen].get(rel.rsplit("/", 1)[-1])
        if table in (None, *UNDATED) or text.strip() in SENTINELS:
            continue
        dates = re.findall(r"^Date: (.*)$", text, re.M)
        assert dates, rel
        kinds = {d.endswith(" UTC") for d in dates}
        assert len(kinds) == 1, rel  # one form per file
        (with_utc if kinds == {True} else without).add(table)
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d( UTC)?", d) for d in dates)
    assert len(with_utc | without) >= 15
    if gen in ("2025", "nl"):
        assert not without
    elif gen in OLD_GENS:
        assert not with_utc
    else:
        assert "logins" in with_utc and "watch_history" in without
        assert 0.35 < len(with_utc) / len(with_utc | without) < 0.65, (with_utc, without)


def test_posts_keep_all_their_fields(tmp_path: Path) -> None:
    h = UserHistory()
    full = {"Date", "Link", "Likes", "WhoCanView", "AllowComments", "AllowStitches", "AllowDuets", "AllowStickers",
            "AllowSharingToStory", "ContentDisclosure", "AIGeneratedContent", "Sound", "Location", "Title",
            "AddYoursText"}
    json_posts = {}
    for fam in ("F", "A", "B", "C", "D", "E"):
        posts = _json_rows(read_json(h.export(tmp_path, at=AT, family=fam)), fam, "posts")
        assert len(posts) > 3
        json_posts[fam] = {p["Date"]: p for p in posts}
        if fam in ("A", "F"):
            assert all(set(p) == {"Date", "Link", "Likes"} for p in posts)
            continue
        assert all(set(p) == full | (LATE_POST_KEYS if fam == "D" else set()) for p in posts), fam
        adds = [p["AddYoursText"] for p in posts]
        assert "N/A" in adds and any(x not in ("N/A", "") for x in adds)
        assert all(p[k] in ("Yes", "No") for p in posts for k in FLAGS.values())
        assert {p["AllowStitches"] for p in posts} == {"Yes", "No"}
        if fam == "D":
            alts = [p["AlternateText"] for p in posts]
            assert "N/A" in alts and any(x not in ("N/A", "") for x in alts)
            assert all(p["CoverImage"].startswith("https://") for p in posts)
    sentence = [label for label in POST_LABELS if label not in ("Date", "Link", "Alternate text", "Cover image")]
    for gen in TXT_GENERATIONS:
        t = h.export(tmp_path, at=AT, data_format="txt", txt_generation=gen)
        text = _file(t, _posts_file(gen))
        records = [r for _, r in _txt_blocks(text)]
        assert len(records) == len(json_posts["D"])
        if gen in OLD_GENS:
            assert all(list(r) == ["Date", "Video Link", "Like(s)"] for r in records)
            continue
        late = ["Alternate text", "Cover image"] if gen in ("2025", "nl") else []
        assert all(list(r) == ["Date", "Link", *sentence, *late] for r in records), gen
        assert "\nWho can view: " in text and "\nAdds yours text: " in text and "Who Can View" not in text
        reference = json_posts["D" if late else "B"]
        for r in records:  # the same values as the JSON export of the same moment
            item = reference[_date(r["Date"])]
            assert {POST_LABELS[k]: v for k, v in r.items() if k != "Date"} == \
                {k: v for k, v in item.items() if k != "Date"}


def test_expected_rows_of_posts(tmp_path: Path) -> None:
    h = UserHistory()
    d = h.export(tmp_path, at=AT, family="D")
    rows = h.expected_rows("posts", [d])
    items = {p["Date"]: p for p in _json_rows(read_json(d), "D", "posts")}
    assert len(rows) == len(items) == d.expected["posts"]
    assert [r["posted_at"] for r in rows] == sorted(r["posted_at"] for r in rows)
    for r in rows:
        assert r["posted_at"].utcoffset() == timedelta(0)
        p = items[_fmt(r["posted_at"])]
        assert r["likes"] == int(p["Likes"]) and isinstance(r["likes"], int)
        assert r["who_can_view"] == p["WhoCanView"] and r["sound"] == p["Sound"]
        for col, key in FLAGS.items():
            assert r[col] is (p[key] == "Yes"), col
        assert r["title"] == (None if p["Title"] in ("N/A", "") else p["Title"])
        assert r["add_yours_text"] == (None if p["AddYoursText"] in ("N/A", "") else p["AddYoursText"])
        assert r["media_links"] == p["Link"] and r["media_count"] == len(p["Link"].split("\n"))
    assert {r["media_count"] for r in rows} == {1, 3}
    assert any(r["title"] is None for r in rows) and any(r["title"] for r in rows)
    assert any(r["add_yours_text"] is None for r in rows) and any(r["add_yours_text"] for r in rows)
    assert set(rows[0]) == {"posted_at", "likes", "who_can_view", *FLAGS, "sound", "title", "add_yours_text",
                            "media_links", "media_count"}
    # TXT of the same moment: the same rows, links read from the continuation lines
    t = h.export(tmp_path, at=AT, data_format="txt", txt_generation="2025")
    assert h.expected_rows("posts", [t]) == rows
    txt_links = {_date(r["Date"]): r["Link"] for _, r in _txt_blocks(_file(t, "Posts.txt"))}
    assert {_fmt(r["posted_at"]): r["media_links"] for r in rows} == txt_links
    # formats without the details: None
    a = h.export(tmp_path, at=AT - timedelta(days=30), family="A")
    for r in h.expected_rows("posts", [a]):
        assert r["sound"] is r["who_can_view"] is r["allow_comments"] is r["title"] is r["add_yours_text"] is None
        assert r["likes"] is not None and r["media_links"]
    # the newest export holding a post gives its values (links signed for it)
    assert h.expected_rows("posts", [a, d]) == rows
    older_b = h.export(tmp_path, at=AT - timedelta(days=60), family="B")
    newer_a = h.export(tmp_path, at=AT, family="A")
    mixed = h.expected_rows("posts", [older_b, newer_a])
    a_links = {p["Date"]: p["Link"] for p in _json_rows(read_json(newer_a), "A", "posts")}
    assert {_fmt(r["posted_at"]): r["media_links"] for r in mixed} == a_links
    assert all(r["sound"] is None for r in mixed)
    # exports of the same moment: a field carried by any of them counts
    old_txt = h.export(tmp_path, at=AT, data_format="txt", txt_generation="1")
    b = h.export(tmp_path, at=AT, family="B")
    assert h.expected_rows("posts", [old_txt, b]) == h.expected_rows("posts", [b]) == rows


def test_expected_rows_of_comments_and_messages(tmp_path: Path) -> None:
    h = UserHistory()
    early = h.export(tmp_path, at=AT - timedelta(days=90), data_format="txt", txt_generation="2")
    late = h.export(tmp_path, at=AT, family="C")
    counts = h.expected_counts([early, late])
    rows = h.expected_rows("comments", [late, early])
    assert [list(r) for r in rows] == [["commented_at", "comment"]] * len(rows)
    from_txt = {(_date(r["Date"]), r["Comment"]) for _, r in _txt_blocks(_file(early, "Comments.txt"))}
    from_json = {(_get(i, "Date"), _get(i, "Comment")) for i in _json_rows(read_json(late), "C", "comments")}
    assert [(_fmt(r["commented_at"]), r["comment"]) for r in rows] == sorted(from_txt | from_json)
    assert len(rows) == counts["comments"] and any("\n" in r["comment"] for r in rows)
    assert all(r["commented_at"].utcoffset() == timedelta(0) for r in rows)

    messages = h.expected_rows("direct_messages", [early, late])
    assert all(list(m) == ["conversation", "sent_at", "sender", "content"] for m in messages)
    from_txt_m = set(_txt_messages(_file(early, "Direct Messages.txt")))
    from_json_m = set(json_keys(late)["direct_messages"])
    got = [(m["conversation"], _fmt(m["sent_at"]), m["sender"], m["content"]) for m in messages]
    assert set(got) == from_txt_m | from_json_m and len(got) == len(set(got)) == counts["direct_messages"]
    assert [m["sent_at"] for m in messages] == sorted(m["sent_at"] for m in messages)
    conversations = {m["conversation"] for m in messages}
    assert "Group_Chat_7000000000000000006" in conversations
    assert all(re.fullmatch(r"user_\d{4}|Group_Chat_\d+", c) for c in conversations)
    assert "user_a" in {m["sender"] for m in messages}
    assert any("\n" in m["content"] for m in messages)
    assert any(m["content"].startswith("[https://") and m["content"].endswith("]") for m in messages)
    with pytest.raises(ValueError):
        h.expected_rows("likes", [late])
    with pytest.raises(ValueError):
        UserHistory(seed=9).expected_rows("posts", [late])
    assert h.expected_rows("comments", []) == []


# --- realistic behaviour: what the notebooks' analyses need to tell a story -----------------------

WATCH_GAP = timedelta(minutes=30)  # analysis.watch_sessions: a longer gap starts a new session
BUSY = Sizes(watch_history=12_000, likes=3000, favorite_videos=300, searches=600, shares=300, logins=200,
             comments=200, direct_messages=800, followers=400, following=300, posts=100)


def _at(value: str) -> datetime:
    return datetime.strptime(_date(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _video_events(items: list[dict[str, Any]]) -> list[tuple[datetime, str]]:
    """(time, video id) of watch/like/favourite items, ascending."""
    return sorted((_at(_get(i, "Date")), VIDEO_ID.search(_get(i, "Link")).group(1)) for i in items)


def _session_lengths(times: list[datetime]) -> list[int]:
    lengths: list[int] = []
    for k, t in enumerate(times):
        if k and t - times[k - 1] <= WATCH_GAP:
            lengths[-1] += 1
        else:
            lengths.append(1)
    return lengths


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


@pytest.fixture(scope="module")
def busy(tmp_path_factory) -> dict[str, Any]:
    """A heavy-ish user's B export (no duplicates): ~6,000 watch rows in ~300 sessions."""
    h = UserHistory("user_a", seed=0, sizes=BUSY)
    a = h.export(tmp_path_factory.mktemp("busy"), at=AT, family="B", duplicates=False)
    doc = read_json(a)
    ya = doc["Your Activity"]
    return {
        "archive": a,
        "doc": doc,
        "watch": _video_events(ya["Watch History"]["VideoList"]),
        "likes": _video_events(ya["Like List"]["ItemFavoriteList"]),
        "favorites": _video_events(ya["Favorite Videos"]["FavoriteVideoList"]),
    }


def test_watch_history_comes_in_sessions(busy: dict[str, Any]) -> None:
    watch = busy["watch"]
    times = [t for t, _ in watch]
    lengths = _session_lengths(times)
    assert len(watch) == busy["archive"].expected["watch_history"] > 5000
    assert _median(lengths) >= 10  # ~20 videos per session, not ~1 (uniform timestamps)
    assert sum(1 for n in lengths if n == 1) < 0.1 * len(lengths)
    assert len(watch) / 40 < len(lengths) < len(watch) / 8
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times) if b - a <= WATCH_GAP]
    assert 15 <= _median(gaps) <= 45  # seconds between videos
    assert sum(1 for g in gaps if 8 <= g <= 60) > 0.9 * len(gaps)  # a few longer pauses
    assert max(gaps) > 180
    # re-watches still happen: the same video twice, minutes apart
    seen: dict[str, datetime] = {}
    rewatches = 0
    for t, vid in watch:
        if vid in seen and t - seen[vid] < timedelta(hours=1):
            rewatches += 1
        seen[vid] = t
    assert rewatches > len(watch) / 20


@pytest.mark.parametrize("seed", range(5))
def test_median_session_of_modest_histories(tmp_path: Path, seed: int) -> None:
    a = generate_archive(tmp_path, seed=seed, sizes=Sizes.scaled(10), duplicates=False)
    times = [t for t, _ in _video_events(read_json(a)["Your Activity"]["Watch History"]["VideoList"])]
    assert _median(_session_lengths(times)) >= 5


def test_watch_history_has_a_daily_and_weekly_rhythm(busy: dict[str, Any]) -> None:
    times = [t for t, _ in busy["watch"]]
    per_hour = [0] * 24
    for t in times:
        per_hour[t.hour] += 1
    evening = sum(per_hour[18:24]) / 6
    night = sum(per_hour[2:6]) / 4
    morning = sum(per_hour[9:11]) / 2
    lunch = sum(per_hour[12:14]) / 2
    assert evening > 5 * night
    assert lunch > morning > night
    days: dict[Any, int] = {}
    for t in times:
        days[t.date()] = days.get(t.date(), 0) + 1
    first, last = times[0].date(), times[-1].date()
    calendar = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    weekend = [days.get(d, 0) for d in calendar if d.weekday() >= 5]
    weekday = [days.get(d, 0) for d in calendar if d.weekday() < 5]
    assert sum(weekend) / len(weekend) > 1.25 * sum(weekday) / len(weekday)
    assert 0 < sum(1 for n in weekday + weekend if n == 0) < len(calendar) / 2  # some days off


def test_likes_and_favourites_follow_a_view_of_the_same_video(busy: dict[str, Any]) -> None:
    views: dict[str, list[datetime]] = {}
    for t, vid in busy["watch"]:
        views.setdefault(vid, []).append(t)
    start = busy["watch"][0][0]
    for table in ("likes", "favorites"):
        events = [(t, vid) for t, vid in busy[table] if t >= start]  # the watch window
        assert len(events) > {"likes": 1000, "favorites": 100}[table]
        after_view = sum(
            1 for t, vid in events if any(timedelta(0) <= t - v <= timedelta(minutes=10) for v in views.get(vid, ()))
        )
        assert after_view > 0.9 * len(events), table
    # and the like list reaches back before the watch window, over the whole history
    assert busy["likes"][0][0] < AT - timedelta(days=300)


def test_searches_shares_logins_and_comments_happen_in_sessions(busy: dict[str, Any]) -> None:
    times = [t for t, _ in busy["watch"]]
    video_at: dict[datetime, set[str]] = {}  # two videos may be watched in one second (twins)
    for t, vid in busy["watch"]:
        video_at.setdefault(t, set()).add(vid)
    start, end = times[0] + timedelta(hours=1), times[-1] - timedelta(hours=1)
    ya = busy["doc"]["Your Activity"]

    def around(t: datetime) -> tuple[datetime | None, datetime | None]:
        k = bisect.bisect_left(times, t)
        return (times[k - 1] if k else None), (times[k] if k < len(times) else None)

    searches = [_at(i["Date"]) for i in ya["Searches"]["SearchList"]]
    searches = [t for t in searches if start < t < end]
    assert len(searches) > 100
    assert sum(1 for t in searches if around(t)[1] - t <= timedelta(minutes=1)) > 0.9 * len(searches)

    shares = [i for i in ya["Share History"]["ShareHistoryList"] if start < _at(i["Date"]) < end]
    assert len(shares) > 50
    video_shares = 0
    for i in shares:
        before, _ = around(_at(i["Date"]))
        assert _at(i["Date"]) - before <= timedelta(minutes=1)
        m = VIDEO_ID.search(i["Link"])
        if m:
            video_shares += 1
            assert m.group(1) in video_at[before]  # the video just watched
    assert video_shares > len(shares) / 2

    logins = [_at(i["Date"]) for i in ya["Login History"]["LoginHistoryList"]]
    logins = [t for t in logins if start < t < end]
    assert len(logins) > 50
    for t in logins:  # just before the first video of a session
        before, after = around(t)
        assert after - t <= timedelta(minutes=2) and (before is None or t - before > WATCH_GAP)

    comments = [_at(i["date"]) for i in busy["doc"]["Comment"]["Comments"]["CommentsList"]]
    comments = [t for t in comments if start < t < end]
    assert sum(1 for t in comments if t - around(t)[0] <= timedelta(minutes=2)) > 0.9 * len(comments)


def test_direct_messages_come_in_bursts(busy: dict[str, Any]) -> None:
    threads = busy["doc"]["Direct Message"]["Direct Messages"]["ChatHistory"]
    gaps, bursts, messages = [], 0, 0
    for items in threads.values():
        times = sorted(_at(m["Date"]) for m in items)
        messages += len(times)
        bursts += 1 + sum(1 for a, b in itertools.pairwise(times) if b - a > timedelta(hours=2))
        gaps += [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert messages > 300
    assert bursts < messages / 3  # several messages per burst
    assert _median(gaps) < 600  # replies minutes apart
    sizes = sorted(len(items) for items in threads.values())
    assert sizes[-1] > 2 * sizes[0]  # some conversations are busier than others


def test_posts_have_a_cadence_mostly_in_the_evening(busy: dict[str, Any]) -> None:
    h = UserHistory("user_a", seed=0, sizes=BUSY)
    posts = busy["doc"]["Post"]["Posts"]["VideoList"]
    times = sorted(_at(p["Date"]) for p in posts)
    assert len(times) > 80
    gaps = [(b - a) / timedelta(days=1) for a, b in itertools.pairwise(times)]
    assert max(gaps) < 10 and _median(gaps) > 2  # ~2 a week, never a month of silence
    weeks = {t.isocalendar()[:2] for t in times}
    assert len(weeks) > 0.8 * (times[-1] - times[0]) / timedelta(weeks=1)
    assert sum(1 for t in times if 17 <= t.hour <= 23) > 0.5 * len(times)
    likes = sorted(int(p["Likes"]) for p in posts)
    assert likes[-1] > 5 * _median(likes)  # a few clear hits
    assert int(busy["doc"]["Profile"]["Profile Info"]["ProfileMap"]["likesReceived"]) == sum(likes)
    assert h.expected_counts([busy["archive"]])["posts"] == len(posts)


def test_post_likes_depend_on_hour_and_weekday(tmp_path: Path) -> None:
    a = generate_archive(tmp_path, sizes=Sizes(posts=400), family="B")
    posts = [(_at(p["Date"]), int(p["Likes"])) for p in read_json(a)["Post"]["Posts"]["VideoList"]]
    evening = [n for t, n in posts if 18 <= t.hour <= 22]
    daytime = [n for t, n in posts if 6 <= t.hour <= 16]
    weekend = [n for t, n in posts if t.weekday() >= 5]
    weekday = [n for t, n in posts if t.weekday() < 4]
    assert min(len(evening), len(daytime), len(weekend), len(weekday)) > 30
    assert _median(evening) > 1.2 * _median(daytime)
    assert _median(weekend) > 1.1 * _median(weekday)


def test_follows_grow_over_time_and_some_leave(tmp_path: Path) -> None:
    h = UserHistory("user_a", seed=0, sizes=BUSY)
    end = datetime(2025, 12, 31, tzinfo=UTC)  # every unfollow has happened by the end
    a = h.export(tmp_path, at=end, family="E")
    doc = read_json(a)["Profile"]
    span = (end - datetime(2025, 1, 1, tzinfo=UTC)) / 4
    for which, key, n in (("followers", "Follower List", BUSY.followers),
                          ("following", "Following List", BUSY.following)):
        names = [f["UserName"] for f in doc[key][_A[which][2]]]
        deleted = {"followers": 2, "following": 1}[which]  # "N/A" accounts, which never leave
        real = n - deleted
        assert names.count("N/A") == deleted
        assert len(names) - deleted == real - round(real * 0.2)  # unfollow_fraction
        quarters = [0] * 4
        for f in doc[key][_A[which][2]]:
            quarters[min(3, int((_at(f["Date"]) - datetime(2025, 1, 1, tzinfo=UTC)) / span))] += 1
        assert quarters == sorted(quarters) and quarters[3] > 1.5 * quarters[0], (which, quarters)


@pytest.mark.parametrize(("watch", "seconds"), [(3000, 3600), (1000, 1000), (50, 86400), (1, 10), (500, 40 * 86400)])
def test_dense_and_tiny_histories_keep_ordered_timestamps_and_distinct_rows(tmp_path: Path, watch: int,
                                                                           seconds: int) -> None:
    """Newest first, within the span, every row a distinct key; a second holds one event, or two
    (a twin: the same second, another video / term) and never more."""
    start = AT - timedelta(seconds=seconds)
    h = UserHistory(sizes=Sizes(watch_history=watch, likes=watch, favorite_videos=watch // 2, searches=watch // 3),
                    start=start, end=AT)
    a = h.export(tmp_path, at=AT, family="B", duplicates=False)
    ya = read_json(a)["Your Activity"]
    keys = json_keys(a)
    for table, items in (("watch_history", ya["Watch History"]["VideoList"]),
                         ("likes", ya["Like List"]["ItemFavoriteList"]),
                         ("favorite_videos", ya["Favorite Videos"]["FavoriteVideoList"]),
                         ("searches", ya["Searches"]["SearchList"])):
        dates = [_at(_get(i, "Date")) for i in items or []]
        assert dates == sorted(dates, reverse=True), table  # newest first …
        assert len(set(keys[table])) == len(dates) == a.expected[table], table  # … and distinct rows
        per_second = collections.Counter(dates)
        assert set(per_second.values()) <= {1, 2}, table
        if len(dates) >= 12:  # twins: watch rows 11 mod 16, likes and favourites 3 mod 8, searches 2 mod 6
            assert 2 in per_second.values(), table
        assert all(start <= d <= AT for d in dates), table
    assert a.expected["watch_history"] == min(watch, seconds)


def test_per_session_state_stays_small_for_a_million_rows() -> None:
    """Watch rows are computed from their index: a million rows keep only per-session arrays
    (~50k sessions), and likes are computed from the watch rows they follow."""
    h = UserHistory(sizes=Sizes(watch_history=1_000_000, likes=200_000), start=AT - timedelta(days=179), end=AT)
    watch = h.videos["watch_history"]
    state = [v for v in vars(watch).values() if isinstance(v, array)]
    assert len(state) == 5 and sum(sys.getsizeof(v) for v in state) < 2 * 2**20
    assert not any(isinstance(v, (list, dict, array)) for v in vars(h.videos["likes"]).values())
    assert watch.window(None, AT.timestamp()) == (0, 1_000_000)



# --- sections beyond the event lists: Status, Hashtag, Ad Interests, LIVE, Activity Summary, Settings,
# --- Most Recent Location Data, TikTok Shop, Autofill ----------------------------------------------------

END = datetime(2025, 12, 31, tzinfo=UTC)  # the end of the default history: every event has happened
SECTION_TABLES = ("devices", "hashtags", "ad_interests", "live_history", "activity_summary", "settings", "locations",
                  "shop_product_browsing", "shop_orders", "shop_vouchers")
# which layouts carry which of them (the module docstring's table)
CARRIERS = {
    "devices": {"F", "A", "A-activity", "B", "C", "D", "TXT-1", "TXT-2022", "TXT-2", "TXT-2025", "TXT-nl"},
    "hashtags": {"F", "A", "A-activity", "B", "C", "D", "TXT-1", "TXT-2022", "TXT-2", "TXT-2025", "TXT-nl"},
    "ad_interests": {"F", "A", "B", "C", "D", "TXT-1", "TXT-2022", "TXT-2", "TXT-2025", "TXT-nl"},
    "settings": {"F", "A", "B", "C", "D", "TXT-1", "TXT-2022", "TXT-2", "TXT-2025", "TXT-nl"},
    "live_history": {"A", "B", "C", "D"},
    "activity_summary": {"C", "D", "TXT-2025", "TXT-nl"},
    "locations": {"B", "C", "D", "TXT-2025", "TXT-nl"},
    **{t: {"A", "B", "C", "D"} for t in ("shop_product_browsing", "shop_orders", "shop_vouchers")},
}
DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
ID19 = re.compile(r"7\d{18}")


def _keys(a: GeneratedArchive) -> dict[str, list[Any]]:
    return json_keys(a) if a.data_format == "json" else txt_keys(a)


def _every_layout(h: UserHistory, tmp_path: Path, at: datetime = AT) -> list[GeneratedArchive]:
    return ([h.export(tmp_path, at=at, family=f) for f in FAMILIES]
            + [h.export(tmp_path, at=at, data_format="txt", txt_generation=g) for g in TXT_GENERATIONS])


def test_new_sections_per_layout_and_their_union_counts(tmp_path: Path) -> None:
    h = UserHistory()
    exports = _every_layout(h, tmp_path) + _every_layout(h, tmp_path, END)
    for a in exports:
        assert set(a.expected) == set(TABLES) | {"autofill"} and a.expected["autofill"] == 0
        for table in SECTION_TABLES:
            assert (table in a.tables) == (a.family in CARRIERS[table]), (a.family, table)
            if a.family not in CARRIERS[table]:
                assert a.expected[table] == 0, (a.family, table)
        assert_counts(a, _keys(a))
    keys = {id(a): _keys(a) for a in exports}
    union = h.expected_counts(exports)
    for table in SECTION_TABLES:
        assert union[table] == len(set().union(*(keys[id(a)][table] for a in exports))), table
        assert union[table] > 0, table
    # at the end of the history every LIVE and shop event of the default sizes is in an export
    late = next(a for a in exports if a.family == "B" and a.exported_at == END)
    assert late.expected["live_history"] == 2 + 2 + 2  # went live twice, watched two rooms, two comments
    assert [late.expected[t] for t in ("shop_product_browsing", "shop_orders", "shop_vouchers")] == [3, 2, 2]
    assert late.expected["devices"] == 2 and late.expected["hashtags"] == 4 and late.expected["ad_interests"] == 3


def test_status_devices(tmp_path: Path) -> None:
    h = UserHistory()
    seen_absent = False
    for fam in ("F", "A", "A-activity", "B", "C", "D"):
        a = h.export(tmp_path, at=AT, family=fam)
        items = _json_rows(read_json(a), fam, "devices")
        allowed = {"Resolution", "App Version", "IDFA", "GAID", "Android ID", "IDFV", "Web ID"}
        if fam in ("C", "D"):
            allowed |= {"UID", "DID"}
            assert all(isinstance(i["UID"], int) and isinstance(i["DID"], str) and ID19.fullmatch(i["DID"])
                       for i in items)
        assert all(set(i) <= allowed and {"Resolution", "App Version", "Web ID"} <= set(i) for i in items)
        seen_absent |= any(set(i) != allowed for i in items)
        assert any(i.get("GAID") == "" for i in items)  # an Android device opted out of ad tracking
        distinct = {json.dumps(i, sort_keys=True) for i in items}
        assert len(items) - len(distinct) == a.duplicate_rows.get("devices", 0) == (1 if fam == "B" else 0)
        assert a.expected["devices"] == len(distinct) == 2
    assert seen_absent  # some keys are left out of some items
    assert "Status" not in read_json(h.export(tmp_path, at=AT, family="E")).get("Profile", {})
    no_dups = h.export(tmp_path, at=AT, family="B", duplicates=False)
    assert "devices" not in no_dups.duplicate_rows and no_dups.expected == h.export(tmp_path, at=AT).expected
    for gen in TXT_GENERATIONS:
        t = h.export(tmp_path, at=AT, data_format="txt", txt_generation=gen)
        records = _txt_blocks(_file(t, "Status.txt"))
        assert [list(r) for _, r in records] == [["Screen Resolution", "App Version", "IDFA", "GAID", "Web ID"]] * 2
        assert all(re.fullmatch(r"\d+\*\d+", r["Screen Resolution"]) for _, r in records)
        assert t.expected["devices"] == 2
    # TXT leaves out the ids JSON has (Android ID, IDFV): other rows than family B's; C/D add UID and DID
    b, c, txt = (h.export(tmp_path, at=AT, family="B"), h.export(tmp_path, at=AT, family="C"),
                 h.export(tmp_path, at=AT, data_format="txt"))
    assert h.expected_counts([b, c, txt])["devices"] == len(
        set(json_keys(b)["devices"]) | set(json_keys(c)["devices"]) | set(txt_keys(txt)["devices"])) == 6
    assert h.expected_counts([b, h.export(tmp_path, at=END, family="B")])["devices"] == 2  # the same records
    # a device is listed from its first use on: none before the history starts
    assert h.export(tmp_path, at=datetime(2024, 6, 1, tzinfo=UTC), family="B").expected["devices"] == 0


def test_post_hashtags(tmp_path: Path) -> None:
    h = UserHistory()
    a = h.export(tmp_path, at=AT, family="B")
    items = read_json(a)["Your Activity"]["Hashtag"]["HashtagList"]
    assert all(set(i) == {"HashtagName", "HashtagLink"} for i in items)
    assert all(re.fullmatch(r"https://www\.tiktok\.com/share/challenge/7\d{18}/", i["HashtagLink"]) for i in items)
    assert len({i["HashtagName"] for i in items}) == len(items) == a.expected["hashtags"] == 4
    t = h.export(tmp_path, at=AT, data_format="txt", txt_generation="2")
    records = [r for _, r in _txt_blocks(_file(t, "Hashtag.txt"))]
    assert [list(r) for r in records] == [["Hashtag Name", "Hashtag Link"]] * len(items)
    assert {(r["Hashtag Name"], r["Hashtag Link"]) for r in records} == {
        (i["HashtagName"], i["HashtagLink"]) for i in items}
    # the hashtags of the posts made so far: an early export lists fewer
    first_post = min(_at(p["Date"]) for p in read_json(a)["Post"]["Posts"]["VideoList"])
    early = h.export(tmp_path, at=first_post, family="C")
    assert early.expected["hashtags"] == 1 and h.expected_counts([early, a])["hashtags"] == 4
    before = h.export(tmp_path, at=first_post - timedelta(seconds=1), family="C")
    assert before.expected["hashtags"] == 0
    assert read_json(before)["Your Activity"]["Hashtag"] == {"HashtagList": None}


def test_ad_interests(tmp_path: Path) -> None:
    h = UserHistory()
    for fam, top in (("F", "Ads and data"), ("A", "Ads and data"), ("B", "Ads and data"), ("C", "Your Activity"),
                     ("D", "Your Activity")):
        a = h.export(tmp_path, at=END, family=fam)
        value = read_json(a)[top]["Ad Interests"]["AdInterestCategories"]
        assert isinstance(value, str) and value.count("|") == 2
        assert a.expected["ad_interests"] == len(set(value.split("|"))) == 3
    text = _file(h.export(tmp_path, at=END, data_format="txt", txt_generation="2022"), "Ad Interests.txt")
    assert text == f"Ad Interest Categories: {value}\n"
    # categories are inferred over time: exports taken earlier list fewer, the union all of them
    exports = [h.export(tmp_path, at=datetime(2025, m, 1, tzinfo=UTC), family="B") for m in range(2, 13)]
    sizes = [a.expected["ad_interests"] for a in exports]
    assert sizes == sorted(sizes) and sizes[0] < 3
    assert h.expected_counts(exports)["ad_interests"] == len(
        set().union(*(json_keys(a)["ad_interests"] for a in exports)))


def test_live_history(tmp_path: Path) -> None:
    h = UserHistory()
    for fam, top in (("A", "Tiktok Live"), ("B", "Tiktok Live"), ("C", "TikTok Live"), ("D", "TikTok Live")):
        a = h.export(tmp_path, at=END, family=fam)
        live = read_json(a)[top]
        went = live["Go Live History"]["GoLiveList"]
        assert len(went) == 2
        for g in went:
            assert set(g) == {"LiveStartTime", "LiveEndTime", "LiveDuration", "RoomId", "RoomTitle", "CoverUri",
                              "ReplayUrl", "TotalEarning", "TotalLike", "TotalView", "TotalGifter",
                              "QualitySetting", "MutedList"}
            assert DATE.fullmatch(g["LiveStartTime"]) and DATE.fullmatch(g["LiveEndTime"])
            assert g["LiveStartTime"] < g["LiveEndTime"] and ID19.fullmatch(g["RoomId"])
            assert all(isinstance(g[k], int) for k in ("TotalLike", "TotalView", "TotalGifter"))
        rooms = live["Watch Live History"]["WatchLiveMap"]
        assert rooms["-1"] == {"WatchTime": None, "Link": "", "Comments": None, "Questions": None}  # no row
        watched = {k: v for k, v in rooms.items() if k != "-1"}
        assert len(watched) == 2 and all(ID19.fullmatch(k) for k in watched)
        assert sorted(v["Comments"] is None for v in watched.values()) == [False, True]  # a list, or null
        for room in watched.values():
            assert set(room) == {"WatchTime", "Link", "Comments", "Questions"} and room["Questions"] is None
            assert DATE.fullmatch(room["WatchTime"]) and re.fullmatch(r"https://www\.tiktok\.com/@user_\d{4}/live",
                                                                      room["Link"])
            for c in room["Comments"] or []:
                assert set(c) == {"CommentTime", "CommentContent", "RawTime"} and isinstance(c["RawTime"], int)
                assert c["CommentTime"] > room["WatchTime"]
                assert datetime.fromtimestamp(c["RawTime"], UTC) == _at(c["CommentTime"])
        rows = json_keys(a)["live_history"]
        assert sorted(k[0] for k in rows) == ["commented"] * 2 + ["watched"] * 2 + ["went_live"] * 2
        assert len(set(rows)) == len(rows) == a.expected["live_history"]
    for fam in ("F", "A-activity", "E"):
        doc = read_json(h.export(tmp_path, at=END, family=fam))
        assert not {"Tiktok Live", "TikTok Live"} & set(doc)
    # LIVEs show once they have ended, comments once written: the union of two exports counts each once
    early = h.export(tmp_path, at=datetime(2025, 6, 1, tzinfo=UTC), family="B")
    late = h.export(tmp_path, at=END, family="D")
    assert early.expected["live_history"] < late.expected["live_history"]
    assert h.expected_counts([early, late])["live_history"] == len(
        set(json_keys(early)["live_history"]) | set(json_keys(late)["live_history"]))


def test_activity_summary(tmp_path: Path) -> None:
    h = UserHistory()
    c = h.export(tmp_path, at=AT, family="C")
    summary = read_json(c)["Your Activity"]["Activity Summary"]["ActivitySummaryMap"]
    assert set(summary) == {"note", "videosCommentedOnSinceAccountRegistration",
                            "videosSharedSinceAccountRegistration", "videosWatchedToTheEndSinceAccountRegistration"}
    assert all(isinstance(v, int) for k, v in summary.items() if k != "note")
    assert summary["videosCommentedOnSinceAccountRegistration"] == len(json_keys(c)["comments"])
    for gen in ("2025", "nl"):
        t = h.export(tmp_path, at=AT, data_format="txt", txt_generation=gen)
        counters = _activity_summary_txt(_file(t, "Activity Summary.txt"))
        assert list(counters.values()) == [summary[k] for k in (
            "videosCommentedOnSinceAccountRegistration", "videosSharedSinceAccountRegistration",
            "videosWatchedToTheEndSinceAccountRegistration")]
        assert t.expected["activity_summary"] == 1
        # one row per export time, whatever the format
        assert h.expected_counts([c, t])["activity_summary"] == 1
    d_later = h.export(tmp_path, at=END, family="D")
    assert h.expected_counts([c, d_later, h.export(tmp_path, at=END, family="B")])["activity_summary"] == 2
    later = read_json(d_later)["Your Activity"]["Activity Summary"]["ActivitySummaryMap"]
    assert later["videosSharedSinceAccountRegistration"] >= summary["videosSharedSinceAccountRegistration"]


def test_settings(tmp_path: Path) -> None:
    h = UserHistory()
    maps = {}
    for fam, top in (("F", "App Settings"), ("A", "App Settings"), ("B", "App Settings"),
                     ("C", "Profile And Settings"), ("D", "Profile And Settings")):
        a = h.export(tmp_path, at=AT, family=fam)
        maps[fam] = m = read_json(a)[top]["Settings"]["SettingsMap"]
        assert isinstance(m["Push Notification"], dict) and isinstance(m["Content Preferences"], dict)
        assert ("Who can see your following list::" in m) == (fam in ("C", "D"))  # TikTok's stray colons
        assert a.expected["settings"] == len({_norm(k) for k in m})
    assert len(maps["C"]) == len(maps["B"]) + 1
    t = h.export(tmp_path, at=AT, data_format="txt", txt_generation="2025")
    lines = _file(t, "Settings.txt").splitlines()
    assert lines and all(re.fullmatch(r"[A-Z][\w ]+: \S.*", line) for line in lines)
    assert t.expected["settings"] == len(lines)
    b, c = (h.export(tmp_path, at=AT, family=f) for f in "BC")
    # one row per setting per export time: exports of the same moment share their keys …
    assert h.expected_counts([b, c])["settings"] == len({_norm(k) for k in maps["B"]} | {_norm(k) for k in maps["C"]})
    assert h.expected_counts([b, c, t])["settings"] == len(set(json_keys(b)["settings"]) | set(
        json_keys(c)["settings"]) | set(txt_keys(t)["settings"]))
    # … exports of two moments do not
    later = h.export(tmp_path, at=END, family="B")
    assert h.expected_counts([b, later])["settings"] == 2 * len(maps["B"])


def test_most_recent_location(tmp_path: Path) -> None:
    h = UserHistory()
    found = set()
    for at in (datetime(2025, m, 15, tzinfo=UTC) for m in range(1, 13)):
        a = h.export(tmp_path, at=at, family="D")
        loc = read_json(a)["Your Activity"]["Most Recent Location Data"]["LocationData"]
        if loc is None:
            assert a.expected["locations"] == 0
            continue
        assert set(loc) == {"Date", "GpsData", "LastRegion"}  # one object, not a list
        assert _at(loc["Date"]) <= at and re.fullmatch(r"-?\d+\.\d\d, -?\d+\.\d\d", loc["GpsData"])
        assert re.fullmatch(r"[A-Z]{2}", loc["LastRegion"]) and a.expected["locations"] == 1
        found.add((loc["Date"], loc["GpsData"], loc["LastRegion"]))
    assert len(found) == 3  # each fix is the most recent one for a while
    t = h.export(tmp_path, at=END, data_format="txt", txt_generation="nl")
    ((_, rec),) = _txt_blocks(_file(t, "Most Recent Location Data.txt"))
    assert list(rec) == ["Date", "GPS Data", "Last Region"] and rec["Date"].endswith(" UTC")
    assert (_date(rec["Date"]), rec["GPS Data"], rec["Last Region"]) in found
    exports = [h.export(tmp_path, at=datetime(2025, m, 15, tzinfo=UTC), family="B") for m in range(1, 13)]
    assert h.expected_counts(exports)["locations"] == len(set().union(*(json_keys(a)["locations"] for a in exports)))


def test_tiktok_shop(tmp_path: Path) -> None:
    h = UserHistory()
    for fam, top in (("A", "Tiktok Shopping"), ("B", "TikTok Shop"), ("C", "TikTok Shop"), ("D", "TikTok Shop")):
        a = h.export(tmp_path, at=END, family=fam)
        shop = read_json(a)[top]
        browsing = shop["Product Browsing History"]["ProductBrowsingHistories"]
        assert all(set(i) == {"browsing_date", "shop_name", "product_name"} and DATE.fullmatch(i["browsing_date"])
                   for i in browsing)
        orders = shop["Order History"]["OrderHistories"]
        assert isinstance(orders, dict) and all(re.fullmatch(r"\d{18}", k) for k in orders)
        for o in orders.values():
            assert set(o) == {"order_date", "Products", "total_price", "order_status"}
            assert o["Products"] and all(set(p) == {"product_name", "variation_name", "quantity"}
                                         and isinstance(p["quantity"], int) for p in o["Products"])
        vouchers = shop["Vouchers"]["Vouchers"]
        assert all(set(v) == {"ReceivedDate", "VoucherId", "VoucherName", "VoucherText", "Status"} for v in vouchers)
        assert (a.expected["shop_product_browsing"], a.expected["shop_orders"], a.expected["shop_vouchers"]) == (
            len(browsing), len(orders), len(vouchers)) == (3, 2, 2)
    a_doc = read_json(h.export(tmp_path, at=END, family="A"))["Tiktok Shopping"]
    assert {"Communication History", "Product Review History"} <= set(a_doc)  # placeholders stay
    early = h.export(tmp_path, at=datetime(2025, 5, 1, tzinfo=UTC), family="B")
    late = h.export(tmp_path, at=END, family="C")
    union = h.expected_counts([early, late])
    ke, kl = json_keys(early), json_keys(late)
    for table in ("shop_product_browsing", "shop_orders", "shop_vouchers"):
        assert union[table] == len(set(ke[table]) | set(kl[table])) == late.expected[table], table


def test_autofill_is_written_but_never_counted(tmp_path: Path) -> None:
    h = UserHistory()
    for fam, path in (("B", ("Profile", "Autofill")), ("C", ("Profile And Settings", "Autofill")),
                      ("D", ("Profile And Settings", "Autofill")), ("E", ("Profile", "Auto Fill"))):
        a = h.export(tmp_path, at=AT, family=fam)
        body = read_json(a)[path[0]][path[1]]
        assert set(body) == {"Address", "City", "Country", "Email", "FirstName", "LastName", "PhoneNumber",
                             "State", "Unit", "ZipCode"}
        real = {k: v for k, v in body.items() if v != "N/A"}
        assert a.autofill_values == len(real) and a.expected["autofill"] == 0
        if fam in ("C", "D"):
            assert real == {"FirstName": "Alex", "LastName": "Example", "City": "Example City",
                            "Email": "alex@example.com"}
        else:
            assert real == {}
    assert all(a.autofill_values == 0 for a in (h.export(tmp_path, at=AT, family="A"),
                                                h.export(tmp_path, at=AT, data_format="txt")))


def test_off_tiktok_activity_under_its_old_names(tmp_path: Path) -> None:
    h = UserHistory()
    f = h.export(tmp_path, at=AT, family="F")
    ads = read_json(f)["Ads and data"]
    assert "Off TikTok Activity" not in ads
    items = ads["Usage Data From Third-Party Apps And Websites"]["UsageDataList"]
    assert items and all(set(i) == {"TimeStamp", "Source", "Event"} for i in items)
    a = h.export(tmp_path, at=AT, family="A")
    same = {tuple(i.values()) for i in read_json(a)["Ads and data"]["Off TikTok Activity"]["OffTikTokActivityDataList"]}
    assert {tuple(i.values()) for i in items} == same and f.expected["off_tiktok_activity"] == len(same)
    t = h.export(tmp_path, at=AT, data_format="txt", txt_generation="2022")
    events = {(r["Date"], r["Source"], r["Event"])
              for _, r in _txt_blocks(_file(t, "Usage_Data_from_Third-party Apps and Websites.txt"))}
    assert events == same and t.expected["off_tiktok_activity"] == len(same)
    assert h.expected_counts([f, a, t])["off_tiktok_activity"] == len(same)


@pytest.mark.parametrize("style", ["null", "list", "object", "absent", "mixed"])
def test_new_sections_can_be_empty(tmp_path: Path, style: str) -> None:
    empty = {"devices", "hashtags", "ad_interests", "live_history", "activity_summary", "settings", "locations",
             "shop_orders"}
    a = generate_archive(tmp_path, family="D", empty_style=style, empty_tables=empty, at=END)
    assert all(a.expected[t] == 0 and t not in a.tables for t in empty)
    assert a.expected["shop_vouchers"] == 2 and a.duplicate_rows.get("devices", 0) == 0
    doc = read_json(a)
    ya = doc["Your Activity"]
    if style == "null":
        assert ya["Ad Interests"] == {"AdInterestCategories": None}
        assert doc["TikTok Live"]["Watch Live History"] == {"WatchLiveMap": None}
    elif style == "list":
        assert ya["Ad Interests"] == {"AdInterestCategories": ""} and ya["Status"] == {"Status List": []}
        assert ya["Most Recent Location Data"] == {"LocationData": {}}
        assert doc["TikTok Shop"]["Order History"] == {"OrderHistories": {}}
    elif style == "object":
        assert ya["Status"] == {} and doc["TikTok Live"]["Go Live History"] == {}
    elif style == "absent":
        assert not {"Status", "Hashtag", "Activity Summary"} & set(ya) and "Watch Live History" not in doc.get(
            "TikTok Live", {})
    assert_counts(a, json_keys(a, doc))
    t = generate_archive(tmp_path, data_format="txt", empty_tables=empty, at=END,
                         empty_style="mixed" if style in ("null", "list", "object") else style)
    assert all(t.expected[x] == 0 for x in empty)
    assert_counts(t, txt_keys(t))


def test_new_sections_of_tiny_and_empty_sizes(tmp_path: Path) -> None:
    for sizes in (Sizes.scaled(0), Sizes.scaled(0.01)):
        h = UserHistory(sizes=sizes)
        for a in _every_layout(h, tmp_path / str(sizes.devices), END):
            assert_counts(a, _keys(a))
            if "live_history" in a.tables:
                assert a.expected["live_history"] == (0 if sizes.live_history == 0 else 4)  # went, watched, 2 comments


# --- same-second events: every key field other than the time tells two rows apart ---------------

# table -> positions (in the test's key tuples) of the key fields other than the time that
# same-second events must exercise: two rows in one second that differ in that field alone
SAME_SECOND = {
    "watch_history": (1,), "likes": (1,), "favorite_videos": (1,), "favorite_sounds": (1,),
    "favorite_effects": (1,), "favorite_hashtags": (1,), "favorite_collections": (1,), "searches": (1,),
    "comments": (1,),
    "shares": (1, 2, 3),  # link, method, shared content
    "logins": (1, 2),  # IP, device model
    "direct_messages": (0, 2, 3),  # conversation, sender, content (the time is field 1)
    "off_tiktok_activity": (1, 2), "purchases": (1, 2),  # source, event; kind, price
    "live_history": (3,),  # two LIVE comments in one second in one room
    "shop_product_browsing": (1, 2), "shop_vouchers": (1,),  # shop, product; voucher id
}


def _same_second_pairs(keys: list[Any], field: int) -> int:
    """Pairs of distinct keys in one second that differ in ``field`` alone (the time is one of the
    other fields: they are grouped on all of them)."""
    by_rest: dict[Any, set[Any]] = {}
    for k in set(keys):
        rest = tuple(v for n, v in enumerate(k) if n != field)
        by_rest.setdefault(rest, set()).add(k[field])
    return sum(len(v) - 1 for v in by_rest.values())


@pytest.mark.parametrize("fmt", ["json", "txt"])
def test_same_second_events_differ_in_every_key_field(tmp_path: Path, fmt: str) -> None:
    """Read back independently: in both formats (TXT times have second resolution too) each key
    field other than the time is the only difference of some pair of rows in one second, and the
    expected counts count those rows apart (distinct keys, never distinct times)."""
    h = UserHistory()
    a = h.export(tmp_path, at=AT, family="B", data_format=fmt, txt_generation="2025", duplicates=False)
    keys = json_keys(a) if fmt == "json" else txt_keys(a)
    assert_counts(a, keys)
    for table, fields in SAME_SECOND.items():
        if table not in a.tables:
            assert fmt == "txt" and table in ("live_history", "shop_product_browsing", "shop_vouchers"), table
            continue
        for field in fields:
            assert _same_second_pairs(keys[table], field) >= 1, (table, field)
    # the shop's orders: two orders in one second, told apart by their ids
    if fmt == "json":
        times = [o["order_date"] for _, o in _json_rows(read_json(a), "B", "shop_orders")]
        assert len(times) == a.expected["shop_orders"] == 2 and len(set(times)) == 1
    # a DM thread gets two messages in one second from two senders with two texts, too
    dms = keys["direct_messages"]
    assert any(k1[:2] == k2[:2] and k1[2] != k2[2] and k1[3] != k2[3] for k1 in dms for k2 in dms)


def test_repeats_in_the_other_link_form_are_the_same_rows(tmp_path: Path) -> None:
    """A watch row, a like and a favourite video written twice, once in each link form (same second,
    same video): a repeat, not a row; the link's text is no key."""
    h = UserHistory()
    a = h.export(tmp_path, at=AT, family="B")
    ya = read_json(a)["Your Activity"]
    for table, items in (("watch_history", ya["Watch History"]["VideoList"]),
                         ("likes", ya["Like List"]["ItemFavoriteList"]),
                         ("favorite_videos", ya["Favorite Videos"]["FavoriteVideoList"])):
        links: dict[Any, set[str]] = {}
        for i in items:
            link = _get(i, "Link")
            links.setdefault((_get(i, "Date"), VIDEO_ID.search(link).group(1)), set()).add(link)
        both = [v for v in links.values() if len(v) == 2]
        assert both and all(sum("/@" in x for x in v) == 1 for v in both), table
        assert len(links) == a.expected[table] and len(items) == len(links) + a.duplicate_rows[table], table
