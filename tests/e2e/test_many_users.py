"""Many users at once: ``sync`` for 200 authorized users against the fake TikTok API on loopback (real
sockets), with a rate limit the fake enforces. The users' API calls run concurrently under one shared
limiter, the loads are batched one run at a time, and a revoked user fails alone."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, deque
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from support.api_env import ApiEnv, start_env, stop_env

from tiktok_portability_source.api.auth import TokenSet, TokenStore
from tiktok_portability_source.fake.api import FakeConfig
from tiktok_portability_source.fake.generator import Sizes
from tiktok_portability_source.api.scheduling import DATA_TABLES

USERS = 200
LIMIT, WINDOW = 25, 4.0  # per endpoint: 200 adds need >= 8 windows, so the limiter must hold them back
TINY = Sizes(**{f.name: 3 for f in dataclasses.fields(Sizes)})  # every table, a few rows each: loads stay quick


@pytest.fixture
def env(tmp_path: Path):
    api = start_env(tmp_path, FakeConfig(rate_limit_per_minute=LIMIT, rate_limit_window_seconds=WINDOW), sizes=TINY)
    yield api
    stop_env(api)


def store_tokens(env: ApiEnv, users: list[str]) -> None:
    """Tokens as the fake's token endpoint issues them, written to the store in one go (the OAuth dance
    for 200 users is covered elsewhere and would only slow this test down)."""
    now = datetime.fromtimestamp(env.fake.now(), tz=timezone.utc)
    store = TokenStore(env.token_store)
    with store.locked():
        for open_id in users:
            env.fake.add_user(open_id, username=f"user_{open_id}")
            body = env.fake.grant_tokens(open_id, ["user.info.basic", "portability.all.ongoing"])
            store.put(TokenSet.from_response(body, now), authorized_at=now.isoformat())


def per_user_counts(db: Path) -> dict[str, Counter[str]]:
    """Rows per user and table, one grouped query per table."""
    out: dict[str, Counter[str]] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                             "WHERE table_schema = 'tiktok'").fetchall()}
        for table in DATA_TABLES:
            if table in present:
                for user, n in con.execute(f'SELECT user_id, COUNT(*) FROM tiktok."{table}" GROUP BY 1').fetchall():
                    out.setdefault(user, Counter())[table] = n
    return out


def max_per_window(times: list[float], window: float) -> int:
    """The most requests that arrived within any ``window`` seconds (the fake's sliding window)."""
    recent: deque[float] = deque()
    most = 0
    for at in sorted(times):
        recent.append(at)
        while recent[0] <= at - window:
            recent.popleft()
        most = max(most, len(recent))
    return most


def test_200_users_concurrently_under_one_rate_limit(env: ApiEnv):
    users = [f"user-{i:03d}" for i in range(USERS)]
    store_tokens(env, users)
    revoked = users[17]
    env.fake.revoke_user(revoked)  # disconnected in TikTok; our stored token still looks valid

    service = env.service(rate_limit=LIMIT, rate_limit_window_seconds=WINDOW, workers=4)
    service.sleep = time.sleep  # real time: the fake's window runs on the wall clock here
    started = time.perf_counter()
    outcomes = {o.open_id: o for o in service.sync_once()}
    seconds = time.perf_counter() - started

    # every user has an outcome; the revoked one failed alone and is marked for re-authorization
    assert set(outcomes) == set(users)
    assert outcomes[revoked].state == "stopped" and "authorize" in outcomes[revoked].message
    meta = service.store.metadata(revoked)
    assert meta["revoked"] is True and meta["needs_reauth"] is True
    assert {o.state for u, o in outcomes.items() if u != revoked} == {"loaded"}, \
        Counter(o.state for o in outcomes.values())

    # 199 users loaded, each with exactly the rows its generated export holds, nothing for the revoked one
    loaded = per_user_counts(env.db)
    assert revoked not in loaded
    for open_id in users:
        if open_id == revoked:
            continue
        expected = {t: n for t, n in env.builder.expected(open_id).items() if n and t in DATA_TABLES}
        assert dict(loaded[open_id]) == expected, open_id
        assert outcomes[open_id].transfer.rows_loaded == sum(expected.values())
    assert env.duplicated() == []

    # the fake never saw more than its limit in any window: no 429 at all, and the limiter did hold
    # requests back (200 adds cannot fit in one window)
    portability = [c for c in env.fake.calls if c.path.startswith("/v2/user/data/")]
    too_many = [c for c in env.fake.calls if c.status == 429]
    for endpoint in ("add", "check", "download"):
        times = [c.at for c in portability if c.path == f"/v2/user/data/{endpoint}/"]
        assert len(times) == (USERS if endpoint == "add" else USERS - 1)  # the revoked user's add: one 401
        assert max_per_window(times, WINDOW) <= LIMIT
    assert too_many == []
    assert service.rate_limiter.waited > 0
    add_times = sorted(c.at for c in portability if c.path.endswith("/add/"))
    assert add_times[-1] - add_times[0] >= (USERS // LIMIT) * WINDOW - 1

    # the users' calls really ran side by side
    assert env.fake.max_in_flight > 1
    print(f"\n200 users: {seconds:.1f}s wall, max in flight {env.fake.max_in_flight}, 429s {len(too_many)}, "
          f"limiter waits {service.rate_limiter.waited:.1f}s total")
