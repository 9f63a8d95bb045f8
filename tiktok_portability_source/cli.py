"""The ``tiktok-portability`` command: thin argument parsing over ``loader``, ``api`` and ``forget``.

Exit codes: 0 success, 1 a user or transfer needs attention, 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dlt

from . import settings
from .errors import PortabilityError, UnknownUser, explain, one_line
from .redaction import install_redaction
from .loader import LoadFailed, LoadResult, load_archives, make_pipeline
from .privacy import ENV_PREFIX, PrivacyError
from .reconcile import COUNTS
from .worklock import WAIT_ENV

log = logging.getLogger("tiktok_portability_source")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duckdb", metavar="FILE",
                        help=f"DuckDB file to load into (default: ${settings.ENV_DUCKDB}, else "
                             f"{settings.DEFAULT_DUCKDB} in the current folder)")
    parser.add_argument("--destination", metavar="NAME", help="any dlt destination instead of DuckDB "
                        "(credentials from .dlt/secrets.toml or env)")
    parser.add_argument("--dataset", default=settings.DEFAULT_DATASET, help="dataset/schema name (default: tiktok)")
    parser.add_argument("--pipelines-dir", metavar="DIR", help="dlt working folder (default: ~/.dlt/pipelines)")
    parser.add_argument("--wait-timeout", metavar="SECONDS", type=float,
                        help="how long to wait for another run using the same database's working folder "
                             "(default: $TIKTOK_PORTABILITY_WAIT_TIMEOUT, else 600)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="API base URL (default: config api_base_url, TikTok's)")
    parser.add_argument("--token-store", metavar="FILE", help="token store path (default: config token_store)")


def _privacy_options(parser: argparse.ArgumentParser) -> None:
    """Flags for the privacy config keys (they override .dlt/config.toml and env); the key itself is a
    secret and only ever comes from secrets.toml or the environment."""
    group = parser.add_argument_group("privacy (config keys of the same names; see docs/privacy.md)")
    group.add_argument("--pseudonymize", action=argparse.BooleanOptionalAction, default=None,
                       help="replace third-party usernames by keyed pseudonyms (needs pseudonymize_key)")
    group.add_argument("--drop-message-text", action=argparse.BooleanOptionalAction, default=None,
                       help="store direct messages without their text")
    group.add_argument("--drop-network-ids", action=argparse.BooleanOptionalAction, default=None,
                       help="store logins, devices and locations without IP address, device ids, carrier "
                            "and location")
    group.add_argument("--exclude", nargs="+", metavar="TABLE", help="tables not to load at all")
    group.add_argument("--load-autofill", action=argparse.BooleanOptionalAction, default=None,
                       help="load the Autofill section (real name, street address, phone) into the autofill "
                            "table; off by default: only its count of values is recorded")


DESCRIPTION = """Move a TikTok user's own data into a database and keep it up to date.

Archive mode: load a "Download your data" export (ZIP, JSON file or folder of TXT files).
API mode: authorize users through TikTok's Data Portability API, then sync their exports."""

