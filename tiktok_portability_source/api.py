"""API mode wired together: config → OAuth + token store → per-user transfers → the archive loader.

The CLI (``auth``, ``sync``, ``status``, ``webhook``, ``forget``), the demo and the orchestrator
definitions all go through ``ApiService`` so there is one code path from a token to rows.
"""

from __future__ import annotations

import logging
import time
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import dlt
import httpx

from . import export_requests
from .auth import OAuthClient, TokenManager, TokenStore, authorize_url, catch_redirect, code_challenge, new_code_verifier, new_state, parse_callback, redirect_target
from .client import PortabilityClient
from .config import ApiConfig
from .errors import ReauthorizationRequired, TikTokError
from .loader import load_archives
from .transfers import Outcome, Syncer, Transfer, TransferStore, utcnow
from .webhooks import WebhookEvent

log = logging.getLogger(__name__)

DEFAULT_SCOPES = ("user.info.basic", "portability.all.ongoing")


class ConfigMissing(TikTokError):
    """A required config key is not set; the message names the key and where to set it."""


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
        self.store = TokenStore(config.token_store)
        self.transfers = TransferStore(config.transfer_store)
        self._oauth: OAuthClient | None = None
        self._pipeline: dlt.Pipeline | None = None
        self._recorded: list[dict[str, Any]] | None = None  # what record_requests last loaded
        self.syncer = Syncer(
            transfers=self.transfers, client_for=self.client_for, scopes_of=self.scopes_of, load=self._load,
            archive_dir=config.archive_dir, categories=config.categories, data_format=config.data_format,
            min_interval=timedelta(seconds=config.min_interval_seconds), keep_archives=config.keep_archives,
            clock=clock, is_revoked=lambda open_id: bool(self.store.metadata(open_id).get("revoked")),
        )

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def oauth(self) -> OAuthClient:
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
                                 on_token_invalid=provider.force_refresh, transport=self.transport, sleep=self.sleep)

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
        """One step for every user; one user's failure never stops the others."""
        outcomes = []
        for open_id in users or self.users():
            try:
                outcomes.append(self.syncer.step(open_id, poll_now=poll_now))
            except ReauthorizationRequired as exc:
                outcomes.append(Outcome(open_id, "stopped", str(exc)))
        self.record_requests()
        return outcomes

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
        return sum(n for t, n in result.added.items() if t not in ("archives", "unparsed_sections"))

    def record_requests(self) -> None:
        """Upsert every transfer into ``export_requests`` (small; one load per sync that changed one)."""
        transfers = [asdict(t) for t in self.transfers.all() if t.request_id is not None or t.state != "adding"]
        if transfers and transfers != self._recorded:  # a pipeline run costs ~1 s: skip when nothing moved
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
