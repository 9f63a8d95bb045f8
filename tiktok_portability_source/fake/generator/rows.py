"""One export's rows before they are written: the per-export context (:class:`_Ctx`: options,
and what the export collected while being written) and the rows JSON and TXT share (empty
sections, exact duplicates, newest-first order, the lazy video rows, the profile, DM threads,
the activity summary)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator, Sequence

from .events import _fmt, _user
from .paths import _LAZY_TABLES
from .world import History


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


_VIDEO_IN_LINK = re.compile(r"/video/(\d+)")
# (every, at): the lazy rows written once more in the other link form (positions in the export)
_FORM_REPEAT = {"watch_history": (80, 5), "likes": (16, 5), "favorite_videos": (16, 1)}
_HEAD = 80  # the newest rows of a lazy table, whose repeats go by their place in the export


def _events_at(lo: int, hi: int, every: int, at: int) -> int:
    """How many events of the index range [lo, hi) are ``at`` mod ``every``."""
    return len(range(lo + (at - lo) % every, hi, every)) if hi > lo else 0


class ExportRows(History):
    """A :class:`History` that can lay out the rows of one export (``ctx``), for the JSON and TXT
    writers alike."""

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
        """(date, link) of the lazy video tables, newest first, repeats interleaved: in watch
        history exact repeats (events 1 and 3 mod 80), and in every lazy table the event
        5 mod 80 (watch), 5 mod 16 (likes), 1 mod 16 (favourite videos) once more with its link in
        the other form (``_other_link_form``): the same second and the same video, so the same row.
        Past the newest ``_HEAD`` rows (counted by place, so that a small export shows every quirk) the
        repeats belong to the events (their index in the history), not to their place in one export:
        every export that holds an older event repeats it alike, so two exports of one user share
        byte-identical runs, as TikTok's do."""
        lo, hi = self._video_window(table, ctx.at_s)
        rows = self.videos[table].rows(lo, hi)
        if not ctx.duplicates:
            yield from rows
            return
        exact, (every, at) = table == "watch_history", _FORM_REPEAT[table]
        for p, (event, row) in enumerate(zip(range(hi - 1, lo - 1, -1), rows)):
            anchor = p if p < _HEAD else event
            yield row
            if exact and anchor % 80 in (1, 3):
                yield row
            elif anchor % every == at:
                yield row[0], self._other_link_form(row[1], anchor)

    def _count_video_dups(self, ctx: _Ctx, table: str) -> None:
        if ctx.duplicates:
            lo, hi = self._video_window(table, ctx.at_s)
            every, at = _FORM_REPEAT[table]
            head = min(max(hi - lo, 0), _HEAD)  # the newest rows, by place; the older ones by event
            repeats = len(range(at, head, every)) + _events_at(lo, hi - head, every, at)
            if table == "watch_history":
                repeats += sum(len(range(r, head, 80)) + _events_at(lo, hi - head, 80, r) for r in (1, 3))
            if repeats:
                ctx.dup(table, repeats)

    def _other_link_form(self, link: str, p: int) -> str:
        """The same video's link in the other form: share form <-> ``@creator`` form."""
        found = _VIDEO_IN_LINK.search(link)
        assert found is not None, link
        vid = found.group(1)
        if "/@" in link:
            return f"https://www.tiktokv.com/share/video/{vid}/"
        creators = self.videos["watch_history"].creators
        creator = creators[p % len(creators)] if creators else _user(p % 10000)
        return f"https://www.tiktok.com/@{creator}/video/{vid}"

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

    def _activity_summary(self, at_s: int) -> dict[str, Any]:
        """ActivitySummaryMap as of ``at_s`` (lifetime counters, so the whole history counts)."""
        watched = self.videos["watch_history"].first_after(at_s)
        return {
            "note": "Activity may take several days to appear.",
            "videosCommentedOnSinceAccountRegistration": len(self._events("comments", at_s)),
            "videosSharedSinceAccountRegistration": len(self._events("shares", at_s)),
            "videosWatchedToTheEndSinceAccountRegistration": watched * 3 // 5,
        }

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
