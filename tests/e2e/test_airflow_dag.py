"""The Airflow DAG: it parses into one download → load → finish group per user, and a ``dag.test()`` run
against the fake TikTok API on loopback loads every user's export (only with Airflow installed:
``pip install -e '.[airflow]'``)."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

# before Airflow is imported: its home (airflow.cfg, logs, sqlite) in a temp dir, not ~/airflow
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="tiktok-airflow-home-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).parents[2] / "pipelines"))  # the DAG bundle
# no Airflow metadata database here: keep dlt from looking every config key up in Airflow Variables
# (the tests configure everything through env vars, as a deployment may)
os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")
if os.environ.get("TIKTOK_TEST_REQUIRE_AIRFLOW") == "1":  # `make test-airflow` and CI: no silent skip
    import airflow  # noqa: F401
else:
    pytest.importorskip("airflow", reason="Airflow is not installed (`make test-airflow` runs these tests)")

from support.db import sql  # noqa: E402

from tiktok_portability_source.api.auth import TokenSet, TokenStore  # noqa: E402
from tiktok_portability_source.fake.api import FakeConfig, FakeTikTok  # noqa: E402
from tiktok_portability_source.fake.archives import HistoryArchiveBuilder  # noqa: E402
from tiktok_portability_source.fake.generator import Sizes  # noqa: E402
from tiktok_portability_source.layouts import DEFAULT_TABLES  # noqa: E402

DAG_FILE = Path(__file__).parents[2] / "pipelines" / "airflow_dag.py"
USERS = ["alice-open-id", "bob.open+id"]


@pytest.fixture(autouse=True)
def restore_environment(tmp_path, monkeypatch):
    """PipelineTasksGroup points dlt at the dags folder and a temp data dir through os.environ:
    undo that, so later tests see dlt as they would have. The DAG's working folder is in the test's
    tmp_path, and so is anything that would go to /tmp (where dlt's own default puts ``dlt_*``)."""
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TIKTOK_PORTABILITY_AIRFLOW_WORKDIR", str(tmp_path / "airflow-work"))
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    Container()[PluggableRunContext].reload_providers()


def load_dag(tmp_path: Path):
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 2

    bag = DagBag(dag_folder=str(DAG_FILE))  # examples are off: AIRFLOW__CORE__LOAD_EXAMPLES
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags["tiktok_portability"]  # (get_dag would need the metadata database)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOK_PORTABILITY_DUCKDB", str(tmp_path / "airflow.duckdb"))
    monkeypatch.delenv("TIKTOK_PORTABILITY_USERS", raising=False)
    store = tmp_path / "state" / "tokens.json"
    monkeypatch.setenv("SOURCES__TIKTOK_PORTABILITY__TOKEN_STORE", str(store))
    with FakeTikTok() as fake:
        now = datetime.now(timezone.utc)
        for open_id in USERS:
            fake.add_user(open_id)
            body = fake.grant_tokens(open_id, ["user.info.basic", "portability.all.ongoing"])
            TokenStore(store).put(TokenSet.from_response(body, now), authorized_at=now.isoformat())
    return tmp_path


def test_one_task_group_per_user_from_the_token_store(env):
    from dlt.common.known_env import DLT_DATA_DIR

    dag = load_dag(env)
    assert dag.max_active_tasks == 1 and dag.max_active_runs == 1 and not dag.catchup
    groups = {tid.split(".")[0] for tid in dag.task_ids}
    assert groups == {"user_alice_open_id_" + _hash(USERS[0]), "user_bob_open_id_" + _hash(USERS[1])}
    for group in groups:
        download, load, finish = (dag.get_task(f"{group}.{name}") for name in ("download", "tiktok_portability", "finish"))
        assert download.downstream_task_ids == {load.task_id}
        assert load.downstream_task_ids == {finish.task_id}
        assert finish.downstream_task_ids == set()
        assert load.python_callable.func.__name__ == "_run"  # dlt's PipelineTasksGroup runs the load
    assert len(dag.task_ids) == 3 * len(USERS)
    # each group's pipeline was made in the fresh working folder PipelineTasksGroup set for it, in the
    # DAG's work dir, and the parse removed it again
    assert os.environ[DLT_DATA_DIR].startswith(str(env / "airflow-work" / ""))
    assert not Path(os.environ[DLT_DATA_DIR]).exists()
    assert dlt_folders(env) == []


def test_a_static_user_list_replaces_the_token_store(env, monkeypatch):
    monkeypatch.setenv("TIKTOK_PORTABILITY_USERS", "carol, dave")
    dag = load_dag(env)
    assert {tid.split(".")[0] for tid in dag.task_ids} == {"user_carol", "user_dave"}


def test_no_users_gives_an_empty_dag(tmp_path, monkeypatch):
    monkeypatch.delenv("TIKTOK_PORTABILITY_USERS", raising=False)
    monkeypatch.setenv("SOURCES__TIKTOK_PORTABILITY__TOKEN_STORE", str(tmp_path / "missing" / "tokens.json"))
    assert load_dag(tmp_path).task_ids == []


class RecordingBuilder(HistoryArchiveBuilder):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.exports = {}

    def __call__(self, open_id, categories, data_format):
        at = datetime.fromtimestamp(int(self.clock()), tz=timezone.utc)
        archive = self.history(open_id).export(self.workdir / _hash(open_id), at=at, family="D")
        self.exports[open_id] = archive
        return archive.path


@pytest.fixture
def served(tmp_path, monkeypatch):
    """The fake TikTok API on loopback, both users authorized (single grant), the metadata database
    that ``dag.test()`` records task instances in (sqlite in AIRFLOW_HOME)."""
    from airflow.utils import db

    monkeypatch.delenv("TIKTOK_PORTABILITY_USERS", raising=False)
    db.initdb()
    fake = FakeTikTok(FakeConfig())
    fake.archive_builder = RecordingBuilder(fake.now, sizes=Sizes(), workdir=tmp_path / "fake-archives")
    server = fake.serve()
    try:
        store = tmp_path / "state" / "tokens.json"
        for key, value in {"TOKEN_STORE": str(store), "API_BASE_URL": server.url,
                           "CLIENT_KEY": fake.config.client_key, "CLIENT_SECRET": fake.config.client_secret}.items():
            monkeypatch.setenv(f"SOURCES__TIKTOK_PORTABILITY__{key}", value)
        monkeypatch.setenv("TIKTOK_PORTABILITY_DUCKDB", str(tmp_path / "airflow.duckdb"))
        now = datetime.now(timezone.utc)
        for open_id in USERS:
            fake.add_user(open_id)
            body = fake.grant_tokens(open_id, ["user.info.basic", "portability.all.single"])
            TokenStore(store).put(TokenSet.from_response(body, now), authorized_at=now.isoformat())
        yield fake
    finally:
        server.shutdown()
        fake.close()


def run_and_check(tmp_path: Path, fake: FakeTikTok) -> None:
    """``dag.test()``: every task succeeds and every user's rows are in DuckDB exactly once."""
    run = load_dag(tmp_path).test()
    states = {ti.task_id.split(".")[1]: ti.state for ti in run.get_task_instances()}
    assert run.state == "success" and set(states.values()) == {"success"}, states
    db_file = tmp_path / "airflow.duckdb"
    for open_id in USERS:
        archive = fake.archive_builder.exports[open_id]
        for table in DEFAULT_TABLES:
            n = sql(db_file, f"SELECT COUNT(*) FROM tiktok.{table} WHERE user_id = ?", open_id)[0][0]
            assert n == archive.expected.get(table, 0), (open_id, table)
    assert sorted(sql(db_file, "SELECT user_id, state FROM tiktok.export_requests")) == [(u, "loaded") for u in USERS]
    assert not list((tmp_path / "state" / "archives").rglob("*.zip"))


def test_a_dag_run_loads_every_users_export(tmp_path, served):
    run_and_check(tmp_path, served)


def dlt_folders(root: Path) -> list[Path]:
    """What dlt leaves of a pipeline: ``dlt_<id>`` data folders (PipelineTasksGroup), ``pipelines``
    folders (dlt's pipelines dir) and working folders (``state.json``), anywhere under root."""
    found = {p for p in root.rglob("dlt_*") if p.is_dir()}
    found |= {p for p in root.rglob("pipelines") if p.is_dir()}
    found |= {p.parent for p in root.rglob("state.json")}
    return sorted(found)


def test_parsing_and_running_the_dag_leave_no_dlt_folder_behind(tmp_path, served):
    """Issue 15: every parse (every 30-40 s in the DAG processor, and in every task process) left one
    dlt working folder per user. Now a parse removes what it made, and so does a run."""
    work = tmp_path / "airflow-work"
    before = dlt_folders(tmp_path)
    for _ in range(5):
        dag = load_dag(tmp_path)
        assert len(dag.task_ids) == 3 * len(USERS)
        assert dlt_folders(tmp_path) == before == []
        assert list(work.iterdir()) == []  # not even the process's own folder
    assert oct(work.stat().st_mode & 0o777) == "0o700"

    run_and_check(tmp_path, served)  # parses once more, then runs every task in this process
    assert dlt_folders(tmp_path) == [] and list(work.iterdir()) == []
    run = load_dag(tmp_path).test()  # nothing new to load (single grant): every group skips
    assert {ti.state for ti in run.get_task_instances()} == {"skipped"}
    assert dlt_folders(tmp_path) == [] and list(work.iterdir()) == []


def test_a_parse_removes_what_a_killed_process_left(tmp_path, monkeypatch):
    """A task killed mid-load (OOM, SIGKILL) cannot clean up: the next parse on that host does."""
    monkeypatch.setenv("TIKTOK_PORTABILITY_USERS", "carol")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    work = tmp_path / "airflow-work"
    load_dag(tmp_path)  # makes the work dir
    assert list(work.iterdir()) == []
    hostname = "".join(c if c.isalnum() or c in ".-" else "-" for c in socket.gethostname())
    left = work / f"{hostname}_{gone}" / "dlt_0123456789abcdef" / "pipelines" / "tiktok_portability-x"
    (left / "tiktok_portability").mkdir(parents=True)
    (left / "tiktok_portability" / "state.json").write_text("{}")
    alive = work / f"{hostname}_{os.getppid()}" / "dlt_fedcba9876543210"  # a live process's: kept
    alive.mkdir(parents=True)
    other_host = work / "another-host_1" / "dlt_00000000"  # another worker's, on a shared disk: kept
    other_host.mkdir(parents=True)

    load_dag(tmp_path)
    assert sorted(p.name for p in work.iterdir()) == sorted([alive.parent.name, other_host.parent.name])


def _hash(open_id: str) -> str:
    import hashlib

    return hashlib.sha256(open_id.encode()).hexdigest()[:8]
