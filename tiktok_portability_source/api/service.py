"""API mode wired together: config → OAuth + token store → per-user transfers → the archive loader.

The CLI (``auth``, ``sync``, ``status``, ``webhook``, ``forget``), the demo and the orchestrator
definitions all go through ``ApiService`` so there is one code path from a token to rows.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import webbrowser
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dlt
import httpx

from .. import destination, export_requests, worklock
from . import ratelimit
from .auth import OAuthClient, StaticTokenProvider, TokenManager, TokenSet, TokenStore, authorize_url, catch_redirect, code_challenge, new_code_verifier, new_state, parse_callback, redirect_target
from .client import PortabilityClient
from .config import ApiConfig
from .filestore import JsonFile
from .stores import TokenCipher, open_backend
from ..errors import (AccessTokenInvalid, ConfigMissing, InvalidGrant, InvalidParams, ReauthorizationRequired,
                      ScopeNotAuthorized, TikTokError, one_line)
from ..layouts import DATA_TABLES
from ..loader import finish_pending, load_archives
from .transfers import (CANCELLED, DOWNLOADED, PENDING, READY, STOPPED, Outcome, StopBefore, Syncer, Transfer,
                        TransferStore, utcnow)
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
        # one database for both stores (a SQLite file beside token_store, or store_url), opened on first use
        backend = open_backend(config.token_store, url=config.store_url, strict=config.strict_permissions)
        self.store = TokenStore(config.token_store, strict_permissions=config.strict_permissions,
                                key=config.store_key, backend=backend)
        self.transfers = TransferStore(config.transfer_store, backend=backend)
        self.owed = OwedRevocations(config.state_dir / OWED_FILE, self.store.cipher, strict=config.strict_permissions)
        self._disconnect_lock = threading.Lock()  # one disconnect at a time: they share one dlt pipeline
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

    def seed_from_config(self) -> str | None:
        """Single-user setup: ``access_token`` / ``refresh_token`` from config and an empty token store.

        The configured pair is refreshed once, the rotated pair (with the open_id and scopes only the
        token endpoint tells) written to the token store before anything uses it, and from then on the
        store is the source of truth: the configured refresh token is dead after the first refresh, so
        a second seeding from it could only fail. Returns the open_id, or None with nothing to seed."""
        if self.store.open_ids() or not self.config.refresh_token:
            return None
        provider = StaticTokenProvider(self.config.access_token, self.config.refresh_token, oauth=self.oauth,
                                       store=self.store, clock=self.clock)
        provider.force_refresh()  # persists the rotated pair before returning its access token
        open_id = provider.open_id or ""
        self.store.set_metadata(open_id, authorized_at=self.clock().isoformat(), source="config tokens")
        log.info("single-user setup: tokens from config for %s moved to the token store %s (the source of "
                 "truth from now on)", open_id, self.store.location)
        return open_id

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
        self.owed.remove(token_set.open_id)  # consented anew: revoking an older token now would undo it
        self.store.put(token_set, authorized_at=self.clock().isoformat(), granted_scopes=list(callback.scopes))
        log.info("authorized %s with scopes %s", token_set.open_id, ",".join(token_set.scopes))
        return token_set.open_id

    def revoke(self, open_id: str) -> None:
        token_set = self.store.get(open_id)
        if token_set is not None:
            self.oauth.revoke(token_set.access_token)
        self.store.set_metadata(open_id, revoked=True, reauth_reason="revoked by the app")

    # -- sync ----------------------------------------------------------------------------------
    def sync_once(self, *, poll_now: bool = False, users: Sequence[str] | None = None,
                  settle_revocations: bool = True) -> list[Outcome]:
        """One step for every user; one user's failure never stops the others. First, revocations a
        disconnect or ``forget`` could not deliver to TikTok are retried (``settle_revocations``).

        The HTTP part (add / check / download) of up to ``workers`` users runs at once in threads, all
        sharing one rate limiter; this thread loads the downloaded archives meanwhile, several per dlt
        run, one run at a time (a dlt pipeline and a DuckDB file take one writer)."""
        if settle_revocations:
            self.settle_revocations()
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
            outcomes = self.sync_once(users=users, settle_revocations=False)
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

    def record_requests(self, open_ids: Sequence[str] | None = None) -> None:
        """Upsert the transfers into ``export_requests`` (small; one load per sync that changed one).

        ``open_ids``: only these users' (an orchestrator's task for one user): a worker writing back
        every user's transfers as it last read them would put an older state over another worker's."""
        wanted = None if open_ids is None else set(open_ids)
        transfers = [asdict(t) for t in self.transfers.all()
                     if (t.request_id is not None or t.state != "adding") and (wanted is None or t.open_id in wanted)]
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
            # an id no transfer has: the lost reply of an ambiguous Add (add_unknown) finds its owner
            elif self.transfers.by_request_id(event.request_id) is None and self.syncer.adopt(event.request_id) is None:
                log.info("download.ready for request %s, which no user here is waiting for: ignored",
                         event.request_id)
        elif event.event == "authorization.removed" and event.user_openid:
            if event.user_openid not in self.store.open_ids():  # e.g. forgotten: don't bring them back
                log.info("authorization.removed for %s, who is not in the token store: ignored", event.user_openid)
                return
            if self.store.metadata(event.user_openid).get("disconnecting"):
                log.info("authorization.removed for %s, who is being disconnected here: ignored", event.user_openid)
                return
            self.store.set_metadata(event.user_openid, revoked=True,
                                    reauth_reason=f"authorization.removed (reason {event.content.get('reason')})",
                                    reauth_marked_at=self.clock().isoformat())
            self.syncer.step(event.user_openid)  # stops the user's transfers at once
            log.warning("user %s removed the authorization; transfers stopped", event.user_openid)
            if self.config.forget_on_removal:
                self.forget(event.user_openid)

    def forget(self, open_id: str, *, local_only: bool = False) -> ForgetReport:
        """Erase one user everywhere (rows, dlt state, tokens, transfers, archives): ``forget``.

        A user with a live token is disconnected at TikTok first (pending requests cancelled, the
        token revoked: ``disconnect``); ``local_only`` skips that."""
        report = self.disconnect(open_id, forget=True, local_only=local_only).forgot
        assert report is not None
        return report

    # -- disconnect ----------------------------------------------------------------------------
    def disconnect(self, open_id: str, *, forget: bool = True, local_only: bool = False) -> DisconnectReport:
        """Stop everything for one user: tell TikTok, then delete locally.

        1. TikTok (unless ``local_only``, or no live token is stored: archive mode, already revoked):
           the token and the user's pending request ids are written to the owed-revocations file
           first, then each pending request is cancelled and the token revoked. When TikTok cannot
           be reached the entry stays, and the next ``sync`` retries it (``settle_revocations``).
        2. Locally: with ``forget`` every row, token, transfer and archive of the user goes
           (``forget_user``); without it the rows stay, the tokens go and unfinished transfers stop.
        """
        from ..forget import forget_user

        with self._disconnect_lock:
            report = DisconnectReport(open_id)
            token_set = self.store.get(open_id)
            meta = self.store.metadata(open_id)
            if local_only:
                report.tiktok = "not contacted (local only)"
                if token_set is not None and not meta.get("revoked"):
                    report.tiktok += ": the app's authorization stays at TikTok until the user removes it or it expires"
            elif token_set is None and self.owed.get(open_id) is None:
                report.tiktok = "not contacted: no token stored (archive mode, or already disconnected)"
            elif token_set is not None and meta.get("revoked") and self.owed.get(open_id) is None:
                report.tiktok = "not contacted: the authorization was already removed or has expired"
            else:
                self._require_app_keys(open_id)  # before anything changes
                if token_set is not None and self.owed.get(open_id) is None:
                    pending = [t.request_id for t in self.transfers.for_user(open_id)
                               if t.state in (PENDING, READY) and t.request_id is not None]
                    # syncs leave the user alone from here on; our own revoke's authorization.removed is ignored
                    self.store.set_metadata(open_id, revoked=True, reauth_reason="disconnecting",
                                            disconnecting=self.clock().isoformat())
                    self.owed.add(open_id, token_set, pending, since=self.clock())  # the intent, durably, first
                state, report.cancelled, error = self._settle(open_id)
                cancelled = f"; {len(report.cancelled)} pending request(s) cancelled" if report.cancelled else ""
                report.tiktok = {"revoked": "authorization revoked" + cancelled,
                                 "gone": "the authorization was already gone at TikTok" + cancelled}.get(state, "")
                if state == "owed":
                    report.owed = True
                    report.tiktok = (f"could not be reached ({error}): the revocation is owed and the next "
                                     "`tiktok-portability sync` retries it")
            if forget:
                report.forgot = forget_user(self.pipeline, open_id, tokens=self.store, transfers=self.transfers,
                                            archive_dir=self.config.archive_dir)
                log.warning("user %s forgotten: %s", open_id, "; ".join(report.forgot.lines()))
            else:
                for transfer in self.transfers.for_user(open_id):
                    if not transfer.finished:
                        transfer.state = CANCELLED if transfer.request_id in report.cancelled else STOPPED
                        transfer.error = "disconnected"
                        self.transfers.save(transfer)
                report.tokens_deleted = self.store.delete(open_id)
            log.warning("user %s disconnected; TikTok: %s", open_id, report.tiktok)
            return report

    def _require_app_keys(self, open_id: str) -> None:
        if not (self.config.client_key and self.config.client_secret):
            raise ConfigMissing(
                f"client_key and client_secret must be configured to tell TikTok that user {open_id} "
                "disconnects (cancel pending requests, revoke the token); set them, or delete locally only "
                "with `tiktok-portability forget --local-only`")

    def settle_revocations(self) -> dict[str, str]:
        """Retry every owed revocation (cancel, revoke); returns ``{open_id: "revoked"|"gone"|"owed"}``."""
        results: dict[str, str] = {}
        for open_id in self.owed.open_ids():
            if not (self.config.client_key and self.config.client_secret):
                log.warning("%d revocation(s) owed to TikTok, but client_key/client_secret are not configured",
                            len(self.owed.open_ids()))
                break
            state, _, error = self._settle(open_id)
            results[open_id] = state
            if state == "owed":
                log.warning("revoking user %s at TikTok failed again (%s); the next sync retries", open_id, error)
            else:
                log.info("owed revocation of user %s settled (%s)", open_id, state)
        return results

    def _settle(self, open_id: str) -> tuple[str, list[int], str]:
        """Cancel the owed entry's requests, then revoke its token: ("revoked" | "gone" | "owed", ids
        cancelled, error). The entry is removed unless TikTok could not be reached."""
        entry = self.owed.get(open_id)
        if entry is None:
            return "gone", [], ""
        holder = [self.owed.token_set(entry)]
        # short retries: a person may be waiting on a page; a failure is retried by the next sync anyway
        oauth = OAuthClient(self.config.client_key or "", self.config.client_secret or "", self.config.redirect_uri,
                            base_url=self.config.api_base_url, transport=self.transport, clock=self.clock,
                            sleep=self.sleep, max_attempts=2, backoff_base=0.25, backoff_cap=1.0, timeout=15.0)

        def refresh() -> str:
            if holder[0].refresh_expired(self.clock()):
                raise ReauthorizationRequired(open_id, "the refresh token has expired")
            new = oauth.refresh(holder[0])
            self.owed.update_token(open_id, new)  # the old refresh token is dead: persist before use
            holder[0] = new
            return new.access_token

        def access_token() -> str:
            return refresh() if holder[0].needs_refresh(self.clock()) else holder[0].access_token

        cancelled: list[int] = []
        try:
            request_ids = [int(r) for r in entry.get("request_ids") or []]
            if request_ids:
                with PortabilityClient(self.config.api_base_url, token=access_token, on_token_invalid=refresh,
                                       transport=self.transport, sleep=self.sleep, max_attempts=2,
                                       max_retry_seconds=5.0, timeout=httpx.Timeout(15.0),
                                       rate_limiter=self.rate_limiter) as client:
                    for request_id in request_ids:
                        try:
                            client.cancel(request_id)
                            cancelled.append(request_id)
                        except (InvalidParams, ScopeNotAuthorized) as exc:  # finished, expired or unknown there
                            log.info("request %s of %s not cancelled: %s", request_id, open_id, exc.code)
                        self.owed.drop_request(open_id, request_id)
            oauth.revoke(access_token())
            state, error = "revoked", ""
        except (InvalidGrant, AccessTokenInvalid, ReauthorizationRequired) as exc:
            state, error = "gone", one_line(exc)  # the grant is dead at TikTok already: nothing left to revoke
        except TikTokError as exc:
            self.owed.note_failure(open_id, one_line(exc), self.clock())
            return "owed", cancelled, one_line(exc)
        finally:
            oauth.close()
        self.owed.remove(open_id)
        log.info("user %s: TikTok told (%s)%s", open_id, state, f": {error}" if error else "")
        return state, cancelled, error


OWED_FILE = "revocations_owed.json"


@dataclass
class DisconnectReport:
    """What ``ApiService.disconnect`` did: at TikTok (``tiktok``, ``cancelled``, ``owed``) and locally."""

    open_id: str
    tiktok: str = ""
    cancelled: list[int] = field(default_factory=list)
    owed: bool = False
    forgot: ForgetReport | None = None
    tokens_deleted: bool = False

    def lines(self) -> list[str]:
        out = [f"TikTok: {self.tiktok}"]
        if self.cancelled:
            out.append(f"requests cancelled at TikTok: {', '.join(map(str, self.cancelled))}")
        if self.forgot is not None:
            out += self.forgot.lines()
        else:
            out.append(f"tokens: {'deleted' if self.tokens_deleted else 'none stored'}; loaded data kept")
        return out


class OwedRevocations:
    """Revocations TikTok still has to hear about, in ``revocations_owed.json`` beside the token store.

    Each entry holds the token set (to revoke it, refreshing first when the access token has expired),
    encrypted with the token store's key, and the request ids still to cancel; the file is written
    owner-only, atomically and under a lock. An entry is removed once TikTok confirmed, or said the
    grant is gone anyway."""

    def __init__(self, path: str | Path, cipher: Callable[[], TokenCipher], *, strict: bool = False) -> None:
        self._file = JsonFile(path, "owed-revocations file", strict=strict)
        self.path = self._file.path
        self._cipher = cipher

    def token_set(self, entry: dict[str, Any]) -> TokenSet:
        token = entry["token"]
        if isinstance(token, dict):  # written by a version that kept it in plaintext
            return TokenSet.from_json(token)
        return TokenSet.from_json(self._cipher().decrypt(token))

    def _sealed(self, token_set: TokenSet) -> str:
        return self._cipher().encrypt(json.dumps(token_set.to_json()))

    def _entries(self) -> dict[str, Any]:
        return dict((self._file.read() or {}).get("owed") or {})

    def _change(self, open_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        with self._file.locked():
            data = self._file.read() or {}
            owed = data.setdefault("owed", {})
            entry = owed.get(open_id)
            if entry is not None:
                change(entry)
                data.setdefault("version", 1)
                self._file.write(data)

    def open_ids(self) -> list[str]:
        return sorted(self._entries())

    def get(self, open_id: str) -> dict[str, Any] | None:
        return self._entries().get(open_id)

    def add(self, open_id: str, token_set: TokenSet, request_ids: Sequence[int], *, since: datetime) -> None:
        with self._file.locked():
            data = self._file.read() or {}
            data.setdefault("version", 1)
            data.setdefault("owed", {})[open_id] = {
                "token": self._sealed(token_set), "request_ids": [int(r) for r in request_ids],
                "since": since.isoformat(), "attempts": 0, "last_error": None}
            self._file.write(data)

    def update_token(self, open_id: str, token_set: TokenSet) -> None:
        self._change(open_id, lambda e: e.update(token=self._sealed(token_set)))

    def drop_request(self, open_id: str, request_id: int) -> None:
        self._change(open_id, lambda e: e.update(request_ids=[r for r in e.get("request_ids") or []
                                                              if r != request_id]))

    def note_failure(self, open_id: str, error: str, at: datetime) -> None:
        self._change(open_id, lambda e: e.update(attempts=int(e.get("attempts") or 0) + 1, last_error=error,
                                                 last_attempt_at=at.isoformat()))

    def remove(self, open_id: str) -> None:
        with self._file.locked():
            data = self._file.read()
            if data and open_id in (data.get("owed") or {}):
                del data["owed"][open_id]
                self._file.write(data)


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
