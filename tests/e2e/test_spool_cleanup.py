"""A load killed with SIGKILL leaves none of the archive's raw data in the temporary folder.

The big lists of a ZIP member are copied to a spool file while they are read. The spool lives in a
private folder (mode 700) and is unlinked as soon as it is opened, so the data goes with the process,
however it ends. Here the real CLI is killed (``TIKTOK_PORTABILITY_CRASH_AT``) while it writes rows,
with ``TMPDIR`` pointing at a test folder and every privacy option on, and every byte under that folder is searched for the DM
text and the follower names of the archive: none may be there, not after the kill, nor after a rerun.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support.hostile import base_export, dump, json_zip

from tiktok_portability_source.crash import CRASH_ENV

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and file modes are POSIX")

DM_TEXT = "quokka-secret-message"
FOLLOWER = "quokka_follower_"


def big_export(tmp: Path) -> Path:
    """A generated export whose DM thread and follower list are big enough to be spooled (over 4 MiB)."""
    base = base_export(tmp)
    doc = base.copy()
    threads = doc["Direct Message"]["Direct Messages"]["ChatHistory"]
    thread = next(k for k in threads if "user_" in k)
    threads[thread] = [{"Date": f"2025-07-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{i // 60 % 60:02d}",
                        "From": thread.split()[-1].rstrip(":"), "Content": f"{DM_TEXT} number {i}"}
                       for i in range(60_000)]
    doc["Your Activity"]["Follower"]["FansList"] = [
        {"Date": f"2025-06-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{i // 60 % 60:02d}", "UserName": f"{FOLLOWER}{i}"}
        for i in range(70_000)]
    return json_zip(tmp / "big.zip", dump(doc))


def run_load(tmp: Path, archive: Path, tmpdir: Path, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV and not k.startswith("SOURCES__")}
    env.update({"RUNTIME__DLTHUB_TELEMETRY": "false", "TMPDIR": str(tmpdir),
                "SOURCES__TIKTOK_PORTABILITY__PSEUDONYMIZE_KEY": "k" * 40})
    if crash_at:
        env[CRASH_ENV] = crash_at
    db = tmp / "out.duckdb"
    cmd = [sys.executable, "-m", "tiktok_portability_source.cli", "load", str(archive), "--duckdb", str(db),
           "--pipelines-dir", str(tmp / "pipelines"), "--pseudonymize", "--drop-message-text", "--drop-network-ids", "-q"]
    return subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=300, check=False)


def files_holding(folder: Path, *needles: str) -> list[Path]:
    """Files under ``folder`` whose bytes contain any of ``needles``."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(n.encode() in data for n in needles):
                found.append(path)
    return found


def test_a_killed_load_leaves_no_raw_data_in_tmpdir(tmp_path: Path):
    archive = big_export(tmp_path)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()

    killed = run_load(tmp_path, archive, tmpdir, "extract_rows:1")
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    assert files_holding(tmpdir, DM_TEXT, FOLLOWER) == []
    spool_folder = tmpdir / f"tiktok-portability-{os.getuid()}"
    assert spool_folder.is_dir() and not spool_folder.is_symlink()
    assert stat.S_IMODE(spool_folder.stat().st_mode) == 0o700
    assert list(spool_folder.iterdir()) == []

    done = run_load(tmp_path, archive, tmpdir, None)
    assert done.returncode == 0, done.stderr[-2000:]
    assert files_holding(tmpdir, DM_TEXT, FOLLOWER) == []
    assert list(spool_folder.iterdir()) == []


def test_a_spool_folder_that_is_not_ours_is_refused(tmp_path: Path):
    """A symbolic link in place of the private folder (someone else's folder, or a trap) is never used."""
    archive = big_export(tmp_path)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmpdir / f"tiktok-portability-{os.getuid()}").symlink_to(elsewhere)
    refused = run_load(tmp_path, archive, tmpdir, None)
    assert refused.returncode == 2, refused.stderr[-2000:]
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "symbolic link" in errors[0] and "TMPDIR" in errors[0], refused.stderr[-2000:]
    assert list(elsewhere.iterdir()) == []
