"""A review case still open when its client is erased is withdrawn by the erasure.

Otherwise an underwriter could write a justification about the person afterwards: new free
text beside the kept decision that no request would ever reach (a request for an erased
client is refused). The erasure withdraws the person's open cases in its own transaction:
no decision taken, a pending four-eyes proposal dropped, free text erased, audited without
personal data; every later write on such a case is refused (docs/privacy.md, docs/review.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client as BrowserClient
from django.test import TestCase
from rest_framework.test import APIClient

from audit.models import AuditEvent
from creditplatform.webhooks import verify_signature
from privacy.services import erasure_execute, gdpr_request_approve, gdpr_request_record
from scoring.models import Contest, Decision, DecisionWebhook, ModelVersion, ReviewCase, WebhookDelivery
from scoring.review.services import (
    review_case_approve,
    review_case_assign,
    review_case_close,
    review_case_send_back,
    review_case_take,
)
from scoring.services import model_version_set_refer_band
from tests.factories import UserFactory
from tests.receivers import Receiver, http_receiver

pytestmark = pytest.mark.django_db

RISKY = {"age": 35, "revenu": 50000, "historique_impaye": 1, "client_id": "C7301"}  # the model would refuse
NAME = "Camille Zqxmartin"


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    return {
        "alice": UserFactory(username="alice", roles=["analyst"]),
        "bob": UserFactory(username="bob", roles=["analyst"]),
        "boss": UserFactory(username="boss", roles=["admin"]),
        "officer_a": UserFactory(username="officer-a", roles=["compliance"]),
        "officer_b": UserFactory(username="officer-b", roles=["compliance"]),
    }


@pytest.fixture
def scorer(key_client: Callable[..., APIClient], credit_model: ModelVersion) -> APIClient:
    with TestCase.captureOnCommitCallbacks(execute=True):
        model_version_set_refer_band(model_version=credit_model, lower=0.0, upper=1.0)  # everything referred
    return key_client("analyst", ["score", "read"])


@pytest.fixture
def case(scorer: APIClient) -> ReviewCase:
    response = scorer.post("/api/v1/score", RISKY, format="json")
    assert response.status_code == 201, response.json()
    return ReviewCase.objects.get(decision_id=response.json()["id"])


def erase(decision: Decision, people: dict[str, Any]) -> Any:
    request = gdpr_request_record(kind="erasure", client=decision.client, by=people["officer_a"])
    request = gdpr_request_approve(request=request, by=people["officer_b"], enqueue=False)
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert erasure_execute(request=request).done
    return request


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no permission cache


def status_of(scorer: APIClient, decision: Decision) -> dict[str, Any]:
    response = scorer.get(f"/api/v1/predictions/{decision.pk}/")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def refused(case: ReviewCase, people: dict[str, Any], *, justification: str, reason: str) -> None:
    """Alice takes the case and refuses the credit, stating one reason."""
    review_case_take(case=case, user=people["alice"])
    review_case_close(
        case=case, user=people["alice"], final_decision="refuse", justification=justification, refusal_reasons=[reason]
    )


def test_an_open_case_is_withdrawn_by_the_erasure_and_takes_no_decision_afterwards(
    scorer: APIClient, people: dict[str, Any], case: ReviewCase
) -> None:
    alice = people["alice"]
    review_case_take(case=case, user=alice)
    request = erase(case.decision, people)
    case.refresh_from_db()
    assert case.status == "withdrawn" and case.closed_at is not None
    assert (case.final_decision, case.proposed_decision, case.justification) == ("", "", "")
    assert not fresh(alice).has_perm("scoring.close_reviewcase", case)
    # The approval showed the officers what the erasure would do to the case.
    assert "review_case" in [h["kind"] for h in request.holds]

    refusals = [
        lambda: review_case_close(
            case=case,
            user=fresh(alice),
            final_decision="refuse",
            justification=f"{NAME} rang.",
            refusal_reasons=["U08"],
        ),
        lambda: review_case_take(case=case, user=fresh(people["bob"])),
        lambda: review_case_assign(case=case, assignee=people["bob"], by=fresh(people["boss"])),
        lambda: review_case_close(
            case=case, user=fresh(people["boss"]), final_decision="approve", justification=f"{NAME} rang."
        ),
    ]
    for write in refusals:
        with pytest.raises(ValidationError) as refused:
            write()
        assert "erased" in refused.value.message_dict["client_id"][0]
    case.refresh_from_db()
    assert (case.status, case.justification, case.assignee) == ("withdrawn", "", alice)
    decision = Decision.objects.get(pk=case.decision_id)
    assert (decision.final_decision, decision.decided_by, decision.decided_at) == (None, None, None)
    # Nobody will decide it: the API does not say it waits for a review.
    body = status_of(scorer, decision)
    assert (body["status"], body["final_decision"], body["decided_by"]) == ("withdrawn", None, None)

    event = AuditEvent.objects.get(action="review.withdrawn")
    assert event.details == {"decision": str(decision.pk), "reason": "client_erased", "proposal_dropped": False}
    assert event.target_id == str(case.pk)
    executed = AuditEvent.objects.get(action="privacy.erasure.executed")
    assert executed.details["review_cases_withdrawn"] == 1


def test_a_proposal_awaiting_four_eyes_is_dropped_and_never_approved(
    scorer: APIClient, people: dict[str, Any], case: ReviewCase
) -> None:
    review_case_take(case=case, user=people["alice"])
    review_case_close(case=case, user=people["alice"], final_decision="approve", justification=f"{NAME} has a new job.")
    case.refresh_from_db()
    assert case.status == "awaiting_approval"
    erase(case.decision, people)
    case.refresh_from_db()
    assert (case.status, case.proposed_decision, case.proposed_by, case.justification) == ("withdrawn", "", None, "")
    for write in (
        lambda: review_case_approve(case=case, user=fresh(people["bob"])),
        lambda: review_case_send_back(case=case, user=fresh(people["bob"])),
    ):
        with pytest.raises((ValidationError, PermissionDenied)) as refused:
            write()
        assert isinstance(refused.value, ValidationError), refused.value
        assert "erased" in refused.value.message_dict["client_id"][0]
    decision = Decision.objects.get(pk=case.decision_id)
    assert decision.final_decision is None and not WebhookDelivery.objects.exists()
    assert AuditEvent.objects.get(action="review.withdrawn").details["proposal_dropped"] is True
    assert NAME not in str(list(AuditEvent.objects.values_list("details", flat=True)))


def test_a_contest_under_review_is_withdrawn_and_the_earlier_decision_stands(
    scorer: APIClient, people: dict[str, Any], case: ReviewCase
) -> None:
    review_case_take(case=case, user=people["alice"])
    review_case_close(
        case=case, user=people["alice"], final_decision="refuse", justification="Incidents.", refusal_reasons=["U08"]
    )
    response = scorer.post(
        f"/api/v1/predictions/{case.decision_id}/contest", {"statement": f"I am {NAME}, I paid."}, format="json"
    )
    assert response.status_code == 201, response.json()
    reopened = ReviewCase.objects.get(pk=response.json()["review_case"])
    erase(case.decision, people)
    reopened.refresh_from_db()
    assert reopened.status == "withdrawn"
    assert Contest.objects.get().statement == "[erased]"
    body = status_of(scorer, Decision.objects.get(pk=case.decision_id))
    assert (body["status"], body["final_decision"]) == ("final", "refuse")


def test_the_admin_shows_a_withdrawn_case_and_offers_no_action(people: dict[str, Any], case: ReviewCase) -> None:
    review_case_take(case=case, user=people["alice"])
    erase(case.decision, people)
    browser = BrowserClient()
    browser.force_login(people["alice"])
    page = browser.get(f"/admin/scoring/reviewcase/{case.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Withdrawn: client erased" in html
    assert 'id="decide-case"' not in html and 'id="take-case"' not in html
    decide = browser.get(f"/admin/scoring/reviewcase/{case.pk}/decide/", follow=True)
    assert decide.status_code == 200
    assert "erased" in " ".join(str(m) for m in decide.context["messages"])
    posted = browser.post(
        f"/admin/scoring/reviewcase/{case.pk}/decide/",
        {"final_decision": "refuse", "justification": f"{NAME} rang.", "contests_seen": "0", "refusal_reasons": "U08"},
        follow=True,
    )
    assert posted.status_code == 200
    case.refresh_from_db()
    assert (case.status, case.justification) == ("withdrawn", "")


def test_the_migration_withdraws_cases_left_open_on_clients_erased_before(transactional_db: Any) -> None:
    """Clients erased before this version may have left cases in the queue: withdrawn like an erasure does."""
    import datetime as dt

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = (
        [("scoring", "0020_reviewcase_refusal_reasons")],
        [("scoring", "0021_review_case_withdrawn_by_erasure")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        user = apps.get_model("auth", "User").objects.create(username="legacy-underwriter")
        model = apps.get_model("scoring", "ModelVersion").objects.create(
            purpose="credit", version="legacy", sha256="0" * 64, threshold=0.3
        )
        cases = {}
        for client_id, erased_at in (("erased-0123456789ab", dt.datetime(2026, 1, 5, tzinfo=dt.UTC)), ("C-LIVE", None)):
            client = apps.get_model("scoring", "Client").objects.create(client_id=client_id, erased_at=erased_at)
            decision = apps.get_model("scoring", "Decision").objects.create(
                client=client, model_version=model, features={}, probability_default=0.5, prediction=1,
                decision="refer", risk_level="HIGH", threshold_used=0.3, caller="user:1",
            )  # fmt: skip
            cases[client_id] = apps.get_model("scoring", "ReviewCase").objects.create(
                decision=decision, status="awaiting_approval", assignee=user, proposed_by=user,
                proposed_decision="approve", justification="[erased]" if erased_at else "Payslips checked.",
            )  # fmt: skip
        MigrationExecutor(connection).migrate(after)
        erased, live = (ReviewCase.objects.get(pk=cases[k].pk) for k in ("erased-0123456789ab", "C-LIVE"))
        assert (erased.status, erased.proposed_decision, erased.justification) == ("withdrawn", "", "")
        assert erased.closed_at is not None and erased.proposed_by is None
        assert (live.status, live.justification) == ("awaiting_approval", "Payslips checked.")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


# --- decision.withdrawn: the caller waiting for a referral's decision is told (docs/review.md) ---------


@pytest.fixture
def receiver(settings: Any) -> Iterator[tuple[str, type[Receiver]]]:
    settings.DECISION_WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the receiver is on 127.0.0.1
    with http_receiver() as found:
        yield found


def register(api: APIClient, url: str) -> str:
    """A webhook of ``api``'s caller; its secret."""
    response = api.post("/api/v1/webhooks", {"url": url}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["secret"]  # type: ignore[no-any-return]


def withdrawn_deliveries() -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(event="decision.withdrawn").select_related("webhook").order_by("pk"))


