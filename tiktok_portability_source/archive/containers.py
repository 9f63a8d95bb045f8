"""Read-only views of an archive's files: members of a ZIP, or files under a folder.

Nothing is extracted under a member's own name: members are streamed under size limits, and a name
that could escape a folder (``..``, a drive letter, a NUL byte) or a symlink is never read. 2022 TXT
ZIPs name every member from the root (``/Activity/Likes.txt``): the leading slash is dropped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .. import settings
from ..errors import ArchiveError, one_line as _one_line
from .jsonstream import file_sha256
from .model import UnparsedSection

log = logging.getLogger(__name__)


class _Container:
    """Read-only view of the files of an archive: members of a ZIP or files under a folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.display = path.name
        self.ignored: list[UnparsedSection] = []  # unsafe entries, never read (see _unsafe_name)

    def names(self) -> list[str]:  # posix relative paths
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def open(self, name: str) -> IO[bytes]:
        """A stream of one member, under the same limits as ``read``."""
        raise NotImplementedError

    def file_path(self, name: str) -> Path | None:
        """The member as a plain file on disk (big JSON lists are then read in place), if it is one."""
        return None

    def sha256(self) -> str:
        raise NotImplementedError


class _ZipContainer(_Container):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        size = path.stat().st_size
        if size > settings.MAX_ARCHIVE_BYTES:
            raise ArchiveError(f"{self.display}: archive is {size} bytes, over the {settings.MAX_ARCHIVE_BYTES}-byte limit")
        try:
            self.zip = zipfile.ZipFile(path)
            infos = self.zip.infolist()
        except _ZIP_ERRORS as exc:
            raise ArchiveError(f"{self.display}: not a readable ZIP archive ({_one_line(exc)}); "
                               "download it again") from None
        if len(infos) > settings.MAX_MEMBERS:
            raise ArchiveError(f"{self.display}: {len(infos)} members, over the {settings.MAX_MEMBERS} limit "
                               "(TIKTOK_PORTABILITY_MAX_MEMBERS)")
        self.infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.is_dir():
                continue
            # 2022 TXT exports name every member from the root ("/Activity/Likes.txt"); nothing is ever
            # extracted under a member's name, so the leading slash is no escape: it is dropped
            name = info.filename.lstrip("/")
            if name in self.infos:
                raise ArchiveError(f"{self.display}: member {info.filename} appears twice; the ZIP is malformed "
                                   "or crafted, download the export again")
            problem = _unsafe_name(name) or (
                "a symbolic link" if stat.S_ISLNK(info.external_attr >> 16) else None)
            if problem:
                log.warning("%s: member %r is %s and was not read", self.display, info.filename, problem)
                self.ignored.append(UnparsedSection(info.filename, 0, info.file_size, f"{problem}; not read"))
                continue
            self.infos[name] = info
        total = sum(i.file_size for i in infos)
        if total > settings.MAX_TOTAL_BYTES:
            raise ArchiveError(f"{self.display}: {total} bytes uncompressed, over the {settings.MAX_TOTAL_BYTES}-byte "
                               "limit (possible zip bomb; TIKTOK_PORTABILITY_MAX_TOTAL_BYTES)")

    def names(self) -> list[str]:
        return sorted(self.infos)

    def read(self, name: str) -> bytes:
        with self.open(name) as member:
            return member.read()

    def open(self, name: str) -> IO[bytes]:
        info = self.infos[name]
        limit = settings.MAX_MEMBER_BYTES
        if info.file_size > limit:
            raise ArchiveError(f"{self.display}: member {name} is {info.file_size} bytes uncompressed, over the "
                               f"{limit}-byte limit (possible zip bomb; TIKTOK_PORTABILITY_MAX_MEMBER_BYTES)")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > settings.COMPRESSION_RATIO_MIN_BYTES and ratio > settings.MAX_COMPRESSION_RATIO:
            raise ArchiveError(f"{self.display}: member {name} expands {ratio:.0f}-fold ({info.compress_size} → "
                               f"{info.file_size} bytes), over the {settings.MAX_COMPRESSION_RATIO}-fold limit "
                               "(possible zip bomb; TIKTOK_PORTABILITY_MAX_COMPRESSION_RATIO)")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{self.display}: member {name} is encrypted; give the export as TikTok delivered it")
        try:
            member = self.zip.open(info)
        except _ZIP_ERRORS as exc:
            raise self._damaged(name, exc) from None
        # the stream never yields more than the declared size (zipfile stops there and checks the CRC)
        return _LimitedMember(member, min(limit, info.file_size), lambda exc: self._damaged(name, exc),
                              f"{self.display}: member {name} is larger than its declared size")

    def _damaged(self, name: str, exc: BaseException) -> ArchiveError:
        if isinstance(exc, NotImplementedError):
            return ArchiveError(f"{self.display}: member {name} uses a compression method this reader does not "
                                f"support ({_one_line(exc)}); re-pack it as a plain ZIP (deflate)")
        return ArchiveError(f"{self.display}: member {name} cannot be read ({_one_line(exc)}); the ZIP is damaged "
                            "or truncated, download it again")

    def sha256(self) -> str:
        return file_sha256(self.path)


