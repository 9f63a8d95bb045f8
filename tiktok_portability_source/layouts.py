"""Where every entity lives in every archive layout TikTok has shipped: one declarative table.

Layout families drift (``docs/export-formats.md``): section names change, move between top-level
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
# events: dated list; records: undated list (devices, hashtags), merged on every field; snapshot: accounts
# with history; profile: one map per export; settings: one row per key of a map, per export
EntityKind = Literal["events", "records", "snapshot", "profile", "messages", "settings"]
# what the privacy controls (privacy.py) do with a column: account names are pseudonymised, names inside
# links too; message text is dropped by drop_message_text; network ids, device ids and locations by
# drop_network_ids; contact (real name, address, phone) is loaded only on explicit opt-in
PrivacyClass = Literal["plain", "account", "link", "message", "network", "location", "contact"]

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
    privacy: PrivacyClass = "plain"

    @property
    def norm_keys(self) -> tuple[str, ...]:
        return tuple(norm_key(k) for k in self.keys)


@dataclass(frozen=True)
class IdFrom:
    """Extract an id from a link column with a regex (share-style links only)."""

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
    # the list is a map of id -> item (``WatchLiveMap``): the id goes into this column
    map_id: str | None = None
    # rows are the items of this list inside each item (a LIVE's ``Comments``), with the item's id
    children: str | None = None
    single: bool = False  # the list key holds one record as an object, not a list (``LocationData``)


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
    # columns not read from items (thread names, ids from links) and their privacy class
    extra_privacy: tuple[tuple[str, PrivacyClass], ...] = ()
    # a column whose text lists several values ("Food|Travel"): one row per value
    split: tuple[str, str] | None = None
    # (column, target): the number of lines of a column's text (images of a photo post)
    line_counts: tuple[tuple[str, str], ...] = ()
    # loaded only when the user opts in (sensitive: autofill); otherwise only counted
    opt_in: str | None = None

    @property
    def privacy_classes(self) -> dict[str, PrivacyClass]:
        """Every stored column's privacy class (``plain`` ones included)."""
        out: dict[str, PrivacyClass] = {c.name: c.privacy for c in self.columns}
        for spec in self.ids:  # an id read from a column is as private as the column
            out[spec.target] = "message" if any(out.get(s) == "message" for s in spec.source) else "plain"
        out.update(self.extra_privacy)
        return out

    @property
    def txt_names(self) -> frozenset[str]:
        return frozenset(norm_key(n) for n in self.txt_files)


# --- top-level section names, newest first -------------------------------------------------
ACTIVITY = ("Your Activity", "Activity")
LIKES = ("Likes and Favorites", "Your Activity", "Activity")
SOCIAL = ("Profile And Settings", "Your Activity", "Activity", "Profile")
LIVE = ("TikTok Live", "Tiktok Live")
SHOP = ("TikTok Shop", "Tiktok Shopping")

VIDEO_ID = r"/video/(\d+)"


def _date(name: str) -> Column:
    return Column(name, ("Date",), "timestamp")


