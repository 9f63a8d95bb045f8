"""The three notebooks run end to end: on generated exports they chart everything, on an empty
dataset they say "No data" instead of failing, and the committed files carry no outputs.

Executed through ``notebooks/render.py`` (what ``make notebooks`` runs), so the HTML reports and
the docs PNGs are checked too. Kernel start-up dominates; notebooks run concurrently.
"""

from __future__ import annotations

import importlib.util
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NAMES = ("followers", "posts", "activity")


def _render_module():
    spec = importlib.util.spec_from_file_location("notebooks_render", NOTEBOOK_DIR / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _render_module()


def outputs(nb: nbformat.NotebookNode, kind: str | None = None) -> list[dict]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
            if kind is None or o["output_type"] == kind]


def printed(nb: nbformat.NotebookNode) -> str:
    return "".join(o["text"] for o in outputs(nb, "stream") if o["name"] == "stdout")


def images(nb: nbformat.NotebookNode) -> int:
    return sum(1 for o in outputs(nb) if "image/png" in o.get("data", {}))


@pytest.fixture(scope="module")
def loaded_db(tmp_path_factory) -> Path:
    """Two exports four months apart, loaded as a user would (one `load` each), so followers change."""
    from tiktok_portability_source.fake.generator import Sizes, UserHistory
    from tiktok_portability_source.loader import load_archives, make_pipeline

    tmp = tmp_path_factory.mktemp("notebooks")
    history = UserHistory("user_a", seed=3, start=datetime(2025, 3, 1, tzinfo=timezone.utc),
                          sizes=Sizes(watch_history=600, followers=30, following=20))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        mp.chdir(tmp)
        pipeline = make_pipeline(duckdb_path=tmp / "user_a.duckdb", pipelines_dir=tmp / "pl")
        for when, family in ((datetime(2025, 7, 1, tzinfo=timezone.utc), "B"),
                             (datetime(2025, 11, 1, tzinfo=timezone.utc), "C")):
            load_archives(pipeline, [history.export(tmp / "exports", at=when, family=family).path])
    return tmp / "user_a.duckdb"


def test_notebooks_chart_generated_data_and_write_reports(loaded_db, tmp_path):
    reports, figures = tmp_path / "reports", tmp_path / "img"
    executed = render.render_all(loaded_db, reports_dir=reports, figures_dir=figures, timeout=120)

    for name in NAMES:
        nb = executed[name]
        assert "No data for" not in printed(nb), f"{name}: a section found nothing in a full dataset"
        assert not outputs(nb, "error")
        stderr = [o["text"] for o in outputs(nb, "stream") if o["name"] == "stderr"]
        assert not stderr, f"{name} wrote warnings into the report: {stderr}"
        assert images(nb) >= 3, f"{name}: charts missing from the outputs"
        html = (reports / f"{name}.html").read_text(encoding="utf-8")
        assert "data:image/png;base64" in html  # charts embedded, the report stands alone
        assert (figures / f"{name}.png").read_bytes().startswith(b"\x89PNG")

    followers = printed(executed["followers"])
    assert "stopped following you" in followers and "Follow-back ratio" in followers
    assert "conversation 1" in str(outputs(executed["activity"]))  # pseudonymised by default
    assert "Group_Chat" not in str(outputs(executed["activity"]))


def test_notebooks_say_no_data_when_tables_are_missing(tmp_path):
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()  # a database without the tiktok dataset at all
    figures = tmp_path / "img"
    env = render.kernel_env(empty, figures_dir=figures)
    executed = render.execute_notebooks(NAMES, env, timeout=120)

    sections = {"followers": 5, "posts": 6, "activity": 7}  # one "No data" line per section
    for name, nb in executed.items():
        assert printed(nb).count("No data for") == sections[name], printed(nb)
        assert images(nb) == 0
    assert not figures.exists() or not any(figures.iterdir())  # no empty charts end up in the docs


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_are_stripped_and_parameterised(name):
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    parameters = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1
    source = parameters[0].source
    for expected in ('os.environ.get("TIKTOK_DUCKDB", "../tiktok_portability.duckdb")', "USER_ID", 'DATASET'):
        assert expected in source
