"""Token and transfer stores (``api/stores.py``): one row per user and per transfer in SQLite (default) or
PostgreSQL, tokens encrypted, JSON stores of earlier versions moved in, forget leaving no byte of a user,
crash points on the write path, and an update whose cost does not grow with the number of users."""

from __future__ import annotations

import http.server
import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from cryptography.fernet import Fernet

from tiktok_portability_source import settings
from tiktok_portability_source.api.auth import OAuthClient, TokenManager, TokenSet, TokenStore
from tiktok_portability_source.api.config import ApiConfig, load_api_config
from tiktok_portability_source.api.filestore import JsonFile
from tiktok_portability_source.api.service import ApiService
from tiktok_portability_source.api.stores import mask_url
from tiktok_portability_source.api.transfers import Transfer, TransferStore
from tiktok_portability_source.crash import CRASH_ENV
from tiktok_portability_source.errors import TokenStoreError

T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
KEY_ENV, URL_ENV = "SOURCES__TIKTOK_PORTABILITY__STORE_KEY", "SOURCES__TIKTOK_PORTABILITY__STORE_URL"
REPO = Path(__file__).resolve().parents[2]


def body(n: int, open_id: str = "open-1") -> dict:
    return {"access_token": f"act.access-{open_id}-{n:04d}", "expires_in": 7200, "open_id": open_id,
            "refresh_expires_in": 15552000, "refresh_token": f"rft.refresh-{open_id}-{n:04d}",
            "scope": "user.info.basic,portability.all.ongoing", "token_type": "Bearer"}


def tokens(n: int, open_id: str = "open-1") -> TokenSet:
    return TokenSet.from_response(body(n, open_id), T0)


def transfer(open_id: str, i: int = 0, **kw) -> Transfer:
    return Transfer(open_id, f"{open_id}-local-{i}", ["all_data"], "json", "ongoing", "pending",
                    (T0 + timedelta(minutes=i)).isoformat(), request_id=7345_0000_0000 + i, **kw)


def files_bytes(folder: Path) -> bytes:
    """Every byte of every file in ``folder`` (the store, its WAL, its key, any leftover)."""
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


@pytest.fixture(autouse=True)
def no_store_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.delenv(CRASH_ENV, raising=False)


def old_layout(folder: Path, users: int = 3, transfers_per_user: int = 1) -> dict[str, TokenSet]:
    """``tokens.json`` and ``transfers.json`` exactly as earlier versions wrote them (JsonFile, 0600)."""
    stored = {f"user-{i:05d}": tokens(1, f"user-{i:05d}") for i in range(users)}
    JsonFile(folder / "tokens.json").write({"version": 1, "users": {
        open_id: {"token": t.to_json(), "metadata": {"authorized_at": T0.isoformat(), "granted_scopes": ["x"]}}
        for open_id, t in stored.items()}})
    JsonFile(folder / "transfers.json").write({"version": 1, "transfers": {
        t.local_id: asdict(t) for open_id in stored for t in (transfer(open_id, i) for i in range(transfers_per_user))}})
    return stored


# --- the layout of earlier versions ----------------------------------------------------------------


def test_json_stores_of_an_earlier_version_are_moved_in_and_deleted(tmp_path: Path):
    state = tmp_path / "state"
    stored = old_layout(state, users=3)
    (state / ".tokens.json.0a1b2c.tmp").write_text(json.dumps({"users": {"x": stored["user-00000"].to_json()}}))
    old_bytes = (state / "tokens.json").read_bytes()
    assert b"rft.refresh-user-00000" in old_bytes

    service = ApiService(ApiConfig(client_key=None, token_store=state / "tokens.json"), lambda: None)
    assert service.users() == sorted(stored)
    assert service.store.get("user-00001") == stored["user-00001"]
    assert service.store.metadata("user-00001") == {"authorized_at": T0.isoformat(), "granted_scopes": ["x"]}
    assert [t.open_id for t in service.transfers.all()] == sorted(stored)
    assert service.transfers.by_request_id(7345_0000_0000).local_id == "user-00000-local-0"

    # the JSON files, their lock files and the interrupted write's temp file are gone; no token in plaintext
    assert sorted(p.name for p in state.iterdir()) == ["store.sqlite3", "store.sqlite3-shm", "store.sqlite3-wal",
                                                       "store.sqlite3.key"]
    everything = files_bytes(state)
    assert all(t.refresh_token.encode() not in everything and t.access_token.encode() not in everything
               for t in stored.values())
    assert service.store.location == str(state / "store.sqlite3")


