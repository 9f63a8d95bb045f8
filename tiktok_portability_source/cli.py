"""The ``tiktok-portability`` command: thin argument parsing over ``loader`` (and, later, transfers)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from . import settings
from .loader import LoadFailed, LoadResult, load_archives, make_pipeline

log = logging.getLogger("tiktok_portability_source")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duckdb", metavar="FILE", default=settings.DEFAULT_DUCKDB,
                        help=f"DuckDB file to load into (default: {settings.DEFAULT_DUCKDB} here)")
    parser.add_argument("--destination", metavar="NAME", help="any dlt destination instead of DuckDB "
                        "(credentials from .dlt/secrets.toml or env)")
    parser.add_argument("--dataset", default=settings.DEFAULT_DATASET, help="dataset/schema name (default: tiktok)")
    parser.add_argument("--pipelines-dir", metavar="DIR", help="dlt working folder (default: ~/.dlt/pipelines)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tiktok-portability", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    load = sub.add_parser("load", help="load one or more exports (ZIP, JSON file, or folder of TXT files)")
    load.add_argument("archives", nargs="+", type=Path, metavar="ARCHIVE")
    load.add_argument("--user-id", help="whose data this is (default: the profile's username)")
    load.add_argument("--no-skip", action="store_true",
                      help="send every row even inside already-loaded time windows (slower, merge-only)")
    _common(load)

    demo = sub.add_parser("demo", help="the whole job on generated data, no credentials needed")
    demo.add_argument("--workdir", type=Path, default=Path("demo_data"), help="where generated archives go")
    _common(demo)
    return parser


def print_summary(result: LoadResult, out=sys.stdout) -> None:
    width = max(len(t) for t in result.after)
    print(f"{'table':<{width}}  {'added':>9}  {'total':>9}", file=out)
    for table, total in sorted(result.after.items()):
        added = result.added[table]
        if total or added:
            print(f"{table:<{width}}  {added:>9}  {total:>9}", file=out)
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in result.steps.items())
    print(f"done in {result.seconds:.1f}s ({steps})", file=out)


def _pipeline(args: argparse.Namespace):
    return make_pipeline(duckdb_path=args.duckdb, destination_name=args.destination, dataset=args.dataset,
                         pipelines_dir=args.pipelines_dir)


def cmd_load(args: argparse.Namespace) -> int:
    result = load_archives(_pipeline(args), args.archives, user_id=args.user_id,
                           skip_loaded_windows=not args.no_skip)
    print_summary(result)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    logging.getLogger("dlt").setLevel(logging.WARNING)
    handlers = {"load": cmd_load, "demo": cmd_demo}
    try:
        return handlers[args.command](args)
    except LoadFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to finish", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
