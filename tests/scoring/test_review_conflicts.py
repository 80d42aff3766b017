"""No one reviews their own request: the person who asked for a decision, or recorded its contest, leaves its
review case to a colleague (take, assignment, decision, second approval)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import OidcIdentity
from accounts.principals import oidc_label
from scoring.models import Decision, ModelVersion, ReviewCase
from scoring.review.services import (
    contest_record,
    review_case_approve,
    review_case_assign,
    review_case_close,
    review_case_open_override,
    review_case_take,
)
from tests.factories import UserFactory, make_decision

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, Any]:
    return {
        "alice": UserFactory(username="alice", roles=["analyst"]),
        "bob": UserFactory(username="bob", roles=["analyst"]),
        "carol": UserFactory(username="carol", roles=["analyst"]),
        "admin": UserFactory(username="boss", roles=["admin"]),
    }


def referral(model: ModelVersion, caller: str, *, probability: float = 0.1) -> ReviewCase:
    """A referral asked for by ``caller`` (below the threshold of 0.3 unless said: approving it is final at once)."""
    decision = make_decision(
        model, decision="refer", probability_default=probability, prediction=int(probability >= 0.3), caller=caller
    )
    return ReviewCase.objects.create(decision=decision)


def test_an_analyst_cannot_take_the_referral_of_a_decision_they_asked_for(
    credit_model: ModelVersion, people: dict[str, Any]
) -> None:
    case = referral(credit_model, f"user:{people['alice'].pk}")
    with pytest.raises(ValidationError) as exc:
        review_case_take(case=case, user=people["alice"])
    assert "You asked for this decision" in str(exc.value.message_dict["assignee"])
    case.refresh_from_db()
    assert (case.status, case.assignee) == ("open", None)
    review_case_take(case=case, user=people["bob"])  # a colleague does


def test_an_admin_cannot_assign_a_case_to_the_analyst_who_asked_for_its_decision(
    credit_model: ModelVersion, people: dict[str, Any]
) -> None:
    case = referral(credit_model, f"user:{people['alice'].pk}")
    with pytest.raises(ValidationError) as exc:
        review_case_assign(case=case, assignee=people["alice"], by=people["admin"])
    assert "assign a colleague" in str(exc.value.message_dict["assignee"])
    case.refresh_from_db()
    assert case.assignee is None


def test_an_admin_cannot_decide_a_decision_they_asked_for(credit_model: ModelVersion, people: dict[str, Any]) -> None:
    case = referral(credit_model, f"user:{people['admin'].pk}")
    review_case_assign(case=case, assignee=people["bob"], by=people["admin"])
    with pytest.raises(PermissionDenied, match="You asked for this decision"):
        review_case_close(case=case, user=people["admin"], final_decision="approve", justification="Mine, fine.")
    case.decision.refresh_from_db()
    assert case.decision.final_decision is None


def test_a_bearer_token_decision_binds_the_person_behind_it(credit_model: ModelVersion, people: dict[str, Any]) -> None:
    """A decision asked for with Alice's OpenID Connect token is recorded as ``oidc:<hash>``: still hers."""
    OidcIdentity.objects.create(user=people["alice"], issuer="https://idp.example", subject="alice-sub")
    case = referral(credit_model, oidc_label("https://idp.example", "alice-sub"))
    with pytest.raises(ValidationError):
        review_case_take(case=case, user=people["alice"])


def test_the_analyst_who_recorded_a_contest_cannot_decide_it(
    credit_model: ModelVersion, people: dict[str, Any]
) -> None:
    decision = make_decision(credit_model, decision="refuse", prediction=1, probability_default=0.6)
    contest = contest_record(
        decision=decision, statement="I repaid it.", caller=f"user:{people['alice'].pk}", user=people["alice"]
    )
    case = contest.review_case
    with pytest.raises(ValidationError):
        review_case_take(case=case, user=people["alice"])
    review_case_assign(case=case, assignee=people["bob"], by=people["admin"])
    contest_record(decision=decision, statement="And more.", caller=f"user:{people['carol'].pk}", user=people["carol"])
    # Bob may decide; Carol, who recorded the second contest, may not even as an approver.
    review_case_close(case=case, user=people["bob"], final_decision="approve", justification="Repaid: proof seen.")
    case.refresh_from_db()
    assert case.status == "awaiting_approval"
    with pytest.raises(PermissionDenied, match="You recorded the applicant's contest"):
        review_case_approve(case=case, user=people["carol"])
    review_case_approve(case=case, user=people["admin"])
    decision.refresh_from_db()
    assert decision.final_decision == "approve"


def test_the_analyst_who_asked_for_a_decision_cannot_give_its_second_approval(
    credit_model: ModelVersion, people: dict[str, Any]
) -> None:
    case = referral(credit_model, f"user:{people['alice'].pk}", probability=0.5)  # approving it needs four eyes
    review_case_take(case=case, user=people["bob"])
    review_case_close(case=case, user=people["bob"], final_decision="approve", justification="Guarantor found.")
    with pytest.raises(PermissionDenied, match="You asked for this decision"):
        review_case_approve(case=case, user=people["alice"])
    case.refresh_from_db()
    assert (case.status, case.approved_by) == ("awaiting_approval", None)


