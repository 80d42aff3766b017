"""The review loop in a real browser: an analyst takes a referred case and overrides the model with a
justification, a second analyst approves (four eyes), and the API shows the final decision."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from scoring.models import ReviewCase
from scoring.services import model_version_set_refer_band
from tests.accounts.idp import Provider
from tests.browser import ARTIFACTS, login
from tests.models import TrainedModel, register_trained

pytestmark = [pytest.mark.browser, pytest.mark.oidc, pytest.mark.django_db(transaction=True)]


def test_an_analyst_overrides_a_referral_and_a_second_analyst_approves(
    site: str,
    chromium: Any,
    browser_idp: Provider,
    trained_credit: TrainedModel,
    key_client: Callable[..., APIClient],
) -> None:
    champion = register_trained(trained_credit, version="credit-review", status="champion")
    model_version_set_refer_band(model_version=champion, lower=0.0, upper=1.0)
    api = key_client("analyst", ["score", "read"])
    scored = api.post("/api/v1/score", {"age": 35, "revenu": 50000, "historique_impaye": 1}, format="json").json()
    assert (scored["decision"], scored["prediction"]) == ("refer", 1)  # the model would refuse
    case = ReviewCase.objects.get(decision_id=scored["id"])
    detail = api.get(f"/api/v1/predictions/{scored['id']}/").json()
    assert (detail["status"], detail["final_decision"]) == ("pending_review", None)

    # The first analyst takes the case and approves against the model's verdict, with a justification.
    first = login(chromium, site, "analyst")
    first.goto(f"{site}/admin/scoring/reviewcase/{case.pk}/change/")
    assert "Insufficient information: Years with the current employer" in first.content()
    first.click("#take-case")
    first.get_by_text("The case is yours").wait_for()
    first.click("#decide-case")
    first.check("input[name=final_decision][value=approve]")
    first.fill("textarea[name=justification]", "Payslips and a guarantor seen; the incident was a bank error.")
    first.click("button[name=_submit]")
    first.get_by_text("waits for a second person's approval").wait_for()
    first.screenshot(path=str(ARTIFACTS / "review-proposed.png"), full_page=True)
    assert first.locator("#approve-case").count() == 0  # never the proposer
    case.refresh_from_db()
    assert (case.status, case.proposed_decision) == ("awaiting_approval", "approve")
    assert api.get(f"/api/v1/predictions/{scored['id']}/").json()["status"] == "pending_review"
    first.context.close()

    # A second analyst approves: the decision is final.
    browser_idp.set_groups("analyst-two", ["analyst"])
    second = login(chromium, site, "analyst-two")
    second.goto(f"{site}/admin/scoring/reviewcase/{case.pk}/change/")
    assert "Payslips and a guarantor seen" in second.content()
    second.click("#approve-case")
    second.get_by_text("Approved: the decision is final.").wait_for()
    second.screenshot(path=str(ARTIFACTS / "review-approved.png"), full_page=True)
    second.context.close()

    final = api.get(f"/api/v1/predictions/{scored['id']}/").json()
    assert (final["status"], final["automated_decision"], final["final_decision"]) == ("final", "refer", "approve")
    case.refresh_from_db()
    assert case.proposed_by.username != case.approved_by.username
    assert final["decided_by"] == f"user:{case.proposed_by_id}"


def test_an_analyst_refuses_a_referral_with_its_reasons_and_the_notice_lists_them(
    site: str,
    chromium: Any,
    browser_idp: Provider,
    trained_credit: TrainedModel,
    key_client: Callable[..., APIClient],
) -> None:
    """The decide page's checkboxes: a refusal without reasons is stopped with the service's message;
    with them, the adverse-action notice gives the underwriter's reasons, not the model's."""
    champion = register_trained(trained_credit, version="credit-review-refusal", status="champion")
    model_version_set_refer_band(model_version=champion, lower=0.0, upper=1.0)
    api = key_client("analyst", ["score", "read"])
    scored = api.post("/api/v1/score", {"age": 35, "revenu": 50000, "historique_impaye": 1}, format="json").json()
    case = ReviewCase.objects.get(decision_id=scored["id"])

    page = login(chromium, site, "analyst")
    page.goto(f"{site}/admin/scoring/reviewcase/{case.pk}/change/")
    page.click("#take-case")
    page.get_by_text("The case is yours").wait_for()
    page.click("#decide-case")
    page.check("input[name=final_decision][value=refuse]")
    page.fill("textarea[name=justification]", "The payslip was not issued by the employer named.")
    page.click("button[name=_submit]")
    page.get_by_text("Choose the principal reasons of the refusal").wait_for()
    page.check("input[name=refusal_reasons][value=U02]")
    page.check("input[name=refusal_reasons][value=U05]")
    page.click("button[name=_submit]")
    page.get_by_text("Case closed: the decision is final.").wait_for()
    assert "U02 Unable to verify income; U05 Inconsistent or unreliable documents" in page.content()
    page.screenshot(path=str(ARTIFACTS / "review-refused-with-reasons.png"), full_page=True)
    page.context.close()

    notice = api.get(f"/api/v1/predictions/{scored['id']}/notice").json()
    assert (notice["decided_by"], [r["code"] for r in notice["reasons"]]) == ("person", ["U02", "U05"])
