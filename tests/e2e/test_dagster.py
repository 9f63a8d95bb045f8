"""Dagster end to end: the fake TikTok API on loopback → sensor → run request for the user's partition →
``materialize`` (dagster-dlt) → rows in DuckDB equal to the generated exports' expected counts."""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
import threading
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
from tiktok_portability_source.worklock import worker_tag  # noqa: E402

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


def materialize(defs, instance, tiktok, partition_key, dlt_resource=None, **kwargs):
    from dagster_dlt import DagsterDltResource

    [assets] = defs.assets
    return dagster.materialize([assets], partition_key=partition_key, instance=instance,
                               resources={"dlt": dlt_resource or DagsterDltResource(), "tiktok": tiktok}, **kwargs)


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


def test_a_load_that_lost_a_schema_race_runs_again(tmp_path, fake, setup):
    """Two users' first loads into an empty dataset race to create its tables; dlt's answer is to load
    again. Here the first dagster-dlt run loads everything and then reports such a lost race."""
    from dagster_dlt import DagsterDltResource
    from dlt.common.destination.exceptions import SchemaUpdateError

    calls = []

    class LosesTheFirstRace(DagsterDltResource):
        def run(self, context, dlt_source=None, dlt_pipeline=None, **kwargs):
            calls.append(dlt_source)
            results = list(super().run(context, dlt_source=dlt_source, dlt_pipeline=dlt_pipeline, **kwargs))
            if len(calls) == 1:
                raise SchemaUpdateError("tiktok", ["watch_history"], RuntimeError("relation already exists"))
            return iter(results)

    module, defs, tiktok, transfers = setup
    instance = dagster.DagsterInstance.ephemeral()
    tick(module, defs, instance, tiktok)
    run = materialize(defs, instance, tiktok, OPEN_ID, dlt_resource=LosesTheFirstRace())
    assert run.success and len(calls) == 2 and calls[0] is not calls[1]  # the source made anew
    [export] = fake.archive_builder.exports
    assert user_counts(tmp_path / "dagster.duckdb") == {t: export.expected.get(t, 0) for t in DATA_TABLES}
    [transfer] = transfers.all()
    assert transfer.state == "loaded"
    materialized = [e.asset_key.path[-1] for e in run.get_asset_materialization_events()]
    assert len(materialized) == len(set(materialized))  # each asset reported once


# --- partitions side by side (issue 15): two users' runs at once, each in its own `dagster` process ---


def test_the_pool_serialises_duckdb_loads_only(tmp_path, monkeypatch):
    """DuckDB takes one writer: its loads share the concurrency pool. A warehouse takes many: no pool."""
    module = load_defs_module()
    duck = module.build_definitions(make_pipeline(duckdb_path=tmp_path / "d.duckdb", pipelines_dir=tmp_path / "p"))
    assert [a.op.pool for a in duck.assets] == [module.POOL]
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://u:p@127.0.0.1:1/never_connected")
    warehouse = module.build_definitions(make_pipeline(destination_name="postgres", pipelines_dir=tmp_path / "q"))
    assert [a.op.pool for a in warehouse.assets] == [None]


