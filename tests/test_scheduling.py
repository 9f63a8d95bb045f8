"""``scheduling``: the sync split at the download / load boundary that the orchestrators use, against the
fake TikTok API in-process (no dagster, no Airflow needed)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import sql
from tiktok_portability_source import scheduling
from tiktok_portability_source.api import ApiService
from tiktok_portability_source.auth import TokenSet, TokenStore
from tiktok_portability_source.config import ApiConfig
from tiktok_portability_source.fake_api import FakeConfig, FakeTikTok
from tiktok_portability_source.fake_archives import HistoryArchiveBuilder
from tiktok_portability_source.generator import Sizes
from tiktok_portability_source.loader import LoadFailed, make_pipeline

USERS = ("amy", "ben")


@pytest.fixture
def fake(tmp_path):
    with FakeTikTok(FakeConfig()) as fake:
        fake.archive_builder = HistoryArchiveBuilder(fake.now, sizes=Sizes(), workdir=tmp_path / "fake-archives")
        yield fake


@pytest.fixture
def service(tmp_path, fake) -> ApiService:
    store = tmp_path / "state" / "tokens.json"
    now = datetime.now(timezone.utc)
    for open_id in USERS:
        fake.add_user(open_id)
        body = fake.grant_tokens(open_id, ["user.info.basic", "portability.all.single"])
        TokenStore(store).put(TokenSet.from_response(body, now), authorized_at=now.isoformat())
    config = ApiConfig(client_key=fake.config.client_key, client_secret=fake.config.client_secret,
                       api_base_url="http://fake.tiktok", token_store=store)
    pipeline = make_pipeline(duckdb_path=tmp_path / "s.duckdb", pipelines_dir=tmp_path / "pipelines")
    return ApiService(config, lambda: pipeline, transport=fake.transport(), sleep=lambda s: None)


def test_advance_stops_before_download_or_load_and_never_touches_the_destination(tmp_path, fake, service):
    outcomes = scheduling.advance(service, stop_before="download")
    assert [(o.open_id, o.state) for o in outcomes] == [("amy", "ready"), ("ben", "ready")]
    assert [t.open_id for t in scheduling.to_load(service)] == ["amy", "ben"]
    assert scheduling.downloaded(service, "amy") is None and fake.calls_to("download") == []

    [outcome] = scheduling.advance(service, ["amy"], stop_before="load")
    transfer = scheduling.downloaded(service, "amy")
    assert outcome.state == "downloaded" and Path(transfer.archive_path).is_file()
    assert [t.state for t in scheduling.to_load(service)] == ["downloaded", "ready"]
    assert not (tmp_path / "s.duckdb").exists()


def test_source_for_then_finish_ends_the_transfer_like_sync(tmp_path, service):
    scheduling.advance(service, ["amy"], stop_before="load")
    transfer = scheduling.downloaded(service, "amy")
    service.pipeline.run(scheduling.source_for(transfer))  # what an orchestrator's dlt integration does

    outcome = scheduling.finish(service, transfer)
    assert outcome.state == "loaded"
    [done] = service.transfers.for_user("amy")
    watched = sql(tmp_path / "s.duckdb", "SELECT COUNT(*) FROM tiktok.watch_history WHERE user_id = 'amy'")[0][0]
    assert done.state == "loaded" and done.rows_loaded >= watched > 0
    assert done.archive_path is None and not Path(transfer.archive_path).exists()
    assert sql(tmp_path / "s.duckdb", "SELECT user_id, state FROM tiktok.export_requests") == [("amy", "loaded")]
    assert scheduling.to_load(service, ["amy"]) == []


def test_finish_without_the_load_fails_the_transfer(service):
    scheduling.advance(service, ["ben"], stop_before="load")
    transfer = scheduling.downloaded(service, "ben")
    with pytest.raises(LoadFailed, match=r"not loaded \(error\): load failed: archive .* is not in the destination"):
        scheduling.finish(service, transfer)
    [failed] = service.transfers.for_user("ben")
    assert failed.state == "failed" and Path(failed.archive_path).is_file()  # kept for inspection
    with pytest.raises(LoadFailed, match="not downloaded"):
        scheduling.source_for(failed)


def test_scheduled_users_from_the_token_store_or_a_static_list(tmp_path, monkeypatch, service):
    monkeypatch.delenv(scheduling.ENV_USERS, raising=False)
    assert scheduling.scheduled_users(service.config.token_store) == list(USERS)
    monkeypatch.setenv("SOURCES__TIKTOK_PORTABILITY__TOKEN_STORE", str(service.config.token_store))
    assert scheduling.scheduled_users() == list(USERS)
    assert scheduling.scheduled_users(tmp_path / "none" / "tokens.json") == []
    monkeypatch.setenv(scheduling.ENV_USERS, " zoe, amy ,,")
    assert scheduling.scheduled_users() == ["amy", "zoe"]


def test_pipeline_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv(scheduling.ENV_DUCKDB, str(tmp_path / "env.duckdb"))
    monkeypatch.setenv(scheduling.ENV_DATASET, "tt")
    monkeypatch.setenv(scheduling.ENV_PIPELINES_DIR, str(tmp_path / "env-pipelines"))
    pipeline = scheduling.pipeline_from_env()
    assert pipeline.dataset_name == "tt" and pipeline.destination.destination_type.endswith("duckdb")
    assert Path(pipeline.pipelines_dir) == tmp_path / "env-pipelines"
    assert Path(scheduling.pipeline_from_env(pipelines_dir=tmp_path / "x").pipelines_dir) == tmp_path / "x"
    assert Path(scheduling.pipeline_from_env(ignore_env_pipelines_dir=True).pipelines_dir) != tmp_path / "env-pipelines"
    monkeypatch.setenv(scheduling.ENV_DESTINATION, "postgres")
    assert scheduling.pipeline_from_env().destination.destination_type.endswith("postgres")
