"""The web consent flow of ``tiktok-portability serve`` in a real browser: headless Debian Chromium, driven by
Selenium, against the consent app on uvicorn and the fake TikTok (with its Allow / Deny page) on loopback.

A user opens ``/``, clicks Connect, allows on TikTok's page, lands on "connected", a sync loads their rows,
they click Disconnect and see "disconnected": TikTok then shows one revoke and no pending request, and
nothing of the user is left here. A user who denies sees that plainly, and nothing is stored.

The browser comes from ``support.browser`` (installed with apt-get when missing and possible; skipped when
not, unless ``TIKTOK_TEST_REQUIRE_BROWSER=1``). The redirect-URI rules of ``serve`` are checked here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support import browser
from support.api_env import ApiEnv, free_port, start_env, stop_env

from tiktok_portability_source.api import ApiService
from tiktok_portability_source.api.auth import redirect_target, web_redirect_path
from tiktok_portability_source.api.consent import ConsentSettings, consent_app
from tiktok_portability_source.api.webapp import RunningServer, serve
from tiktok_portability_source.fake.api import FakeConfig

USER = "web-user"


@dataclass
class Site:
    """The consent app on its own loopback port, redirect_uri ``http://127.0.0.1:<port>/callback/``."""

    env: ApiEnv
    service: ApiService
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url.rstrip("/")

    def sync_service(self, **overrides) -> ApiService:
        """Another service on the same stores and database (as a `sync` run beside `serve` would be)."""
        return self.env.service(redirect_uri=self.service.config.redirect_uri, **overrides)


def start_site(env: ApiEnv, *, keep_data: bool = False) -> Site:
    port = free_port()
    service = env.service(redirect_uri=f"http://127.0.0.1:{port}/callback/")
    app = consent_app(service, settings=ConsentSettings(keep_data_on_disconnect=keep_data), where="the test database")
    return Site(env, service, serve(app, "127.0.0.1", port))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[ApiEnv]:
    api = start_env(tmp_path, FakeConfig(consent_page=True))
    api.fake.add_user(USER)
    yield api
    stop_env(api)


@pytest.fixture
def site(env: ApiEnv) -> Iterator[Site]:
    running = start_site(env)
    yield running
    running.server.shutdown()


@pytest.fixture
def chrome():
    try:
        with browser.chrome() as driver:
            yield driver
    except browser.Unavailable as exc:
        if browser.required():
            pytest.fail(f"a browser is required ({browser.REQUIRE_ENV}=1) but unavailable: {exc}")
        pytest.skip(f"no browser: {exc}")


def wait_for_page(driver, page_id: str, timeout: float = 20.0) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.body && document.body.id") == page_id,
        message=f"page #{page_id} never came (at {driver.current_url})")


def click(driver, element_id: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, element_id).click()


def text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


# --- the browser flows ------------------------------------------------------------------------------


def test_connect_sync_disconnect_in_a_browser(env: ApiEnv, site: Site, chrome):
    chrome.get(site.url + "/")
    wait_for_page(chrome, "home")
    assert "What it reads" in text(chrome) and "deletes every copy of your data here" in text(chrome)
    click(chrome, "connect")
    # TikTok's (the fake's) consent page, on its own origin
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(chrome, 20).until(lambda d: d.current_url.startswith(env.url + "/v2/auth/authorize/"))
    assert "portability.all.ongoing" in text(chrome)
    click(chrome, "allow")
    wait_for_page(chrome, "connected")
    assert chrome.current_url == site.url + "/connected"  # the code left the address bar
    assert USER in text(chrome) and "connected" in text(chrome)
    assert env.tokens()[USER]["metadata"]["connected_via"] == "web"
    [exchange] = env.fake.calls_to("token", status=200)
    assert exchange.open_id == USER

    # a sync (as `sync --wait` would run it) loads the user's rows; a second one leaves a request pending
    syncer = site.sync_service(min_interval_seconds=0)
    assert [o.state for o in syncer.sync_until_done(timeout=60)] == ["loaded"]
    loaded = env.count("watch_history", USER)
    assert loaded > 0
    env.fake.config.ready_after_polls = 1000  # TikTok still preparing the next export
    assert [o.state for o in syncer.sync_once()] == ["pending"]
    assert [r.status for r in env.fake.requests_of(USER)] == ["downloading", "pending"]

    chrome.refresh()
    wait_for_page(chrome, "connected")
    assert "rows loaded" in text(chrome) and "pending" in text(chrome)
    click(chrome, "disconnect")
    wait_for_page(chrome, "disconnected")
    assert "disconnected" in text(chrome) and "revoked" in text(chrome)

    # TikTok: the pending request cancelled, one revoke; here: no row, no token, no transfer, nothing owed
    assert len(env.fake.calls_to("revoke")) == 1 and len(env.fake.calls_to("revoke", status=200)) == 1
    assert "pending" not in [r.status for r in env.fake.requests_of(USER)]
    assert [r.status for r in env.fake.requests_of(USER)] == ["downloading", "cancelled"]
    assert env.counts(USER) and all(n == 0 for n in env.counts(USER).values())
    assert USER not in env.tokens()
    assert not [t for t in env.transfers() if t["open_id"] == USER]
    assert not json.loads((env.token_store.parent / "revocations_owed.json").read_text())["owed"]
    # and the browser is no longer connected
    chrome.get(site.url + "/connected")
    wait_for_page(chrome, "home")


