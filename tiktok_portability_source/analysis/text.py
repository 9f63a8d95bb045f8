"""Chart labels: text a chart font can draw."""

from __future__ import annotations

import unicodedata
from collections.abc import Container

_INVISIBLE = frozenset({0x200D, 0xFE0E, 0xFE0F})  # zero-width joiner, text/emoji presentation selectors


def _pictograph(code: int) -> bool:
    """Emoji and symbols the usual chart fonts lack: outside the BMP, Misc Symbols, Dingbats, arrows+."""
    return code > 0xFFFF or 0x2600 <= code <= 0x27BF or 0x2B00 <= code <= 0x2BFF


def chart_text(text: str, glyphs: Container[int] | None = None) -> str:
    """``text`` for a chart label: a character the chart font cannot draw becomes ``:its_name:``.

    Matplotlib draws a missing glyph as an empty box, so "cat videos 🐱" would lose what matters;
    here it reads "cat videos :cat_face:". ``glyphs``: the code points the chart's fonts have (an
    emoji font among them keeps emoji as they are); without it, emoji and pictographs are replaced.
    Zero-width joiners and emoji presentation selectors are dropped; whitespace is kept.
    """
    out = []
    for ch in str(text):
        code = ord(ch)
        if code in _INVISIBLE:
            continue
        drawable = (code in glyphs) if glyphs is not None else not _pictograph(code)
        if drawable or ch.isspace():
            out.append(ch)
            continue
        name = unicodedata.name(ch, "")
        out.append(f":{name.lower().replace(' ', '_')}:" if name else f"\\u{code:04x}")
    return "".join(out)
