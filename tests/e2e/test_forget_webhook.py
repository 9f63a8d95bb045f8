"""``forget`` finds a user's tables in the dlt schema (no ``information_schema``: BigQuery has none at
dataset level), and ``forget_on_removal`` erases a user when a signed ``authorization.removed`` arrives."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from support.api_env import ALL_SINGLE, ApiEnv, start_env, stop_env

from tiktok_portability_source import destination
from tiktok_portability_source.api.webhooks import WebhookReceiver, sign


@pytest.fixture
def env(tmp_path: Path):
    api = start_env(tmp_path)
    yield api
    stop_env(api)


def removed_event(secret: str, open_id: str) -> tuple[bytes, str]:
    body = json.dumps({"client_key": "k", "event": "authorization.removed", "create_time": int(time.time()),
                       "user_openid": open_id, "content": json.dumps({"reason": 1})}).encode()
    return body, sign(body, secret, int(time.time()))


def deliver(receiver: WebhookReceiver, body: bytes, signature: str) -> str:
    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)), "HTTP_TIKTOK_SIGNATURE": signature,
               "wsgi.input": __import__("io").BytesIO(body), "PATH_INFO": "/"}
    status: list[str] = []
    b"".join(receiver(environ, lambda s, h: status.append(s)))
    assert receiver.wait_idle(30)
    return status[0]


def load_two_users(env: ApiEnv, **config):
    service = env.service(**config)
    gone = env.authorize(service, "leaving", ALL_SINGLE)
    kept = env.authorize(service, "staying", ALL_SINGLE)
    assert {o.state for o in service.sync_until_done(timeout=60)} == {"loaded"}
    return service, gone, kept


@pytest.mark.parametrize("forget_on_removal", [False, True])
def test_authorization_removed_forgets_the_user_only_when_configured(env: ApiEnv, forget_on_removal: bool):
    service, gone, kept = load_two_users(env, forget_on_removal=forget_on_removal)
    kept_rows = env.counts(kept)
    assert env.count("watch_history", gone) > 0
    receiver = WebhookReceiver(env.fake.config.client_secret, service.handle_webhook)
    try:
        assert deliver(receiver, *removed_event(env.fake.config.client_secret, gone)) == "200 OK"
    finally:
        receiver.close()
    service._pipeline = None  # read the destination afresh
    assert env.counts(kept) == kept_rows  # the other user is untouched either way
    if forget_on_removal:
        assert all(n == 0 for n in env.counts(gone).values())
        assert gone not in service.users() and service.transfers.for_user(gone) == []
    else:  # default: the grant is gone, the data already exported stays (retention is the analyst's call)
        assert env.count("watch_history", gone) > 0
        assert service.store.metadata(gone)["revoked"] is True


def test_forget_never_asks_information_schema(env: ApiEnv, monkeypatch: pytest.MonkeyPatch):
    service, gone, kept = load_two_users(env)
    tables = destination.user_tables(service.pipeline)
    assert {"watch_history", "followers", "profile", "archives", "export_requests"} <= set(tables)

    from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

    real = DuckDbSqlClient.execute_query

    def like_bigquery(self, query, *args, **kwargs):  # BigQuery has no dataset-level information_schema
        if "information_schema" in str(query).lower():
            raise RuntimeError("information_schema is not available at dataset level")
        return real(self, query, *args, **kwargs)

    # dlt's own load step reads DuckDB's information_schema (on BigQuery it uses the API): guard our part only
    monkeypatch.setattr(DuckDbSqlClient, "execute_query", like_bigquery)
    removed = destination.delete_user_rows(service.pipeline, gone)
    monkeypatch.undo()
    assert removed["watch_history"] > 0 and removed["profile"] == 1
    assert all(n == 0 for n in env.counts(gone).values())
    assert env.count("watch_history", kept) > 0
