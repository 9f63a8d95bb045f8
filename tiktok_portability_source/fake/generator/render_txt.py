"""Writing a history's export as TXT files (generations ``"1"``, ``"2022"``, ``"2"``, ``"2025"``,
``"nl"``): ``Label: value`` records, the two DM grammars, the ``" UTC"`` suffix per file, the
no-data sentinels and the unlabelled continuation lines of multi-line texts and photo posts."""

from __future__ import annotations

from typing import Any, Callable, Iterator

from .events import _fmt
from .paths import (
    _LAZY_TABLES,
    _OLD_TXT,
    _SECTION_TABLES,
    _SNAPSHOT_TABLES,
    _TXT_UNMODELLED_KEYS,
    TABLES,
    TXT_FILES,
    TXT_TABLES,
)
from .rows import ExportRows, _Ctx
from .text import _SETTINGS_TXT

NO_DATA_SENTINEL = "You have no data in this section"
NO_DATA_SENTINEL_NL = "Dit gedeelte bevat geen gegevens"

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


class TxtRenderer(ExportRows):
    """Renders an export as the TXT files of its generation (``_txt_files``)."""

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