def _link(*extra: str) -> Column:
    return Column("link", ("Link", *extra), privacy="link")  # a creator's @name may be in it


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
            ("Watch History", "Browsing History", "Video Browsing History", "Video Browsing", "Kijkgeschiedenis"),
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
    _events("shares", ACTIVITY, ("Share History",), "ShareHistoryList", ("Share History", "Sharing History", "Sharing"),
            (_date("shared_at"), Column("shared_content", ("SharedContent",)), _link(), Column("method", ("Method",))),
            ("shared_at", "link", "method", "shared_content"), _video_ids(), "share"),
    _events("logins", ACTIVITY, ("Login History",), "LoginHistoryList", ("Login History",),
            (_date("logged_in_at"), Column("ip", ("IP",), privacy="network"),
             Column("device_model", ("DeviceModel",), privacy="network"),
             Column("device_system", ("DeviceSystem",), privacy="network"), Column("network_type", ("NetworkType",)),
             Column("carrier", ("Carrier",), privacy="network")),
            ("logged_in_at", "ip", "device_model"), description="login"),
    _events("comments", ("Comment", "Activity"), ("Comments",), "CommentsList", ("Comments",),
            (_date("commented_at"), Column("comment", ("Comment",)), Column("photo", ("Photo",)),
             Column("url", ("Url",), privacy="link"), Column("video", ("Video",)), Column("sticker", ("Sticker",)),
             Column("original_post_url", ("originalPostUrl", "original post link"), privacy="link")),
            ("commented_at", "comment"), _video_ids("original_post_url", "url"), "comment written"),
    _events("blocked_accounts", ("Profile And Settings", "App Settings"), ("Block List", "Block"), "BlockList",
            ("Block List", "Block"), (_date("blocked_at"), Column("username", ("UserName",), privacy="account")),
            # a deleted account ("N/A") has no name: its block time keys it
            ("username|blocked_at",), description="account blocked"),
    Entity(
        "off_tiktok_activity", "events",
        (JsonPath(("Your Activity", "Ads and data", "Profile And Settings"), ("Off TikTok Activity",),
                  ("OffTikTokActivityDataList",)),
         # its older name, with the same items
         JsonPath(("Ads and data",), ("Usage Data From Third-Party Apps And Websites",), ("UsageDataList",))),
        ("Off TikTok Activity", "Usage_Data_from_Third-party Apps and Websites"),
            (Column("event_at", ("TimeStamp", "Date"), "timestamp"), Column("source", ("Source",)),
             Column("event", ("Event",))),
        ("event_at", "source", "event"), "event_at", description="event reported by another app or site"),
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
         Column("add_yours_text", ("AddYoursText", "Adds yours text")), Column("alternate_text", ("AlternateText",)),
         Column("cover_image", ("CoverImage",)), Column("media_links", ("Link", "VideoLink"))),
        # the link is a signed, expiring CDN URL (never a key); A/F exports lack sound and
        # title, so the post time alone keys a post (one account does not post twice a second)
        ("posted_at",), "posted_at",
        description="own post",
        line_counts=(("media_links", "media_count"),),  # a photo post lists one URL per image
    ),
    Entity(
        "followers", "snapshot",
        (JsonPath(SOCIAL, ("Follower", "Follower List", "Followers"), ("FansList",)),),
        ("Follower", "Followers", "Follower List", "Volger", "Volgers"),
        (_date("followed_at"), Column("username", ("UserName",), privacy="account")),
        ("username",), None, description="account following the user",
    ),
    Entity(
        "following", "snapshot",
        (JsonPath(SOCIAL, ("Following", "Following List"), ("Following",)),),
        ("Following", "Following List", "Volgend"),
        (_date("followed_at"), Column("username", ("UserName",), privacy="account")),
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
        (Column("sent_at", ("Date",), "timestamp"), Column("sender", ("From",), privacy="account"),
         Column("content", ("Content",), privacy="message")),
        ("conversation", "sent_at", "sender", "content"), "sent_at", _video_ids("content"),
        description="direct message", extra_privacy=(("conversation", "account"),),
    ),
    # --- sections most real exports carry beyond the lists above ---------------------------------
    Entity(
        "devices", "records",
        (JsonPath(ACTIVITY, ("Status",), ("Status List", "StatusList")),),
        ("Status",),
        (Column("resolution", ("Resolution", "Screen Resolution")), Column("app_version", ("App Version",)),
         Column("idfa", ("IDFA",), privacy="network"), Column("gaid", ("GAID",), privacy="network"),
         Column("android_id", ("Android ID",), privacy="network"), Column("idfv", ("IDFV",), privacy="network"),
         Column("web_id", ("Web ID",), privacy="network"), Column("uid", ("UID",), privacy="network"),
         Column("did", ("DID",), privacy="network")),
        ("resolution", "app_version", "idfa", "gaid", "android_id", "idfv", "web_id", "uid", "did"),
        description="device / app install TikTok knows of (Status)",
    ),
    Entity(
        "hashtags", "records",
        (JsonPath(ACTIVITY, ("Hashtag", "Hashtags"), ("HashtagList",)),),
        ("Hashtag", "Hashtags"),
        (Column("hashtag_name", ("HashtagName", "Hashtag Name")),
         Column("link", ("HashtagLink", "Hashtag Link", "Link"))),
        ("hashtag_name", "link"), ids=(IdFrom(("link",), "hashtag_id", r"/challenge/(\d+)"),),
        description="hashtag used in the user's own posts",
    ),
    Entity(
        "ad_interests", "records",
        (JsonPath(("Your Activity", "Ads and data", "Ads and Data"), ("Ad Interests", "Ad Interest"),
                  ("AdInterestCategories",)),),
        ("Ad Interests", "Ad Interest"),
        (Column("interest", ("AdInterestCategories", "Ad Interest Categories", "Interest", "Interests")),),
        ("interest",), split=("interest", "|"),
        description="interest category TikTok infers for ads (one row per category)",
    ),
    Entity(
        "live_history", "events",
        (JsonPath(LIVE, ("Go Live History",), ("GoLiveList",), (("activity", "went_live"),)),
         JsonPath(LIVE, ("Watch Live History",), ("WatchLiveMap",), (("activity", "watched"),), map_id="room_id"),
         JsonPath(LIVE, ("Watch Live History",), ("WatchLiveMap",), (("activity", "commented"),), map_id="room_id",
                  children="Comments")),
        (),  # no TXT form seen yet: a TXT LIVE file is reported in unparsed_sections
        (Column("at", ("LiveStartTime", "WatchTime", "CommentTime"), "timestamp"),
         Column("ended_at", ("LiveEndTime",), "timestamp"), Column("room_id", ("RoomId", "RoomID")),
         Column("title", ("RoomTitle",)), Column("link", ("Link",), privacy="link"),
         Column("replay_url", ("ReplayUrl",)), Column("comment", ("CommentContent",)),
         Column("duration", ("LiveDuration",)), Column("views", ("TotalView",), "int"),
         Column("likes", ("TotalLike",), "int"), Column("gifters", ("TotalGifter",), "int"),
         Column("earnings", ("TotalEarning",))),
        ("activity", "at", "room_id", "comment"), "at",
        description="LIVE watched, commented on (the user's own comments) or gone live with",
    ),
    Entity(
        "locations", "events",
        (JsonPath(ACTIVITY, ("Most Recent Location Data",), ("LocationData",), single=True),),
        ("Most Recent Location Data",),
        (_date("located_at"), Column("gps", ("GpsData", "GPS Data"), privacy="location"),
         Column("last_region", ("LastRegion", "Last Region"), privacy="location")),
        ("located_at", "gps", "last_region"), "located_at",
        description="most recent location TikTok recorded (sensitive: dropped with drop_network_ids)",
    ),
    Entity(
        "shop_product_browsing", "events",
        (JsonPath(SHOP, ("Product Browsing History", "Product Browsing"), ("ProductBrowsingHistories",)),),
        (),
        (Column("browsed_at", ("browsing_date", "BrowsingDate", "Date"), "timestamp"),
         Column("shop_name", ("shop_name", "ShopName")), Column("product_name", ("product_name", "ProductName"))),
        ("browsed_at", "shop_name", "product_name"), "browsed_at", description="TikTok Shop product viewed",
    ),
    Entity(
        "shop_orders", "events",
        (JsonPath(SHOP, ("Order History", "Orders"), ("OrderHistories",), map_id="order_id"),),
        (),
        (Column("ordered_at", ("order_date", "OrderDate", "Date"), "timestamp"), Column("order_id", ("order_id",)),
         Column("order_status", ("order_status", "OrderStatus")), Column("total_price", ("total_price", "TotalPrice")),
         Column("products", ("Products", "products"))),  # the list of products, as JSON text
        ("order_id", "ordered_at"), "ordered_at", description="TikTok Shop order",
    ),
    Entity(
        "shop_vouchers", "events",
        (JsonPath(SHOP, ("Vouchers", "Voucher", "Coupons"), ("Vouchers",)),),
        (),
        (Column("received_at", ("ReceivedDate", "Date"), "timestamp"), Column("voucher_id", ("VoucherId",)),
         Column("voucher_name", ("VoucherName",)), Column("voucher_text", ("VoucherText",)),
         Column("status", ("Status",))),
        ("received_at", "voucher_id", "voucher_name"), "received_at", description="TikTok Shop voucher received",
    ),
    Entity(
        "activity_summary", "profile",
        (JsonPath(ACTIVITY, ("Activity Summary",), ("ActivitySummaryMap",)),),
        ("Activity Summary",),
        (Column("videos_commented_on", ("videosCommentedOnSinceAccountRegistration",), "int"),
         Column("videos_shared", ("videosSharedSinceAccountRegistration",), "int"),
         Column("videos_watched_to_the_end", ("videosWatchedToTheEndSinceAccountRegistration",), "int"),
         Column("note", ("note",))),
        (), description="lifetime activity counters as of one export",
    ),
    Entity(
        "settings", "settings",
        (JsonPath(("Profile And Settings", "App Settings"), ("Settings",), ("SettingsMap",)),),
        ("Settings",),
        (Column("setting", ("Setting",)), Column("setting_key", ("SettingKey",)), Column("value", ("Value",))),
        ("setting_key",), description="privacy or app setting as of one export (value as text or JSON)",
    ),
    Entity(
        "autofill", "profile",
        (JsonPath(("Profile And Settings", "Profile"), ("Autofill", "Auto Fill"), (".",)),),
        ("Autofill", "Auto Fill"),
        tuple(Column(name, (key,), privacy="contact") for name, key in (
            ("first_name", "FirstName"), ("last_name", "LastName"), ("email", "Email"),
            ("phone_number", "PhoneNumber"), ("address", "Address"), ("unit", "Unit"), ("city", "City"),
            ("state", "State"), ("zip_code", "ZipCode"), ("country", "Country"))),
        (), opt_in="load_autofill",
        description="real name, street address, phone and e-mail from Autofill, as of one export",
    ),
)

