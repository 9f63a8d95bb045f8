"""The per-user transfer state machine: add → check → download → load, durable at every step.

Each step is committed to the transfer store (one row per transfer) before the next one starts, so a run
killed anywhere is finished by the next run:

    (none) ──add──► adding ──id saved──► pending ──check: ready──► ready ──download──► downloaded ──load──► loaded
                      │                    └──check: expired/cancelled──► expired / cancelled
                      └── died or ambiguous before the id was saved ──► add_unknown

A ``.single`` scope is spent by the Add that uses it (``Transfer.spends``), so ``adding``/``add_unknown``
is never followed by a second Add for a single grant: the user is told to re-authorize instead. A
single scope left over beside the spent one (``activity.single`` beside ``all.single``) is used by the
next Add once the first request is finished; the ongoing part of a mixed grant keeps adding.
``.ongoing`` grants add again once ``min_interval_seconds`` have passed since the last request.

An ``add_unknown`` whose request TikTok did create is found again by its ``portability.download.ready``
webhook (``Syncer.adopt``). A ``rejected`` Add (e.g. a user outside the EEA/UK) is not retried for
24 h, doubling up to 7 days (``Transfer.next_add_at``). TikTok deletes an export about 4 days after it
became ready, so a ``ready``/``downloaded`` transfer close to that is warned about (``expiry_warning``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from .. import ArchiveInput, settings
from ..archive import file_sha256
from .client import PortabilityClient
from ..crash import crash_point as _crash_point
from ..errors import AmbiguousAddError, APIError, DownloadError, ReauthorizationRequired, TikTokError, TokenStoreError
from .filestore import JsonFile, shred_store_file
from .stores import TRANSFERS, Backend, MigratingStore, legacy_json_for, open_backend

log = logging.getLogger(__name__)

ADDING, ADD_UNKNOWN, PENDING, READY, DOWNLOADED = "adding", "add_unknown", "pending", "ready", "downloaded"
LOADED, EXPIRED, CANCELLED, FAILED, STOPPED, REJECTED = "loaded", "expired", "cancelled", "failed", "stopped", "rejected"
IN_FLIGHT = frozenset({PENDING, READY, DOWNLOADED})
NEEDS_ATTENTION = frozenset({ADD_UNKNOWN, FAILED})
POLL_FIRST_SECONDS, POLL_MAX_SECONDS = 10, 300
# a refused Add (e.g. a user outside the EEA/UK) is not tried again for this long, doubling per refusal
REJECTED_BACKOFF_FIRST, REJECTED_BACKOFF_MAX = timedelta(hours=24), timedelta(days=7)
# TikTok keeps a ready export for 4 days (docs/tiktok-api.md §7); warn when less than a day is left
READY_LIFETIME, EXPIRY_WARNING = timedelta(days=4), timedelta(hours=24)

StopBefore = Literal["download", "load"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value else None


@dataclass
class Transfer:
    """One portability request of one user, as persisted."""

    open_id: str
    local_id: str
    categories: list[str]
    data_format: str
    grant: str  # "single" | "ongoing"
    state: str
    created_at: str
    request_id: int | None = None
    apply_time: str | None = None
    collect_time: str | None = None
    checks: int = 0
    next_check_at: str | None = None
    archive_path: str | None = None
    archive_sha256: str | None = None
    archive_size: int | None = None
    rows_loaded: int | None = None
    loaded_at: str | None = None
    error: str | None = None
    updated_at: str | None = None
    load_attempts: int = 0  # loads started for this archive; see Syncer.begin_load
    spends: list[str] | None = None  # the single scopes this Add uses up (None in older records: all of them)
    next_add_at: str | None = None  # a refused Add: no new Add for the user before this time
    ready_at: str | None = None  # when this code learned the export is ready (its 4 days run from about then)

    @property
    def finished(self) -> bool:
        return self.state not in IN_FLIGHT and self.state != ADDING

    def archive_input(self) -> ArchiveInput:
        """The downloaded archive, with what the API knows better than the archive (owner, export time)."""
        exported = self.collect_time or self.apply_time
        return ArchiveInput(path=Path(self.archive_path or ""), user_id=self.open_id,
                            exported_at=datetime.fromisoformat(exported) if exported else None)


class TransferStore(MigratingStore):
    """All users' transfers, one row each (``api/stores.py``): not a secret, but personal metadata,
    so the file is owner-only too, and ``forget_user`` leaves nothing of a user in it.

    ``path`` is the configured ``transfer_store`` (``…/transfers.json``, the file of earlier versions,
    moved in on first use and deleted; the rows go to ``store.sqlite3`` beside it) or the SQLite file
    itself; with ``store_url`` the rows live in PostgreSQL. ``save`` writes one row: its cost does not
    grow with the number of transfers."""

    def __init__(self, path: str | os.PathLike[str], *, url: str | None = None, backend: Backend | None = None) -> None:
        super().__init__(legacy_json_for(path, "transfers"), backend or open_backend(path, url=url))

    def __repr__(self) -> str:
        return f"TransferStore({self.location!r})"

    def _migrate(self) -> None:
        """``transfers.json`` of an earlier version, in one transaction; then the file is deleted."""
        legacy = JsonFile(self.legacy_path, "transfer store")
        with legacy.locked():
            data = legacy.read()
            if data is not None:
                records = data.get("transfers", {})
                if not isinstance(records, dict):
                    raise TokenStoreError(f"transfer store {self.legacy_path} has an unexpected shape")
                try:
                    rows = [_row(Transfer(**record)) for record in records.values()]
                except TypeError:
                    raise TokenStoreError(f"transfer store {self.legacy_path} has an unexpected shape") from None
                with self._backend.transaction("transfers") as tx:
                    for row in rows:
                        tx.execute(f"INSERT INTO {TRANSFERS} (local_id, open_id, request_id, created_at, record) "
                                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (local_id) DO NOTHING", row)
                _crash_point("migrated_transfers")
                log.info("moved %d transfer record(s) from %s into the transfer store %s", len(rows),
                         self.legacy_path, self.location)
            shred_store_file(self.legacy_path)
        with contextlib.suppress(OSError):
            legacy.lock_path.unlink()

    def _select(self, where: str = "", params: Sequence[Any] = ()) -> list[Transfer]:
        if not self._ready():
            return []
        rows = self._backend.query(f"SELECT record FROM {TRANSFERS}{where}", params)
        return sorted((Transfer(**json.loads(r[0])) for r in rows), key=lambda t: (t.created_at, t.local_id))

    def all(self) -> list[Transfer]:
        return self._select()

    def for_user(self, open_id: str) -> list[Transfer]:
        return self._select(" WHERE open_id = ?", (open_id,))

    def get(self, local_id: str) -> Transfer | None:
        """The stored version of one transfer (another worker may have moved it on)."""
        found = self._select(" WHERE local_id = ?", (local_id,))
        return found[0] if found else None

    def by_request_id(self, request_id: int) -> Transfer | None:
        found = self._select(" WHERE request_id = ?", (int(request_id),))
        return found[0] if found else None

    def save(self, transfer: Transfer) -> None:
        """Insert or replace this transfer's row; committed (durably) when this returns."""
        self._ready()
        transfer.updated_at = _iso(utcnow())
        with self._backend.transaction("transfers") as tx:
            tx.execute(f"INSERT INTO {TRANSFERS} (local_id, open_id, request_id, created_at, record) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (local_id) DO UPDATE SET open_id = excluded.open_id, "
                       "request_id = excluded.request_id, created_at = excluded.created_at, record = excluded.record",
                       _row(transfer))

    def forget_user(self, open_id: str) -> int:
        """Delete every transfer of the user; nothing of them stays in the store's files."""
        if not self._ready():
            return 0
        with self._backend.transaction("transfers") as tx:
            tx.execute(f"DELETE FROM {TRANSFERS} WHERE open_id = ?", (open_id,))
            deleted = max(tx.rowcount, 0)
        if deleted:
            self._backend.scrub()
        return deleted

    def close(self) -> None:
        self._backend.close()


