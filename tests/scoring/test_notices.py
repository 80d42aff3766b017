"""Reason codes in words, adverse-action notices (JSON and HTML) and contests that reopen a review."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import TestCase
from rest_framework.test import APIClient

from scoring.models import Contest, Decision, ModelVersion, ReviewCase
from scoring.reasons import plain_reasons, reason_code
from scoring.review.services import review_case_close, review_case_open_override, review_case_take
from scoring.services import model_version_set_refer_band
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RISKY = {"age": 35, "revenu": 50000, "historique_impaye": 1}  # refused; most features missing


@pytest.fixture
def scorer(key_client: Callable[..., APIClient], credit_model: ModelVersion) -> APIClient:
    return key_client("analyst", ["score", "read"])


def decide(api: APIClient, payload: dict[str, Any]) -> Decision:
    response = api.post("/api/v1/score", payload, format="json")
    assert response.status_code == 201, response.json()
    return Decision.objects.get(pk=response.json()["id"])


def test_every_feature_has_a_stable_code_by_its_place_in_the_schema(credit_model: ModelVersion) -> None:
    schema = credit_model.feature_schema
    codes = [reason_code(schema, f["name"]) for f in schema]
    assert codes == [f"R{i:02d}" for i in range(1, len(schema) + 1)]
    assert reason_code(schema, "historique_impaye") == "R03"


def test_missing_inputs_read_insufficient_information_never_as_the_person(credit_model: ModelVersion) -> None:
    reasons = [
        {"feature": "seniority_years", "label": "Years with the current employer", "value": None, "contribution": 0.3},
        {"feature": "historique_impaye", "label": "Past payment incidents", "value": 1, "contribution": 1.4},
        {"feature": "age", "label": "Age", "value": 30, "contribution": -0.2},
    ]
    words = plain_reasons(credit_model.feature_schema, reasons)
    assert [(r.code, r.title) for r in words] == [
        ("R04", "Insufficient information: Years with the current employer"),
        ("R03", "Past payment incidents"),
    ]  # only what raised the risk
    assert words[0].sentence.startswith("Insufficient information:")


def test_the_notice_of_a_refusal_gives_four_reasons_in_words_the_date_the_lender_and_the_rights(
    scorer: APIClient, settings: Any
) -> None:
    settings.CREDIT_NOTICE_LENDER_NAME = "Banque Exemple"
    settings.CREDIT_NOTICE_LENDER_CONTACT = "review@banque.example"
    decision = decide(scorer, RISKY)
    assert decision.decision == "refuse"
    response = scorer.get(f"/api/v1/predictions/{decision.pk}/notice")
    assert response.status_code == 200, response.json()
    notice = response.json()
    assert notice["decision"] == "refuse" and notice["decision_id"] == str(decision.pk)
    assert notice["date"] == decision.created_at.date().isoformat()
    assert notice["lender"] == {"name": "Banque Exemple", "contact": "review@banque.example"}
    assert 1 <= len(notice["reasons"]) <= 4
    schema_names = {f["name"] for f in decision.model_version.feature_schema}
    for reason in notice["reasons"]:
        assert re.fullmatch(r"R\d\d", reason["code"])
        text = f"{reason['title']} {reason['sentence']}"
        assert "null" not in text.lower() and "None" not in text
        assert not set(re.findall(r"[a-z_]+", text)) & {n for n in schema_names if "_" in n or n == "revenu"}
    assert notice["reasons"][0]["title"] == "Past payment incidents"
    assert any(r["title"].startswith("Insufficient information: ") for r in notice["reasons"])
    assert any("human" in right or "person" in right for right in notice["rights"])
    assert any("contest" in right for right in notice["rights"])


@pytest.mark.parametrize(("query", "headers"), [({"format": "html"}, {}), ({}, {"HTTP_ACCEPT": "text/html"})])
def test_the_notice_prints_as_html(scorer: APIClient, query: dict[str, str], headers: dict[str, str]) -> None:
    decision = decide(scorer, RISKY)
    response = scorer.get(f"/api/v1/predictions/{decision.pk}/notice", query, **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Principal reasons" in page and "Past payment incidents" in page and "(R03)" in page
    assert "null" not in page and "historique_impaye" not in page
    assert str(decision.pk) in page


def test_no_notice_for_an_approval_or_a_pending_referral_and_errors_stay_json(
    scorer: APIClient, credit_model: ModelVersion
) -> None:
    approved = decide(scorer, {**RISKY, "historique_impaye": 0, "revenu": 900, "seniority_years": 30})
    with TestCase.captureOnCommitCallbacks(execute=True):
        model_version_set_refer_band(model_version=credit_model, lower=0.0, upper=1.0)
    referred = decide(scorer, RISKY)
    assert (approved.decision, referred.decision) == ("approve", "refer")
    for decision in (approved, referred):
        for asked in ({"data": {"format": "html"}}, {"HTTP_ACCEPT": "text/html"}):  # a browser, too
            response = scorer.get(f"/api/v1/predictions/{decision.pk}/notice", **asked)
            assert response.status_code == 409
            assert response["Content-Type"].startswith("application/json")
            assert "final refusal" in response.json()["detail"]
    missing = scorer.get("/api/v1/predictions/00000000-0000-0000-0000-000000000000/notice")
    assert missing.status_code == 404 and missing["Content-Type"].startswith("application/json")


def test_an_underwriters_refusal_of_a_referral_has_a_notice(scorer: APIClient, credit_model: ModelVersion) -> None:
    with TestCase.captureOnCommitCallbacks(execute=True):
        model_version_set_refer_band(model_version=credit_model, lower=0.0, upper=1.0)
    decision = decide(scorer, RISKY)
    case = ReviewCase.objects.get(decision=decision)
    analyst = UserFactory(username="ursula", roles=["analyst"])
    review_case_take(case=case, user=analyst)
    review_case_close(
        case=case, user=analyst, final_decision="refuse", justification="Incidents confirmed.", refusal_reasons=["U08"]
    )
    notice = scorer.get(f"/api/v1/predictions/{decision.pk}/notice").json()
    assert (notice["decision"], notice["decided_by"]) == ("refuse", "person")


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
}


# Two reasons an underwriter states, as the notice and the detail show them (in the order stated).
U05_U02 = [
    {
        "code": "U05",
        "title": "Inconsistent or unreliable documents",
        "sentence": "Documents provided were inconsistent with each other or with your application, "
        "or could not be relied on.",
    },
    {
        "code": "U02",
        "title": "Unable to verify income",
        "sentence": "We were unable to verify your income from the documents provided.",
    },
]


def refused_by_a_person(decision: Decision, reasons: list[str]) -> ReviewCase:
    """An analyst asks to override the decision and refuses it, with ``reasons``."""
    analyst = UserFactory(roles=["analyst"])
    case = review_case_open_override(decision=decision, user=analyst, note="The payslip looks forged.")
    review_case_close(
        case=case,
        user=analyst,
        final_decision="refuse",
        justification="The employer never issued this payslip.",
        refusal_reasons=reasons,
    )
    return case


def test_a_persons_refusal_lists_the_underwriters_reasons_not_the_models(scorer: APIClient) -> None:
    """ECOA / Reg B §1002.9: the actual principal reasons. The model approved; the person refused for a
    forged payslip: the notice gives the person's reasons, in the order they gave them."""
    decision = decide(scorer, SAFE)
    assert decision.decision == "approve"
    refused_by_a_person(decision, ["U05", "U02"])
    response = scorer.get(f"/api/v1/predictions/{decision.pk}/notice")
    assert response.status_code == 200, response.json()
    notice = response.json()
    assert (notice["decision"], notice["decided_by"]) == ("refuse", "person")
    assert notice["reasons"] == U05_U02
    page = scorer.get(f"/api/v1/predictions/{decision.pk}/notice", {"format": "html"}).content.decode()
    listed = page.split('id="notice-reasons"')[1].split("</ol>")[0]
    assert listed.index("Inconsistent or unreliable documents") < listed.index("Unable to verify income")
    assert "(U05)" in listed and "(U02)" in listed and "(R" not in listed
    assert "taken by one of our underwriters" in page
    assert "employer never issued" not in page  # the justification is the file's, not the notice's


