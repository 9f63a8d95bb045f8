"""Where every entity lives in every archive layout TikTok has shipped: one declarative table.

Layout families drift (``export-formats.md`` §3): section names change, move between top-level
sections and change casing. Instead of one path per family, each entity lists candidate top-level
sections, candidate sub-sections and the list key; any combination found in an archive is read,
matching every key case-insensitively. Item keys and TXT labels go through ``norm_key`` so that
``SearchTerm``, ``searchterm`` and ``Search Term`` are the same field. Adding a layout is adding a
name here, not code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["text", "timestamp", "int", "float", "bool", "date"]
EntityKind = Literal["events", "snapshot", "profile", "messages"]

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def norm_key(key: str) -> str:
    """Case-, space- and punctuation-insensitive form of a JSON key, TXT label or file name."""
    return _NON_ALNUM.sub("", key.lower())


@dataclass(frozen=True)
class Column:
    """A destination column and the item keys (any casing/spelling) it is read from."""

    name: str
    keys: tuple[str, ...]
    kind: ColumnKind = "text"

    @property
    def norm_keys(self) -> tuple[str, ...]:
        return tuple(norm_key(k) for k in self.keys)


@dataclass(frozen=True)
class IdFrom:
    """Extract an id from a link column with a regex (share-style links only, §10)."""

    source: tuple[str, ...]  # columns tried in order
    target: str
    pattern: str


@dataclass(frozen=True)
class JsonPath:
    """Candidate ``top › sub › list`` locations; ``list_key`` may be nested (``SendGifts/SendGifts``)."""

    tops: tuple[str, ...]
    subs: tuple[str, ...]
    list_keys: tuple[str, ...]
    constants: tuple[tuple[str, str], ...] = ()  # extra columns set for rows read from this path


@dataclass(frozen=True)
class Entity:
    table: str
    kind: EntityKind
    json_paths: tuple[JsonPath, ...]
    txt_files: tuple[str, ...]  # base names without .txt, compared with norm_key
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # natural key columns (user_id is always added); "a|b" = first non-null of a, b
    time_column: str | None = None  # event time: per-user cursor and export time
    ids: tuple[IdFrom, ...] = ()
    txt_constants_by_header: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    description: str = ""

    @property
    def txt_names(self) -> frozenset[str]:
        return frozenset(norm_key(n) for n in self.txt_files)


# --- top-level section names, newest first (§3 name fallbacks) -------------------------------
ACTIVITY = ("Your Activity", "Activity")
LIKES = ("Likes and Favorites", "Your Activity", "Activity")
SOCIAL = ("Profile And Settings", "Your Activity", "Activity", "Profile")

VIDEO_ID = r"/video/(\d+)"


def _date(name: str) -> Column:
    return Column(name, ("Date",), "timestamp")


def _link(*extra: str) -> Column:
    return Column("link", ("Link", *extra))


def _video_ids(*source: str) -> tuple[IdFrom, ...]:
    return (IdFrom(source or ("link",), "video_id", VIDEO_ID),)


def _events(table: str, tops: tuple[str, ...], subs: tuple[str, ...], list_key: str, txt: tuple[str, ...],
            columns: tuple[Column, ...], key: tuple[str, ...], ids: tuple[IdFrom, ...] = (),
            description: str = "") -> Entity:
    time_column = next(c.name for c in columns if c.kind == "timestamp")
    return Entity(table, "events", (JsonPath(tops, subs, (list_key,)),), txt, columns, key, time_column, ids,
                  description=description)


ENTITIES: tuple[Entity, ...] = (
    _events("watch_history", ACTIVITY, ("Watch History", "Video Browsing History"), "VideoList",
            ("Watch History", "Browsing History", "Video Browsing History", "Kijkgeschiedenis"),
            (_date("watched_at"), _link("VideoLink"), Column("title", ("Title",))),
            ("watched_at", "video_id|link"), _video_ids(), "video watched"),
    _events("likes", LIKES, ("Like List",), "ItemFavoriteList", ("Like List", "Likes", "Likelijst"),
            (_date("liked_at"), _link("VideoLink")), ("liked_at", "video_id|link"), _video_ids(), "video liked"),
    _events("favorite_videos", LIKES, ("Favorite Videos", "Favourite Videos"), "FavoriteVideoList",
            ("Favorite Videos", "Favourite Videos"),
            (_date("favorited_at"), _link("VideoLink")), ("favorited_at", "video_id|link"), _video_ids(),
            "video saved"),
    _events("favorite_sounds", LIKES, ("Favorite Sounds", "Favourite Sounds"), "FavoriteSoundList",
            ("Favorite Sounds", "Favourite Sounds"),
            (_date("favorited_at"), _link("SoundLink")), ("favorited_at", "link"),
            (IdFrom(("link",), "sound_id", r"/music/(\d+)"),), "sound saved"),
    _events("favorite_effects", LIKES, ("Favorite Effects", "Favourite Effects"), "FavoriteEffectsList",
            ("Favorite Effects", "Favourite Effects"),
            (_date("favorited_at"), Column("link", ("EffectLink", "Link"))), ("favorited_at", "link"),
            (IdFrom(("link",), "effect_id", r"/detail/(\d+)"),), "effect saved"),
    _events("favorite_hashtags", LIKES, ("Favorite Hashtags", "Favourite Hashtags"), "FavoriteHashtagList",
            ("Favorite HashTags", "Favorite Hashtags", "Favourite Hashtags"),
            (_date("favorited_at"), _link("HashTag Link", "HashtagLink")), ("favorited_at", "link"),
            (IdFrom(("link",), "hashtag_id", r"/tag/(\d+)"),), "hashtag saved"),
    _events("favorite_collections", LIKES, ("Favorite Collection", "Favorite Collections"), "FavoriteCollectionList",
            ("Favorite Collections", "Favorite Collection"),
            (_date("favorited_at"), Column("collection", ("FavoriteCollection", "Favorite Collection", "Collection"))),
            ("favorited_at", "collection"), description="collection saved"),
    _events("searches", ACTIVITY, ("Searches", "Search History"), "SearchList",
            ("Searches", "Search History", "Zoekopdrachten"),
            (_date("searched_at"), Column("search_term", ("SearchTerm",))), ("searched_at", "search_term"),
            description="search"),
    _events("shares", ACTIVITY, ("Share History",), "ShareHistoryList", ("Share History", "Sharing History"),
            (_date("shared_at"), Column("shared_content", ("SharedContent",)), _link(), Column("method", ("Method",))),
            ("shared_at", "link", "method", "shared_content"), _video_ids(), "share"),
    _events("logins", ACTIVITY, ("Login History",), "LoginHistoryList", ("Login History",),
            (_date("logged_in_at"), Column("ip", ("IP",)), Column("device_model", ("DeviceModel",)),
             Column("device_system", ("DeviceSystem",)), Column("network_type", ("NetworkType",)),
             Column("carrier", ("Carrier",))),
            ("logged_in_at", "ip", "device_model"), description="login"),
    _events("comments", ("Comment", "Activity"), ("Comments",), "CommentsList", ("Comments",),
            (_date("commented_at"), Column("comment", ("Comment",)), Column("photo", ("Photo",)),
             Column("url", ("Url",)), Column("video", ("Video",)), Column("sticker", ("Sticker",)),
             Column("original_post_url", ("originalPostUrl", "original post link"))),
            ("commented_at", "comment"), _video_ids("original_post_url", "url"), "comment written"),
    _events("blocked_accounts", ("Profile And Settings", "App Settings"), ("Block List", "Block"), "BlockList",
            ("Block List", "Block"), (_date("blocked_at"), Column("username", ("UserName",))),
            ("username",), description="account blocked"),
    _events("off_tiktok_activity", ("Your Activity", "Ads and data", "Profile And Settings"),
            ("Off TikTok Activity",), "OffTikTokActivityDataList", ("Off TikTok Activity",),
            (Column("event_at", ("TimeStamp", "Date"), "timestamp"), Column("source", ("Source",)),
             Column("event", ("Event",))),
            ("event_at", "source", "event"), description="event reported by another app or site"),
    Entity(
        "purchases", "events",
        (JsonPath(ACTIVITY, ("Purchases", "Purchase History"), ("SendGifts/SendGifts",), (("kind", "send_gift"),)),
         JsonPath(ACTIVITY, ("Purchases", "Purchase History"), ("BuyGifts/BuyGifts",), (("kind", "buy_gift"),))),
        ("Purchases", "Purchase History"),
        (_date("purchased_at"), Column("price", ("Price",), "float")),
        ("purchased_at", "kind", "price"), "purchased_at",
        txt_constants_by_header=(("Send Gifts History", (("kind", "send_gift"),)),
                                 ("Buy Gifts History", (("kind", "buy_gift"),))),
        description="gift sent or coins bought",
    ),
    Entity(
        "posts", "events",
        (JsonPath(("Post", "Video"), ("Posts", "Videos"), ("VideoList",)),),
        ("Posts", "Post", "Videos"),
        (_date("posted_at"), Column("likes", ("Likes",), "int"), Column("who_can_view", ("WhoCanView",)),
         Column("allow_comments", ("AllowComments",), "bool"), Column("allow_stitches", ("AllowStitches",), "bool"),
         Column("allow_duets", ("AllowDuets",), "bool"), Column("allow_stickers", ("AllowStickers",), "bool"),
         Column("allow_sharing_to_story", ("AllowSharingToStory",), "bool"),
         Column("content_disclosure", ("ContentDisclosure",)), Column("ai_generated_content", ("AIGeneratedContent",)),
         Column("sound", ("Sound",)), Column("location", ("Location",)), Column("title", ("Title",)),
         Column("add_yours_text", ("AddYoursText",)), Column("alternate_text", ("AlternateText",)),
         Column("cover_image", ("CoverImage",)), Column("media_links", ("Link", "VideoLink"))),
        # the link is a signed, expiring CDN URL (never a key, §9.1); A/F exports lack sound and
        # title, so the post time alone keys a post (one account does not post twice a second)
        ("posted_at",), "posted_at",
        description="own post",
    ),
    Entity(
        "followers", "snapshot",
        (JsonPath(SOCIAL, ("Follower", "Follower List", "Followers"), ("FansList",)),),
        ("Follower", "Followers", "Follower List", "Volger", "Volgers"),
        (_date("followed_at"), Column("username", ("UserName",))),
        ("username",), None, description="account following the user",
    ),
    Entity(
        "following", "snapshot",
        (JsonPath(SOCIAL, ("Following", "Following List"), ("Following",)),),
        ("Following", "Following List", "Volgend"),
        (_date("followed_at"), Column("username", ("UserName",))),
        ("username",), None, description="account the user follows",
    ),
    Entity(
        "profile", "profile",
        (JsonPath(("Profile And Settings", "Profile"), ("Profile Info", "Profile Information"), ("ProfileMap",)),),
        ("Profile Info", "Profile Information", "Profile"),
        (Column("username", ("userName",)), Column("display_name", ("displayName",)),
         Column("bio_description", ("bioDescription",)), Column("birth_date", ("birthDate",), "date"),
         Column("email_address", ("emailAddress",)), Column("telephone_number", ("telephoneNumber",)),
         Column("likes_received", ("likesReceived",), "int"), Column("follower_count", ("followerCount",), "int"),
         Column("following_count", ("followingCount",), "int"), Column("account_region", ("accountRegion",)),
         Column("inferred_gender", ("inferredGender",)), Column("profile_photo", ("profilePhoto",)),
         Column("profile_video", ("profileVideo",))),
        (), None, description="profile as of one export",
    ),
    Entity(
        "direct_messages", "messages",
        (JsonPath(("Direct Message", "Direct Messages"), ("Direct Messages", "Chat History"), ("ChatHistory",)),),
        ("Direct Messages", "Direct Message", "Directe berichten"),
        (Column("sent_at", ("Date",), "timestamp"), Column("sender", ("From",)), Column("content", ("Content",))),
        ("conversation", "sent_at", "sender", "content"), "sent_at", _video_ids("content"),
        description="direct message",
    ),
)

BY_TABLE: dict[str, Entity] = {e.table: e for e in ENTITIES}

# Keys that sit next to lists and carry no data (§2)
METADATA_KEYS = frozenset(norm_key(k) for k in ("App", "IsFastLane"))

# JSON file names of the JSON archive (§1), newest first
JSON_NAMES = ("user_data_tiktok.json", "user_data.json")

# TXT lines that mean "this section is empty" (§7), compared after norm_key
NO_DATA_LINES = frozenset(norm_key(s) for s in (
    "You have no data in this section",
    "Dit gedeelte bevat geen gegevens",
    "Er staan geen gegevens in dit gedeelte",
))
NO_DATA_PREFIXES = (norm_key("Du hast keine Daten"),)
NO_DATA_FILES = frozenset({"nodata"})

# values that mean "nothing" wherever they appear (§7)
SENTINELS = ("", "None", "N/A", "null", "NULL", "none", "n/a")

# file names that identify the generation of a TXT archive (informational, §11.2)
TXT_GENERATIONS = (
    ("txt-1", "Video Browsing History"),
    ("txt-2", "Browsing History"),
    ("txt-nl", "Kijkgeschiedenis"),
    ("txt-2025", "Watch History"),
)


def detect_family(top_keys: dict[str, object]) -> str:
    """Name the JSON layout family from its keys (§3); informational, the reader does not depend on it."""
    tops = {norm_key(k): v for k, v in top_keys.items()}

    def subs(name: str) -> set[str]:
        value = tops.get(norm_key(name))
        return {norm_key(k) for k in value} if isinstance(value, dict) else set()

    if "likesandfavorites" in tops or "profileandsettings" in tops:
        d_markers = {norm_key(k) for k in ("Favorite Collection", "Favorite Comment", "Favorite Location", "Collection")}
        return "D" if subs("Likes and Favorites") & d_markers else "C"
    if "youractivity" in tops:
        return "B"
    if "activity" in tops:
        if "comments" in subs("Activity") and "comment" not in tops:
            return "A-activity"
        watch = tops["activity"].get("Video Browsing History") if isinstance(tops["activity"], dict) else None
        items = watch.get("VideoList") if isinstance(watch, dict) else None
        # a big list is still on disk (archive.LazyList): only its first item is read
        first = items[0] if isinstance(items, list) and items else getattr(items, "first", lambda: None)()
        if isinstance(first, dict) and "VideoLink" in first:
            return "F"
        return "A"
    if tops and set(tops) <= {"profile", "video"}:
        return "E"
    return "unknown"
