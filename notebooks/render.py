"""Execute the analysis notebooks against a DuckDB file; write HTML reports and the docs' chart PNGs.

    python notebooks/render.py [--duckdb FILE] [--reports DIR] [--figures DIR] [--user-id ID]
                               [--timezone TZ] [NOTEBOOK ...]

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


def render_all(duckdb_path: str | os.PathLike[str], *, reports_dir: str | os.PathLike[str] = ROOT / "reports",
               figures_dir: str | os.PathLike[str] | None = ROOT / "docs" / "img",
               names: Sequence[str] = NOTEBOOKS, user_id: str | None = None, dataset: str | None = None,
               timezone: str | None = None, timeout: int = 600) -> dict[str, nbformat.NotebookNode]:
    """Execute ``names`` and write ``<reports_dir>/<name>.html``; return the executed notebooks."""
    env = kernel_env(duckdb_path, user_id=user_id, dataset=dataset, timezone=timezone, figures_dir=figures_dir)
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
    parser.add_argument("--reports", type=Path, default=ROOT / "reports", help="where HTML reports go")
    parser.add_argument("--figures", type=Path, default=ROOT / "docs" / "img",
                        help="where each notebook's main chart is saved as PNG")
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
        render_all(args.duckdb, reports_dir=args.reports, figures_dir=None if args.no_figures else args.figures,
                   names=args.names or NOTEBOOKS, user_id=args.user_id, dataset=args.dataset,
                   timezone=args.timezone, timeout=args.timeout)
    except CellExecutionError as exc:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # the kernel's traceback is ANSI-coloured
        lines = [line for line in text.splitlines() if line.strip()]
        print(f"render: a notebook cell failed: {lines[-1] if lines else exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
