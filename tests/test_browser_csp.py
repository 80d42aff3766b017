"""The Content-Security-Policy in a real browser: every page works and none breaks the policy.

Headless Chromium records every ``securitypolicyviolation`` event and every console error
while it walks the admin (logged in through the real OIDC provider, and out again),
Swagger UI and ReDoc. A policy too strict for a page shows up here as a violation or as a
page that never renders; a page that needs an inline script shows up as a violation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client as DjangoClient

from tests.accounts.idp import Provider
from tests.browser import ARTIFACTS, local_page, login

pytestmark = [pytest.mark.browser, pytest.mark.oidc, pytest.mark.django_db(transaction=True)]

WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} in ${where}`);
});
"""


class Watched:
    """A page whose CSP violations, console errors and uncaught exceptions are collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.context.add_init_script(WATCH)
        page.on(
            "console",
            lambda message: message.type == "error" and self.errors.append(f"{message.text} ({message.location})"),
        )
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def problems(self) -> list[str]:
        try:
            violations = self.page.evaluate("window.__violations || []")
        except Exception:  # the page navigated away mid-call: look again on the next page
            violations = []
        return [*violations, *self.errors]


@pytest.fixture
def watched_admin(site: str, chromium: Any) -> Iterator[Watched]:
    page = login(chromium, site, "admin")
    watched = Watched(page)
    yield watched
    page.context.close()


def _visit(watched: Watched, url: str, ready: str, shot: str) -> Any:
    response = watched.page.goto(url)
    watched.page.wait_for_selector(ready, timeout=20_000)
    watched.page.screenshot(path=str(ARTIFACTS / f"csp-{shot}.png"), full_page=True)
    assert "default-src 'self'" in response.headers.get("content-security-policy", "")
    return response


def test_the_admin_works_under_the_policy(site: str, watched_admin: Watched) -> None:
    pages = [
        ("/admin/", "#dashboard", "index"),
        ("/admin/scoring/modelversion/", "#changelist", "changelist"),
        ("/admin/fraud/transaction/", "#changelist", "date-hierarchy"),
        ("/admin/accounts/apikey/add/", "#apikey_form", "add-form"),  # date and time widgets (JavaScript)
    ]
    for path, ready, shot in pages:
        _visit(watched_admin, f"{site}{path}", ready, shot)
        assert watched_admin.problems() == [], path
    # The widgets' JavaScript ran: the calendar and clock shortcuts are there.
    assert watched_admin.page.locator(".datetimeshortcuts").count() >= 1
    # The admin's theme (Alpine.js) may eval, the API's pages may not.
    policy = watched_admin.page.goto(f"{site}/admin/").headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-eval'" in policy


def test_a_new_api_key_page_and_the_logout_to_the_provider_stay_within_the_policy(
    site: str, watched_admin: Watched, browser_idp: Provider
) -> None:
    page = watched_admin.page
    page.goto(f"{site}/admin/accounts/apikey/add/")
    page.fill("input[name=name]", "payments")
    page.click("[name=_save]")
    page.wait_for_selector("#api-key-value")
    assert page.input_value("#api-key-value").startswith("cpk_")
    assert watched_admin.problems() == []
    # Logging out posts a form whose answer redirects to the provider: had form-action
    # refused it, the browser would have stayed on the admin page.
    # (The form sits in the account menu; submitting it is what its button does.)
    page.locator("#logout-form").evaluate("form => form.requestSubmit()")
    page.wait_for_url(f"{browser_idp.issuer}/**", timeout=20_000)


def test_the_login_page_works_under_the_policy(site: str, chromium: Any) -> None:
    watched = Watched(local_page(chromium))
    _visit(watched, f"{site}/admin/login/", "#sso-login-button", "login")
    assert watched.problems() == []
    watched.page.context.close()


def test_swagger_ui_renders_the_api_under_the_policy(site: str, chromium: Any) -> None:
    watched = Watched(local_page(chromium))
    _visit(watched, f"{site}/api/docs/", ".swagger-ui .info .title", "swagger")
    watched.page.wait_for_selector("#operations-default-score_create, .opblock", timeout=20_000)
    assert "Credit decision platform API" in watched.page.inner_text(".swagger-ui .info .title")
    assert watched.page.locator(".opblock").count() > 5
    assert watched.problems() == []
    watched.page.context.close()


# ReDoc's sidebar always asks cdn.redoc.ly for its logo (hidden when it fails to load). The
# policy refuses it: nothing is loaded from elsewhere. It is the only refusal expected.
REDOC_LOGO = "img-src blocked https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_redoc_renders_the_api_under_the_policy(site: str, chromium: Any) -> None:
    watched = Watched(local_page(chromium))
    _visit(watched, f"{site}/api/redoc/", "h1", "redoc")
    assert "Credit decision platform API" in watched.page.inner_text("h1")
    watched.page.wait_for_selector("[data-section-id^='operation/']", timeout=20_000)
    problems = watched.problems()
    assert [p for p in problems if not p.startswith(REDOC_LOGO) and "cdn.redoc.ly" not in p] == []
    watched.page.context.close()


def test_every_page_carries_the_policy_and_every_other_answer_one_that_allows_nothing(db: None) -> None:
    browser = DjangoClient()
    for path in ("/admin/login/", "/api/docs/", "/api/redoc/"):
        policy = browser.get(path)["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0], path
        # Only the admin's pages may eval (its theme's Alpine.js); Swagger UI and ReDoc may not.
        assert ("'unsafe-eval'" in policy) == path.startswith("/admin/"), path
    for path in ("/api/v1/health", "/api/v1/clients/", "/api/schema/", "/api/v1/nothing", "/api/docs/?script"):
        policy = browser.get(path)["Content-Security-Policy"]
        assert policy.startswith("default-src 'none'") and "frame-ancestors 'none'" in policy, path