def test_an_override_asked_for_by_the_decisions_own_requester_waits_for_a_colleague(
    credit_model: ModelVersion, people: dict[str, Any]
) -> None:
    decision = make_decision(credit_model, caller=f"user:{people['alice'].pk}")  # an automatic approval
    case = review_case_open_override(decision=decision, user=people["alice"], note="The payslip looks forged.")
    assert (case.status, case.assignee) == ("open", None)
    other = make_decision(credit_model)
    assert review_case_open_override(decision=other, user=people["alice"], note="Check.").assignee == people["alice"]


def test_an_api_keys_decision_binds_no_one(credit_model: ModelVersion, people: dict[str, Any]) -> None:
    case = referral(credit_model, "apikey:abcd1234")
    review_case_take(case=case, user=people["alice"])
    review_case_close(case=case, user=people["alice"], final_decision="approve", justification="Fine.")
    assert Decision.objects.get(pk=case.decision_id).final_decision == "approve"


def test_the_case_page_says_why_and_offers_neither_take_nor_decide(
    credit_model: ModelVersion, people: dict[str, Any]
) -> None:
    case = referral(credit_model, f"user:{people['alice'].pk}")
    browser = Client()
    browser.force_login(people["alice"])
    page = browser.get(f"/admin/scoring/reviewcase/{case.pk}/change/").content.decode()
    assert 'id="case-conflict"' in page and "You asked for this decision" in page
    assert 'id="take-case"' not in page
    answer = browser.post(f"/admin/scoring/reviewcase/{case.pk}/take/", follow=True)
    assert "You asked for this decision" in answer.content.decode()
    case.refresh_from_db()
    assert case.assignee is None


def test_a_decision_asked_for_through_the_api_by_an_analyst_is_theirs(
    credit_model: ModelVersion, people: dict[str, Any]
) -> None:
    from scoring.services import model_version_set_refer_band

    model_version_set_refer_band(model_version=credit_model, lower=0.0, upper=1.0)
    api = APIClient()
    api.force_authenticate(people["alice"])
    response = api.post("/api/v1/score", {"age": 35, "revenu": 50000, "historique_impaye": 1}, format="json")
    assert response.status_code == 201, response.json()
    case = ReviewCase.objects.get(decision_id=response.json()["id"])
    with pytest.raises(ValidationError):
        review_case_take(case=case, user=people["alice"])


def test_the_underwriter_who_refused_does_not_review_the_contest_of_their_refusal(
    credit_model: ModelVersion, people: dict[str, Any]
) -> None:
    case = referral(credit_model, "apikey:abcd1234")
    review_case_take(case=case, user=people["alice"])
    review_case_close(
        case=case, user=people["alice"], final_decision="refuse", justification="Forged.", refusal_reasons=["U05"]
    )
    contested = contest_record(decision=case.decision, statement="It is not forged.", caller="apikey:abcd1234")
    again = contested.review_case
    with pytest.raises(ValidationError) as exc:
        review_case_take(case=again, user=people["alice"])
    assert "You took the decision under review" in str(exc.value.message_dict["assignee"])
    with pytest.raises(ValidationError):
        review_case_assign(case=again, assignee=people["alice"], by=people["admin"])
    review_case_take(case=again, user=people["bob"])
    review_case_close(case=again, user=people["bob"], final_decision="approve", justification="Original seen.")
    assert Decision.objects.get(pk=case.decision_id).final_decision == "approve"


def test_the_second_approver_of_a_decision_does_not_review_its_contest(
    credit_model: ModelVersion, people: dict[str, Any]
) -> None:
    case = referral(credit_model, "apikey:abcd1234", probability=0.5)
    review_case_take(case=case, user=people["alice"])
    review_case_close(case=case, user=people["alice"], final_decision="approve", justification="Guarantor.")
    review_case_approve(case=case, user=people["bob"])
    again = contest_record(decision=case.decision, statement="Why approve?", caller="apikey:abcd1234").review_case
    review_case_assign(case=again, assignee=people["carol"], by=people["admin"])
    review_case_close(
        case=again,
        user=people["carol"],
        final_decision="refuse",
        justification="Guarantor gone.",
        refusal_reasons=["U01"],
    )
    with pytest.raises(ValidationError):  # Bob, who approved the decision under review, may not take it back
        review_case_take(
            case=contest_record(decision=case.decision, statement="Again.", caller="apikey:abcd1234").review_case,
            user=people["bob"],
        )


def test_the_override_page_says_the_case_waits_for_a_colleague(
    credit_model: ModelVersion, people: dict[str, Any]
) -> None:
    decision = make_decision(credit_model, caller=f"user:{people['alice'].pk}")
    browser = Client()
    browser.force_login(people["alice"])
    page = browser.post(f"/admin/scoring/decision/{decision.pk}/override/", {"note": "Forged?"}, follow=True)
    text = page.content.decode()
    assert "waits in the queue for a colleague" in text and "assigned to you" not in text
    assert ReviewCase.objects.get(decision=decision).assignee is None
