"""Read-only views of an archive's files: members of a ZIP, or files under a folder.

Nothing is extracted under a member's own name: members are streamed under size limits (checked again
while reading), and a name that could escape a folder (``..``, a drive letter, a NUL byte), a symlink
or a special file (FIFO, device) is never read; a ZIP's end records are checked before its central
directory is parsed. 2022 TXT ZIPs name every member from the root (``/Activity/Likes.txt``): the
leading slash is dropped.
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
        handle = open_regular(path, self.display)
        try:
            size = os.fstat(handle.fileno()).st_size
            if size > settings.MAX_ARCHIVE_BYTES:
                raise ArchiveError(f"{self.display}: archive is {size} bytes, over the {settings.MAX_ARCHIVE_BYTES}"
                                   "-byte limit")
            _check_central_directory(handle, size, self.display)
            try:
                self.zip = zipfile.ZipFile(handle)
                infos = self.zip.infolist()
            except _ZIP_ERRORS as exc:
                raise ArchiveError(f"{self.display}: not a readable ZIP archive ({_one_line(exc)}); "
                                   "download it again") from None
        except BaseException:
            handle.close()
            raise
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
                elif entry in files:  # a FIFO, socket or device: it could block or never end
                    relative, kind = full.relative_to(path).as_posix(), _kind(full.lstat().st_mode)
                    log.warning("%s: %r is %s and was not read", self.display, relative, kind)
                    self.ignored.append(UnparsedSection(relative, 0, 0, f"{kind}; not read"))
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
        limit = settings.MAX_MEMBER_BYTES
        too_big = (f"{self.display}: {name} is larger than the {limit}-byte limit "
                   "(TIKTOK_PORTABILITY_MAX_MEMBER_BYTES)")
        handle = open_regular(self.path / name, f"{self.display}: {name}", follow_symlinks=False)
        if os.fstat(handle.fileno()).st_size > limit:
            handle.close()
            raise ArchiveError(too_big)
        # the limit holds while reading too: a file that grows after the check is cut off at the limit
        return _LimitedMember(handle, limit, lambda exc: ArchiveError(
            f"{self.display}: {name} cannot be read ({_one_line(exc)})"), too_big)

    def file_path(self, name: str) -> Path | None:
        return self.path / name

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name in self._names:
            if name.lower().endswith((".json", ".txt")):
                digest.update(name.encode() + b"\0")
                member = hashlib.sha256()
                with self.open(name) as handle:  # streamed, under the member-size limit
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        member.update(chunk)
                digest.update(member.digest())
        return digest.hexdigest()


class _LimitedMember:
    """A member stream (ZIP member or folder file) that raises ``too_big`` as soon as more than
    ``limit`` bytes were read, whatever sizes the headers or ``stat()`` claimed, and words read errors."""

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


def file_or_folder(path: Path) -> bool:
    """True for a folder, False for a regular file (symbolic links followed); anything else is refused
    with one line: a FIFO blocks the first read until a writer comes and may never end, a device such
    as /dev/zero never ends, and neither has a size the limits could check. ``stat`` opens nothing, so
    the check itself cannot hang."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ArchiveError(f"{path.name}: cannot be read ({_one_line(exc)})") from None
    if stat.S_ISDIR(mode):
        return True
    if not stat.S_ISREG(mode):
        raise _not_regular(path.name, path, mode)
    return False


def open_regular(path: Path, display: str, *, follow_symlinks: bool = True) -> IO[bytes]:
    """``path`` opened for reading if it is a regular file, else the error of ``file_or_folder``.
    O_NONBLOCK keeps open() from waiting for a writer should a FIFO have taken the file's place after a
    check; what was opened is checked again (fstat) before it is read."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        mode = os.stat(path, follow_symlinks=follow_symlinks).st_mode
        if stat.S_ISREG(mode):
            fd = os.open(path, flags | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0)))
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                os.close(fd)
    except OSError as exc:
        raise ArchiveError(f"{display}: cannot be read ({_one_line(exc)})") from None
    if not stat.S_ISREG(mode):
        raise _not_regular(display, path, mode)
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return kind
    return "a special file"


def _not_regular(display: str, path: Path, mode: int) -> ArchiveError:
    target = os.path.realpath(path)
    via = f" ({target} through a symbolic link)" if path.is_symlink() and not stat.S_ISLNK(mode) else ""
    return ArchiveError(f"{display}: is {_kind(mode)}{via}, not a regular file or folder; give the export as "
                        "downloaded (.zip), its user_data_tiktok.json or the extracted folder, saved on disk")


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory: ..., entries, directory size, offset, comment length
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")  # ..., entries on this disk, entries, directory size, offset
CENTRAL_BYTES_PER_MEMBER = 256  # central directory allowed per member of the limit (an entry: 46 bytes + name + extra)


def _check_central_directory(handle: IO[bytes], size: int, display: str) -> None:
    """Refuse a ZIP whose end records claim more members than the limit, or a central directory larger
    than the limit's members could need, before ``zipfile`` parses that directory: it builds one
    ``ZipInfo`` per entry before the member count can be checked (1.5 million empty members: 10 s and
    0.8 GB). Reads the records where ``zipfile`` does: the end record (searched in the last 64 KiB + 22
    bytes, behind a comment) and its zip64 twin just before it. Without them ``zipfile`` words the error."""
    tail_size = min(size, _EOCD.size + 0xFFFF)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = len(tail) - _EOCD.size  # no comment: the last 22 bytes; else the last signature (as zipfile)
    if tail[at:at + 4] != b"PK\x05\x06" or tail[-2:] != b"\0\0":
        at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        return
    entries, directory = _EOCD.unpack_from(tail, at)[4:6]
    end = size - tail_size + at  # where the end record starts in the file
    if end >= _ZIP64_LOCATOR.size + _ZIP64_EOCD.size:
        handle.seek(end - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size)
        record = handle.read(_ZIP64_EOCD.size + _ZIP64_LOCATOR.size)
        if record[_ZIP64_EOCD.size:][:4] == b"PK\x06\x07" and record[:4] == b"PK\x06\x06":
            entries, directory = _ZIP64_EOCD.unpack_from(record)[7:9]
    limit = settings.MAX_MEMBERS
    if entries > limit:
        raise ArchiveError(f"{display}: {entries} members, over the {limit} limit "
                           "(possible zip bomb; TIKTOK_PORTABILITY_MAX_MEMBERS)")
    if directory > limit * CENTRAL_BYTES_PER_MEMBER:
        raise ArchiveError(f"{display}: its central directory claims {directory} bytes, more than {limit} members "
                           f"could need (possible zip bomb; TIKTOK_PORTABILITY_MAX_MEMBERS)")