def test_the_erasure_tells_each_webhook_of_the_referrals_caller_that_no_decision_will_come(
    scorer: APIClient,
    key_client: Callable[..., APIClient],
    people: dict[str, Any],
    case: ReviewCase,
    receiver: tuple[str, type[Receiver]],
) -> None:
    url, handler = receiver
    secrets = {register(scorer, url), register(scorer, f"{url}?second")}
    retired = register(scorer, f"{url}?retired")
    DecisionWebhook.objects.filter(secret=retired).update(is_active=False)  # an admin deactivated it
    register(key_client("analyst", ["score", "read"]), url)  # another caller's: not told about this decision
    review_case_take(case=case, user=people["alice"])

    erase(case.decision, people)

    case.refresh_from_db()
    deliveries = withdrawn_deliveries()
    assert len(deliveries) == 2 and {d.webhook.secret for d in deliveries} == secrets
    assert [(d.status, d.attempts) for d in deliveries] == [("delivered", 1)] * 2
    assert len(handler.received) == 2
    for headers, body in handler.received:
        assert headers["X-Credit-Event"] == "decision.withdrawn"
        assert any(verify_signature(secret, body, headers["X-Credit-Signature"]) for secret in secrets)
        assert json.loads(body) == {
            "event": "decision.withdrawn",
            "decision_id": str(case.decision_id),
            "automated_decision": "refer",
            "status": "withdrawn",
            "withdrawn_at": case.closed_at.isoformat(),  # type: ignore[union-attr]
        }
        assert b"C7301" not in body and b"erased-" not in body  # neither the client's id nor its token
    assert status_of(scorer, case.decision)["status"] == "withdrawn"  # what the API reads too


