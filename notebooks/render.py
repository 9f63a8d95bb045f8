"""Execute the analysis notebooks against a DuckDB file; write HTML reports and chart PNGs.

    python notebooks/render.py [--duckdb FILE] [--reports DIR] [--figures DIR | --no-figures]
                               [--user-id ID] [--timezone TZ] [NOTEBOOK ...]

Everything goes to ``reports/`` by default (git-ignored: on your own data the reports and charts
show your data): ``<reports>/<name>.html`` and each notebook's main chart as
``<reports>/img/<name>.png``. Only ``make notebooks`` passes ``--figures docs/img``, on the demo
data, to refresh the charts the README shows; docs/img refuses any other data.

Backs ``make notebooks``. The notebooks read their parameters from the environment
(``TIKTOK_DUCKDB``, ``TIKTOK_USER_ID``, ``TIKTOK_DATASET``, ``TIKTOK_TIMEZONE``,
``TIKTOK_SAVE_FIGURES``), so the same files run unchanged here, in Jupyter and in the tests; the
committed notebooks stay free of outputs because execution happens on an in-memory copy.
Exit code 0 on success, 1 with a one-line reason when a cell fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbclient.util import run_sync
from nbconvert import HTMLExporter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NOTEBOOKS: tuple[str, ...] = ("followers", "posts", "activity")
DEFAULT_DUCKDB = ROOT / "tiktok_portability.duckdb"
DEFAULT_REPORTS = ROOT / "reports"
DOCS_FIGURES = ROOT / "docs" / "img"  # tracked by git: demo charts only
DEMO_USER_ID = "demo-open-id-0001"  # = fake.demo.DEMO_OPEN_ID, not imported (it pulls in the fake API)
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # Agg-based, embeds PNGs in the outputs


def kernel_env(duckdb_path: str | os.PathLike[str], *, user_id: str | None = None, dataset: str | None = None,
               timezone: str | None = None, figures_dir: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The environment a notebook kernel gets: ours, with the notebook parameters given here on top.

    ``TIKTOK_USER_ID`` / ``TIKTOK_DATASET`` / ``TIKTOK_TIMEZONE`` already set by the caller are kept
    unless overridden; figures are saved only when ``figures_dir`` asks for it.
    """
    env = dict(os.environ)
    env["TIKTOK_DUCKDB"] = str(Path(duckdb_path).resolve())
    env["MPLBACKEND"] = INLINE_BACKEND  # a caller's MPLBACKEND=Agg would drop every chart from the report
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    env.pop("TIKTOK_SAVE_FIGURES", None)
    for key, value in (("TIKTOK_USER_ID", user_id), ("TIKTOK_DATASET", dataset), ("TIKTOK_TIMEZONE", timezone),
                       ("TIKTOK_SAVE_FIGURES", str(Path(figures_dir).resolve()) if figures_dir else None)):
        if value:
            env[key] = value
    return env


class FiguresRefused(ValueError):
    """Charts of anything but the demo data were about to be written into the tracked docs/img."""


def figures_target(reports_dir: str | os.PathLike[str], figures_dir: str | os.PathLike[str] | None = None,
                   *, save_figures: bool = True) -> Path | None:
    """Where chart PNGs go: ``figures_dir`` when given, else ``<reports_dir>/img``; None for none."""
    if not save_figures:
        return None
    return Path(figures_dir) if figures_dir is not None else Path(reports_dir) / "img"


def check_figures_target(duckdb_path: str | os.PathLike[str], figures_dir: Path | None,
                         dataset: str | None = None) -> None:
    """Refuse to write charts into docs/img unless the database holds the demo user only.

    docs/img is committed: charts of a user's own data there would end up in git.
    """
    if figures_dir is None or Path(figures_dir).resolve() != DOCS_FIGURES.resolve():
        return
    from tiktok_portability_source import analysis

    loaded = analysis.users(analysis.Database(duckdb_path), dataset=dataset or "tiktok")
    if loaded != [DEMO_USER_ID]:
        raise FiguresRefused(f"{DOCS_FIGURES} holds the demo charts only, and {duckdb_path} is not the demo "
                             f"data (users: {', '.join(loaded) or 'none'}); leave out --figures to write the "
                             "charts under reports/")


def _client(name: str, timeout: int) -> NotebookClient:
    nb = nbformat.read(HERE / f"{name}.ipynb", as_version=4)
    return NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}})