EXAMPLES = """examples:
  tiktok-portability load ~/Downloads/TikTok_Data_1764547200.zip
  tiktok-portability load old.zip new.zip --duckdb mine.duckdb --pseudonymize
  tiktok-portability demo                      # the whole API flow against a fake TikTok
  tiktok-portability auth && tiktok-portability sync --wait
  tiktok-portability forget --user-id someone

Exit codes: 0 done, 1 a user or transfer needs attention, 2 bad input or configuration (one
`error:` line; add --debug for the traceback). Docs: README.md and docs/ in the project."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tiktok-portability")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", choices=("auto", "log", "tqdm", "none"), default="auto",
                        help="progress while loading: a bar per table (tqdm), a line every second (log), or "
                             "nothing; auto: bars on a terminal, nothing otherwise")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tiktok-portability", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    load = sub.add_parser("load", help="load one or more exports (ZIP, JSON file, or folder of TXT files)")
    load.add_argument("archives", nargs="+", type=Path, metavar="ARCHIVE")
    load.add_argument("--user-id", help="whose data this is (default: the profile's username)")
    load.add_argument("--no-skip", action="store_true",
                      help="send every row even inside already-loaded time windows (slower, merge-only)")
    _common(load)
    _privacy_options(load)
    _progress_option(load)

    demo = sub.add_parser("demo", help="the whole job against the fake API on loopback, no credentials needed")
    demo.add_argument("--workdir", type=Path, default=Path("demo_data"), help="tokens, transfers and archives")
    _common(demo)
    _privacy_options(demo)
    demo.set_defaults(duckdb="demo.duckdb")  # the demo's own database, rebuilt on every run
    for action in demo._actions:
        if action.dest == "duckdb":
            action.help = "DuckDB file the demo (re)builds (default: demo.duckdb)"

    auth = sub.add_parser("auth", help="authorize a user (Login Kit) and store their tokens")
    auth.add_argument("--scopes", default="user.info.basic,portability.all.ongoing",
                      help="comma-separated scopes to ask for (default: %(default)s)")
    auth.add_argument("--no-browser", action="store_true", help="print the URL only")
    auth.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the redirect")
    _api_options(auth)

    sync = sub.add_parser("sync", help="advance every user's transfer (add → check → download → load)")
    sync.add_argument("--wait", action="store_true", help="poll with backoff until loaded or --timeout")
    sync.add_argument("--timeout", type=float, default=3600.0, help="seconds for --wait (default 3600)")
    sync.add_argument("--categories", nargs="+", choices=settings.CATEGORIES, help="categories to request")
    sync.add_argument("--format", choices=settings.DATA_FORMATS, help="archive format to request")
    sync.add_argument("--user", action="append", dest="users", metavar="OPEN_ID", help="only these users")
    sync.add_argument("--workers", type=int, metavar="N", help="users whose API calls run at once (default: config workers, 4); loads still run one at a time")
    _api_options(sync)
    _common(sync)
    _privacy_options(sync)
    _progress_option(sync)

    status = sub.add_parser("status", help="users, tokens (never their values), transfers, last loads")
    _api_options(status)
    _common(status)

    rekey = sub.add_parser("reencrypt-tokens", help="encrypt every stored token with the first key of store_key "
                           "(put a new key first, store_key = \"<new>,<old>\", run this, then drop the old key)")
    _api_options(rekey)
    _common(rekey)

    forget = sub.add_parser("forget", help="erase every row, token, transfer and archive of one user (an API "
                            "user is first disconnected at TikTok: pending requests cancelled, token revoked)")
    forget.add_argument("--user-id", required=True)
    forget.add_argument("--local-only", action="store_true",
                        help="delete here only; do not contact TikTok (archive-mode users never need it)")
    _api_options(forget)
    _common(forget)

    fake = sub.add_parser("fake-api", help="run the fake TikTok API on loopback")
    fake.add_argument("--port", type=int, default=8080)
    fake.add_argument("--user", action="append", dest="users", metavar="OPEN_ID")
    fake.add_argument("--ready-after-polls", type=int, default=1)

    from .enrich import DEFAULT_RATE, OEMBED_URL

    enrich = sub.add_parser("enrich", help="add author, caption, hashtags and thumbnail of watched, liked and "
                            "favourite videos from TikTok's public oEmbed endpoint (sends their ids to TikTok: "
                            "see docs/enrichment.md)")
    enrich.add_argument("--limit", type=int, metavar="N", help="ask about at most N videos this run (0: only count "
                        "them); the next run goes on where this one stopped")
    enrich.add_argument("--oembed-url", default=OEMBED_URL, metavar="URL", help="oEmbed endpoint (default: %(default)s)")
    enrich.add_argument("--rate", type=float, default=DEFAULT_RATE, metavar="R",
                        help="requests per second (default: %(default)s)")
    enrich.add_argument("--user", action="append", dest="users", metavar="USER_ID",
                        help="only the videos of this user (repeatable; default: every user)")
    _common(enrich)

    aside = sub.add_parser("quarantine", help="list, or delete, load packages set aside after failing at the destination")
    drop = aside.add_mutually_exclusive_group()
    drop.add_argument("--drop", metavar="LOAD_ID", help="delete this set-aside package (it holds rows of personal data)")
    drop.add_argument("--drop-all", action="store_true", help="delete every set-aside package")
    _common(aside)

    web = sub.add_parser("serve", help="the web consent app: users connect (and disconnect) TikTok in a browser; "
                         "webhooks on POST /webhook (docs/web-consent.md)")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    web.add_argument("--port", type=int, help="port to listen on (default: the port of an http://127.0.0.1 "
                     "redirect_uri, else 8080)")
    web.add_argument("--scopes", default="user.info.basic,portability.all.ongoing",
                     help="comma-separated scopes to ask for (default: %(default)s)")
    _api_options(web)
    _common(web)
    for action in web._actions:
        if action.dest in ("duckdb", "destination", "dataset"):
            action.help += "; a disconnect forgets the user there"

    hook = sub.add_parser("webhook", help="receive TikTok webhooks (download ready, authorization removed)")
    hook.add_argument("--port", type=int, default=8090)
    hook.add_argument("--host", default="127.0.0.1")
    _api_options(hook)
    _common(hook)
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure, and dlt's own log")
    for command in sub.choices.values():  # also after the command's name, where users put it
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


# --- helpers ---------------------------------------------------------------------------------


def print_summary(result: LoadResult, out: Any = sys.stdout) -> None:
    """Rows added and total per table, and what became of every record read (the load report):
    ``read`` = ``sent`` + ``loaded before`` + ``repeats`` + ``empty`` + ``unreadable``."""
    width = max(len(t) for t in result.after)
    heads = ("added", "total", "read", "sent", "loaded before", "repeats", "empty", "unreadable")
    print(f"{'table':<{width}}  " + "  ".join(f"{h:>{max(9, len(h))}}" for h in heads), file=out)
    for table, total in sorted(result.after.items()):
        added = result.added[table]
        report = result.report.get(table)
        if total or added or report:
            counts = [report.get(c, 0) for c in COUNTS] if report else []
            cells = [added, total, *counts]
            print(f"{table:<{width}}  " + "  ".join(f"{c:>{max(9, len(h))}}" for c, h in zip(cells, heads)),
                  file=out)
    lost = sum(r.get("unreadable", 0) for r in result.report.values())
    if lost:
        print(f"warning: {lost} records could not be read; see the load_report and unparsed_sections tables",
              file=out)
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in result.steps.items())
    print(f"done in {result.seconds:.1f}s ({steps})", file=out)


def _duckdb_file(args: argparse.Namespace) -> Path:
    """``--duckdb``, else ``TIKTOK_PORTABILITY_DUCKDB`` (as the orchestrator definitions read it), else the default."""
    return Path(args.duckdb or os.environ.get(settings.ENV_DUCKDB) or settings.DEFAULT_DUCKDB)


def _new_database(args: argparse.Namespace) -> Path | None:
    """The DuckDB file this command would create (None: it exists, or the destination is not DuckDB)."""
    if args.destination and args.destination != "duckdb":
        return None
    path = _duckdb_file(args)
    return None if path.exists() else path


@contextlib.contextmanager
def _no_database_left_on_failure(args: argparse.Namespace) -> Iterator[None]:
    """A command that fails before its first load leaves no empty DuckDB file behind."""
    created = _new_database(args)
    try:
        yield
    except BaseException:
        if created is not None:
            for leftover in (created, Path(f"{created}.wal")):
                leftover.unlink(missing_ok=True)
        raise


def _pipeline(args: argparse.Namespace):
    pipeline = make_pipeline(duckdb_path=_duckdb_file(args), destination_name=args.destination, dataset=args.dataset,
                             pipelines_dir=args.pipelines_dir)
    collector = _progress_collector(getattr(args, "progress", "none"))
    if collector is not None:
        pipeline.collector = collector
    return pipeline


def _progress_collector(choice: str) -> Any:
    """dlt's own progress collectors: rows per table while extracting and normalizing, jobs while loading."""
    if choice == "auto":
        choice = "tqdm" if sys.stderr.isatty() and not os.environ.get("CI") else "none"
    if choice == "log":
        return dlt.progress.log(log_period=1.0, logger=sys.stderr, dump_system_stats=False)
    if choice == "tqdm":
        return dlt.progress.tqdm(file=sys.stderr, leave=False)
    return None


