r"""What happens and what an export holds, however it is written: :class:`History` (one user's
events over a time span, what an export taken at a given moment shows, and the distinct rows a
correct loader must produce from any set of exports: ``expected_counts``, ``expected_rows``,
``unfollowed_between``), :class:`Sizes`, :class:`GeneratedArchive` and the export options.

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

- **Same-second events.** Every table whose natural key holds more than a time has events in the
  same second as the one before them that differ in one key field only (``History._build_twins``
  lists them: two likes of different videos, two DMs of one thread from different senders, two
  logins from different IPs, …; watch rows, likes and favourite videos in ``events``), so a loader
  that keys on the time alone, or leaves a key field out, loses rows. TXT times have second
  resolution too: both formats carry them. ``expected_counts`` counts distinct natural keys (the
  generator's own notion of them, ``History._key``), never distinct times. Watch history
  re-watches a video at another time (a distinct row).
- **Repeats** (``GeneratedArchive.duplicate_rows``, with ``duplicates=True``): exact repeats of rows
  in watch history, shares and searches, and a row of watch history, likes and favourite videos
  written once more with its link in the other form (share form ``…/share/video/<id>/`` <->
  ``…/@name/video/<id>``): the same second and the same video, so the same row (keyed by the
  video, never by the link's text).
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
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from .events import (
    _FOLLOW_GROWTH,
    _POST_HOUR_LIKES,
    _POST_HOURS,
    _POST_WEEKDAY_LIKES,
    _AttachedEvents,
    _Block,
    _Browse,
    _Collection,
    _Comment,
    _Device,
    _Follow,
    _GoLive,
    _Hashtag,
    _Interest,
    _Link,
    _LiveComment,
    _Location,
    _Login,
    _Message,
    _Off,
    _Order,
    _Post,
    _Purchase,
    _Rhythm,
    _Search,
    _Share,
    _share_link,
    _spread,
    _user,
    _vid,
    _VideoEvents,
    _Voucher,
    _WatchLive,
)
from .paths import _EVENT_TABLES, _LAZY_TABLES, _OLD_TXT, _SECTION_TABLES, _SNAPSHOT_TABLES, OPT_IN_TABLES
from .text import (
    _AD_CATEGORIES,
    _ADD_YOURS,
    _ALT_TEXTS,
    _CARRIERS,
    _COLLECTIONS,
    _COMMENT_MULTILINE,
    _COMMENT_TEXTS,
    _DEVICES,
    _DM_MULTILINE,
    _DM_TEXTS,
    _LIVE_COMMENTS,
    _LIVE_TITLES,
    _MONTHS,
    _NETWORKS,
    _OFF_EVENTS,
    _OFF_SOURCES,
    _ORDER_STATUSES,
    _PLACES,
    _POST_HASHTAGS,
    _PRICES,
    _SCREENS,
    _SEARCH_TERMS,
    _SHARE_METHODS,
    _SHOP_ITEMS,
    _SOUNDS,
    _TITLES,
    _VOUCHER_STATUSES,
    _VOUCHERS,
    _ZERO_IDFA,
    _setting_keys,
)

UTC = timezone.utc
WATCH_RETENTION = timedelta(days=180)  # docs/export-formats.md: watch history covers ~6 months
GROUP_CHAT = "Group_Chat_7000000000000000006"
EMPTY_STYLES: tuple[str, ...] = ("mixed", "null", "list", "object", "absent", "no-data")


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


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _uuid(rng: random.Random) -> str:
    """An upper-case UUID-shaped id (IDFA, IDFV) from a seeded stream."""
    h = f"{rng.getrandbits(128):032X}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# --------------------------------------------------------------------------------------------
# the history
# --------------------------------------------------------------------------------------------


class History:
    """One user's TikTok history over [start, end]: its events, what an export taken at a given
    moment shows, and what loading exports of it must give. :class:`UserHistory` adds the writing."""

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
        # the watch rows that are twins show videos of accounts the user follows (and keeps following)
        watch.creators = tuple(f.username for f in self.following if f.until is None and f.username != "N/A")
        self._build_twins()

    def _build_twins(self) -> None:
        """Same-second events: in every table whose natural key holds more than a time, some events
        happen in the same second as the event before them and differ from it in exactly one key
        field (or two, where said), so that every such field is needed to tell rows apart. Event i
        (at the positions below, from 1 on so that an export showing event 0 shows a twin; where two
        positions follow each other, three events share a second) becomes that twin: the counts of ``Sizes`` stay the events' counts, and lists stay in
        time order (equal times keep their order).

        ==========================  =================  ============================================
        table                       positions          differs from the event before in
        ==========================  =================  ============================================
        favorite_sounds / effects   1 mod 6            link
        favorite_hashtags           1 mod 6            link (its own: none, ``""``)
        favorite_collections        1 mod 6            collection (its own)
        searches                    1 mod 6            search term
        comments                    1 mod 6            text (its own)
        shares                      1 mod 3            link (the same video in the other form),
                                                       method, content, in turn
        logins                      1 mod 3            IP, device model, in turn
        direct_messages             1 mod 5            (a) sender (same text), (b) text (same
                                                       sender), (c) conversation (same sender, the
                                                       owner, and text: one link sent to two chats),
                                                       (d) sender and text, in turn
        off_tiktok_activity         1 mod 4, 2 mod 4   source; event
        purchases                   1 mod 4, 2 mod 4   kind (coins bought, gift sent); price
        live_history                comments of rooms 0 mod 4: both in the same second, other texts
        shop_product_browsing       1 mod 4, 2 mod 4   product (same shop); shop (same product)
        shop_orders                 1 mod 4            order id (its own)
        shop_vouchers               1 mod 4            voucher id (same name)
        ==========================  =================  ============================================

        Watch history, likes and favourite videos have theirs in ``events`` (``_TWIN_WATCH``,
        ``_TWIN_ATTACHED``). Followers, following and blocked accounts are keyed by name, posts
        and the one-per-export maps by time alone: no twins."""
        def other(values: Sequence[Any], current: Any, rng: random.Random) -> Any:
            return rng.choice([v for v in values if v != current])

        def twin(events: list[Any], positions: Iterable[int], make: Any) -> None:
            for i in positions:
                if 1 <= i < len(events):
                    prev = events[i - 1]
                    new = make(i, prev, events[i])._replace(ts=prev.ts)
                    assert new != prev
                    events[i] = new

        rng = self._rng("twins")
        # a new link of the same kind: the id part replaced
        def relink(link: str) -> str:
            return re.sub(r"\d{19}", _vid(rng.getrandbits(64)), link, count=1)

        for table in ("favorite_sounds", "favorite_effects"):
            twin(getattr(self, table), range(1, len(getattr(self, table)), 6),
                 lambda i, prev, own: prev._replace(link=relink(prev.link)))
        # hashtags 1 mod 3 have no link (""): a hashtag saved with and one without a link
        twin(self.favorite_hashtags, range(1, len(self.favorite_hashtags), 6), lambda i, prev, own: own)
        twin(self.favorite_collections, range(1, len(self.favorite_collections), 6),
             lambda i, prev, own: own if own.name != prev.name else
             prev._replace(name=other(_COLLECTIONS, prev.name, rng)))
        twin(self.searches, range(1, len(self.searches), 6),
             lambda i, prev, own: prev._replace(term=other(_SEARCH_TERMS, prev.term, rng)))
        twin(self.comments, range(1, len(self.comments), 6), lambda i, prev, own: own)

        def share(i: int, prev: _Share, own: _Share) -> _Share:
            variant = (i // 3) % 3
            if variant == 0:
                return prev._replace(link=_other_share_form(prev.link, self._creator(i)))
            if variant == 1:
                return prev._replace(method=other(_SHARE_METHODS, prev.method, rng))
            return prev._replace(content=other(("share_video", "video"), prev.content, rng))

        twin(self.shares, range(1, len(self.shares), 3), share)

        def login(i: int, prev: _Login, own: _Login) -> _Login:
            if (i // 3) % 2 == 0:  # the same phone, another address (Wi-Fi to mobile data)
                net, last = prev.ip.rsplit(".", 1)
                return prev._replace(ip=f"{net}.{(int(last) % 254) + 1}")
            return prev._replace(model=other([m for m, _ in _DEVICES], prev.model, rng))

        twin(self.logins, range(1, len(self.logins), 3), login)

        owner, threads = self.username, self._threads

        def message(i: int, prev: _Message, own: _Message) -> _Message:
            people = [owner, *self._group_members] if prev.thread == GROUP_CHAT else [owner, prev.thread]
            variant = (i // 5) % 4
            if variant == 0:
                return prev._replace(sender=other(people, prev.sender, rng))
            if variant == 1:
                return prev._replace(content=other(_DM_TEXTS, prev.content, rng))
            if variant == 2:
                return prev._replace(sender=owner, thread=other(threads, prev.thread, rng))
            return prev._replace(sender=other(people, prev.sender, rng), content=other(_DM_TEXTS, prev.content, rng))

        messages = self.direct_messages
        for i in range(1, len(messages), 5):  # (c): the message before is the owner's, sent to two chats
            if (i // 5) % 4 == 2 and len(threads) > 1:
                messages[i - 1] = messages[i - 1]._replace(sender=owner)
        twin(messages, range(1, len(messages), 5) if len(threads) > 1 else range(0), message)

        def off(i: int, prev: _Off, own: _Off) -> _Off:
            if i % 4 == 1:
                return prev._replace(source=other(_OFF_SOURCES, prev.source, rng))
            return prev._replace(event=other(_OFF_EVENTS, prev.event, rng))

        twin(self.off_tiktok_activity, [i for i in range(len(self.off_tiktok_activity)) if i % 4 in (1, 2)], off)

        def purchase(i: int, prev: _Purchase, own: _Purchase) -> _Purchase:
            if i % 4 == 1:
                return prev._replace(kind="buy" if prev.kind == "send" else "send")
            return prev._replace(price=other(_PRICES, prev.price, rng))

        twin(self.purchases, [i for i in range(len(self.purchases)) if i % 4 in (1, 2)], purchase)

        for k, room in enumerate(self.watch_live):
            if k % 4 == 0 and len(room.comments) > 1:
                first, second, *rest = room.comments
                self.watch_live[k] = room._replace(comments=(first, second._replace(ts=first.ts), *rest))

        def browse(i: int, prev: _Browse, own: _Browse) -> _Browse:
            if i % 4 == 1:
                same_shop = [p for s, p, *_ in _SHOP_ITEMS if s == prev.shop and p != prev.product]
                return prev._replace(product=rng.choice(same_shop or [p for _, p, *_ in _SHOP_ITEMS
                                                                        if p != prev.product]))
            return prev._replace(shop=other([s for s, *_ in _SHOP_ITEMS], prev.shop, rng))

        twin(self.shop_product_browsing, [i for i in range(1, len(self.shop_product_browsing)) if i % 4 in (1, 2)],
             browse)
        twin(self.shop_orders, range(1, len(self.shop_orders), 4), lambda i, prev, own: own)
        twin(self.shop_vouchers, range(1, len(self.shop_vouchers), 4),
             lambda i, prev, own: own._replace(name=prev.name, text=prev.text))

    def _creator(self, n: int) -> str:
        """A followed account whose videos the user watches (``n`` picks one), else a stranger."""
        creators = self.videos["watch_history"].creators
        return creators[n % len(creators)] if creators else _user(n % 10000)

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
        """An event's natural key: what tells two rows of ``table`` apart (every field of the record
        types not named here, all of which are key fields: a time and a link / term / text…)."""
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

    # --- rows of an export that the expected values need too ------------------------------

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


def _other_share_form(link: str, creator: str) -> str:
    """A share's link in its other form: ``…/share/video/<id>/`` <-> ``…/@creator/video/<id>``, and
    ``https://www.tiktok.com/`` <-> ``…/foryou`` for links without a video."""
    found = re.search(r"/video/(\d+)", link)
    if found is None:
        return "https://www.tiktok.com/foryou" if link == "https://www.tiktok.com/" else "https://www.tiktok.com/"
    if "/@" in link:
        return f"https://www.tiktokv.com/share/video/{found.group(1)}/"
    return f"https://www.tiktok.com/@{creator}/video/{found.group(1)}"


def _post_details_carried(a: GeneratedArchive) -> bool:
    """Whether an export's posts carry more than date, link and likes."""
    if a.data_format == "json":
        return a.family not in ("A", "F")
    return a.txt_generation not in _OLD_TXT


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