def test_nothing_is_sent_when_the_client_has_no_open_review(
    scorer: APIClient, people: dict[str, Any], case: ReviewCase, receiver: tuple[str, type[Receiver]]
) -> None:
    """A client whose referral was decided (its caller was told then): the erasure withdraws nothing and
    sends nothing. The next client's referral, still open, is announced."""
    url, handler = receiver
    register(scorer, url)
    response = scorer.post("/api/v1/score", {**RISKY, "client_id": "C7302"}, format="json")
    decided = ReviewCase.objects.get(decision_id=response.json()["id"])
    with TestCase.captureOnCommitCallbacks(execute=True):
        refused(decided, people, justification="Incidents.", reason="U08")
    assert [json.loads(body)["event"] for _, body in handler.received] == ["decision.final"]
    erase(decided.decision, people)
    assert len(handler.received) == 1 and withdrawn_deliveries() == []
    assert AuditEvent.objects.get(action="privacy.erasure.executed").details["review_cases_withdrawn"] == 0

    erase(case.decision, people)  # C7301: its referral still open
    assert [d.decision_id for d in withdrawn_deliveries()] == [case.decision_id]
    assert [json.loads(body)["event"] for _, body in handler.received] == ["decision.final", "decision.withdrawn"]


def test_a_contest_withdrawn_leaves_the_decision_final_and_sends_no_withdrawal(
    scorer: APIClient, people: dict[str, Any], case: ReviewCase, receiver: tuple[str, type[Receiver]]
) -> None:
    """Only a referral nobody decided reads ``withdrawn``: a contest's review withdrawn leaves the earlier
    refusal standing (``status: final``), which ``decision.withdrawn`` must not contradict."""
    url, handler = receiver
    register(scorer, url)
    with TestCase.captureOnCommitCallbacks(execute=True):
        refused(case, people, justification="Incidents.", reason="U08")
    contest = f"/api/v1/predictions/{case.decision_id}/contest"
    assert scorer.post(contest, {"statement": "I paid."}, format="json").status_code == 201
    erase(case.decision, people)
    assert AuditEvent.objects.get(action="privacy.erasure.executed").details["review_cases_withdrawn"] == 1
    assert withdrawn_deliveries() == [] and len(handler.received) == 1
    body = status_of(scorer, case.decision)
    assert (body["status"], [r["code"] for r in body["refusal_reasons"]]) == ("final", ["U08"])


