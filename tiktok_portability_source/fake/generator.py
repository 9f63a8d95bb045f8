r"""Deterministic synthetic TikTok export archives.

Tests, the demo, the fake API and the benchmarks all need TikTok exports, and real ones are
personal data that must never be committed. This module fabricates them instead: a
:class:`UserHistory` is one user's events over a time span, and :meth:`UserHistory.export`
writes what a TikTok export taken at a given moment would contain, in any of the layout families
and TXT generations described in ``docs/export-formats.md``. Because the history is
the single source of truth, :meth:`UserHistory.expected_counts` can tell exactly how many distinct
rows a correct loader must produce from any set of exports of it.

All values are fabricated: usernames ``user_0042``, IPs from 203.0.113.0/24 and 198.51.100.0/24,
``example.com`` e-mail addresses, 19-digit ids starting with 7. Output is byte-identical for the
same arguments (seeded ``random.Random``, fixed ZIP timestamps, sorted iteration).

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

Quirks of real exports that the generator reproduces (docs/export-formats.md), each present in the
default exports wherever the format has the section:

- **The ``" UTC"`` suffix** on TXT dates: ``"2025"`` and ``"nl"`` write it on every dated record
  (``Date: 2025-09-01 08:00:00 UTC``, purchases, posts and the synthetic section included);
  ``"2"`` on about half of the dated files (``_TXT_UTC``: logins, likes, favourite videos and
  effects, searches, comments, followers, blocked accounts, posts; not watch history);
  ``"1"`` and ``"2022"`` never. JSON dates have no suffix except family D comments.
- **TXT direct messages, two grammars.** ``"1"`` and ``"2022"``: a thread header
  ``>>> Chat History with NAME:`` and message lines ``[YYYY-MM-DD HH:MM:SS] sender: text``.
  ``"2"``, ``"2025"``, ``"nl"``: a header ``>>> Chat History with NAME::`` (double colon) and
  lines ``YYYY-MM-DD HH:MM:SS UTC sender: text`` (no brackets). Threads are separated by a blank
  line. Message contents (JSON ``Content`` too) are plain texts, share links (video or profile),
  media URLs in square brackets (``[https://p16-sign.tiktokcdn.com/tos-…/<hex>.jpeg]``), or
  texts of several lines (``"running late\nsee you at 5: ok?"``): in TXT the following lines
  hold the rest of the text, unlabelled, and may contain ``": "``; they never start with a date,
  ``[`` or ``>>>`` and are never blank. Every 6th message (index 1 mod 6) is a media URL and
  every 6th (index 4 mod 6) a multi-line text; message 3 is always a share link.
- **Photo-mode posts** (post 1 and every 7th after it, 3 images): JSON ``Link`` joins the image
  URLs with ``\n``; TXT writes the first URL after ``Link:`` (``Video Link:`` in ``"1"``/``"2022"``)
  and each further URL alone on the next line, unlabelled. The ``\n``-joined string of all URLs is
  therefore the same in both formats (``UserHistory.expected_rows`` ``media_links``).
- **Multi-line comments**: comment 1 and every 4th after it (index 1 mod 4) run over several
  lines (``\n`` in JSON; continuation lines in TXT, e.g. ``second line: still the comment``,
  which contains ``": "`` but never starts with a label word of the file).
- **Deleted accounts** (``"N/A"``): followers 2 and 5 (when there are >= 3 / >= 6 followers),
  one following account (>= 3) and the first blocked account (>= 2 blocks) are ``"N/A"``
  (``"UserName": "N/A"`` / ``Username: N/A``), each with a real, distinct date. Deleted
  followers/following follow early (the lowest strata of the growth curve), so they are in every
  export taken after the first months. **Rule for expected counts:** a deleted account is a row
  (username NULL), one per distinct (table, date): ``expected_counts`` keys real accounts by
  username and ``N/A`` entries by their date. ``unfollowed_between`` ignores them.
- **Posts keep all their fields**: JSON families B/C/D/E and TXT ``"2"``/``"2025"``/``"nl"``
  write likes, ``WhoCanView``, ``AllowComments``, ``AllowStitches``, ``AllowDuets``,
  ``AllowStickers``, ``AllowSharingToStory``, ``ContentDisclosure``, ``AIGeneratedContent``,
  ``Sound``, ``Location``, ``Title`` and ``AddYoursText`` (a real text on posts 1 mod 3, else
  ``"N/A"``); D and TXT ``"2025"``/``"nl"`` also ``AlternateText`` (real on posts 2 mod 4) and
  ``CoverImage``. TXT labels are sentence-case as TikTok writes them: ``Like(s)``,
  ``Who can view``, ``Allow comments``, ``Allow stitches``, ``Allow duets``, ``Allow stickers``,
  ``Allow sharing to story``, ``Content disclosure``, ``AI generated content``, ``Sound``,
  ``Location``, ``Title``, ``Adds yours text`` (sic), ``Alternate text``, ``Cover image``.
  Families A/F and TXT ``"1"``/``"2022"`` keep only date, link and likes.

Choices where the reference is silent or ambiguous:

- Every table's events have distinct timestamps, so natural keys never collide; watch history
  re-watches a video at another time (a distinct row). Duplicates are exact repeats of rows in
  watch history, shares and searches (``GeneratedArchive.duplicate_rows``).
- Watch window: ``at - 180 days < timestamp <= at``. Other events: ``timestamp <= at``.
  Followers/following: ``follow <= at < unfollow``.
- ``expected["profile"]`` counts distinct ``exported_at`` among exports carrying a profile.
- Posts: family A/F (and TXT ``"1"``/``"2022"``) items have only date, link and likes, so
  the same post exported by A and by B+ shows different (timestamp, sound, title); expected
  counts count the post once (one event), i.e. a loader must merge posts on their timestamp in
  that case. Post links are signed per export (expiry and signature depend on ``at``), so the
  same post has a different ``Link`` in every export: never key on it.
- ``UserHistory.expected_rows`` gives, for posts, comments and direct messages, the values a
  correct loader stores (its docstring says exactly which).
- ``likesReceived`` is the string sum of the likes of posts made by ``at``, ``"None"`` if none.
  ``followerCount``/``followingCount`` (ints, "late 2025") appear only in C and D and count
  real (not deleted) accounts.
- TXT ``"nl"`` writes the Dutch sentinel ``Dit gedeelte bevat geen gegevens``; folders and labels
  stay English. TXT-1 file names follow the old JSON section names (``Follower List.txt``,
  ``Search History.txt``, ``Purchase History.txt``, ``Videos.txt``…), TXT ``"1"``/``"2022"``
  hashtags use a single colon ``HashTag Link:``, later generations the double colon.
- Off-TikTok activity is not duplicated under ``Profile And Settings`` in D (docs/export-formats.md mentions it for
  some 2026 exports); it lives under ``Your Activity`` only.
- Known sections without a table that carry data are listed in
  ``GeneratedArchive.unmodelled_sections``: JSON ``<Tiktok|TikTok> Live › Go Live Settings``
  (A–D) and TXT ``"2022"``'s ``Ads_Based_On_Data_Received_from_Partners.txt``; no TXT export
  writes LIVE or Shop files. Placeholders such as Shop communication and reviews, wallet, POI
  reviews or ``Recently Deleted Posts: []`` hold nothing and are not listed. ``export``'s
  ``unmodelled_sections=False`` leaves the listed ones out; sections with a table always stay.

Behaviour, so that analyses of generated data tell a story (times are UTC and stand in for the
user's local time):

- A daily and weekly rhythm (``_Rhythm``): activity peaks in the evening (18–23 h) and at lunch,
  is low from 2 to 6 h, and is higher at the weekend; some weeks are busier, some days quiet.
- Watch history comes in sessions: ~20 videos on average (1–60), 9–59 s apart with an
  occasional pause of 3–25 min, sessions at least 40 min apart and placed by the rhythm. A tiny
  history still has 8 sessions; a history too dense for this (say 1M rows in 6 months) gets
  shorter breaks, then a faster tempo, down to one video per second. Every 8th row re-watches one
  of the 4 videos before it.
- Likes and favourite videos come a few seconds after a view of the same video (before the next
  video starts), searches a few seconds before a view; shares (of the video just watched),
  comments, favourite sounds/effects/hashtags/collections, gifts and blocks a few seconds after
  one; logins just before the first video of a session. (A table with more events than there are
  watched videos follows the rhythm instead.)
- DMs come in bursts: a thread wakes up at a time the rhythm picks and 2–10 messages go back and
  forth, seconds to minutes apart; a few threads get most bursts.
- Posts come at a steady cadence with jitter (weekly for the demo sizes), mostly in the evening;
  their likes are log-normal, grow with the account, are higher for evening and weekend posts,
  and a few posts are clear hits.
- Followers and following grow at an increasing rate (cumulative ~ t^1.4); the accounts that
  leave (``unfollow_fraction``) followed in the first half of the time before they left.
- Off-TikTok activity follows the rhythm.

Watch history is generated lazily by index (random access, per-session arrays only, no per-row
storage), and likes and favourite videos by index from it, so an archive with millions of watch
rows streams into the ZIP member in chunks with bounded memory. Note that an export only holds
the last 180 days of watch history: to get ``N`` watch rows into a single export, let the history
start no earlier than 180 days before ``at``.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
import shutil
import time
import zipfile
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import orjson

__all__ = [
    "EMPTY_STYLES",
    "FAMILIES",
    "FAMILY_TABLES",
    "GeneratedArchive",
    "JSON_PATHS",
    "NO_DATA_SENTINEL",
    "NO_DATA_SENTINEL_NL",
    "OPT_IN_TABLES",
    "SEP",
    "Sizes",
    "TABLES",
    "TXT_FILES",
    "TXT_GENERATIONS",
    "TXT_TABLES",
    "UserHistory",
    "WATCH_RETENTION",
    "generate_archive",
]

UTC = timezone.utc
SEP = " › "  # separator used in section paths such as "Your Activity › Status"
WATCH_RETENTION = timedelta(days=180)  # docs/export-formats.md: watch history covers ~6 months
NO_DATA_SENTINEL = "You have no data in this section"
NO_DATA_SENTINEL_NL = "Dit gedeelte bevat geen gegevens"
GROUP_CHAT = "Group_Chat_7000000000000000006"

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
EMPTY_STYLES: tuple[str, ...] = ("mixed", "null", "list", "object", "absent", "no-data")

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
# sizes and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """How many distinct events of each kind the history holds over its whole span."""

    watch_history: int = 60
    likes: int = 40
    favorite_videos: int = 8
    favorite_sounds: int = 5
    favorite_effects: int = 4
    favorite_hashtags: int = 4
    favorite_collections: int = 3
    searches: int = 20
    shares: int = 12
    logins: int = 10
    comments: int = 10
    direct_messages: int = 30
    followers: int = 25
    following: int = 20
    posts: int = 8
    blocked_accounts: int = 2
    off_tiktok_activity: int = 6
    purchases: int = 4
    devices: int = 2  # Status records (phones, tablets), each listed from the time it was first used
    hashtags: int = 4  # hashtags of the user's own posts
    ad_interests: int = 3  # categories, each inferred from some time on
    live_history: int = 2  # LIVEs gone live with, and LIVE rooms watched (half of them commented on)
    locations: int = 3  # location fixes; an export shows the most recent one
    shop_product_browsing: int = 3
    shop_orders: int = 2
    shop_vouchers: int = 2

    @classmethod
    def scaled(cls, factor: float) -> "Sizes":
        """Default sizes times ``factor``; a non-zero default never rounds down to zero."""
        if factor < 0:
            raise ValueError("factor must be >= 0")
        base = cls()
        values = {}
        for f in fields(cls):
            v = getattr(base, f.name)
            values[f.name] = 0 if factor == 0 else max(1, round(v * factor))
        return cls(**values)


@dataclass
class GeneratedArchive:
    """One written export and what a loader must make of it."""

    path: Path  # the .zip, the bare JSON file, or the folder
    family: str  # "F" … "E" for JSON, "TXT-1", "TXT-2022", "TXT-2", "TXT-2025", "TXT-nl" for TXT
    data_format: str  # "json" or "txt"
    username: str | None  # None when the export has no profile section
    exported_at: datetime
    unknown_sections: list[str]  # sections TikTok never had (synthetic), as paths / file names
    expected: dict[str, int]  # = history.expected_counts([self])
    # extensions beyond the brief, useful for tests:
    unmodelled_sections: list[str] = field(default_factory=list)  # real sections with data, no table
    duplicate_rows: dict[str, int] = field(default_factory=dict)  # exact repeats written per table
    tables: frozenset[str] = frozenset()  # tables whose section this export carries
    txt_generation: str | None = None
    history_key: str = field(default="", repr=False)
    autofill_values: int = 0  # Autofill values that are not "N/A" (real made-up contact details)


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------

_M64 = (1 << 64) - 1
_ID_BASE = 7 * 10**18
_ID_SPAN = 10**18


def _mix(x: int) -> int:
    """splitmix64: a cheap, well-spread integer hash for lazily generated rows."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _vid(h: int) -> str:
    """A 19-digit id starting with 7, as TikTok video/sound/effect ids look."""
    return str(_ID_BASE + h % _ID_SPAN)


_DAY_CACHE: dict[int, str] = {}
_HM = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SS = [f"{s:02d}" for s in range(60)]


