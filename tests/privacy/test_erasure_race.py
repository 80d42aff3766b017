"""A /score or /fraude for a client arriving while the client is being erased, on PostgreSQL.

The call reads the client before the erasure commits and waits on the client's row lock to
store what names it. Once the erasure has committed, nothing may be stored under the
anonymous anchor it left: it would be new data about the person beside the kept records,
where no request could reach it (a request for an erased client is refused). The call is
refused instead, with a 400 naming ``client_id``, never a 500.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from fraud.models import Transaction
from privacy import services as privacy_services
from privacy.models import GdprRequest
from scoring.models import Client, Decision, ModelVersion
from tests.factories import ClientFactory
from tests.privacy.conftest import make_history
from tests.races import in_thread, wait_for_a_lock_wait
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)

CALLS = {
    "score": ("/api/v1/score", {"age": 35, "revenu": 50000, "historique_impaye": 1}),
    "fraude": ("/api/v1/fraude", {"transaction_id": "TX-DURING-ERASURE", "montant": 20, "type": "virement"}),
    "score-batch": ("/api/v1/score/batch", None),
}


def held_erasure(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """The erasure waits for ``go`` once it has erased the client, before it commits."""
    reached, go = threading.Event(), threading.Event()
    real = privacy_services.client_erase

    def holding(**kwargs: Any) -> Any:
        outcome = real(**kwargs)
        reached.set()
        assert go.wait(timeout=60)
        return outcome

    monkeypatch.setattr(privacy_services, "client_erase", holding)
    return reached, go


def during_the_erasure(monkeypatch: pytest.MonkeyPatch, request: GdprRequest, call: Callable[[], Any]) -> Any:
    """Run ``call`` while the erasure holds the client's lock; its result (or what it raised) once both end."""
    reached, go = held_erasure(monkeypatch)
    results: dict[str, Any] = {}
    eraser = in_thread(results, "erasure", lambda: privacy_services.erasure_execute(request=request))
    assert reached.wait(timeout=60)
    caller = in_thread(results, "call", call)
    wait_for_a_lock_wait()  # the call waits for the client's row, locked by the erasure
    go.set()
    eraser.join(timeout=60)
    caller.join(timeout=60)
    assert results["erasure"].done, results["erasure"]
    return results["call"]


def approved_erasure(client_id: str, last_name: str) -> tuple[Client, GdprRequest]:
    """A client with a history, and their erasure request, approved by two officers."""
    person = ClientFactory(client_id=client_id, last_name=last_name)
    make_history(person, transactions=1, resolved_alert=False)
    now = timezone.now()
    request = GdprRequest.objects.create(
        kind="erasure", client=person, status="approved", received_at=now, due_at=now + timedelta(days=30),
        recorded_by=User.objects.create(username="officer-a"), approved_by=User.objects.create(username="officer-b"),
        approved_at=now,
    )  # fmt: skip
    return person, request


@pytest.mark.parametrize("call", list(CALLS))
def test_a_call_arriving_during_the_erasure_stores_nothing_under_the_anchor(
    key_client: Callable[..., APIClient],
    credit_model: ModelVersion,
    monkeypatch: pytest.MonkeyPatch,
    call: str,
) -> None:
    require_postgresql()
    person, request = approved_erasure("C7401", "Zqxrace")
    api = key_client("analyst", ["score", "fraud"])
    path, body = CALLS[call]
    payload = (
        {"items": [{"age": 35, "revenu": 50000, "historique_impaye": 1, "client_id": "C7401"}]}
        if body is None
        else {**body, "client_id": "C7401"}
    )
    response = during_the_erasure(monkeypatch, request, lambda: api.post(path, payload, format="json"))

    assert not isinstance(response, BaseException), response
    anchor = Client.objects.get(pk=person.pk)
    assert anchor.erased_at is not None
    # Only what the erasure kept is under the anchor: the call stored nothing there.
    assert Decision.objects.filter(client=anchor).count() == 1
    assert Transaction.objects.filter(client=anchor).count() == 1
    assert not Transaction.objects.filter(transaction_id="TX-DURING-ERASURE").exists()
    assert response.status_code == 400, response.json()
    assert "erased" in " ".join(next(v for k, v in response.json()["fields"].items() if "client_id" in k))


