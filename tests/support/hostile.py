"""Builders of hostile TikTok archives (zip bombs, zip slip, broken encodings, wrong JSON types…).

Every archive starts from a generated, valid family-B export (``generator.UserHistory``), so a test
knows exactly which rows the undamaged sections must give. Damage is applied to the parsed document
(wrong types) or to the bytes (truncation, bad encodings, ZIP tricks), and written as a real file.
"""

from __future__ import annotations

import copy
import json
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from tiktok_portability_source.archive import ArchiveError, open_archive
from tiktok_portability_source.fake.generator import Sizes, UserHistory
from tiktok_portability_source.layouts import ENTITIES
from tiktok_portability_source.records import section_tables

AT = datetime(2025, 12, 1, tzinfo=timezone.utc)
DATA = "TikTok_Data_1764547200/user_data_tiktok.json"


@dataclass
class Base:
    """A valid export as a document, with the rows each table must get from it."""

    doc: dict[str, Any]
    expected: dict[str, int]

    def copy(self) -> dict[str, Any]:
        return copy.deepcopy(self.doc)


def base_export(tmp: Path, seed: int = 1, sizes: Sizes | None = None) -> Base:
    archive = UserHistory("user_a", seed=seed, sizes=sizes or Sizes()).export(tmp / f"base{seed}", at=AT, family="B",
                                                                   container="bare")
    return Base(json.loads(Path(archive.path).read_text()), dict(archive.expected))


def dump(doc: Any) -> bytes:
    """Pretty-printed like TikTok (2 spaces, raw UTF-8)."""
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)


def write_zip(path: Path, members: dict[str, bytes], *, symlinks: tuple[str, ...] = (),
              stored: bool = False) -> Path:
    """A ZIP with exactly these members (names are not sanitised: that is the point)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2025, 12, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.external_attr = ((stat.S_IFLNK | 0o777) if name in symlinks else (stat.S_IFREG | 0o644)) << 16
            zf.writestr(info, data)
    return path


def json_zip(path: Path, doc_bytes: bytes, **extra: bytes) -> Path:
    return write_zip(path, {DATA: doc_bytes, **extra})


def truncated(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def corrupt_member_data(zip_bytes: bytes) -> bytes:
    """Flip bytes in the middle of the first member's compressed data (headers stay intact)."""
    start = 30 + int.from_bytes(zip_bytes[26:28], "little") + int.from_bytes(zip_bytes[28:30], "little")
    size = int.from_bytes(zip_bytes[18:22], "little")
    out = bytearray(zip_bytes)
    for i in range(start + size // 2, start + size // 2 + 64):
        out[i] ^= 0x5A
    return bytes(out)


def _patch_headers(zip_bytes: bytes, local_offset: int, central_offset: int,
                   patch: Callable[[bytearray, int], None]) -> bytes:
    """``patch(out, at)`` at one field of every member's local and central header."""
    out = bytearray(zip_bytes)
    for sig, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        at = out.find(sig)
        while at >= 0:
            patch(out, at + offset)
            at = out.find(sig, at + 4)
    return bytes(out)


def set_flag(zip_bytes: bytes, bit: int) -> bytes:
    """Set a general-purpose flag bit (0 = encrypted) in the local and central headers of every member."""

    def flag(out: bytearray, at: int) -> None:
        out[at] |= 1 << bit

    return _patch_headers(zip_bytes, 6, 8, flag)


def set_method(zip_bytes: bytes, method: int) -> bytes:
    """Claim another compression method in every header (e.g. 99 = AES, which zipfile cannot read)."""

    def claim(out: bytearray, at: int) -> None:
        out[at:at + 2] = method.to_bytes(2, "little")

    return _patch_headers(zip_bytes, 8, 10, claim)


def zip_bomb(path: Path, uncompressed: int) -> Path:
    """One member of zeros: compresses about 1000-fold."""
    return write_zip(path, {DATA: b"\0" * uncompressed})


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def with_raw_value(doc_bytes: bytes, marker: str, raw: str) -> bytes:
    """Replace the JSON string ``"marker"`` with raw JSON text (values json.dumps cannot write)."""
    quoted = json.dumps(marker).encode()
    assert doc_bytes.count(quoted) == 1, marker
    return doc_bytes.replace(quoted, raw.encode())


def big_watch_list(n: int, item: Callable[[int], Any] | None = None) -> list[Any]:
    """A watch list big enough (n≈40k → >4 MiB) to be streamed (``archive.LazyList``)."""
    make = item or (lambda i: {"Date": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{i // 60 % 60:02d}",
                               "Link": f"https://www.tiktokv.com/share/video/{7000000000000000000 + i}/"})
    return [make(i) for i in range(n)]


def read_all(path: Path, **kwargs: Any) -> dict[str, int]:
    """Open an archive and turn every section into rows (what ``load`` does before dlt): rows per table."""
    opened = open_archive(path, **kwargs)
    counts: dict[str, int] = {}
    for entity in ENTITIES:
        for table in section_tables(entity, opened.sections_for(entity.table), opened.user_id, opened.sha256):
            counts[entity.table] = counts.get(entity.table, 0) + table.num_rows
    return counts


def refusal(path: Path, **kwargs: Any) -> str | None:
    """The reader's one-line error for an archive, or None when it reads."""
    try:
        read_all(path, **kwargs)
    except ArchiveError as exc:
        return str(exc)
    return None