def test_a_migration_killed_before_the_json_is_deleted_is_finished_and_the_store_wins(tmp_path: Path):
    state = tmp_path / "state"
    old_layout(state, users=2)
    script = f"from tiktok_portability_source.api.auth import TokenStore; TokenStore({str(state / 'tokens.json')!r}).open_ids()"
    killed = subprocess.run([sys.executable, "-c", script], env={**os.environ, CRASH_ENV: "migrated_tokens"},
                            capture_output=True, text=True, timeout=60, check=False)
    assert killed.returncode == -9, killed.stderr
    assert (state / "tokens.json").exists()  # moved in, not deleted yet
    assert TokenStore(state / "tokens.json", url="").backend.query(
        "SELECT COUNT(*) FROM tiktok_portability_tokens")[0][0] == 2

    # the file left behind differs from the store (say an older version wrote to it): the store wins
    JsonFile(state / "tokens.json").write({"version": 1, "users": {
        "user-00000": {"token": tokens(9, "user-00000").to_json(), "metadata": {}}}})
    again = TokenStore(state / "tokens.json")
    assert again.get("user-00000") == tokens(1, "user-00000")
    assert again.open_ids() == ["user-00000", "user-00001"]
    assert not (state / "tokens.json").exists()


def test_reads_of_a_store_that_does_not_exist_create_nothing(tmp_path: Path):
    path = tmp_path / "nowhere" / "tokens.json"
    assert TokenStore(path).open_ids() == [] and TokenStore(path).get("x") is None
    assert TokenStore(path).metadata("x") == {} and TokenStore(path).delete("x") is False
    assert TransferStore(path.with_name("transfers.json")).all() == []
    assert not path.parent.exists()


# --- encryption and the key ------------------------------------------------------------------------


def test_tokens_are_encrypted_with_a_generated_key_file_by_default(tmp_path: Path, caplog):
    with caplog.at_level(logging.WARNING):
        store = TokenStore(tmp_path / "tokens.json")
        store.put(tokens(1))
    key_file = tmp_path / "store.sqlite3.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "protects copies of the database file" in caplog.text and str(key_file) in caplog.text
    assert key_file.read_text().strip() not in caplog.text
    assert b"act.access-open-1-0001" not in files_bytes(tmp_path)
    assert TokenStore(tmp_path / "tokens.json").get("open-1") == tokens(1)  # another process: same key file
    for text in (repr(store), repr(store.backend), str(store.get("open-1"))):
        assert "act.access-open-1" not in text and key_file.read_text().strip() not in text


def test_a_configured_key_is_used_and_a_wrong_one_is_one_clear_line(tmp_path: Path, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_ENV, key)
    store = TokenStore(tmp_path / "tokens.json")
    store.put(tokens(1))
    assert not (tmp_path / "store.sqlite3.key").exists()  # a configured key: no key file
    assert TokenStore(tmp_path / "tokens.json").get("open-1") == tokens(1)

    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    with pytest.raises(TokenStoreError) as wrong:
        TokenStore(tmp_path / "tokens.json").get("open-1")
    message = str(wrong.value)
    assert "\n" not in message and "store_key" in message and KEY_ENV in message and "another key" in message
    assert key not in message and "act." not in message
    assert TokenStore(tmp_path / "tokens.json").open_ids() == ["open-1"]  # ids and metadata need no key

    monkeypatch.delenv(KEY_ENV)  # no key at all, and no key file: say so rather than make a new key
    with pytest.raises(TokenStoreError, match="key file .* is missing"):
        TokenStore(tmp_path / "tokens.json").get("open-1")

    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(TokenStoreError, match="not a usable key") as weak:
        TokenStore(tmp_path / "tokens.json").get("open-1")
    assert "short" not in str(weak.value)


