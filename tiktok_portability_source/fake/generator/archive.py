"""Putting an export on disk: :class:`UserHistory` (a history with both writers) and its
``export``, which checks the options, names the archive and writes it as a ZIP (fixed timestamps
and permissions, so byte-identical), a folder or a bare JSON file; and ``generate_archive``."""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from .paths import _ALL, _LAZY_TABLES, _ROOTED_TXT, FAMILIES, FAMILY_TABLES, TXT_GENERATIONS, TXT_TABLES
from .render_json import JsonRenderer, _write_json
from .render_txt import TxtRenderer
from .rows import _Ctx
from .text import _autofill
from .world import EMPTY_STYLES, UTC, GeneratedArchive, Sizes, _utc

# --------------------------------------------------------------------------------------------
# files and zips
# --------------------------------------------------------------------------------------------


def _zip_writer(path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)


def _zinfo(name: str, date_time: tuple[int, ...], level: int) -> zipfile.ZipInfo:
    """Fixed timestamp and permissions: the same export gives byte-identical ZIPs."""
    info = zipfile.ZipInfo(name, date_time=tuple(date_time))  # type: ignore[arg-type]
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = level  # type: ignore[attr-defined]  # honoured by ZipFile.open(info, "w")
    info.external_attr = 0o644 << 16
    info.create_system = 3
    return info


def _fresh_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else os.remove(path)
    path.mkdir(parents=True)


# --------------------------------------------------------------------------------------------
# the public history
# --------------------------------------------------------------------------------------------


