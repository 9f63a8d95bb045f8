"""Writing a history's export as one JSON document (families F, A, A-activity, B, C, D, E):
section bodies, empty-section styles, metadata siblings, placeholders, and a streaming
pretty-printer that writes huge lazy lists chunk by chunk."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import orjson

from .events import _Comment, _fmt, _Post
from .paths import (
    _LAZY_TABLES,
    _LIST_KEYS,
    _OLD_OFF_TIKTOK,
    _SECTION_TABLES,
    _SNAPSHOT_TABLES,
    _UNKNOWN_TOP,
    _WATCH_LIVE,
    JSON_PATHS,
    SEP,
    TABLES,
)
from .rows import ExportRows, _Ctx
from .text import _autofill, _settings_map


class _Absent:
    """Marks a section that the chosen empty style leaves out entirely."""


_ABSENT = _Absent()


class _LazyList:
    """A JSON list written in chunks: a factory of item-list chunks, never materialised whole."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: Callable[[], Iterator[list[dict[str, Any]]]]):
        self.chunks = chunks


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


def _duration(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    return f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"


class JsonRenderer(ExportRows):
    """Renders an export as the JSON document of its family (``_json_doc``)."""

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
