"""A headless Chromium for the browser tests: Debian's ``chromium`` + ``chromium-driver``, driven by Selenium.

- Without ``/usr/bin/chromium`` (or ``chromedriver``) the two packages are installed with
  ``apt-get update && apt-get install -y chromium chromium-driver`` when running as root on a
  Debian-like system; otherwise the browser tests are skipped, unless
  ``TIKTOK_TEST_REQUIRE_BROWSER=1`` (CI), which fails them.
- Every browser gets a fresh ``--user-data-dir`` (no cookies from an earlier test) and the flags
  that keep Chromium from calling home (no sync, no component updates, no background networking),
  so a test only ever talks to loopback.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REQUIRE_ENV = "TIKTOK_TEST_REQUIRE_BROWSER"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1200,900")


class Unavailable(Exception):
    """No browser could be had; the message says why and how to get one."""


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def _first(candidates: tuple[str, ...], name: str) -> str | None:
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    return shutil.which(name)


def _binaries() -> tuple[str, str] | None:
    chromium, driver = _first(CHROMIUM_CANDIDATES, "chromium"), _first(DRIVER_CANDIDATES, "chromedriver")
    return (chromium, driver) if chromium and driver else None


def _apt_install() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable("chromium / chromedriver not found; install them (apt-get install chromium "
                          "chromium-driver on Debian)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=900, check=False)
    done = subprocess.run(["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"], env=env,
                          capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise Unavailable(f"apt-get install chromium chromium-driver failed: {done.stderr.strip().splitlines()[-1:]}")


def locate() -> tuple[str, str]:
    """(chromium, chromedriver), installing them first when missing and possible. Raises ``Unavailable``."""
    if importlib.util.find_spec("selenium") is None:
        raise Unavailable("selenium is not installed (pip install -e '.[test]')")
    binaries = _binaries()
    if binaries is None:
        _apt_install()
        binaries = _binaries()
        if binaries is None:
            raise Unavailable("chromium installed but chromium or chromedriver still not found")
    return binaries


@contextlib.contextmanager
def chrome(page_load_timeout: float = 30.0) -> Iterator[Any]:
    """A headless Chromium WebDriver with a fresh profile; quit and the profile deleted afterwards."""
    chromium, driver_path = locate()
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="tiktok-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    try:
        try:
            driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        except WebDriverException as exc:
            raise Unavailable(f"chromium did not start under chromedriver: {str(exc).strip().splitlines()[:1]}") from None
        try:
            driver.set_page_load_timeout(page_load_timeout)
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
