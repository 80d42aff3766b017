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
from tests.factories import UserFactory, batch_caller

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
            caller=batch_caller(),
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
        review_case_close(
            case=referred,
            user=people["bob"],
            final_decision="refuse",
            justification="not mine",
            refusal_reasons=["U02"],
        )


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
        review_case_close(
            case=referred, user=alice, final_decision="refuse", justification="held it before", refusal_reasons=["U02"]
        )


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
        review_case_close(
            case=referred, user=people["alice"], final_decision="refuse", justification="  ", refusal_reasons=["U08"]
        )
    assert "justification" in caught.value.message_dict
    review_case_close(
        case=referred,
        user=people["alice"],
        final_decision="refuse",
        justification="Incidents confirmed.",
        refusal_reasons=["U08"],
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
    review_case_close(
        case=case,
        user=people["bob"],
        final_decision="refuse",
        justification="Forged documents.",
        refusal_reasons=["U05", "U02"],
    )
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
    answer = {
        "final_decision": "refuse",
        "justification": "Income not proven.",
        "refusal_reasons": ["U02"],
        "contests_seen": 1,
    }
    stopped = alice.post(decide_url, answer)
    assert stopped.status_code == 200
    assert "contested again" in str(stopped.context["form"].errors["final_decision"])
    assert "And the incident was a bank error." in stopped.content.decode()
    case.refresh_from_db()
    assert case.status == "assigned" and not case.justification
    with pytest.raises(ValidationError) as refused:
        review_case_close(
            case=case,
            user=people["alice"],
            final_decision="refuse",
            justification="x",
            refusal_reasons=["U02"],
            contests_seen=1,
        )
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


# --- The principal reasons of a person's refusal ------------------------------------------------------


@pytest.mark.parametrize(
    ("reasons", "says"),
    [
        (None, "Choose the principal reasons"),
        ([], "Choose the principal reasons"),
        (["U99"], "Unknown reason code(s): U99"),
        (["R03"], "Unknown reason code(s): R03"),  # the model's codes are not a person's reasons
        (["U02", "U02"], "U02 given twice"),
        (["U01", "U02", "U03", "U04", "U05"], "At most 4"),
        ("U02", "Give a list of reason codes"),
        ([2], "Give a list of reason codes"),
    ],
)
def test_a_persons_refusal_states_one_to_four_reasons_of_the_catalogue(
    people: dict[str, Any], referred: ReviewCase, reasons: Any, says: str
) -> None:
    """ECOA / Reg B §1002.9: the notice gives the actual principal reasons, so the person refusing states them."""
    review_case_take(case=referred, user=people["alice"])
    with pytest.raises(ValidationError) as refused:
        review_case_close(
            case=referred,
            user=people["alice"],
            final_decision="refuse",
            justification="Payslip forged.",
            refusal_reasons=reasons,
        )
    assert list(refused.value.message_dict) == ["refusal_reasons"]
    assert says in refused.value.message_dict["refusal_reasons"][0]
    referred.refresh_from_db()
    assert (referred.status, referred.refusal_reasons) == ("assigned", [])
    assert not AuditEvent.objects.filter(action="review.closed").exists()


def test_a_refusal_keeps_its_reasons_in_the_order_given_and_the_trail_names_them(
    people: dict[str, Any], referred: ReviewCase
) -> None:
    review_case_take(case=referred, user=people["alice"])
    review_case_close(
        case=referred,
        user=people["alice"],
        final_decision="refuse",
        justification="Payslip forged: the employer has never heard of them.",
        refusal_reasons=["U05", "U02", "U03", "U04"],
    )
    referred.refresh_from_db()
    assert (referred.final_decision, referred.refusal_reasons) == ("refuse", ["U05", "U02", "U03", "U04"])
    event = AuditEvent.objects.get(action="review.closed")
    assert event.details["refusal_reasons"] == ["U05", "U02", "U03", "U04"]
    assert "employer" not in str(event.details)  # codes, never the justification


def test_an_approval_states_no_refusal_reasons_and_the_table_refuses_them_too(
    people: dict[str, Any], referred: ReviewCase
) -> None:
    from django.db import IntegrityError, transaction

    review_case_take(case=referred, user=people["alice"])
    with pytest.raises(ValidationError) as refused:
        review_case_close(
            case=referred,
            user=people["alice"],
            final_decision="approve",
            justification="Guarantor.",
            refusal_reasons=["U02"],
        )
    assert "Only a refusal" in refused.value.message_dict["refusal_reasons"][0]
    review_case_close(case=referred, user=people["alice"], final_decision="approve", justification="Guarantor.")
    review_case_approve(case=referred, user=people["bob"])
    referred.refresh_from_db()
    assert (referred.final_decision, referred.refusal_reasons) == ("approve", [])
    assert AuditEvent.objects.get(action="review.closed").details["refusal_reasons"] == []
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewCase.objects.filter(pk=referred.pk).update(refusal_reasons=["U02"])


def test_the_decide_page_offers_the_catalogue_and_shows_the_services_error(
    people: dict[str, Any], referred: ReviewCase
) -> None:
    review_case_take(case=referred, user=people["alice"])
    alice = browser(people["alice"])
    url = f"/admin/scoring/reviewcase/{referred.pk}/decide/"
    page = alice.get(url).content.decode()
    assert page.count('type="checkbox" name="refusal_reasons"') == 10
    assert "U05 Inconsistent or unreliable documents" in page
    answer = {"final_decision": "refuse", "justification": "Payslip forged.", "contests_seen": 0}
    missing = alice.post(url, answer)
    assert missing.status_code == 200
    assert "Choose the principal reasons" in str(missing.context["form"].errors["refusal_reasons"])
    assert "Choose the principal reasons" in missing.content.decode()
    too_many = alice.post(url, {**answer, "refusal_reasons": ["U01", "U02", "U03", "U04", "U05"]})
    assert "At most 4" in str(too_many.context["form"].errors["refusal_reasons"])
    approving = alice.post(url, {**answer, "final_decision": "approve", "refusal_reasons": ["U02"]})
    assert "Only a refusal" in str(approving.context["form"].errors["refusal_reasons"])
    referred.refresh_from_db()
    assert referred.status == "assigned"
    assert alice.post(url, {**answer, "refusal_reasons": ["U02", "U05"]}).status_code == 302
    referred.refresh_from_db()
    assert (referred.status, referred.final_decision, referred.refusal_reasons) == ("closed", "refuse", ["U02", "U05"])
    case_page = alice.get(f"/admin/scoring/reviewcase/{referred.pk}/change/").content.decode()
    assert "U02 Unable to verify income; U05 Inconsistent or unreliable documents" in case_page


def test_docs_review_lists_the_catalogue_as_the_code_has_it() -> None:
    """The table of docs/review.md is the catalogue underwriters and applicants read: the same codes and words."""
    from pathlib import Path

    from scoring.reasons import UNDERWRITER_REASONS

    text = (Path(__file__).resolve().parents[2] / "docs" / "review.md").read_text()
    section = text.split("### The underwriter's refusal reasons")[1].split("###")[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| `U")]
    documented = {cells[0].strip().strip("`"): (cells[1].strip(), cells[2].strip()) for cells in rows}
    assert documented == UNDERWRITER_REASONS
