r"""The generator's own layout tables: which tables each JSON family and TXT generation carries,
the section path and list key of each table (JSON), and its folder and file name (TXT).

They are kept apart from ``tiktok_portability_source.layouts`` on purpose: the generator is an
independent oracle for the reader, so it must never share the reader's tables.

Which tables each layout carries (derived from docs/export-formats.md. The event
tables (watch history … purchases) and ``profile``:

=============  ===========================================================================
``F``, ``A``   everything except ``favorite_collections`` (no path for it in family A/F)
``A-activity`` the ``Activity`` root only: watch, likes, favourite videos/sounds/effects/
               hashtags, searches, shares, logins, followers, following, purchases and
               ``Activity › Comments``; no profile, posts, DMs, block list or off-TikTok
``B``/``C``/``D``  everything (C keeps favourite collections at the B path
               ``Your Activity › Favorite Collection``; D moves them to ``Likes and Favorites``)
``E``          profile, followers, following, posts
TXT ``"1"``    everything except ``favorite_collections``
TXT ``"2022"`` everything except ``favorite_collections`` (off-TikTok activity in
               ``Ads and data/Usage_Data_from_Third-party Apps and Websites.txt``)
TXT ``"2"``, ``"2025"``, ``"nl"``  everything
=============  ===========================================================================

The other sections with a table (formats below):

=========================  ====================================================================
``devices``, ``hashtags``  every layout except ``E`` (JSON F, A, A-activity, B, C, D; all TXT)
``ad_interests``,          JSON F, A, B, C, D; all TXT generations
``settings``
``live_history``           JSON A, B, C, D (never TXT)
``activity_summary``       JSON C, D; TXT ``"2025"``, ``"nl"``
``locations``              JSON B, C, D; TXT ``"2025"``, ``"nl"``
``shop_*``                 JSON A (top ``Tiktok Shopping``), B, C, D (top ``TikTok Shop``); never TXT
``autofill``               written (B/E all ``"N/A"``, C/D a few made-up values), never counted:
                           the loader keeps it only on opt-in, so ``expected_counts`` gives 0
=========================  ====================================================================

``expected_counts`` has a key for every table the loader fills (``TABLES`` and
``OPT_IN_TABLES``), 0 where no given export carries the table.

TXT generations (docs/export-formats.md), oldest first:

- ``"1"`` (2020–2022): ``Activity/Video Browsing History.txt``, ``Like List.txt``,
  ``Follower List.txt``, ``Search History.txt``, ``Purchase History.txt``, ``Videos/Videos.txt``…
- ``"2022"``: folders ``Activity/`` (``Video Browsing.txt``, ``Likes.txt``, ``Favorite Videos.txt``,
  ``Favorite Sounds.txt``, ``Favorite Effects.txt``, ``Favorite HashTags.txt``, ``Follower.txt``,
  ``Following.txt``, ``Searches.txt``, ``Sharing.txt``, ``Login History.txt``, ``Purchases.txt``,
  ``Status.txt``, ``Hashtag.txt``), ``App Settings/`` (``Block List.txt``, ``Settings.txt``),
  ``Comments/Comments.txt``, ``Direct Messages/Direct Messages.txt``, ``Profile/Profile Info.txt``,
  ``Videos/Videos.txt`` and ``Ads and data/`` (``Ad Interests.txt``,
  ``Ads_Based_On_Data_Received_from_Partners.txt``,
  ``Usage_Data_from_Third-party Apps and Websites.txt``). In a ZIP every member name starts with
  ``/`` (``/Activity/Video Browsing.txt``) and there is no ``TikTok_Data_<epoch>/`` folder,
  whatever ``epoch_folder`` says; a folder container holds the same tree (no slash, no epoch
  folder). Labels are those of ``"1"`` (``Video Link:``, ``Sound Link:``, ``HashTag Link:``).
  ``Ads_Based_On_Data_Received_from_Partners.txt`` carries a few records and has no table: it is
  listed in ``GeneratedArchive.unmodelled_sections``.
- ``"2"`` (2023–2025): ``Tiktok/Activity/Browsing History.txt``, ``Tiktok/Post/Posts.txt``…
- ``"2025"``: ``Your Activity/…`` and ``Profile And Settings/…`` with ``Watch History.txt``…
- ``"nl"``: as ``"2025"`` with Dutch file names for some sections (see ``TXT_FILES``).

Every generation also writes ``Status.txt``, ``Hashtag.txt`` and ``Ad Interests.txt`` (in the
activity and ads folders) and ``Settings.txt`` (app settings folder); ``"2025"`` and ``"nl"`` add
``Your Activity/Activity/Activity Summary.txt`` and ``Most Recent Location Data.txt``.

Sections beyond the event lists (values are made up; each item is listed in exports taken after
its time, and ``Sizes`` says how many there are):

- **Status → ``devices``** (one row per distinct record, every field compared, ``""`` as NULL).
  JSON ``<Activity|Your Activity> › Status › "Status List"``: items with ``Resolution``
  (``1080*2400``; C/D ``1080x2400``), ``App Version``, ``Web ID`` and, per platform, ``GAID``
  (``""`` when the Android device opted out) + ``Android ID`` or ``IDFA`` + ``IDFV`` (the other
  two keys absent); C/D add ``UID`` (int) and ``DID`` (str). Family B repeats one record exactly
  once (``duplicate_rows["devices"]``). TXT ``Status.txt``: blank-line-separated records with
  ``Screen Resolution``, ``App Version``, ``IDFA``, ``GAID``, ``Web ID`` (an id the platform lacks
  as an empty value), so TXT, A/B and C/D records of the same device are distinct rows.
- **Hashtag → ``hashtags``**: the hashtags of the user's posts, each listed from the first post
  using it. JSON ``… › Hashtag › HashtagList`` items ``{HashtagName, HashtagLink}`` (link
  ``https://www.tiktok.com/share/challenge/<19 digits>/``); TXT ``Hashtag Name:`` /
  ``Hashtag Link:``. Distinct (name, link).
- **Ad Interests → ``ad_interests``**: ``Ads and data › Ad Interests › AdInterestCategories``
  (C/D under ``Your Activity``) is one string joined by ``|``; TXT one record
  ``Ad Interest Categories: Food & Drink|Travel|Pets``. One row per distinct category.
- **LIVE → ``live_history``**: ``Tiktok Live`` (A/B) / ``TikTok Live`` (C/D) ›
  ``Go Live History › GoLiveList`` (streams that have ended: ``LiveStartTime``, ``LiveEndTime``,
  ``LiveDuration`` ``HH:MM:SS``, ``RoomId``, ``RoomTitle``, ``CoverUri``, ``ReplayUrl``, ints
  ``TotalEarning``, ``TotalLike``, ``TotalView``, ``TotalGifter``, ``QualitySetting``,
  ``MutedList`` null) and ``Watch Live History › WatchLiveMap`` (19-digit room id ->
  ``{WatchTime, Link, Comments: [{CommentTime, CommentContent, RawTime (epoch int)}] or null,
  Questions: null}``; every other room has two comments, and TikTok's placeholder entry ``"-1"``
  with null/empty values gives no row). Rows: ``went_live`` per stream, ``watched`` per room,
  ``commented`` per comment; key (activity, time, room id, comment text).
- **Activity Summary → ``activity_summary``** (one row per distinct export time): JSON C/D
  ``Your Activity › Activity Summary › ActivitySummaryMap`` ``{note, videosCommentedOn…,
  videosShared…, videosWatchedToTheEnd…SinceAccountRegistration}`` (lifetime ints as of the
  export); TXT a first line ``(Note: Activity may take several days to appear.)`` then
  ``Videos commented on since account registration: 12``… one counter per line.
- **Settings → ``settings``** (one row per setting key per distinct export time; keys compared
  lower-cased without spaces or punctuation): ``App Settings › Settings › SettingsMap`` (C/D
  ``Profile And Settings``), nested values included, C/D also the malformed key
  ``Who can see your following list::``; TXT ``Settings.txt`` one ``Label: value`` line per
  setting. Present from the start, like the profile.
- **Most Recent Location Data → ``locations``**: JSON B/C/D ``Your Activity › Most Recent
  Location Data › LocationData`` is ONE object ``{Date, GpsData: "52.37, 4.89", LastRegion: "NL"}``,
  the latest fix before the export; TXT ``Date:``, ``GPS Data:``, ``Last Region:``. Distinct
  (date, gps, region).
- **TikTok Shop → ``shop_product_browsing``, ``shop_orders``, ``shop_vouchers``**:
  ``Product Browsing History › ProductBrowsingHistories`` ``[{browsing_date, shop_name,
  product_name}]``, ``Order History › OrderHistories`` (18-digit order id -> ``{order_date,
  Products: [{product_name, variation_name, quantity}], total_price, order_status}``),
  ``Vouchers › Vouchers`` ``[{ReceivedDate, VoucherId, VoucherName, VoucherText, Status}]``.
  Distinct (time, shop, product) / order id / (time, voucher id, name).
- **Autofill** (``Profile › Autofill`` in B, ``Profile › Auto Fill`` in E, all ``"N/A"``;
  ``Profile And Settings › Autofill`` in C/D with ``FirstName`` ``Alex``, ``LastName``
  ``Example``, ``City`` ``Example City``, ``Email`` ``alex@example.com``):
  ``GeneratedArchive.autofill_values`` counts the values that are not ``"N/A"``.
- **Off-TikTok activity under older names**: family F writes ``Ads and data › Usage Data From
  Third-Party Apps And Websites › UsageDataList`` (items ``{TimeStamp, Source, Event}``) instead
  of ``Off TikTok Activity``; TXT ``"2022"`` the ``Usage_Data_…`` file (``Date:``, ``Source:``,
  ``Event:``). Same events as everywhere else.
"""