def _fmt(ts: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC; table-driven because it runs once per watch row."""
    d, s = divmod(ts, 86400)
    day = _DAY_CACHE.get(d)
    if day is None:
        day = time.strftime("%Y-%m-%d ", time.gmtime(d * 86400))
        _DAY_CACHE[d] = day
    m, sec = divmod(s, 60)
    return day + _HM[m] + _SS[sec]


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _share_link(form: int, vid: str, user: str) -> str:
    """Video share links in the forms of docs/export-formats.md"""
    if form == 3:
        return f"https://www.tiktok.com/@{user}/video/{vid}"
    return f"https://www.tiktokv.com/share/video/{vid}/"


def _user(n: int) -> str:
    return f"user_{n:04d}"


def _uuid(rng: random.Random) -> str:
    """An upper-case UUID-shaped id (IDFA, IDFV) from a seeded stream."""
    h = f"{rng.getrandbits(128):032X}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Absent:
    """Marks a section that the chosen empty style leaves out entirely."""


_ABSENT = _Absent()


class _LazyList:
    """A JSON list written in chunks: a factory of item-list chunks, never materialised whole."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: Callable[[], Iterator[list[dict[str, Any]]]]):
        self.chunks = chunks


# --------------------------------------------------------------------------------------------
# events
# --------------------------------------------------------------------------------------------


class _Rhythm:
    """When the user is on the app: an intensity over [start, end) that is an hour-of-day profile
    (evening and lunch peaks, quiet nights; weekends later and busier) times a weekday factor
    times a seeded per-day and per-week factor (busy weeks, quiet days).

    ``time(v)`` is the inverse of the cumulative intensity: v spread evenly over [0, total) give
    instants spread like the user's activity. One cumulative weight per day: a year costs a few KB.
    """

    __slots__ = ("cum", "end", "factors", "first", "head", "start", "tail", "total")

    def __init__(self, start_s: int, end_s: int, salt: int):
        self.start, self.end = start_s, max(end_s, start_s + 1)  # end exclusive
        first, last = self.start // 86400, (self.end - 1) // 86400
        rng = random.Random(salt)
        w0 = (first + 3) // 7  # weeks start on Monday
        weeks = [0.75 + 0.5 * rng.random() for _ in range((last + 3) // 7 - w0 + 1)]  # busy and quiet weeks
        self.first = first
        self.factors = factors = [
            _WEEKDAY_FACTORS[(d + 3) % 7] * weeks[(d + 3) // 7 - w0] * (0.25 if u < 0.08 else 0.65 + 0.76 * (u - 0.08))
            for d, u in zip(range(first, last + 1), [rng.random() for _ in range(last - first + 1)])
        ]  # 8 % quiet days
        weights = [f * _HOUR_CUM[1 if (d + 3) % 7 >= 5 else 0][24] for d, f in zip(range(first, last + 1), factors)]
        # the covered seconds [a, b) of the first and last day, and the weight before a
        self.head = (max(self.start - first * 86400, 0), _cum_at(_prof(first), self.start - first * 86400))
        self.tail = min(self.end - last * 86400, 86400)
        weights[-1] = factors[-1] * _cum_at(_prof(last), self.tail)
        weights[0] -= factors[0] * self.head[1]
        self.cum = [0.0, *accumulate(weights)]
        self.total = self.cum[-1]

    def _day(self, i: int) -> tuple[int, int, int, float, int, float]:
        """(midnight, first second, end second, factor, profile, weight before first second)"""
        last = len(self.factors) - 1
        d = self.first + i
        a, c0 = self.head if i == 0 else (0, 0.0)
        return d * 86400, a, self.tail if i == last else 86400, self.factors[i], _prof(d), c0

    def time(self, v: float) -> int:
        """The instant at cumulative intensity v (clamped into [start, end)); monotone in v."""
        return self.times_at((v,))[0]

    def times_at(self, vs: Sequence[float]) -> array:
        """``time(v)`` for ascending ``vs``, walking the days once instead of a bisect each."""
        out = array("q")
        cum, hour_cum, hour_w = self.cum, _HOUR_CUM, _HOUR_WEIGHTS
        last = len(self.factors) - 1
        i = 0 if not vs else min(max(bisect_right(cum, vs[0]) - 1, 0), last)
        base, a, b, factor, prof, c0 = self._day(i)
        for v in vs:
            if i < last and cum[i + 1] <= v:
                while i < last and cum[i + 1] <= v:
                    i += 1
                base, a, b, factor, prof, c0 = self._day(i)
            r = c0 + (v - cum[i]) / factor
            cum_h = hour_cum[prof]
            h = min(max(bisect_right(cum_h, r) - 1, 0), 23)
            x = int(3600 * h + (r - cum_h[h]) * 3600 / hour_w[prof][h])
            out.append(base + min(max(x, a), b - 1))
        return out

    def times(self, rng: random.Random, n: int) -> list[int]:
        """n distinct whole-second instants drawn from the rhythm, ascending."""
        n = min(max(n, 0), self.end - self.start)
        return _spread(self.times_at(sorted(rng.random() * self.total for _ in range(n))), self.start, self.end - 1)


# relative activity per hour of day (UTC stands in for the user's local time)
_HOUR_WEIGHTS: tuple[tuple[float, ...], tuple[float, ...]] = (
    (0.9, 0.4, 0.12, 0.05, 0.04, 0.08, 0.35, 0.8, 0.75, 0.5, 0.5, 0.7,  # Monday … Friday
     1.6, 1.5, 0.7, 0.6, 0.8, 1.1, 1.7, 2.2, 2.6, 2.8, 2.5, 1.7),
    (1.4, 0.9, 0.3, 0.1, 0.05, 0.05, 0.1, 0.25, 0.5, 0.9, 1.2, 1.4,  # Saturday, Sunday
     1.6, 1.6, 1.4, 1.3, 1.3, 1.5, 1.8, 2.2, 2.6, 2.8, 2.6, 2.1),
)
_HOUR_CUM: tuple[list[float], list[float]] = tuple(  # type: ignore[assignment]
    [sum(w[:h]) for h in range(25)] for w in _HOUR_WEIGHTS
)
_WEEKDAY_FACTORS = (0.9, 0.9, 0.95, 1.0, 1.1, 1.3, 1.25)  # Monday … Sunday
# posting: mostly in the evening; posts that go up in the evening or at the weekend get more likes
_POST_HOURS = (0.3, 0.1, 0.0, 0.0, 0.0, 0.0, 0.05, 0.2, 0.3, 0.3, 0.4, 0.5,
               0.9, 0.8, 0.5, 0.5, 0.7, 1.2, 1.8, 2.2, 2.3, 1.9, 1.2, 0.6)
_POST_HOUR_LIKES = (0.8, 0.6, 0.5, 0.5, 0.5, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.85,
                    1.0, 1.0, 0.9, 0.9, 1.0, 1.15, 1.3, 1.45, 1.5, 1.4, 1.2, 1.0)
_POST_WEEKDAY_LIKES = (0.85, 0.9, 0.95, 1.0, 1.1, 1.3, 1.25)


def _prof(day: int) -> int:
    """Hour profile of a day number: 0 on weekdays, 1 at the weekend."""
    return 1 if (day + 3) % 7 >= 5 else 0


def _cum_at(prof: int, x: int) -> float:
    """Cumulative hourly weight of profile ``prof`` from midnight to second ``x`` of the day."""
    h = min(x // 3600, 23)
    return _HOUR_CUM[prof][h] + _HOUR_WEIGHTS[prof][h] * (x - 3600 * h) / 3600


def _spread(ts: Sequence[int], lo: int, hi: int) -> list[int]:
    """Ascending ``ts`` made strictly increasing within [lo, hi] by moving as little as needed
    (needs len(ts) <= hi - lo + 1)."""
    out = list(ts)
    prev = lo - 1
    for i, t in enumerate(out):
        prev = out[i] = t if t > prev else prev + 1
    nxt = hi + 1
    for i in range(len(out) - 1, -1, -1):
        nxt = out[i] = out[i] if out[i] < nxt else nxt - 1
    return out


_MEAN_SESSION = 20  # videos per watch session on average (fewer for tiny histories)
_MIN_SESSIONS = 8  # even a tiny history is spread over this many sessions
_FOLLOW_GROWTH = 1.4  # cumulative follows ~ t^1.4: the rate grows over time
_BREAK = 40 * 60  # at least this long between two sessions (the analyses split at > 30 min)
_MIN_BREAK = 2 * 60  # … unless the history is too dense for that (then sessions run together)
_FILL = 0.7  # share of a history's span that watch sessions may fill


class _TimeIndexed:
    """Index ranges of time windows by binary search on the monotone ``ts``."""

    n: int

    def ts(self, i: int) -> int:
        raise NotImplementedError

    def first_after(self, t: float) -> int:
        """Smallest index whose timestamp is > t (binary search on the monotone ts)."""
        lo, hi = 0, self.n
        while lo < hi:
            mid = (lo + hi) // 2
            if self.ts(mid) <= t:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def window(self, after: float | None, upto: float) -> tuple[int, int]:
        """Index range [lo, hi) of events with after < ts <= upto."""
        lo = 0 if after is None else self.first_after(after)
        hi = self.first_after(upto)
        return lo, max(lo, hi)


class _VideoEvents(_TimeIndexed):
    """Watched videos computed from their index, in sessions: timestamps strictly increase, so
    ranges of indices are time windows, and nothing per row is stored (per-session arrays only:
    1M rows in 50k sessions cost ~1.5 MB).

    Session k holds rows ``cum[k] <= i < cum[k+1]`` (1–60 videos, ~20 on average; a tiny
    history still gets 8 sessions) and starts at ``starts[k]``; row i at position p of it is at
    ``starts[k] + p * tempo[k] + jitter(i)`` with tempo 16–40 s and jitter < tempo/2 (so videos
    are 9–59 s apart), plus a pause of 3–25 min after position ``pause_at[k]`` in ~30 % of
    sessions. Sessions start where the :class:`_Rhythm` puts them (stratified, so evenly spread
    in "activity time"), at least 40 min after the previous one ends. A history too dense for
    that (benchmarks put 1M rows in 6 months) first gets shorter breaks (down to 2 min), then
    tempo, pauses and breaks shrink by a common factor, down to one video per second, so
    timestamps always stay distinct and in range.
    """

    def __init__(self, n: int, start_s: int, end_s: int, salt: int, rewatch: bool, rhythm: _Rhythm):
        span = max(1, end_s - start_s)
        self.n = min(max(n, 0), span)  # one event per second at most, keeps timestamps distinct
        self.start = start_s
        self.end = start_s + span  # exclusive
        self.salt = salt
        self.salt2 = _mix(salt + 0x51ED27)
        self.rewatch = rewatch
        self._plan(rhythm)

    def _plan(self, rhythm: _Rhythm) -> None:
        n = self.n
        m = max(round(n / _MEAN_SESSION), min(n, _MIN_SESSIONS)) if n else 0
        self.sessions = m
        salt3 = _mix(self.salt + 0x5E5510)
        raw = array("i")  # unscaled session lengths
        nat_tempo = array("i")
        nat_pause = array("i")
        pause_pos = array("i")
        vs = []  # where each session starts, in cumulative rhythm
        step = rhythm.total / m if m else 0.0
        for k in range(m):  # _mix inlined twice: this runs once per session (50k for 1M rows)
            x = (salt3 + k + 0x9E3779B97F4A7C15) & _M64
            x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
            h = x ^ (x >> 31)
            if (h >> 16) & 0xFF < 31:  # ~12 %: a quick look
                raw.append(1 + (h >> 24) % 4)
            else:
                u = (h & 0xFFFF) / 65536
                raw.append(5 + int(55 * u * u))
            nat_tempo.append(16 + (h >> 26) % 25)
            nat_pause.append(180 + (h >> 40) % 1320 if (h >> 32) & 0xFF < 77 else 0)
            pause_pos.append(h >> 52)
            x = (h + 0x9E3779B97F4A7C15) & _M64
            x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
            vs.append((k + ((x ^ (x >> 31)) & 0xFFF) / 4096) * step)
        desired = rhythm.times_at(vs)
        del vs
        # lengths proportional to raw, each >= 1, summing to n
        cum = array("q", [0])
        lengths = []
        extra, total_raw, acc, prev = n - m, sum(raw), 0, 0
        for k in range(m):
            acc += raw[k]
            c = k + 1 + extra * acc // total_raw
            cum.append(c)
            length = c - prev
            prev = c
            lengths.append(length)
            if length < 2:
                nat_pause[k] = pause_pos[k] = 0
            else:
                pause_pos[k] %= length - 1
        del raw

        # Fit the sessions into the span, filling at most ~70 % of it so the rhythm still shows
        # (all of it if that is impossible): first shorten the breaks (down to 2 min), then
        # shrink tempo, pauses and breaks together (f = 0: one video per second, always fits).
        def need(f: float, gap: int) -> int:
            total = 0
            for length, t, p in zip(lengths, nat_tempo, nat_pause):
                t = int(t * f) or 1
                total += (length - 1) * t + ((t >> 1) or 1) - 1 + int(p * f)
            return total + (m - 1) * gap

        avail = self.end - 1 - self.start
        target = int(avail * _FILL) if n - 1 <= avail * _FILL else avail
        f, gap = 1.0, _BREAK
        total = need(f, gap)
        if total > target and m > 1:
            gap = max(_MIN_BREAK, (target - (total - (m - 1) * _BREAK)) // (m - 1))
            total = need(f, gap)
        while total > target and f > 0.0:
            f = 0.0 if f < 0.01 else min(0.85 * f, f * target / total)
            gap = int(_MIN_BREAK * f) or 1
            total = need(f, gap)
        tempo = array("i", ((int(t * f) or 1) for t in nat_tempo))
        pause = array("i", (int(p * f) for p in nat_pause))

        # earliest start at or after the desired one, then pulled back so the last one fits
        starts = desired
        prev_end = self.start - gap
        for k in range(m):
            s = max(desired[k], prev_end + gap)
            starts[k] = s
            t = tempo[k]
            prev_end = s + (lengths[k] - 1) * t + ((t >> 1) or 1) - 1 + pause[k]
        nxt = self.end - 1 + gap
        for k in range(m - 1, -1, -1):
            t = tempo[k]
            s = min(starts[k], nxt - gap - ((lengths[k] - 1) * t + ((t >> 1) or 1) - 1 + pause[k]))
            starts[k] = s
            nxt = s
        self.cum, self.starts, self.tempo, self.pause, self.pause_at = cum, starts, tempo, pause, pause_pos

    # One hash per row (h = _mix(salt ^ i)) drives the time jitter, the link form and the
    # @user of the link; the video id is a second hash of the (possibly re-watched) row.
    # rows() inlines the same formulas for speed; keep both in step.

    def ts(self, i: int) -> int:
        k = bisect_right(self.cum, i) - 1
        p = i - self.cum[k]
        tempo = self.tempo[k]
        t = self.starts[k] + p * tempo + _mix(self.salt ^ i) % (tempo >> 1 or 1)
        return t + self.pause[k] if p > self.pause_at[k] else t

    def ts_slack(self, i: int) -> tuple[int, int]:
        """ts(i) and how far an event may be moved after or before it and stay strictly
        between its neighbours: consecutive rows of a session are > tempo - (tempo >> 1 or 1)
        apart, sessions further (breaks shrink no faster than tempo)."""
        k = bisect_right(self.cum, i) - 1
        p = i - self.cum[k]
        tempo = self.tempo[k]
        jit = tempo >> 1 or 1
        t = self.starts[k] + p * tempo + _mix(self.salt ^ i) % jit
        return (t + self.pause[k] if p > self.pause_at[k] else t), tempo - jit

    def source_row(self, i: int) -> int:
        """The row whose video row i shows: itself, or for a re-watch one of the 4 rows
        before it (never itself a re-watch, as i % 8 == 5 excludes them)."""
        if self.rewatch and i % 8 == 5:
            return i - 1 - (_mix(self.salt ^ i) >> 20) % 4
        return i

    def video(self, i: int) -> str:
        return _vid(_mix(self.salt2 + self.source_row(i)))

    def link(self, i: int) -> str:
        h = _mix(self.salt ^ i)
        return _share_link((h >> 24) & 3, self.video(i), _user((h >> 26) % 10000))

    def rows(self, lo: int, hi: int) -> Iterator[tuple[str, str]]:
        """(date, link) for indices hi-1 … lo (newest first); the hot loop of big exports."""
        if hi <= lo:
            return
        cum, starts, tempos, pauses, pause_at = self.cum, self.starts, self.tempo, self.pause, self.pause_at
        salt, salt2, rewatch = self.salt, self.salt2, self.rewatch
        fmt = _fmt
        k = bisect_right(cum, hi - 1) - 1
        top = hi - 1
        while top >= lo:  # session by session, newest first
            base = cum[k]
            tempo = tempos[k]
            jit = tempo >> 1 or 1
            first = starts[k] - base * tempo  # ts = first + i * tempo + jitter (+ pause)
            q = base + pause_at[k]
            late = first + pauses[k]
            stop = max(lo, base)
            for i in range(top, stop - 1, -1):
                x = ((salt ^ i) + 0x9E3779B97F4A7C15) & _M64
                x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
                x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
                h = x ^ (x >> 31)
                j = i - 1 - (h >> 20) % 4 if rewatch and i % 8 == 5 else i
                x = (salt2 + j + 0x9E3779B97F4A7C15) & _M64
                x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
                x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
                vid = _ID_BASE + (x ^ (x >> 31)) % _ID_SPAN
                if (h >> 24) & 3 == 3:
                    link = f"https://www.tiktok.com/@user_{(h >> 26) % 10000:04d}/video/{vid}"
                else:
                    link = f"https://www.tiktokv.com/share/video/{vid}/"
                yield fmt((late if i > q else first) + i * tempo + h % jit), link
            top = stop - 1
            k -= 1


class _AttachedEvents(_TimeIndexed):
    """Likes or favourites of watched videos: event j is a few seconds after watch row
    ``row(j)`` and shows the same video. Rows are one per stratum of the watch rows, so they
    increase with j; the delay stays below the smallest gap its session can have to the next
    row, so timestamps strictly increase too and ranges of indices are time windows, as for
    :class:`_VideoEvents`."""

    def __init__(self, n: int, watch: _VideoEvents, salt: int, min_delay: int, max_delay: int):
        self.n = min(max(n, 0), watch.n)
        self.watch = watch
        self.salt = salt
        self.min_delay = min_delay
        self.delays = max_delay - min_delay + 1

    def row(self, j: int) -> int:
        total, n = self.watch.n, self.n
        lo = j * total // n
        return lo + _mix(self.salt ^ j) % ((j + 1) * total // n - lo)

    def ts(self, j: int) -> int:
        h = _mix(self.salt ^ j)
        w = self.row(j)
        t, slack = self.watch.ts_slack(w)
        t += min(self.min_delay + (h >> 40) % self.delays, slack)
        return t if t < self.watch.end else self.watch.end - 1

    def video(self, j: int) -> str:
        return self.watch.video(self.row(j))

    def link(self, j: int) -> str:
        h = _mix(self.salt ^ j)
        return _share_link((h >> 24) & 3, self.video(j), _user((h >> 26) % 10000))

    def rows(self, lo: int, hi: int) -> Iterator[tuple[str, str]]:
        """(date, link) for indices hi-1 … lo (newest first); ts() and video() inlined."""
        watch = self.watch
        cum, starts, tempos, pauses, pause_at = watch.cum, watch.starts, watch.tempo, watch.pause, watch.pause_at
        wsalt, wsalt2, rewatch, wn, last = watch.salt, watch.salt2, watch.rewatch, watch.n, watch.end - 1
        salt, n, min_delay, delays = self.salt, self.n, self.min_delay, self.delays
        fmt = _fmt
        for j in range(hi - 1, lo - 1, -1):
            x = ((salt ^ j) + 0x9E3779B97F4A7C15) & _M64
            x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
            h = x ^ (x >> 31)
            a = j * wn // n
            w = a + h % ((j + 1) * wn // n - a)
            x = ((wsalt ^ w) + 0x9E3779B97F4A7C15) & _M64
            x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
            hw = x ^ (x >> 31)
            k = bisect_right(cum, w) - 1
            p = w - cum[k]
            tempo = tempos[k]
            jit = tempo >> 1 or 1
            t = starts[k] + p * tempo + hw % jit + (pauses[k] if p > pause_at[k] else 0)
            d = min_delay + (h >> 40) % delays
            t += min(d, tempo - jit)
            src = w - 1 - (hw >> 20) % 4 if rewatch and w % 8 == 5 else w
            x = (wsalt2 + src + 0x9E3779B97F4A7C15) & _M64
            x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
            vid = _ID_BASE + (x ^ (x >> 31)) % _ID_SPAN
            if (h >> 24) & 3 == 3:
                link = f"https://www.tiktok.com/@user_{(h >> 26) % 10000:04d}/video/{vid}"
            else:
                link = f"https://www.tiktokv.com/share/video/{vid}/"
            yield fmt(min(t, last)), link


class _Link(NamedTuple):
    ts: int
    link: str


class _Collection(NamedTuple):
    ts: int
    name: str


class _Search(NamedTuple):
    ts: int
    term: str


class _Share(NamedTuple):
    ts: int
    content: str
    link: str
    method: str


class _Login(NamedTuple):
    ts: int
    ip: str
    model: str
    system: str
    network: str
    carrier: str


class _Comment(NamedTuple):
    ts: int
    text: str


class _Message(NamedTuple):
    ts: int
    thread: str
    sender: str
    content: str


class _Follow(NamedTuple):
    ts: int  # follow time
    username: str
    until: int | None  # unfollow time


class _Block(NamedTuple):
    ts: int
    username: str


class _Post(NamedTuple):
    ts: int
    token: str  # hex used to fabricate the CDN path
    likes: str
    sound: str
    title: str
    location: str
    who_can_view: str
    images: int  # 0 = video post, >1 = photo-mode post
    add_yours: str  # "Add Yours" prompt text, "N/A" when none
    alt_text: str  # alternate text (D, TXT-2025/nl), "N/A" when none


class _Off(NamedTuple):
    ts: int
    source: str
    event: str


class _Purchase(NamedTuple):
    ts: int
    kind: str  # "send" or "buy"
    price: str


class _Device(NamedTuple):
    ts: int  # first used: listed in exports from then on
    ios: bool
    width: int
    height: int
    app_version: str
    ad_id: str  # IDFA (iOS; all zeros when tracking is off) or GAID (Android; "" when opted out)
    vendor_id: str  # IDFV (iOS) or Android ID
    web_id: str
    did: str


class _Hashtag(NamedTuple):
    ts: int  # first used in a post
    name: str
    link: str


class _Interest(NamedTuple):
    ts: int  # inferred from then on
    name: str


class _GoLive(NamedTuple):
    ts: int  # start
    end: int
    room: str
    title: str
    cover: str
    replay: str
    earning: int
    likes: int
    views: int
    gifters: int
    quality: str


class _LiveComment(NamedTuple):
    ts: int
    text: str


class _WatchLive(NamedTuple):
    ts: int  # WatchTime
    room: str
    link: str
    comments: tuple[_LiveComment, ...]  # () is written as null


class _Location(NamedTuple):
    ts: int
    gps: str
    region: str


class _Browse(NamedTuple):
    ts: int
    shop: str
    product: str


class _Order(NamedTuple):
    ts: int
    order_id: str
    products: tuple[tuple[str, str, int], ...]  # (product, variation, quantity)
    total: str
    status: str


class _Voucher(NamedTuple):
    ts: int
    voucher_id: str
    name: str
    text: str
    status: str


_SEARCH_TERMS = (
    "bread recipe",
    "sourdough starter 🍞",
    "cat videos 🐱",
    "how to fold a fitted sheet",
    "easy pasta",
    "marathon training plan 🏃",
    "synthwave playlist",
    "houseplant care 🌱",
    "budget travel tips ✈️",
    "guitar chords beginner",
    "café latte art ☕",
    "dance tutorial",
)
_COMMENT_TEXTS = (
    "nice one",
    "this is so good 😂",
    "where is this? 😍",
    "trying this tomorrow",
    "🔥🔥🔥",
    "the ending 💀",
    "saved for later",
    "love the music 🎶",
    "same here",
    "crème brûlée next please",
)
_DM_TEXTS = (
    "see you at 7",
    "haha 😂",
    "did you see this?",
    "ok 👍",
    "on my way 🚲",
    "lol same",
    "happy birthday 🎉🎂",
    "thanks!",
    "what time tomorrow?",
    "good night 🌙",
)
# multi-line comments: continuation lines contain ": " but never start with a label word
_COMMENT_MULTILINE = (
    "so good\nsecond line: still the comment",
    "three tips 👇\n1. more salt\n2. less heat: trust me",
)
# multi-line DMs: continuation lines never start with a date, "[" or ">>>" and are never blank
_DM_MULTILINE = (
    "running late\nsee you at 5: ok?",
    "look at this 😂\nso true\nlol",
    "shopping list:\nflour, salt\nbutter: the good one",
)
_ADD_YOURS = ("Show your sourdough 🍞", "Your morning run", "Cat tax 🐱")
_ALT_TEXTS = ("A loaf of bread on a wooden table", "Runner on a bridge at sunrise")
_COLLECTIONS = ("Recipes", "Travel", "Workout 💪", "Funny")
_SHARE_METHODS = ("chat_head", "whatsapp", "repost", "copy", "more", "chat")
_DEVICES = (("Phone1,1", "OS 1.0"), ("Phone2,3", "OS 2.1"), ("Tablet1,2", "OS 2.0"))
_NETWORKS = ("Wi-Fi", "4G", "5G", "")
_CARRIERS = ("", "", "Example Mobile")
_OFF_SOURCES = ("example-shop", "example-news", "1234567890", "example-games")
_OFF_EVENTS = ("LaunchAPP", "ViewContent", "AddToCart", "Purchase")
_PRICES = ("0.99", "1.99", "4.99", "9.99", "19.99")
_SOUNDS = ("original sound - {u}", "Example Song - Example Artist", "Lo-fi Beat - Sample Band")
_TITLES = ("my first post ✨", "N/A", "", "weekend vibes 🌊", "recipe test #bread", "N/A")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SCREENS = ((1080, 2400), (1170, 2532), (1440, 3200), (828, 1792))
_ZERO_IDFA = "00000000-0000-0000-0000-000000000000"
_POST_HASHTAGS = ("bread", "sourdough", "running", "catsoftiktok", "weekendvibes", "latteart", "houseplants",
                  "guitar")
_AD_CATEGORIES = ("Food & Drink", "Travel", "Pets", "Sports & Outdoors", "Music", "Home & Garden",
                  "Beauty & Personal Care", "Games", "Tech & Electronics", "Books & Literature")
_LIVE_TITLES = ("baking bread live 🍞", "sunday long run Q&A 🏃", "cat cam 🐱")
_LIVE_COMMENTS = ("hello 👋", "greetings from the kitchen 🍞", "what song is this?", "🔥🔥", "so cozy")
_PLACES = ((52.37, 4.89, "NL"), (48.86, 2.35, "FR"), (51.51, -0.13, "GB"), (50.85, 4.35, "BE"))
_SHOP_ITEMS = (  # (shop, product, variations, unit price)
    ("Example Bakery Supplies", "Banneton proofing basket", ("Round 22 cm", "Oval 25 cm"), 14.99),
    ("Example Bakery Supplies", "Dough scraper set", ("Default",), 6.49),
    ("Example Running Store", "Running socks (3 pack)", ("Size M", "Size L"), 12.0),
    ("Example Pet Shop", "Cat scratching post", ("Grey", "Beige"), 24.5),
    ("Example Plant Corner", "Self-watering pot", ("Small", "Large"), 9.95),
)
_ORDER_STATUSES = ("Completed", "Delivered", "Shipped")
_VOUCHERS = (  # (name, text)
    ("€5 off", "€5 off orders over €25"),
    ("Free shipping", "Free shipping on your next order"),
    ("10% off", "10% off your first order in Example Bakery Supplies"),
)
_VOUCHER_STATUSES = ("Used", "Unused", "Expired")


# --------------------------------------------------------------------------------------------
# layouts
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
# sections whose body is a map (an empty one is {} in the "list" style) or one string ("")
_MAP_TABLES = frozenset({"direct_messages", "profile", "activity_summary", "settings", "locations", "shop_orders"})
# metadata siblings (docs/export-formats.md)
_FASTLANE = frozenset({"followers", "following", "likes", "favorite_videos", "blocked_accounts", "comments", "profile",
                       "settings"})
_APP = frozenset(
    {
        "watch_history",
        "searches",
        "shares",
        "logins",
        "favorite_sounds",
        "favorite_effects",
        "favorite_hashtags",
        "favorite_collections",
        "posts",
        "off_tiktok_activity",
    }
)
# what an empty section looks like in "mixed" (realistic) style, docs/export-formats.md
_MIXED_EMPTY: dict[str, str] = {"direct_messages": "list", "off_tiktok_activity": "object"}

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
# files whose Date values carry a " UTC" suffix (docs/export-formats.md): every dated file from
# 2025 on ("unknown": the synthetic section), about half of them in TXT-2, none before
_DATED_TXT = (frozenset(TABLES) - {"profile", "direct_messages"}) | {"unknown"}
_TXT_UTC: dict[str, frozenset[str]] = {
    "1": frozenset(),
    "2022": frozenset(),
    "2": frozenset({"logins", "likes", "favorite_videos", "favorite_effects", "searches", "comments", "followers",
                    "blocked_accounts", "posts"}),
    "2025": _DATED_TXT,
    "nl": _DATED_TXT,
}
# TXT_FILES keys of the sections without a table that a generation writes with data
_TXT_UNMODELLED_KEYS: dict[str, tuple[str, ...]] = {
    "2022": ("ads_partners",),
}


# --------------------------------------------------------------------------------------------
# JSON writing
# --------------------------------------------------------------------------------------------

_INDENT = orjson.OPT_INDENT_2


def _has_lazy(value: Any) -> bool:
    if isinstance(value, _LazyList):
        return True
    if isinstance(value, dict):
        return any(_has_lazy(v) for v in value.values())
    return False


def _write_json(write: Callable[[bytes], Any], value: Any, indent: int = 0) -> None:
    """Pretty-print like ``json.dumps(indent=2, ensure_ascii=False)`` while streaming lazy
    lists chunk by chunk, so the document never exists whole in memory."""
    pad = b"\n" + b" " * indent
    if isinstance(value, _LazyList):
        first = True
        for chunk in value.chunks():
            if not chunk:
                continue
            body = orjson.dumps(chunk, option=_INDENT)[2:-2]  # strip "[\n" and "\n]"
            if indent:
                body = body.replace(b"\n", pad)
            write((b"[\n" if first else b",\n") + (b" " * indent) + body)
            first = False
        write(b"[]" if first else pad + b"]")
    elif isinstance(value, dict) and _has_lazy(value):
        if not value:
            write(b"{}")
            return
        write(b"{")
        inner_pad = b"\n" + b" " * (indent + 2)
        for n, (k, v) in enumerate(value.items()):
            write((b"," if n else b"") + inner_pad + orjson.dumps(k) + b": ")
            _write_json(write, v, indent + 2)
        write(pad + b"}")
    else:
        out = orjson.dumps(value, option=_INDENT)
        write(out.replace(b"\n", pad) if indent else out)


def _sort_skeleton(doc: dict[str, Any], depth: int = 3) -> dict[str, Any]:
    """Sort the section levels alphabetically (as TikTok mostly does), never list items."""
    if depth == 0:
        return doc
    return {
        k: (_sort_skeleton(v, depth - 1) if isinstance(v, dict) else v) for k, v in sorted(doc.items())
    }


# --------------------------------------------------------------------------------------------
# export context
# --------------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    """Per-export settings and what the export collected while being written."""

    at: datetime
    at_s: int
    family: str
    data_format: str
    gen: str | None
    duplicates: bool
    unknown: bool
    unmodelled: bool
    empty_style: str
    empty_tables: frozenset[str]
    carried: frozenset[str]
    duplicate_rows: dict[str, int] = field(default_factory=dict)
    unknown_sections: list[str] = field(default_factory=list)
    unmodelled_sections: list[str] = field(default_factory=list)

    def dup(self, table: str, n: int = 1) -> None:
        self.duplicate_rows[table] = self.duplicate_rows.get(table, 0) + n


# --------------------------------------------------------------------------------------------
# the history
# --------------------------------------------------------------------------------------------


class UserHistory:
    """One user's TikTok history over [start, end]; exports are views of it at given moments."""

    def __init__(
        self,
        username: str = "user_a",
        *,
        seed: int = 0,
        start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
        end: datetime = datetime(2025, 12, 31, tzinfo=UTC),
        sizes: Sizes = Sizes(),
        unfollow_fraction: float = 0.2,
    ):
        self.username = username
        self.seed = seed
        self.start = _utc(start)
        self.end = _utc(end)
        self.sizes = sizes
        self.unfollow_fraction = unfollow_fraction
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if not 0.0 <= unfollow_fraction <= 1.0:
            raise ValueError("unfollow_fraction must be within [0, 1]")
        self._s0 = int(self.start.timestamp())
        self._s1 = int(self.end.timestamp())
        self._windows: dict[tuple[str, int], tuple[int, int]] = {}
        self.key = hashlib.sha1(
            repr((username, seed, self._s0, self._s1, sizes, unfollow_fraction)).encode()
        ).hexdigest()[:16]
        self._build()

    # --- generation ----------------------------------------------------------------------

    def _rng(self, table: str) -> random.Random:
        """An independent stream per table, so resizing one table never shifts another."""
        return random.Random(f"tiktok-generator/{self.seed}/{self.username}/{table}")

    def _times(self, rng: random.Random, n: int) -> list[int]:
        """n distinct whole-second timestamps in [start, end] following the daily rhythm, ascending."""
        return self._rhythm.times(rng, n)

    def _near_views(self, rng: random.Random, n: int, min_delay: int, max_delay: int, *,
                    before: bool = False) -> list[tuple[int, int | None]]:
        """(time, watch row) of n events each a few seconds after (``before``: before) a distinct
        random watch row, ascending and distinct (each stays strictly between its row and the
        next/previous one). A history with fewer watch rows than n follows the rhythm instead,
        with row None."""
        watch = self.videos["watch_history"]
        if n <= 0:
            return []
        if n > watch.n:
            return [(t, None) for t in self._times(rng, n)]
        out: list[tuple[int, int | None]] = []
        lo, hi = watch.start, watch.end - 1
        spread = max_delay - min_delay + 1
        for r in sorted(rng.sample(range(watch.n), n)):
            t, slack = watch.ts_slack(r)
            d = min(min_delay + int(rng.random() * spread), slack)
            out.append((max(t - d, lo) if before else min(t + d, hi), r))
        return out

    def _session_starts(self, rng: random.Random, n: int, min_delay: int, max_delay: int) -> list[int]:
        """n distinct times, each a little before the first video of a distinct watch session."""
        watch = self.videos["watch_history"]
        if n > watch.sessions:
            return [t for t, _ in self._near_views(rng, n, min_delay, max_delay, before=True)]
        out = []
        for k in sorted(rng.sample(range(watch.sessions), n)):
            r = watch.cum[k]
            t = watch.ts(r)
            prev = watch.ts(r - 1) if r else watch.start - 1
            out.append(t - min(rng.randint(min_delay, max_delay), t - prev - 1))
        return out

    def _build(self) -> None:
        s = self.sizes
        self._rhythm = _Rhythm(self._s0, self._s1 + 1, self._rng("rhythm").getrandbits(63))
        watch = _VideoEvents(s.watch_history, self._s0, self._s1, self._rng("watch_history").getrandbits(63), True,
                             self._rhythm)
        self.videos: dict[str, _VideoEvents | _AttachedEvents] = {"watch_history": watch}
        # likes and favourites: a few seconds after watching the video (their own sessions if
        # there are more of them than watched videos)
        for table, (lo, hi) in (("likes", (2, 16)), ("favorite_videos", (3, 20))):
            salt = self._rng(table).getrandbits(63)
            n = getattr(s, table)
            self.videos[table] = (
                _AttachedEvents(n, watch, salt, lo, hi) if n <= watch.n
                else _VideoEvents(n, self._s0, self._s1, salt, False, self._rhythm)
            )

        rng = self._rng("favorite_sounds")
        self.favorite_sounds = [
            _Link(t, f"https://m.tiktok.com/h5/share/music/{_vid(rng.getrandbits(64))}.html")
            for t, _ in self._near_views(rng, s.favorite_sounds, 3, 30)
        ]
        rng = self._rng("favorite_effects")
        self.favorite_effects = [
            _Link(t, f"https://m.tiktok.com/share/stickers/detail/{_vid(rng.getrandbits(64))}.html")
            for t, _ in self._near_views(rng, s.favorite_effects, 3, 30)
        ]
        rng = self._rng("favorite_hashtags")
        self.favorite_hashtags = [
            _Link(t, "" if i % 3 == 1 else f"https://m.tiktok.com/h5/share/tag/{_vid(rng.getrandbits(64))}.html")
            for i, (t, _) in enumerate(self._near_views(rng, s.favorite_hashtags, 3, 30))
        ]
        rng = self._rng("favorite_collections")
        self.favorite_collections = [
            _Collection(t, _COLLECTIONS[i % 2] if i < 2 else rng.choice(_COLLECTIONS))
            for i, (t, _) in enumerate(self._near_views(rng, s.favorite_collections, 5, 60))
        ]
        # a search comes a few seconds before the video it found
        rng = self._rng("searches")
        self.searches = [
            _Search(t, rng.choice(_SEARCH_TERMS)) for t, _ in self._near_views(rng, s.searches, 3, 30, before=True)
        ]

        # a share comes a few seconds after watching the shared video
        rng = self._rng("shares")
        shares = []
        for i, (t, row) in enumerate(self._near_views(rng, s.shares, 3, 25)):
            form = i % 5
            if form == 4:
                link = "https://www.tiktok.com/" if i % 10 == 4 else "https://www.tiktok.com/foryou"
            else:
                vid = watch.video(row) if row is not None else _vid(rng.getrandbits(64))
                link = _share_link(3 if form == 3 else 0, vid, _user(rng.randrange(10000)))
            shares.append(_Share(t, rng.choice(("share_video", "video")), link, _SHARE_METHODS[i % len(_SHARE_METHODS)]))
        self.shares = shares

        # logins open a watch session
        rng = self._rng("logins")
        logins = []
        for t in self._session_starts(rng, s.logins, 5, 90):
            net = rng.choice(("203.0.113", "198.51.100"))
            model, system = rng.choice(_DEVICES)
            logins.append(
                _Login(t, f"{net}.{rng.randrange(1, 255)}", model, system, rng.choice(_NETWORKS), rng.choice(_CARRIERS))
            )
        self.logins = logins

        rng = self._rng("comments")
        self.comments = [
            _Comment(t, (_COMMENT_MULTILINE[(i // 4) % len(_COMMENT_MULTILINE)] if i % 4 == 1
                         else _COMMENT_TEXTS[i % len(_COMMENT_TEXTS)]) + ("" if i < len(_COMMENT_TEXTS) else f" #{i}"))
            for i, (t, _) in enumerate(self._near_views(rng, s.comments, 10, 90))
        ]

        self._build_people()
        self._build_messages()
        self._build_posts()

        rng = self._rng("off_tiktok_activity")
        self.off_tiktok_activity = [
            _Off(t, _OFF_SOURCES[i % len(_OFF_SOURCES)], rng.choice(_OFF_EVENTS))
            for i, t in enumerate(self._times(rng, s.off_tiktok_activity))
        ]
        rng = self._rng("purchases")
        self.purchases = [
            _Purchase(t, "send" if i % 2 == 0 else "buy", rng.choice(_PRICES))
            for i, (t, _) in enumerate(self._near_views(rng, s.purchases, 5, 60))
        ]

        rng = self._rng("profile")
        self._birth = f"{rng.randint(1, 28):02d}-{rng.choice(_MONTHS)}-{rng.randint(1975, 2005)}"
        self._bio = rng.choice(("", "baking bread and running 🍞🏃", "just here for the cats 🐱"))
        self._photo_token = f"{rng.getrandbits(128):032x}"
        self._build_sections()

    def _build_sections(self) -> None:
        """Status devices, post hashtags, ad interests, LIVE, locations and TikTok Shop: each an
        independent stream, each item visible in exports taken after its time."""
        s = self.sizes
        rng = self._rng("devices")
        self._uid = int(_vid(rng.getrandbits(64)))  # the account's UID (C/D Status items)
        times = self._times(rng, s.devices)
        if times:
            times[0] = self._s0  # the first device is there from the start
        devices = []
        for k, t in enumerate(times):
            ios = k % 2 == 1
            w, h = _SCREENS[k % len(_SCREENS)]
            if ios:
                ad_id = _ZERO_IDFA if k % 4 == 1 else _uuid(rng)
                vendor = _uuid(rng)
            else:
                ad_id = "" if k % 4 == 0 else _uuid(rng).lower()  # "" : opted out of ad tracking
                vendor = f"{rng.getrandbits(64):016x}"  # Android ID
            devices.append(_Device(t, ios, w, h, f"{rng.randint(34, 38)}.{rng.randint(0, 9)}.{rng.randint(0, 5)}",
                                   ad_id, vendor, _vid(rng.getrandbits(64)), _vid(rng.getrandbits(64))))
        self.devices = devices

        # a hashtag is listed from the first post using it (hashtag k: post k * posts // n)
        rng = self._rng("hashtags")
        n = s.hashtags
        posts = self.posts
        times = [posts[k * len(posts) // n].ts for k in range(n)] if posts else self._times(rng, n)
        names = list(_POST_HASHTAGS)
        rng.shuffle(names)
        self.hashtags = [
            _Hashtag(t, names[k % len(names)] + (str(k // len(names)) if k >= len(names) else ""),
                     f"https://www.tiktok.com/share/challenge/{_vid(rng.getrandbits(64))}/")
            for k, t in enumerate(times)
        ]

        rng = self._rng("ad_interests")
        n = s.ad_interests
        picked = rng.sample(_AD_CATEGORIES, min(n, len(_AD_CATEGORIES)))
        picked += [f"{_AD_CATEGORIES[k % len(_AD_CATEGORIES)]} {k // len(_AD_CATEGORIES)}"
                   for k in range(len(_AD_CATEGORIES), n)]
        self.ad_interests = [_Interest(t, name) for t, name in zip(self._times(rng, n), picked)]

        # LIVE: streams the user went live with (visible once ended), rooms watched (comments a
        # few minutes into every other room, visible once written)
        rng = self._rng("live_history")
        n = s.live_history
        lives = []
        for k, t in enumerate(self._times(rng, n)):
            duration = rng.randint(10 * 60, 90 * 60)
            start = max(self._s0, min(t, self._s1 - duration))
            views = rng.randint(40, 900)
            lives.append(_GoLive(
                start, start + duration, _vid(rng.getrandbits(64)), _LIVE_TITLES[k % len(_LIVE_TITLES)],
                f"https://p16-webcast.tiktokcdn.com/img/maliva/webcast-va/{rng.getrandbits(128):032x}~tplv-obj.image",
                "" if k % 2 else f"https://www.tiktok.com/@{self.username}/live/replay/{_vid(rng.getrandbits(64))}",
                rng.randint(0, 300), rng.randint(views, 20 * views), views, rng.randint(0, 12),
                ("720p", "1080p")[k % 2]))
        self.go_live = lives
        rooms = []
        pool = list(self._strangers) or [_user(1)]
        for k, t in enumerate(self._times(rng, n)):
            comments = []
            if k % 2 == 0:
                c = t
                for j in range(2):
                    c += rng.randint(30, 300)
                    comments.append(_LiveComment(c, _LIVE_COMMENTS[(2 * k + j) % len(_LIVE_COMMENTS)]))
            rooms.append(_WatchLive(t, _vid(rng.getrandbits(64)), f"https://www.tiktok.com/@{rng.choice(pool)}/live",
                                    tuple(comments)))
        self.watch_live = rooms

        rng = self._rng("locations")
        places = []
        for k, t in enumerate(self._times(rng, s.locations)):
            lat, lon, region = _PLACES[k % len(_PLACES)] if k < 2 else rng.choice(_PLACES)
            places.append(_Location(t, f"{lat + rng.uniform(-0.03, 0.03):.2f}, {lon + rng.uniform(-0.03, 0.03):.2f}",
                                    region))
        self.locations = places

        rng = self._rng("shop_product_browsing")
        self.shop_product_browsing = [
            _Browse(t, *_SHOP_ITEMS[(k if k < len(_SHOP_ITEMS) else rng.randrange(len(_SHOP_ITEMS)))][:2])
            for k, t in enumerate(self._times(rng, s.shop_product_browsing))
        ]
        rng = self._rng("shop_orders")
        orders = []
        for k, t in enumerate(self._times(rng, s.shop_orders)):
            lines = []
            total = 0.0
            for item in rng.sample(_SHOP_ITEMS, 1 + k % 2):
                quantity = rng.randint(1, 2)
                lines.append((item[1], rng.choice(item[2]), quantity))
                total += quantity * item[3]
            orders.append(_Order(t, f"57{rng.getrandbits(64) % 10**16:016d}", tuple(lines), f"€{total:.2f}",
                                 _ORDER_STATUSES[k % len(_ORDER_STATUSES)]))
        self.shop_orders = orders
        rng = self._rng("shop_vouchers")
        self.shop_vouchers = [
            _Voucher(t, _vid(rng.getrandbits(64)), *_VOUCHERS[k % len(_VOUCHERS)],
                     _VOUCHER_STATUSES[k % len(_VOUCHER_STATUSES)])
            for k, t in enumerate(self._times(rng, s.shop_vouchers))
        ]

    def _build_posts(self) -> None:
        """Posts at a rhythm (evenly spread with jitter, so 1–3 a week when there are enough),
        mostly in the evening. Likes: a log-normal base times the hour and weekday they went up
        (evening and weekend posts do better), growing with the account, and a few clear hits."""
        n = min(self.sizes.posts, self._s1 - self._s0 + 1)
        rng = self._rng("posts")
        span = self._s1 - self._s0 + 1
        hours = range(24)
        raw = []
        for k in range(n):
            x = self._s0 + int((k + 0.5 + 0.8 * (rng.random() - 0.5)) * span / n)
            hour = rng.choices(hours, weights=_POST_HOURS)[0]
            raw.append(min(max((x // 86400) * 86400 + hour * 3600 + rng.randrange(3600), self._s0), self._s1))
        times = _spread(sorted(raw), self._s0, self._s1)
        hits = set(rng.sample(range(n), 1 + n // 12)) if n >= 4 else set()
        posts = []
        for i, t in enumerate(times):
            sound = rng.choice(_SOUNDS).format(u=self.username)
            likes = math.exp(rng.gauss(5.0, 0.5)) * (0.6 + 0.8 * i / max(1, n - 1))
            likes *= _POST_HOUR_LIKES[(t % 86400) // 3600] * _POST_WEEKDAY_LIKES[(t // 86400 + 3) % 7]
            if i in hits:
                likes *= rng.uniform(8, 20)
            posts.append(
                _Post(
                    ts=t,
                    token=f"{rng.getrandbits(128):032x}",
                    likes=str(int(likes)),
                    sound=sound,
                    title=_TITLES[i % len(_TITLES)],
                    location="" if i % 2 else "Example City",
                    who_can_view="Everyone" if i % 4 else "Only You",
                    images=3 if i == 1 or (i > 1 and i % 7 == 1) else 0,  # photo-mode posts
                    add_yours=_ADD_YOURS[(i // 3) % len(_ADD_YOURS)] if i % 3 == 1 else "N/A",
                    alt_text=_ALT_TEXTS[(i // 4) % len(_ALT_TEXTS)] if i % 4 == 2 else "N/A",
                )
            )
        self.posts = posts

    def _build_people(self) -> None:
        s = self.sizes
        need = s.followers + s.following + s.blocked_accounts + 16
        pool_size = max(10000, 4 * need)
        rng = self._rng("people")
        pool = [_user(n) for n in rng.sample(range(1, pool_size), need)]
        pool = [u for u in pool if u != self.username]
        followers_names = pool[: s.followers]
        rest = pool[s.followers :]
        mutual = min(len(followers_names), s.following // 3)
        following_names = followers_names[:mutual] + rest[: s.following - mutual]
        rest = rest[s.following - mutual :]
        self._strangers = rest[s.blocked_accounts :]
        blocked_names = rest[: s.blocked_accounts]
        # deleted accounts (docs/export-formats.md), each with a real date
        if s.followers >= 3:
            followers_names[2] = "N/A"
        if s.followers >= 6:
            followers_names[5] = "N/A"
        if s.following >= 3:
            following_names[mutual] = "N/A"  # not one of the mutual follows
        if s.blocked_accounts >= 2:
            blocked_names[0] = "N/A"
        self.followers = self._follows(self._rng("followers"), followers_names)
        self.following = self._follows(self._rng("following"), following_names)
        rng = self._rng("blocked_accounts")
        self.blocked_accounts = [
            _Block(t, u)
            for (t, _), u in zip(self._near_views(rng, s.blocked_accounts, 5, 60), blocked_names)
        ]

    def _follows(self, rng: random.Random, names: list[str]) -> list[_Follow]:
        """Follow events; a fraction are undone later. Unfollow times are spread evenly over
        the span (one per slice) and those accounts follow at 30–50 % of the time before it (so
        evenly over the first half of the span), so two exports a few months apart almost always
        differ. The other follows come at a growing rate (one per stratum of a cumulative curve
        ~ t^1.4, in random order), so cumulative follows curve up; deleted accounts ("N/A")
        take the lowest strata, so they follow early. Follow times are distinct."""
        real = [i for i, u in enumerate(names) if u != "N/A"]
        m = round(len(real) * self.unfollow_fraction)
        if self.unfollow_fraction > 0 and len(real) >= 2:
            m = max(m, 1)
        # drawn over every index (the same draws as before deleted accounts existed); a deleted
        # account never leaves, so a pick of one passes to the next real account not picked
        picked = rng.sample(range(len(names)), m) if m else []
        spare = [i for i in real if i not in picked]
        leaving = {i if names[i] != "N/A" else spare.pop(0) for i in picked}
        span = self._s1 - self._s0
        out: list[_Follow] = []
        k = 0
        slot_order = rng.sample(range(m), m) if m else []
        staying = len(names) - m
        strata = rng.sample(range(staying), staying)
        stratum = {i: strata.pop() for i in range(len(names)) if i not in leaving}
        deleted = [i for i in stratum if names[i] == "N/A"]
        for i, low in zip(deleted, sorted(stratum.values())):  # swap the lowest strata to them
            j = next(j for j, v in stratum.items() if v == low)
            stratum[i], stratum[j] = low, stratum[i]
        used: set[int] = set()
        for i, u in enumerate(names):
            if i in leaving:
                lo = self._s0 + span * slot_order[k] // m
                hi = self._s0 + span * (slot_order[k] + 1) // m
                k += 1
                until = rng.randint(lo + (hi - lo) // 4, hi)
                follow = self._s0 + int((until - self._s0) * (0.3 + 0.2 * rng.random()))
                while follow in used and follow + 1 < until:
                    follow += 1
                out.append(_Follow(follow, u, until))
            else:
                follow = self._s0 + int(span * ((stratum[i] + rng.random()) / staying) ** (1 / _FOLLOW_GROWTH))
                while follow in used and follow < self._s1:
                    follow += 1
                out.append(_Follow(follow, u, None))
            used.add(out[-1].ts)
        return out

    def _build_messages(self) -> None:
        """Conversations in bursts: a thread comes alive at a time the rhythm picks, 2–10 messages
        go back and forth, replies seconds to minutes apart. The first bursts are in the group
        chat and the first one-to-one thread, so both have a back and forth. Message 3 is a share
        link, messages 1 mod 6 media URLs in brackets, messages 4 mod 6 multi-line texts."""
        n = self.sizes.direct_messages
        rng = self._rng("direct_messages")
        partners = [f.username for f in self.following + self.followers if f.username != "N/A"]
        partners = list(dict.fromkeys(partners)) or list(self._strangers)
        n_one = max(1, min(6, n // 6, len(partners)))
        threads = partners[:n_one]
        members = (partners[n_one : n_one + 3] + self._strangers)[:3]
        self._threads = [GROUP_CHAT] + threads
        self._group_members = members
        weights = [1.0 / (k + 1) for k in range(len(self._threads))]  # a few close friends
        media_rng = self._rng("direct_messages/media")
        raw: list[tuple[int, int, str, str, str]] = []
        burst = 0
        while len(raw) < n:
            size = min(n - len(raw), 2 + min(8, int(rng.expovariate(1 / 3))))
            if burst < 2:
                thread = self._threads[burst]
                own = burst == 1
            else:
                thread = rng.choices(self._threads, weights)[0]
                own = rng.random() < 0.5
            t = self._rhythm.time(rng.random() * self._rhythm.total)
            for j in range(size):
                i = len(raw)
                if j:
                    t += 10 + min(1800, int(rng.expovariate(1 / 100)))
                    if rng.random() < 0.75:
                        own = not own
                if own:
                    sender = self.username
                elif thread == GROUP_CHAT:
                    sender = members[0] if burst == 0 and j == 0 else rng.choice(members)
                else:
                    sender = thread
                roll = rng.random()
                if i == 3 or roll < 0.2:
                    content = f"https://www.tiktokv.com/share/video/{_vid(rng.getrandbits(64))}/"
                elif roll < 0.25:
                    content = f"https://m.tiktok.com/h5/share/usr/{_vid(rng.getrandbits(64))}.html"
                else:
                    content = rng.choice(_DM_TEXTS)
                if i != 3 and i % 6 == 1:  # a photo or sticker: a media URL in square brackets
                    content = (f"[https://p16-sign.tiktokcdn.com/tos-maliva-i-0068/"
                               f"{media_rng.getrandbits(128):032x}.jpeg]")
                elif i % 6 == 4:
                    content = _DM_MULTILINE[(i // 6) % len(_DM_MULTILINE)]
                raw.append((t, i, thread, sender, content))
            burst += 1
        raw.sort()
        times = _spread([r[0] for r in raw], self._s0, self._s1)
        self.direct_messages = [_Message(t, thread, sender, content)
                                for t, (_, _, thread, sender, content) in zip(times, raw)]

    # --- views ---------------------------------------------------------------------------

    def _present_follows(self, table: str, at_s: int) -> list[_Follow]:
        return [f for f in getattr(self, table) if f.ts <= at_s and (f.until is None or f.until > at_s)]

    def _events(self, table: str, at_s: int) -> list[Any]:
        """The materialised events of ``table`` an export taken at ``at_s`` shows, ascending."""
        if table in ("followers", "following"):
            return self._present_follows(table, at_s)
        if table == "locations":  # only the most recent fix
            return [e for e in self.locations if e.ts <= at_s][-1:]
        if table == "live_history":  # both sections: streams that have ended, rooms watched
            return [*self._go_lives(at_s), *self._rooms(at_s)]
        if table in ("settings", "activity_summary"):
            return [at_s]  # a map of the export's moment, never empty
        return [e for e in getattr(self, table) if e.ts <= at_s]

    def _go_lives(self, at_s: int) -> list[_GoLive]:
        return [g for g in self.go_live if g.end <= at_s]

    def _rooms(self, at_s: int) -> list[_WatchLive]:
        """LIVE rooms watched by ``at_s``, with the comments written by then."""
        return [r._replace(comments=tuple(c for c in r.comments if c.ts <= at_s)) for r in self.watch_live
                if r.ts <= at_s]

    def _video_window(self, table: str, at_s: int) -> tuple[int, int]:
        """Index range of a lazy table in an export taken at ``at_s`` (memoised: an export asks
        several times, and each binary-search probe computes a timestamp)."""
        key = (table, at_s)
        found = self._windows.get(key)
        if found is None:
            if len(self._windows) > 4096:
                self._windows.clear()
            after = at_s - int(WATCH_RETENTION.total_seconds()) if table == "watch_history" else None
            found = self._windows[key] = self.videos[table].window(after, at_s)
        return found

    @staticmethod
    def _key(table: str, e: Any) -> Any:
        if table in _SNAPSHOT_TABLES:  # a deleted account is a row of its own, told apart by its date
            return ("N/A", e.ts) if e.username == "N/A" else e.username
        if table == "shares":
            return (e.ts, e.link, e.method, e.content)
        if table == "logins":
            return (e.ts, e.ip, e.model)
        if table == "direct_messages":
            return (e.thread, e.ts, e.sender, e.content)
        if table == "posts":
            return (e.ts, e.sound, e.title)
        return tuple(e)

    def _check(self, archive: GeneratedArchive) -> None:
        if archive.history_key != self.key:
            raise ValueError(f"{archive.path} was not exported from this history")

    def expected_counts(self, exports: Sequence[GeneratedArchive]) -> dict[str, int]:
        """Distinct rows per table that loading all these exports (in any order) must produce.

        Followers, following and blocked accounts count one row per distinct username, plus one
        per distinct date of the deleted (``"N/A"``) accounts listed (username NULL in the table).
        """
        for a in exports:
            self._check(a)
        counts: dict[str, int] = {}
        for table in _EVENT_TABLES:
            holders = [a for a in exports if table in a.tables]
            if table in _LAZY_TABLES:
                ranges = sorted({self._video_window(table, int(a.exported_at.timestamp())) for a in holders})
                total, reach = 0, 0
                for lo, hi in ranges:  # length of the union of index ranges
                    lo = max(lo, reach)
                    if hi > lo:
                        total += hi - lo
                        reach = hi
                counts[table] = total
                continue
            keys: set[Any] = set()
            for a in holders:
                keys.update(self._key(table, e) for e in self._events(table, int(a.exported_at.timestamp())))
            counts[table] = len(keys)
        counts["profile"] = len({a.exported_at for a in exports if "profile" in a.tables})
        for table in _SECTION_TABLES:
            keys = set()
            for a in exports:
                if table in a.tables:
                    keys.update(self._section_keys(table, a))
            counts[table] = len(keys)
        counts.update({t: 0 for t in OPT_IN_TABLES})
        return counts

    def _section_keys(self, table: str, a: GeneratedArchive) -> set[Any]:
        """The natural keys of the rows ``table`` gets from export ``a`` (which carries it)."""
        at_s = int(a.exported_at.timestamp())
        if table == "activity_summary":  # one row per export time
            return {a.exported_at}
        if table == "settings":  # one row per setting per export time, keys compared like the loader does
            return {(a.exported_at, _norm(k)) for k in _setting_keys(a.family)}
        if table == "devices":
            return {_device_key(rec) for rec in self._device_records(a.family, at_s)}
        if table == "live_history":
            keys: set[Any] = {("went_live", g.ts, g.room, None) for g in self._go_lives(at_s)}
            for r in self._rooms(at_s):
                keys.add(("watched", r.ts, r.room, None))
                keys.update(("commented", c.ts, r.room, c.text) for c in r.comments)
            return keys
        rows = self._events(table, at_s)
        if table == "hashtags":
            return {(h.name, h.link) for h in rows}
        if table == "ad_interests":
            return {i.name for i in rows}
        if table == "shop_orders":
            return {o.order_id for o in rows}
        if table == "shop_vouchers":
            return {(v.ts, v.voucher_id, v.name) for v in rows}
        return set(rows)  # locations (ts, gps, region), shop_product_browsing (ts, shop, product)

    def expected_rows(self, table: str, exports: Sequence[GeneratedArchive]) -> list[dict[str, Any]]:
        r"""The rows a correct loader stores for ``table`` after loading all these exports (in any
        order): one dict per distinct row of the union, sorted by time (then by the other values).

        ``"posts"`` (one row per post time): ``posted_at`` (aware UTC datetime), ``likes`` (int),
        ``who_can_view`` (str), ``allow_comments``, ``allow_stitches``, ``allow_duets``,
        ``allow_stickers``, ``allow_sharing_to_story`` (``Yes``/``No`` as bool), ``sound``,
        ``title``, ``add_yours_text`` (str; the sentinels ``"N/A"`` and ``""`` become None),
        ``media_links`` (all URLs of the post joined by ``"\n"``: one for a video, several for a
        photo-mode post) and ``media_count`` (how many URLs). Every value comes from the newest
        export holding the post (greatest ``exported_at``): its links are signed for that export,
        and a field its format does not carry is None (JSON A/F and TXT ``"1"``/``"2022"`` have
        only date, link and likes). Among several exports taken at that same moment, a field
        carried by any of them has its value (the values agree wherever they are carried).

        ``"comments"``: ``commented_at``, ``comment`` (the whole text, lines joined by ``"\n"``).

        ``"direct_messages"``: ``conversation`` (the thread name without ``Chat History with``
        and colons: a username or ``Group_Chat_<digits>``), ``sent_at``, ``sender`` (a username,
        the owner's for own messages) and ``content`` (the whole text, lines joined by ``"\n"``;
        media URLs keep their square brackets).
        """
        if table not in ("posts", "comments", "direct_messages"):
            raise ValueError("expected_rows knows posts, comments and direct_messages")
        for a in exports:
            self._check(a)
        holders = [a for a in exports if table in a.tables]
        newest: dict[Any, list[GeneratedArchive]] = {}  # event -> the newest holders
        for a in holders:
            at_s = int(a.exported_at.timestamp())
            for e in self._events(table, at_s):
                found = newest.get(e)
                if found is None or found[0].exported_at < a.exported_at:
                    newest[e] = [a]
                elif found[0].exported_at == a.exported_at:
                    found.append(a)

        def when(ts: int) -> datetime:
            return datetime.fromtimestamp(ts, UTC)

        if table == "comments":
            return [{"commented_at": when(e.ts), "comment": e.text} for e in sorted(newest)]
        if table == "direct_messages":
            return [
                {"conversation": e.thread, "sent_at": when(e.ts), "sender": e.sender, "content": e.content}
                for e in sorted(newest, key=lambda m: (m.ts, m.thread, m.sender, m.content))
            ]
        out = []
        for p in sorted(newest):
            tied = newest[p]
            at_s = int(tied[0].exported_at.timestamp())
            links = self._post_link(p, at_s, "\n")
            row: dict[str, Any] = {"posted_at": when(p.ts), "likes": int(p.likes)}
            detailed = any(_post_details_carried(a) for a in tied)
            d = self._post_details(p, at_s, late=False) if detailed else {}

            def text(key: str) -> str | None:
                v = d.get(key)
                return None if v in (None, "", "N/A") else v

            def flag(key: str) -> bool | None:
                v = d.get(key)
                return None if v is None else v == "Yes"

            row.update(
                who_can_view=text("WhoCanView"),
                allow_comments=flag("AllowComments"),
                allow_stitches=flag("AllowStitches"),
                allow_duets=flag("AllowDuets"),
                allow_stickers=flag("AllowStickers"),
                allow_sharing_to_story=flag("AllowSharingToStory"),
                sound=text("Sound"),
                title=text("Title"),
                add_yours_text=text("AddYoursText"),
                media_links=links,
                media_count=len(links.split("\n")),
            )
            out.append(row)
        return out

    def unfollowed_between(self, earlier: GeneratedArchive, later: GeneratedArchive) -> dict[str, set[str]]:
        """Usernames present in ``earlier`` and absent from ``later``, per snapshot table.
        A table that ``later`` does not carry gives an empty set: without a snapshot nothing
        can be seen to disappear."""
        self._check(earlier)
        self._check(later)
        out: dict[str, set[str]] = {}
        for table in ("followers", "following"):
            if table not in earlier.tables or table not in later.tables:
                out[table] = set()
                continue
            before = {f.username for f in self._present_follows(table, int(earlier.exported_at.timestamp()))}
            after = {f.username for f in self._present_follows(table, int(later.exported_at.timestamp()))}
            out[table] = (before - after) - {"N/A"}
        return out

    # --- export --------------------------------------------------------------------------

    def export(
        self,
        out_dir: Path,
        *,
        at: datetime,
        family: str = "B",
        data_format: str = "json",
        container: str = "zip",
        json_name: str = "user_data_tiktok.json",
        txt_generation: str = "2025",
        duplicates: bool = True,
        unknown_sections: bool = True,
        empty_style: str = "mixed",
        with_profile: bool = True,
        epoch_folder: bool = True,
        empty_tables: Iterable[str] = (),
        unmodelled_sections: bool = True,
    ) -> GeneratedArchive:
        """Write the export TikTok would have produced at ``at`` and describe it.

        ``empty_style`` is how empty sections are written (JSON): ``"mixed"`` realistic per
        section (mostly ``null``; ``"ChatHistory": {}``; ``"Off TikTok Activity": {}``;
        ``"Follower List": {}`` in A/E), ``"null"`` (list key null), ``"list"`` (``[]``, ``{}``
        for maps), ``"object"`` (section ``{}``), ``"absent"`` (section left out). TXT writes the
        sentinel line for every style except ``"absent"`` (no file) and ``"no-data"`` (no file,
        a ``no-data.txt`` in its folder instead).
        ``empty_tables``: tables written as present-but-empty in this export.
        ``unmodelled_sections``: include real sections that have no table (LIVE settings, TXT-2022
        partners' ads).
        """
        at = _utc(at)
        at_s = int(at.timestamp())
        if data_format not in ("json", "txt"):
            raise ValueError(f"data_format must be 'json' or 'txt', not {data_format!r}")
        if empty_style not in EMPTY_STYLES:
            raise ValueError(f"empty_style must be one of {EMPTY_STYLES}")
        empty = frozenset(empty_tables)
        if empty - _ALL:
            raise ValueError(f"unknown tables in empty_tables: {sorted(empty - _ALL)}")
        if container not in ("zip", "bare", "folder"):
            raise ValueError("container must be 'zip', 'bare' or 'folder'")
        if data_format == "json":
            if family not in FAMILIES:
                raise ValueError(f"family must be one of {FAMILIES}")
            if empty_style == "no-data":
                raise ValueError("empty_style 'no-data' exists only for TXT exports")
            if json_name not in ("user_data_tiktok.json", "user_data.json"):
                raise ValueError("json_name must be user_data_tiktok.json or user_data.json")
            supported = FAMILY_TABLES[family]
            label, gen = family, None
        else:
            if txt_generation not in TXT_GENERATIONS:
                raise ValueError(f"txt_generation must be one of {TXT_GENERATIONS}")
            if container == "bare":
                raise ValueError("a TXT export cannot be a bare file")
            supported = TXT_TABLES[txt_generation]
            label, gen = f"TXT-{txt_generation}", txt_generation
        carried = supported - empty
        if not with_profile:
            carried -= {"profile"}
        ctx = _Ctx(
            at=at,
            at_s=at_s,
            family=label,
            data_format=data_format,
            gen=gen,
            duplicates=duplicates,
            unknown=unknown_sections,
            unmodelled=unmodelled_sections,
            empty_style=empty_style,
            empty_tables=empty & supported,
            carried=carried,
        )
        ctx_with_profile = with_profile and "profile" in supported

        digest = hashlib.sha1(
            repr(
                (self.key, at_s, label, container, json_name, duplicates, unknown_sections, empty_style,
                 with_profile, epoch_folder, sorted(empty), unmodelled_sections)
            ).encode()
        ).hexdigest()[:8]
        stem = f"{self.username}_{label}_{at.strftime('%Y%m%dT%H%M%S')}_{digest}"
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        prefix = f"TikTok_Data_{at_s}/" if epoch_folder else ""
        if gen in _ROOTED_TXT:  # "/Activity/…" in a ZIP, "Activity/…" in a folder, never an epoch folder
            prefix = "/" if container == "zip" else ""
        zip_time = max(at.timetuple()[:6], (1980, 1, 1, 0, 0, 0))

        lazy_rows = sum(
            hi - lo for t in _LAZY_TABLES if t in carried for lo, hi in [self._video_window(t, at_s)]
        )
        big = lazy_rows > 3_000_000  # ZIP64 well before a member can reach 2 GiB
        level = 1 if lazy_rows > 250_000 else 6  # huge archives: deflate speed over size

        if data_format == "json":
            doc = self._json_doc(ctx, with_profile=ctx_with_profile)
            if container == "zip":
                path = out_dir / f"{stem}.zip"
                with _zip_writer(path) as zf:
                    with zf.open(_zinfo(prefix + json_name, zip_time, level), "w", force_zip64=big) as fp:
                        _write_json(fp.write, doc)
            else:
                folder = out_dir / stem
                _fresh_dir(folder)
                path = folder / json_name if container == "bare" else folder
                target = folder / json_name if container == "bare" else folder / prefix / json_name
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb", buffering=1 << 20) as fh:
                    _write_json(fh.write, doc)
        else:
            files = self._txt_files(ctx, with_profile=ctx_with_profile)
            if container == "zip":
                path = out_dir / f"{stem}.zip"
                with _zip_writer(path) as zf:
                    for name in sorted(files):
                        with zf.open(_zinfo(prefix + name, zip_time, level), "w", force_zip64=big) as fp:
                            for chunk in files[name]():
                                fp.write(chunk)
            else:
                path = out_dir / stem
                _fresh_dir(path)
                for name in sorted(files):
                    target = path / (prefix + name)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with open(target, "wb", buffering=1 << 20) as fh:
                        for chunk in files[name]():
                            fh.write(chunk)

        has_profile = "profile" in carried
        archive = GeneratedArchive(
            path=path,
            family=label,
            data_format=data_format,
            username=self.username if has_profile else None,
            exported_at=at,
            unknown_sections=list(ctx.unknown_sections),
            expected={},
            unmodelled_sections=list(ctx.unmodelled_sections),
            duplicate_rows=dict(sorted(ctx.duplicate_rows.items())),
            tables=carried,
            txt_generation=gen,
            history_key=self.key,
            autofill_values=sum(v != "N/A" for v in _autofill(real=True).values()) if label in ("C", "D") else 0,
        )
        archive.expected = self.expected_counts([archive])
        return archive

    # --- rows shared by JSON and TXT -------------------------------------------------------

    def _is_empty(self, ctx: _Ctx, table: str) -> bool:
        if table not in ctx.carried:
            return True
        if table in ("profile", "settings", "activity_summary"):
            return False
        if table in _LAZY_TABLES:
            lo, hi = self._video_window(table, ctx.at_s)
            return hi <= lo
        return not self._events(table, ctx.at_s)

    def _with_dups(self, ctx: _Ctx, table: str, rows: list[Any], positions: Sequence[int]) -> list[Any]:
        """Repeat rows at the given positions (exact duplicates, docs/export-formats.md."""
        if not ctx.duplicates:
            return rows
        out: list[Any] = []
        for p, r in enumerate(rows):
            out.append(r)
            if p in positions:
                out.append(r)
                ctx.dup(table)
        return out

    def _newest_first(self, ctx: _Ctx, table: str) -> list[Any]:
        rows = self._events(table, ctx.at_s)
        if table == "favorite_sounds":  # "usually newest first but not always"
            return rows
        rows = sorted(rows, key=lambda e: e.ts, reverse=True)
        if table == "shares":
            rows = self._with_dups(ctx, table, rows, (0, 2))
        elif table == "searches":
            rows = self._with_dups(ctx, table, rows, (1,))
        return rows

    def _video_rows(self, ctx: _Ctx, table: str) -> Iterator[tuple[str, str]]:
        """(date, link) of the lazy video tables, newest first, duplicates interleaved."""
        lo, hi = self._video_window(table, ctx.at_s)
        rows = self.videos[table].rows(lo, hi)
        if not (ctx.duplicates and table == "watch_history"):
            yield from rows
            return
        for p, row in enumerate(rows):
            yield row
            if p % 80 in (1, 3):
                yield row

    def _count_video_dups(self, ctx: _Ctx, table: str) -> None:
        if ctx.duplicates and table == "watch_history":
            lo, hi = self._video_window(table, ctx.at_s)
            n = hi - lo
            ctx.dup(table, len(range(1, n, 80)) + len(range(3, n, 80)))

    def _post_link(self, p: _Post, at_s: int, sep: str) -> str:
        """Signed, expiring CDN links without a video id (docs/export-formats.md)."""
        expires = at_s + 14 * 86400
        sig = hashlib.sha1(f"{p.token}/{at_s}".encode()).hexdigest()[:20]
        host = "https://v16-webapp.tiktokv.us/storage/v1/tos-useast5-pve-0068-tx"
        if not p.images:
            return f"{host}/{p.token}?x-tos-expires={expires}&x-tos-signature={sig}"
        return sep.join(
            f"{host}/{p.token}-{k}.jpeg?x-tos-expires={expires}&x-tos-signature={sig}" for k in range(p.images)
        )

    def _profile(self, ctx: _Ctx) -> dict[str, Any]:
        """ProfileMap as of the export time (docs/export-formats.md)."""
        posts = self._events("posts", ctx.at_s)
        likes = sum(int(p.likes) for p in posts)
        photo = (
            f"https://p16-sign-va.tiktokcdn.example/tos-maliva-avt-0068/{self._photo_token}"
            f"~c5_720x720.jpeg?x-expires={ctx.at_s + 14 * 86400}"
        )
        prof: dict[str, Any] = {
            "PlatformInfo": [
                {"Platform": "Google", "Name": self.username, "Description": "", "Profile Photo": photo}
            ],
            "bioDescription": self._bio,
            "birthDate": self._birth,
            "emailAddress": f"{self.username}@example.com",
            "likesReceived": str(likes) if posts else "None",
            "profilePhoto": photo,
            "profileVideo": "None",
            "telephoneNumber": "None",
            "userName": self.username,
        }
        if ctx.family in ("C", "D"):
            prof.update(
                {
                    "aiSelf": "",
                    "displayName": self.username.replace("_", " ").title(),
                    "followerCount": sum(1 for f in self._present_follows("followers", ctx.at_s) if f.username != "N/A"),
                    "followingCount": sum(1 for f in self._present_follows("following", ctx.at_s) if f.username != "N/A"),
                    "inferredGender": "None",
                    "instagramLink": "",
                    "youtubeLink": "",
                }
            )
        if ctx.family == "D":
            prof["accountRegion"] = "NL"
        return dict(sorted(prof.items()))

    # --- JSON ------------------------------------------------------------------------------

    def _json_items(self, ctx: _Ctx, table: str) -> Any:
        """The list (or map, or lazy list) a table's section holds in this family."""
        fam = ctx.family
        if table in _LAZY_TABLES:
            self._count_video_dups(ctx, table)
            if table == "watch_history":
                keys = ("Date", "VideoLink") if fam == "F" else ("Date", "Link")
            elif table == "likes":
                keys = ("Date", "Link") if fam in ("A", "F", "A-activity") else ("date", "link")
            else:
                keys = ("Date", "Link")
            kd, kl = keys

            def chunks() -> Iterator[list[dict[str, Any]]]:
                batch: list[dict[str, Any]] = []
                for d, link in self._video_rows(ctx, table):
                    batch.append({kd: d, kl: link})
                    if len(batch) >= 4096:
                        yield batch
                        batch = []
                yield batch

            return _LazyList(chunks)

        if table == "direct_messages":
            return self._json_threads(ctx)
        if table == "purchases":
            return None  # handled by _json_purchases
        rows = self._newest_first(ctx, table)
        if table == "favorite_sounds":
            return [{"Date": _fmt(e.ts), "Link": e.link} for e in rows]
        if table == "favorite_effects":
            return [{"Date": _fmt(e.ts), "EffectLink": e.link} for e in rows]
        if table == "favorite_hashtags":
            k = "link" if fam == "D" else "Link"
            return [{"Date": _fmt(e.ts), k: e.link} for e in rows]
        if table == "favorite_collections":
            return [{"Date": _fmt(e.ts), "FavoriteCollection": e.name} for e in rows]
        if table == "searches":
            return [{"Date": _fmt(e.ts), "SearchTerm": e.term} for e in rows]
        if table == "shares":
            return [{"Date": _fmt(e.ts), "SharedContent": e.content, "Link": e.link, "Method": e.method} for e in rows]
        if table == "logins":
            return [
                {"Date": _fmt(e.ts), "IP": e.ip, "DeviceModel": e.model, "DeviceSystem": e.system,
                 "NetworkType": e.network, "Carrier": e.carrier}
                for e in rows
            ]
        if table == "comments":
            return [self._json_comment(fam, e) for e in rows]
        if table in _SNAPSHOT_TABLES:
            return [{"Date": _fmt(e.ts), "UserName": e.username} for e in rows]
        if table == "off_tiktok_activity":
            return [{"TimeStamp": _fmt(e.ts), "Source": e.source, "Event": e.event} for e in rows]
        if table == "posts":
            return [self._json_post(ctx, e) for e in rows]
        raise AssertionError(table)

    def _json_section_items(self, ctx: _Ctx, table: str) -> Any:
        """The body under the list key of a table beyond the event lists (_SECTION_TABLES)."""
        at_s = ctx.at_s
        if table == "devices":
            items = [dict(rec) for rec in self._device_records(ctx.family, at_s)]
            if ctx.duplicates and ctx.family == "B":  # one exact repeat
                items.insert(1, dict(items[0]))
                ctx.dup(table)
            return items
        if table == "settings":
            return _settings_map(ctx.family)
        if table == "activity_summary":
            return self._activity_summary(at_s)
        if table == "live_history":  # Go Live History; newest first
            return [
                {"LiveStartTime": _fmt(g.ts), "LiveEndTime": _fmt(g.end), "LiveDuration": _duration(g.end - g.ts),
                 "RoomId": g.room, "RoomTitle": g.title, "CoverUri": g.cover, "ReplayUrl": g.replay,
                 "TotalEarning": g.earning, "TotalLike": g.likes, "TotalView": g.views, "TotalGifter": g.gifters,
                 "QualitySetting": g.quality, "MutedList": None}
                for g in reversed(self._go_lives(at_s))
            ]
        rows = self._events(table, at_s)
        if table == "hashtags":
            return [{"HashtagName": h.name, "HashtagLink": h.link} for h in rows]
        if table == "ad_interests":
            return "|".join(i.name for i in rows)
        if table == "locations":
            (fix,) = rows
            return {"Date": _fmt(fix.ts), "GpsData": fix.gps, "LastRegion": fix.region}
        rows = rows[::-1]  # newest first
        if table == "shop_product_browsing":
            return [{"browsing_date": _fmt(b.ts), "shop_name": b.shop, "product_name": b.product} for b in rows]
        if table == "shop_orders":
            return {
                o.order_id: {"order_date": _fmt(o.ts),
                             "Products": [{"product_name": n, "variation_name": v, "quantity": q}
                                          for n, v, q in o.products],
                             "total_price": o.total, "order_status": o.status}
                for o in rows
            }
        if table == "shop_vouchers":
            return [{"ReceivedDate": _fmt(v.ts), "VoucherId": v.voucher_id, "VoucherName": v.name,
                     "VoucherText": v.text, "Status": v.status} for v in rows]
        raise AssertionError(table)

    def _watch_live_map(self, ctx: _Ctx) -> dict[str, Any]:
        """WatchLiveMap: room id -> what the user did there, newest first, and TikTok's empty
        placeholder entry "-1" (no row)."""
        out: dict[str, Any] = {}
        for r in reversed(self._rooms(ctx.at_s)):
            out[r.room] = {
                "WatchTime": _fmt(r.ts),
                "Link": r.link,
                "Comments": [{"CommentTime": _fmt(c.ts), "CommentContent": c.text, "RawTime": c.ts}
                             for c in r.comments] or None,
                "Questions": None,
            }
        out["-1"] = {"WatchTime": None, "Link": "", "Comments": None, "Questions": None}
        return out

    def _activity_summary(self, at_s: int) -> dict[str, Any]:
        """ActivitySummaryMap as of ``at_s`` (lifetime counters, so the whole history counts)."""
        watched = self.videos["watch_history"].first_after(at_s)
        return {
            "note": "Activity may take several days to appear.",
            "videosCommentedOnSinceAccountRegistration": len(self._events("comments", at_s)),
            "videosSharedSinceAccountRegistration": len(self._events("shares", at_s)),
            "videosWatchedToTheEndSinceAccountRegistration": watched * 3 // 5,
        }

    def _device_records(self, label: str, at_s: int) -> list[list[tuple[str, Any]]]:
        """The Status items of an export (``label``: a JSON family or ``TXT-<generation>``), as
        (key or TXT label, value) pairs. JSON items leave out the ids their platform lacks; C and
        D write ``1080x2400`` and add ``UID`` (int) and ``DID``; TXT writes its five labels always."""
        out = []
        for d in self._events("devices", at_s):
            if label.startswith("TXT-"):
                out.append([("Screen Resolution", f"{d.width}*{d.height}"), ("App Version", d.app_version),
                            ("IDFA", d.ad_id if d.ios else ""), ("GAID", "" if d.ios else d.ad_id),
                            ("Web ID", d.web_id)])
                continue
            late = label in ("C", "D")
            rec: list[tuple[str, Any]] = [("Resolution", f"{d.width}{'x' if late else '*'}{d.height}"),
                                          ("App Version", d.app_version)]
            rec += [("IDFA", d.ad_id), ("IDFV", d.vendor_id)] if d.ios else [("GAID", d.ad_id),
                                                                              ("Android ID", d.vendor_id)]
            rec.append(("Web ID", d.web_id))
            if late:
                rec += [("UID", self._uid), ("DID", d.did)]
            out.append(rec)
        return out

    @staticmethod
    def _json_comment(fam: str, e: _Comment) -> dict[str, Any]:
        d = _fmt(e.ts)
        if fam in ("A", "F", "A-activity"):
            return {"Date": d, "Comment": e.text}
        if fam == "D":
            return {"date": f"{d} UTC", "comment": e.text, "photo": "N/A", "video": "N/A", "sticker": "N/A",
                    "originalPostUrl": "", "original post link": ""}
        return {"date": d, "comment": e.text, "photo": "N/A", "url": ""}

    def _json_post(self, ctx: _Ctx, p: _Post) -> dict[str, Any]:
        item: dict[str, Any] = {"Date": _fmt(p.ts), "Link": self._post_link(p, ctx.at_s, "\n"), "Likes": p.likes}
        if ctx.family in ("A", "F"):
            return item
        item.update(self._post_details(p, ctx.at_s, late=ctx.family == "D"))
        return item

    def _post_details(self, p: _Post, at_s: int, *, late: bool) -> dict[str, str]:
        """A post's fields beyond date, link and likes, by JSON key; ``late``: with the
        late-2025 ``AlternateText`` and ``CoverImage``."""
        details = {
            "WhoCanView": p.who_can_view,
            "AllowComments": "Yes",
            "AllowStitches": "Yes" if p.who_can_view == "Everyone" else "No",
            "AllowDuets": "Yes",
            "AllowStickers": "No",
            "AllowSharingToStory": "Yes",
            "ContentDisclosure": "",
            "AIGeneratedContent": "No",
            "Sound": p.sound,
            "Location": p.location,
            "Title": p.title,
            "AddYoursText": p.add_yours,
        }
        if late:
            details["AlternateText"] = p.alt_text
            details["CoverImage"] = self._post_link(p._replace(images=0), at_s, "\n") + "&cover=1"
        return details

    def _json_threads(self, ctx: _Ctx) -> dict[str, list[dict[str, str]]]:
        msgs = self._events("direct_messages", ctx.at_s)
        out: dict[str, list[dict[str, str]]] = {}
        for k, thread in enumerate(self._threads):
            rows = [m for m in msgs if m.thread == thread]
            if not rows:
                continue
            if k % 2 == 0:  # order inside a thread is inconsistent (docs/export-formats.md)
                rows.reverse()
            out[f"Chat History with {thread}:"] = [{"Date": _fmt(m.ts), "From": m.sender, "Content": m.content} for m in rows]
        return out

    def _json_purchases(self, ctx: _Ctx, style: str, *, empty: bool = False) -> Any:
        """Two sub-lists (SendGifts, BuyGifts); an empty one uses the style's empty value."""
        rows = [] if empty else sorted(self._events("purchases", ctx.at_s), key=lambda e: e.ts, reverse=True)
        body: dict[str, Any] = {}
        for kind, key in (("buy", "BuyGifts"), ("send", "SendGifts")):
            items = [{"Date": _fmt(e.ts), "Price": e.price} for e in rows if e.kind == kind]
            body[key] = {key: items if items else ([] if style == "list" else None)}
        return body

    def _section(self, ctx: _Ctx, table: str, watch_live: bool = False) -> Any:
        """A table's section body, or its empty encoding, or _ABSENT (``watch_live``: the
        ``Watch Live History`` section of live_history instead of ``Go Live History``)."""
        style = ctx.empty_style
        if style == "mixed":
            style = _MIXED_EMPTY.get(table, "null")
            if table == "followers" and ctx.family in ("A", "E"):
                style = "object"  # "Follower List": {} (docs/export-formats.md)
        list_key = _LIST_KEYS.get(table)
        if watch_live:
            list_key = _WATCH_LIVE[1]
        elif table == "off_tiktok_activity" and ctx.family == "F":
            list_key = _OLD_OFF_TIKTOK[1]
        meta: dict[str, Any] = {}
        if ctx.family != "F":
            if table in _FASTLANE:
                meta["IsFastLane"] = False
            if table in _APP:
                meta["App"] = 1
        empty = self._is_empty(ctx, table)
        if table == "live_history" and not empty:  # each of its two sections may be empty alone
            empty = not (self._rooms(ctx.at_s) if watch_live else self._go_lives(ctx.at_s))
        if empty:
            if style == "absent":
                return _ABSENT
            if style == "object":
                return {}
            if table == "purchases":
                return self._json_purchases(ctx, style, empty=True)
            empty_value: Any = None
            if style == "list":
                empty_value = {} if table in _MAP_TABLES or watch_live else "" if table == "ad_interests" else []
            return {list_key: empty_value, **meta}
        if table == "purchases":
            return self._json_purchases(ctx, "null")
        if table == "profile":
            return {list_key: self._profile(ctx), **meta}
        if watch_live:
            return {list_key: self._watch_live_map(ctx)}
        if table in _SECTION_TABLES:
            return {list_key: self._json_section_items(ctx, table), **meta}
        return {list_key: self._json_items(ctx, table), **meta}

    def _json_doc(self, ctx: _Ctx, *, with_profile: bool) -> dict[str, Any]:
        fam = ctx.family
        paths = JSON_PATHS[fam]
        doc: dict[str, dict[str, Any]] = {}

        def put(top: str, sub: str, body: Any) -> None:
            if body is not _ABSENT:
                doc.setdefault(top, {})[sub] = body

        for table in TABLES:
            if table not in paths:
                continue
            if table == "profile" and not with_profile:
                continue
            top, sub = paths[table]
            put(top, sub, self._section(ctx, table))
            if table == "live_history":
                put(top, _WATCH_LIVE[0], self._section(ctx, table, watch_live=True))

        self._json_extras(ctx, put)

        if ctx.unknown:
            top = _UNKNOWN_TOP.get(fam, "Your Activity")
            base = ctx.at_s - 3 * 86400
            put(top, "Synthetic Future Section", {
                "FutureList": [
                    {"Date": _fmt(base + k * 3600), "Value": f"future value {k} ✨", "Score": k}
                    for k in range(3)
                ]
            })
            ctx.unknown_sections.append(f"{top}{SEP}Synthetic Future Section")
        return _sort_skeleton(doc)

    def _json_extras(self, ctx: _Ctx, put: Callable[[str, str, Any], None]) -> None:
        """Real sections without a table: empty placeholders that make each family's key
        signature complete, Autofill, and LIVE settings (with data, reported as unmodelled)."""
        fam = ctx.family

        def data(top: str, sub: str, body: Any) -> None:
            if ctx.unmodelled:
                put(top, sub, body)
                ctx.unmodelled_sections.append(f"{top}{SEP}{sub}")

        # placeholders (no data; not listed)
        if fam == "A":
            put("Tiktok Shopping", "Communication History", {"CommunicationHistories": None})
            put("Tiktok Shopping", "Product Review History", {"ProductReviewHistories": None})
            put("Poi Review", "POI Review", {"ReviewsList": None})
            put("Income Plus Wallet Transactions", "Income Plus Wallet Transaction", {"TransactionsList": None})
            put("Video", "RecentlyDeletedPosts", {"PostList": []})
        elif fam == "A-activity":
            put("Activity", "POI Review", {"ReviewsList": None})
        elif fam == "B":
            put("Location Review", "Location Reviews", {"ReviewsList": None})
            put("Income Plus Wallet Transactions", "Transaction History", {"TransactionsList": None})
            put("Post", "Recently Deleted Posts", {"PostList": []})
            put("Profile", "Autofill", _autofill(real=False))
        elif fam in ("C", "D"):
            put("Location Review", "Location Reviews", {"ReviewsList": None})
            put("Income+ Wallet", "Transaction History", {"TransactionsList": None})
            put("Post", "Recently Deleted Posts", {"PostList": []})
            put("Profile And Settings", "Autofill", _autofill(real=True))
            put("Profile And Settings", "AI-Moji", {})
            if fam == "D":
                put("Likes and Favorites", "Favorite Comment", {"FavoriteCommentList": []})
                put("Likes and Favorites", "Favorite Location", {"FavoriteLocationList": []})
                put("Likes and Favorites", "Collection", {})
        elif fam == "E":
            put("Profile", "Auto Fill", _autofill(real=False))
            put("Video", "RecentlyDeletedPosts", {"PostList": []})

        if fam in ("A", "B", "C", "D"):  # a section with data and no table
            live_top = "TikTok Live" if fam in ("C", "D") else "Tiktok Live"
            data(live_top, "Go Live Settings", {"SettingsMap": {
                "Allow gifts": "On", "Who can comment": "Everyone", "Filtered keywords": ["spoilers"]}})

    # --- TXT -------------------------------------------------------------------------------

    def _txt_files(self, ctx: _Ctx, *, with_profile: bool) -> dict[str, Callable[[], Iterator[bytes]]]:
        """Relative path -> producer of the file's bytes."""
        gen = ctx.gen or "2025"
        names = TXT_FILES[gen]
        sentinel = NO_DATA_SENTINEL_NL if gen == "nl" else NO_DATA_SENTINEL
        files: dict[str, Callable[[], Iterator[bytes]]] = {}

        def const(text: str) -> Callable[[], Iterator[bytes]]:
            data = text.encode()
            return lambda: iter((data,))

        for table in TABLES:
            if table not in TXT_TABLES[gen]:
                continue
            if table == "profile" and not with_profile:
                continue
            folder, name = names[table]
            rel = f"{folder}/{name}"
            if self._is_empty(ctx, table):
                if ctx.empty_style == "absent":
                    continue
                if ctx.empty_style == "no-data":
                    files[f"{folder}/no-data.txt"] = const(sentinel + "\n")
                    continue
                files[rel] = const(sentinel + "\n")
                continue
            files[rel] = self._txt_producer(ctx, table, sentinel)

        if ctx.unmodelled:
            texts = {"ads_partners": self._txt_ads_partners(ctx)}
            for key in _TXT_UNMODELLED_KEYS.get(gen, ()):
                folder, name = names[key]
                files[f"{folder}/{name}"] = const(texts[key])
                ctx.unmodelled_sections.append(name)
        if ctx.unknown:
            folder, name = names["unknown"]
            base = ctx.at_s - 3 * 86400
            utc = " UTC" if "unknown" in _TXT_UTC[gen] else ""
            files[f"{folder}/{name}"] = const(
                "\n\n".join(f"Date: {_fmt(base + k * 3600)}{utc}\nValue: future value {k} ✨" for k in range(3)) + "\n"
            )
            ctx.unknown_sections.append(name)
        return files

    @staticmethod
    def _txt_ads_partners(ctx: _Ctx) -> str:
        """TXT-2022 ``Ads_Based_On_Data_Received_from_Partners.txt``: a few advertisers (unmodelled)."""
        return "\n".join(
            f"Date: {_fmt(ctx.at_s - (k + 1) * 7 * 86400 - 3600 * k)}\nAdvertiser: {adv}\nSource: {src}\n"
            for k, (adv, src) in enumerate((("Example Shop", "Customer file"), ("Example News", "Website visits"),
                                            ("Example Games", "App activity")))
        )

    def _txt_producer(self, ctx: _Ctx, table: str, sentinel: str) -> Callable[[], Iterator[bytes]]:
        gen = ctx.gen or "2025"
        utc = " UTC" if table in _TXT_UTC[gen] else ""

        if table in _LAZY_TABLES:
            self._count_video_dups(ctx, table)
            link_label = "Video Link" if gen in _OLD_TXT else "Link"

            def lazy() -> Iterator[bytes]:
                parts: list[str] = []
                first = True
                for d, link in self._video_rows(ctx, table):
                    parts.append(f"Date: {d}{utc}\n{link_label}: {link}\n")
                    if len(parts) >= 8192:
                        yield ("" if first else "\n").encode() + "\n".join(parts).encode()
                        parts, first = [], False
                if parts:
                    yield ("" if first else "\n").encode() + "\n".join(parts).encode()

            return lazy

        if table == "direct_messages":
            text = self._txt_messages(ctx)
        elif table in _SECTION_TABLES:
            text = self._txt_section(ctx, table, utc)
        elif table == "purchases":
            text = self._txt_purchases(ctx, sentinel)
        elif table == "profile":
            text = self._txt_records([self._txt_profile(ctx)])
        else:
            rows = self._newest_first(ctx, table)
            text = self._txt_records([self._txt_record(ctx, table, e, utc) for e in rows])
        data = text.encode()
        return lambda: iter((data,))

    def _txt_section(self, ctx: _Ctx, table: str, utc: str) -> str:
        """The TXT file of a table beyond the event lists (no LIVE or Shop files in TXT)."""
        at_s = ctx.at_s
        if table == "devices":
            return self._txt_records(self._device_records(ctx.family, at_s))
        if table == "settings":
            return _SETTINGS_TXT
        if table == "activity_summary":
            m = self._activity_summary(at_s)
            return (f"(Note: {m['note']})\n"
                    "Videos commented on since account registration: "
                    f"{m['videosCommentedOnSinceAccountRegistration']}\n"
                    f"Videos shared since account registration: {m['videosSharedSinceAccountRegistration']}\n"
                    "Videos watched to the end since account registration: "
                    f"{m['videosWatchedToTheEndSinceAccountRegistration']}\n")
        rows = self._events(table, at_s)
        if table == "hashtags":
            return self._txt_records([[("Hashtag Name", h.name), ("Hashtag Link", h.link)] for h in rows])
        if table == "ad_interests":
            return self._txt_records([[("Ad Interest Categories", "|".join(i.name for i in rows))]])
        if table == "locations":
            return self._txt_records([[("Date", _fmt(f.ts) + utc), ("GPS Data", f.gps), ("Last Region", f.region)]
                                      for f in rows])
        raise AssertionError(table)

    @staticmethod
    def _txt_records(records: list[list[tuple[str, str]]]) -> str:
        """Blocks of ``Label: value`` lines separated by blank lines (docs/export-formats.md)."""
        return "\n".join("".join(f"{label}: {value}\n" for label, value in rec) for rec in records)

    def _txt_record(self, ctx: _Ctx, table: str, e: Any, utc: str) -> list[tuple[str, str]]:
        old = ctx.gen in _OLD_TXT
        d = _fmt(e.ts) + utc
        if table == "favorite_sounds":
            return [("Date", d), ("Sound Link" if old else "Link", e.link)]
        if table == "favorite_effects":
            return [("Date", d), ("Effect Link", e.link)]
        if table == "favorite_hashtags":
            # "HashTag Link:: <url>" (double colon) outside TXT-1 and TXT-2022
            return [("Date", d), ("HashTag Link" if old else "HashTag Link:", e.link)]
        if table == "favorite_collections":
            return [("Date", d), ("Favorite Collection", e.name)]
        if table == "searches":
            return [("Date", d), ("Search Term", e.term)]
        if table == "shares":
            return [("Date", d), ("Shared Content", e.content), ("Link", e.link), ("Method", e.method)]
        if table == "logins":
            return [("Date", d), ("IP", e.ip), ("Device Model", e.model), ("Device System", e.system),
                    ("Network Type", e.network), ("Carrier", e.carrier)]
        if table == "comments":  # a multi-line comment continues on the next lines, unlabelled
            if old:
                return [("Date", d), ("Comment", e.text)]
            return [("Date", d), ("Comment", e.text), ("Photo", "N/A"), ("Url", "")]
        if table in _SNAPSHOT_TABLES:
            return [("Date", d), ("Username", e.username)]
        if table == "off_tiktok_activity":
            return [("Date", d), ("Source", e.source), ("Event", e.event)]
        if table == "posts":
            # photo-mode: the first image URL after the label, each further one alone on a line
            link = self._post_link(e, ctx.at_s, "\n")
            if old:
                return [("Date", d), ("Video Link", link), ("Like(s)", e.likes)]
            details = self._post_details(e, ctx.at_s, late=ctx.gen in ("2025", "nl"))
            return [("Date", d), ("Link", link), ("Like(s)", e.likes),
                    *((_TXT_POST_LABELS[k], v) for k, v in details.items())]
        raise AssertionError(table)

    def _txt_profile(self, ctx: _Ctx) -> list[tuple[str, str]]:
        p = self._profile(ctx)
        return [("Username", p["userName"]), ("Profile Photo", p["profilePhoto"]), ("Profile Video", p["profileVideo"]),
                ("Telephone Number", p["telephoneNumber"]), ("Email Address", p["emailAddress"]),
                ("Bio Description", p["bioDescription"]), ("Birthdate", p["birthDate"]),
                ("Like(s) Received", p["likesReceived"])]

    def _txt_purchases(self, ctx: _Ctx, sentinel: str) -> str:
        rows = sorted(self._events("purchases", ctx.at_s), key=lambda e: e.ts, reverse=True)
        utc = " UTC" if "purchases" in _TXT_UTC[ctx.gen or "2025"] else ""
        parts = []
        for kind, header in (("send", "Send Gifts History:"), ("buy", "Buy Gifts History:")):
            recs = [[("Date", _fmt(e.ts) + utc), ("Price", e.price)] for e in rows if e.kind == kind]
            parts.append(f"{header}\n" + (self._txt_records(recs) if recs else f"{sentinel}\n"))
        return "\n".join(parts)

    def _txt_messages(self, ctx: _Ctx) -> str:
        """Threads separated by a blank line. TXT-1 and TXT-2022: a header
        ``>>> Chat History with <name>:`` and lines ``[date] sender: text``; later generations:
        ``>>> Chat History with <name>::`` and ``date UTC sender: text``. A multi-line text
        continues on the following lines as it is."""
        old = ctx.gen in _OLD_TXT
        blocks = []
        for thread, items in self._json_threads(ctx).items():  # thread = "Chat History with <name>:"
            if old:
                lines = [f">>> {thread}"] + [f"[{m['Date']}] {m['From']}: {m['Content']}" for m in items]
            else:
                lines = [f">>> {thread}:"] + [f"{m['Date']} UTC {m['From']}: {m['Content']}" for m in items]
            blocks.append("\n".join(lines) + "\n")
        return "\n".join(blocks)


def _post_details_carried(a: GeneratedArchive) -> bool:
    """Whether an export's posts carry more than date, link and likes."""
    if a.data_format == "json":
        return a.family not in ("A", "F")
    return a.txt_generation not in _OLD_TXT


_AUTOFILL_VALUES = {"City": "Example City", "Email": "alex@example.com", "FirstName": "Alex", "LastName": "Example"}


def _autofill(*, real: bool) -> dict[str, str]:
    """The Autofill body (the map itself): all ``"N/A"``, or (C, D) a few made-up contact details."""
    return {k: _AUTOFILL_VALUES.get(k, "N/A") if real else "N/A"
            for k in ("Address", "City", "Country", "Email", "FirstName", "LastName", "PhoneNumber", "State", "Unit",
                      "ZipCode")}


def _duration(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    return f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"


_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def _norm(key: str) -> str:
    """A key as the loader compares keys: lower case, without spaces and punctuation."""
    return _NON_ALNUM.sub("", key.lower())


# Status keys and TXT labels -> position in a device's natural key (every field, "" is NULL)
_DEVICE_FIELDS = {"resolution": 0, "screenresolution": 0, "appversion": 1, "idfa": 2, "gaid": 3, "androidid": 4,
                  "idfv": 5, "webid": 6, "uid": 7, "did": 8}


def _device_key(rec: list[tuple[str, Any]]) -> tuple[str | None, ...]:
    key: list[str | None] = [None] * 9
    for label, value in rec:
        key[_DEVICE_FIELDS[_norm(label)]] = None if value in ("", "N/A", "None") else str(value)
    return tuple(key)


def _setting_keys(label: str) -> list[str]:
    """The setting keys an export writes (``label``: a JSON family or ``TXT-<generation>``)."""
    if label.startswith("TXT-"):
        return [line.split(": ", 1)[0] for line in _SETTINGS_TXT.splitlines()]
    return list(_settings_map(label))


def _settings_map(family: str) -> dict[str, Any]:
    """SettingsMap; C and D also hold a key written with a stray double colon, as TikTok does."""
    out = _BASE_SETTINGS.copy()
    if family in ("C", "D"):
        out["Who can see your following list::"] = "Only me"
    return out


_BASE_SETTINGS: dict[str, Any] = {
    "Allow DownLoad": "On",
    "Allow Others to Find Me": "Off",
    "App Language": "en",
    "Content Preferences": {"Keyword filters for videos in Following Feed": [],
                            "Keyword filters for videos in For You Feed": ["spoilers"]},
    "Interests": "Food|Travel|Pets",
    "Personalized Ads": "On",
    "Private Account": "Off",
    "Push Notification": {"Likes": "On", "Comments": "On", "New followers": "Off"},
    "Web Language": "N/A",
    "Who Can Duet With Me": "Everyone",
    "Who Can Post Comments": "Friends",
    "Who Can Send Me Message": "Friends",
    "Who Can View Videos I Liked": "Only me",
}


_SETTINGS_TXT = (
    "Allow DownLoad: On\nApp Language: en\nInterests: Food|Travel|Pets\nPersonalized Ads: On\n"
    "Private Account: Off\nWeb Language: N/A\nWho Can Send Me Message: Friends\n"
)
# TXT labels of a post's fields (sentence case, "Adds yours text" as TikTok spells it)
_TXT_POST_LABELS = {
    "WhoCanView": "Who can view",
    "AllowComments": "Allow comments",
    "AllowStitches": "Allow stitches",
    "AllowDuets": "Allow duets",
    "AllowStickers": "Allow stickers",
    "AllowSharingToStory": "Allow sharing to story",
    "ContentDisclosure": "Content disclosure",
    "AIGeneratedContent": "AI generated content",
    "Sound": "Sound",
    "Location": "Location",
    "Title": "Title",
    "AddYoursText": "Adds yours text",
    "AlternateText": "Alternate text",
    "CoverImage": "Cover image",
}


# --------------------------------------------------------------------------------------------
# files and zips
# --------------------------------------------------------------------------------------------


def _zip_writer(path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)


def _zinfo(name: str, date_time: tuple[int, ...], level: int) -> zipfile.ZipInfo:
    """Fixed timestamp and permissions: the same export gives byte-identical ZIPs."""
    info = zipfile.ZipInfo(name, date_time=tuple(date_time))  # type: ignore[arg-type]
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = level  # type: ignore[attr-defined]  # honoured by ZipFile.open(info, "w")
    info.external_attr = 0o644 << 16
    info.create_system = 3
    return info


def _fresh_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else os.remove(path)
    path.mkdir(parents=True)


# --------------------------------------------------------------------------------------------
# convenience
# --------------------------------------------------------------------------------------------


def generate_archive(
    out_dir: Path,
    *,
    family: str = "B",
    data_format: str = "json",
    seed: int = 0,
    username: str = "user_a",
    at: datetime = datetime(2025, 12, 1, tzinfo=UTC),
    sizes: Sizes = Sizes(),
    start: datetime | None = None,
    end: datetime | None = None,
    unfollow_fraction: float = 0.2,
    **export_kwargs: Any,
) -> GeneratedArchive:
    """One archive of a fresh history (defaults: 2025-01-01 … 2025-12-31, taken 2025-12-01)."""
    history_kwargs: dict[str, Any] = {"seed": seed, "sizes": sizes, "unfollow_fraction": unfollow_fraction}
    if start is not None:
        history_kwargs["start"] = start
    if end is not None:
        history_kwargs["end"] = end
    history = UserHistory(username, **history_kwargs)
    return history.export(Path(out_dir), at=at, family=family, data_format=data_format, **export_kwargs)
