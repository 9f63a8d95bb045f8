"""Tests of the synthetic archive generator.

The archives are read back here with ``json`` and a tiny TXT reader written from
export-formats.md, not with the project's reader, so that the generator's contract
(layout per family, expected counts) is checked independently of it.
"""

from __future__ import annotations

import json
import re
import time
import zipfile
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