from __future__ import annotations

SEP = " › "  # separator used in section paths such as "Your Activity › Status"

TABLES: tuple[str, ...] = (
    "watch_history",
    "likes",
    "favorite_videos",
    "favorite_sounds",
    "favorite_effects",
    "favorite_hashtags",
    "favorite_collections",
    "searches",
    "shares",
    "logins",
    "comments",
    "direct_messages",
    "followers",
    "following",
    "posts",
    "blocked_accounts",
    "off_tiktok_activity",
    "purchases",
    "profile",
    # sections beyond the event lists (records, one-per-export maps, LIVE and Shop)
    "devices",
    "hashtags",
    "ad_interests",
    "live_history",
    "activity_summary",
    "settings",
    "locations",
    "shop_product_browsing",
    "shop_orders",
    "shop_vouchers",
)
# written but loaded only on the user's explicit opt-in: expected_counts always gives 0
OPT_IN_TABLES: tuple[str, ...] = ("autofill",)
_EVENT_TABLES = TABLES[: TABLES.index("profile")]
_SECTION_TABLES = TABLES[TABLES.index("profile") + 1 :]
_SHOP_TABLES = frozenset({"shop_product_browsing", "shop_orders", "shop_vouchers"})
_SNAPSHOT_TABLES = ("followers", "following", "blocked_accounts")  # keyed by username
_LAZY_TABLES = ("watch_history", "likes", "favorite_videos")