def _service(args: argparse.Namespace, **overrides: Any):
    from .api import ApiService
    from .api.config import load_api_config

    explicit = {k: v for k, v in {
        "api_base_url": getattr(args, "base_url", None), "token_store": getattr(args, "token_store", None),
        "categories": getattr(args, "categories", None), "data_format": getattr(args, "format", None),
        "workers": getattr(args, "workers", None),
    }.items() if v}
    if "api_base_url" in explicit and "authorize_url" not in overrides:
        # a fake or proxy serves the authorize page on its own host
        explicit["authorize_url"] = explicit["api_base_url"].rstrip("/") + settings.AUTHORIZE_PATH
    config = load_api_config(**explicit, **overrides)
    return ApiService(config, lambda: _pipeline(args))


@contextlib.contextmanager
def _privacy_env(args: argparse.Namespace) -> Iterator[None]:
    """Privacy flags become the env vars of their config keys for this command, so every path that
    builds the source (load, sync, demo) reads them the dlt way; validated before anything runs."""
    flags = {"pseudonymize": getattr(args, "pseudonymize", None),
             "drop_message_text": getattr(args, "drop_message_text", None),
             "drop_network_ids": getattr(args, "drop_network_ids", None),
             "load_autofill": getattr(args, "load_autofill", None),
             "exclude": ",".join(args.exclude) if getattr(args, "exclude", None) else None}
    saved = {k: os.environ.get(ENV_PREFIX + k.upper()) for k in (*flags, "pseudonymize_key")}
    try:
        for key, value in flags.items():
            if value is not None:
                os.environ[ENV_PREFIX + key.upper()] = str(value).lower() if isinstance(value, bool) else value
        if args.command in ("load", "sync", "demo"):
            _check_privacy(args)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(ENV_PREFIX + key.upper(), None)
            else:
                os.environ[ENV_PREFIX + key.upper()] = value


