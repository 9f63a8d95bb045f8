"""Archives the fake API serves: generated exports of a per-user synthetic history, cut by category.

Each open_id gets its own deterministic ``UserHistory`` whose events run up to a little after the
fake's "now", so repeated (ongoing) requests over simulated days see new events appear, and an
export taken later holds a later watch-history window, just like TikTok's.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from .generator import Sizes, UserHistory

# top-level JSON sections per Add category (layout D); "all_data" keeps everything
CATEGORY_SECTIONS: dict[str, frozenset[str]] = {
    "profile": frozenset({"Profile And Settings"}),
    "video": frozenset({"Post"}),
    "activity": frozenset({"Your Activity", "Likes and Favorites", "Comment", "Location Review", "TikTok Live",
                           "TikTok Shop", "Income+ Wallet"}),
    "direct_message": frozenset({"Direct Message"}),
}

DEMO_SIZES = Sizes(watch_history=4000, likes=1500, favorite_videos=120, searches=300, shares=150, logins=90,
                   comments=120, direct_messages=400, followers=300, following=250, posts=60)


class HistoryArchiveBuilder:
    """``archive_builder(open_id, categories, data_format)`` for ``FakeTikTok``, backed by the generator."""

    def __init__(self, clock: Callable[[], float], *, sizes: Sizes = DEMO_SIZES, history_days: int = 400,
                 future_days: int = 30, workdir: Path | None = None,
                 username_of: Callable[[str], str | None] = lambda open_id: None,
                 unknown_sections: bool = True) -> None:
        self.clock = clock
        self.unknown_sections = unknown_sections  # the synthetic "future" sections that test unparsed_sections
        self.username_of = username_of
        self.sizes = sizes
        self.history_days = history_days
        self.future_days = future_days
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-tiktok-") if workdir is None else None
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self._histories: dict[str, UserHistory] = {}
        self._anchor: datetime | None = None  # the clock's "now" at the first request

    def history(self, open_id: str) -> UserHistory:
        """The same history for an open_id for the builder's whole life (seeded by the id)."""
        if self._anchor is None:
            self._anchor = datetime.fromtimestamp(int(self.clock()), tz=timezone.utc)
        if open_id not in self._histories:
            seed = int(hashlib.sha256(open_id.encode()).hexdigest()[:8], 16)
            username = self.username_of(open_id) or f"user_{seed % 100000:05d}"
            self._histories[open_id] = UserHistory(
                username, seed=seed, start=self._anchor - timedelta(days=self.history_days),
                end=self._anchor + timedelta(days=self.future_days), sizes=self.sizes)
        return self._histories[open_id]

    def __call__(self, open_id: str, categories: Sequence[str], data_format: str) -> Path:
        at = datetime.fromtimestamp(int(self.clock()), tz=timezone.utc)
        out = self.workdir / hashlib.sha256(open_id.encode()).hexdigest()[:12]
        if data_format == "text":
            return self.history(open_id).export(out, at=at, data_format="txt", txt_generation="2025",
                                                unknown_sections=self.unknown_sections).path
        archive = self.history(open_id).export(out, at=at, family="D", unknown_sections=self.unknown_sections)
        wanted = set(categories)
        if "all_data" in wanted:
            return archive.path
        keep = set().union(*(CATEGORY_SECTIONS.get(c, frozenset()) for c in wanted))
        return _filter_top_sections(archive.path, keep)


def _filter_top_sections(path: Path, keep: set[str]) -> Path:
    """Drop the top-level sections a category export would not contain (docs/export-formats.md)."""
    with zipfile.ZipFile(path) as source:
        name = next(n for n in source.namelist() if n.endswith(".json"))
        doc = orjson.loads(source.read(name))
    doc = {k: v for k, v in doc.items() if k in keep}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        target.writestr(name, orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    filtered = path.with_name(path.stem + "-" + "-".join(sorted(k.split()[0].lower() for k in keep)) + ".zip")
    filtered.write_bytes(buffer.getvalue())
    return filtered
