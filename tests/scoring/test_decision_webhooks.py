"""Decision webhooks against a real HTTP receiver: registration, HMAC signature, retries, the admin."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client, TestCase
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_revoke
from audit.models import AuditEvent
from creditplatform.webhooks import verify_signature
from scoring.models import Decision, DecisionWebhook, ModelVersion, ReviewCase, WebhookDelivery
from scoring.review.services import review_case_approve, review_case_close, review_case_take
from scoring.review.webhooks import decision_webhook_attempt, decision_webhooks_queue
from scoring.services import model_version_set_refer_band
from tests.factories import UserFactory
from tests.metrics import scraped
from tests.receivers import Receiver, http_receiver

pytestmark = pytest.mark.django_db

RISKY = {"age": 35, "revenu": 50000, "historique_impaye": 1}


@pytest.fixture
def receiver(settings: Any) -> Iterator[tuple[str, type[Receiver]]]:
    """A receiver on 127.0.0.1, which callers' webhooks may reach only with the setting on."""
    settings.DECISION_WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with http_receiver() as found:
        yield found


@pytest.fixture
def scorer(key_client: Callable[..., APIClient], credit_model: ModelVersion) -> APIClient:
    with TestCase.captureOnCommitCallbacks(execute=True):
        model_version_set_refer_band(model_version=credit_model, lower=0.0, upper=1.0)
    return key_client("analyst", ["score", "read"])