class _FolderContainer(_Container):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        names: list[str] = []
        # symbolic links (to files or folders) are never followed: they could lead anywhere on the disk
        for folder, dirs, files in os.walk(path, followlinks=False):
            here = Path(folder)
            for entry in [*dirs, *files]:
                full = here / entry
                if full.is_symlink():
                    relative = full.relative_to(path).as_posix()
                    log.warning("%s: %r is a symbolic link and was not followed", self.display, relative)
                    self.ignored.append(UnparsedSection(relative, 0, 0, "a symbolic link; not read"))
                elif entry in files and full.is_file():
                    names.append(full.relative_to(path).as_posix())
            if len(names) > settings.MAX_MEMBERS:
                raise ArchiveError(f"{self.display}: more than {settings.MAX_MEMBERS} files, over the limit "
                                   "(TIKTOK_PORTABILITY_MAX_MEMBERS)")
        self._names = sorted(names)

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()

    def open(self, name: str) -> IO[bytes]:
        target = self.path / name
        if target.stat().st_size > settings.MAX_MEMBER_BYTES:
            raise ArchiveError(f"{self.display}: {name} is larger than the {settings.MAX_MEMBER_BYTES}-byte limit "
                               "(TIKTOK_PORTABILITY_MAX_MEMBER_BYTES)")
        return target.open("rb")

    def file_path(self, name: str) -> Path | None:
        return self.path / name

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name in self._names:
            if name.lower().endswith((".json", ".txt")):
                digest.update(name.encode() + b"\0")
                digest.update(bytes.fromhex(file_sha256(self.path / name)))  # streamed: any size
        return digest.hexdigest()


class _LimitedMember:
    """A ZIP member stream that enforces the uncompressed-size limit and words read errors."""

    def __init__(self, member: IO[bytes], limit: int, damaged: Callable[[BaseException], ArchiveError],
                 too_big: str) -> None:
        self._member, self._left, self._damaged, self._too_big = member, limit, damaged, too_big

    def read(self, size: int = -1) -> bytes:
        want = self._left + 1 if size < 0 else min(size, self._left + 1)
        try:
            data = self._member.read(want)
        except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile, zlib.error) as exc:
            raise self._damaged(exc) from None
        self._left -= len(data)
        if self._left < 0:
            raise ArchiveError(self._too_big)
        return data

    def close(self) -> None:
        self._member.close()

    def __enter__(self) -> _LimitedMember:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error, ValueError, struct.error,
               NotImplementedError, RuntimeError, UnicodeDecodeError, OverflowError, KeyError)
_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe_name(name: str) -> str | None:
    """Why a member name could escape an extraction folder (zip slip), or None. Nothing is extracted
    under a member's name, but such a member has no place in an export and is not read at all."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith("\\") or _DRIVE.match(name):  # a leading "/" was dropped: see _ZipContainer
        return "an absolute path"
    if ".." in parts:
        return "a path leaving the archive (..)"
    if "\0" in name:
        return "a name with a NUL byte"
    return None
