"""An erased client takes no new data.

What is left of an erased person is an anonymous anchor (``erased-<random>``) holding the
records the law keeps. Data attached to it afterwards (a name typed in again, a new
decision or payment naming the token) would sit next to those records, and no request
could erase it: a GDPR request for an erased client is refused. Ids starting with
``erased-`` are reserved for those anchors: the erasure leaves such an id as it is (it
takes it for one of its own tokens), so a caller's id of that shape would survive it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as BrowserClient
from rest_framework.test import APIClient

from accounts.roles import Role
from fraud.models import Transaction
from privacy.services import erasure_execute, gdpr_request_approve, gdpr_request_record
from scoring.models import Client, Decision
from scoring.services import client_update
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAYMENT = {"montant": 20, "type": "virement"}
IDENTITY = {"first_name": "Camille", "last_name": "Zqxmartin", "email": "camille.zqx@example.test"}


@pytest.fixture
def erased(person: Any, officers: tuple[Any, Any]) -> Client:
    request = gdpr_request_record(kind="erasure", client=person, by=officers[0])
    gdpr_request_approve(request=request, by=officers[1], enqueue=False)
    assert erasure_execute(request=request).done
    person.refresh_from_db()
    assert person.erased_at is not None and person.client_id.startswith("erased-")
    return person


def _unchanged(client: Client) -> None:
    client.refresh_from_db()
    assert (client.first_name, client.last_name, client.email) == ("", "", "")


def test_the_service_refuses_to_give_an_erased_client_an_identity_again(erased: Client) -> None:
    with pytest.raises(ValidationError) as refused:
        client_update(client=erased, **IDENTITY)
    assert "client_id" in refused.value.message_dict
    _unchanged(erased)


def test_the_api_refuses_to_give_an_erased_client_an_identity_again(
    erased: Client, key_client: Callable[..., APIClient]
) -> None:
    response = key_client(Role.ANALYST, ["score"]).patch(
        f"/api/v1/clients/{erased.client_id}/", IDENTITY, format="json"
    )
    assert response.status_code == 400, response.json()
    assert "client_id" in response.json()["fields"]
    _unchanged(erased)


def test_the_admin_shows_an_erased_client_read_only(erased: Client) -> None:
    browser = BrowserClient()
    browser.force_login(UserFactory(username="analyst-admin", roles=[Role.ANALYST]))
    url = f"/admin/scoring/client/{erased.pk}/change/"
    assert browser.get(url).status_code == 200  # still visible
    response = browser.post(url, {**IDENTITY, "phone": "", "address": "", "birth_date": ""})
    assert response.status_code == 403
    _unchanged(erased)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/score", {"age": 35, "revenu": 50000, "historique_impaye": 1}, "client_id"),
        ("/fraude", {"transaction_id": "TX-new", "montant": 20, "type": "virement"}, "client_id"),
    ],
    ids=["score", "fraude"],
)
def test_no_decision_or_payment_is_stored_under_an_erased_clients_token(
    erased: Client,
    key_client: Callable[..., APIClient],
    credit_model: object,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    decisions, payments = Decision.objects.count(), Transaction.objects.count()
    response = key_client(Role.ANALYST, ["score", "fraud"]).post(
        path, {**body, "client_id": erased.client_id}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"]
    assert (Decision.objects.count(), Transaction.objects.count()) == (decisions, payments)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/clients/", {"client_id": "erased-C1001"}, "client_id"),
        ("/score", {"age": 35, "revenu": 50000, "historique_impaye": 1, "client_id": "erased-C1001"}, "client_id"),
        (
            "/fraude",
            {"transaction_id": "TX1", "montant": 20, "type": "virement", "client_id": "erased-C1"},
            "client_id",
        ),
        (
            "/fraude",
            {"transaction_id": "erased-TX1", "montant": 20, "type": "virement", "client_id": "C1"},
            "transaction_id",
        ),
    ],
    ids=["clients", "score", "fraude client_id", "fraude transaction_id"],
)
def test_an_id_in_the_erasures_namespace_is_refused_as_a_new_id(
    key_client: Callable[..., APIClient], credit_model: object, path: str, body: dict[str, Any], field: str
) -> None:
    response = key_client(Role.ANALYST, ["score", "fraud"]).post(path, body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"]
    assert not Client.objects.filter(client_id__startswith="erased-").exists()


def test_the_api_still_shows_an_erased_client_by_its_token(
    erased: Client, client_as: Callable[[str | None], APIClient]
) -> None:
    api = client_as(Role.ANALYST)
    assert api.get(f"/api/v1/clients/{erased.client_id}/").status_code == 200
    assert api.get(f"/api/v1/predictions/?client_id={erased.client_id}").status_code == 200


def test_no_legal_hold_is_placed_on_an_erased_client(erased: Client, officers: tuple[Any, Any]) -> None:
    """A hold's free-text details would sit on a person no GDPR request reaches any more."""
    from privacy.models import LegalHold
    from privacy.services import legal_hold_place

    with pytest.raises(ValidationError) as refused:
        legal_hold_place(client=erased, reason="legal_claim", by=officers[0], details="Case 12/2026, Mr Zqxmartin")
    assert "erased" in refused.value.message_dict["client_id"][0]
    browser = BrowserClient()
    browser.force_login(officers[0])
    response = browser.post(
        "/admin/privacy/legalhold/add/", {"client": erased.pk, "reason": "legal_claim", "details": "Case 12/2026"}
    )
    assert response.status_code == 200  # the form again, with the service's message under the client
    assert "erased" in str(response.context["adminform"].form.errors["client"])
    assert not LegalHold.objects.exists()


