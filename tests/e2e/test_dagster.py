"""Dagster end to end: the fake TikTok API on loopback → sensor → run request for the user's partition →
``materialize`` (dagster-dlt) → rows in DuckDB equal to the generated exports' expected counts."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

dagster = pytest.importorskip("dagster", reason="dagster is not installed (pip install -e '.[dagster]')")
pytest.importorskip("dagster_dlt", reason="dagster-dlt is not installed (pip install -e '.[dagster]')")

from support.db import sql  # noqa: E402

from tiktok_portability_source.api.auth import TokenSet, TokenStore  # noqa: E402
from tiktok_portability_source.fake.api import FakeConfig, FakeTikTok  # noqa: E402
from tiktok_portability_source.fake.archives import HistoryArchiveBuilder  # noqa: E402
from tiktok_portability_source.fake.generator import Sizes  # noqa: E402
from tiktok_portability_source.layouts import DEFAULT_TABLES  # noqa: E402
from tiktok_portability_source.loader import make_pipeline  # noqa: E402
from tiktok_portability_source.api.transfers import TransferStore  # noqa: E402

DEFS_FILE = Path(__file__).parents[2] / "pipelines" / "dagster_defs.py"
DATA_TABLES = list(DEFAULT_TABLES)  # autofill is loaded only on opt-in: by default its table does not exist
UTC = timezone.utc
OPEN_ID = "dagster-user"


class RecordingBuilder(HistoryArchiveBuilder):
    """The fake's generated full exports (layout D), remembered so the test knows the expected rows."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.exports = []

    def __call__(self, open_id, categories, data_format):
        at = datetime.fromtimestamp(int(self.clock()), tz=UTC)
        archive = self.history(open_id).export(self.workdir / open_id, at=at, family="D")
        self.exports.append(archive)
        return archive.path