def test_a_withdrawal_the_receiver_fails_is_retried_like_a_final_decision(
    scorer: APIClient, people: dict[str, Any], case: ReviewCase, receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    handler.statuses = [503, 502]
    register(scorer, url)
    erase(case.decision, people)
    assert len(handler.received) == 3 and len({body for _, body in handler.received}) == 1  # the same event
    [delivery] = withdrawn_deliveries()
    assert (delivery.status, delivery.attempts, delivery.last_outcome) == ("delivered", 3, "delivered: HTTP 200")


def test_a_withdrawal_the_broker_refused_is_sent_by_the_reconciler_and_the_erasure_stands(
    scorer: APIClient,
    people: dict[str, Any],
    case: ReviewCase,
    receiver: tuple[str, type[Receiver]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kombu.exceptions import OperationalError as BrokerError

    from scoring import tasks
    from scoring.review.webhooks import decision_webhooks_reconcile

    url, handler = receiver
    register(scorer, url)

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise BrokerError("[Errno 111] Connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(tasks.decision_webhook_deliver, "apply_async", broker_down)
        request = erase(case.decision, people)  # no error: the erasure is done, whatever the broker
    request.refresh_from_db()
    assert request.status == "done" and Decision.objects.get(pk=case.decision_id).client.erased_at is not None
    [delivery] = withdrawn_deliveries()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("pending", 0, None)
    assert handler.received == []
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert decision_webhooks_reconcile() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert [json.loads(body)["event"] for _, body in handler.received] == ["decision.withdrawn"]


def test_a_final_decisions_delivery_still_owed_goes_out_after_the_erasure_unchanged(
    scorer: APIClient,
    people: dict[str, Any],
    case: ReviewCase,
    receiver: tuple[str, type[Receiver]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An erasure neither deletes nor breaks a delivery still owed: its payload names no one (ids, outcomes,
    reason codes), so it is kept as it is and sent once the broker is back."""
    from kombu.exceptions import OperationalError as BrokerError

    from scoring import tasks
    from scoring.review.webhooks import decision_webhooks_reconcile

    url, handler = receiver
    register(scorer, url)

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise BrokerError("[Errno 111] Connection refused")

    with monkeypatch.context() as patched, TestCase.captureOnCommitCallbacks(execute=True):
        patched.setattr(tasks.decision_webhook_deliver, "apply_async", broker_down)
        refused(case, people, justification=f"{NAME} lied.", reason="U05")
    owed = WebhookDelivery.objects.get()
    before = owed.payload
    assert owed.status == "pending" and before["refusal_reasons"][0]["code"] == "U05"
    erase(case.decision, people)
    owed.refresh_from_db()
    assert (owed.status, owed.payload) == ("pending", before)
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert decision_webhooks_reconcile() == 1
    owed.refresh_from_db()
    assert owed.status == "delivered"
    [(_, body)] = handler.received
    assert json.loads(body) == before and NAME.encode() not in body and b"C7301" not in body