def test_a_refusal_confirmed_after_a_contest_lists_the_persons_reasons(scorer: APIClient) -> None:
    decision = decide(scorer, RISKY)  # refused by the model: R03 first
    assert scorer.get(f"/api/v1/predictions/{decision.pk}/notice").json()["reasons"][0]["code"] == "R03"
    url = f"/api/v1/predictions/{decision.pk}/contest"
    assert scorer.post(url, {"statement": "The incident was repaid."}, format="json").status_code == 201
    case = ReviewCase.objects.get(decision=decision, origin="contest")
    analyst = UserFactory(roles=["analyst"])
    review_case_take(case=case, user=analyst)
    review_case_close(
        case=case, user=analyst, final_decision="refuse", justification="Still unpaid.", refusal_reasons=["U08"]
    )
    notice = scorer.get(f"/api/v1/predictions/{decision.pk}/notice").json()
    assert [r["code"] for r in notice["reasons"]] == ["U08"] and notice["decided_by"] == "person"


def test_a_case_closed_before_reasons_were_asked_for_falls_back_to_the_models_reasons(scorer: APIClient) -> None:
    """Cases closed before migration 0020 have no codes: the notice gives the model's reasons, never a 500."""
    decision = decide(scorer, RISKY)
    case = refused_by_a_person(decision, ["U05"])
    ReviewCase.objects.filter(pk=case.pk).update(refusal_reasons=[])  # as stored before the field existed
    for query in ({}, {"format": "html"}):
        response = scorer.get(f"/api/v1/predictions/{decision.pk}/notice", query)
        assert response.status_code == 200
    notice = scorer.get(f"/api/v1/predictions/{decision.pk}/notice").json()
    assert notice["decided_by"] == "person"
    assert notice["reasons"][0] == {
        "code": "R03",
        "title": "Past payment incidents",
        "sentence": "Past payment incidents are recorded.",
    }