def test_an_outcome_completes_an_erased_clients_kept_decision_by_its_id_only(erased: Client) -> None:
    """The outcome is the evidence of the model's performance that keeps the decision; the person's
    own references (client and application ids) no longer lead to it."""
    from django.utils import timezone

    from governance.models import Outcome
    from governance.services import OutcomeImportError, outcomes_import

    decision = Decision.objects.get(client=erased)
    today = timezone.localdate()
    made_on = timezone.localdate(decision.created_at).isoformat()
    base = {"defaulted": True, "observed_on": today.isoformat(), "horizon_months": 12}
    with pytest.raises(OutcomeImportError) as refused:
        outcomes_import(
            rows=[{**base, "client_id": "C7001", "decision_date": made_on}, {**base, "application_id": "APP-C7001"}],
            source="api",
            caller="user:1",
        )
    assert [(e.index, e.field) for e in refused.value.errors] == [(0, "client_id"), (1, "application_id")]
    assert outcomes_import(rows=[{**base, "decision_id": str(decision.id)}], source="api", caller="user:1").count == 1
    assert Outcome.objects.get().decision_id == decision.id


def _application_form(client: Client, **changes: Any) -> dict[str, Any]:
    form = {
        "client": client.pk, "application_id": "APP-AFTER-ERASURE", "amount": "5000", "duration_months": "12",
        "purpose": "other", "declared_income": "", "age": "40", "past_payment_incidents": "0",
        "employment_years": "", "extra": "{}", "status": "received",
    }  # fmt: skip
    return {**form, **changes}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.ANALYST])
def test_the_admin_gives_an_erased_client_no_application(erased: Client, role: Role) -> None:
    """Neither a new application nor an edit of a kept one (its reference cleared by the erasure)."""
    from scoring.models import CreditApplication

    browser = BrowserClient()
    browser.force_login(UserFactory(username=f"{role}-applications", roles=[role]))
    before = CreditApplication.objects.filter(client=erased).count()
    response = browser.post("/admin/scoring/creditapplication/add/", _application_form(erased))
    assert response.status_code == 200
    assert "This client was erased" in " ".join(response.context["adminform"].form.errors["client"])
    assert CreditApplication.objects.filter(client=erased).count() == before
    kept = CreditApplication.objects.get(client=erased)  # the decided one, its reference cleared by the erasure
    url = f"/admin/scoring/creditapplication/{kept.pk}/change/"
    assert browser.get(url).status_code == 200  # still visible
    assert browser.post(url, _application_form(erased)).status_code == 403
    kept.refresh_from_db()
    assert not kept.application_id
    # Nor moved from a live client onto the erased one.
    live = Client.objects.create(client_id="C-LIVE-APP")
    moved = CreditApplication.objects.create(client=live, application_id="APP-LIVE", amount=1000, duration_months=6)
    response = browser.post(
        f"/admin/scoring/creditapplication/{moved.pk}/change/", _application_form(erased, application_id="APP-LIVE")
    )
    assert "This client was erased" in " ".join(response.context["adminform"].form.errors["client"])
    moved.refresh_from_db()
    assert moved.client_id == live.pk


def test_an_erased_clients_decision_takes_no_contest_and_no_override_note(
    erased: Client, key_client: Callable[..., APIClient]
) -> None:
    """A contest's statement (the applicant's words) or an override's note about an erased person would
    sit beside the kept decision where no request could erase them: refused, naming ``client_id``."""
    from scoring.models import Contest, ReviewCase
    from scoring.review.services import review_case_open_override

    decision = Decision.objects.get(client=erased)
    response = key_client(Role.ANALYST, ["score"]).post(
        f"/api/v1/predictions/{decision.pk}/contest", {"statement": "I am Camille Zqxmartin."}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert "erased" in response.json()["fields"]["client_id"][0]
    with pytest.raises(ValidationError) as refused:
        review_case_open_override(
            decision=decision, user=UserFactory(roles=[Role.ANALYST]), note="Camille Zqxmartin called."
        )
    assert "client_id" in refused.value.message_dict
    assert not Contest.objects.exists() and not ReviewCase.objects.exists()
