"""API mode wired together: config → OAuth + token store → per-user transfers → the archive loader.

The CLI (``auth``, ``sync``, ``status``, ``webhook``, ``forget``), the demo and the orchestrator
definitions all go through ``ApiService`` so there is one code path from a token to rows.
"""

from __future__ import annotations

import logging
import threading
import time
import webbrowser
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import dlt
import httpx

from .. import destination, export_requests, worklock
from . import ratelimit
from .auth import OAuthClient, TokenManager, TokenStore, authorize_url, catch_redirect, code_challenge, new_code_verifier, new_state, parse_callback, redirect_target
from .client import PortabilityClient
from .config import ApiConfig
from ..errors import ConfigMissing, ReauthorizationRequired
from ..layouts import DATA_TABLES
from ..loader import finish_pending, load_archives
from .transfers import DOWNLOADED, Outcome, StopBefore, Syncer, Transfer, TransferStore, utcnow
from .webhooks import WebhookEvent

if TYPE_CHECKING:
    from ..forget import ForgetReport

log = logging.getLogger(__name__)

DEFAULT_SCOPES = ("user.info.basic", "portability.all.ongoing")
# one dlt run for up to this many downloaded archives: a run costs ~1-2 s of fixed work, so 200 users
# loaded one by one spend minutes on it; bounded so one run's extract stays a manageable size
LOAD_BATCH_ARCHIVES = 50
LOAD_BATCH_BYTES = 512 * 1024 * 1024


def require(value: Any, key: str) -> Any:
    if not value:
        raise ConfigMissing(f"{key} is not configured: set it in .dlt/secrets.toml [sources.tiktok_portability] "
                            f"or the env var SOURCES__TIKTOK_PORTABILITY__{key.upper()}")
    return value


