"""A throwaway PostgreSQL for the destination tests: initdb in a temp dir, 127.0.0.1 on a random port,
fsync off, stopped and deleted at the end of the session.

- ``TIKTOK_TEST_POSTGRES_DSN=postgresql://user:pass@host:port/db`` uses an existing server instead
  (each test still gets a database of its own, created on it).
- Without ``initdb``/``pg_ctl`` (PATH or ``/usr/lib/postgresql/*/bin``) the server is installed with
  ``apt-get install postgresql`` when running as root on a Debian-like system; otherwise the
  PostgreSQL tests are skipped, unless ``TIKTOK_TEST_REQUIRE_POSTGRES=1`` (CI), which fails them.
- PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` OS user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

REQUIRE_ENV = "TIKTOK_TEST_REQUIRE_POSTGRES"
DSN_ENV = "TIKTOK_TEST_POSTGRES_DSN"
USER = "tiktok_test"


class Unavailable(Exception):
    """No PostgreSQL could be had; the message says why and how to get one."""


@dataclass
class Server:
    dsn: str  # of the maintenance database

    def create_database(self) -> str:
        """A fresh, empty database; returns its DSN (the way dlt takes postgres credentials)."""
        import psycopg2

        name = f"t_{uuid.uuid4().hex[:12]}"
        with contextlib.closing(psycopg2.connect(self.dsn)) as con:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(self.dsn)
        return urlunsplit(parts._replace(path="/" + name))


def _binaries() -> tuple[str, str] | None:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True):
        if os.access(f"{bindir}/initdb", os.X_OK) and os.access(f"{bindir}/pg_ctl", os.X_OK):
            return f"{bindir}/initdb", f"{bindir}/pg_ctl"
    return None


def _apt_install() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found; install PostgreSQL "
                          "(e.g. apt-get install postgresql) or set TIKTOK_TEST_POSTGRES_DSN")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]
    if subprocess.run(install, env=env, capture_output=True, timeout=900, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=900, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise Unavailable(f"apt-get install postgresql failed: {done.stderr.strip().splitlines()[-1:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_owner(cmd: list[str], owner: pwd.struct_passwd | None) -> list[str]:
    return ["runuser", "-u", owner.pw_name, "--", *cmd] if owner else cmd


@contextlib.contextmanager
def server() -> Iterator[Server]:
    """Yield a running server; stop and delete it afterwards. Raises ``Unavailable``."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        raise Unavailable("psycopg2 is not installed (pip install -e '.[postgres]')") from None
    if os.environ.get(DSN_ENV):
        yield Server(os.environ[DSN_ENV])
        return
    binaries = _binaries()
    if binaries is None:
        _apt_install()
        binaries = _binaries()
        if binaries is None:
            raise Unavailable("PostgreSQL installed but initdb/pg_ctl not found")
    initdb, pg_ctl = binaries
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and there is no 'postgres' OS user to run the server as") from None
        if not shutil.which("runuser"):
            raise Unavailable("running as root and runuser is missing")
    root = Path(tempfile.mkdtemp(prefix="tiktok-pg-"))  # not under pytest's 0700 tmp: the server user must reach it
    data = root / "data"
    password = secrets.token_urlsafe(16)
    (root / "pw").write_text(password)
    if owner:
        for path in (root, root / "pw"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    started = False
    try:
        done = subprocess.run(_as_owner([initdb, "-D", str(data), "-U", USER, f"--pwfile={root / 'pw'}", "-E", "UTF8",
                                         "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"], owner),
                              capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise Unavailable(f"initdb failed: {done.stderr.strip()[-500:]}")
        for _ in range(3):  # a random port may be taken between choosing and binding it
            port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
            done = subprocess.run(_as_owner([pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"),
                                             "-w", "-t", "60", "start"], owner),
                                  capture_output=True, text=True, timeout=120, check=False)
            if done.returncode == 0:
                started = True
                break
            time.sleep(0.2)
        if not started:
            log = (root / "log").read_text()[-800:] if (root / "log").exists() else done.stderr
            raise Unavailable(f"PostgreSQL did not start: {log.strip()}")
        yield Server(f"postgresql://{USER}:{quote(password)}@127.0.0.1:{port}/postgres")
    finally:
        if started:
            subprocess.run(_as_owner([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], owner),
                           capture_output=True, timeout=120, check=False)
        shutil.rmtree(root, ignore_errors=True)
