"""An open notebook never blocks a load.

DuckDB lets no process write to a file another process has open, read-only or not. The notebooks
used to keep a read-only connection from their first cell on, so `tiktok-portability load` failed
for as long as a notebook was open. Here the three notebooks' first cells run in a separate
process that then stays alive, as a notebook kernel does between cells; a real `load` subprocess
must succeed meanwhile, and the notebooks' next query must see the rows it added.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("followers", "posts", "activity")

# Runs the parameters and setup cells of each notebook (each in its own namespace, like a kernel),
# answers one query per notebook with the handle the setup cell made, then waits for the test
# before asking again: the process, and whatever the cells opened, stays alive in between.
KERNEL = r"""
import json, sys
import nbformat

namespaces = {}
for name in sys.argv[1:]:
    nb = nbformat.read(f"notebooks/{name}.ipynb", as_version=4)
    ns = namespaces[name] = {}
    for cell in [c for c in nb.cells if c.cell_type == "code"][:2]:  # parameters, setup
        exec(cell.source, ns)

def watched():
    out = {}
    for name, ns in namespaces.items():
        analysis = ns["analysis"]
        handle = next(v for v in ns.values() if type(v).__name__ in ("Database", "DuckDBPyConnection"))
        overview = analysis.table_overview(handle, **ns["q"]).set_index("table_name")
        out[name] = int(overview.loc["watch_history", "rows"]) if "watch_history" in overview.index else 0
    return out

print(json.dumps(watched()), flush=True)
sys.stdin.readline()  # the test loads meanwhile
print(json.dumps(watched()), flush=True)
"""


def test_a_load_succeeds_while_notebooks_are_open(tmp_path, monkeypatch):
    from tiktok_portability_source.fake.generator import Sizes, UserHistory
    from tiktok_portability_source.loader import load_archives, make_pipeline

    history = UserHistory("user_a", seed=5, start=datetime(2025, 3, 1, tzinfo=timezone.utc),
                          sizes=Sizes(watch_history=300))
    first = history.export(tmp_path / "exports", at=datetime(2025, 7, 1, tzinfo=timezone.utc))
    second = history.export(tmp_path / "exports", at=datetime(2025, 11, 1, tzinfo=timezone.utc))
    before = history.expected_counts([first])["watch_history"]
    after = history.expected_counts([first, second])["watch_history"]
    assert after > before, "the second export must add watch history"

    db, pipelines = tmp_path / "user_a.duckdb", tmp_path / "pipelines"
    load_archives(make_pipeline(duckdb_path=db, pipelines_dir=pipelines), [first.path])

    env = {**os.environ, "TIKTOK_DUCKDB": str(db), "MPLBACKEND": "Agg", "RUNTIME__DLTHUB_TELEMETRY": "false"}
    env.pop("TIKTOK_USER_ID", None)
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL, *NAMES], cwd=ROOT, env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = kernel.stdout.readline()
        assert line, f"the notebook cells failed: {kernel.stderr.read()}"
        assert json.loads(line) == {name: before for name in NAMES}

        # the notebooks are open (their process and objects alive): a real load into the same file
        load = subprocess.run([sys.executable, "-m", "tiktok_portability_source.cli", "load", str(second.path),
                               "--duckdb", str(db), "--pipelines-dir", str(pipelines)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert load.returncode == 0, f"load failed while notebooks were open:\n{load.stderr[-2000:]}"

        kernel.stdin.write("go\n")
        kernel.stdin.flush()
        line = kernel.stdout.readline()
        assert line, f"the notebook cells failed after the load: {kernel.stderr.read()}"
        assert json.loads(line) == {name: after for name in NAMES}  # the next cell sees the new rows
    finally:
        if kernel.poll() is None:
            kernel.stdin.close()
            try:
                kernel.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kernel.kill()
    assert kernel.returncode == 0, kernel.stderr.read()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM tiktok.watch_history").fetchone()[0] == after
