"""The underwriters' queue: referred decisions open cases; take, assign, decide; four eyes; the API's status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client, TestCase
from rest_framework.test import APIClient

from audit.models import AuditEvent
from scoring.models import Decision, ModelVersion, ReviewCase
from scoring.review.services import (
    review_case_approve,
    review_case_assign,
    review_case_can_close,
    review_case_close,
    review_case_open_override,
    review_case_send_back,
    review_case_take,
)
from scoring.services import model_version_set_refer_band
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RISKY = {"age": 35, "revenu": 50000, "historique_impaye": 1, "client_id": "C1001"}  # the model refuses (p 0.56)
SAFE = {  # every feature sent: the model approves
    "age": 45,
    "revenu": 300,
    "historique_impaye": 0,
    "seniority_years": 20,
    "home": "owner",
    "duration_months": 24,
    "marital_status": "married",
    "job": "fixed",
    "expenses": 35,
    "assets": 20000,
    "debt": 0,
    "amount": 500,
    "price": 1500,
    "client_id": "C1001",
}


@pytest.fixture
def people() -> dict[str, Any]:
    return {
        "alice": UserFactory(username="alice", roles=["analyst"]),
        "bob": UserFactory(username="bob", roles=["analyst"]),
        "admin": UserFactory(username="boss", roles=["admin"]),
        "viewer": UserFactory(username="vera", roles=["viewer"]),
    }


@pytest.fixture
def scorer(key_client: Callable[..., APIClient], credit_model: ModelVersion) -> APIClient:
    return key_client("analyst", ["score", "read"])


def with_band(model: ModelVersion, lower: float, upper: float) -> None:
    with TestCase.captureOnCommitCallbacks(execute=True):
        model_version_set_refer_band(model_version=model, lower=lower, upper=upper)


def decide(api: APIClient, payload: dict[str, Any]) -> Decision:
    response = api.post("/api/v1/score", payload, format="json")
    assert response.status_code == 201, response.json()
    return Decision.objects.get(pk=response.json()["id"])


@pytest.fixture
def referred(scorer: APIClient, credit_model: ModelVersion) -> ReviewCase:
    """A referred decision the model would refuse (prediction 1), and its case."""
    with_band(credit_model, 0.0, 1.0)
    decision = decide(scorer, RISKY)
    assert (decision.decision, decision.prediction) == ("refer", 1)
    return ReviewCase.objects.get(decision=decision)


def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def detail(scorer: APIClient, decision: Decision) -> dict[str, Any]:
    response = scorer.get(f"/api/v1/predictions/{decision.pk}/")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


# --- Opening -------------------------------------------------------------------------------------


def test_a_referred_decision_opens_one_case_and_reads_pending_review(scorer: APIClient, referred: ReviewCase) -> None:
    assert (referred.origin, referred.status, referred.assignee) == ("referred", "open", None)
    body = detail(scorer, referred.decision)
    assert (body["status"], body["automated_decision"], body["final_decision"]) == ("pending_review", "refer", None)
    assert body["decided_by"] is None


def test_automatic_decisions_open_no_case_and_are_final(scorer: APIClient, credit_model: ModelVersion) -> None:
    decision = decide(scorer, RISKY)
    assert decision.decision == "refuse" and not ReviewCase.objects.exists()
    body = detail(scorer, decision)
    assert (body["status"], body["final_decision"], body["decided_by"]) == ("final", "refuse", "model")


def test_the_batch_call_and_batch_jobs_open_cases_for_referred_rows(
    scorer: APIClient, credit_model: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    from scoring.batch.services import batch_job_submit

    with_band(credit_model, 0.0, 1.0)
    response = scorer.post("/api/v1/score/batch", {"items": [RISKY, RISKY]}, format="json")
    assert response.status_code == 201
    assert ReviewCase.objects.filter(decision_id__in=[r["id"] for r in response.json()["results"]]).count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        job = batch_job_submit(
            data=b"age,revenu,historique_impaye\n35,50000,1\n52,180,0\n",
            filename="a.csv",
            caller="user:1",
            source="api",
        )
    assert ReviewCase.objects.filter(decision__batch_job=job).count() == 2


# --- Who may do what -------------------------------------------------------------------------------


def test_take_gives_the_object_permission_to_the_taker_only(people: dict[str, Any], referred: ReviewCase) -> None:
    referred = review_case_take(case=referred, user=people["alice"])
    assert people["alice"].has_perm("scoring.close_reviewcase", referred)
    assert not people["bob"].has_perm("scoring.close_reviewcase", referred)
    assert review_case_can_close(case=referred, user=people["alice"])
    assert not review_case_can_close(case=referred, user=people["bob"])
    assert review_case_can_close(case=referred, user=people["admin"])  # the model permission
    with pytest.raises(ValidationError):
        review_case_take(case=referred, user=people["bob"])
    with pytest.raises(PermissionDenied):
        review_case_close(case=referred, user=people["bob"], final_decision="refuse", justification="not mine")


def test_an_analyst_moved_to_viewer_no_longer_decides_the_cases_they_held(
    people: dict[str, Any], referred: ReviewCase
) -> None:
    from django.contrib.auth.models import Group

    referred = review_case_take(case=referred, user=people["alice"])
    people["alice"].groups.set([Group.objects.get(name="viewer")])
    alice = type(people["alice"]).objects.get(pk=people["alice"].pk)  # fresh: no cached permissions
    assert alice.has_perm("scoring.close_reviewcase", referred)  # the object permission is still there
    assert not review_case_can_close(case=referred, user=alice)
    with pytest.raises(PermissionDenied):
        review_case_close(case=referred, user=alice, final_decision="refuse", justification="held it before")


def test_only_admins_assign_and_reassigning_moves_the_right(people: dict[str, Any], referred: ReviewCase) -> None:
    with pytest.raises(PermissionDenied):
        review_case_assign(case=referred, assignee=people["bob"], by=people["alice"])
    with pytest.raises(ValidationError):
        review_case_assign(case=referred, assignee=people["viewer"], by=people["admin"])
    review_case_assign(case=referred, assignee=people["alice"], by=people["admin"])
    review_case_assign(case=referred, assignee=people["bob"], by=people["admin"])
    referred.refresh_from_db()
    assert referred.assignee == people["bob"]
    assert not people["alice"].has_perm("scoring.close_reviewcase", referred)
    assert people["bob"].has_perm("scoring.close_reviewcase", referred)


def test_a_viewer_sees_the_queue_but_cannot_take_decide_or_approve(
    people: dict[str, Any], referred: ReviewCase
) -> None:
    viewer = browser(people["viewer"])
    assert viewer.get("/admin/scoring/reviewcase/").status_code == 200
    assert viewer.post(f"/admin/scoring/reviewcase/{referred.pk}/take/").status_code == 403
    with pytest.raises(PermissionDenied):
        review_case_take(case=referred, user=people["viewer"])
    referred.refresh_from_db()
    assert referred.status == "open"
    review_case_take(case=referred, user=people["alice"])
    assert viewer.get(f"/admin/scoring/reviewcase/{referred.pk}/decide/").status_code == 403
    review_case_close(case=referred, user=people["alice"], final_decision="approve", justification="Payslips seen.")
    assert viewer.post(f"/admin/scoring/reviewcase/{referred.pk}/approve/").status_code == 403
    with pytest.raises(PermissionDenied):
        review_case_approve(case=referred, user=people["viewer"])


# --- Deciding --------------------------------------------------------------------------------------


def test_refusing_a_referral_is_final_at_once_with_its_justification(
    scorer: APIClient, people: dict[str, Any], referred: ReviewCase
) -> None:
    review_case_take(case=referred, user=people["alice"])
    with pytest.raises(ValidationError) as caught:
        review_case_close(case=referred, user=people["alice"], final_decision="refuse", justification="  ")
    assert "justification" in caught.value.message_dict
    review_case_close(
        case=referred, user=people["alice"], final_decision="refuse", justification="Incidents confirmed."
    )
    referred.refresh_from_db()
    assert (referred.status, referred.final_decision, referred.justification) == (
        "closed",
        "refuse",
        "Incidents confirmed.",
    )
    decision = referred.decision
    decision.refresh_from_db()
    assert (decision.decision, decision.final_decision, decision.decided_by) == ("refer", "refuse", people["alice"])
    body = detail(scorer, decision)
    assert (body["status"], body["automated_decision"], body["final_decision"]) == ("final", "refer", "refuse")
    assert body["decided_by"] == f"user:{people['alice'].pk}"
    event = AuditEvent.objects.get(action="review.closed")
    assert event.details["final"] == "refuse" and "Incidents" not in str(event.details)


def test_approving_what_the_model_refuses_needs_a_second_person(
    scorer: APIClient, people: dict[str, Any], referred: ReviewCase
) -> None:
    review_case_take(case=referred, user=people["alice"])
    review_case_close(case=referred, user=people["alice"], final_decision="approve", justification="Stable income.")
    referred.refresh_from_db()
    assert referred.status == "awaiting_approval"
    assert detail(scorer, referred.decision)["status"] == "pending_review"
    with pytest.raises(PermissionDenied):
        review_case_approve(case=referred, user=people["alice"])  # the proposer: never
    review_case_approve(case=referred, user=people["bob"])
    referred.refresh_from_db()
    assert (referred.status, referred.final_decision, referred.approved_by) == ("closed", "approve", people["bob"])
    body = detail(scorer, referred.decision)
    assert (body["status"], body["automated_decision"], body["final_decision"]) == ("final", "refer", "approve")
    assert body["decided_by"] == f"user:{people['alice'].pk}"


def test_a_second_person_may_send_a_proposal_back(people: dict[str, Any], referred: ReviewCase) -> None:
    review_case_take(case=referred, user=people["alice"])
    review_case_close(case=referred, user=people["alice"], final_decision="approve", justification="Stable income.")
    review_case_send_back(case=referred, user=people["bob"])
    referred.refresh_from_db()
    assert (referred.status, referred.proposed_decision, referred.assignee) == ("assigned", "", people["alice"])
    assert AuditEvent.objects.filter(action="review.sent_back").exists()


def test_overriding_an_automatic_refusal_needs_four_eyes_and_keeps_both_decisions(
    scorer: APIClient, people: dict[str, Any], credit_model: ModelVersion
) -> None:
    decision = decide(scorer, RISKY)
    assert decision.decision == "refuse"
    with pytest.raises(ValidationError):
        review_case_open_override(decision=decision, user=people["alice"], note=" ")
    with pytest.raises(PermissionDenied):
        review_case_open_override(decision=decision, user=people["viewer"], note="Please look again.")
    case = review_case_open_override(decision=decision, user=people["alice"], note="New payslips arrived.")
    assert (case.origin, case.status, case.assignee) == ("override", "assigned", people["alice"])
    assert detail(scorer, decision)["status"] == "pending_review"
    review_case_close(case=case, user=people["alice"], final_decision="approve", justification="Payslips checked.")
    decision.refresh_from_db()
    assert decision.final_decision is None  # not final before the second approval
    review_case_approve(case=case, user=people["admin"])
    decision.refresh_from_db()
    assert (decision.decision, decision.final_decision) == ("refuse", "approve")
    assert decision.decided_at is not None


def test_overriding_an_approval_to_a_refusal_needs_one_person(
    scorer: APIClient, people: dict[str, Any], credit_model: ModelVersion
) -> None:
    decision = decide(scorer, SAFE)
    assert (decision.decision, decision.prediction) == ("approve", 0)
    case = review_case_open_override(decision=decision, user=people["bob"], note="Fraud suspected.")
    review_case_close(case=case, user=people["bob"], final_decision="refuse", justification="Forged documents.")
    decision.refresh_from_db()
    assert (decision.decision, decision.final_decision, decision.decided_by) == ("approve", "refuse", people["bob"])


def test_the_case_page_shows_inputs_band_reasons_shadow_and_earlier_decisions(
    scorer: APIClient, people: dict[str, Any], referred: ReviewCase
) -> None:
    earlier = decide(scorer, RISKY)  # the same client, again: referred too
    case = ReviewCase.objects.get(decision=earlier)
    page = browser(people["alice"]).get(f"/admin/scoring/reviewcase/{case.pk}/change/").content.decode()
    assert 'id="take-case"' in page and 'id="decide-case"' not in page
    assert "inside the refer band 0.0%–100.0%" in page
    assert "Insufficient information: Years with the current employer" in page
    assert "Past payment incidents" in page and "null" not in page.split('id="case-reasons"')[1].split("</table>")[0]
    assert "No challenger model was scoring in shadow." in page
    assert str(referred.decision.probability_default)[:4] in page or "55." in page
    earlier_table = page.split('id="case-earlier"')[1].split("</table>")[0]
    assert "refer" in earlier_table and "None." not in earlier_table
    review_case_take(case=case, user=people["alice"])
    page = browser(people["alice"]).get(f"/admin/scoring/reviewcase/{case.pk}/change/").content.decode()
    assert 'id="decide-case"' in page


def test_the_admin_decide_and_approve_pages_work_end_to_end(people: dict[str, Any], referred: ReviewCase) -> None:
    alice, bob = browser(people["alice"]), browser(people["bob"])
    assert alice.post(f"/admin/scoring/reviewcase/{referred.pk}/take/").status_code == 302
    url = f"/admin/scoring/reviewcase/{referred.pk}/decide/"
    assert alice.post(url, {"final_decision": "approve", "justification": ""}).status_code == 200  # form error
    decided = alice.post(url, {"final_decision": "approve", "justification": "Guarantor.", "contests_seen": 0})
    assert decided.status_code == 302
    page = alice.get(f"/admin/scoring/reviewcase/{referred.pk}/change/").content.decode()
    assert 'id="approve-case"' not in page  # not for the proposer
    assert 'id="approve-case"' in bob.get(f"/admin/scoring/reviewcase/{referred.pk}/change/").content.decode()
    assert bob.post(f"/admin/scoring/reviewcase/{referred.pk}/approve/").status_code == 302
    referred.refresh_from_db()
    assert (referred.status, referred.final_decision) == ("closed", "approve")


def test_an_analyst_asks_for_an_override_from_the_decision_page(
    scorer: APIClient, people: dict[str, Any], credit_model: ModelVersion
) -> None:
    decision = decide(scorer, RISKY)
    page = browser(people["alice"]).get(f"/admin/scoring/decision/{decision.pk}/change/").content.decode()
    assert 'id="ask-override"' in page
    url = f"/admin/scoring/decision/{decision.pk}/override/"
    assert browser(people["viewer"]).get(url).status_code == 403
    assert browser(people["alice"]).post(url, {"note": ""}).status_code == 200  # the note is required
    response = browser(people["alice"]).post(url, {"note": "New payslips."})
    case = ReviewCase.objects.get(decision=decision)
    assert response["Location"].endswith(f"/admin/scoring/reviewcase/{case.pk}/change/")
    assert (case.origin, case.assignee, case.opening_note) == ("override", people["alice"], "New payslips.")
    page = browser(people["alice"]).get(f"/admin/scoring/decision/{decision.pk}/change/").content.decode()
    assert 'id="ask-override"' not in page and f"case {case.pk}" in page


def test_the_underwriter_reads_what_the_applicant_contested_on_the_case_and_decide_pages(
    scorer: APIClient, people: dict[str, Any], credit_model: ModelVersion
) -> None:
    """GDPR Art. 22(3): the applicant expresses their point of view; the person deciding must read it."""
    decision = decide(scorer, RISKY)
    url = f"/api/v1/predictions/{decision.pk}/contest"
    for statement in ("My income has doubled since March <b>.", "And the incident was repaid."):
        assert scorer.post(url, {"statement": statement}, format="json").status_code == 201
    case = ReviewCase.objects.get(decision=decision, origin="contest")
    review_case_take(case=case, user=people["alice"])
    alice = browser(people["alice"])
    for page in (f"/admin/scoring/reviewcase/{case.pk}/change/", f"/admin/scoring/reviewcase/{case.pk}/decide/"):
        html = alice.get(page).content.decode()
        contests = html.split('id="case-contests"')[1].split("</table>")[0]
        assert "My income has doubled since March &lt;b&gt;." in contests
        assert "And the incident was repaid." in contests


def test_a_contest_arriving_while_the_underwriter_decides_stops_the_decision_until_read(
    scorer: APIClient, people: dict[str, Any], credit_model: ModelVersion
) -> None:
    """A contest joins the open case: the underwriter who decides on a page shown before it has not read
    it. Nothing is decided; the page comes back with the new statement, and deciding again works."""
    decision = decide(scorer, RISKY)
    url = f"/api/v1/predictions/{decision.pk}/contest"
    assert scorer.post(url, {"statement": "My income has doubled."}, format="json").status_code == 201
    case = ReviewCase.objects.get(decision=decision, origin="contest")
    review_case_take(case=case, user=people["alice"])
    alice = browser(people["alice"])
    decide_url = f"/admin/scoring/reviewcase/{case.pk}/decide/"
    shown = alice.get(decide_url)
    assert shown.context["form"]["contests_seen"].value() == 1
    assert scorer.post(url, {"statement": "And the incident was a bank error."}, format="json").status_code == 201
    answer = {"final_decision": "refuse", "justification": "Income not proven.", "contests_seen": 1}
    stopped = alice.post(decide_url, answer)
    assert stopped.status_code == 200
    assert "contested again" in str(stopped.context["form"].errors["final_decision"])
    assert "And the incident was a bank error." in stopped.content.decode()
    case.refresh_from_db()
    assert case.status == "assigned" and not case.justification
    with pytest.raises(ValidationError) as refused:
        review_case_close(case=case, user=people["alice"], final_decision="refuse", justification="x", contests_seen=1)
    assert "final_decision" in refused.value.message_dict
    assert stopped.context["form"]["contests_seen"].value() == "2"  # the page now shows both
    assert alice.post(decide_url, {**answer, "contests_seen": 2}).status_code == 302
    case.refresh_from_db()
    assert (case.status, case.final_decision) == ("closed", "refuse")


def test_an_override_note_too_long_is_refused_not_cut(scorer: APIClient, people: dict[str, Any]) -> None:
    decision = decide(scorer, RISKY)
    with pytest.raises(ValidationError) as refused:
        review_case_open_override(decision=decision, user=people["alice"], note="x" * 2001)
    assert "opening_note" in refused.value.message_dict
    assert not ReviewCase.objects.filter(decision=decision).exists()
