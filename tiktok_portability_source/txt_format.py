"""The TXT export grammar (``export-formats.md`` §11): blocks of ``Label: value`` lines.

Kept apart from the container code because the grammar has its own quirks: values contain colons
(split on the first one), ``HashTag Link::`` has two, empty values are ``Label: ``, header lines open
sub-sections, and a whole file may be a localised "no data" sentence. DMs use their own grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .layouts import NO_DATA_LINES, NO_DATA_PREFIXES, norm_key


@dataclass
class TxtRecords:
    """Records of one TXT file; ``header`` tells which sub-section each record came from."""

    records: list[dict[str, str]] = field(default_factory=list)
    headers: list[str | None] = field(default_factory=list)
    is_empty_sentinel: bool = False


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 with an optional BOM, or UTF-16 with its BOM (an editor's "Unicode" save); anything else
    is an error naming the file and the first bad byte."""
    encoding = "utf-8"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"  # the BOM says which byte order, and is dropped
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name} is not valid {encoding.upper()} text (byte {exc.start})") from None


def is_no_data(line: str) -> bool:
    key = norm_key(line)
    return key in NO_DATA_LINES or any(key.startswith(p) for p in NO_DATA_PREFIXES)


def parse_records(text: str) -> TxtRecords:
    """Split a TXT section into records; a repeated label also starts a new record."""
    out = TxtRecords()
    current: dict[str, str] = {}
    header: str | None = None
    saw_sentinel = False

    def flush() -> None:
        nonlocal current
        if current:
            out.records.append(current)
            out.headers.append(header)
            current = {}

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
            continue
        if is_no_data(line):
            flush()
            saw_sentinel = True
            continue
        label, sep, value = line.partition(":")
        value = value.lstrip(":").strip()  # "HashTag Link:: url" has two colons
        if not sep or (not value and not current and not raw.rstrip("\r\n").endswith(" ")):
            # "Send Gifts History:" (or a line without a colon) at the start of a block: a header
            flush()
            header = line.rstrip(":").strip()
            continue
        key = norm_key(label)
        if key in current:
            flush()
        current[key] = value
    flush()
    out.is_empty_sentinel = saw_sentinel and not out.records
    return out


_THREAD = re.compile(r"^>+\s*Chat History with (?P<name>.+)$", re.IGNORECASE)  # linear: no nested quantifiers
_MESSAGE = re.compile(r"^\[(?P<date>[^\]]+)\]\s*(?P<sender>[^:]*?):\s?(?P<content>.*)$")


def parse_direct_messages(text: str) -> dict[str, list[dict[str, str]]]:
    """``>>> Chat History with <name>:`` threads of ``[date] sender: text`` lines (2022 TXT)."""
    threads: dict[str, list[dict[str, str]]] = {}
    current: list[dict[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if not line.strip() or is_no_data(line):
            continue
        thread = _THREAD.match(line.strip())
        if thread:
            current = threads.setdefault(thread.group("name").rstrip().removesuffix(":").strip(), [])
            continue
        message = _MESSAGE.match(line.strip())
        if message and current is not None:
            current.append({"date": message.group("date"), "from": message.group("sender"),
                            "content": message.group("content")})
        elif current is not None and current:
            # a message text spanning several lines
            current[-1]["content"] += "\n" + line
    return threads
