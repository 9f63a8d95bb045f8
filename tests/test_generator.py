"""Tests of the synthetic archive generator.

The archives are read back here with ``json`` and a tiny TXT reader written from
export-formats.md, not with the project's reader, so that the generator's contract
(layout per family, expected counts) is checked independently of it.
"""

from __future__ import annotations

import bisect
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

from tiktok_portability_source.generator import (
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

# --- an independent reading of the reference (export-formats §3, §4) ------------------------

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
PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    "F": _A,
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
    """Case-insensitive item access, as a reader must do (§5)."""
    for k, v in d.items():
        if k.lower() == key.lower():
            return v
    raise KeyError(key)


def _date(value: str) -> str:
    return value.removesuffix(" UTC")


def _json_rows(doc: dict[str, Any], family: str, table: str) -> list[Any]:
    """The raw items of one table, [] when empty in any encoding (§7)."""
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
    if table == "profile":
        return [node] if node else []
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
        return (thread, m["Date"], m["From"], m["Content"])
    if table in ("followers", "following", "blocked_accounts"):
        return _get(item, "UserName")
    if table == "off_tiktok_activity":
        return tuple(_get(item, k) for k in ("TimeStamp", "Source", "Event"))
    if table == "purchases":
        kind, p = item
        return (p["Date"], kind, p["Price"])
    if table == "posts":
        return (_get(item, "Date"), item.get("Sound"), item.get("Title"))
    if table == "profile":
        return "profile"
    raise AssertionError(table)


def _distinct(table: str, keys: list[Any]) -> set[Any]:
    out = set(keys)
    if table in ("followers", "following", "blocked_accounts"):
        out.discard("N/A")
    return out


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
    return {t: [_json_key(t, i) for i in _json_rows(doc, archive.family, t)] for t in TABLES}


# --- an independent TXT reader (§11) -----------------------------------------------------------

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
TXT_NAMES["2025"] = {("Watch History.txt" if t == "watch_history" else n): t for n, t in TXT_NAMES["2"].items()}
TXT_NAMES["nl"] = {
    {"Watch History.txt": "Kijkgeschiedenis.txt", "Like List.txt": "Likelijst.txt", "Follower.txt": "Volger.txt",
     "Following.txt": "Volgend.txt", "Searches.txt": "Zoekopdrachten.txt",
     "Direct Messages.txt": "Directe berichten.txt"}.get(n, n): t
    for n, t in TXT_NAMES["2025"].items()
}
SENTINELS = ("You have no data in this section", "Dit gedeelte bevat geen gegevens")


def read_txt_tree(archive: GeneratedArchive) -> dict[str, str]:
    """Relative path -> text of every file of a TXT archive (zip or folder)."""
    if archive.path.suffix == ".zip":
        with zipfile.ZipFile(archive.path) as zf:
            return {n: zf.read(n).decode("utf-8") for n in zf.namelist()}
    return {str(f.relative_to(archive.path)): f.read_text("utf-8") for f in archive.path.rglob("*") if f.is_file()}


def _txt_blocks(text: str) -> list[tuple[str | None, dict[str, str]]]:
    """(current header, {label: value}) per record; first-': ' split, '::' and sentinels."""
    out, header = [], None
    for block in text.split("\n\n"):
        rec: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line in SENTINELS:
                continue
            if ": " not in line and line.endswith(":"):
                header = line[:-1]
                continue
            label, value = line.split(": ", 1)
            rec[label.rstrip(":")] = value
        if rec:
            out.append((header, rec))
    return out


def txt_keys(archive: GeneratedArchive) -> dict[str, list[Any]]:
    names = TXT_NAMES[archive.txt_generation]
    keys: dict[str, list[Any]] = {t: [] for t in TABLES}
    for rel, text in read_txt_tree(archive).items():
        table = names.get(rel.rsplit("/", 1)[-1])
        if table is None:
            continue
        if table == "direct_messages":
            thread = None
            for line in text.splitlines():
                if line.startswith(">>> Chat History with "):
                    thread = line
                elif line.startswith("["):
                    m = re.match(r"\[(.+?)\] (.+?): (.*)$", line)
                    keys[table].append((thread, m.group(1), m.group(2), m.group(3)))
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
                k = r["Username"]
            elif table == "off_tiktok_activity":
                k = (d, r["Source"], r["Event"])
            elif table == "purchases":
                k = (d, "send" if header == "Send Gifts History" else "buy", r["Price"])
            elif table == "posts":
                k = (d, r.get("Sound"), r.get("Title"))
            else:
                k = "profile"
            keys[table].append(k)
    return keys


def assert_counts(archive: GeneratedArchive, keys: dict[str, list[Any]]) -> None:
    got = {t: len(_distinct(t, keys[t])) for t in TABLES}
    assert got == archive.expected


# --- tests ----------------------------------------------------------------------------------------


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    for kwargs in ({"family": "B"}, {"family": "A"}, {"data_format": "txt", "txt_generation": "1"}):
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
    assert all(rel.startswith(f"TikTok_Data_{int(AT.timestamp())}/") for rel in files)
    assert set(TXT_NAMES[gen]) <= set(base) | ({"Favorite Collections.txt"} if gen == "1" else set())
    assert {"Status.txt", "Settings.txt", "Synthetic Future Section.txt"} <= set(base)
    assert sorted(a.unmodelled_sections) == ["Settings.txt", "Status.txt"]
    sentinel = "Dit gedeelte bevat geen gegevens" if gen == "nl" else "You have no data in this section"
    assert base["Favorite Effects.txt"] == sentinel + "\n"
    watch = {"1": "Video Browsing History.txt", "2": "Browsing History.txt", "2025": "Watch History.txt",
             "nl": "Kijkgeschiedenis.txt"}[gen]
    first = base[watch].split("\n\n")[0].split("\n")
    if gen == "1":
        assert first[0].startswith("Date: ") and first[1].startswith("Video Link: https://")
        assert "HashTag Link: " in base["Favorite HashTags.txt"]
        assert ">>> Chat History with " in base["Direct Messages.txt"]
    else:
        assert first[1].startswith("Link: https://")
        assert "HashTag Link:: " in base["Favorite HashTags.txt"]
        assert "Like(s): " in base["Posts.txt"] and "Title: N/A" in base["Posts.txt"]
        assert "Photo: N/A\nUrl: \n" in base["Comments.txt"]  # empty value keeps its trailing space
    assert first[0].endswith(" UTC") == (gen in ("2025", "nl"))
    assert base["Login History.txt"].startswith("Date: ") and (" UTC\n" in base["Login History.txt"]) == (gen != "1")
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
    assert "Your Activity › Status" in a.unmodelled_sections
    assert "App Settings › Settings" in a.unmodelled_sections
    assert "Tiktok Live › Watch Live History" in a.unmodelled_sections
    for path in a.unmodelled_sections:
        top, sub = path.split(" › ")
        assert doc[top][sub]  # present, with data
    assert doc["Your Activity"]["Status"]["Status List"][0]["Resolution"]
    assert doc["App Settings"]["Settings"]["SettingsMap"]["Interests"] == "Food|Travel|Pets"

    a2 = generate_archive(tmp_path, family="A")
    assert a2.unknown_sections == ["Activity › Synthetic Future Section"]
    assert "Synthetic Future Section" in read_json(a2)["Activity"]

    plain = generate_archive(tmp_path, family="B", unknown_sections=False, unmodelled_sections=False)
    pdoc = read_json(plain)
    assert plain.unknown_sections == [] and plain.unmodelled_sections == []
    assert "Synthetic Future Section" not in pdoc["Your Activity"] and "Status" not in pdoc["Your Activity"]
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
    assert {t: n for t, n in a.expected.items() if n} == {"profile": 1}


def test_sentinels_and_value_forms(tmp_path: Path) -> None:
    a = generate_archive(tmp_path, family="B")
    doc = read_json(a)
    fans = doc["Your Activity"]["Follower"]["FansList"]
    assert "N/A" in [f["UserName"] for f in fans]
    assert a.expected["followers"] == len(fans) - 1  # the deleted account gives no row
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
        assert gone[table] == _distinct(table, ke[table]) - _distinct(table, kl[table])
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
    video_at = {t: vid for t, vid in busy["watch"]}
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
            assert m.group(1) == video_at[before]  # the video just watched
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
        real = n - (which == "followers")  # one follower is "N/A"
        assert len(names) - (which == "followers") == real - round(real * 0.2)  # unfollow_fraction
        quarters = [0] * 4
        for f in doc[key][_A[which][2]]:
            quarters[min(3, int((_at(f["Date"]) - datetime(2025, 1, 1, tzinfo=UTC)) / span))] += 1
        assert quarters == sorted(quarters) and quarters[3] > 1.5 * quarters[0], (which, quarters)


@pytest.mark.parametrize(("watch", "seconds"), [(3000, 3600), (1000, 1000), (50, 86400), (1, 10), (500, 40 * 86400)])
def test_dense_and_tiny_histories_keep_distinct_ordered_timestamps(tmp_path: Path, watch: int, seconds: int) -> None:
    start = AT - timedelta(seconds=seconds)
    h = UserHistory(sizes=Sizes(watch_history=watch, likes=watch, favorite_videos=watch // 2, searches=watch // 3),
                    start=start, end=AT)
    a = h.export(tmp_path, at=AT, family="B", duplicates=False)
    ya = read_json(a)["Your Activity"]
    for table, items in (("watch_history", ya["Watch History"]["VideoList"]),
                         ("likes", ya["Like List"]["ItemFavoriteList"]),
                         ("favorite_videos", ya["Favorite Videos"]["FavoriteVideoList"]),
                         ("searches", ya["Searches"]["SearchList"])):
        dates = [_at(_get(i, "Date")) for i in items or []]
        assert dates == sorted(dates, reverse=True), table  # newest first …
        assert len(set(dates)) == len(dates) == a.expected[table], table  # … and distinct
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