def execute_notebooks(names: Sequence[str], env: dict[str, str], *,
                      timeout: int = 600) -> dict[str, nbformat.NotebookNode]:
    """Run notebooks top to bottom, each in a fresh kernel started in the notebooks folder.

    They run concurrently because kernel start-up dominates. Every notebook finishes (no kernel is
    left behind), then the first ``CellExecutionError`` is raised, so a broken notebook never turns
    into a report that looks fine.
    """
    clients = {name: _client(name, timeout) for name in names}

    async def run_all() -> list[object]:
        return await asyncio.gather(*(c.async_execute(env=env) for c in clients.values()), return_exceptions=True)

    results = run_sync(run_all)()  # also works where an event loop already runs (Jupyter)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return {name: client.nb for name, client in clients.items()}


def write_html(nb: nbformat.NotebookNode, target: Path) -> Path:
    """One self-contained HTML file (charts embedded), readable without Jupyter."""
    body, _ = HTMLExporter().from_notebook_node(nb)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    return target


def render_all(duckdb_path: str | os.PathLike[str], *, reports_dir: str | os.PathLike[str] = DEFAULT_REPORTS,
               figures_dir: str | os.PathLike[str] | None = None, save_figures: bool = True,
               names: Sequence[str] = NOTEBOOKS, user_id: str | None = None, dataset: str | None = None,
               timezone: str | None = None, timeout: int = 600) -> dict[str, nbformat.NotebookNode]:
    """Execute ``names``, write ``<reports_dir>/<name>.html`` and return the executed notebooks.

    Chart PNGs go to ``figures_dir``, by default ``<reports_dir>/img`` (none with
    ``save_figures=False``); docs/img only for the demo data (:func:`check_figures_target`).
    """
    figures = figures_target(reports_dir, figures_dir, save_figures=save_figures)
    check_figures_target(duckdb_path, figures, dataset)
    env = kernel_env(duckdb_path, user_id=user_id, dataset=dataset, timezone=timezone, figures_dir=figures)
    started = time.perf_counter()
    executed = execute_notebooks(names, env, timeout=timeout)
    for name, nb in executed.items():
        print(f"{name}: {write_html(nb, Path(reports_dir) / f'{name}.html')}")
    print(f"rendered {len(executed)} notebooks in {time.perf_counter() - started:.1f}s")
    return executed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NOTEBOOK",
                        help=f"which notebooks (default: all of {', '.join(NOTEBOOKS)})")
    parser.add_argument("--duckdb", type=Path, default=Path(os.environ.get("TIKTOK_DUCKDB", DEFAULT_DUCKDB)),
                        help="DuckDB file to analyse (default: $TIKTOK_DUCKDB or tiktok_portability.duckdb "
                             "in the repository root)")
    parser.add_argument("--reports", type=Path, default=DEFAULT_REPORTS,
                        help="where HTML reports go (default: reports/, git-ignored)")
    parser.add_argument("--figures", type=Path, default=None,
                        help="where each notebook's main chart is saved as PNG (default: <reports>/img; "
                             "docs/img, tracked by git, only for the demo data: `make notebooks`)")
    parser.add_argument("--no-figures", action="store_true", help="do not save chart PNGs")
    parser.add_argument("--user-id", help="whose data to show when several users are loaded")
    parser.add_argument("--dataset", help="dataset/schema name (default: tiktok)")
    parser.add_argument("--timezone", help="IANA time zone for hours and weekdays (default: UTC)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds one cell may run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(NOTEBOOKS))
    if unknown:
        parser.error(f"unknown notebook(s) {', '.join(unknown)}; choose from {', '.join(NOTEBOOKS)}")
    if not args.duckdb.exists():
        print(f"render: {args.duckdb} does not exist; run `make demo` or `tiktok-portability load` first",
              file=sys.stderr)
        return 1
    try:
        render_all(args.duckdb, reports_dir=args.reports, figures_dir=args.figures,
                   save_figures=not args.no_figures, names=args.names or NOTEBOOKS, user_id=args.user_id,
                   dataset=args.dataset, timezone=args.timezone, timeout=args.timeout)
    except FiguresRefused as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 1
    except CellExecutionError as exc:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # the kernel's traceback is ANSI-coloured
        lines = [line for line in text.splitlines() if line.strip()]
        print(f"render: a notebook cell failed: {lines[-1] if lines else exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