FAMILIES: tuple[str, ...] = ("F", "A", "A-activity", "B", "C", "D", "E")
TXT_GENERATIONS: tuple[str, ...] = ("1", "2022", "2", "2025", "nl")  # oldest first
_OLD_TXT = frozenset({"1", "2022"})  # old labels, bracketed DMs, posts with date/link/likes only
_ROOTED_TXT = frozenset({"2022"})  # ZIP member names start with "/", no epoch folder

_ALL = frozenset(TABLES)
_BASE = frozenset(TABLES[: TABLES.index("profile") + 1])  # the event tables and the profile
_RECORDS = frozenset({"devices", "hashtags", "ad_interests", "settings"})  # Status, Hashtag, Ad Interests, Settings
_ACTIVITY_ONLY = frozenset(
    {
        "watch_history",
        "likes",
        "favorite_videos",
        "favorite_sounds",
        "favorite_effects",
        "favorite_hashtags",
        "searches",
        "shares",
        "logins",
        "comments",
        "followers",
        "following",
        "purchases",
    }
)
FAMILY_TABLES: dict[str, frozenset[str]] = {
    "F": _BASE - {"favorite_collections"} | _RECORDS,
    "A": _BASE - {"favorite_collections"} | _RECORDS | {"live_history"} | _SHOP_TABLES,
    "A-activity": _ACTIVITY_ONLY | {"devices", "hashtags"},
    "B": _ALL - {"activity_summary"},
    "C": _ALL,
    "D": _ALL,
    "E": frozenset({"profile", "followers", "following", "posts"}),
}
TXT_TABLES: dict[str, frozenset[str]] = {  # no LIVE or Shop files in any TXT generation
    "1": _BASE - {"favorite_collections"} | _RECORDS,
    "2022": _BASE - {"favorite_collections"} | _RECORDS,
    "2": _BASE | _RECORDS,
    "2025": _BASE | _RECORDS | {"activity_summary", "locations"},
    "nl": _BASE | _RECORDS | {"activity_summary", "locations"},
}


