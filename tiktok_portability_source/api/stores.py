"""Where the token store and the transfer store keep their rows: SQLite by default, PostgreSQL to share.

One row per user (``tiktok_portability_tokens``) and one per transfer (``tiktok_portability_transfers``),
so a token refresh or a transfer update writes one row, whatever the number of users (the JSON files
of earlier versions were rewritten whole at every change). ``TokenStore`` and ``TransferStore`` keep
their API; this module is what is under them:

- ``SqliteBackend`` (the default): ``store.sqlite3`` in the token store's folder (``token_store``
  names ``…/tokens.json``, the file of earlier versions; a ``token_store`` not ending in ``.json`` is
  the SQLite file itself). WAL mode, ``synchronous=FULL`` (a committed refresh token survives a power
  cut), ``secure_delete=ON`` and a WAL checkpoint after every delete (a forgotten user's bytes are
  neither in free pages nor in the WAL), file 0600 in a 0700 folder. Token refreshes are serialised
  across threads and processes by ``<file>.lock``.
- ``PostgresBackend``: ``store_url = "postgresql://…"`` (``SOURCES__TIKTOK_PORTABILITY__STORE_URL``),
  for workers on several machines. Read-modify-writes lock the row (``SELECT … FOR UPDATE``); token
  refreshes are serialised per user by a PostgreSQL advisory lock held on a connection of its own.

Every write is one transaction, with two crash points (``crash.py``): ``write_<what>`` when the
transaction is complete but not committed (the equivalent of the old temp file not yet renamed into
place: a kill there loses that write, nothing else) and ``wrote_<what>`` once it is committed and
durable, before the caller goes on. ``<what>`` is ``tokens``, ``transfers`` or ``meta``.

Tokens are encrypted (Fernet, ``TokenCipher``) with ``store_key`` from secrets or, when none is
configured and the store is a local SQLite file, with a key generated once into ``<file>.key``
(owner-only) beside it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import re
import secrets
import sqlite3
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..crash import armed, die
from ..errors import TokenStoreError, one_line, register_secret
from ..redaction import _clean

log = logging.getLogger(__name__)

DEFAULT_FILE = "store.sqlite3"
TOKENS, TRANSFERS, META = "tiktok_portability_tokens", "tiktok_portability_transfers", "tiktok_portability_meta"
SCHEMA_VERSION = "1"
URL_SETTING = "store_url (SOURCES__TIKTOK_PORTABILITY__STORE_URL)"
KEY_SETTING = "store_key (SOURCES__TIKTOK_PORTABILITY__STORE_KEY)"
KEY_CHECK = b"tiktok-portability token store key check"
MIN_PASSPHRASE = 32
BUSY_TIMEOUT = 60.0  # seconds a SQLite writer waits for another one (a write takes milliseconds)
PG_LOCK_TIMEOUT = "300s"  # how long a PostgreSQL refresh lock is waited for (a refresh takes seconds)

_writes: Counter[str] = Counter()  # committed-or-not write transactions per crash point, this process


def _crash(point: str) -> None:
    """``crash.crash_point`` counting this process's writes: ``write_tokens:3`` dies at the third."""
    threshold = armed(point)
    if threshold is None:
        return
    _writes[point] += 1
    if _writes[point] >= threshold:
        die(point)


# --- where the store is -----------------------------------------------------------------------


def sqlite_file_for(path: str | os.PathLike[str]) -> Path:
    """The SQLite file of a ``token_store`` path: ``store.sqlite3`` beside a ``….json`` (the path of
    the JSON store of earlier versions), else the path itself."""
    p = Path(path).expanduser()
    return p.with_name(DEFAULT_FILE) if p.suffix == ".json" else p


def legacy_json_for(path: str | os.PathLike[str], stem: str) -> Path:
    """Where the JSON file of earlier versions lived (``tokens.json``, ``transfers.json``), migrated on first use."""
    p = Path(path).expanduser()
    return p if p.suffix == ".json" else p.with_name(f"{stem}.json")