def _row(transfer: Transfer) -> tuple[Any, ...]:
    record = json.dumps(asdict(transfer), sort_keys=True, default=str)
    return (transfer.local_id, transfer.open_id, transfer.request_id, transfer.created_at, record)


def plan_request(scopes: Iterable[str], wanted: Sequence[str]) -> tuple[str, list[str]] | None:
    """(grant kind, categories) the user's granted scopes allow for the wanted categories.

    ``all_data`` needs ``portability.all.*``; without it we ask for every category the other scopes
    cover, so a user who granted only activity still gets their activity.
    """
    granted = {s.strip() for s in scopes if s.strip().startswith("portability.")}
    covered: dict[str, set[str]] = {"single": set(), "ongoing": set()}
    for scope in granted:
        _, kind, grant = scope.split(".", 2)
        if kind in settings.SCOPE_CATEGORIES and grant in covered:
            covered[grant] |= settings.SCOPE_CATEGORIES[kind]
    allowed = covered["single"] | covered["ongoing"]
    if "all_data" in wanted and "all_data" in allowed:
        categories = ["all_data"]
    else:
        pool = [c for c in (settings.CATEGORIES if "all_data" in wanted else wanted) if c != "all_data"]
        categories = [c for c in pool if c in allowed]
    if not categories:
        return None
    grant = "ongoing" if all(c in covered["ongoing"] for c in categories) else "single"
    return grant, categories