# --------------------------------------------------------------------------------------------
# JSON: section paths and list keys
# --------------------------------------------------------------------------------------------


_LIST_KEYS: dict[str, str] = {
    "watch_history": "VideoList",
    "likes": "ItemFavoriteList",
    "favorite_videos": "FavoriteVideoList",
    "favorite_sounds": "FavoriteSoundList",
    "favorite_effects": "FavoriteEffectsList",
    "favorite_hashtags": "FavoriteHashtagList",
    "favorite_collections": "FavoriteCollectionList",
    "searches": "SearchList",
    "shares": "ShareHistoryList",
    "logins": "LoginHistoryList",
    "comments": "CommentsList",
    "direct_messages": "ChatHistory",
    "followers": "FansList",
    "following": "Following",
    "posts": "VideoList",
    "blocked_accounts": "BlockList",
    "off_tiktok_activity": "OffTikTokActivityDataList",
    "profile": "ProfileMap",
    "devices": "Status List",
    "hashtags": "HashtagList",
    "ad_interests": "AdInterestCategories",  # one string: "Food & Drink|Travel|Pets"
    "live_history": "GoLiveList",  # and "Watch Live History › WatchLiveMap" next to it
    "activity_summary": "ActivitySummaryMap",
    "settings": "SettingsMap",
    "locations": "LocationData",  # one object, not a list
    "shop_product_browsing": "ProductBrowsingHistories",
    "shop_orders": "OrderHistories",  # a map: order id -> order
    "shop_vouchers": "Vouchers",
}
_OLD_OFF_TIKTOK = ("Usage Data From Third-Party Apps And Websites", "UsageDataList")  # family F's name
_WATCH_LIVE = ("Watch Live History", "WatchLiveMap")  # the second section of live_history

