"""A small JSON document on disk, written atomically, owner-only, serialised across processes.

The owed-revocations file needs exactly this: a crash mid-write must leave the old or the new file
(never half of one), two processes must not lose each other's updates, and the file must not be
readable by anyone else. The token and transfer stores were such files before they moved into a
database (``api/stores.py``); ``JsonFile`` still reads them once to move them in, and
``shred_store_file`` removes them afterwards.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..crash import crash_point
from ..errors import TokenStoreError

from filelock import FileLock

log = logging.getLogger(__name__)


class JsonFile:
    """Read / write one JSON object at ``path`` under a ``<path>.lock`` file lock."""

    def __init__(self, path: str | os.PathLike[str], what: str = "store", *, strict: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.what = what
        self.strict = strict  # refuse (not just warn about) a file others can read
        self._lock_path = self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._rlock = threading.RLock()
        self._depth = 0
        self._file_lock = FileLock(str(self._lock_path), mode=0o600, thread_local=False)
        self._warned_mode = False

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the cross-process write lock (re-entrant within this object)."""
        with self._rlock:  # threads of this process; the file lock (any OS) is for other processes
            if self._depth == 0:
                self._ensure_dir()
                self._file_lock.acquire()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._file_lock.release()

    def _ensure_dir(self) -> None:
        parent = self.path.parent
        if not parent.exists():
            parent.mkdir(parents=True, mode=0o700, exist_ok=True)
            os.chmod(parent, 0o700)  # mkdir's mode is filtered by the umask

    def read(self) -> dict[str, Any] | None:
        """The stored object, or None when the file does not exist yet."""
        try:
            with open(self.path, "rb") as fh:
                mode = os.fstat(fh.fileno()).st_mode
                raw = fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TokenStoreError(f"cannot read {self.what} {self.path}: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO) and self.strict:
            raise TokenStoreError(f"{self.what} {self.path} is accessible by group/others (mode "
                                  f"{stat.S_IMODE(mode):o}) and strict_permissions is on: run chmod 600 {self.path}")
        if mode & (stat.S_IRWXG | stat.S_IRWXO) and not self._warned_mode:
            self._warned_mode = True
            log.warning("%s %s is accessible by group/others (mode %o); run: chmod 600 %s",
                        self.what, self.path, stat.S_IMODE(mode), self.path)
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise TokenStoreError(f"{self.what} {self.path} is not valid JSON; fix or remove it") from None
        if not isinstance(data, dict):
            raise TokenStoreError(f"{self.what} {self.path} has an unexpected shape")
        return data

    def write(self, data: dict[str, Any]) -> None:
        """Replace the file atomically: temp file (0600) + fsync + rename + directory fsync."""
        with self.locked():
            self._remove_stale_temp_files()
            self._write(data)

    def _remove_stale_temp_files(self) -> None:
        """Delete temp files of a writer killed before its rename: they may hold tokens, and under
        the lock no other writer can be half-way through one."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
                log.info("removed %s, left by an interrupted write", stale.name)

    def _write(self, data: dict[str, Any]) -> None:
        self._ensure_dir()
        payload = json.dumps(data, indent=2, sort_keys=True, default=str).encode("utf-8")
        fd, tmp = -1, ""
        for _ in range(100):
            tmp = str(self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp"))
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover
            raise TokenStoreError(f"cannot create a temporary file next to {self.path}")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            crash_point(f"write_{self.path.stem}")  # e.g. write_tokens: the new file is complete, not yet in place
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # persist the rename itself
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


def shred_store_file(path: str | os.PathLike[str]) -> int:
    """Overwrite with zeros, fsync and delete a JSON store file and the temp files an interrupted
    write left beside it (``.<name>.*.tmp``): they hold tokens in plaintext. Returns the files removed.

    Zeros replace the bytes in place on ordinary file systems; a copy-on-write file system (btrfs, ZFS),
    a snapshot or an SSD's remapping may keep the old blocks, which no program can reach from here."""
    path = Path(path)
    removed = 0
    for victim in [path, *path.parent.glob(f".{path.name}.*.tmp")]:
        try:
            fd = os.open(victim, os.O_WRONLY)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise TokenStoreError(f"cannot remove {victim}: {exc.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            chunk = b"\0" * 65536
            written = 0
            while written < size:
                written += os.write(fd, chunk[: min(len(chunk), size - written)])
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(victim)
        removed += 1
    if removed:
        with contextlib.suppress(OSError):
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    return removed