def test_a_contest_is_recorded_and_reopens_a_review_case(scorer: APIClient) -> None:
    decision = decide(scorer, RISKY)
    url = f"/api/v1/predictions/{decision.pk}/contest"
    empty = scorer.post(url, {"statement": "  "}, format="json")
    assert empty.status_code == 400 and "statement" in empty.json()["fields"]
    response = scorer.post(url, {"statement": "My income has doubled since March."}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    case = ReviewCase.objects.get(pk=body["review_case"])
    assert (case.origin, case.status, case.decision_id) == ("contest", "open", decision.pk)
    contest = Contest.objects.get(pk=body["id"])
    assert contest.statement == "My income has doubled since March." and contest.caller.startswith("apikey:")
    detail = scorer.get(f"/api/v1/predictions/{decision.pk}/").json()
    assert detail["status"] == "pending_review" and detail["final_decision"] == "refuse"
    # A second contest joins the open case; the notice waits for the review.
    again = scorer.post(url, {"statement": "And I changed jobs."}, format="json").json()
    assert again["review_case"] == case.pk
    assert scorer.get(f"/api/v1/predictions/{decision.pk}/notice").status_code == 409


def test_a_pending_referral_cannot_be_contested_yet(scorer: APIClient, credit_model: ModelVersion) -> None:
    with TestCase.captureOnCommitCallbacks(execute=True):
        model_version_set_refer_band(model_version=credit_model, lower=0.0, upper=1.0)
    decision = decide(scorer, RISKY)
    response = scorer.post(f"/api/v1/predictions/{decision.pk}/contest", {"statement": "Why?"}, format="json")
    assert response.status_code == 409
    assert not Contest.objects.exists()


def test_a_contest_refuses_a_number_for_its_statement_and_unknown_fields(scorer: APIClient) -> None:
    """The README's rule: a number where text is expected, or an unknown field, is a 400 naming it."""
    decision = decide(scorer, RISKY)
    url = f"/api/v1/predictions/{decision.pk}/contest"
    number = scorer.post(url, {"statement": 42}, format="json")
    assert number.status_code == 400 and number.json()["fields"] == {"statement": ["Not a valid string."]}
    extra = scorer.post(url, {"statement": "My income has doubled.", "unknown": 1}, format="json")
    assert extra.status_code == 400 and extra.json()["fields"] == {"unknown": ["Unknown field."]}
    assert not Contest.objects.exists()
    assert ReviewCase.objects.filter(decision=decision).count() == 0


# --- The stated reasons outside the notice: the decision's detail (docs/review.md) -----------------


def detail(api: APIClient, decision: Decision) -> dict[str, Any]:
    response = api.get(f"/api/v1/predictions/{decision.pk}/")
    assert response.status_code == 200, response.json()
    return response.json()  # type: ignore[no-any-return]


def test_the_detail_of_a_persons_refusal_lists_the_reasons_they_stated_in_their_order(scorer: APIClient) -> None:
    decision = decide(scorer, SAFE)
    refused_by_a_person(decision, ["U05", "U02"])
    body = detail(scorer, decision)
    assert (body["final_decision"], body["status"]) == ("refuse", "final")
    assert body["refusal_reasons"] == U05_U02
    notice = scorer.get(f"/api/v1/predictions/{decision.pk}/notice").json()
    assert body["refusal_reasons"] == notice["reasons"]  # one answer: the notice's
    assert "employer never issued" not in str(body)  # the justification stays in the file


def test_a_models_decision_has_no_refusal_reasons_and_the_list_does_not_carry_them(
    scorer: APIClient, credit_model: ModelVersion
) -> None:
    refused, approved = decide(scorer, RISKY), decide(scorer, SAFE)
    with TestCase.captureOnCommitCallbacks(execute=True):
        model_version_set_refer_band(model_version=credit_model, lower=0.0, upper=1.0)
    referred = decide(scorer, RISKY)
    for decision, outcome in ((refused, "refuse"), (approved, "approve"), (referred, "refer")):
        body = detail(scorer, decision)
        assert (body["decision"], body["refusal_reasons"]) == (outcome, [])
    assert detail(scorer, refused)["reasons"]  # the model's reasons are the decision's own field
    rows = scorer.get("/api/v1/predictions/").json()["results"]
    assert len(rows) == 3 and not any("refusal_reasons" in row for row in rows)  # the list stays one query


def test_a_reopened_case_decided_again_replaces_the_reasons(scorer: APIClient) -> None:
    """A contest reopens the refusal: while it is reviewed the refusal (and its reasons) stands; the new
    decision replaces them, a refusal with its own reasons, an approval with none."""
    decision = decide(scorer, SAFE)
    refused_by_a_person(decision, ["U05"])
    url = f"/api/v1/predictions/{decision.pk}/contest"
    assert scorer.post(url, {"statement": "The payslip is genuine."}, format="json").status_code == 201
    body = detail(scorer, decision)
    assert (body["status"], body["final_decision"]) == ("pending_review", "refuse")
    assert [r["code"] for r in body["refusal_reasons"]] == ["U05"]
    case = ReviewCase.objects.get(decision=decision, origin="contest")
    analyst = UserFactory(roles=["analyst"])
    review_case_take(case=case, user=analyst)
    review_case_close(
        case=case,
        user=analyst,
        final_decision="refuse",
        justification="Genuine, but the income is too low.",
        refusal_reasons=["U06", "U07"],
    )
    body = detail(scorer, decision)
    assert [r["code"] for r in body["refusal_reasons"]] == ["U06", "U07"]
    assert [r["code"] for r in scorer.get(f"{url[: -len('contest')]}notice").json()["reasons"]] == ["U06", "U07"]
    assert scorer.post(url, {"statement": "I found a second job."}, format="json").status_code == 201
    again = ReviewCase.objects.get(decision=decision, origin="contest", status="open")
    colleague = UserFactory(roles=["analyst"])  # the analyst who refused does not review their own refusal
    review_case_take(case=again, user=colleague)
    review_case_close(case=again, user=colleague, final_decision="approve", justification="Second job verified.")
    body = detail(scorer, decision)
    assert (body["final_decision"], body["refusal_reasons"]) == ("approve", [])


def test_a_refusal_closed_before_reasons_were_asked_for_lists_none_in_the_detail(scorer: APIClient) -> None:
    """No codes stored: no made-up ones (the notice falls back to the model's reasons, the detail has them
    in ``reasons``)."""
    decision = decide(scorer, RISKY)
    case = refused_by_a_person(decision, ["U05"])
    ReviewCase.objects.filter(pk=case.pk).update(refusal_reasons=[])  # as stored before the field existed
    body = detail(scorer, decision)
    assert (body["final_decision"], body["refusal_reasons"]) == ("refuse", [])
    assert body["decided_by"].startswith("user:")  # a person's refusal all the same


@pytest.mark.parametrize(
    ("query", "headers"),
    [({}, {"HTTP_ACCEPT": "application/pdf"}), ({}, {"HTTP_ACCEPT": "text/plain, image/*"}), ({"format": "pdf"}, {})],
)
def test_a_notice_asked_in_a_format_it_does_not_come_in_is_a_406(
    scorer: APIClient, query: dict[str, str], headers: dict[str, str]
) -> None:
    """``Accept: application/pdf`` got the JSON notice with a 200 (a client saving it as a PDF
    saved JSON), where the document and every other endpoint answer 406."""
    decision = decide(scorer, RISKY)
    response = scorer.get(f"/api/v1/predictions/{decision.pk}/notice", query, **headers)
    assert response.status_code == 406, response.content[:200]
    assert response.json()["error"] == "not_acceptable"
    assert "JSON" in response.json()["detail"] and "HTML" in response.json()["detail"]
    # What a client usually sends still gets the notice.
    for accept in ("*/*", "application/json", "text/*", "application/json, text/plain, */*"):
        assert scorer.get(f"/api/v1/predictions/{decision.pk}/notice", HTTP_ACCEPT=accept).status_code == 200, accept
