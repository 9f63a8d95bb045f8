"""Deterministic synthetic TikTok export archives.

Tests, the demo, the fake API and the benchmarks all need TikTok exports, and real ones are
personal data that must never be committed. This module fabricates them instead: a
:class:`UserHistory` is one user's events over a time span, and :meth:`UserHistory.export`
writes what a TikTok export taken at a given moment would contain, in any of the layout families
and TXT generations documented in ``shared/reference/export-formats.md``. Because the history is
the single source of truth, :meth:`UserHistory.expected_counts` can tell exactly how many distinct
rows a correct loader must produce from any set of exports of it.

All values are fabricated: usernames ``user_0042``, IPs from 203.0.113.0/24 and 198.51.100.0/24,
``example.com`` e-mail addresses, 19-digit ids starting with 7. Output is byte-identical for the
same arguments (seeded ``random.Random``, fixed ZIP timestamps, sorted iteration).

Which tables each layout carries (derived from export-formats §4 and §11.2):

=============  ===========================================================================
``F``, ``A``   everything except ``favorite_collections`` (no path for it in §4 column A/F)
``A-activity`` the ``Activity`` root only: watch, likes, favourite videos/sounds/effects/
               hashtags, searches, shares, logins, followers, following, purchases and
               ``Activity › Comments``; no profile, posts, DMs, block list or off-TikTok
``B``/``C``/``D``  everything (C keeps favourite collections at the B path
               ``Your Activity › Favorite Collection``; D moves them to ``Likes and Favorites``)
``E``          profile, followers, following, posts
TXT ``"1"``    everything except ``favorite_collections``
TXT ``"2"``, ``"2025"``, ``"nl"``  everything
=============  ===========================================================================

Choices where the reference is silent or ambiguous:

- Every table's events have distinct timestamps, so natural keys never collide; watch history
  re-watches a video at another time (a distinct row). Duplicates are exact repeats of rows in
  watch history, shares and searches (``GeneratedArchive.duplicate_rows``).
- Watch window: ``at - 180 days < timestamp <= at``. Other events: ``timestamp <= at``.
  Followers/following: ``follow <= at < unfollow``. One follower is ``"N/A"`` (no row).
- ``expected["profile"]`` counts distinct ``exported_at`` among exports carrying a profile.
- Posts: family A/F (and TXT-1) items have only ``Date``, ``Link``, ``Likes`` (§9.1), so the
  same post exported by A and by B+ shows different (timestamp, sound, title); expected counts
  count the post once (one event), i.e. a loader must merge posts on their timestamp in that
  case. Post links are signed per export (expiry and signature depend on ``at``), so the same
  post has a different ``Link`` in every export: never key on it.
- ``likesReceived`` is the string sum of the likes of posts made by ``at``, ``"None"`` if none.
  ``followerCount``/``followingCount`` (ints, "late 2025") appear only in C and D.
- TXT DMs use the documented 2022 form (``>>> Chat History with <name>:`` and
  ``[date] sender: text``) in every generation; no other TXT DM form is documented.
- TXT photo-mode posts join image URLs with a space (a raw newline would break the line format).
- TXT ``"nl"`` writes the Dutch sentinel ``Dit gedeelte bevat geen gegevens``; folders and labels
  stay English. TXT-1 file names follow the old JSON section names (``Follower List.txt``,
  ``Search History.txt``, ``Purchase History.txt``, ``Videos.txt``…), TXT-1 hashtags use a
  single colon ``HashTag Link:``, later generations the double colon.
- Off-TikTok activity is not duplicated under ``Profile And Settings`` in D (§4 mentions it for
  some 2026 exports); it lives under ``Your Activity`` only.
- Known sections without a table (Status, Settings, Hashtag, Ad Interests, Activity Summary,
  LIVE) carry data and are listed in ``GeneratedArchive.unmodelled_sections``; placeholders such
  as Shop, wallet, Autofill (all ``"N/A"``) or ``Recently Deleted Posts: []`` hold nothing and
  are not listed.

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
WATCH_RETENTION = timedelta(days=180)  # export-formats §12: watch history covers ~6 months
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
)
_EVENT_TABLES = TABLES[:-1]
_SNAPSHOT_TABLES = ("followers", "following", "blocked_accounts")  # keyed by username
_LAZY_TABLES = ("watch_history", "likes", "favorite_videos")

FAMILIES: tuple[str, ...] = ("F", "A", "A-activity", "B", "C", "D", "E")
TXT_GENERATIONS: tuple[str, ...] = ("1", "2", "2025", "nl")
EMPTY_STYLES: tuple[str, ...] = ("mixed", "null", "list", "object", "absent", "no-data")

_ALL = frozenset(TABLES)
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
    "F": _ALL - {"favorite_collections"},
    "A": _ALL - {"favorite_collections"},
    "A-activity": _ACTIVITY_ONLY,
    "B": _ALL,
    "C": _ALL,
    "D": _ALL,
    "E": frozenset({"profile", "followers", "following", "posts"}),
}
TXT_TABLES: dict[str, frozenset[str]] = {
    "1": _ALL - {"favorite_collections"},
    "2": _ALL,
    "2025": _ALL,
    "nl": _ALL,
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
    family: str  # "F" … "E" for JSON, "TXT-1", "TXT-2", "TXT-2025", "TXT-nl" for TXT
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
    """Video share links in the forms of export-formats §10."""
    if form == 3:
        return f"https://www.tiktok.com/@{user}/video/{vid}"
    return f"https://www.tiktokv.com/share/video/{vid}/"


def _user(n: int) -> str:
    return f"user_{n:04d}"


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


class _Off(NamedTuple):
    ts: int
    source: str
    event: str


class _Purchase(NamedTuple):
    ts: int
    kind: str  # "send" or "buy"
    price: str


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
}
# metadata siblings (export-formats §2)
_FASTLANE = frozenset({"followers", "following", "likes", "favorite_videos", "blocked_accounts", "comments", "profile"})
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
# what an empty section looks like in "mixed" (realistic) style, export-formats §7
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
}
JSON_PATHS: dict[str, dict[str, tuple[str, str]]] = {
    "F": _A_PATHS,
    "A": _A_PATHS,
    "A-activity": {
        **{t: p for t, p in _A_PATHS.items() if t in _ACTIVITY_ONLY},
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
    "status": ("Activity", "Status.txt"),
    "unknown": ("Activity", "Synthetic Future Section.txt"),
    "off_tiktok_activity": ("Ads and data", "Off TikTok Activity.txt"),
    "blocked_accounts": ("App Settings", "Block List.txt"),
    "settings": ("App Settings", "Settings.txt"),
    "comments": ("Comments", "Comments.txt"),
    "direct_messages": ("Direct Messages", "Direct Messages.txt"),
    "profile": ("Profile", "Profile Info.txt"),
    "posts": ("Videos", "Videos.txt"),
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
    "status": ("Tiktok/Activity", "Status.txt"),
    "unknown": ("Tiktok/Activity", "Synthetic Future Section.txt"),
    "off_tiktok_activity": ("Tiktok/Ads and data", "Off TikTok Activity.txt"),
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
    "status": ("Your Activity/Activity", "Status.txt"),
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
    "2": _TXT2,
    "2025": _TXT2025,
    "nl": {k: (folder, _NL_NAMES.get(k, name)) for k, (folder, name) in _TXT2025.items()},
}
# files whose Date values carry a " UTC" suffix (export-formats §6)
_TXT_UTC: dict[str, frozenset[str]] = {
    "1": frozenset(),
    "2": frozenset({"logins"}),
    "2025": frozenset({"watch_history", "logins"}),
    "nl": frozenset({"watch_history", "logins"}),
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
            _Comment(t, f"{_COMMENT_TEXTS[i % len(_COMMENT_TEXTS)]}" + ("" if i < len(_COMMENT_TEXTS) else f" #{i}"))
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
        if s.followers >= 3:
            followers_names[2] = "N/A"  # a deleted account (export-formats §7)
        self.followers = self._follows(self._rng("followers"), followers_names)
        self.following = self._follows(self._rng("following"), following_names)
        rng = self._rng("blocked_accounts")
        self.blocked_accounts = [
            _Block(t, u)
            for (t, _), u in zip(self._near_views(rng, s.blocked_accounts, 5, 60), rest[: s.blocked_accounts])
        ]

    def _follows(self, rng: random.Random, names: list[str]) -> list[_Follow]:
        """Follow events; a fraction are undone later. Unfollow times are spread evenly over
        the span (one per slice) and those accounts follow at 30–50 % of the time before it (so
        evenly over the first half of the span), so two exports a few months apart almost always
        differ. The other follows come at a growing rate (one per stratum of a cumulative curve
        ~ t^1.4, in random order), so cumulative follows curve up. Follow times are distinct."""
        real = [i for i, u in enumerate(names) if u != "N/A"]
        m = round(len(real) * self.unfollow_fraction)
        if self.unfollow_fraction > 0 and len(real) >= 2:
            m = max(m, 1)
        leaving = set(rng.sample(real, m)) if m else set()
        span = self._s1 - self._s0
        out: list[_Follow] = []
        k = 0
        slot_order = rng.sample(range(m), m) if m else []
        staying = len(names) - m
        strata = rng.sample(range(staying), staying)
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
                follow = self._s0 + int(span * ((strata.pop() + rng.random()) / staying) ** (1 / _FOLLOW_GROWTH))
                while follow in used and follow < self._s1:
                    follow += 1
                out.append(_Follow(follow, u, None))
            used.add(out[-1].ts)
        return out

    def _build_messages(self) -> None:
        """Conversations in bursts: a thread comes alive at a time the rhythm picks, 2–10 messages
        go back and forth, replies seconds to minutes apart. The first bursts are in the group
        chat and the first one-to-one thread, so both have a back and forth."""
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
        return [e for e in getattr(self, table) if e.ts <= at_s]

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
        if table in ("followers", "following", "blocked_accounts"):
            return e.username
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
        """Distinct rows per table that loading all these exports (in any order) must produce."""
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
            keys.discard("N/A")  # deleted accounts give no row
            counts[table] = len(keys)
        counts["profile"] = len({a.exported_at for a in exports if "profile" in a.tables})
        return counts

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
        ``unmodelled_sections``: include real sections that have no table (Status, Settings, LIVE…).
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
        )
        archive.expected = self.expected_counts([archive])
        return archive

    # --- rows shared by JSON and TXT -------------------------------------------------------

    def _is_empty(self, ctx: _Ctx, table: str) -> bool:
        if table not in ctx.carried:
            return True
        if table == "profile":
            return False
        if table in _LAZY_TABLES:
            lo, hi = self._video_window(table, ctx.at_s)
            return hi <= lo
        return not self._events(table, ctx.at_s)

    def _with_dups(self, ctx: _Ctx, table: str, rows: list[Any], positions: Sequence[int]) -> list[Any]:
        """Repeat rows at the given positions (exact duplicates, export-formats §12)."""
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
        """Signed, expiring CDN links without a video id (export-formats §9.1)."""
        expires = at_s + 14 * 86400
        sig = hashlib.sha1(f"{p.token}/{at_s}".encode()).hexdigest()[:20]
        host = "https://v16-webapp.tiktokv.us/storage/v1/tos-useast5-pve-0068-tx"
        if not p.images:
            return f"{host}/{p.token}?x-tos-expires={expires}&x-tos-signature={sig}"
        return sep.join(
            f"{host}/{p.token}-{k}.jpeg?x-tos-expires={expires}&x-tos-signature={sig}" for k in range(p.images)
        )

    def _profile(self, ctx: _Ctx) -> dict[str, Any]:
        """ProfileMap as of the export time (export-formats §9.2)."""
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
        item.update(
            {
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
                "AddYoursText": "N/A",
            }
        )
        if ctx.family == "D":
            item["AlternateText"] = "N/A"
            item["CoverImage"] = self._post_link(p._replace(images=0), ctx.at_s, "\n") + "&cover=1"
        return item

    def _json_threads(self, ctx: _Ctx) -> dict[str, list[dict[str, str]]]:
        msgs = self._events("direct_messages", ctx.at_s)
        out: dict[str, list[dict[str, str]]] = {}
        for k, thread in enumerate(self._threads):
            rows = [m for m in msgs if m.thread == thread]
            if not rows:
                continue
            if k % 2 == 0:  # order inside a thread is inconsistent (export-formats §8)
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

    def _section(self, ctx: _Ctx, table: str) -> Any:
        """A table's section body, or its empty encoding, or _ABSENT."""
        style = ctx.empty_style
        if style == "mixed":
            style = _MIXED_EMPTY.get(table, "null")
            if table == "followers" and ctx.family in ("A", "E"):
                style = "object"  # "Follower List": {} (export-formats §7)
        list_key = _LIST_KEYS.get(table)
        meta: dict[str, Any] = {}
        if ctx.family != "F":
            if table in _FASTLANE:
                meta["IsFastLane"] = False
            if table in _APP:
                meta["App"] = 1
        if self._is_empty(ctx, table):
            if style == "absent":
                return _ABSENT
            if style == "object":
                return {}
            if table == "purchases":
                return self._json_purchases(ctx, style, empty=True)
            empty_value: Any = None
            if style == "list":
                empty_value = {} if table in ("direct_messages", "profile") else []
            return {list_key: empty_value, **meta}
        if table == "purchases":
            return self._json_purchases(ctx, "null")
        if table == "profile":
            return {list_key: self._profile(ctx), **meta}
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
        """Real sections without a table: some with data (reported as unmodelled), others
        empty placeholders that make each family's key signature complete."""
        fam = ctx.family
        at_s = ctx.at_s
        act = "Your Activity" if fam in ("B", "C", "D") else "Activity"

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
            put("Tiktok Live", "Go Live History", {"GoLiveList": None})
        elif fam == "A-activity":
            put("Activity", "POI Review", {"ReviewsList": None})
        elif fam == "B":
            put("TikTok Shop", "Order History", {"OrderHistories": None})
            put("Location Review", "Location Reviews", {"ReviewsList": None})
            put("Income Plus Wallet Transactions", "Transaction History", {"TransactionsList": None})
            put("Post", "Recently Deleted Posts", {"PostList": []})
            put("Profile", "Autofill", _autofill())
            put("Tiktok Live", "Go Live History", {"GoLiveList": None})
        elif fam in ("C", "D"):
            put("TikTok Shop", "Order History", {"OrderHistories": None})
            put("Location Review", "Location Reviews", {"ReviewsList": None})
            put("Income+ Wallet", "Transaction History", {"TransactionsList": None})
            put("Post", "Recently Deleted Posts", {"PostList": []})
            put("Profile And Settings", "Autofill", _autofill())
            put("Profile And Settings", "AI-Moji", {})
            put("TikTok Live", "Go Live History", {"GoLiveList": None})
            if fam == "D":
                put("Likes and Favorites", "Favorite Comment", {"FavoriteCommentList": []})
                put("Likes and Favorites", "Favorite Location", {"FavoriteLocationList": []})
                put("Likes and Favorites", "Collection", {})
        elif fam == "E":
            put("Profile", "Auto Fill", _autofill())
            put("Video", "RecentlyDeletedPosts", {"PostList": []})

        if fam == "E":
            return
        # unmodelled sections with data
        status = {"Resolution": "1080*2400", "App Version": "37.5.3", "IDFA": "00000000-0000-0000-0000-000000000000",
                  "GAID": "", "Web ID": str(_ID_BASE + 42)}
        if fam in ("C", "D"):
            status.update({"Resolution": "1080x2400", "UID": _ID_BASE + 1234, "DID": str(_ID_BASE + 5678)})
        data(act, "Status", {"Status List": [status]})
        data(act, "Hashtag", {"HashtagList": [
            {"HashtagName": "bread", "HashtagLink": f"https://www.tiktok.com/share/challenge/{_ID_BASE + 4}/"},
            {"HashtagName": "running", "HashtagLink": f"https://www.tiktok.com/share/challenge/{_ID_BASE + 9}/"},
        ]})
        if fam == "A-activity":
            return
        settings_top = "Profile And Settings" if fam in ("C", "D") else "App Settings"
        data(settings_top, "Settings", {"IsFastLane": False, "SettingsMap": _settings_map()})
        ads_top = "Your Activity" if fam in ("C", "D") else "Ads and data"
        data(ads_top, "Ad Interests", {"AdInterestCategories": "Food & Drink|Travel|Pets"})
        if fam in ("C", "D"):
            data("Your Activity", "Activity Summary", {"ActivitySummaryMap": {
                "note": "Activity may take several days to appear.",
                "videosCommentedOnSinceAccountRegistration": 12,
                "videosSharedSinceAccountRegistration": 7,
                "videosWatchedToTheEndSinceAccountRegistration": 340,
            }})
        if fam != "F":
            live_top = "TikTok Live" if fam in ("C", "D") else "Tiktok Live"
            raw = at_s - 86400
            data(live_top, "Watch Live History", {"WatchLiveMap": {str(_ID_BASE + 777): {
                "WatchTime": _fmt(raw - 120),
                "Link": "https://www.tiktok.com/@user_0007/live",
                "Comments": [{"CommentTime": _fmt(raw), "CommentContent": "hello 👋", "RawTime": raw}],
                "Questions": [],
            }}})

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
            for key, text in (("status", _STATUS_TXT), ("settings", _SETTINGS_TXT)):
                folder, name = names[key]
                files[f"{folder}/{name}"] = const(text)
                ctx.unmodelled_sections.append(name)
        if ctx.unknown:
            folder, name = names["unknown"]
            base = ctx.at_s - 3 * 86400
            files[f"{folder}/{name}"] = const(
                "\n\n".join(f"Date: {_fmt(base + k * 3600)}\nValue: future value {k} ✨" for k in range(3)) + "\n"
            )
            ctx.unknown_sections.append(name)
        return files

    def _txt_producer(self, ctx: _Ctx, table: str, sentinel: str) -> Callable[[], Iterator[bytes]]:
        gen = ctx.gen or "2025"
        utc = " UTC" if table in _TXT_UTC[gen] else ""

        if table in _LAZY_TABLES:
            self._count_video_dups(ctx, table)
            if gen == "1":
                link_label = "Video Link"
            else:
                link_label = "Link"

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
        elif table == "purchases":
            text = self._txt_purchases(ctx, sentinel)
        elif table == "profile":
            text = self._txt_records([self._txt_profile(ctx)])
        else:
            rows = self._newest_first(ctx, table)
            text = self._txt_records([self._txt_record(ctx, table, e, utc) for e in rows])
        data = text.encode()
        return lambda: iter((data,))

    @staticmethod
    def _txt_records(records: list[list[tuple[str, str]]]) -> str:
        """Blocks of ``Label: value`` lines separated by blank lines (export-formats §11.1)."""
        return "\n".join("".join(f"{label}: {value}\n" for label, value in rec) for rec in records)

    def _txt_record(self, ctx: _Ctx, table: str, e: Any, utc: str) -> list[tuple[str, str]]:
        gen = ctx.gen
        d = _fmt(e.ts) + utc
        if table == "favorite_sounds":
            return [("Date", d), ("Sound Link" if gen == "1" else "Link", e.link)]
        if table == "favorite_effects":
            return [("Date", d), ("Effect Link", e.link)]
        if table == "favorite_hashtags":
            # "HashTag Link:: <url>" (double colon) outside TXT-1
            return [("Date", d), ("HashTag Link" if gen == "1" else "HashTag Link:", e.link)]
        if table == "favorite_collections":
            return [("Date", d), ("Favorite Collection", e.name)]
        if table == "searches":
            return [("Date", d), ("Search Term", e.term)]
        if table == "shares":
            return [("Date", d), ("Shared Content", e.content), ("Link", e.link), ("Method", e.method)]
        if table == "logins":
            return [("Date", d), ("IP", e.ip), ("Device Model", e.model), ("Device System", e.system),
                    ("Network Type", e.network), ("Carrier", e.carrier)]
        if table == "comments":
            if gen == "1":
                return [("Date", d), ("Comment", e.text)]
            return [("Date", d), ("Comment", e.text), ("Photo", "N/A"), ("Url", "")]
        if table in _SNAPSHOT_TABLES:
            return [("Date", d), ("Username", e.username)]
        if table == "off_tiktok_activity":
            return [("Date", d), ("Source", e.source), ("Event", e.event)]
        if table == "posts":
            # photo-mode URLs joined by a space: a raw newline would break the line format
            link = self._post_link(e, ctx.at_s, " ")
            if gen == "1":
                return [("Date", d), ("Video Link", link), ("Like(s)", e.likes)]
            return [("Date", d), ("Link", link), ("Like(s)", e.likes), ("Who Can View", e.who_can_view),
                    ("Allow Comments", "Yes"), ("Allow Stitches", "Yes" if e.who_can_view == "Everyone" else "No"),
                    ("Allow Duets", "Yes"), ("Allow Stickers", "No"), ("Allow Sharing To Story", "Yes"),
                    ("Content Disclosure", ""), ("AI Generated Content", "No"), ("Sound", e.sound),
                    ("Location", e.location), ("Title", e.title)]
        raise AssertionError(table)

    def _txt_profile(self, ctx: _Ctx) -> list[tuple[str, str]]:
        p = self._profile(ctx)
        return [("Username", p["userName"]), ("Profile Photo", p["profilePhoto"]), ("Profile Video", p["profileVideo"]),
                ("Telephone Number", p["telephoneNumber"]), ("Email Address", p["emailAddress"]),
                ("Bio Description", p["bioDescription"]), ("Birthdate", p["birthDate"]),
                ("Like(s) Received", p["likesReceived"])]

    def _txt_purchases(self, ctx: _Ctx, sentinel: str) -> str:
        rows = sorted(self._events("purchases", ctx.at_s), key=lambda e: e.ts, reverse=True)
        parts = []
        for kind, header in (("send", "Send Gifts History:"), ("buy", "Buy Gifts History:")):
            recs = [[("Date", _fmt(e.ts)), ("Price", e.price)] for e in rows if e.kind == kind]
            parts.append(f"{header}\n" + (self._txt_records(recs) if recs else f"{sentinel}\n"))
        return "\n".join(parts)

    def _txt_messages(self, ctx: _Ctx) -> str:
        """``>>> Chat History with <name>:`` headers and ``[date] sender: text`` lines (§8)."""
        blocks = []
        for thread, items in self._json_threads(ctx).items():
            lines = [f">>> {thread}"] + [f"[{m['Date']}] {m['From']}: {m['Content']}" for m in items]
            blocks.append("\n".join(lines) + "\n")
        return "\n".join(blocks)


def _autofill() -> dict[str, str]:
    return {k: "N/A" for k in ("Address", "City", "Country", "Email", "FirstName", "LastName", "PhoneNumber",
                               "State", "Unit", "ZipCode")}


def _settings_map() -> dict[str, Any]:
    return {
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


_STATUS_TXT = (
    "Screen Resolution: 1080*2400\nApp Version: 37.5.3\nIDFA: 00000000-0000-0000-0000-000000000000\n"
    f"GAID: \nWeb ID: {_ID_BASE + 42}\n"
)
_SETTINGS_TXT = (
    "Allow DownLoad: On\nApp Language: en\nInterests: Food|Travel|Pets\nPersonalized Ads: On\n"
    "Private Account: Off\nWeb Language: N/A\nWho Can Send Me Message: Friends\n"
)


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