def single_scopes_spent(scopes: Iterable[str], categories: Sequence[str]) -> list[str]:
    """The single scopes an Add of ``categories`` uses up, as the fake models TikTok (docs/tiktok-api.md
    §3, §9.6): ongoing scopes are used first, then the broadest single scope that covers the rest."""
    held = {s.strip() for s in scopes}
    remaining = set(categories)
    for kind, cats in settings.SCOPE_CATEGORIES.items():
        if f"portability.{kind}.ongoing" in held:
            remaining -= cats
    singles = sorted((k for k in settings.SCOPE_CATEGORIES if f"portability.{k}.single" in held),
                     key=lambda k: -len(settings.SCOPE_CATEGORIES[k]))
    if not remaining:
        return []
    for kind in singles:
        if remaining <= settings.SCOPE_CATEGORIES[kind]:
            return [f"portability.{kind}.single"]
    spent = []
    for kind in singles:
        if remaining & settings.SCOPE_CATEGORIES[kind]:
            spent.append(f"portability.{kind}.single")
            remaining -= settings.SCOPE_CATEGORIES[kind]
    return spent


def _spent(transfers: Iterable[Transfer]) -> set[str]:
    """Single scopes used up by these Adds; a record from before ``spends`` existed used up every one."""
    spent: set[str] = set()
    for t in transfers:
        if t.spends is not None:
            spent.update(t.spends)
        elif t.grant == "single":
            spent.update(s for s in settings.PORTABILITY_SCOPES if s.endswith(".single"))
    return spent


def rejection_note(transfer: Transfer) -> str:
    """``status``'s and ``sync``'s words for a user whose Add was refused."""
    return f"rejected: {transfer.error}; next try after {transfer.next_add_at}"


def expiry_warning(transfer: Transfer, now: datetime) -> str | None:
    """A warning when a ``ready``/``downloaded`` export nears the end of TikTok's 4 days unloaded.

    ``ready_at`` is when this code learned of it (Check or webhook), so TikTok's clock may have
    started earlier: hence the day of margin."""
    if transfer.state not in (READY, DOWNLOADED) or not transfer.ready_at:
        return None
    deadline = datetime.fromisoformat(transfer.ready_at) + READY_LIFETIME
    left = deadline - now
    if left > EXPIRY_WARNING:
        return None
    if left <= timedelta(0):
        return (f"request {transfer.request_id} was ready at {transfer.ready_at} and has probably expired at "
                "TikTok before it was loaded")
    return (f"request {transfer.request_id} expires at TikTok in about {left.total_seconds() / 3600:.0f} h "
            f"({_iso(deadline)}) and is not loaded yet")


@dataclass
class Outcome:
    """What one sync step did for one user: one line in the CLI, one assertion in tests."""

    open_id: str
    state: str
    message: str
    transfer: Transfer | None = None

    @property
    def waiting(self) -> bool:
        return self.state in (PENDING, READY, DOWNLOADED, ADDING)


