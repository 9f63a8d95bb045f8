"""``scheduling``: the sync split at the download / load boundary that the orchestrators use, against the
fake TikTok API in-process (no dagster, no Airflow needed)."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support.db import sql

from tiktok_portability_source.api import scheduling
from tiktok_portability_source.api import ApiService
from tiktok_portability_source.api.auth import TokenSet, TokenStore
from tiktok_portability_source.api.config import ApiConfig
from tiktok_portability_source.fake.api import FakeConfig, FakeTikTok
from tiktok_portability_source.fake.archives import HistoryArchiveBuilder
from tiktok_portability_source.fake.generator import Sizes
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


def test_finish_without_the_load_counts_a_failed_attempt(service):
    scheduling.advance(service, ["ben"], stop_before="load")
    transfer = scheduling.downloaded(service, "ben")
    scheduling.start_load(service, transfer)  # ...and the orchestrator's run never loads it
    with pytest.raises(LoadFailed, match=r"not loaded \(downloaded: load attempt 1/3 failed, will retry: "
                                         r"archive .* is not in the destination"):
        scheduling.finish(service, transfer)
    [kept] = service.transfers.for_user("ben")
    assert kept.state == "downloaded" and kept.load_attempts == 1 and Path(kept.archive_path).is_file()
    for _ in range(2):
        scheduling.start_load(service, scheduling.downloaded(service, "ben"))
        with pytest.raises(LoadFailed):
            scheduling.finish(service, transfer)
    [failed] = service.transfers.for_user("ben")
    assert failed.state == "failed" and "load failed 3 time(s), giving up" in failed.error
    assert Path(failed.archive_path).is_file()  # kept for inspection
    with pytest.raises(LoadFailed, match="not downloaded"):
        scheduling.source_for(failed)


def broken_for(user: str, builder):
    """The fake's archives, except that ``user`` always gets a ZIP whose JSON is cut off: an export that
    no retry will ever load."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("TikTok_Data/user_data_tiktok.json", b'{"Profile And Settings": {"Profile Info": {"Pro')

    def build(open_id, categories, data_format):
        return buffer.getvalue() if open_id == user else builder(open_id, categories, data_format)

    return build


def orchestrator_tick(service, open_id):
    """What the Dagster sensor + run (or an Airflow DAG run) do for one user: the sensor's cheap step and
    run request, then the run's download, counted load attempt, dlt load, and finish or failure record."""
    scheduling.advance(service, [open_id], stop_before="download")
    if open_id not in [t.open_id for t in scheduling.to_load(service, [open_id])]:
        return "no run"
    scheduling.advance(service, [open_id], stop_before="load")
    transfer = scheduling.downloaded(service, open_id)
    source = scheduling.start_load(service, transfer)
    try:
        service.pipeline.run(source)
    except Exception as exc:  # noqa: BLE001 - the orchestrator sees the run fail
        scheduling.load_failed(service, transfer, exc)
        return "run failed"
    return scheduling.finish(service, transfer).state


def test_a_broken_export_stops_being_retried_after_max_load_attempts(tmp_path, fake, service):
    fake.archive_builder = broken_for("ben", fake.archive_builder)
    ticks = [orchestrator_tick(service, "ben") for _ in range(5)]
    assert ticks == ["run failed", "run failed", "run failed", "no run", "no run"]  # the sensor stops asking
    [transfer] = service.transfers.for_user("ben")
    assert transfer.state == "failed" and transfer.load_attempts == 3
    assert transfer.error.startswith("load failed 3 time(s), giving up:") and "user_data_tiktok.json" in transfer.error
    assert len(fake.calls_to("add")) == 1 and len(fake.calls_to("download")) == 1  # never added or fetched again
    assert sql(tmp_path / "s.duckdb", "SELECT user_id, state FROM tiktok.export_requests") == [("ben", "failed")]
    assert orchestrator_tick(service, "amy") == "loaded"  # the other user is not held up


def test_a_worker_killed_during_every_load_is_given_up_too(fake, service):
    scheduling.advance(service, ["amy"], stop_before="load")
    transfer = scheduling.downloaded(service, "amy")
    for _ in range(3):  # each run dies mid-load (OOM, SIGKILL): nothing records a failure
        scheduling.start_load(service, service.transfers.get(transfer.local_id))
    with pytest.raises(LoadFailed, match="gave up after 3 load attempts: the last attempt did not finish"):
        scheduling.start_load(service, service.transfers.get(transfer.local_id))
    assert scheduling.to_load(service, ["amy"]) == []


def test_sync_retries_a_failed_load_on_the_next_run_and_then_gives_up(fake, service):
    fake.archive_builder = broken_for("ben", fake.archive_builder)
    runs = [{o.open_id: o.state for o in service.sync_once()} for _ in range(4)]
    assert [r["ben"] for r in runs] == ["error", "error", "failed", "failed"]
    assert runs[0]["amy"] == "loaded"  # loaded in the same run as ben's first failure
    [transfer] = service.transfers.for_user("ben")
    assert transfer.load_attempts == 3 and len(fake.calls_to("download")) == 2  # ben's once, amy's once


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


def test_orchestrator_log_handlers_added_later_never_see_a_token():
    """Dagster and Airflow add their own handlers after importing the glue; records are masked anyway."""
    import io
    import logging

    from tiktok_portability_source import errors
    from tiktok_portability_source.api import scheduling  # noqa: F401 - importing installs the masking

    errors.register_secret("opaque-client-secret-1234")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # a handler that did not exist at import time
    logger = logging.getLogger("orchestrator.run")
    logger.addHandler(handler)
    try:
        logger.warning("refresh with %s and %s failed", "rft.abcdefghijklmnop1234", "opaque-client-secret-1234")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "refresh with" in text and "failed" in text
    assert "rft.abcdefghijklmnop1234" not in text and "opaque-client-secret-1234" not in text


def test_export_requests_are_recorded_even_when_a_killed_run_left_a_package(tmp_path, fake, service):
    """dlt's run() with a pending package loads only that package: the request table would stay stale."""
    from dataclasses import asdict

    from tiktok_portability_source import export_requests

    scheduling.advance(service, stop_before="download")
    service.record_requests()  # the dataset exists, with both requests ready
    stale = [{**asdict(t), "state": "adding"} for t in service.transfers.all()]
    service.pipeline.extract(export_requests(stale))  # what a run killed before its normalize leaves
    assert service.pipeline.list_extracted_load_packages()

    scheduling.advance(service, ["amy"], stop_before="load")
    service.record_requests()
    states = sql(tmp_path / "s.duckdb", "SELECT user_id, state FROM tiktok.export_requests ORDER BY user_id")
    assert states == [("amy", "downloaded"), ("ben", "ready")]
    assert not service.pipeline.list_extracted_load_packages() and not service.pipeline.list_normalized_load_packages()