def load_defs_module():
    spec = importlib.util.spec_from_file_location("tiktok_dagster_defs", DEFS_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake(tmp_path):
    fake = FakeTikTok(FakeConfig())
    fake.archive_builder = RecordingBuilder(fake.now, sizes=Sizes(watch_history=1500), workdir=tmp_path / "fake-archives",
                                            username_of=lambda open_id: f"user_{open_id}")
    server = fake.serve()
    fake.url = server.url
    yield fake
    server.shutdown()
    fake.close()


@pytest.fixture
def setup(tmp_path, monkeypatch, fake):
    """One authorized user (ongoing grant), API credentials in env, the definitions module on a tmp DuckDB."""
    monkeypatch.setenv("SOURCES__TIKTOK_PORTABILITY__CLIENT_KEY", fake.config.client_key)
    monkeypatch.setenv("SOURCES__TIKTOK_PORTABILITY__CLIENT_SECRET", fake.config.client_secret)
    # the module-level `defs` (what `dagster dev -f` loads) must build without touching ~/.dlt
    monkeypatch.setenv("TIKTOK_PORTABILITY_PIPELINES_DIR", str(tmp_path / "module-pipelines"))
    token_store = tmp_path / "state" / "tokens.json"
    fake.add_user(OPEN_ID)
    now = datetime.now(UTC)
    body = fake.grant_tokens(OPEN_ID, ["user.info.basic", "portability.all.ongoing"])
    TokenStore(token_store).put(TokenSet.from_response(body, now), authorized_at=now.isoformat())

    module = load_defs_module()
    assert isinstance(module.defs, dagster.Definitions)
    tiktok = module.TikTokApi(token_store=str(token_store), api_base_url=fake.url, min_interval_seconds=0)
    pipeline = make_pipeline(duckdb_path=tmp_path / "dagster.duckdb", pipelines_dir=tmp_path / "pipelines")
    defs = module.build_definitions(pipeline, tiktok=tiktok)
    return module, defs, tiktok, TransferStore(token_store.parent / "transfers.json")


def tick(module, defs, instance, tiktok):
    sensor_def = defs.resolve_sensor_def("tiktok_transfers")
    result = sensor_def(dagster.build_sensor_context(instance=instance, resources={"tiktok": tiktok}))
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def materialize(defs, instance, tiktok, partition_key, **kwargs):
    from dagster_dlt import DagsterDltResource

    [assets] = defs.assets
    return dagster.materialize([assets], partition_key=partition_key, instance=instance,
                               resources={"dlt": DagsterDltResource(), "tiktok": tiktok}, **kwargs)


def user_counts(db: Path) -> dict[str, int]:
    return {t: sql(db, f"SELECT COUNT(*) FROM tiktok.{t} WHERE user_id = ?", OPEN_ID)[0][0] for t in DATA_TABLES}


def test_sensor_requests_the_users_partition_and_materialize_loads_the_export(tmp_path, fake, setup):
    module, defs, tiktok, transfers = setup
    instance = dagster.DagsterInstance.ephemeral()

    # tick 1: the user becomes a partition; add + check on the fake; the export is ready → one run request
    result = tick(module, defs, instance, tiktok)
    assert [r.partition_key for r in result.run_requests] == [OPEN_ID]
    assert instance.get_dynamic_partitions(module.USERS.name) == [OPEN_ID]
    [transfer] = transfers.all()
    assert transfer.state == "ready" and transfer.archive_path is None  # the sensor never downloads
    assert not (tmp_path / "dagster.duckdb").exists()  # ...nor touches the destination

    run = materialize(defs, instance, tiktok, OPEN_ID)
    assert run.success
    [export] = fake.archive_builder.exports
    db = tmp_path / "dagster.duckdb"
    assert user_counts(db) == {t: export.expected.get(t, 0) for t in DATA_TABLES}
    assert sum(export.expected.values()) > 0
    materialized = {e.asset_key.path[-1] for e in run.get_asset_materialization_events()}
    assert "dlt_tiktok_portability_watch_history" in materialized
    [transfer] = transfers.all()
    assert transfer.state == "loaded" and transfer.rows_loaded >= export.expected["watch_history"]
    assert transfer.archive_path is None and not list((tmp_path / "state" / "archives").rglob("*.zip"))
    assert sql(db, "SELECT user_id, state, rows_loaded FROM tiktok.export_requests") == [
        (OPEN_ID, "loaded", transfer.rows_loaded)]

    # ten days later (ongoing grant; min_interval 0 here): tick 2 adds and checks the next request; the run
    # downloads the newer export. dagster-dlt wiped the local dlt state before the run; the per-user
    # windows came back from DuckDB, so exactly the rows the new export brings are added.
    fake.advance(10 * 86400)
    result = tick(module, defs, instance, tiktok)
    assert [r.partition_key for r in result.run_requests] == [OPEN_ID]
    assert materialize(defs, instance, tiktok, OPEN_ID).success
    first, second = fake.archive_builder.exports
    union = fake.archive_builder.history(OPEN_ID).expected_counts([first, second])
    assert user_counts(db) == {t: union.get(t, 0) for t in DATA_TABLES}
    assert union["watch_history"] > first.expected["watch_history"]
    total, distinct = sql(db, "SELECT COUNT(*), COUNT(DISTINCT row_key) FROM tiktok.watch_history")[0]
    assert total == distinct
    assert [t.state for t in transfers.all()] == ["loaded", "loaded"]

    # tick 3: the next request is still being collected → no run
    fake.config.ready_after_polls = 3
    result = tick(module, defs, instance, tiktok)
    assert result.run_requests == []
    assert [t.state for t in transfers.all()] == ["loaded", "loaded", "pending"]


def test_materializing_a_user_with_nothing_downloaded_fails_with_the_reason(tmp_path, fake, setup):
    module, defs, tiktok, transfers = setup
    fake.config.ready_after_polls = 3  # still pending after the run's own check
    instance = dagster.DagsterInstance.ephemeral()
    tick(module, defs, instance, tiktok)
    run = materialize(defs, instance, tiktok, OPEN_ID, raise_on_error=False)
    assert not run.success
    [failure] = [e for e in run.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "no downloaded export to load (pending" in str(failure.event_specific_data.error)
    assert [t.state for t in transfers.all()] == ["pending"]
    assert not (tmp_path / "dagster.duckdb").exists()


def test_a_subset_of_tables_loads_them_and_keeps_the_export_for_a_full_run(tmp_path, fake, setup):
    module, defs, tiktok, transfers = setup
    instance = dagster.DagsterInstance.ephemeral()
    tick(module, defs, instance, tiktok)
    watch = dagster.AssetKey("dlt_tiktok_portability_watch_history")
    assert materialize(defs, instance, tiktok, OPEN_ID, selection=[watch]).success
    [transfer] = transfers.all()
    assert transfer.state == "downloaded" and Path(transfer.archive_path).is_file()
    [export] = fake.archive_builder.exports
    db = tmp_path / "dagster.duckdb"
    assert sql(db, "SELECT COUNT(*) FROM tiktok.watch_history")[0][0] == export.expected["watch_history"]
    assert tick(module, defs, instance, tiktok).run_requests  # still waiting for a full load

    assert materialize(defs, instance, tiktok, OPEN_ID).success
    assert user_counts(db) == {t: export.expected.get(t, 0) for t in DATA_TABLES}
    assert [t.state for t in transfers.all()] == ["loaded"]
