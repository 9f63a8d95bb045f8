"""The three notebooks run end to end: on generated exports they chart everything, on an empty
dataset they say "No data" instead of failing, and the committed files carry no outputs.

Executed through ``notebooks/render.py`` (what ``make notebooks`` runs), so the HTML reports and
the chart PNGs are checked too: under the reports folder by default, never in the tracked docs/img
unless asked for, and then only for the demo data. Kernel start-up dominates; notebooks run
concurrently.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NAMES = ("followers", "posts", "activity")
DOCS_IMG = ROOT / "docs" / "img"


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
    db = tmp / "user_a.duckdb"
    with duckdb.connect(str(db)) as con:  # what `tiktok-portability enrich` adds: creators and hashtags
        ids = [r[0] for r in con.execute("SELECT DISTINCT video_id FROM tiktok.watch_history "
                                         "WHERE video_id IS NOT NULL ORDER BY video_id LIMIT 40").fetchall()]
        con.execute("CREATE TABLE tiktok.videos (video_id VARCHAR, status VARCHAR, author_name VARCHAR, "
                    "author_url VARCHAR, title VARCHAR, hashtags VARCHAR, thumbnail_url VARCHAR)")
        con.executemany("INSERT INTO tiktok.videos VALUES (?, 'ok', ?, ?, ?, ?, NULL)", [
            (v, f"Creator {i % 5}", f"https://www.tiktok.com/@creator_{i % 5}", f"clip {i} #tag{i % 3} 🍞",
             f"tag{i % 3},bread") for i, v in enumerate(ids)])
    return db


def tree_state(folder: Path) -> dict[str, tuple[float, str]]:
    """name -> (mtime, sha256) of every file under ``folder``."""
    return {str(f.relative_to(folder)): (f.stat().st_mtime, hashlib.sha256(f.read_bytes()).hexdigest())
            for f in sorted(folder.rglob("*")) if f.is_file()}


def test_notebooks_chart_generated_data_and_write_reports(loaded_db, tmp_path):
    """No figures folder given (as on a user's own data): charts go under the reports folder and the
    tracked docs/img is left exactly as it was."""
    reports = tmp_path / "reports"
    figures = reports / "img"
    docs_before = tree_state(DOCS_IMG)
    executed = render.render_all(loaded_db, reports_dir=reports, timeout=120)
    assert tree_state(DOCS_IMG) == docs_before, "rendering someone's data rewrote the tracked docs/img"

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
    activity = printed(executed["activity"])
    assert "covered days" in activity and "Creator known for" in activity
    assert "Hashtags of the videos you watched appear once" not in activity  # the videos table is used
    assert images(executed["activity"]) >= 11 and images(executed["followers"]) >= 5


def test_notebooks_say_no_data_when_tables_are_missing(tmp_path):
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()  # a database without the tiktok dataset at all
    figures = tmp_path / "img"
    env = render.kernel_env(empty, figures_dir=figures)
    executed = render.execute_notebooks(NAMES, env, timeout=120)

    sections = {"followers": 6, "posts": 6, "activity": 13}  # one "No data" line per section
    for name, nb in executed.items():
        assert printed(nb).count("No data for") == sections[name], printed(nb)
        assert images(nb) == 0
    assert not figures.exists() or not any(figures.iterdir())  # no empty charts end up in the docs


def test_docs_img_takes_the_demo_data_only(loaded_db, tmp_path, capsys):
    """Asking for docs/img with anything but the demo data is refused before a kernel starts."""
    docs_before = tree_state(DOCS_IMG)
    assert render.main(["--duckdb", str(loaded_db), "--reports", str(tmp_path / "r"), "--figures",
                        str(DOCS_IMG)]) == 1
    assert "demo charts only" in capsys.readouterr().err
    assert tree_state(DOCS_IMG) == docs_before
    assert not (tmp_path / "r").exists()


def test_only_make_notebooks_refreshes_docs_img():
    from tiktok_portability_source.fake.demo import DEMO_OPEN_ID

    assert render.DEMO_USER_ID == DEMO_OPEN_ID
    assert render._parser().parse_args([]).figures is None  # the default: <reports>/img
    assert render.figures_target("somewhere") == Path("somewhere") / "img"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^notebooks:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert target and "--duckdb demo.duckdb --figures docs/img" in target.group(1)


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_hold_no_connection(name):
    """A connection kept between cells would make every `tiktok-portability load` fail meanwhile."""
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "db = analysis.Database(DUCKDB_PATH)" in code
    assert "connect(" not in code and "con," not in code


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