class UserHistory(JsonRenderer, TxtRenderer):
    """One user's TikTok history over [start, end]; exports are views of it at given moments."""

    def export(
        self,
        out_dir: Path,
        *,
        at: datetime,
        family: str = "B",
        data_format: str = "json",
        container: str = "zip",
        json_name: str = "user_data_tiktok.json",
        txt_generation: str = "2025",
        duplicates: bool = True,
        unknown_sections: bool = True,
        empty_style: str = "mixed",
        with_profile: bool = True,
        epoch_folder: bool = True,
        empty_tables: Iterable[str] = (),
        unmodelled_sections: bool = True,
    ) -> GeneratedArchive:
        """Write the export TikTok would have produced at ``at`` and describe it.

        ``empty_style`` is how empty sections are written (JSON): ``"mixed"`` realistic per
        section (mostly ``null``; ``"ChatHistory": {}``; ``"Off TikTok Activity": {}``;
        ``"Follower List": {}`` in A/E), ``"null"`` (list key null), ``"list"`` (``[]``, ``{}``
        for maps), ``"object"`` (section ``{}``), ``"absent"`` (section left out). TXT writes the
        sentinel line for every style except ``"absent"`` (no file) and ``"no-data"`` (no file,
        a ``no-data.txt`` in its folder instead).
        ``empty_tables``: tables written as present-but-empty in this export.
        ``unmodelled_sections``: include real sections that have no table (LIVE settings, TXT-2022
        partners' ads).
        """
        at = _utc(at)
        at_s = int(at.timestamp())
        if data_format not in ("json", "txt"):
            raise ValueError(f"data_format must be 'json' or 'txt', not {data_format!r}")
        if empty_style not in EMPTY_STYLES:
            raise ValueError(f"empty_style must be one of {EMPTY_STYLES}")
        empty = frozenset(empty_tables)
        if empty - _ALL:
            raise ValueError(f"unknown tables in empty_tables: {sorted(empty - _ALL)}")
        if container not in ("zip", "bare", "folder"):
            raise ValueError("container must be 'zip', 'bare' or 'folder'")
        if data_format == "json":
            if family not in FAMILIES:
                raise ValueError(f"family must be one of {FAMILIES}")
            if empty_style == "no-data":
                raise ValueError("empty_style 'no-data' exists only for TXT exports")
            if json_name not in ("user_data_tiktok.json", "user_data.json"):
                raise ValueError("json_name must be user_data_tiktok.json or user_data.json")
            supported = FAMILY_TABLES[family]
            label, gen = family, None
        else:
            if txt_generation not in TXT_GENERATIONS:
                raise ValueError(f"txt_generation must be one of {TXT_GENERATIONS}")
            if container == "bare":
                raise ValueError("a TXT export cannot be a bare file")
            supported = TXT_TABLES[txt_generation]
            label, gen = f"TXT-{txt_generation}", txt_generation
        carried = supported - empty
        if not with_profile:
            carried -= {"profile"}
        ctx = _Ctx(
            at=at,
            at_s=at_s,
            family=label,
            data_format=data_format,
            gen=gen,
            duplicates=duplicates,
            unknown=unknown_sections,
            unmodelled=unmodelled_sections,
            empty_style=empty_style,
            empty_tables=empty & supported,
            carried=carried,
        )
        ctx_with_profile = with_profile and "profile" in supported

        digest = hashlib.sha1(
            repr(
                (self.key, at_s, label, container, json_name, duplicates, unknown_sections, empty_style,
                 with_profile, epoch_folder, sorted(empty), unmodelled_sections)
            ).encode()
        ).hexdigest()[:8]
        stem = f"{self.username}_{label}_{at.strftime('%Y%m%dT%H%M%S')}_{digest}"
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        prefix = f"TikTok_Data_{at_s}/" if epoch_folder else ""
        if gen in _ROOTED_TXT:  # "/Activity/…" in a ZIP, "Activity/…" in a folder, never an epoch folder
            prefix = "/" if container == "zip" else ""
        zip_time = max(at.timetuple()[:6], (1980, 1, 1, 0, 0, 0))

        lazy_rows = sum(
            hi - lo for t in _LAZY_TABLES if t in carried for lo, hi in [self._video_window(t, at_s)]
        )
        big = lazy_rows > 3_000_000  # ZIP64 well before a member can reach 2 GiB
        level = 1 if lazy_rows > 250_000 else 6  # huge archives: deflate speed over size

        if data_format == "json":
            doc = self._json_doc(ctx, with_profile=ctx_with_profile)
            if container == "zip":
                path = out_dir / f"{stem}.zip"
                with _zip_writer(path) as zf:
                    with zf.open(_zinfo(prefix + json_name, zip_time, level), "w", force_zip64=big) as fp:
                        _write_json(fp.write, doc)
            else:
                folder = out_dir / stem
                _fresh_dir(folder)
                path = folder / json_name if container == "bare" else folder
                target = folder / json_name if container == "bare" else folder / prefix / json_name
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb", buffering=1 << 20) as fh:
                    _write_json(fh.write, doc)
        else:
            files = self._txt_files(ctx, with_profile=ctx_with_profile)
            if container == "zip":
                path = out_dir / f"{stem}.zip"
                with _zip_writer(path) as zf:
                    for name in sorted(files):
                        with zf.open(_zinfo(prefix + name, zip_time, level), "w", force_zip64=big) as fp:
                            for chunk in files[name]():
                                fp.write(chunk)
            else:
                path = out_dir / stem
                _fresh_dir(path)
                for name in sorted(files):
                    target = path / (prefix + name)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with open(target, "wb", buffering=1 << 20) as fh:
                        for chunk in files[name]():
                            fh.write(chunk)

        has_profile = "profile" in carried
        archive = GeneratedArchive(
            path=path,
            family=label,
            data_format=data_format,
            username=self.username if has_profile else None,
            exported_at=at,
            unknown_sections=list(ctx.unknown_sections),
            expected={},
            unmodelled_sections=list(ctx.unmodelled_sections),
            duplicate_rows=dict(sorted(ctx.duplicate_rows.items())),
            tables=carried,
            txt_generation=gen,
            history_key=self.key,
            autofill_values=sum(v != "N/A" for v in _autofill(real=True).values()) if label in ("C", "D") else 0,
        )
        archive.expected = self.expected_counts([archive])
        return archive


# --------------------------------------------------------------------------------------------
# convenience
# --------------------------------------------------------------------------------------------


def generate_archive(
    out_dir: Path,
    *,
    family: str = "B",
    data_format: str = "json",
    seed: int = 0,
    username: str = "user_a",
    at: datetime = datetime(2025, 12, 1, tzinfo=UTC),
    sizes: Sizes = Sizes(),
    start: datetime | None = None,
    end: datetime | None = None,
    unfollow_fraction: float = 0.2,
    **export_kwargs: Any,
) -> GeneratedArchive:
    """One archive of a fresh history (defaults: 2025-01-01 … 2025-12-31, taken 2025-12-01)."""
    history_kwargs: dict[str, Any] = {"seed": seed, "sizes": sizes, "unfollow_fraction": unfollow_fraction}
    if start is not None:
        history_kwargs["start"] = start
    if end is not None:
        history_kwargs["end"] = end
    history = UserHistory(username, **history_kwargs)
    return history.export(Path(out_dir), at=at, family=family, data_format=data_format, **export_kwargs)