def mask_url(url: str) -> str:
    """The URL with its password (in the authority or a ``password=`` parameter) shown as ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, host = netloc.rpartition("@")
            netloc = f"{userinfo.partition(':')[0]}:***@{host}"
        query = parts.query
        if query:
            query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(query, True)],
                              safe="*")
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    except ValueError:
        return "<unparsable store_url>"


def register_url_secrets(url: str) -> None:
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        register_secret(parts.password)
        for key, value in parse_qsl(parts.query, True):
            if key.lower() == "password":
                register_secret(value)


def configured_url() -> str | None:
    """``store_url`` the dlt way (config, secrets, env), for a store built without one."""
    return _configured("store_url", secret=False)


def configured_key() -> str | None:
    """``store_key`` from dlt secrets (secrets.toml, env), for a store built without one."""
    return _configured("store_key", secret=True)


def _configured(name: str, *, secret: bool) -> str | None:
    import dlt

    key = f"sources.tiktok_portability.{name}"
    try:
        value = dlt.secrets.get(key) if secret else dlt.config.get(key)
    except Exception as exc:  # noqa: BLE001 - a provider that cannot answer: as if unset, but say so
        log.debug("could not read %s from config: %s", name, type(exc).__name__)
        return None
    value = str(value).strip() if value is not None else ""
    return value or None


def open_backend(path: str | os.PathLike[str], *, url: str | None = None, strict: bool = False) -> "Backend":
    """The backend for a store at ``path`` (a ``token_store``/``transfer_store`` path) or at ``url``.

    ``url=None`` reads ``store_url`` from config; ``url=""`` means the local SQLite file whatever the
    config says. Nothing is opened or created until the first read or write."""
    if url is None:
        url = configured_url()
    if url:
        scheme = url.split(":", 1)[0].lower()
        if scheme in ("postgresql", "postgres", "postgresql+psycopg2"):
            return PostgresBackend(url)
        raise TokenStoreError(f"{URL_SETTING} must be a postgresql:// URL (got {mask_url(url)}); leave it unset "
                              "for the local SQLite store")
    return SqliteBackend(sqlite_file_for(path), strict=strict)


# --- the key ----------------------------------------------------------------------------------


class TokenCipher:
    """Fernet encryption of token rows; several keys (comma-separated): the first encrypts, any decrypts."""

    def __init__(self, keys: Sequence[bytes], source: str) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        self.source = source  # which setting or file the key came from, for messages
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def __repr__(self) -> str:
        return f"TokenCipher(source={self.source!r})"

    @classmethod
    def from_setting(cls, value: str, source: str = KEY_SETTING) -> "TokenCipher":
        """A Fernet key (``Fernet.generate_key()``) or a passphrase of at least 32 characters; to change
        keys, comma-separated Fernet keys (new first: it encrypts, each of them decrypts)."""
        value = value.strip()
        register_secret(value)
        if not value:
            raise TokenStoreError(f"{source} is empty")
        parts = [v.strip() for v in value.split(",") if v.strip()]
        if len(parts) > 1 and all(_is_fernet_key(p) for p in parts):
            for part in parts:
                register_secret(part)
            return cls([p.encode("ascii") for p in parts], source)
        return cls([_fernet_key(value, source)], source)  # one key (a passphrase may hold commas)

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext; ``cryptography.fernet.InvalidToken`` with another key."""
        return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")

    def rotate(self, token: str) -> str:
        """The same plaintext encrypted with the first key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")


def _is_fernet_key(item: str) -> bool:
    try:
        return len(item) == 44 and len(base64.urlsafe_b64decode(item.encode("ascii"))) == 32
    except (ValueError, UnicodeEncodeError):
        return False


def _fernet_key(item: str, source: str) -> bytes:
    if _is_fernet_key(item):
        return item.encode("ascii")
    if len(item) >= MIN_PASSPHRASE:  # a long random passphrase: its hash is the key
        digest = hashlib.sha256(b"tiktok-portability store key\x1f" + item.encode("utf-8")).digest()
        return base64.urlsafe_b64encode(digest)
    raise TokenStoreError(f"{source} is not a usable key: give a Fernet key (python -c \"from cryptography.fernet "
                          f"import Fernet; print(Fernet.generate_key().decode())\") or a random passphrase of at "
                          f"least {MIN_PASSPHRASE} characters")


def wrong_key(location: str, source: str) -> TokenStoreError:
    return TokenStoreError(f"the token store {location} was encrypted with another key than the one from {source}: "
                           f"set {KEY_SETTING} to the key it was written with (or restore its key file)")


def resolve_cipher(backend: "Backend", configured: str | None) -> TokenCipher:
    """The cipher of this store, checked against the key-check value written with its first token.

    A configured ``store_key`` is used as is. Without one, a local SQLite store uses ``<file>.key``,
    generated (owner-only) the first time; a shared store (``store_url``) needs the key configured,
    since every worker must hold the same one."""
    from cryptography.fernet import InvalidToken

    check = backend.get_meta("key_check")
    if configured:
        cipher = TokenCipher.from_setting(configured)
    elif backend.key_file is None:
        raise TokenStoreError(f"{KEY_SETTING} is not configured: a shared token store ({backend.location}) needs "
                              "the same key on every worker; set it in .dlt/secrets.toml [sources.tiktok_portability] "
                              "or the env var")
    else:
        cipher = _key_file_cipher(backend, backend.key_file, expect_existing=check is not None)
    if check is None:
        check = backend.put_meta_if_absent("key_check", cipher.encrypt(KEY_CHECK.decode()))
    try:
        if cipher.decrypt(check).encode() != KEY_CHECK:
            raise InvalidToken
    except InvalidToken:
        raise wrong_key(backend.location, cipher.source) from None
    return cipher


def _key_file_cipher(backend: "Backend", key_file: Path, *, expect_existing: bool) -> TokenCipher:
    try:
        with open(key_file, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            raw = fh.read().decode("ascii", "replace").strip()
    except FileNotFoundError:
        if expect_existing:
            raise TokenStoreError(f"the token store {backend.location} is encrypted but its key file {key_file} is "
                                  f"missing: restore it, or set {KEY_SETTING} to the key it was written with") from None
        raw, mode = _create_key_file(key_file), 0o600
    except OSError as exc:
        raise TokenStoreError(f"cannot read the token store key file {key_file}: {exc.strerror}") from None
    backend.check_mode(key_file, mode, "token store key file")
    return TokenCipher.from_setting(raw, source=f"the key file {key_file}")


def _create_key_file(key_file: Path) -> str:
    """A new Fernet key in ``key_file`` (0600), created atomically: a racing process gets the same key."""
    from cryptography.fernet import Fernet

    key = Fernet.generate_key()
    ensure_private_dir(key_file.parent)
    tmp = key_file.with_name(f".{key_file.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, key + b"\n")
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(tmp, key_file)  # fails if another process made one first: then that one is the key
        except FileExistsError:
            return key_file.read_text(encoding="ascii").strip()
        fsync_dir(key_file.parent)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    log.warning("no store_key configured: generated the token store key %s (owner-only). It protects copies of the "
                "database file, not against anyone who can read this folder; to keep the key apart from the data, "
                "set %s to its content and delete the file", key_file, KEY_SETTING)
    return key.decode("ascii")


# --- files ------------------------------------------------------------------------------------


def ensure_private_dir(folder: Path) -> None:
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


# --- backends ---------------------------------------------------------------------------------


class MigratingStore:
    """What the token and transfer stores share: their rows in a ``Backend``, and the JSON file of an
    earlier version (``legacy_path``) moved in on first use (``_migrate``, per store)."""

    legacy_path: Path
    _backend: "Backend"

    def __init__(self, legacy_path: Path, backend: "Backend") -> None:
        self.legacy_path = legacy_path
        self._backend = backend
        self.path = backend.path  # the SQLite file; None for a PostgreSQL store
        self.location = backend.location  # the file, or the URL with its password masked
        self._setup = threading.RLock()
        self._migrated = False

    @property
    def backend(self) -> "Backend":
        return self._backend

    def _ready(self) -> bool:
        """Move a JSON store of an earlier version in (once); False while no store exists at all."""
        if not self._migrated:
            with self._setup:
                if not self._migrated:
                    if self.legacy_path.exists():
                        self._migrate()
                    self._migrated = True
        return self._backend.exists()

    def _migrate(self) -> None:
        raise NotImplementedError


class Tx:
    """One open write transaction: ``execute`` returns the rows (or ``[]``), ``rowcount`` the last count."""

    def __init__(self, run: Callable[[str, Sequence[Any]], tuple[list[tuple[Any, ...]], int]]) -> None:
        self._run = run
        self.rowcount = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        rows, self.rowcount = self._run(sql, params)
        return rows


class Backend:
    """What the stores need from a database: reads, one-transaction writes, a lock, scrubbing."""

    dialect = ""
    location = ""
    path: Path | None = None  # the SQLite file (None for a server)
    key_file: Path | None = None  # where a generated key lives (None: the key must be configured)
    for_update = ""  # appended to the SELECT of a read-modify-write
    statements = 0  # executed so far (tests count them: one update costs the same at any size)

    def exists(self) -> bool:
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def transaction(self, what: str) -> contextlib.AbstractContextManager[Tx]:
        raise NotImplementedError

    def locked(self, key: str) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError

    def scrub(self) -> None:
        """After a delete: leave no copy of the deleted rows in the store's files."""

    def check_mode(self, path: Path, mode: int, what: str) -> None:
        """Refuse (strict) or warn about a file others can read."""

    def close(self) -> None:
        pass

    # -- the key-value meta table ----------------------------------------------------------------
    def get_meta(self, name: str) -> str | None:
        if not self.exists():
            return None
        rows = self.query(f"SELECT value FROM {META} WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def put_meta_if_absent(self, name: str, value: str) -> str:
        """Store ``value`` unless another process stored one first; returns the stored value."""
        with self.transaction("meta") as tx:
            tx.execute(f"INSERT INTO {META} (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, value))
            return tx.execute(f"SELECT value FROM {META} WHERE name = ?", (name,))[0][0]

    def _schema(self, suffix: str, bigint: str) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {META} (name TEXT PRIMARY KEY, value TEXT NOT NULL){suffix}",
            f"CREATE TABLE IF NOT EXISTS {TOKENS} (open_id TEXT PRIMARY KEY, token TEXT, metadata TEXT NOT NULL, "
            f"updated_at TEXT NOT NULL){suffix}",
            f"CREATE TABLE IF NOT EXISTS {TRANSFERS} (local_id TEXT PRIMARY KEY, open_id TEXT NOT NULL, "
            f"request_id {bigint}, created_at TEXT NOT NULL, record TEXT NOT NULL){suffix}",
            f"CREATE INDEX IF NOT EXISTS {TRANSFERS}_user ON {TRANSFERS} (open_id)",
            f"CREATE INDEX IF NOT EXISTS {TRANSFERS}_request ON {TRANSFERS} (request_id)",
            f"INSERT INTO {META} (name, value) VALUES ('schema_version', '{SCHEMA_VERSION}') ON CONFLICT (name) DO NOTHING",
        ]


class SqliteBackend(Backend):
    """A SQLite file: WAL, ``synchronous=FULL``, ``secure_delete=ON``, owner-only; one connection per
    object shared by its threads (each operation takes milliseconds), reopened after a fork."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, strict: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self.key_file = self.path.with_name(self.path.name + ".key")
        self.strict = strict
        self._lock = threading.RLock()  # the connection, and a transaction on it, belong to one thread at a time
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._warned: set[Path] = set()
        self._file_lock_depth = 0
        self._file_lock_rlock = threading.RLock()
        self._file_lock: Any = None

    def __repr__(self) -> str:
        return f"SqliteBackend({self.location!r})"

    def exists(self) -> bool:
        return (self._conn is not None and self._pid == os.getpid()) or self.path.exists()

    def check_mode(self, path: Path, mode: int, what: str) -> None:
        if not mode & (stat.S_IRWXG | stat.S_IRWXO):
            return
        if self.strict:
            raise TokenStoreError(f"{what} {path} is accessible by group/others (mode {stat.S_IMODE(mode):o}) and "
                                  f"strict_permissions is on: run chmod 600 {path}")
        if path not in self._warned:
            self._warned.add(path)
            log.warning("%s %s is accessible by group/others (mode %o); run: chmod 600 %s",
                        what, path, stat.S_IMODE(mode), path)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self._conn = None  # a connection inherited through fork() must not be used
        ensure_private_dir(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            os.fchmod(fd, 0o600)
            os.close(fd)
            fsync_dir(self.path.parent)
        try:
            self.check_mode(self.path, os.stat(self.path).st_mode, "token store")
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # WAL + NORMAL may lose the last commits on power loss
            conn.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left in free space
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql in self._schema(" WITHOUT ROWID", "INTEGER"):
                    conn.execute(sql)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise TokenStoreError(f"cannot open the token store {self.path}: {one_line(exc)}") from None
        for suffix in ("-wal", "-shm"):  # SQLite creates them with the file's mode; make sure
            with contextlib.suppress(OSError):
                os.chmod(self.path.with_name(self.path.name + suffix), 0o600)
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _run(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> tuple[list[tuple[Any, ...]], int]:
        self.statements += 1
        cur = conn.execute(sql, tuple(params))
        return cur.fetchall(), cur.rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._run(self._connect(), sql, params)[0]
            except sqlite3.Error as exc:
                raise TokenStoreError(f"reading the token store {self.path} failed: {one_line(exc)}") from None

    @contextlib.contextmanager
    def transaction(self, what: str) -> Iterator[Tx]:
        with self._lock:
            conn = self._connect()
            try:
                self._run(conn, "BEGIN IMMEDIATE", ())  # the write lock first: a read-modify-write is atomic
                try:
                    yield Tx(lambda sql, params: self._run(conn, sql, params))
                    _crash(f"write_{what}")  # complete, not committed: a kill here loses this write only
                    self._run(conn, "COMMIT", ())
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise TokenStoreError(f"writing the token store {self.path} failed: {one_line(exc)}") from None
        _crash(f"wrote_{what}")  # committed and durable; the caller has not gone on yet

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """``<file>.lock`` (any OS), re-entrant within this object: one refresh at a time on this machine."""
        from filelock import FileLock

        with self._file_lock_rlock:
            if self._file_lock_depth == 0:
                ensure_private_dir(self.path.parent)
                if self._file_lock is None:
                    self._file_lock = FileLock(str(self.path) + ".lock", mode=0o600, thread_local=False)
                self._file_lock.acquire()
            self._file_lock_depth += 1
            try:
                yield
            finally:
                self._file_lock_depth -= 1
                if self._file_lock_depth == 0:
                    self._file_lock.release()

    def scrub(self) -> None:
        """Checkpoint the WAL into the file and truncate it: with ``secure_delete`` the deleted rows were
        zeroed in their pages, and no older copy of those pages stays behind in the WAL."""
        with self._lock:
            conn = self._connect()
            for attempt in range(50):
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return
                time.sleep(0.1 * min(attempt + 1, 5))
        log.warning("the token store %s is busy (another process is reading it): its WAL could not be truncated "
                    "now, the next checkpoint overwrites it", self.path)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


class PostgresBackend(Backend):
    """Tables in a PostgreSQL database (``store_url``); the URL is shown only with its password masked."""

    dialect = "postgres"
    for_update = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        register_url_secrets(url)
        self._dsn = re.sub(r"^postgresql\+psycopg2:", "postgresql:", url, flags=re.I)
        self.location = mask_url(url)
        self._lock = threading.RLock()
        self._conn: Any = None
        self._pid = 0
        self._held = threading.local()

    def __repr__(self) -> str:
        return f"PostgresBackend({self.location!r})"

    def exists(self) -> bool:
        return True

    def _psycopg2(self) -> Any:
        try:
            import psycopg2
        except ImportError:
            raise TokenStoreError(f"{URL_SETTING} is a PostgreSQL URL but psycopg2 is not installed: "
                                  "pip install 'tiktok-portability[postgres]'") from None
        return psycopg2

    def _new_connection(self) -> Any:
        psycopg2 = self._psycopg2()
        try:
            conn = psycopg2.connect(self._dsn, connect_timeout=30, application_name="tiktok-portability")
        except psycopg2.Error as exc:
            raise TokenStoreError(f"cannot connect to the token store {self.location}: {_safe(exc)}") from None
        conn.autocommit = True  # explicit BEGIN / COMMIT below
        return conn

    def _connect(self) -> Any:
        if self._conn is not None and not self._conn.closed and self._pid == os.getpid():
            return self._conn
        conn = self._new_connection()
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_id("schema"),))  # one creator at a time
                for sql in self._schema("", "BIGINT"):
                    cur.execute(sql)
                cur.execute("COMMIT")
        except self._psycopg2().Error as exc:
            conn.close()
            raise TokenStoreError(f"cannot set up the token store {self.location}: {_safe(exc)}") from None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _run(self, cur: Any, sql: str, params: Sequence[Any]) -> tuple[list[tuple[Any, ...]], int]:
        self.statements += 1
        cur.execute(sql.replace("?", "%s"), tuple(params))
        return (cur.fetchall() if cur.description else []), cur.rowcount

    def _failed(self, doing: str, exc: Exception) -> TokenStoreError:
        if self._conn is not None and (self._conn.closed or isinstance(exc, self._psycopg2().OperationalError)):
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None  # the next operation connects again
        return TokenStoreError(f"{doing} the token store {self.location} failed: {_safe(exc)}")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                with self._connect().cursor() as cur:
                    return self._run(cur, sql, params)[0]
            except self._psycopg2().Error as exc:
                raise self._failed("reading", exc) from None

    @contextlib.contextmanager
    def transaction(self, what: str) -> Iterator[Tx]:
        psycopg2 = self._psycopg2()
        with self._lock:
            try:
                conn = self._connect()
                with conn.cursor() as cur:
                    self._run(cur, "BEGIN", ())
                    try:
                        yield Tx(lambda sql, params: self._run(cur, sql, params))
                        _crash(f"write_{what}")
                        self._run(cur, "COMMIT", ())
                    except BaseException:
                        if not conn.closed:
                            with contextlib.suppress(psycopg2.Error):
                                cur.execute("ROLLBACK")
                        raise
            except psycopg2.Error as exc:
                raise self._failed("writing", exc) from None
        _crash(f"wrote_{what}")

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """An advisory lock on ``key``, held by a connection of its own (a dead worker's lock goes with
        its connection); re-entrant within a thread. Writes inside commit on the shared connection, so
        a rotated token is durable before the lock is let go."""
        held: dict[str, list[Any]] = self._held.__dict__.setdefault("locks", {})
        if key in held:
            held[key][1] += 1
            try:
                yield
            finally:
                held[key][1] -= 1
            return
        psycopg2 = self._psycopg2()
        conn = self._new_connection()
        try:
            with conn.cursor() as cur:
                cur.execute(f"SET lock_timeout = '{PG_LOCK_TIMEOUT}'")
                cur.execute("SELECT pg_advisory_lock(%s)", (_lock_id(key),))
        except psycopg2.Error as exc:
            conn.close()
            raise TokenStoreError(f"waiting for the lock of {key.partition(':')[0]} in {self.location} failed: "
                                  f"{_safe(exc)}") from None
        held[key] = [conn, 1]
        try:
            yield
        finally:
            del held[key]
            with contextlib.suppress(psycopg2.Error):
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (_lock_id(key),))
            conn.close()

    def scrub(self) -> None:
        """A plain VACUUM of the two tables (best effort: it needs the table owner): dead row versions
        of the deleted rows are removed now rather than by the next autovacuum."""
        with self._lock:
            try:
                with self._connect().cursor() as cur:
                    for table in (TOKENS, TRANSFERS):
                        cur.execute(f"VACUUM {table}")
            except self._psycopg2().Error as exc:
                log.debug("VACUUM of the token store failed: %s", _safe(exc))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                with contextlib.suppress(Exception):
                    self._conn.close()
            self._conn = None


def _safe(exc: BaseException) -> str:
    """A driver's error on one line, with any password in a URL or ``password=`` masked."""
    text = re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", one_line(exc))
    return _clean(re.sub(r"(password\s*=\s*)\S+", r"\1***", text, flags=re.I))


def _lock_id(key: str) -> int:
    """A signed 64-bit advisory lock id for ``key`` (no open_id is stored anywhere by a lock)."""
    digest = hashlib.sha256(b"tiktok-portability lock\x1f" + key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


__all__ = [
    "Backend",
    "DEFAULT_FILE",
    "KEY_SETTING",
    "PostgresBackend",
    "SqliteBackend",
    "TokenCipher",
    "URL_SETTING",
    "configured_key",
    "configured_url",
    "legacy_json_for",
    "mask_url",
    "open_backend",
    "resolve_cipher",
    "sqlite_file_for",
]
