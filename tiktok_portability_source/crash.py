"""The crash-safety test hook: one environment variable names a point where the process dies hard.

``TIKTOK_PORTABILITY_CRASH_AT=<point>`` or ``<point>:<n>`` (the n-th time, or after n bytes / jobs,
depending on the point). The process is killed with SIGKILL on the spot: no ``finally``, no atexit,
no flush, exactly like a power cut or the OOM killer. Never set in production; the tests in
``tests/e2e/test_crash_matrix.py`` set it for one subprocess and prove the next plain run finishes the job.

Points (see docs/security.md, "Crash safety"):

    transfers: after_add, after_download
    client:    download_bytes:<n>          after at least n bytes of the archive reached the temp file
    auth:      refresh_response            TikTok answered the refresh, the rotated pair is not stored yet
               refresh_persisted           the rotated pair is stored, the new access token not used yet
    stores:    write_<what>[:<n>]          a store write (write_tokens, write_transfers, write_meta; the n-th
                                           of this process) is complete in its transaction, not committed:
                                           like the old temp file not yet renamed into place, the write is lost
               wrote_<what>[:<n>]          the same write is committed and durable, the caller not gone on yet
               migrated_tokens, migrated_transfers
                                           a JSON store of an earlier version is in the database, the JSON
                                           file not deleted yet
    filestore: write_<stem>                a JSON file (write_revocations_owed) is complete in its temp file,
                                           not yet renamed into place
    loader:    extract_rows:<n>            during extract, after n rows went to dlt's buffers
               after_extract, normalize_rows:<n>, after_normalize
               load_job:<n>                during load, once n of the package's jobs are complete
"""

from __future__ import annotations

import logging
import os
import signal
import sys

log = logging.getLogger(__name__)

CRASH_ENV = "TIKTOK_PORTABILITY_CRASH_AT"


def armed(name: str) -> int | None:
    """The threshold (default 1) when ``CRASH_ENV`` names the point ``name``; None otherwise.

    Callers with costly bookkeeping check this once, so an unset variable costs nothing per row."""
    value = os.environ.get(CRASH_ENV)
    if not value:
        return None
    point, _, count = value.partition(":")
    if point != name:
        return None
    return int(count) if count else 1


def crash_point(name: str, reached: int = 1) -> None:
    """Die here when ``CRASH_ENV`` names this point and ``reached`` is at its threshold."""
    threshold = armed(name)
    if threshold is not None and reached >= threshold:
        die(name)


def die(name: str) -> None:
    """SIGKILL ourselves: the one way to stop a Python process that runs no cleanup at all."""
    log.error("crash point %s reached (%s is set): killing the process", name, CRASH_ENV)
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