def register(api: APIClient, url: str) -> dict[str, Any]:
    response = api.post("/api/v1/webhooks", {"url": url}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()  # type: ignore[no-any-return]


def refer(api: APIClient) -> Decision:
    response = api.post("/api/v1/score", RISKY, format="json")
    assert response.json()["decision"] == "refer"
    return Decision.objects.get(pk=response.json()["id"])


def finalise(decision: Decision, final: str = "refuse") -> None:
    """An underwriter decides (and a second one approves when four eyes apply), committed."""
    first, second = UserFactory(roles=["analyst"]), UserFactory(roles=["analyst"])
    case = ReviewCase.objects.get(decision=decision)
    with TestCase.captureOnCommitCallbacks(execute=True):
        review_case_take(case=case, user=first)
        reasons = ["U02"] if final == "refuse" else []
        review_case_close(
            case=case, user=first, final_decision=final, justification="Checked the file.", refusal_reasons=reasons
        )
        if final == "approve":
            review_case_approve(case=case, user=second)


def test_registering_checks_the_url_and_shows_the_secret_once(scorer: APIClient) -> None:
    bad = scorer.post("/api/v1/webhooks", {"url": "ftp://x"}, format="json")
    assert bad.status_code == 400 and "url" in bad.json()["fields"]
    created = register(scorer, "https://lender.example/hooks")
    assert len(created["secret"]) >= 32
    listed = scorer.get("/api/v1/webhooks").json()
    assert [h["id"] for h in listed] == [created["id"]] and "secret" not in listed[0]


def test_a_secret_or_is_active_sent_along_is_refused_not_ignored(scorer: APIClient) -> None:
    """The platform makes the secret: a caller sending its own must not believe it signs the calls."""
    response = scorer.post(
        "/api/v1/webhooks", {"url": "https://lender.example/h", "secret": "mine", "is_active": False}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {"secret": ["Unknown field."], "is_active": ["Unknown field."]}
    number = scorer.post("/api/v1/webhooks", {"url": 42}, format="json")
    assert number.status_code == 400 and number.json()["fields"] == {"url": ["Not a valid string."]}
    assert scorer.get("/api/v1/webhooks").json() == []


def test_a_final_decision_is_posted_signed_to_its_callers_webhook(
    scorer: APIClient, key_client: Callable[..., APIClient], receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    secret = register(scorer, url)["secret"]
    register(key_client("analyst", ["score", "read"]), url)  # another caller's: not told about ours
    decision = refer(scorer)
    assert handler.received == []  # a referral is not final
    finalise(decision, "approve")
    [(headers, body)] = handler.received
    assert headers["X-Credit-Event"] == "decision.final"
    assert verify_signature(secret, body, headers["X-Credit-Signature"])
    assert not verify_signature("x" * 43, body, headers["X-Credit-Signature"])
    assert not verify_signature(secret, body.replace(b"approve", b"refuse"), headers["X-Credit-Signature"])
    payload = json.loads(body)
    assert payload == {
        "event": "decision.final",
        "decision_id": str(decision.pk),
        "automated_decision": "refer",
        "final_decision": "approve",
        "decided_by": payload["decided_by"],
        "decided_at": payload["decided_at"],
        "refusal_reasons": [],  # an approval states none
    }
    assert payload["decided_by"].startswith("user:")
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert (delivery.status, delivery.attempts, delivery.last_outcome) == ("delivered", 1, "delivered: HTTP 200")


def test_a_persons_refusal_is_posted_with_the_reasons_they_stated(
    scorer: APIClient, receiver: tuple[str, type[Receiver]]
) -> None:
    """The caller learns the principal reasons without fetching the notice: codes and the catalogue's text,
    in the underwriter's order, as the detail and the notice give them; nothing about the person."""
    url, handler = receiver
    register(scorer, url)
    decision = refer(scorer)
    case = ReviewCase.objects.get(decision=decision)
    analyst = UserFactory(roles=["analyst"])
    with TestCase.captureOnCommitCallbacks(execute=True):
        review_case_take(case=case, user=analyst)
        review_case_close(
            case=case,
            user=analyst,
            final_decision="refuse",
            justification="Camille's payslip was forged.",
            refusal_reasons=["U05", "U03"],
        )
    [(_, body)] = handler.received
    payload = json.loads(body)
    assert (payload["event"], payload["final_decision"]) == ("decision.final", "refuse")
    assert payload["refusal_reasons"] == [
        {
            "code": "U05",
            "title": "Inconsistent or unreliable documents",
            "sentence": "Documents provided were inconsistent with each other or with your application, "
            "or could not be relied on.",
        },
        {
            "code": "U03",
            "title": "Unable to verify employment",
            "sentence": "We were unable to verify your employment.",
        },
    ]
    assert payload["refusal_reasons"] == scorer.get(f"/api/v1/predictions/{decision.pk}/").json()["refusal_reasons"]
    assert "Camille" not in body.decode() and "forged" not in body.decode()
    assert WebhookDelivery.objects.get(decision=decision).payload == payload


def test_a_failing_receiver_is_retried_until_it_answers(
    scorer: APIClient, receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    handler.statuses = [503, 502]
    register(scorer, url)
    decision = refer(scorer)
    finalise(decision)
    assert len(handler.received) == 3
    assert handler.received[0][1] == handler.received[2][1]  # the same event each time
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert (delivery.status, delivery.attempts, delivery.last_outcome) == ("delivered", 3, "delivered: HTTP 200")


def test_retries_stop_and_the_failure_is_recorded(
    scorer: APIClient, settings: Any, receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    settings.DECISION_WEBHOOK_MAX_RETRIES = 2
    handler.statuses = [500] * 10
    register(scorer, url)
    decision = refer(scorer)
    finalise(decision)
    assert len(handler.received) == 3  # the first attempt and two retries
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert (delivery.status, delivery.attempts, delivery.last_outcome) == ("failed", 3, "not delivered: HTTP 500")
    assert scraped('webhooks_undelivered{kind="decision",status="failed"}') == 1  # operators see it
    assert scraped('webhooks_owed{kind="decision"}') == 0


def test_a_4xx_is_a_refusal_not_retried(scorer: APIClient, receiver: tuple[str, type[Receiver]]) -> None:
    url, handler = receiver
    handler.statuses = [410]
    register(scorer, url)
    finalise(refer(scorer))
    assert len(handler.received) == 1
    assert WebhookDelivery.objects.get().status == "refused"
    assert scraped('webhooks_undelivered{kind="decision",status="refused"}') == 1


def test_deliveries_show_in_the_admin_for_admins(scorer: APIClient, receiver: tuple[str, type[Receiver]]) -> None:
    url, _ = receiver
    register(scorer, url)
    decision = refer(scorer)
    finalise(decision)
    admin = Client()
    admin.force_login(UserFactory(roles=["admin"]))
    page = admin.get("/admin/scoring/webhookdelivery/").content.decode()
    assert "delivered: HTTP 200" in page
    hooks = admin.get("/admin/scoring/decisionwebhook/").content.decode()
    assert url in hooks
    delivery = WebhookDelivery.objects.get()
    detail = admin.get(f"/admin/scoring/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert str(decision.pk) in detail


def test_revoking_a_key_stops_the_webhooks_it_registered(
    scorer: APIClient, receiver: tuple[str, type[Receiver]]
) -> None:
    """A key revoked because it leaked must not leave behind a URL its holder registered, told the final
    outcome of every decision the key asked for (a caller registers any public URL)."""
    url, handler = receiver
    register(scorer, url)
    decision = refer(scorer)
    [api_key] = ApiKey.objects.all()
    with TestCase.captureOnCommitCallbacks(execute=True):
        api_key_revoke(api_key=api_key)
    assert not DecisionWebhook.objects.get().is_active
    finalise(decision)
    assert handler.received == []
    assert not WebhookDelivery.objects.exists()
    event = AuditEvent.objects.get(action="webhook.deactivated")
    assert event.details == {"caller": api_key.label, "reason": "apikey.revoked"}
    # Nor does the admin switch it back on: the caller registers again with a new key.
    admin = Client()
    admin.force_login(UserFactory(roles=["admin"]))
    hook = DecisionWebhook.objects.get()
    page = admin.post(f"/admin/scoring/decisionwebhook/{hook.pk}/change/", {"is_active": "on"})
    assert page.status_code == 200
    assert "its API key is revoked or expired" in page.content.decode()
    assert not DecisionWebhook.objects.get().is_active


def test_an_expired_keys_webhooks_are_told_nothing(scorer: APIClient, receiver: tuple[str, type[Receiver]]) -> None:
    """Expiry ends a key as revocation does: its webhooks are not told its decisions' outcomes afterwards."""
    url, handler = receiver
    register(scorer, url)
    decision = refer(scorer)
    ApiKey.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    finalise(decision)
    assert handler.received == []
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("leaves", ["deactivated", "role removed"])
def test_the_webhooks_of_a_person_who_left_are_told_nothing(
    scorer: APIClient, client_as: Callable[[str | None], APIClient], receiver: tuple[str, type[Receiver]], leaves: str
) -> None:
    """A person registers webhooks for their own decisions (``user:<id>``): once they are deactivated or no
    longer hold a role that decides, a URL they chose is not told the outcomes any more."""
    url, handler = receiver
    person = client_as("analyst")
    register(person, url)
    decision = refer(person)
    user = get_user_model().objects.get(username="analyst-user")
    if leaves == "deactivated":
        user.is_active = False
        user.save(update_fields=["is_active"])
    else:
        user.groups.clear()
    finalise(decision)
    assert handler.received == []
    assert not WebhookDelivery.objects.exists()


def test_a_delivery_still_owed_by_a_deactivated_webhook_is_not_sent(
    scorer: APIClient, receiver: tuple[str, type[Receiver]]
) -> None:
    """ "Deactivate to stop them": a delivery queued (or waiting for a retry) before an admin deactivated
    the webhook is not posted afterwards, and is closed rather than left owed."""
    url, handler = receiver
    register(scorer, url)
    decision = refer(scorer)
    first = UserFactory(roles=["analyst"])
    case = ReviewCase.objects.get(decision=decision)
    review_case_take(case=case, user=first)
    review_case_close(case=case, user=first, final_decision="refuse", justification="Checked.", refusal_reasons=["U02"])
    with TestCase.captureOnCommitCallbacks(execute=False):  # stored, its message not sent yet
        [delivery_id] = decision_webhooks_queue(decision_id=decision.pk)
    admin = Client()
    admin.force_login(UserFactory(roles=["admin"]))
    hook = DecisionWebhook.objects.get()
    assert admin.post(f"/admin/scoring/decisionwebhook/{hook.pk}/change/", {}).status_code == 302  # unticked
    assert not DecisionWebhook.objects.get().is_active
    decision_webhook_attempt(delivery_id=delivery_id)
    assert handler.received == []
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("cancelled", 0)
    assert delivery.finished_at is not None
    assert scraped('webhooks_owed{kind="decision"}') == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:22/",
        "http://10.0.0.5/hooks",
        "http://172.16.3.4/hooks",
        "https://192.168.1.10/hooks",
        "http://100.64.0.1/hooks",
        "http://0.0.0.0:8000/",
        "http://224.0.0.1/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost:8000/hooks",
        "http://LOCALHOST./hooks",
        "http://api.localhost/hooks",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_a_url_of_an_internal_address_is_refused_at_registration(scorer: APIClient, url: str) -> None:
    """SSRF: a caller must not make the platform call its own network (metadata, Redis, private ranges)."""
    response = scorer.post("/api/v1/webhooks", {"url": url}, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["fields"]) == ["url"]
    assert not DecisionWebhook.objects.exists()


def test_public_addresses_register_and_the_setting_allows_internal_ones(scorer: APIClient, settings: Any) -> None:
    assert register(scorer, "https://93.184.216.34/hooks")["url"] == "https://93.184.216.34/hooks"
    register(scorer, "https://[2606:2800:220:1:248:1893:25c8:1946]/hooks")
    internal = "http://127.0.0.1:9000/hooks"
    assert scorer.post("/api/v1/webhooks", {"url": internal}, format="json").status_code == 400
    settings.DECISION_WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    register(scorer, internal)
    assert DecisionWebhook.objects.filter(is_active=True).count() == 3


def fake_dns(monkeypatch: pytest.MonkeyPatch, name: str, *answers: str) -> None:
    """``name`` resolves to each of ``answers`` in turn (the last one from then on); other names as usual."""
    real, queue = socket.getaddrinfo, list(answers)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def delivered_to(scorer: APIClient, url: str) -> WebhookDelivery:
    """A webhook of ``url`` stored as it may have been before the rule; a decision of the caller made final."""
    caller = register(scorer, "https://lender.example/placeholder")
    DecisionWebhook.objects.filter(pk=caller["id"]).update(url=url)
    finalise(refer(scorer))
    return WebhookDelivery.objects.get()


def test_a_stored_url_of_an_internal_address_is_not_called_and_the_delivery_is_blocked_at_once(
    scorer: APIClient, settings: Any
) -> None:
    settings.DECISION_WEBHOOK_MAX_RETRIES = 3
    with http_receiver() as (url, handler):
        delivery = delivered_to(scorer, url)
    assert handler.received == []
    assert (delivery.status, delivery.attempts) == ("blocked", 1)  # not retried: it cannot succeed
    assert delivery.get_status_display() == "Refused: target address not allowed"
    assert delivery.last_outcome == (
        "not delivered: 127.0.0.1 is a loopback address: a webhook must be a public address."
    )
    admin = Client()
    admin.force_login(UserFactory(roles=["admin"]))
    page = admin.get("/admin/scoring/webhookdelivery/").content.decode()
    assert "Refused: target address not allowed" in page
    for status, count in (("blocked", 1), ("failed", 0)):
        listed = admin.get("/admin/scoring/webhookdelivery/", {"status__exact": status})
        assert listed.context["cl"].result_count == count


def test_a_name_resolving_to_an_internal_address_is_not_called(
    scorer: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_receiver() as (url, handler):
        fake_dns(monkeypatch, "hooks.lender.example", "127.0.0.1")
        delivery = delivered_to(scorer, url.replace("127.0.0.1", "hooks.lender.example"))
    assert handler.received == []
    assert (delivery.status, delivery.attempts) == ("blocked", 1)
    assert delivery.last_outcome == "not delivered: hooks.lender.example resolves to 127.0.0.1, a loopback address"


def test_dns_rebinding_between_the_check_and_the_connection_is_caught(
    scorer: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public address when checked, 127.0.0.1 when connecting: the address reached is checked too."""
    with http_receiver() as (url, handler):
        fake_dns(monkeypatch, "hooks.lender.example", "93.184.216.34", "127.0.0.1")
        delivery = delivered_to(scorer, url.replace("127.0.0.1", "hooks.lender.example"))
    assert handler.received == []
    assert (delivery.status, delivery.attempts) == ("blocked", 1)
    assert delivery.last_outcome == "not delivered: hooks.lender.example connected to 127.0.0.1, a loopback address"


def test_a_name_that_does_not_resolve_is_retried_like_a_connection_error(
    scorer: APIClient, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DECISION_WEBHOOK_MAX_RETRIES = 1

    real = socket.getaddrinfo

    def no_such_name(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "gone.lender.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    delivery = delivered_to(scorer, "https://gone.lender.example/hooks")
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert delivery.last_outcome == "not delivered: gone.lender.example does not resolve"


def test_a_caller_cannot_register_the_same_url_twice_while_it_is_active(
    scorer: APIClient, key_client: Callable[..., APIClient]
) -> None:
    """A second registration posted every event twice, each signed with another secret."""
    first = register(scorer, "https://lender.example/hooks")
    again = scorer.post("/api/v1/webhooks", {"url": "https://lender.example/hooks"}, format="json")
    assert again.status_code == 400
    assert again.json()["fields"] == {
        "url": ["You already have an active webhook for this URL: each event would be posted twice."]
    }
    assert [h["id"] for h in scorer.get("/api/v1/webhooks").json()] == [first["id"]]
    register(key_client("analyst", ["score", "read"]), "https://lender.example/hooks")  # another caller's: fine
    register(scorer, "https://lender.example/other-hooks")
    DecisionWebhook.objects.filter(pk=first["id"]).update(is_active=False)  # an admin deactivated it
    register(scorer, "https://lender.example/hooks")


def test_the_admin_cannot_reactivate_a_duplicate(scorer: APIClient) -> None:
    old = register(scorer, "https://lender.example/hooks")
    DecisionWebhook.objects.filter(pk=old["id"]).update(is_active=False)
    register(scorer, "https://lender.example/hooks")
    admin = Client()
    admin.force_login(UserFactory(roles=["admin"]))
    page = admin.post(f"/admin/scoring/decisionwebhook/{old['id']}/change/", {"is_active": "on"})
    assert page.status_code == 200 and "already have an active webhook" in page.content.decode()
    assert not DecisionWebhook.objects.get(pk=old["id"]).is_active


def test_spellings_of_one_url_are_one_webhook(scorer: APIClient) -> None:
    """Host case and the default port do not make another target; the path and query do."""
    first = register(scorer, "HTTPS://Lender.Example:443/Hooks?Ref=A")
    assert first["url"] == "https://lender.example/Hooks?Ref=A"
    for spelling in ("https://lender.example/Hooks?Ref=A", "https://LENDER.example:443/Hooks?Ref=A"):
        again = scorer.post("/api/v1/webhooks", {"url": spelling}, format="json")
        assert again.status_code == 400
        assert "already have an active webhook" in again.json()["fields"]["url"][0]
    assert register(scorer, "https://lender.example/hooks?Ref=A")["url"] == "https://lender.example/hooks?Ref=A"
    assert register(scorer, "https://lender.example/Hooks?ref=A")["url"] == "https://lender.example/Hooks?ref=A"
    assert (
        register(scorer, "https://lender.example:8443/Hooks?Ref=A")["url"] == "https://lender.example:8443/Hooks?Ref=A"
    )
    assert [h["url"] for h in scorer.get("/api/v1/webhooks").json()].count("https://lender.example/Hooks?Ref=A") == 1


def test_the_migration_writes_stored_urls_one_way_and_keeps_each_callers_newest() -> None:
    migration = importlib.import_module("scoring.migrations.0014_decisionwebhook_url_normal")
    old = DecisionWebhook.objects.create(caller="apikey:a", url="https://Lender.Example/hooks", secret="s1")
    new = DecisionWebhook.objects.create(caller="apikey:a", url="https://lender.example:443/hooks", secret="s2")
    other = DecisionWebhook.objects.create(caller="apikey:b", url="HTTPS://LENDER.EXAMPLE/hooks", secret="s3")
    kept = DecisionWebhook.objects.create(caller="apikey:a", url="https://lender.example/Hooks", secret="s4")
    DecisionWebhook.objects.filter(pk=old.pk).update(created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    migration.normalise_urls(apps, None)
    rows = {h.pk: (h.url, h.is_active) for h in DecisionWebhook.objects.all()}
    assert rows == {
        old.pk: ("https://lender.example/hooks", False),
        new.pk: ("https://lender.example/hooks", True),
        other.pk: ("https://lender.example/hooks", True),
        kept.pk: ("https://lender.example/Hooks", True),
    }


def test_the_migration_moves_earlier_refused_targets_to_blocked(scorer: APIClient) -> None:
    migration = importlib.import_module("scoring.migrations.0015_webhookdelivery_blocked")
    hook = DecisionWebhook.objects.get(pk=register(scorer, "https://lender.example/hooks")["id"])
    decision = refer(scorer)
    outcomes = {
        "not delivered: 127.0.0.1 is a loopback address: a webhook must be a public address.": "blocked",
        "not delivered: hooks.lender.example resolves to 10.0.0.5, a private address": "blocked",
        "not delivered: hooks.lender.example connected to 127.0.0.1, a loopback address": "blocked",
        "not delivered: ConnectionError": "failed",
        "not delivered: HTTP 503": "failed",
        "not delivered: gone.lender.example does not resolve": "failed",
    }
    for outcome in outcomes:
        WebhookDelivery.objects.create(
            webhook=hook, decision=decision, payload={}, status="failed", attempts=1, last_outcome=outcome
        )
    migration.refusals_blocked(apps, None)
    assert dict(WebhookDelivery.objects.values_list("last_outcome", "status")) == outcomes


def reconcile(sweep: Callable[[], int]) -> int:
    """One sweep of the reconciler, its messages sent once it commits."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return sweep()


def test_a_delivery_the_broker_refused_is_sent_by_the_reconciler_and_the_review_still_closes(
    scorer: APIClient, receiver: tuple[str, type[Receiver]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker down when a decision becomes final: the review is closed all the same (it was
    committed), and the delivery waits for the reconciler instead of staying pending forever."""
    from kombu.exceptions import OperationalError as BrokerError

    from scoring import tasks

    url, handler = receiver
    register(scorer, url)
    decision = refer(scorer)

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise BrokerError("[Errno 111] Connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(tasks.decision_webhook_deliver, "apply_async", broker_down)
        finalise(decision)  # no error: the decision is final, whatever the broker
    assert ReviewCase.objects.get(decision=decision).status == "closed"
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert handler.received == []
    assert scraped('webhooks_owed{kind="decision"}') == 1  # operators see it owed

    from scoring.review.webhooks import decision_webhooks_reconcile

    assert reconcile(decision_webhooks_reconcile) == 1  # the broker is back: the next sweep sends it
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert scraped('webhooks_owed{kind="decision"}') == 0
    assert len(handler.received) == 1
    assert reconcile(decision_webhooks_reconcile) == 0  # delivered: never sent again


def test_the_reconciler_leaves_alone_a_delivery_waiting_for_its_retry(
    scorer: APIClient, receiver: tuple[str, type[Receiver]], settings: Any
) -> None:
    """A delivery whose retry is due later is not sent twice; once long overdue (its message lost), it is,
    counting the attempts already made."""

    from scoring.review.webhooks import decision_webhooks_reconcile

    url, handler = receiver
    register(scorer, url)
    decision = refer(scorer)
    settings.DECISION_WEBHOOK_MAX_RETRIES = 2
    handler.statuses = [503] * 10
    finalise(decision)
    delivery = WebhookDelivery.objects.get(decision=decision)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    # A delivery between two attempts: its retry is due in a minute.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="pending", attempts=1, finished_at=None, next_attempt_at=timezone.now() + dt.timedelta(minutes=1)
    )
    handler.received.clear()
    assert reconcile(decision_webhooks_reconcile) == 0
    assert handler.received == []
    overdue = timezone.now() - dt.timedelta(seconds=settings.DECISION_WEBHOOK_REQUEUE_AFTER_SECONDS + 1)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=overdue)
    assert reconcile(decision_webhooks_reconcile) == 1  # its message was lost: sent again, with the retries left
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert len(handler.received) == 2
