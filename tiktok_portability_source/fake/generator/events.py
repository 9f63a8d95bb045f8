r"""The events a history is made of, and when they happen: the daily and weekly rhythm, watch
sessions generated lazily by index, likes and favourites attached to views, and one record type
per kind of event. Nothing here knows about exports or layouts.

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
- Some events share their second with the one before (a fast swipe, two likes at once, a link
  sent to two chats): see ``world.History._build_twins`` and ``_TWIN_WATCH`` / ``_TWIN_ATTACHED``.

Watch history is generated lazily by index (random access, per-session arrays only, no per-row
storage), and likes and favourite videos by index from it, so an archive with millions of watch
rows streams into the ZIP member in chunks with bounded memory. Note that an export only holds
the last 180 days of watch history: to get ``N`` watch rows into a single export, let the history
start no earlier than 180 days before ``at``.
"""

from __future__ import annotations

import random
import time
from array import array
from bisect import bisect_right
from itertools import accumulate
from typing import Iterator, NamedTuple, Sequence

# --------------------------------------------------------------------------------------------
# ids and dates
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


def _share_link(form: int, vid: str, user: str) -> str:
    """Video share links in the forms of docs/export-formats.md"""
    if form == 3:
        return f"https://www.tiktok.com/@{user}/video/{vid}"
    return f"https://www.tiktokv.com/share/video/{vid}/"


def _user(n: int) -> str:
    return f"user_{n:04d}"


# --------------------------------------------------------------------------------------------
# rhythm and lazy streams
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
# same-second twins (i % every == at): watch rows, and likes / favourite videos; rows() tests the
# residues with bit masks, so ``every`` must stay a power of two matching them
_TWIN_WATCH = (16, 11)
_TWIN_ATTACHED = (8, 3)
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
    """Watched videos computed from their index, in sessions: timestamps increase (strictly, but
    for the same-second twins, see ``_twin``), so ranges of indices are time windows, and nothing per row is stored (per-session arrays only:
    1M rows in 50k sessions cost ~1.5 MB).

    Session k holds rows ``cum[k] <= i < cum[k+1]`` (1–60 videos, ~20 on average; a tiny
    history still gets 8 sessions) and starts at ``starts[k]``; row i at position p of it is at
    ``starts[k] + p * tempo[k] + jitter(i)`` with tempo 16–40 s and jitter < tempo/2 (so videos
    are 9–59 s apart), plus a pause of 3–25 min after position ``pause_at[k]`` in ~30 % of
    sessions. Sessions start where the :class:`_Rhythm` puts them (stratified, so evenly spread
    in "activity time"), at least 40 min after the previous one ends. A history too dense for
    that (benchmarks put 1M rows in 6 months) first gets shorter breaks (down to 2 min), then
    tempo, pauses and breaks shrink by a common factor, down to one video per second, so
    the rows' own timestamps always stay distinct and in range.
    """

    def __init__(self, n: int, start_s: int, end_s: int, salt: int, rewatch: bool, rhythm: _Rhythm):
        span = max(1, end_s - start_s)
        self.n = min(max(n, 0), span)  # one event per second at most (twins aside, see _twin)
        self.start = start_s
        self.end = start_s + span  # exclusive
        self.salt = salt
        self.salt2 = _mix(salt + 0x51ED27)
        self.rewatch = rewatch
        # accounts whose videos a twin row shows (``@name`` links): set once the people exist
        self.creators: tuple[str, ...] = ()
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
    #
    # Twins: row i with i % 32 == 11 that is not the first of its session is watched in the same
    # second as row i - 1 (a fast swipe), with its own video (never a re-watch of row i - 1: rows
    # 5 mod 8 are the re-watches) and, once ``creators`` is set, a link naming a followed account.
    # Timestamps are then non-decreasing instead of strictly increasing (ranges of indices are
    # still time windows); ts_slack keeps the row's own ("nominal") second, so events attached to
    # rows keep strictly increasing times.

    def _twin(self, i: int, k: int | None = None) -> bool:
        if i % _TWIN_WATCH[0] != _TWIN_WATCH[1]:
            return False
        if k is None:
            k = bisect_right(self.cum, i) - 1
        return i > self.cum[k]

    def _nominal(self, i: int, k: int) -> int:
        p = i - self.cum[k]
        tempo = self.tempo[k]
        t = self.starts[k] + p * tempo + _mix(self.salt ^ i) % (tempo >> 1 or 1)
        return t + self.pause[k] if p > self.pause_at[k] else t

    def ts(self, i: int) -> int:
        k = bisect_right(self.cum, i) - 1
        return self._nominal(i - 1 if self._twin(i, k) else i, k)

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
        if self.creators and self._twin(i):
            creator = self.creators[(h >> 26) % len(self.creators)]
            return f"https://www.tiktok.com/@{creator}/video/{self.video(i)}"
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
                if i & 15 == 11 and i > base:  # a twin (see _twin; _TWIN_WATCH): rare, the slow way
                    yield fmt(self.ts(i)), self.link(i)
                    continue
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
    row, so timestamps increase too and ranges of indices are time windows, as for
    :class:`_VideoEvents`.

    Twins: event j with j % 8 == 3 is in the same second as event j - 1 and shows the video
    watched just before the one event j - 1 shows (two likes in one second of different videos),
    unless that is the same video (a re-watch) or there is no such row: then it is an ordinary
    event. Timestamps are non-decreasing."""

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

    def twin_row(self, j: int) -> int | None:
        """The watch row whose video twin event j shows; None when j is no twin."""
        if j % _TWIN_ATTACHED[0] != _TWIN_ATTACHED[1]:
            return None
        w = self.row(j - 1)
        if w < 1 or self.watch.source_row(w - 1) == self.watch.source_row(w):
            return None
        return w - 1

    def _own_ts(self, j: int) -> int:
        h = _mix(self.salt ^ j)
        w = self.row(j)
        t, slack = self.watch.ts_slack(w)
        t += min(self.min_delay + (h >> 40) % self.delays, slack)
        return t if t < self.watch.end else self.watch.end - 1

    def ts(self, j: int) -> int:
        return self._own_ts(j - 1 if self.twin_row(j) is not None else j)

    def video(self, j: int) -> str:
        twin = self.twin_row(j)
        return self.watch.video(self.row(j) if twin is None else twin)

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
            if j & 7 == 3 and self.twin_row(j) is not None:  # a twin (_TWIN_ATTACHED): the slow way
                yield fmt(self.ts(j)), self.link(j)
                continue
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


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


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