def _check_privacy(args: argparse.Namespace) -> None:
    """Fail before TikTok is called or an archive opened when the settings cannot be honoured."""
    from .api.config import load_privacy_settings

    try:
        privacy = load_privacy_settings()
    except PrivacyError:
        if args.command != "demo" or os.environ.get(ENV_PREFIX + "PSEUDONYMIZE_KEY"):
            raise
        import secrets  # synthetic data, rebuilt on every run: a throwaway key is enough

        os.environ[ENV_PREFIX + "PSEUDONYMIZE_KEY"] = secrets.token_urlsafe(32)
        privacy = load_privacy_settings()
        print("demo: privacy controls use a throwaway pseudonymize_key for this run")
    if privacy.needs_key or privacy.exclude:
        log.info("privacy: %s", privacy.describe())


# --- commands --------------------------------------------------------------------------------


def cmd_load(args: argparse.Namespace) -> int:
    with _no_database_left_on_failure(args):
        result = load_archives(_pipeline(args), args.archives, user_id=args.user_id,
                               skip_loaded_windows=not args.no_skip)
    print_summary(result)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .fake.demo import run_demo

    return run_demo(args)


def _require_credentials(service: Any) -> None:
    """Fail before any user is touched (and before a browser opens) when the app's keys are missing."""
    from .api import require

    require(service.config.client_key, "client_key")
    require(service.config.client_secret, "client_secret")