_A_PATHS: dict[str, tuple[str, str]] = {
    "watch_history": ("Activity", "Video Browsing History"),
    "likes": ("Activity", "Like List"),
    "favorite_videos": ("Activity", "Favorite Videos"),
    "favorite_sounds": ("Activity", "Favorite Sounds"),
    "favorite_effects": ("Activity", "Favorite Effects"),
    "favorite_hashtags": ("Activity", "Favorite Hashtags"),
    "followers": ("Activity", "Follower List"),
    "following": ("Activity", "Following List"),
    "searches": ("Activity", "Search History"),
    "shares": ("Activity", "Share History"),
    "logins": ("Activity", "Login History"),
    "purchases": ("Activity", "Purchase History"),
    "off_tiktok_activity": ("Ads and data", "Off TikTok Activity"),
    "comments": ("Comment", "Comments"),
    "direct_messages": ("Direct Messages", "Chat History"),
    "posts": ("Video", "Videos"),
    "profile": ("Profile", "Profile Information"),
    "blocked_accounts": ("App Settings", "Block"),
    "devices": ("Activity", "Status"),
    "hashtags": ("Activity", "Hashtag"),
    "ad_interests": ("Ads and data", "Ad Interests"),
    "settings": ("App Settings", "Settings"),
    "live_history": ("Tiktok Live", "Go Live History"),
    "shop_product_browsing": ("Tiktok Shopping", "Product Browsing History"),
    "shop_orders": ("Tiktok Shopping", "Order History"),
    "shop_vouchers": ("Tiktok Shopping", "Vouchers"),
}
_B_PATHS: dict[str, tuple[str, str]] = {
    "watch_history": ("Your Activity", "Watch History"),
    "likes": ("Your Activity", "Like List"),
    "favorite_videos": ("Your Activity", "Favorite Videos"),
    "favorite_sounds": ("Your Activity", "Favorite Sounds"),
    "favorite_effects": ("Your Activity", "Favorite Effects"),
    "favorite_hashtags": ("Your Activity", "Favorite Hashtags"),
    "favorite_collections": ("Your Activity", "Favorite Collection"),
    "followers": ("Your Activity", "Follower"),
    "following": ("Your Activity", "Following"),
    "searches": ("Your Activity", "Searches"),
    "shares": ("Your Activity", "Share History"),
    "logins": ("Your Activity", "Login History"),
    "purchases": ("Your Activity", "Purchases"),
    "off_tiktok_activity": ("Ads and data", "Off TikTok Activity"),
    "comments": ("Comment", "Comments"),
    "direct_messages": ("Direct Message", "Direct Messages"),
    "posts": ("Post", "Posts"),
    "profile": ("Profile", "Profile Info"),
    "blocked_accounts": ("App Settings", "Block List"),
    "devices": ("Your Activity", "Status"),
    "hashtags": ("Your Activity", "Hashtag"),
    "ad_interests": ("Ads and data", "Ad Interests"),
    "settings": ("App Settings", "Settings"),
    "live_history": ("Tiktok Live", "Go Live History"),
    "locations": ("Your Activity", "Most Recent Location Data"),
    "shop_product_browsing": ("TikTok Shop", "Product Browsing History"),
    "shop_orders": ("TikTok Shop", "Order History"),
    "shop_vouchers": ("TikTok Shop", "Vouchers"),
}
_C_PATHS: dict[str, tuple[str, str]] = {
    **_B_PATHS,
    "likes": ("Likes and Favorites", "Like List"),
    "favorite_videos": ("Likes and Favorites", "Favorite Videos"),
    "favorite_sounds": ("Likes and Favorites", "Favorite Sounds"),
    "favorite_effects": ("Likes and Favorites", "Favorite Effects"),
    "favorite_hashtags": ("Likes and Favorites", "Favorite Hashtags"),
    "followers": ("Profile And Settings", "Follower"),
    "following": ("Profile And Settings", "Following"),
    "profile": ("Profile And Settings", "Profile Info"),
    "blocked_accounts": ("Profile And Settings", "Block List"),
    "off_tiktok_activity": ("Your Activity", "Off TikTok Activity"),
    "ad_interests": ("Your Activity", "Ad Interests"),
    "settings": ("Profile And Settings", "Settings"),
    "live_history": ("TikTok Live", "Go Live History"),
    "activity_summary": ("Your Activity", "Activity Summary"),
}
# live_history's path is its "Go Live History" section; "Watch Live History" is next to it (_WATCH_LIVE)
JSON_PATHS: dict[str, dict[str, tuple[str, str]]] = {
    "F": {
        **{t: p for t, p in _A_PATHS.items() if t in FAMILY_TABLES["F"]},
        "off_tiktok_activity": ("Ads and data", _OLD_OFF_TIKTOK[0]),
    },
    "A": _A_PATHS,
    "A-activity": {
        **{t: p for t, p in _A_PATHS.items() if t in FAMILY_TABLES["A-activity"]},
        "comments": ("Activity", "Comments"),
    },
    "B": _B_PATHS,
    "C": _C_PATHS,
    "D": {**_C_PATHS, "favorite_collections": ("Likes and Favorites", "Favorite Collection")},
    "E": {
        "followers": ("Profile", "Follower List"),
        "following": ("Profile", "Following List"),
        "profile": ("Profile", "Profile Information"),
        "posts": ("Video", "Videos"),
    },
}
_UNKNOWN_TOP = {"F": "Activity", "A": "Activity", "A-activity": "Activity", "E": "Profile"}

