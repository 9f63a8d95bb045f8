"""Open an export (ZIP, bare JSON, extracted folder, ZIP or folder of TXT files) and find its sections.

One module per concern: ``containers`` (ZIP members and folder files, read safely), ``jsonstream``
(big JSON documents streamed, big lists left on disk), ``sections`` (where each table's sections sit
in a JSON export), ``txt`` (the TXT grammar and TXT exports) and ``model`` (what reading gives:
``OpenedArchive``, ``Section``, ``UnparsedSection``).
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from .. import settings
from ..errors import ArchiveError
from ..layouts import JSON_NAMES
from .containers import _Container, _FolderContainer, _ZipContainer, file_or_folder, file_sha256, open_regular
from .jsonstream import LazyList, _Hashing, bom_encoding, parse_items
from .model import NO_TABLE, OpenedArchive, Section, UnparsedSection
from .sections import _from_json_stream, is_group_name, thread_name
from .txt import _from_txt

__all__ = ["ArchiveError", "LazyList", "NO_TABLE", "OpenedArchive", "Section", "UnparsedSection", "file_sha256",
           "is_group_name", "open_archive", "parse_items", "thread_name"]

_EPOCH_FOLDER = re.compile(r"TikTok_Data_(\d{9,11})", re.IGNORECASE)


def open_archive(path: str | os.PathLike[str], *, user_id: str | None = None,
                 exported_at: datetime | None = None) -> OpenedArchive:
    """Read an export and find its sections; raise ``ArchiveError`` with a one-line reason."""
    path = Path(path)
    if not path.exists():
        raise ArchiveError(f"{path}: no such file or folder")
    if file_or_folder(path):  # a FIFO or a device (e.g. a link to /dev/zero) is refused: it could block or never end
        archive = _open_container(_FolderContainer(path))
    else:
        with open_regular(path, path.name) as handle:
            head = handle.read(4)
        if head == settings.ZIP_MAGIC:
            archive = _open_container(_ZipContainer(path))
        elif path.suffix.lower() == ".json" or head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{" or \
                bom_encoding(head) is not None:
            if path.stat().st_size > settings.MAX_MEMBER_BYTES:
                raise ArchiveError(f"{path.name} is larger than the {settings.MAX_MEMBER_BYTES}-byte limit "
                                   "(TIKTOK_PORTABILITY_MAX_MEMBER_BYTES)")
            hashing = _Hashing(path)  # the hash is computed while streaming: the file is read once
            archive = _from_json_stream(path, path.name, hashing.open, path, hashing.hexdigest, epoch=None)
        else:
            raise ArchiveError(f"{path.name}: neither a ZIP archive nor a JSON file; give the export as downloaded "
                               "(.zip), its user_data_tiktok.json, or the extracted folder")
    if exported_at is not None:
        archive.explicit_exported_at = exported_at
    archive.user_id = user_id or archive.owner_username or ""
    if not archive.user_id:
        raise ArchiveError(f"{path.name}: the archive has no profile to take the user id from; "
                           "pass --user-id to say whose data it is")
    return archive


def _open_container(container: _Container) -> OpenedArchive:
    names = container.names()
    epoch = _epoch_from_names(names + [container.path.name])
    documents = [n for n in names if PurePosixPath(n).name.lower() in JSON_NAMES]
    if len(documents) > 1:
        raise ArchiveError(f"{container.display}: holds {len(documents)} data files ({', '.join(documents[:4])}); "
                           "an export has one: load each export separately")
    if documents:
        member = documents[0]
        archive = _from_json_stream(container.path, f"{container.display}: {member}",
                                    lambda: container.open(member), container.file_path(member),
                                    container.sha256, epoch)
    else:
        txt = [n for n in names if n.lower().endswith(".txt")]
        if not txt:
            raise ArchiveError(f"{container.display}: no user_data_tiktok.json, user_data.json or .txt files "
                               "inside; is this a TikTok export?")
        archive = _from_txt(container, txt, epoch)
    archive.unparsed[:0] = container.ignored
    return archive


def _epoch_from_names(names: list[str]) -> datetime | None:
    for name in names:
        match = _EPOCH_FOLDER.search(name)
        if match:
            return datetime.fromtimestamp(int(match.group(1)), tz=timezone.utc)
    return None
