"""``tiktok-portability demo``: the whole job with no credentials.

The fake TikTok API runs on loopback; a synthetic user "consents" (the demo visits the authorize
URL the way a browser would), the API transfer runs add → check → download → load into DuckDB,
and an older "Download your data" archive of the same user is stitched in, as real users do to
keep more than TikTok's ~6 months of watch history.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import httpx

from .. import ArchiveInput
from ..api import ApiService
from ..api.config import ApiConfig
from ..loader import load_archives, make_pipeline
from .api import FakeConfig, FakeTikTok
from .archives import HistoryArchiveBuilder

log = logging.getLogger(__name__)

DEMO_OPEN_ID = "demo-open-id-0001"
DEMO_USERNAME = "demo_user"
CALLBACK_PORT = 8766


def run_demo(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir.absolute()
    db_path = Path(args.duckdb).absolute()
    # the demo owns these: start from scratch so a rerun shows the same story
    shutil.rmtree(workdir, ignore_errors=True)
    db_path.unlink(missing_ok=True)
    workdir.mkdir(parents=True)
    pipelines_dir = workdir / "pipelines"

    def pipeline():
        return make_pipeline(duckdb_path=db_path, destination_name=args.destination, dataset=args.dataset,
                             pipelines_dir=pipelines_dir)

    fake = FakeTikTok(FakeConfig(ready_after_polls=2))
    # no synthetic "future" sections: they exist to test unparsed_sections, and would warn here
    builder = HistoryArchiveBuilder(fake.now, workdir=workdir / "fake-api-archives", username_of=lambda _: DEMO_USERNAME,
                                    unknown_sections=False)
    fake.archive_builder = builder
    fake.add_user(DEMO_OPEN_ID, username=DEMO_USERNAME)
    with fake.serve() as server:
        print(f"1. fake TikTok API listening on {server.url}")
        config = ApiConfig(client_key=fake.config.client_key, client_secret=fake.config.client_secret,
                           redirect_uri=f"http://127.0.0.1:{CALLBACK_PORT}/callback/", api_base_url=server.url,
                           authorize_url=server.url + "/v2/auth/authorize/", token_store=workdir / "tokens.json")
        service = ApiService(config, pipeline, sleep=_announced_sleep)
        open_id = service.authorize(
            ["user.info.basic", "portability.all.ongoing"],
            visit=lambda url: httpx.get(url, follow_redirects=True, timeout=30),  # the user clicks "Authorize"
        )
        print(f"2. user {open_id} authorized; tokens in {config.store_location} (encrypted, mode 600)")
        outcomes = service.sync_until_done(timeout=600)
        for outcome in outcomes:
            print(f"3. API transfer: {outcome.message}")
        older_at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=150)
        older = builder.history(open_id).export(workdir / "downloads", at=older_at, family="B", unknown_sections=False)
        result = load_archives(service.pipeline, [ArchiveInput(older.path, user_id=open_id)])
        print(f"4. older 'Download your data' archive ({older_at:%Y-%m-%d}) stitched in: "
              f"{result.added['watch_history']} older watch-history rows added")
    failed = [o for o in outcomes if o.state != "loaded"]
    _print_report(db_path, args.dataset)
    return 1 if failed else 0


def _announced_sleep(seconds: float) -> None:
    """The demo's waits, said: TikTok (here its fake) takes a while to prepare an export."""
    if seconds >= 1:
        print(f"   … waiting {seconds:.0f} s for TikTok to prepare the export", flush=True)
    time.sleep(seconds)


def _print_report(db_path: Path, dataset: str) -> None:
    with duckdb.connect(str(db_path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name NOT LIKE '\\_dlt%' "
            "ESCAPE '\\' ORDER BY 1", [dataset]).fetchall()
        print(f"\n{db_path.name}, dataset '{dataset}':")
        for (table,) in tables:
            count = con.execute(f'SELECT COUNT(*) FROM "{dataset}"."{table}"').fetchone()[0]
            print(f"  {table:<22} {count:>7} rows")
        first, last, videos = con.execute(
            f'SELECT MIN(watched_at), MAX(watched_at), COUNT(DISTINCT video_id) FROM "{dataset}".watch_history').fetchone()
        gone = con.execute(f'SELECT COUNT(*) FROM "{dataset}".followers WHERE NOT is_current').fetchone()[0]
        print(f"\nwatch history {first:%Y-%m-%d} → {last:%Y-%m-%d}, {videos} distinct videos; "
              f"{gone} followers left between the two exports")
    print(f"\nQuery it:\n  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{db_path.name}')"
          f".sql('SELECT date_trunc(\\'month\\', watched_at) m, count(*) FROM {dataset}.watch_history GROUP BY 1 ORDER BY 1'))\"")