def test_denied_consent_in_a_browser_says_so_and_stores_nothing(env: ApiEnv, site: Site, chrome):
    chrome.get(site.url + "/")
    wait_for_page(chrome, "home")
    click(chrome, "connect")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(chrome, 20).until(lambda d: d.current_url.startswith(env.url + "/v2/auth/authorize/"))
    click(chrome, "deny")
    wait_for_page(chrome, "denied")
    assert "You declined the authorization on TikTok" in text(chrome)
    assert "Traceback" not in chrome.page_source
    assert not env.token_store.exists() or USER not in env.tokens()
    assert env.fake.calls_to("token") == []


# --- the consent app without a browser ----------------------------------------------------------------


def test_connect_sends_tiktoks_web_parameters_and_a_browser_bound_state(env: ApiEnv, site: Site):
    with httpx.Client(base_url=site.url) as client:
        response = client.get("/connect")
    assert response.status_code == 302
    location = httpx.URL(response.headers["location"])
    assert str(location).startswith(env.url + "/v2/auth/authorize/?")
    params = dict(location.params)
    assert params.pop("client_key") == env.fake.config.client_key
    assert params.pop("response_type") == "code"
    assert params.pop("scope") == "user.info.basic,portability.all.ongoing"
    assert params.pop("redirect_uri") == site.url + "/callback/"
    state = params.pop("state")
    assert len(state) >= 32 and params == {}  # web Login Kit: no PKCE parameters
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # http loopback redirect_uri only; an https one gets Secure


def test_pages_health_webhook_and_errors_are_plain(env: ApiEnv, tmp_path: Path):
    from tiktok_portability_source.api.webhooks import WebhookReceiver

    port = free_port()
    service = env.service(redirect_uri=f"http://127.0.0.1:{port}/callback/")
    receiver = WebhookReceiver(env.fake.config.client_secret, service.handle_webhook)
    with serve(consent_app(service, receiver=receiver), "127.0.0.1", port) as server, \
            httpx.Client(base_url=server.url) as client:
        assert client.get("/healthz").text == "ok"
        assert client.post("/webhook", content=b"{}").status_code == 401  # unsigned
        missing = client.get("/nowhere")
        assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text
        callback = client.get("/callback/?code=x&state=y")  # no sign-in started in this "browser"
        assert callback.status_code == 400 and "state-error" in callback.text and "Traceback" not in callback.text
        assert client.get("/disconnect").status_code == 405
    receiver.close()


def test_redirect_uri_rules_of_serve_and_auth():
    assert web_redirect_path("https://example.org/tiktok/callback/") == "/tiktok/callback/"
    assert web_redirect_path("http://127.0.0.1:8765/callback/") == "/callback/"  # local try-out / tests only
    assert web_redirect_path("http://localhost:8765/cb") == "/cb"
    for bad in ("http://example.org/callback/", "https://example.org/callback/?id=1",
                "https://example.org/callback/#x", "/callback/", "ftp://example.org/", "https://" + "a" * 520):
        with pytest.raises(ValueError):
            web_redirect_path(bad)
    with pytest.raises(ValueError, match="serve"):  # the desktop flow keeps its loopback rule, and says what to use
        redirect_target("https://example.org/callback/")


def test_serve_refuses_a_redirect_path_of_its_own_routes(env: ApiEnv):
    service = env.service(redirect_uri="https://example.org/connect")
    with pytest.raises(ValueError, match="own routes"):
        consent_app(service)
