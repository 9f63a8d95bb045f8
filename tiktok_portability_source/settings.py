"""Constants shared by the API client, the fake API, the reader and the CLI.

Values come from ``docs/tiktok-api.md`` and ``docs/export-formats.md``; keep them here so
that a change in TikTok's documentation is a one-line edit.
"""

from __future__ import annotations

import os
import warnings

# --- API -------------------------------------------------------------------------------------
API_BASE_URL = "https://open.tiktokapis.com"
AUTHORIZE_URL = "https://www.tiktok.com/v2/auth/authorize/"

TOKEN_PATH = "/v2/oauth/token/"
REVOKE_PATH = "/v2/oauth/revoke/"
AUTHORIZE_PATH = "/v2/auth/authorize/"  # served by the fake API on its own host
ADD_PATH = "/v2/user/data/add/"
CHECK_PATH = "/v2/user/data/check/"
DOWNLOAD_PATH = "/v2/user/data/download/"
CANCEL_PATH = "/v2/user/data/cancel/"

CHECK_FIELDS = ("request_id", "apply_time", "collect_time", "status", "data_format", "category_selection_list")

DATA_FORMATS = ("json", "text")
CATEGORIES = ("all_data", "video", "profile", "activity", "direct_message")

# scope data type -> categories it satisfies (docs/tiktok-api.md §3)
SCOPE_CATEGORIES: dict[str, frozenset[str]] = {
    "all": frozenset({"all_data", "profile", "video", "activity", "direct_message"}),
    "postsandprofile": frozenset({"profile", "video"}),
    "activity": frozenset({"activity"}),
    "directmessages": frozenset({"direct_message"}),
}
BASIC_SCOPE = "user.info.basic"
PORTABILITY_SCOPES = tuple(
    f"portability.{kind}.{grant}" for kind in SCOPE_CATEGORIES for grant in ("single", "ongoing")
)

# request statuses (docs/tiktok-api.md §7); "downloading" means ready to download
STATUS_PENDING = "pending"
STATUS_READY = "downloading"
STATUS_EXPIRED = "expired"
STATUS_CANCELLED = "cancelled"
TERMINAL_STATUSES = frozenset({STATUS_EXPIRED, STATUS_CANCELLED})

ZIP_MAGIC = b"PK\x03\x04"

# --- limits ----------------------------------------------------------------------------------
# Guards against hostile archives (zip bombs, huge files); an archive over any of them is refused
# with a one-line error. Each can be changed with the environment variable
# TIKTOK_PORTABILITY_<NAME> (e.g. TIKTOK_PORTABILITY_MAX_MEMBER_BYTES=4294967296), read at import.


def _limit(name: str, default: int) -> int:
    """A limit from ``TIKTOK_PORTABILITY_<name>`` (a positive integer) or its default."""
    raw = os.environ.get(f"TIKTOK_PORTABILITY_{name}", "").strip().replace("_", "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        warnings.warn(f"TIKTOK_PORTABILITY_{name}={raw!r} is not a positive integer; using {default}", stacklevel=2)
        return default
    return int(raw)


MAX_ARCHIVE_BYTES = _limit("MAX_ARCHIVE_BYTES", 2 * 1024**3)  # a downloaded or given ZIP, as stored
MAX_MEMBER_BYTES = _limit("MAX_MEMBER_BYTES", 1 * 1024**3)  # one uncompressed member (or a bare JSON file)
MAX_TOTAL_BYTES = _limit("MAX_TOTAL_BYTES", 4 * 1024**3)  # all members of a ZIP, uncompressed
MAX_COMPRESSION_RATIO = _limit("MAX_COMPRESSION_RATIO", 200)  # uncompressed / compressed, per member
COMPRESSION_RATIO_MIN_BYTES = 1024**2  # the ratio is checked for members larger than this
MAX_MEMBERS = _limit("MAX_MEMBERS", 20_000)  # entries in a ZIP (or files in a folder)
# one value (a bio, a comment, a message): TikTok's longest are a few KB. A bigger one would fail its
# table's load job at the destination, after the other tables' jobs committed: refused up front instead
MAX_VALUE_BYTES = _limit("MAX_VALUE_BYTES", 1024**2)

TOKEN_REFRESH_MARGIN_SECONDS = 300
WEBHOOK_TOLERANCE_SECONDS = 300
ONGOING_MIN_INTERVAL_SECONDS = 24 * 3600

# --- pipeline --------------------------------------------------------------------------------
PIPELINE_NAME = "tiktok_portability"  # no "__": dlt issue #3427
DEFAULT_DATASET = "tiktok"
DEFAULT_DUCKDB = "tiktok_portability.duckdb"
ENV_DUCKDB = "TIKTOK_PORTABILITY_DUCKDB"  # the DuckDB file, for the CLI and the orchestrator definitions alike
BATCH_ROWS = 200_000
# JSON arrays larger than this are not parsed with the rest of the document but streamed to their
# table in batches (archive/jsonstream.py); smaller ones are parsed up front like the rest
JSON_INLINE_BYTES = 4 * 1024**2
# JSON nested deeper than this is refused, wherever it sits (also inside a big list that is only
# counted): orjson's own limit, which the reader relies on rather than checking depth itself
JSON_MAX_DEPTH = 1024
# settings of the default DuckDB destination. A load appends, or merges without deduplicating
# windows, which DuckDB streams or spills within a small memory limit: more would only grow its
# cache of the blocks a load writes (and so the process's memory with the archive's size). Two
# threads without keeping insertion order let DuckDB compress a big table's row groups in parallel
# (the 1M-row watch history loads in 1.4 s instead of 2.1 s); no query of ours relies on row order.
# a load that finds the DuckDB file held by another process (a DuckDB shell, a notebook's open
# connection) waits this long, saying so, before it fails in one line naming that process
DUCKDB_BUSY_WAIT_SECONDS = 10.0
DUCKDB_CONFIG: dict[str, object] = {"memory_limit": "128MB", "threads": 2, "preserve_insertion_order": False}