# TXT: table -> (folder, file name) per generation; the root prefix is added at export time
_TXT1: dict[str, tuple[str, str]] = {
    "watch_history": ("Activity", "Video Browsing History.txt"),
    "likes": ("Activity", "Like List.txt"),
    "favorite_videos": ("Activity", "Favorite Videos.txt"),
    "favorite_sounds": ("Activity", "Favorite Sounds.txt"),
    "favorite_effects": ("Activity", "Favorite Effects.txt"),
    "favorite_hashtags": ("Activity", "Favorite HashTags.txt"),
    "followers": ("Activity", "Follower List.txt"),
    "following": ("Activity", "Following List.txt"),
    "searches": ("Activity", "Search History.txt"),
    "shares": ("Activity", "Share History.txt"),
    "logins": ("Activity", "Login History.txt"),
    "purchases": ("Activity", "Purchase History.txt"),
    "devices": ("Activity", "Status.txt"),
    "hashtags": ("Activity", "Hashtag.txt"),
    "unknown": ("Activity", "Synthetic Future Section.txt"),
    "off_tiktok_activity": ("Ads and data", "Off TikTok Activity.txt"),
    "ad_interests": ("Ads and data", "Ad Interests.txt"),
    "blocked_accounts": ("App Settings", "Block List.txt"),
    "settings": ("App Settings", "Settings.txt"),
    "comments": ("Comments", "Comments.txt"),
    "direct_messages": ("Direct Messages", "Direct Messages.txt"),
    "profile": ("Profile", "Profile Info.txt"),
    "posts": ("Videos", "Videos.txt"),
}
# 2022: the TXT-1 folders with the file names of that year (docs/export-formats.md)
_TXT2022: dict[str, tuple[str, str]] = {
    **_TXT1,
    "watch_history": ("Activity", "Video Browsing.txt"),
    "likes": ("Activity", "Likes.txt"),
    "followers": ("Activity", "Follower.txt"),
    "following": ("Activity", "Following.txt"),
    "searches": ("Activity", "Searches.txt"),
    "shares": ("Activity", "Sharing.txt"),
    "purchases": ("Activity", "Purchases.txt"),
    "off_tiktok_activity": ("Ads and data", "Usage_Data_from_Third-party Apps and Websites.txt"),
    "ads_partners": ("Ads and data", "Ads_Based_On_Data_Received_from_Partners.txt"),
}
_TXT2: dict[str, tuple[str, str]] = {
    "watch_history": ("Tiktok/Activity", "Browsing History.txt"),
    "likes": ("Tiktok/Activity", "Like List.txt"),
    "favorite_videos": ("Tiktok/Activity", "Favorite Videos.txt"),
    "favorite_sounds": ("Tiktok/Activity", "Favorite Sounds.txt"),
    "favorite_effects": ("Tiktok/Activity", "Favorite Effects.txt"),
    "favorite_hashtags": ("Tiktok/Activity", "Favorite HashTags.txt"),
    "favorite_collections": ("Tiktok/Activity", "Favorite Collections.txt"),
    "followers": ("Tiktok/Activity", "Follower.txt"),
    "following": ("Tiktok/Activity", "Following.txt"),
    "searches": ("Tiktok/Activity", "Searches.txt"),
    "shares": ("Tiktok/Activity", "Share History.txt"),
    "logins": ("Tiktok/Activity", "Login History.txt"),
    "purchases": ("Tiktok/Activity", "Purchases.txt"),
    "comments": ("Tiktok/Activity", "Comments.txt"),
    "devices": ("Tiktok/Activity", "Status.txt"),
    "hashtags": ("Tiktok/Activity", "Hashtag.txt"),
    "unknown": ("Tiktok/Activity", "Synthetic Future Section.txt"),
    "off_tiktok_activity": ("Tiktok/Ads and data", "Off TikTok Activity.txt"),
    "ad_interests": ("Tiktok/Ads and data", "Ad Interests.txt"),
    "blocked_accounts": ("Tiktok/App Settings", "Block List.txt"),
    "settings": ("Tiktok/App Settings", "Settings.txt"),
    "direct_messages": ("Tiktok/Direct Messages", "Direct Messages.txt"),
    "profile": ("Tiktok/Profile", "Profile Info.txt"),
    "posts": ("Tiktok/Post", "Posts.txt"),
}
_TXT2025: dict[str, tuple[str, str]] = {
    "watch_history": ("Your Activity/Activity", "Watch History.txt"),
    "searches": ("Your Activity/Activity", "Searches.txt"),
    "shares": ("Your Activity/Activity", "Share History.txt"),
    "logins": ("Your Activity/Activity", "Login History.txt"),
    "purchases": ("Your Activity/Activity", "Purchases.txt"),
    "off_tiktok_activity": ("Your Activity/Activity", "Off TikTok Activity.txt"),
    "devices": ("Your Activity/Activity", "Status.txt"),
    "hashtags": ("Your Activity/Activity", "Hashtag.txt"),
    "ad_interests": ("Your Activity/Activity", "Ad Interests.txt"),
    "activity_summary": ("Your Activity/Activity", "Activity Summary.txt"),
    "locations": ("Your Activity/Activity", "Most Recent Location Data.txt"),
    "unknown": ("Your Activity/Activity", "Synthetic Future Section.txt"),
    "likes": ("Your Activity/Likes and Favorites", "Like List.txt"),
    "favorite_videos": ("Your Activity/Likes and Favorites", "Favorite Videos.txt"),
    "favorite_sounds": ("Your Activity/Likes and Favorites", "Favorite Sounds.txt"),
    "favorite_effects": ("Your Activity/Likes and Favorites", "Favorite Effects.txt"),
    "favorite_hashtags": ("Your Activity/Likes and Favorites", "Favorite HashTags.txt"),
    "favorite_collections": ("Your Activity/Likes and Favorites", "Favorite Collections.txt"),
    "comments": ("Your Activity/Comment", "Comments.txt"),
    "direct_messages": ("Your Activity/Direct Message", "Direct Messages.txt"),
    "posts": ("Your Activity/Post", "Posts.txt"),
    "profile": ("Profile And Settings/Profile", "Profile Info.txt"),
    "followers": ("Profile And Settings/Followers and Following", "Follower.txt"),
    "following": ("Profile And Settings/Followers and Following", "Following.txt"),
    "blocked_accounts": ("Profile And Settings/Block List", "Block List.txt"),
    "settings": ("Profile And Settings/Settings", "Settings.txt"),
}
_NL_NAMES = {
    "watch_history": "Kijkgeschiedenis.txt",
    "likes": "Likelijst.txt",
    "followers": "Volger.txt",
    "following": "Volgend.txt",
    "searches": "Zoekopdrachten.txt",
    "direct_messages": "Directe berichten.txt",
}
TXT_FILES: dict[str, dict[str, tuple[str, str]]] = {
    "1": _TXT1,
    "2022": _TXT2022,
    "2": _TXT2,
    "2025": _TXT2025,
    "nl": {k: (folder, _NL_NAMES.get(k, name)) for k, (folder, name) in _TXT2025.items()},
}
# TXT_FILES keys of the sections without a table that a generation writes with data
_TXT_UNMODELLED_KEYS: dict[str, tuple[str, ...]] = {
    "2022": ("ads_partners",),
}
