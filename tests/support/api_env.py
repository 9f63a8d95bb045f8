"""Shared plumbing for the API-mode end-to-end and CLI tests: the fake TikTok API on a loopback port,
an ``ApiService`` whose clock is the fake's clock, real OAuth consent, and the CLI as a subprocess.

Nothing here talks to the real TikTok: every URL is ``http://127.0.0.1:<port>``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow.parquet as pq

from support.db import sql

from tiktok_portability_source.api import ApiService
from tiktok_portability_source.api.auth import TokenStore
from tiktok_portability_source.api.config import ApiConfig
from tiktok_portability_source.api.transfers import TransferStore
from tiktok_portability_source.fake.api import FakeConfig, FakeTikTok, RunningServer
from tiktok_portability_source.fake.archives import HistoryArchiveBuilder
from tiktok_portability_source.fake.generator import GeneratedArchive, Sizes
from tiktok_portability_source.loader import make_pipeline
from tiktok_portability_source.crash import CRASH_ENV

UTC = timezone.utc
ALL_SINGLE = ("user.info.basic", "portability.all.single")
ALL_ONGOING = ("user.info.basic", "portability.all.ongoing")
SMALL = Sizes()  # the generator's defaults: ~60 watched videos over the whole history
DATASET = "tiktok"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RecordingBuilder(HistoryArchiveBuilder):
    """The fake's default archive builder (layout D, full archive) that also keeps each
    ``GeneratedArchive`` it served, so tests can ask the generator for the expected row counts."""

    def __init__(self, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.exports: dict[str, list[GeneratedArchive]] = defaultdict(list)

    def __call__(self, open_id: str, categories: Sequence[str], data_format: str) -> Path:
        assert data_format == "json" and "all_data" in categories, (categories, data_format)
        at = datetime.fromtimestamp(int(self.clock()), tz=UTC)
        out = self.workdir / hashlib.sha256(open_id.encode()).hexdigest()[:12]
        archive = self.history(open_id).export(out, at=at, family="D")
        self.exports[open_id].append(archive)
        return archive.path

    def expected(self, open_id: str, exports: Sequence[GeneratedArchive] | None = None) -> dict[str, int]:
        history = self.history(open_id)
        return history.expected_counts(list(self.exports[open_id] if exports is None else exports))


@dataclass
class ApiEnv:
    """One fake TikTok on loopback plus everything a service or a CLI run needs to reach it."""

    tmp: Path
    fake: FakeTikTok
    server: RunningServer
    builder: RecordingBuilder
    sleeps: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def db(self) -> Path:
        return self.tmp / "api.duckdb"

    @property
    def pipelines_dir(self) -> Path:
        return self.tmp / "pipelines"

    @property
    def token_store(self) -> Path:
        return self.tmp / "state" / "tokens.json"

    @property
    def transfer_store(self) -> Path:
        return self.token_store.parent / "transfers.json"

    @property
    def store_file(self) -> Path:
        """The SQLite file both stores live in (``token_store`` names the ``tokens.json`` of earlier versions)."""
        return self.token_store.parent / "store.sqlite3"

    @property
    def archive_dir(self) -> Path:
        return self.token_store.parent / "archives"

    # -- the fake's clock drives the service too ---------------------------------------------------
    def clock(self) -> datetime:
        return datetime.fromtimestamp(self.fake.now(), tz=UTC)

    def sleep(self, seconds: float) -> None:
        """Record the wait and let simulated time pass instead of sleeping."""
        self.sleeps.append(seconds)
        self.fake.advance(max(seconds, 0.0))

    def config(self, **overrides: Any) -> ApiConfig:
        values: dict[str, Any] = {
            "client_key": self.fake.config.client_key, "client_secret": self.fake.config.client_secret,
            "redirect_uri": f"http://127.0.0.1:{free_port()}/callback/", "api_base_url": self.url,
            "authorize_url": self.url + "/v2/auth/authorize/", "token_store": self.token_store,
        }
        return ApiConfig(**{**values, **overrides})

    def pipeline(self):
        return make_pipeline(duckdb_path=self.db, pipelines_dir=self.pipelines_dir)

    def service(self, **overrides: Any) -> ApiService:
        return ApiService(self.config(**overrides), self.pipeline, clock=self.clock, sleep=self.sleep)

    def authorize(self, service: ApiService, open_id: str, scopes: Sequence[str] = ALL_ONGOING) -> str:
        """The user consents in the fake (the way a browser follows the redirect) and tokens land in the store."""
        if open_id not in self.fake._users:
            self.fake.add_user(open_id)

        def visit(url: str) -> None:
            httpx.get(url + "&fake_open_id=" + open_id, follow_redirects=True, timeout=30)

        got = service.authorize(list(scopes), visit=visit, timeout=30)
        assert got == open_id
        return got

    # -- reading results (one DuckDB connection per question: opening one costs ~50 ms) ------------
    def counts(self, open_id: str | None = None) -> dict[str, int]:
        """Rows per table of the dataset (of one user, for tables with a user_id)."""
        with duckdb.connect(str(self.db), read_only=True) as con:
            tables = [r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [DATASET]).fetchall()]
            out = {}
            for table in tables:
                columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                                     "table_schema = ? AND table_name = ?", [DATASET, table]).fetchall()}
                if open_id is not None and "user_id" not in columns:
                    continue
                where, params = (" WHERE user_id = ?", [open_id]) if open_id is not None else ("", [])
                out[table] = con.execute(f'SELECT COUNT(*) FROM {DATASET}."{table}"{where}', params).fetchone()[0]
            return out

    def count(self, table: str, open_id: str | None = None) -> int:
        """Rows of a table (of one user); a table no load has created yet counts 0."""
        if not self.db.exists():
            return 0
        return self.counts(open_id).get(table, 0)

    def duplicated(self) -> list[str]:
        """Tables where some row_key appears more than once."""
        with duckdb.connect(str(self.db), read_only=True) as con:
            tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.columns WHERE "
                                                "table_schema = ? AND column_name = 'row_key'", [DATASET]).fetchall()]
            return [t for t in tables if con.execute(
                f'SELECT COUNT(*) <> COUNT(DISTINCT row_key) FROM {DATASET}."{t}"').fetchone()[0]]

    def calls(self, endpoint: str, open_id: str | None = None, status: int | None = None) -> int:
        return sum(1 for c in self.fake.calls_to(endpoint, status=status) if open_id is None or c.open_id == open_id)

    def transfers(self) -> list[dict[str, Any]]:
        """Every stored transfer as a dict, oldest first (read through the store, as another process would)."""
        store = TransferStore(self.transfer_store)
        try:
            return sorted((asdict(t) for t in store.all()), key=lambda t: t["created_at"])
        finally:
            store.close()

    def tokens(self) -> dict[str, Any]:
        """``{open_id: {"token": {...}, "metadata": {...}}}``, the shape the JSON store had (no "token" when none)."""
        store = TokenStore(self.token_store)
        try:
            out: dict[str, Any] = {}
            for open_id in store.open_ids():
                token_set = store.get(open_id)
                out[open_id] = {"metadata": store.metadata(open_id),
                                **({"token": token_set.to_json()} if token_set is not None else {})}
            return out
        finally:
            store.close()

    # -- the CLI as a real process ------------------------------------------------------------------
    def cli(self, *args: str, crash_at: str | None = None, env: dict[str, str] | None = None,
            api: bool = True, common: bool = True, credentials: bool = True,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "tiktok_portability_source.cli", *args]
        if api:
            cmd += ["--base-url", self.url, "--token-store", str(self.token_store)]
        if common:
            cmd += ["--duckdb", str(self.db), "--pipelines-dir", str(self.pipelines_dir)]
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__") and k != CRASH_ENV}
        child_env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
        if credentials:
            child_env["SOURCES__TIKTOK_PORTABILITY__CLIENT_KEY"] = self.fake.config.client_key
            child_env["SOURCES__TIKTOK_PORTABILITY__CLIENT_SECRET"] = self.fake.config.client_secret
        if crash_at:
            child_env[CRASH_ENV] = crash_at
        child_env.update(env or {})
        return subprocess.run(cmd, cwd=self.tmp, env=child_env, capture_output=True, text=True, timeout=timeout,
                              check=False)


def start_env(tmp: Path, config: FakeConfig | None = None, *, sizes: Sizes = SMALL) -> ApiEnv:
    fake = FakeTikTok(config or FakeConfig())
    fake.archive_builder = RecordingBuilder(fake.now, sizes=sizes, workdir=tmp / "fake-archives",
                                            username_of=lambda open_id: f"user_{open_id}")
    server = fake.serve()
    return ApiEnv(tmp, fake, server, fake.archive_builder)


def stop_env(env: ApiEnv) -> None:
    env.server.shutdown()
    env.fake.close()


def user_tables(db_path: Path) -> list[str]:
    """Every table of the dataset that carries a user_id column."""
    return [r[0] for r in sql(db_path, "SELECT DISTINCT table_name FROM information_schema.columns "
                                       "WHERE table_schema = ? AND column_name = 'user_id' ORDER BY 1", DATASET)]


# --- leak scans: every place a secret or a name could have ended up ---------------------------


def decoded_files(root: Path, skip: set[Path]) -> dict[Path, str]:
    """Every file under ``root`` as text, gzip members and parquet tables opened up."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p not in skip):
        raw = path.read_bytes()
        texts = [raw.decode("latin-1")]
        if raw[:2] == b"\x1f\x8b":
            texts.append(gzip.decompress(raw).decode("latin-1"))
        if raw[:4] == b"PAR1":
            texts.append(repr(pq.read_table(path).to_pylist()))
        out[path] = "\n".join(texts)
    return out


def database_dump(db: Path) -> str:
    """Every value of every table in every schema, with dlt's compressed state decoded."""
    parts = []
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2").fetchall()
        assert ("tiktok", "_dlt_pipeline_state") in tables
        for schema, table in tables:
            rows = con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            parts.append(f"{schema}.{table}: {rows!r}")
            if table == "_dlt_pipeline_state":
                for (state,) in con.execute(f'SELECT state FROM "{schema}"."{table}"').fetchall():
                    decoded = json.loads(zlib.decompress(base64.b64decode(state)))
                    assert decoded["_state_version"] >= 1  # really decoded (sources hold the per-user windows)
                    parts.append(json.dumps(decoded))
    return "\n".join(parts)
