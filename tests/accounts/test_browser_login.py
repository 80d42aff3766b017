"""Headless Chromium logs in through the real provider and sees what its role allows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import ARTIFACTS, local_page, login

pytestmark = [pytest.mark.browser, pytest.mark.oidc, pytest.mark.django_db(transaction=True)]


def test_analyst_logs_in_and_may_add_a_client(site: str, chromium: Any) -> None:
    page = login(chromium, site, "analyst")
    assert page.title().startswith("Back office")
    assert "analyst" in page.locator("#nav-sidebar-inner").inner_text().lower()  # the account, under the menu
    page.screenshot(path=str(ARTIFACTS / "oidc-analyst-admin-index.png"), full_page=True)
    response = page.goto(f"{site}/admin/scoring/client/add/")
    assert response.status == 200
    assert page.locator("input[name=client_id]").count() == 1
    page.screenshot(path=str(ARTIFACTS / "oidc-analyst-add-client.png"), full_page=True)
    page.context.close()


def test_viewer_logs_in_sees_decisions_but_may_not_add_a_client(site: str, chromium: Any) -> None:
    page = login(chromium, site, "viewer")
    index = page.content()
    assert "Decisions" in index
    assert "API keys" not in index
    page.screenshot(path=str(ARTIFACTS / "oidc-viewer-admin-index.png"), full_page=True)
    assert page.goto(f"{site}/admin/scoring/decision/").status == 200
    page.screenshot(path=str(ARTIFACTS / "oidc-viewer-decisions.png"), full_page=True)
    assert page.goto(f"{site}/admin/scoring/client/add/").status == 403
    page.context.close()


def test_person_without_a_role_sees_the_refusal_page(site: str, chromium: Any) -> None:
    page = local_page(chromium)
    page.goto(f"{site}/admin/")
    page.click("#sso-login-button")
    page.fill("input[name=login]", "norole")
    page.fill("input[name=password]", "any-password")
    page.click("button[type=submit]")
    if "/interaction/" in page.url:
        page.click("button[type=submit]")
    page.wait_for_url(f"{site}/oidc/callback/**")
    assert "has no role" in page.content()
    page.screenshot(path=str(ARTIFACTS / "oidc-norole-refused.png"), full_page=True)
    page.context.close()