class ApiService:
    def __init__(self, config: ApiConfig, pipeline_factory: Callable[[], dlt.Pipeline], *,
                 transport: httpx.BaseTransport | None = None, clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.pipeline_factory = pipeline_factory
        self.transport = transport
        self.clock = clock
        self.sleep = sleep
        self.store = TokenStore(config.token_store, strict_permissions=config.strict_permissions)
        self.transfers = TransferStore(config.transfer_store)
        self._oauth: OAuthClient | None = None
        self._pipeline: dlt.Pipeline | None = None
        self._recorded: list[dict[str, Any]] | None = None  # what record_requests last loaded
        self._oauth_lock = threading.Lock()  # users' steps run in threads and share one OAuth client
        self.rate_limiter = ratelimit.for_config(config.rate_limit, config.rate_limit_window_seconds)
        self.syncer = Syncer(
            transfers=self.transfers, client_for=self.client_for, scopes_of=self.scopes_of, load=self._load,
            archive_dir=config.archive_dir, categories=config.categories, data_format=config.data_format,
            min_interval=timedelta(seconds=config.min_interval_seconds), keep_archives=config.keep_archives,
            clock=clock, is_revoked=lambda open_id: bool(self.store.metadata(open_id).get("revoked")),
            max_load_attempts=config.max_load_attempts,
        )

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def oauth(self) -> OAuthClient:
        with self._oauth_lock:
            if self._oauth is None:
                self._oauth = OAuthClient(require(self.config.client_key, "client_key"),
                                          require(self.config.client_secret, "client_secret"),
                                          self.config.redirect_uri, base_url=self.config.api_base_url,
                                          transport=self.transport, clock=self.clock, sleep=self.sleep)
        return self._oauth

    @property
    def tokens(self) -> TokenManager:
        return TokenManager(self.oauth, self.store, clock=self.clock)

    @property
    def pipeline(self) -> dlt.Pipeline:
        if self._pipeline is None:
            self._pipeline = self.pipeline_factory()
        return self._pipeline

    def client_for(self, open_id: str) -> PortabilityClient:
        provider = self.tokens.for_user(open_id)
        return PortabilityClient(self.config.api_base_url, token=provider.access_token,
                                 on_token_invalid=provider.force_refresh, transport=self.transport, sleep=self.sleep,
                                 rate_limiter=self.rate_limiter)

    def scopes_of(self, open_id: str) -> tuple[Sequence[str], datetime | None]:
        token_set = self.store.get(open_id)
        granted_at = self.store.metadata(open_id).get("authorized_at")
        return (token_set.scopes if token_set else ()), (datetime.fromisoformat(granted_at) if granted_at else None)

    def users(self) -> list[str]:
        return self.store.open_ids()

    # -- auth ----------------------------------------------------------------------------------
    def authorize(self, scopes: Sequence[str] = DEFAULT_SCOPES, *, open_browser: bool = True,
                  visit: Callable[[str], None] | None = None, timeout: float = 300.0) -> str:
        """Login Kit desktop flow: PKCE, loopback redirect, code exchange; returns the open_id."""
        host, port, path = redirect_target(self.config.redirect_uri)
        verifier, state = new_code_verifier(), new_state()
        url = authorize_url(require(self.config.client_key, "client_key"), self.config.redirect_uri, scopes, state,
                            code_challenge=code_challenge(verifier), authorize_base=self.config.authorize_url)

        def on_ready(_: int) -> None:
            if visit is not None:
                visit(url)
                return
            print(f"Open this URL to authorize the app:\n{url}", flush=True)
            if open_browser:
                webbrowser.open(url)

        callback_url = catch_redirect(host, port, path, timeout=timeout, on_ready=on_ready)
        callback = parse_callback(callback_url, state)
        token_set = self.oauth.exchange_code(callback.code, code_verifier=verifier)
        self.store.put(token_set, authorized_at=self.clock().isoformat(), granted_scopes=list(callback.scopes))
        log.info("authorized %s with scopes %s", token_set.open_id, ",".join(token_set.scopes))
        return token_set.open_id

    def revoke(self, open_id: str) -> None:
        token_set = self.store.get(open_id)
        if token_set is not None:
            self.oauth.revoke(token_set.access_token)
        self.store.set_metadata(open_id, revoked=True, reauth_reason="revoked by the app")

    # -- sync ----------------------------------------------------------------------------------
    def sync_once(self, *, poll_now: bool = False, users: Sequence[str] | None = None) -> list[Outcome]:
        """One step for every user; one user's failure never stops the others.

        The HTTP part (add / check / download) of up to ``workers`` users runs at once in threads, all
        sharing one rate limiter; this thread loads the downloaded archives meanwhile, several per dlt
        run, one run at a time (a dlt pipeline and a DuckDB file take one writer)."""
        outcomes = self.step_users(users, poll_now=poll_now, stop_before="load", load=True)
        self.record_requests()
        return outcomes

    def step_users(self, users: Sequence[str] | None = None, *, poll_now: bool = False,
                   stop_before: StopBefore | None = "load", load: bool = False) -> list[Outcome]:
        """One ``Syncer`` step per user, ``workers`` at a time, outcomes in the order of ``users``.

        With ``load`` the downloaded archives are loaded here, batched, while the other users' HTTP
        steps go on; without it nothing touches the destination (an orchestrator's sensor tick)."""
        wanted = list(dict.fromkeys(users or self.users()))
        outcomes: dict[str, Outcome] = {}
        to_load: list[Transfer] = []
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.config.workers, len(wanted) or 1)),
                                  thread_name_prefix="tiktok-sync")
        try:
            running: set[Future[Outcome]] = {pool.submit(self._step_user, u, poll_now, stop_before) for u in wanted}
            while running or to_load:
                done, running = wait(running, timeout=0 if to_load else None, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = future.result()
                    if load and outcome.state == DOWNLOADED and outcome.transfer is not None:
                        to_load.append(outcome.transfer)
                    else:
                        outcomes[outcome.open_id] = outcome
                if to_load:
                    batch = _take_batch(to_load)
                    outcomes.update(self._load_batch(batch))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return [outcomes[u] for u in wanted]

    def _step_user(self, open_id: str, poll_now: bool, stop_before: StopBefore | None) -> Outcome:
        """One user's step in a worker thread: whatever goes wrong stays that user's outcome."""
        try:
            return self.syncer.step(open_id, poll_now=poll_now, stop_before=stop_before)
        except ReauthorizationRequired as exc:
            return Outcome(open_id, "stopped", str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug or an unexpected error must not stop the other users
            log.exception("user %s: step failed", open_id)
            return Outcome(open_id, "error", f"{type(exc).__name__}: {exc}")

    def _load_batch(self, transfers: Sequence[Transfer]) -> dict[str, Outcome]:
        """Load downloaded archives: together in one dlt run when they never failed before, else (and
        after the batch failed: someone's archive is broken) one by one, each with its own attempts."""
        intact = [t for t in transfers if self.syncer.archive_intact(t)]
        outcomes = {t.open_id: self.syncer.describe(t) for t in transfers if t not in intact}
        fresh = [t for t in intact if t.load_attempts == 0]
        alone = [t for t in intact if t.load_attempts > 0]
        if len(fresh) > 1:
            started = [t for t in fresh if self.syncer.begin_load(t)]
            try:
                rows = self._load_many(started)
            except Exception as exc:
                log.warning("a batch of %d archives failed to load (%s); loading them one by one", len(started), exc)
                for transfer in started:
                    self.syncer.refund_attempt(transfer)
                alone += started
            else:
                for transfer in started:
                    self.syncer.loaded(transfer, rows.get(transfer.open_id, 0))
                    outcomes[transfer.open_id] = self.syncer.describe(transfer)
        else:
            alone += fresh
        for transfer in alone:
            outcomes[transfer.open_id] = self._load_alone(transfer)
        return outcomes

    def _load_alone(self, transfer: Transfer) -> Outcome:
        if not self.syncer.begin_load(transfer):
            return Outcome(transfer.open_id, transfer.state, transfer.error or "", transfer)
        try:
            rows = self._load(transfer)
        except Exception as exc:
            self.syncer.load_failed(transfer, exc)
            return Outcome(transfer.open_id, "error" if transfer.state == DOWNLOADED else transfer.state,
                           transfer.error or str(exc), transfer)
        self.syncer.loaded(transfer, rows)
        return self.syncer.describe(transfer)

    def _load_many(self, transfers: Sequence[Transfer]) -> dict[str, int]:
        """One dlt run for several users' archives; the new rows of each user, counted in the destination."""

        users = [t.open_id for t in transfers]
        before = destination.rows_per_user(self.pipeline, DATA_TABLES, users)
        load_archives(self.pipeline, [t.archive_input() for t in transfers])
        after = destination.rows_per_user(self.pipeline, DATA_TABLES, users)
        return {u: after.get(u, 0) - before.get(u, 0) for u in users}

    def sync_until_done(self, timeout: float = 3600.0, *, users: Sequence[str] | None = None) -> list[Outcome]:
        """``sync --wait``: step every user, sleeping by the polling schedule, until none is in flight."""
        deadline = time.monotonic() + timeout
        outcomes = self.sync_once(users=users)
        while any(o.waiting for o in outcomes):
            if time.monotonic() >= deadline:
                log.warning("sync --wait timed out after %.0fs with requests still in flight", timeout)
                break
            self.sleep(self._next_wait(outcomes, deadline))
            outcomes = self.sync_once(users=users)
        return outcomes

    def _next_wait(self, outcomes: Sequence[Outcome], deadline: float) -> float:
        waits = []
        for outcome in outcomes:
            transfer = outcome.transfer
            if outcome.waiting and transfer and transfer.next_check_at:
                waits.append((datetime.fromisoformat(transfer.next_check_at) - self.clock()).total_seconds())
            elif outcome.waiting:
                waits.append(1.0)
        return max(0.0, min(min(waits or [1.0]), deadline - time.monotonic()))

    def _load(self, transfer: Transfer) -> int:
        archive = transfer.archive_input()
        result = load_archives(self.pipeline, [archive])
        return sum(n for t, n in result.added.items() if t in DATA_TABLES)

    def record_requests(self) -> None:
        """Upsert every transfer into ``export_requests`` (small; one load per sync that changed one)."""
        transfers = [asdict(t) for t in self.transfers.all() if t.request_id is not None or t.state != "adding"]
        if transfers and transfers != self._recorded:  # a pipeline run costs ~1 s: skip when nothing moved
            with worklock.exclusive(self.pipeline):
                # dlt's run() with a package a killed run left behind loads only that one and drops these rows
                finish_pending(self.pipeline)
                self.pipeline.run(export_requests(transfers))
            self._recorded = transfers

    # -- webhooks ------------------------------------------------------------------------------
    def handle_webhook(self, event: WebhookEvent) -> None:
        if event.event == "portability.download.ready" and event.request_id is not None:
            if self.syncer.mark_ready(event.request_id):
                log.info("request %s is ready (webhook)", event.request_id)
        elif event.event == "authorization.removed" and event.user_openid:
            if event.user_openid not in self.store.open_ids():  # e.g. forgotten: don't bring them back
                log.info("authorization.removed for %s, who is not in the token store: ignored", event.user_openid)
                return
            self.store.set_metadata(event.user_openid, revoked=True,
                                    reauth_reason=f"authorization.removed (reason {event.content.get('reason')})",
                                    reauth_marked_at=self.clock().isoformat())
            self.syncer.step(event.user_openid)  # stops the user's transfers at once
            log.warning("user %s removed the authorization; transfers stopped", event.user_openid)
            if self.config.forget_on_removal:
                self.forget(event.user_openid)

    def forget(self, open_id: str) -> ForgetReport:
        """Erase one user everywhere (rows, dlt state, tokens, transfers, archives): ``forget``."""
        from ..forget import forget_user

        report = forget_user(self.pipeline, open_id, tokens=self.store, transfers=self.transfers,
                             archive_dir=self.config.archive_dir)
        log.warning("user %s forgotten: %s", open_id, "; ".join(report.lines()))
        return report


def _take_batch(queue: list[Transfer]) -> list[Transfer]:
    """Remove and return the next archives to load together (bounded in count and bytes)."""
    batch, size = [], 0
    while queue and len(batch) < LOAD_BATCH_ARCHIVES:
        nxt = queue[0].archive_size or 0
        if batch and size + nxt > LOAD_BATCH_BYTES:
            break
        batch.append(queue.pop(0))
        size += nxt
    return batch