def test_the_cli_says_a_wrong_key_in_one_line(tmp_path: Path):
    TokenStore(tmp_path / "state" / "tokens.json", key=Fernet.generate_key().decode()).put(tokens(1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env.update({KEY_ENV: Fernet.generate_key().decode(), "RUNTIME__DLTHUB_TELEMETRY": "false"})
    done = subprocess.run([sys.executable, "-m", "tiktok_portability_source.cli", "status", "--token-store",
                           str(tmp_path / "state" / "tokens.json")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: the token store") and KEY_ENV in line


def test_a_new_key_goes_first_and_reencrypt_retires_the_old_one(tmp_path: Path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    TokenStore(tmp_path / "tokens.json", key=old).put(tokens(1))
    both = TokenStore(tmp_path / "tokens.json", key=f"{new},{old}")
    assert both.get("open-1") == tokens(1)
    assert both.reencrypt() == 1
    assert TokenStore(tmp_path / "tokens.json", key=new).get("open-1") == tokens(1)
    with pytest.raises(TokenStoreError, match="another key"):
        TokenStore(tmp_path / "tokens.json", key=old).get("open-1")
    passphrase = "a long random passphrase from a vault, 40+ chars"
    TokenStore(tmp_path / "p" / "tokens.json", key=passphrase).put(tokens(1))
    assert TokenStore(tmp_path / "p" / "tokens.json", key=passphrase).get("open-1") == tokens(1)


def test_the_cli_rotates_the_key_and_the_old_key_then_opens_nothing(tmp_path: Path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    store_path = tmp_path / "state" / "tokens.json"
    TokenStore(store_path, key=old).put(tokens(1))
    TokenStore(store_path, key=old).put(tokens(2, "open-2"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env.update({KEY_ENV: f"{new},{old}", "RUNTIME__DLTHUB_TELEMETRY": "false"})
    done = subprocess.run([sys.executable, "-m", "tiktok_portability_source.cli", "reencrypt-tokens", "--token-store",
                           str(store_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "2 token(s)" in done.stdout and new not in done.stdout + done.stderr and old not in done.stdout
    assert TokenStore(store_path, key=new).get("open-2") == tokens(2, "open-2")
    with pytest.raises(TokenStoreError, match="another key"):
        TokenStore(store_path, key=old).get("open-1")


def test_permissions_are_owner_only_and_strict_refuses_a_readable_store(tmp_path: Path):
    old = os.umask(0)
    try:
        store = TokenStore(tmp_path / "d" / "tokens.json")
        store.put(tokens(1))
        TransferStore(tmp_path / "d" / "transfers.json").save(transfer("open-1"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    for path in (tmp_path / "d").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    os.chmod(store.path, 0o644)
    with pytest.raises(TokenStoreError, match="chmod 600"):
        TokenStore(tmp_path / "d" / "tokens.json", strict_permissions=True).open_ids()
    assert TokenStore(tmp_path / "d" / "tokens.json").open_ids() == ["open-1"]


# --- forget ----------------------------------------------------------------------------------------


def test_forget_leaves_no_byte_of_the_user_in_the_store_or_its_wal(tmp_path: Path):
    """The store, its WAL and everything beside it, read as bytes after ``delete`` + ``forget_user``
    (what ``forget`` calls): the user's open_id, token values and encrypted rows are gone; the
    neighbours on the same pages are still there."""
    state = tmp_path / "state"
    config = ApiConfig(client_key=None, token_store=state / "tokens.json")
    service = ApiService(config, lambda: None)
    gone = "forget-me-7f3a9c"
    users = [f"neighbour-{i:03d}" for i in range(40)]
    users.insert(20, gone)
    for n, open_id in enumerate(users):
        service.store.put(tokens(n, open_id), authorized_at=T0.isoformat())
        for i in range(3):
            service.transfers.save(transfer(open_id, i, archive_path=f"/archives/{open_id}/{i}.zip"))
    for n in range(2, 6):  # rotations: older versions of the row's pages pile up in the WAL
        service.store.put(tokens(n, gone))
    row = service.store.backend.query("SELECT token FROM tiktok_portability_tokens WHERE open_id = ?", (gone,))[0][0]
    before = files_bytes(state)
    assert gone.encode() in before and row.encode() in before  # the scan below can see them

    # a second connection (another worker) has the store open too, as in production
    other = TokenStore(state / "tokens.json")
    assert gone in other.open_ids()
    assert service.store.delete(gone) is True
    assert service.transfers.forget_user(gone) == 3

    after = files_bytes(state)
    assert (state / "store.sqlite3-wal").stat().st_size == 0  # checkpointed and truncated
    assert gone.encode() not in after and row.encode() not in after
    for n in range(6):
        assert tokens(n, gone).refresh_token.encode() not in after
    assert b"neighbour-019" in after and b"neighbour-020" in after
    assert other.open_ids() == sorted(u for u in users if u != gone)
    assert service.transfers.for_user(gone) == [] and len(service.transfers.all()) == 120


# --- crash points ----------------------------------------------------------------------------------

CRASHING_PUT = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    from tiktok_portability_source.api.auth import TokenSet, TokenStore
    from tiktok_portability_source.api.transfers import Transfer, TransferStore
    T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    body = {"access_token": "act.new", "expires_in": 7200, "open_id": "open-1", "refresh_expires_in": 9,
            "refresh_token": "rft.new"}
    if sys.argv[2] == "tokens":
        TokenStore(sys.argv[1]).put(TokenSet.from_response(body, T0))
    else:
        TransferStore(sys.argv[1]).save(Transfer("open-1", "l-new", ["all_data"], "json", "single", "adding", "t"))
    print("returned")
""")


@pytest.mark.parametrize("point, kept", [("write_tokens", False), ("wrote_tokens", True),
                                         ("write_transfers", False), ("wrote_transfers", True)])
def test_a_write_killed_before_its_commit_is_lost_and_after_it_is_kept(tmp_path: Path, point: str, kept: bool):
    path = tmp_path / "tokens.json"
    TokenStore(path).put(tokens(1))
    TransferStore(path).save(transfer("open-1"))
    what = point.split("_")[1]
    done = subprocess.run([sys.executable, "-c", CRASHING_PUT, str(path), what], env={**os.environ, CRASH_ENV: point},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == -9 and "returned" not in done.stdout, done.stderr
    assert f"crash point {point} reached" in done.stderr
    if what == "tokens":
        assert TokenStore(path).get("open-1").refresh_token == ("rft.new" if kept else tokens(1).refresh_token)
    else:
        assert [t.local_id for t in TransferStore(path).all()] == ["open-1-local-0"] + (["l-new"] if kept else [])
    assert not list(tmp_path.glob(".*.tmp"))


# --- refreshes across processes -----------------------------------------------------------------


class TokenEndpoint(http.server.ThreadingHTTPServer):
    """A rotating token endpoint on loopback, slow enough that two refreshes would overlap."""

    def __init__(self) -> None:
        self.valid, self.n, self.calls, self.lock = "rft.refresh-open-1-0001", 1, 0, threading.Lock()
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
                with endpoint.lock:
                    endpoint.calls += 1
                    ok = form.get("refresh_token") == endpoint.valid
                    if ok:
                        time.sleep(0.3)
                        endpoint.n += 1
                        endpoint.valid = f"rft.refresh-open-1-{endpoint.n:04d}"
                answer = body(endpoint.n) if ok else {"error": "invalid_grant", "error_description": "dead",
                                                      "log_id": "L"}
                payload = json.dumps(answer).encode()
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


REFRESHER = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timedelta, timezone
    from pathlib import Path
    from tiktok_portability_source.api.auth import OAuthClient, TokenManager, TokenStore
    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc) + timedelta(seconds=7100)  # inside the refresh margin
    oauth = OAuthClient("ck", "cs", "http://127.0.0.1/cb", base_url=sys.argv[2], clock=lambda: now)
    manager = TokenManager(oauth, TokenStore(sys.argv[1]), clock=lambda: now)
    while not Path(sys.argv[3]).exists():
        time.sleep(0.01)
    print(manager.access_token("open-1"))
""")


def test_two_processes_refreshing_one_user_at_once_refresh_once(tmp_path: Path):
    path = tmp_path / "tokens.json"
    TokenStore(path).put(tokens(1))
    server = TokenEndpoint()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    go = tmp_path / "go"
    try:
        procs = [subprocess.Popen([sys.executable, "-c", REFRESHER, str(path), f"http://127.0.0.1:{server.server_port}",
                                   str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        time.sleep(1.5)  # both imported and waiting
        go.touch()
        results = [p.communicate(timeout=60) for p in procs]
    finally:
        server.shutdown()
    assert [out.strip() for out, _ in results] == ["act.access-open-1-0002"] * 2, results
    assert server.calls == 1
    assert TokenStore(path).get("open-1").refresh_token == "rft.refresh-open-1-0002"


# --- cost of one update at 10,000 users ------------------------------------------------------------


def _one_update_cost(folder: Path, users: int, reps: int = 15) -> dict[str, float]:
    """Statements, WAL bytes and the best CPU time of one token refresh (put) and one transfer update (save).

    CPU time, not wall time: what grows when an update re-reads or re-writes the whole store (parsing,
    serialising, encrypting) is CPU work, while the fsync of each commit costs the same at any size and,
    on a busy machine, varies more than everything else together."""
    old_layout(folder, users=users)
    store, transfers = TokenStore(folder / "tokens.json"), TransferStore(folder / "transfers.json")
    assert len(store.open_ids()) == users  # migrated
    user, record = f"user-{users // 2:05d}", transfers.for_user(f"user-{users // 2:05d}")[0]
    out: dict[str, float] = {}
    for name, backend, update in (
            ("put", store.backend, lambda n: store.put(tokens(n, user))),
            ("save", transfers.backend, lambda n: (setattr(record, "checks", n), transfers.save(record)))):
        best = float("inf")
        for n in range(reps):
            backend.scrub()  # an empty WAL: what it holds afterwards is this one update
            statements = backend.statements
            started = time.process_time()
            update(n + 2)
            best = min(best, time.process_time() - started)
            out[f"{name}_statements"] = backend.statements - statements
            out[f"{name}_wal_bytes"] = (folder / "store.sqlite3-wal").stat().st_size
        out[f"{name}_seconds"] = best
    assert store.get(user) == tokens(reps + 1, user)
    store.close()
    return out


def test_one_update_costs_the_same_at_10000_users_as_at_100(tmp_path: Path):
    small = _one_update_cost(tmp_path / "small", 100)
    large = _one_update_cost(tmp_path / "large", 10_000)
    for name in ("put", "save"):
        # one row: BEGIN, (SELECT,) upsert, COMMIT
        assert 3 <= large[f"{name}_statements"] == small[f"{name}_statements"] <= 4, (small, large)
        # pages written to the WAL: the row's leaf (and, for a transfer, the leaves of its two indexes);
        # a deeper b-tree may add a page on a split. The JSON store rewrote its whole file (~5 MB here)
        assert large[f"{name}_wal_bytes"] <= small[f"{name}_wal_bytes"] + 2 * (4096 + 24), (small, large)
        assert large[f"{name}_wal_bytes"] <= 4 * (4096 + 24) + 32, (small, large)
        ratio = large[f"{name}_seconds"] / small[f"{name}_seconds"]
        assert ratio < 3, (name, small, large)


# --- configuration ---------------------------------------------------------------------------------


def test_store_url_and_key_come_from_config_and_never_show(monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv(URL_ENV, "postgresql://loader:s3cret-pw-123@db.internal:5432/tiktok")
    monkeypatch.setenv(KEY_ENV, key)
    config = load_api_config()
    assert config.store_url == "postgresql://loader:s3cret-pw-123@db.internal:5432/tiktok"
    assert config.store_key == key
    assert "s3cret" not in repr(config) and key not in repr(config)
    assert config.store_location == "postgresql://loader:***@db.internal:5432/tiktok"
    assert mask_url("postgresql://u@h/db?password=abcdefgh&sslmode=require") == \
        "postgresql://u@h/db?password=***&sslmode=require"
    store = TokenStore("/nonexistent/tokens.json")  # store_url from config: nothing is opened yet
    assert store.path is None and "s3cret" not in repr(store) and store.location == config.store_location
    monkeypatch.setenv(URL_ENV, "postgresql://loader:s3cret-pw-123@127.0.0.1:1/tiktok")  # nothing listens
    with pytest.raises(TokenStoreError) as refused:
        TokenStore("/nonexistent/tokens.json").open_ids()
    assert "\n" not in str(refused.value) and "s3cret" not in str(refused.value)
    assert "postgresql://loader:***@127.0.0.1:1/tiktok" in str(refused.value)
    monkeypatch.setenv(URL_ENV, "mysql://x:y@h/db")
    with pytest.raises(TokenStoreError, match="postgresql://"):
        TokenStore("/nonexistent/tokens.json")


# --- PostgreSQL ------------------------------------------------------------------------------------


@pytest.fixture
def pg_url(postgres_server) -> str:
    return postgres_server.create_database()


def test_postgres_store_rows_locks_and_forget(pg_url: str, tmp_path: Path):
    key = Fernet.generate_key().decode()
    store = TokenStore(tmp_path / "tokens.json", url=pg_url, key=key)
    transfers = TransferStore(tmp_path / "transfers.json", url=pg_url)
    assert store.path is None and "***" in store.location and pg_url not in repr(store)
    for i in range(5):
        store.put(tokens(1, f"pg-{i}"), authorized_at=T0.isoformat())
        transfers.save(transfer(f"pg-{i}"))
    store.set_metadata("pg-1", revoked=True, needs_reauth=True)
    assert store.metadata("pg-1")["revoked"] is True
    store.put(tokens(2, "pg-1"))  # a fresh grant clears the marks
    assert "revoked" not in store.metadata("pg-1") and store.get("pg-1") == tokens(2, "pg-1")
    assert store.open_ids() == [f"pg-{i}" for i in range(5)]
    assert transfers.by_request_id(7345_0000_0000).open_id == "pg-0" and len(transfers.all()) == 5
    assert not list(tmp_path.iterdir())  # nothing local: no SQLite file, no key file

    import psycopg2

    with psycopg2.connect(pg_url) as con, con.cursor() as cur:
        cur.execute("SELECT token FROM tiktok_portability_tokens")
        assert all(not row[0].startswith(("act.", "rft.")) and "rft." not in row[0] for row in cur.fetchall())
    with pytest.raises(TokenStoreError, match="store_key"):
        TokenStore(tmp_path / "tokens.json", url=pg_url, key="").get("pg-0")  # no key: the shared store refuses
    with pytest.raises(TokenStoreError, match="another key"):
        TokenStore(tmp_path / "tokens.json", url=pg_url, key=Fernet.generate_key().decode()).get("pg-0")

    assert store.delete("pg-3") is True and transfers.forget_user("pg-3") == 1
    assert "pg-3" not in TokenStore(tmp_path / "tokens.json", url=pg_url, key=key).open_ids()
    assert transfers.for_user("pg-3") == []


def test_postgres_refreshes_of_one_user_from_two_workers_happen_once(pg_url: str, tmp_path: Path):
    key = Fernet.generate_key().decode()
    TokenStore(tmp_path / "a", url=pg_url, key=key).put(tokens(1))
    now = T0 + timedelta(seconds=7100)
    calls, lock = [], threading.Lock()
    valid = ["rft.refresh-open-1-0001"]

    def endpoint(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        with lock:
            calls.append(form["refresh_token"])
            if form["refresh_token"] != valid[0]:
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "x", "log_id": "L"})
            time.sleep(0.3)
            n = len(calls) + 1
            valid[0] = f"rft.refresh-open-1-{n:04d}"
            return httpx.Response(200, json=body(n))

    results, barrier = [], threading.Barrier(2)

    def worker(folder: str) -> None:  # two machines: separate stores, connections and advisory-lock sessions
        manager = TokenManager(OAuthClient("ck", "cs", "http://x/cb", clock=lambda: now),
                               TokenStore(tmp_path / folder, url=pg_url, key=key), clock=lambda: now)
        barrier.wait()
        results.append(manager.access_token("open-1"))

    with respx.mock:
        respx.post(settings.API_BASE_URL + settings.TOKEN_PATH).mock(side_effect=endpoint)
        threads = [threading.Thread(target=worker, args=(f,)) for f in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert results == ["act.access-open-1-0002"] * 2 and len(calls) == 1
    assert TokenStore(tmp_path / "c", url=pg_url, key=key).get("open-1").refresh_token == "rft.refresh-open-1-0002"


def test_json_stores_move_into_postgres_too(pg_url: str, tmp_path: Path, monkeypatch):
    stored = old_layout(tmp_path, users=4)
    monkeypatch.setenv(URL_ENV, pg_url)
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    service = ApiService(load_api_config(token_store=str(tmp_path / "tokens.json")), lambda: None)
    assert service.users() == sorted(stored) and len(service.transfers.all()) == 4
    assert service.store.get("user-00002") == stored["user-00002"]
    assert not list(tmp_path.iterdir())  # the JSON files are gone and nothing else was written here
