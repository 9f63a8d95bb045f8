r"""Deterministic synthetic TikTok export archives.

Tests, the demo, the fake API and the benchmarks all need TikTok exports, and real ones are
personal data that must never be committed. This package fabricates them instead: a
:class:`UserHistory` is one user's events over a time span, and :meth:`UserHistory.export`
writes what a TikTok export taken at a given moment would contain, in any of the layout families
and TXT generations described in ``docs/export-formats.md``. Because the history is
the single source of truth, :meth:`UserHistory.expected_counts` can tell exactly how many distinct
rows a correct loader must produce from any set of exports of it.

All values are fabricated: usernames ``user_0042``, IPs from 203.0.113.0/24 and 198.51.100.0/24,
``example.com`` e-mail addresses, 19-digit ids starting with 7. Output is byte-identical for the
same arguments (seeded ``random.Random``, fixed ZIP timestamps, sorted iteration).

Modules (each imports only the ones above it):

- ``paths``: which tables each JSON family / TXT generation carries, section paths, list keys and
  TXT file names (independent of the reader's ``layouts``), and what each section holds.
- ``text``: the made-up values (search terms, comments, DMs, devices, shops, Settings, Autofill).
- ``events``: the daily rhythm, lazily generated watch sessions and the event record types.
- ``world``: ``History`` (the events, what an export at a moment shows, expected counts and
  rows), ``Sizes``, ``GeneratedArchive``; the reproduced quirks and the choices made.
- ``rows``: one export's context and the rows JSON and TXT share.
- ``render_json``, ``render_txt``: writing an export as a JSON document / as TXT files.
- ``archive``: ``UserHistory`` (a history with both writers) and its ``export`` (ZIP, folder or
  bare file), and ``generate_archive``.
"""

from .archive import UserHistory, generate_archive
from .paths import (
    FAMILIES,
    FAMILY_TABLES,
    JSON_PATHS,
    OPT_IN_TABLES,
    SEP,
    TABLES,
    TXT_FILES,
    TXT_GENERATIONS,
    TXT_TABLES,
)
from .render_txt import NO_DATA_SENTINEL, NO_DATA_SENTINEL_NL
from .world import EMPTY_STYLES, WATCH_RETENTION, GeneratedArchive, Sizes

__all__ = [
    "EMPTY_STYLES",
    "FAMILIES",
    "FAMILY_TABLES",
    "GeneratedArchive",
    "JSON_PATHS",
    "NO_DATA_SENTINEL",
    "NO_DATA_SENTINEL_NL",
    "OPT_IN_TABLES",
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