def cmd_auth(args: argparse.Namespace) -> int:
    service = _service(args)
    _require_credentials(service)
    try:
        open_id = service.authorize([s.strip() for s in args.scopes.split(",") if s.strip()],
                                    open_browser=not args.no_browser, timeout=args.timeout)
    except TimeoutError:
        print(f"error: no authorization redirect reached {service.config.redirect_uri} within {args.timeout:g}s; "
              "run `tiktok-portability auth` again", file=sys.stderr)
        return 1
    print(f"authorized {open_id}; tokens stored in {service.store.location}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    service = _service(args)
    if service.config.refresh_token and not service.users():  # single-user config: into the token store
        _require_credentials(service)
        service.seed_from_config()
    if not service.users() and not service.owed.open_ids():  # owed revocations are retried even then
        print(f"no users in {service.store.location}: run `tiktok-portability auth` first", file=sys.stderr)
        return 2
    _require_credentials(service)
    outcomes = (service.sync_until_done(args.timeout, users=args.users) if args.wait
                else service.sync_once(users=args.users))
    for outcome in outcomes:
        print(f"{outcome.open_id}: {outcome.state}: {outcome.message}")
    bad = {"error", "stopped", "add_unknown", "failed", "rejected", "not_authorized", "expired"}
    return 1 if any(o.state in bad for o in outcomes) else 0


def cmd_status(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from .api.transfers import expiry_warning, rejection_note
    from .destination import query

    service = _service(args)
    now = time.time()
    print(f"token store: {service.store.location}")
    for open_id in service.users():
        token_set = service.store.get(open_id)
        meta = service.store.metadata(open_id)
        if token_set is None:
            print(f"  {open_id}: no token")
            continue
        left = token_set.expires_at.timestamp() - now
        state = "REVOKED - run auth again" if meta.get("revoked") else (
            f"access token valid {left / 60:.0f} min" if left > 0 else "access token expired (refreshed on next use)")
        refused = service.syncer.rejection_backoff(open_id)  # TikTok refused the last Add: say why and when again
        print(f"  {open_id}: {state}; refresh token until {token_set.refresh_expires_at:%Y-%m-%d}; "
              f"scopes {','.join(token_set.scopes)}" + (f"; {rejection_note(refused)}" if refused else ""))
    print(f"privacy: {_privacy_line()}")
    print("transfers:")
    transfers = service.transfers.all()
    for transfer in transfers[-20:]:
        print(f"  {transfer.open_id} request {transfer.request_id}: {transfer.state} "
              f"({','.join(transfer.categories)}, {transfer.grant}) created {transfer.created_at[:19]}"
              + (f" rows {transfer.rows_loaded}" if transfer.rows_loaded is not None else "")
              + (f" - {transfer.error}" if transfer.error else ""))
        expiring = expiry_warning(transfer, datetime.fromtimestamp(now, timezone.utc))
        if expiring:
            print(f"    WARNING: {expiring}")
    if not transfers:
        print("  none")
    print("last loads:")
    missing = _new_database(args)
    if missing is not None:  # status only reads: it creates no database
        print(f"  none (no database at {missing})")
        return 0
    rows = query(service.pipeline, "SELECT user_id, archive, exported_at, loaded_at FROM {table} "
                 "ORDER BY loaded_at DESC LIMIT 10", "archives")
    for user_id, archive, exported_at, loaded_at in rows:
        print(f"  {user_id}: {archive} (exported {exported_at:%Y-%m-%d %H:%M}) loaded {loaded_at:%Y-%m-%d %H:%M}")
    if not rows:
        print("  none")
    return 0


def _privacy_line() -> str:
    from .api.config import load_privacy_settings

    try:
        return load_privacy_settings().describe()
    except PrivacyError as exc:
        return f"not usable: {exc}"


def cmd_forget(args: argparse.Namespace) -> int:
    service = _service(args)
    with _no_database_left_on_failure(args):
        told = service.disconnect(args.user_id, forget=True, local_only=args.local_only)  # TikTok first
        report = told.forgot
        assert report is not None
        if not report.found:
            raise UnknownUser(f"no row, token, transfer or archive of user {args.user_id!r} here: check the id "
                              "(the user_id column; `tiktok-portability status` lists API users)")
    print(f"TikTok: {told.tiktok}", file=sys.stderr)  # stdout stays the local report
    if told.cancelled:
        print(f"requests cancelled at TikTok: {', '.join(map(str, told.cancelled))}", file=sys.stderr)
    print(f"forgot {args.user_id}:")
    for line in report.lines():
        print(f"  {line}")
    return 0


def cmd_fake_api(args: argparse.Namespace) -> int:
    from .fake.api import main as fake_main

    argv = ["--port", str(args.port), "--ready-after-polls", str(args.ready_after_polls)]
    for user in args.users or []:
        argv += ["--user", user]
    return fake_main(argv)


def cmd_webhook(args: argparse.Namespace) -> int:
    from .api import require
    from .api.webhooks import WebhookReceiver, serve_webhooks

    service = _service(args)
    receiver = WebhookReceiver(require(service.config.client_secret, "client_secret"), service.handle_webhook)
    server = serve_webhooks(args.host, args.port, receiver)  # Starlette on uvicorn, with timeouts and limits
    print(f"receiving webhooks on {server.url} (POST / or /webhook; GET /healthz); Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        receiver.close()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from .api import require
    from .api.auth import redirect_is_local
    from .errors import ConfigError
    from .api.consent import consent_app, load_consent_settings
    from .api.webapp import serve
    from .api.webhooks import WebhookReceiver

    service = _service(args)
    _require_credentials(service)
    redirect_uri = service.config.redirect_uri
    local_port = urlsplit(redirect_uri).port if redirect_is_local(redirect_uri) else None
    port = args.port if args.port is not None else (local_port or 8080)
    if local_port is not None and port != local_port:
        raise ConfigError(f"redirect_uri {redirect_uri} points at port {local_port}, but serve would listen on "
                         f"{port}: TikTok's redirect would never reach this app (use --port {local_port})")
    where = (f"destination {args.destination}, dataset {args.dataset}" if args.destination
             and args.destination != "duckdb" else f"DuckDB file {_duckdb_file(args)}, dataset {args.dataset}")
    settings_ = load_consent_settings()
    receiver = WebhookReceiver(require(service.config.client_secret, "client_secret"), service.handle_webhook)
    try:
        app = consent_app(service, receiver=receiver, settings=settings_, where=where,
                          scopes=[s.strip() for s in args.scopes.split(",") if s.strip()])
        server = serve(app, args.host, port)
    except (ValueError, OSError) as exc:
        receiver.close()
        raise ConfigError(f"cannot serve the consent app: {exc}") from None
    print(f"consent app on {server.url} (GET /, /connect, {urlsplit(redirect_uri).path}; POST /disconnect, "
          "/webhook; GET /healthz); Ctrl-C to stop", flush=True)
    print(f"redirect_uri: {redirect_uri}" + (" (local http: for trying out only; TikTok's web Login Kit needs "
                                             "https)" if local_port is not None else ""), flush=True)
    print("a disconnect revokes the user's access at TikTok and "
          + ("keeps their data (keep_data_on_disconnect)" if settings_.keep_data_on_disconnect
             else f"forgets their data in {where}"), flush=True)
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        receiver.close()
    return 0


def cmd_enrich(args: argparse.Namespace) -> int:
    from .api.config import load_privacy_settings
    from .enrich import enrich_videos

    report = enrich_videos(_pipeline(args), base_url=args.oembed_url, limit=args.limit, rate_per_second=args.rate,
                           users=args.users, privacy=load_privacy_settings())
    for line in report.lines():
        print(line)
    return 1 if report.stopped else 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    from . import quarantine

    pipeline = _pipeline(args)
    if args.drop or args.drop_all:
        dropped = quarantine.drop(pipeline, args.drop)
        if args.drop and not dropped:
            raise LoadFailed(f"no set-aside package {args.drop}; `tiktok-portability quarantine` lists them")
        print(f"deleted {dropped} set-aside load package(s)")
        return 0
    items = quarantine.listed(pipeline)
    for item in items:
        print(f"{item.load_id}: {item.reason} ({item.path})")
    if not items:
        print("no load package is set aside")
    return 0


def cmd_reencrypt_tokens(args: argparse.Namespace) -> int:
    """Key rotation: every token is read with any key of ``store_key`` and written with its first, in
    one transaction (a token no key opens stops it before anything changed)."""
    service = _service(args)
    count = service.store.reencrypt()
    print(f"token store: {service.store.location}: {count} token(s) now encrypted with the first key of store_key; "
          "the other keys can be removed")
    return 0


HANDLERS = {"load": cmd_load, "demo": cmd_demo, "auth": cmd_auth, "sync": cmd_sync, "status": cmd_status,
            "forget": cmd_forget, "fake-api": cmd_fake_api, "quarantine": cmd_quarantine, "enrich": cmd_enrich, "webhook": cmd_webhook,
            "serve": cmd_serve, "reencrypt-tokens": cmd_reencrypt_tokens}


def main(argv: Sequence[str] | None = None) -> int:
    # with Airflow installed beside us, dlt's Airflow secrets provider would import Airflow on every
    # command (seconds); the CLI is never an Airflow task, which would set AIRFLOW_CTX_DAG_ID
    if "AIRFLOW_CTX_DAG_ID" not in os.environ:
        os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    for noisy in ("dlt", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_redaction()
    if getattr(args, "wait_timeout", None) is not None:
        os.environ[WAIT_ENV] = str(args.wait_timeout)
    # dlt logs a failed job's traceback itself: the one line below says it, --debug shows it
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING" if args.debug else "CRITICAL")
    try:
        with _privacy_env(args):
            return HANDLERS[args.command](args)
    except PortabilityError as exc:
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to finish", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback (unless --debug)
        if args.debug:
            raise
        print(f"error: {explain(exc)}", file=sys.stderr)
        return 2


def run() -> None:
    """The console script: one command, then the process ends.

    Python's collector walks every object it tracks, the imported modules' too, on each full pass and
    again at exit (over half a second after a big load). Objects that live until the process ends need
    no walking: frozen after the imports and once the command is done (``gc.freeze``)."""
    gc.freeze()
    code = main()
    gc.freeze()
    raise SystemExit(code)


if __name__ == "__main__":
    run()
