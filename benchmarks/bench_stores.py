"""Cost of one token refresh and one transfer update as the number of users grows (issue 15, part 7).

Run ``.venv/bin/python benchmarks/bench_stores.py`` (``--users 100,1000,10000 --repeat 30``). For each
size, the same users (one token pair and one transfer each) are put into

- the JSON store of earlier versions (``api/filestore.py::JsonFile``, one document rewritten whole at
  every change), driven exactly as ``TokenStore.put`` / ``TransferStore.save`` drove it: lock, read and
  parse the file, change one entry, write it all to a temp file, fsync, rename;
- the SQLite store (``api/stores.py``, the default now): one row per user and per transfer;
- with ``--pg-url postgresql://…``, the PostgreSQL store too.

and timed on ``put`` (a token refresh writes the rotated pair), ``get`` (every API call of a user reads
its token) and ``save`` (every transfer step). Each case runs ``--repeat`` times; the fastest counts
(timings on a shared machine are noisy), the median is shown too. Bytes written per update: the file
size for JSON, the WAL growth for SQLite. Prints one table and the ratios old/new at each size and
new(largest)/new(smallest); exits 1 when an update at the largest size costs 3x or more what it costs at
the smallest (``--no-check`` to always exit 0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet  # noqa: E402

from tiktok_portability_source.api.auth import TokenSet, TokenStore  # noqa: E402
from tiktok_portability_source.api.filestore import JsonFile  # noqa: E402
from tiktok_portability_source.api.transfers import Transfer, TransferStore  # noqa: E402

T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def token(open_id: str, n: int) -> TokenSet:
    return TokenSet.from_response({"access_token": f"act.{open_id}-{n:06d}-" + "a" * 60, "expires_in": 86400,
                                   "open_id": open_id, "refresh_expires_in": 31536000,
                                   "refresh_token": f"rft.{open_id}-{n:06d}-" + "r" * 60,
                                   "scope": "user.info.basic,portability.all.ongoing"}, T0)


def transfer(open_id: str) -> Transfer:
    return Transfer(open_id, f"{open_id}-l", ["all_data"], "json", "ongoing", "pending", T0.isoformat(),
                    request_id=abs(hash(open_id)) % 10**15, archive_path=f"/srv/state/archives/{open_id}/1.zip")


def users_of(n: int) -> list[str]:
    return [f"-000{i:07d}abcdefghijklmnop" for i in range(n)]  # TikTok open_ids are ~40 opaque characters


class OldStores:
    """The JSON stores as ``TokenStore``/``TransferStore`` used them before (same JsonFile, same steps)."""

    def __init__(self, folder: Path, users: list[str]) -> None:
        self.tokens = JsonFile(folder / "tokens.json", "token store")
        self.transfers = JsonFile(folder / "transfers.json", "transfer store")
        self.tokens.write({"version": 1, "users": {
            u: {"token": token(u, 1).to_json(), "metadata": {"authorized_at": T0.isoformat()}} for u in users}})
        self.transfers.write({"version": 1, "transfers": {t.local_id: asdict(t) for t in map(transfer, users)}})

    def put(self, token_set: TokenSet) -> None:
        with self.tokens.locked():
            data = self.tokens.read() or {}
            entry = data.setdefault("users", {}).setdefault(token_set.open_id, {})
            entry["token"] = token_set.to_json()
            meta = entry.setdefault("metadata", {})
            for mark in ("revoked", "needs_reauth", "reauth_reason"):
                meta.pop(mark, None)
            self.tokens.write(data)

    def get(self, open_id: str) -> TokenSet | None:
        entry = (self.tokens.read() or {}).get("users", {}).get(open_id) or {}
        return TokenSet.from_json(entry["token"]) if entry.get("token") else None

    def save(self, t: Transfer) -> None:
        with self.transfers.locked():
            data = self.transfers.read() or {"version": 1, "transfers": {}}
            data.setdefault("transfers", {})[t.local_id] = asdict(t)
            self.transfers.write(data)

    def bytes_per_update(self) -> int:
        return self.tokens.path.stat().st_size


class NewStores:
    def __init__(self, folder: Path, users: list[str], url: str | None, key: str) -> None:
        # the earlier layout moved in, as on an upgrade (this also fills the store in two transactions)
        OldStores(folder, users)
        self.store = TokenStore(folder / "tokens.json", url=url or "", key=key)
        self.transfers = TransferStore(folder / "transfers.json", url=url or "")
        assert len(self.store.open_ids()) == len(users)
        self.put, self.get, self.save = self.store.put, self.store.get, self.transfers.save

    def bytes_per_update(self) -> int | None:
        if self.store.backend.dialect != "sqlite":
            return None
        self.store.backend.scrub()
        self.put(token(users_of(1)[0], 99))
        return (self.store.backend.path.with_name("store.sqlite3-wal")).stat().st_size

    def close(self) -> None:
        self.store.close()
        self.transfers.close()


def timed(action: Callable[[int], object], repeat: int) -> tuple[float, float]:
    times = []
    for n in range(repeat):
        started = time.perf_counter()
        action(n)
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def measure(kind: str, stores: OldStores | NewStores, users: list[str], repeat: int) -> dict[str, float]:
    user = users[len(users) // 2]
    t = transfer(user)
    out: dict[str, float] = {}
    out["put"], out["put_median"] = timed(lambda n: stores.put(token(user, n + 2)), repeat)
    out["get"], out["get_median"] = timed(lambda n: stores.get(user), repeat)

    def save(n: int) -> None:
        t.checks = n
        stores.save(t)

    out["save"], out["save_median"] = timed(save, repeat)
    got = stores.get(user)
    assert got is not None and got.access_token == token(user, repeat + 1).access_token, kind
    out["bytes"] = stores.bytes_per_update() or 0
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="100,1000,10000", help="sizes, comma-separated (default 100,1000,10000)")
    parser.add_argument("--repeat", type=int, default=30, help="runs per case; the fastest counts (default 30)")
    parser.add_argument("--pg-url", help="also measure the PostgreSQL store in this (empty) database")
    parser.add_argument("--workdir", type=Path, help="where the stores are built (default: a temp folder)")
    parser.add_argument("--no-check", action="store_true", help="exit 0 even when an update grows with the users")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.users.split(",")]
    key = Fernet.generate_key().decode()
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stores-", dir=args.workdir) as tmp:
        for size in sizes:
            users = users_of(size)
            folder = Path(tmp) / f"json-{size}"
            results[("json", size)] = measure("json", OldStores(folder, users), users, args.repeat)
            new = NewStores(Path(tmp) / f"sqlite-{size}", users, None, key)
            results[("sqlite", size)] = measure("sqlite", new, users, args.repeat)
            new.close()
            if args.pg_url:
                new = NewStores(Path(tmp) / f"pg-{size}", users, args.pg_url, key)
                with new.store.backend.transaction("bench") as tx:  # each size starts from empty tables
                    tx.execute("DELETE FROM tiktok_portability_tokens WHERE open_id NOT IN "
                               f"({','.join('?' * len(users))})", users)
                results[("postgres", size)] = measure("postgres", new, users, args.repeat)
                new.close()
            print(f"measured {size} users", file=sys.stderr, flush=True)

    kinds = ["json", "sqlite"] + (["postgres"] if args.pg_url else [])
    ms = lambda s: f"{s * 1000:9.3f}"  # noqa: E731
    print(f"\none update at N users, fastest of {args.repeat} (median in brackets), ms; bytes written per token update")
    print(f"{'store':<9} {'users':>7} {'put (refresh)':>22} {'get':>22} {'save (transfer)':>22} {'bytes/update':>13}")
    for kind in kinds:
        for size in sizes:
            r = results[(kind, size)]
            print(f"{kind:<9} {size:>7} " + " ".join(f"{ms(r[op])} [{ms(r[op + '_median'])}]" for op in ("put", "get", "save"))
                  + f" {int(r['bytes']) or '-':>13}")
    print("\nold JSON store / new store, same size (how many times slower the old one is):")
    for kind in kinds[1:]:
        for size in sizes:
            old, new = results[("json", size)], results[(kind, size)]
            print(f"  {kind:<8} {size:>7} users: put {old['put'] / new['put']:7.1f}x  get {old['get'] / new['get']:7.1f}x"
                  f"  save {old['save'] / new['save']:7.1f}x")
    print(f"\ngrowth from {sizes[0]} to {sizes[-1]} users (1.0 = constant):")
    failed = False
    for kind in kinds:
        small, large = results[(kind, sizes[0])], results[(kind, sizes[-1])]
        growth = {op: large[op] / small[op] for op in ("put", "get", "save")}
        print(f"  {kind:<8} " + "  ".join(f"{op} {g:6.1f}x" for op, g in growth.items()))
        if kind != "json" and any(g >= 3 for op, g in growth.items() if op in ("put", "save")):
            failed = True
    if failed:
        print("\nFAIL: an update in the new store grows with the number of users", file=sys.stderr)
    return 1 if failed and not args.no_check else 0


if __name__ == "__main__":
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    raise SystemExit(main())