BY_TABLE: dict[str, Entity] = {e.table: e for e in ENTITIES}
# every table of user data (ENTITIES), and the two bookkeeping tables each load writes beside them
DATA_TABLES: tuple[str, ...] = tuple(BY_TABLE)
UNPARSED_TABLE, ARCHIVES_TABLE = "unparsed_sections", "archives"
ALL_TABLES: tuple[str, ...] = DATA_TABLES + (UNPARSED_TABLE, ARCHIVES_TABLE)
# the tables a load fills without any opt-in (autofill is loaded only when the user asks)
DEFAULT_TABLES: tuple[str, ...] = tuple(e.table for e in ENTITIES if not e.opt_in)
# tables whose rows are events or records merged on their row key, with no repeat sent in one load
EVENT_TABLES: tuple[str, ...] = tuple(e.table for e in ENTITIES if e.kind in ("events", "messages", "records"))

# Keys that sit next to lists and carry no data
METADATA_KEYS = frozenset(norm_key(k) for k in ("App", "IsFastLane"))

# JSON file names of the JSON archive, newest first
JSON_NAMES = ("user_data_tiktok.json", "user_data.json")

# TXT lines that mean "this section is empty", compared after norm_key
NO_DATA_LINES = frozenset(norm_key(s) for s in (
    "You have no data in this section",
    "Dit gedeelte bevat geen gegevens",
    "Er staan geen gegevens in dit gedeelte",
))
NO_DATA_PREFIXES = (norm_key("Du hast keine Daten"),)
NO_DATA_FILES = frozenset({"nodata"})

# values that mean "nothing" wherever they appear
SENTINELS = ("", "None", "N/A", "null", "NULL", "none", "n/a")

# TXT labels whose free text may run over several lines (a line shaped like "word: text" inside it
# continues the text unless it is a label the table knows)
MULTILINE_LABELS = frozenset(norm_key(k) for k in (
    "Comment", "Content", "Title", "AddYoursText", "Adds yours text", "AlternateText", "Bio Description",
    "CommentContent", "RoomTitle"))

# file names that identify the generation of a TXT archive (informational)
TXT_GENERATIONS = (
    ("txt-2022", "Video Browsing"),
    ("txt-1", "Video Browsing History"),
    ("txt-2", "Browsing History"),
    ("txt-nl", "Kijkgeschiedenis"),
    ("txt-2025", "Watch History"),
)


def detect_family(top_keys: dict[str, object]) -> str:
    """Name the JSON layout family from its keys; informational, the reader does not depend on it."""
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