def test_a_contest_arriving_during_the_erasure_leaves_no_statement_behind(
    key_client: Callable[..., APIClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contest reads the client as not erased (the erasure has not committed), then stores the
    applicant's words and opens a case on the decision the erasure keeps: after the commit they
    would sit, in clear, beside the kept record. It waits for the erasure and is refused."""
    import time

    from scoring.models import Contest, ReviewCase

    require_postgresql()
    person, request = approved_erasure("C7402", "Zqxcontest")
    decision = Decision.objects.get(client=person)
    api = key_client("analyst", ["score"])
    reached, go = held_erasure(monkeypatch)
    results: dict[str, Any] = {}
    eraser = in_thread(results, "erasure", lambda: privacy_services.erasure_execute(request=request))
    assert reached.wait(timeout=60)
    caller = in_thread(
        results,
        "call",
        lambda: api.post(
            f"/api/v1/predictions/{decision.pk}/contest", {"statement": "I am Zqxcontest."}, format="json"
        ),
    )
    deadline = time.monotonic() + 30
    while caller.is_alive() and time.monotonic() < deadline:  # done at once, or waiting for the erasure
        time.sleep(0.1)
    go.set()
    eraser.join(timeout=60)
    caller.join(timeout=60)

    assert results["erasure"].done, results["erasure"]
    assert not Contest.objects.filter(statement__contains="Zqxcontest").exists()
    assert not ReviewCase.objects.filter(decision=decision).exclude(status__in=["closed", "withdrawn"]).exists()
    response = results["call"]
    assert response.status_code == 400, response.json()
    assert "erased" in response.json()["fields"]["client_id"][0]


def test_a_request_recorded_during_the_erasure_is_refused_not_left_on_the_anchor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another officer records a request for the person while the erasure runs: it read the client
    as not erased, so it would be stored linked to the anchor (the erasure has already unlinked
    the person's requests), its free-text details (how the identity was checked) in clear."""
    from django.core.exceptions import ValidationError

    require_postgresql()
    person, request = approved_erasure("C7403", "Zqxrequest")
    officer = User.objects.create(username="officer-c", is_superuser=True, is_active=True)
    outcome = during_the_erasure(
        monkeypatch,
        request,
        lambda: privacy_services.gdpr_request_record(
            kind="access", client=person, by=officer, details="Zqxrequest showed her passport"
        ),
    )

    assert isinstance(outcome, ValidationError), str(outcome)
    assert "erased" in outcome.message_dict["client"][0]
    assert not GdprRequest.objects.filter(client=person).exists()
    assert not GdprRequest.objects.filter(details__contains="Zqxrequest").exists()


def test_an_application_saved_in_the_admin_during_the_erasure_is_refused_on_its_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An analyst gives the person a new application while the erasure runs. The form read the
    client as not erased; its insert then met the ``client_not_erased`` trigger, a 500. The form
    waits for the erasure, then names the client field, and nothing is stored."""
    from django.test import Client as BrowserClient

    from accounts.roles import Role
    from scoring.models import CreditApplication
    from tests.factories import UserFactory

    require_postgresql()
    person, request = approved_erasure("C7404", "Zqxadmin")
    browser = BrowserClient(raise_request_exception=False)
    browser.force_login(UserFactory(username="analyst-during-erasure", roles=[Role.ANALYST]))
    form = {
        "client": person.pk, "application_id": "APP-DURING-ERASURE", "amount": "5000", "duration_months": "12",
        "purpose": "other", "declared_income": "", "age": "40", "past_payment_incidents": "0",
        "employment_years": "", "extra": "{}", "status": "received",
    }  # fmt: skip
    response = during_the_erasure(
        monkeypatch, request, lambda: browser.post("/admin/scoring/creditapplication/add/", form)
    )
    assert not isinstance(response, BaseException), response
    assert response.status_code == 200, response.status_code
    assert "This client was erased" in " ".join(response.context["adminform"].form.errors["client"])
    assert not CreditApplication.objects.filter(application_id="APP-DURING-ERASURE").exists()
