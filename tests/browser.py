"""Headless Chromium against the live server, logged in through the real OIDC provider.

Debian's /usr/bin/chromium driven by Playwright (never ``playwright install``); screenshots
go to test-artifacts/ (git-ignored, kept by CI as artefacts). Loaded as a pytest plugin by
``tests/conftest.py``: any test may ask for the ``site`` and ``chromium`` fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings

from accounts.tokens import reset_jwks_caches
from tests.accounts.idp import Provider, provider_available, start_provider
from tests.services import require

CHROMIUM = Path("/usr/bin/chromium")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
ARTIFACTS = Path(django_settings.BASE_DIR) / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser_idp(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A provider whose redirect URI is the live server's callback."""
    require(provider_available(), "the OIDC test provider (node + `npm ci` in accounts/devidp)")
    provider = start_provider([f"{live_server.url}/oidc/callback/"], tmp_path_factory.mktemp("browser-idp"))
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    require(CHROMIUM.exists(), "Debian chromium at /usr/bin/chromium (bin/ensure-system-deps)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; Django would then refuse the
    # test's own (synchronous) database calls. Nothing here is actually async.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(settings: Any, live_server: Any, browser_idp: Provider, chromium: Any) -> Iterator[str]:
    for name, value in browser_idp.settings().items():
        setattr(settings, name, value)
    reset_jwks_caches()
    ARTIFACTS.mkdir(exist_ok=True)
    yield live_server.url
    reset_jwks_caches()


def local_page(chromium: Any) -> Any:
    """A page in a fresh context (own cookies) that reaches nothing beyond this machine."""
    context = chromium.new_context()
    # The provider's page asks for a web font: refuse anything that is not local.
    context.route(
        "**/*",
        lambda route: route.continue_() if urlsplit(route.request.url).hostname in LOCAL_HOSTS else route.abort(),
    )
    return context.new_page()


def login(chromium: Any, base: str, username: str) -> Any:
    """A fresh browser context logged in as ``username`` through the provider's pages."""
    page = local_page(chromium)
    page.goto(f"{base}/admin/")
    page.click("#sso-login-button")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", "any-password")
    page.click("button[type=submit]")
    if "/interaction/" in page.url:  # the consent page
        page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    return page