class MeetingBuilder(RecordingBuilder):
    """Exports by user; with ``parties=2``, each download waits (up to ``patience`` s) until the other
    user's download has started too: both runs are then inside their asset at the same moment, unless
    something makes one wait for the other (a concurrency pool), which ``met`` then tells."""

    def __init__(self, *args, parties: int = 1, patience: float = 90.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.by_user = {}
        self.parties, self.patience = parties, patience
        self.arrived = 0
        self.met = True
        self._cond = threading.Condition()

    def next_round(self) -> None:
        with self._cond:
            self.arrived = 0

    def __call__(self, open_id, categories, data_format):
        with self._cond:
            self.arrived += 1
            self._cond.notify_all()
            if not self._cond.wait_for(lambda: self.arrived >= self.parties, timeout=self.patience):
                self.met = False
        path = super().__call__(open_id, categories, data_format)
        self.by_user.setdefault(open_id, []).append(self.exports[-1])
        return path


USERS_AB = ["ada-open-id", "bo-open-id"]


@pytest.fixture
def side_by_side(tmp_path, monkeypatch):
    """Two authorized users on the fake (ongoing grants); the deployment's configuration in env (what
    `dagster` reads when it loads pipelines/dagster_defs.py); a DAGSTER_HOME whose pools have one slot."""
    fake = FakeTikTok(FakeConfig())
    server = fake.serve()
    token_store = tmp_path / "state" / "tokens.json"
    for key, value in {"CLIENT_KEY": fake.config.client_key, "CLIENT_SECRET": fake.config.client_secret,
                       "TOKEN_STORE": str(token_store), "API_BASE_URL": server.url,
                       "MIN_INTERVAL_SECONDS": "0"}.items():
        monkeypatch.setenv(f"SOURCES__TIKTOK_PORTABILITY__{key}", value)
    # one configured working folder for both runs: each must still load in a folder of its own
    monkeypatch.setenv("TIKTOK_PORTABILITY_PIPELINES_DIR", str(tmp_path / "pipelines"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    # every pool one slot: any pool on the warehouse assets would make the two runs take turns
    (home / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limit: 1\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    now = datetime.now(UTC)
    for open_id in USERS_AB:
        fake.add_user(open_id)
        body = fake.grant_tokens(open_id, ["user.info.basic", "portability.all.ongoing"])
        TokenStore(token_store).put(TokenSet.from_response(body, now), authorized_at=now.isoformat())
    yield fake
    server.shutdown()
    fake.close()


def materialize_side_by_side(tmp_path: Path, users: list[str], timeout: float = 600) -> None:
    """``dagster asset materialize -f pipelines/dagster_defs.py --partition <user>`` for every user at
    once, each its own process (and, with the default multiprocess executor, its step's own child)."""
    exe = Path(sys.executable).with_name("dagster")
    procs = {u: subprocess.Popen([str(exe), "asset", "materialize", "-f", str(DEFS_FILE), "--select", "*",
                                  "--partition", u], cwd=tmp_path, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
             for u in users}
    outputs = {u: p.communicate(timeout=timeout)[0] for u, p in procs.items()}
    for u, p in procs.items():
        assert p.returncode == 0, f"{u}:\n{outputs[u][-4000:]}"


def step_windows(instance, after: float = 0.0) -> dict[str, tuple[float, float]]:
    """The asset step of each successful run that started after ``after``: (start, end) by partition."""
    from dagster import DagsterEventType

    windows = {}
    for record in instance.get_run_records(dagster.RunsFilter(statuses=[dagster.DagsterRunStatus.SUCCESS])):
        run = record.dagster_run
        events = instance.all_logs(run.run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS})
        times = {e.dagster_event.event_type: e.timestamp for e in events}
        if times[DagsterEventType.STEP_START] > after:
            windows[run.tags["dagster/partition"]] = (times[DagsterEventType.STEP_START],
                                                      times[DagsterEventType.STEP_SUCCESS])
    return windows


def test_two_users_load_into_postgresql_side_by_side(tmp_path, monkeypatch, side_by_side, postgres_server):
    """Two partitions at once, twice (the second exports overlap the first): every row exactly once,
    the two runs' steps overlapping in time, each user's merges staged apart."""
    import psycopg2

    fake = side_by_side
    builder = fake.archive_builder = MeetingBuilder(fake.now, parties=2, sizes=Sizes(watch_history=1500),
                                                    workdir=tmp_path / "fake-archives",
                                                    username_of=lambda u: f"user_{u}")
    dsn = postgres_server.create_database()
    monkeypatch.setenv("TIKTOK_PORTABILITY_DESTINATION", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", dsn)

    def pg(query, *params):
        with contextlib.closing(psycopg2.connect(dsn)) as con, con.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()

    module = load_defs_module()  # as `dagster` will load it: configured from env
    [assets] = module.defs.assets
    assert assets.op.pool is None
    instance = dagster.DagsterInstance.get()
    instance.event_log_storage.set_concurrency_slots(module.POOL, 1)  # as the module docstring says to
    tiktok = module.TikTokApi()
    for round_ in (1, 2):  # round 2: ten days later, the next exports (overlapping the first ones)
        if round_ == 2:
            fake.advance(10 * 86400)
            builder.next_round()
        started = datetime.now(UTC).timestamp()
        result = tick(module, module.defs, instance, tiktok)
        assert sorted(r.partition_key for r in result.run_requests) == USERS_AB

        materialize_side_by_side(tmp_path, USERS_AB)

        # both downloads were in flight at once, and the two steps ran overlapping in time
        assert builder.met, "one run waited for the other"
        windows = step_windows(instance, after=started)
        assert sorted(windows) == USERS_AB
        (a_start, a_end), (b_start, b_end) = windows.values()
        assert max(a_start, b_start) < min(a_end, b_end), windows

        for open_id in USERS_AB:  # every row exactly once
            exports = builder.by_user[open_id]
            assert len(exports) == round_
            expected = builder.history(open_id).expected_counts(exports)
            counts = {t: pg(f"SELECT COUNT(*) FROM tiktok.{t} WHERE user_id = %s", open_id)[0][0]
                      for t in DATA_TABLES}
            assert counts == {t: expected.get(t, 0) for t in DATA_TABLES}, (round_, open_id)
            assert sum(counts.values()) > 0
        for table in DATA_TABLES:
            total, distinct = pg(f"SELECT COUNT(*), COUNT(DISTINCT (user_id, row_key)) FROM tiktok.{table}")[0]
            assert total == distinct, (round_, table)
        assert {(t.open_id, t.state) for t in tiktok.service(None).transfers.all()} == {(u, "loaded") for u in USERS_AB}
    assert builder.by_user[USERS_AB[0]][1].expected["watch_history"] > 0

    # each user's merges staged in a dataset of the user's own (in dlt's shared one, one load truncated
    # and merged the other's rows: a user's following table came out empty)
    staging = pg("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'tiktok_staging%%'")
    assert sorted(name for (name,) in staging) == sorted(f"tiktok_staging_{worker_tag(u)}" for u in USERS_AB)
    assert list((tmp_path / "pipelines" / "runs").iterdir()) == []  # each run's working folder is gone
    # each finish records its own user's requests only: neither writes the other's back stale
    requests = sorted(pg("SELECT user_id, state FROM tiktok.export_requests"))
    assert requests == sorted([(u, "loaded") for u in USERS_AB] * 2)  # two requests each


def test_two_users_into_duckdb_take_turns(tmp_path, monkeypatch, side_by_side):
    """DuckDB: the same two runs at once take turns on the pool's one slot; every row exactly once."""
    fake = side_by_side
    builder = fake.archive_builder = MeetingBuilder(fake.now, sizes=Sizes(watch_history=1500),
                                                    workdir=tmp_path / "fake-archives",
                                                    username_of=lambda u: f"user_{u}")
    db = tmp_path / "side.duckdb"
    monkeypatch.setenv("TIKTOK_PORTABILITY_DUCKDB", str(db))
    module = load_defs_module()
    [assets] = module.defs.assets
    assert assets.op.pool == module.POOL
    instance = dagster.DagsterInstance.get()
    instance.event_log_storage.set_concurrency_slots(module.POOL, 1)  # `dagster instance concurrency set`
    tick(module, module.defs, instance, module.TikTokApi())

    materialize_side_by_side(tmp_path, USERS_AB)

    windows = step_windows(instance)
    (a_start, a_end), (b_start, b_end) = sorted(windows.values())
    assert a_end <= b_start, windows  # one slot: the second run's step started once the first was done
    for open_id in USERS_AB:
        [export] = builder.by_user[open_id]
        counts = {t: sql(db, f"SELECT COUNT(*) FROM tiktok.{t} WHERE user_id = ?", open_id)[0][0] for t in DATA_TABLES}
        assert counts == {t: export.expected.get(t, 0) for t in DATA_TABLES}, open_id
    assert sorted(sql(db, "SELECT user_id, state FROM tiktok.export_requests")) == [(u, "loaded") for u in USERS_AB]
    assert list((tmp_path / "pipelines" / "runs").iterdir()) == []