@dataclass
class Syncer:
    """Advances users' transfers; ``client_for`` and ``load`` are injected so tests use the fake API."""

    transfers: TransferStore
    client_for: Callable[[str], PortabilityClient]
    scopes_of: Callable[[str], tuple[Sequence[str], datetime | None]]  # granted scopes, when granted
    load: Callable[[Transfer], int]  # loads the downloaded archive, returns rows added
    archive_dir: Path
    categories: Sequence[str] = ("all_data",)
    data_format: str = "json"
    min_interval: timedelta = timedelta(seconds=settings.ONGOING_MIN_INTERVAL_SECONDS)
    keep_archives: bool = False
    clock: Callable[[], datetime] = utcnow
    is_revoked: Callable[[str], bool] = field(default=lambda open_id: False)
    max_load_attempts: int = 3

    # -- one user -----------------------------------------------------------------------------
    def step(self, open_id: str, *, poll_now: bool = False, stop_before: StopBefore | None = None) -> Outcome:
        """Advance one user's transfer as far as it goes without waiting.

        ``stop_before="download"`` (a sensor tick: no big transfer) or ``"load"`` (the orchestrator
        loads with its own dlt integration) leaves the transfer ``ready`` / ``downloaded``.
        """
        if self.is_revoked(open_id):
            self._stop_in_flight(open_id, "authorization removed")
            return Outcome(open_id, STOPPED, "authorization removed or expired: run `tiktok-portability auth` again")
        try:
            with self.client_for(open_id) as client:  # one HTTP connection pool per step, always closed
                return self._advance(open_id, client, poll_now, stop_before)
        except ReauthorizationRequired as exc:
            return Outcome(open_id, STOPPED, f"{exc}: run `tiktok-portability auth` again")
        except TikTokError as exc:
            log.warning("user %s: %s", open_id, exc)
            return Outcome(open_id, "error", str(exc))

    def _advance(self, open_id: str, client: PortabilityClient, poll_now: bool,
                 stop_before: StopBefore | None) -> Outcome:
        transfer = self._current(open_id)
        warning = expiry_warning(transfer, self.clock()) if transfer is not None else None
        if warning:
            log.warning("user %s: %s", open_id, warning)
        if transfer is None:
            outcome = self._maybe_add(open_id, client)
            if outcome is not None:
                return outcome
            transfer = self._current(open_id)
            assert transfer is not None
        if transfer.state == PENDING:
            if not poll_now and transfer.next_check_at and self.clock() < datetime.fromisoformat(transfer.next_check_at):
                return Outcome(open_id, PENDING, f"request {transfer.request_id} pending; next check "
                               f"at {transfer.next_check_at}", transfer)
            self._check(client, transfer)
        if transfer.state == READY and stop_before != "download":
            self._download(client, transfer)
        if transfer.state == DOWNLOADED and stop_before is None:
            self._load(transfer)
        return self._describe(transfer)

    def _current(self, open_id: str) -> Transfer | None:
        """The user's unfinished transfer; an ``adding`` left by a dead run becomes ``add_unknown``."""
        for transfer in reversed(self.transfers.for_user(open_id)):
            if transfer.state == ADDING:
                transfer.state = ADD_UNKNOWN
                transfer.error = "a previous run stopped during Add; its request id is unknown"
                self.transfers.save(transfer)
                continue
            if transfer.state in IN_FLIGHT:
                return transfer
        return None

    def _since_grant(self, open_id: str) -> list[Transfer]:
        _, granted_at = self.scopes_of(open_id)
        return [t for t in self.transfers.for_user(open_id)
                if granted_at is None or datetime.fromisoformat(t.created_at) >= granted_at]

    def rejection_backoff(self, open_id: str) -> Transfer | None:
        """The user's last Add was refused and its back-off has not run out (a new authorization ends it)."""
        since_grant = self._since_grant(open_id)
        last = since_grant[-1] if since_grant else None
        if last is None or last.state != REJECTED or not last.next_add_at:
            return None
        return last if self.clock() < datetime.fromisoformat(last.next_add_at) else None

    def _rejection_delay(self, since_grant: Sequence[Transfer]) -> timedelta:
        """24 h after the first refusal in a row, doubling per refusal up to 7 days."""
        refusals = 0
        for t in reversed(since_grant):
            if t.state != REJECTED or not t.next_add_at:
                break
            refusals += 1
        return min(REJECTED_BACKOFF_FIRST * 2 ** refusals, REJECTED_BACKOFF_MAX)

    def _maybe_add(self, open_id: str, client: PortabilityClient) -> Outcome | None:
        scopes, granted_at = self.scopes_of(open_id)
        blocked = self.rejection_backoff(open_id)
        if blocked is not None:  # TikTok refused the last Add: asking again every sync only repeats that
            return Outcome(open_id, REJECTED, rejection_note(blocked), blocked)
        mine = self.transfers.for_user(open_id)
        history = [t for t in mine if t.state != REJECTED]
        since_grant = [t for t in mine if granted_at is None or datetime.fromisoformat(t.created_at) >= granted_at]
        used = [t for t in since_grant if t.state != REJECTED]
        # single scopes the earlier Adds of this authorization used up are gone; what is left (a narrower
        # single, the ongoing part of a mixed grant) may still be used (docs/tiktok-api.md §3)
        spent = _spent(used)
        plan = plan_request([s for s in scopes if s not in spent], self.categories)
        if plan is None and not used:
            return Outcome(open_id, "not_authorized", f"the granted scopes ({', '.join(scopes) or 'none'}) cover "
                           f"none of {', '.join(self.categories)}")
        if plan is None or (plan[0] == "single" and used and used[-1].state in NEEDS_ATTENTION):
            last = used[-1]
            if last.state in NEEDS_ATTENTION:
                return Outcome(open_id, last.state, f"{last.error}; the one-time grant may be spent: "
                               "re-authorize to request again", last)
            return Outcome(open_id, "done", "one-time grant already used "
                           f"(request {last.request_id}: {last.state}); re-authorize for another export", last)
        grant, categories = plan
        if grant == "ongoing" and history:
            due = datetime.fromisoformat(history[-1].created_at) + self.min_interval
            if self.clock() < due:
                return Outcome(open_id, "scheduled", f"next request due at {_iso(due)}", history[-1])
        client.ensure_token()  # a due refresh runs before the intent is saved, so a kill during it leaves no `adding`
        transfer = Transfer(open_id, uuid.uuid4().hex, categories, self.data_format, grant, ADDING, _iso(self.clock()),
                            spends=single_scopes_spent([s for s in scopes if s not in spent], categories))
        self.transfers.save(transfer)  # intent first: a crash from here on never leads to a second Add
        try:
            transfer.request_id = client.add(categories, self.data_format)
        except AmbiguousAddError as exc:
            transfer.state, transfer.error = ADD_UNKNOWN, f"Add may or may not have reached TikTok ({exc})"
            self.transfers.save(transfer)
            return Outcome(open_id, ADD_UNKNOWN, transfer.error, transfer)
        except APIError as exc:
            transfer.state, transfer.error = REJECTED, str(exc)
            if not exc.retryable:  # a refusal, not a passing fault (a rate limit that outlived the retries)
                transfer.next_add_at = _iso(self.clock() + self._rejection_delay(since_grant))
            self.transfers.save(transfer)
            return Outcome(open_id, REJECTED, f"Add refused: {exc}"
                           + (f"; next try after {transfer.next_add_at}" if transfer.next_add_at else ""), transfer)
        except TikTokError as exc:
            # Every other error of ours proves TikTok did not process the Add: the token could not be
            # had or was refused (ReauthorizationRequired), the connection was never made
            # (TransportError: only unsent Adds are retried), or the config is incomplete. Left as
            # ``adding`` it would turn into ``add_unknown`` and block the user (a spent one-time grant,
            # or the ongoing interval) although no request exists.
            transfer.state, transfer.error = REJECTED, f"Add not processed: {exc}"
            self.transfers.save(transfer)
            raise
        transfer.state = PENDING
        self.transfers.save(transfer)
        log.info("user %s: requested %s (%s, %s grant) as request %s", open_id, ",".join(categories),
                 self.data_format, grant, transfer.request_id)
        _crash_point("after_add")
        return None

    def _check(self, client: PortabilityClient, transfer: Transfer) -> None:
        assert transfer.request_id is not None
        status = client.check(transfer.request_id)
        transfer.checks += 1
        transfer.apply_time = _iso(status.apply_time) or transfer.apply_time
        transfer.collect_time = _iso(status.collect_time) or transfer.collect_time
        if status.ready:
            transfer.state, transfer.next_check_at = READY, None
            transfer.ready_at = transfer.ready_at or _iso(self.clock())
        elif status.status == settings.STATUS_EXPIRED:
            transfer.state = EXPIRED
        elif status.status == settings.STATUS_CANCELLED:
            transfer.state = CANCELLED
        else:
            wait = min(POLL_FIRST_SECONDS * 2 ** (transfer.checks - 1), POLL_MAX_SECONDS)
            transfer.next_check_at = _iso(self.clock() + timedelta(seconds=wait))
        self.transfers.save(transfer)

    def _download(self, client: PortabilityClient, transfer: Transfer) -> None:
        assert transfer.request_id is not None
        dest = archive_folder(self.archive_dir, transfer.open_id) / f"{transfer.request_id}.zip"
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            archive = client.download(transfer.request_id, dest)
        except DownloadError as exc:
            transfer.error = f"download failed, will retry: {exc}"
            self.transfers.save(transfer)
            if not exc.retryable:
                raise
            return
        except APIError as exc:  # e.g. expired between check and download: check again
            transfer.state, transfer.error = PENDING, f"download refused ({exc}); checking again"
            self.transfers.save(transfer)
            return
        transfer.archive_path, transfer.archive_sha256, transfer.archive_size = str(archive.path), archive.sha256, archive.size
        transfer.state, transfer.error = DOWNLOADED, None
        self.transfers.save(transfer)
        _crash_point("after_download")

    def _load(self, transfer: Transfer) -> None:
        if not self.archive_intact(transfer) or not self.begin_load(transfer):
            if transfer.state == FAILED:
                raise TikTokError(transfer.error or "load failed")
            return
        try:
            rows = self.load(transfer)
        except Exception as exc:  # kept on disk for inspection; never a second Add
            self.load_failed(transfer, exc)
            raise TikTokError(transfer.error or "load failed") from None
        self.loaded(transfer, rows)

    # -- the load step in parts: ``sync`` batches loads, orchestrators run the load themselves ------
    def archive_intact(self, transfer: Transfer) -> bool:
        """The downloaded archive is still there, unchanged; otherwise the transfer goes back to ``ready``."""
        path = Path(transfer.archive_path or "")
        if path.exists() and file_sha256(path) == transfer.archive_sha256:
            return True
        transfer.state, transfer.error = READY, "downloaded archive missing or changed; downloading again"
        self.transfers.save(transfer)
        return False

    def begin_load(self, transfer: Transfer) -> bool:
        """Count one load attempt before it starts (a worker killed mid-load still used it up); once
        ``max_load_attempts`` are used the transfer is ``failed`` instead and False is returned, so a
        permanently broken export stops coming back on every run or orchestrator tick."""
        if transfer.load_attempts >= self.max_load_attempts:
            last = transfer.error or ("the last attempt did not finish or record its error "
                                      "(worker killed? see the orchestrator's log)")
            transfer.state = FAILED
            transfer.error = f"gave up after {transfer.load_attempts} load attempts: {last}"
            self.transfers.save(transfer)
            log.warning("user %s: request %s %s", transfer.open_id, transfer.request_id, transfer.error)
            return False
        transfer.load_attempts += 1
        self.transfers.save(transfer)
        return True

    def refund_attempt(self, transfer: Transfer) -> None:
        """Take back an attempt that failed for a reason not of this export (a batch with a broken one)."""
        transfer.load_attempts = max(0, transfer.load_attempts - 1)
        self.transfers.save(transfer)

    def load_failed(self, transfer: Transfer, exc: BaseException | str) -> None:
        """Record why a load failed: ``downloaded`` again (next run retries) or, after the last attempt, ``failed``."""
        attempts = max(transfer.load_attempts, 1)
        transfer.load_attempts = attempts
        if attempts >= self.max_load_attempts:
            transfer.state = FAILED
            transfer.error = f"load failed {attempts} time(s), giving up: {exc}"
            log.warning("user %s: request %s %s", transfer.open_id, transfer.request_id, transfer.error)
        else:
            transfer.state = DOWNLOADED
            transfer.error = f"load attempt {attempts}/{self.max_load_attempts} failed, will retry: {exc}"
        self.transfers.save(transfer)

    def loaded(self, transfer: Transfer, rows: int) -> None:
        """The load is in the destination: ``loaded``, and the archive removed unless ``keep_archives``."""
        transfer.rows_loaded = rows
        transfer.state, transfer.loaded_at, transfer.error = LOADED, _iso(self.clock()), None
        if not self.keep_archives and transfer.archive_path:
            Path(transfer.archive_path).unlink(missing_ok=True)
            transfer.archive_path = None
        self.transfers.save(transfer)

    def describe(self, transfer: Transfer) -> Outcome:
        return self._describe(transfer)

    def _describe(self, transfer: Transfer) -> Outcome:
        messages = {
            PENDING: f"request {transfer.request_id} pending (checked {transfer.checks}x)",
            READY: f"request {transfer.request_id} ready; {transfer.error or 'download next run'}",
            LOADED: f"request {transfer.request_id} loaded: {transfer.rows_loaded} new rows",
            EXPIRED: f"request {transfer.request_id} expired before it was downloaded",
            CANCELLED: f"request {transfer.request_id} was cancelled",
        }
        return Outcome(transfer.open_id, transfer.state, messages.get(transfer.state, transfer.error or transfer.state),
                       transfer)

    def _stop_in_flight(self, open_id: str, reason: str) -> None:
        for transfer in self.transfers.for_user(open_id):
            if not transfer.finished:
                transfer.state, transfer.error = STOPPED, reason
                self.transfers.save(transfer)

    # -- webhooks -----------------------------------------------------------------------------
    def mark_ready(self, request_id: int) -> bool:
        """``portability.download.ready``: the next step downloads without polling (idempotent)."""
        transfer = self.transfers.by_request_id(request_id)
        if transfer is None or transfer.state != PENDING:
            return False
        transfer.state, transfer.next_check_at = READY, None
        transfer.ready_at = transfer.ready_at or _iso(self.clock())
        self.transfers.save(transfer)
        return True

    def adopt(self, request_id: int) -> Transfer | None:
        """``portability.download.ready`` for a request id no transfer has: the lost reply of an Add
        that ended ``add_unknown`` (TikTok created the request, then the answer failed).

        Check works only with the owner's token, so the id is checked with the token of each user whose
        last Add is unknown (newest first); the first user whose Check succeeds owns it, and the id is
        written into that transfer, which then goes on like any other (``ready``/``pending``)."""
        if self.transfers.by_request_id(request_id) is not None:
            return None
        tried: set[str] = set()
        for transfer in reversed(self.transfers.all()):
            if (transfer.state != ADD_UNKNOWN or transfer.request_id is not None or transfer.open_id in tried
                    or self.is_revoked(transfer.open_id)):
                continue
            tried.add(transfer.open_id)
            candidate = replace(transfer, request_id=request_id, state=PENDING, next_check_at=None, error=None)
            try:
                with self.client_for(transfer.open_id) as client:
                    self._check(client, candidate)  # saves only once Check answered for this user's token
            except TikTokError as exc:  # another user's request (invalid_params), or this user can't be asked now
                log.debug("request %s is not user %s's: %s", request_id, transfer.open_id, exc)
                continue
            log.warning("user %s: request %s (from a download.ready webhook) is the lost reply of an ambiguous "
                        "Add; adopted as %s", transfer.open_id, request_id, candidate.state)
            return candidate
        return None


def archive_folder(archive_dir: Path, open_id: str) -> Path:
    """Where a user's downloaded archives go: a file-system-safe name (open_ids are opaque)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in open_id).strip(".")
    return archive_dir / (cleaned or hashlib.sha256(open_id.encode()).hexdigest()[:16])
