"""Hostile inputs that are not hostile bytes: a ZIP whose central directory claims millions of entries,
and paths that are not regular files (a FIFO, a link to /dev/zero) or files that grow while read.

Each is refused quickly, with one line naming the file, under bounded memory, or (a special file inside
a folder export) never read and listed in ``unparsed_sections``. The CLI runs in a subprocess with a
timeout, so that a hang fails the test instead of stopping the suite; ``pytest -s`` prints the time
and peak memory of each refusal."""

from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import duckdb
import pytest
from support.hostile import AT, DATA, base_export, dump, json_zip

from tiktok_portability_source import settings
from tiktok_portability_source.archive import ArchiveError, open_archive
from tiktok_portability_source.archive.containers import _FolderContainer
from tiktok_portability_source.fake.generator import Sizes, UserHistory

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev/zero are POSIX")

CLAIMED = 15_000_000
ENTRIES = 200_000  # real entries in a bomb's central directory (9 MB): zipfile parsed them all first


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 30
            ) -> tuple[int, str, float, float]:
    """``tiktok-portability`` in a subprocess, killed after ``timeout`` s: (exit code, stderr, seconds,
    peak RSS in MiB). The peak is the process's VmHWM, polled: its rusage would count pytest's own
    memory, which a child inherits at fork."""
    start, peak = time.perf_counter(), 0
    with open(cwd / "stderr.txt", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "tiktok_portability_source.cli", *args], cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", **(env or {})})
        while proc.poll() is None:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                peak = max(peak, *(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")))
            except (OSError, TypeError):  # not Linux, or the process is gone
                pass
            if time.perf_counter() - start > timeout:
                proc.kill()
                proc.wait()
            time.sleep(0.02)
    return proc.returncode, (cwd / "stderr.txt").read_text(), time.perf_counter() - start, peak / 1024


def load(archive: Path, work: Path, env: dict[str, str] | None = None, good: Path | None = None,
         timeout: float = 30) -> tuple[int, str, float, float]:
    work.mkdir()
    return run_cli(["load", *([str(good)] if good else []), str(archive), "-q", "--duckdb", str(work / "t.duckdb"),
                    "--pipelines-dir", str(work / "pl")], work, env, timeout)


def rows(db: Path) -> int:
    """Rows in every table of the dataset (0 without a database)."""
    if not db.exists():
        return 0
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'tiktok' "
                             "AND table_name NOT LIKE '_dlt%'").fetchall()
        return sum(con.execute(f"SELECT COUNT(*) FROM tiktok.{t}").fetchone()[0] for (t,) in tables)


def assert_one_line_refusal(code: int, stderr: str, *fragments: str) -> None:
    assert code == 2, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(f in errors[0] for f in fragments), stderr[-2000:]
    assert "Traceback" not in stderr


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid small export, loaded in the same command as the hostile input: nothing of it may land."""
    tmp = tmp_path_factory.mktemp("good")
    return json_zip(tmp / "good.zip", dump(base_export(tmp, seed=2, sizes=Sizes.scaled(0.05)).doc))


# --- central-directory bombs ------------------------------------------------------------------------


def central_directory_bomb(path: Path, *, zip64: bool, comment: bytes = b"") -> Path:
    """One empty member, then a central directory of ``ENTRIES`` minimal entries (46 bytes + a 1-byte
    name, all alike: zipfile never checks), built by repetition. With ``zip64`` the zip64 end record
    claims ``CLAIMED`` entries; without, the classic end record claims 100 and only the directory's size
    (9 MB, far more than 20,000 entries could need) gives it away."""
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, 0, 0, 0, 1, 0) + b"a"
    entry = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) + b"a"
    directory = entry * ENTRIES
    end = b""
    if zip64:
        end = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, CLAIMED, CLAIMED, len(directory), len(local))
        end += struct.pack("<4sLQL", b"PK\x06\x07", 0, len(local) + len(directory), 1)
        end += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 100, 100, len(directory), len(local), len(comment))
    path.write_bytes(local + directory + end + comment)
    return path


BOMBS = {"claims_15M.zip": ({"zip64": True}, f"{CLAIMED} members, over the 20000 limit"),
         "big_directory.zip": ({"zip64": False, "comment": b"c" * 60_000}, "central directory claims 9400000 bytes")}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_central_directory_bomb_is_refused_before_it_is_parsed(tmp_path: Path, good: Path, name: str):
    kwargs, fragment = BOMBS[name]
    bomb = central_directory_bomb(tmp_path / name, **kwargs)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ArchiveError) as refused:
            open_archive(bomb)
        seconds, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    print(f"\n{name} ({bomb.stat().st_size / 2**20:.1f} MB, {ENTRIES} entries): refused in-process in "
          f"{seconds * 1000:.0f} ms, tracemalloc peak {peak:.2f} MiB")
    message = str(refused.value)
    assert name in message and fragment in message and "TIKTOK_PORTABILITY_MAX_MEMBERS" in message, message
    assert "\n" not in message
    assert peak < 50 and seconds < 2, (peak, seconds)

    code, stderr, seconds, rss = load(bomb, tmp_path / "run", good=good)
    print(f"{name}: CLI exit {code} in {seconds:.2f} s, peak RSS {rss:.0f} MiB")
    assert_one_line_refusal(code, stderr, name, fragment)
    assert rows(tmp_path / "run" / "t.duckdb") == 0  # not a row of the good archive either


# --- special files ------------------------------------------------------------------------------------


class FifoWriter:
    """Feeds ``data`` to every reader that opens the FIFO until stopped (never blocks on its own)."""

    def __init__(self, fifo: Path, data: bytes) -> None:
        self.fifo, self.data, self.stop = fifo, data, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader yet
                time.sleep(0.01)
                continue
            os.set_blocking(fd, True)
            try:
                os.write(fd, self.data)
            except OSError:  # the reader went away
                pass
            finally:
                os.close(fd)

    def __enter__(self) -> FifoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


LIMIT = {"TIKTOK_PORTABILITY_MAX_MEMBER_BYTES": str(20 << 20)}


@pytest.mark.parametrize("fed", [False, True], ids=["fifo_alone", "fifo_fed_a_big_json"])
def test_a_fifo_as_the_archive_is_refused_at_once(tmp_path: Path, good: Path, fed: bool):
    """Unfed, the first read waited forever for a writer; fed (a 40 MB JSON under a 20 MB limit),
    the size limit was never checked (a FIFO's size is 0)."""
    fifo = tmp_path / "export.json"
    os.mkfifo(fifo)
    big = dump(base_export(tmp_path, seed=3).doc) + b" " * (40 << 20) if fed else b""
    with FifoWriter(fifo, big) if fed else contextlib.nullcontext():
        code, stderr, seconds, rss = load(fifo, tmp_path / "run", env=LIMIT, good=good, timeout=20)
    print(f"\nFIFO as the archive ({'fed' if fed else 'no writer'}): CLI exit {code} in {seconds:.2f} s, "
          f"peak RSS {rss:.0f} MiB")
    assert_one_line_refusal(code, stderr, "export.json", "named pipe (FIFO)", "not a regular file or folder")
    assert seconds < 15
    assert rows(tmp_path / "run" / "t.duckdb") == 0


@pytest.mark.parametrize("name", ["zero.json", "zero.zip"])
def test_a_link_to_dev_zero_as_the_archive_is_refused(tmp_path: Path, name: str):
    """``zero.json`` -> /dev/zero: a size of 0 passed the limit, then the reader took zeros forever."""
    link = tmp_path / name
    link.symlink_to("/dev/zero")
    code, stderr, seconds, rss = load(link, tmp_path / "run", env=LIMIT, timeout=20)
    print(f"\n{name} -> /dev/zero: CLI exit {code} in {seconds:.2f} s, peak RSS {rss:.0f} MiB")
    assert_one_line_refusal(code, stderr, name, "a character device (/dev/zero through a symbolic link)")
    assert rss < 600  # the interpreter and its libraries; a read of /dev/zero would grow past any bound


def test_special_files_in_a_folder_export_are_never_read_and_are_listed(tmp_path: Path):
    """A FIFO next to the data (its open() would wait for a writer) is ignored and listed, like a link
    to /dev/zero; the export loads."""
    export = UserHistory("user_a", seed=4, sizes=Sizes.scaled(0.05)).export(tmp_path / "in", at=AT, family="B",
                                                                       container="folder")
    root = Path(export.path)
    data_dir = (root / DATA).parent.relative_to(root).as_posix()
    os.mkfifo(root / data_dir / "pipe.json")
    (root / data_dir / "zero.txt").symlink_to("/dev/zero")
    code, stderr, seconds, rss = load(root, tmp_path / "run", env=LIMIT, timeout=60)
    print(f"\nfolder with a FIFO and a link to /dev/zero: CLI exit {code} in {seconds:.2f} s, peak RSS {rss:.0f} MiB")
    assert code == 0, stderr[-2000:]
    with duckdb.connect(str(tmp_path / "run" / "t.duckdb"), read_only=True) as con:
        unparsed = dict(con.execute("SELECT path, reason FROM tiktok.unparsed_sections").fetchall())
        watched = con.execute("SELECT COUNT(*) FROM tiktok.watch_history").fetchone()[0]
    assert unparsed[f"{data_dir}/pipe.json"] == "a named pipe (FIFO); not read"
    assert unparsed[f"{data_dir}/zero.txt"] == "a symbolic link; not read"
    assert watched == export.expected["watch_history"] > 0


def test_the_size_limit_holds_while_reading_a_folder_file_that_grows(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch):
    """The size is checked when a file is opened, and again with every read: a file that grows after
    the check (or whose stat() lies) stops at the limit with the same one-line error."""
    monkeypatch.setattr(settings, "MAX_MEMBER_BYTES", 1 << 20)
    folder = tmp_path / "export"
    (folder / "TikTok_Data_1764547200").mkdir(parents=True)
    member = folder / DATA
    member.write_bytes(b"{}")
    container = _FolderContainer(folder)
    stream = container.open(DATA)  # 2 bytes: under the limit
    with member.open("ab") as grow:
        grow.write(b" " * (3 << 20))
    expected = f"export: {DATA} is larger than the {1 << 20}-byte limit (TIKTOK_PORTABILITY_MAX_MEMBER_BYTES)"
    with stream, pytest.raises(ArchiveError, match="larger than") as refused:
        stream.read()
    assert str(refused.value) == expected
    with pytest.raises(ArchiveError) as refused:  # the archive's hash reads every file, under the limit too
        container.sha256()
    assert str(refused.value) == expected
