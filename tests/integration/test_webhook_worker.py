"""Decision webhooks on a real worker: a failing receiver is retried with backoff (new messages), then answers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from creditplatform.webhooks import verify_signature
from scoring.models import Decision, DecisionWebhook, WebhookDelivery
from scoring.tasks import decision_webhook_deliver
from tests.integration.worker import celery_worker
from tests.models import TrainedModel, register_trained
from tests.receivers import Receiver, http_receiver

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    with http_receiver([503, 503]) as found:
        yield found


def test_the_worker_retries_a_failing_receiver_until_it_answers(
    trained_credit: TrainedModel, receiver: tuple[str, type[Receiver]]
) -> None:
    url, handler = receiver
    model = register_trained(trained_credit, version="credit-hooks")
    decision = Decision.objects.create(
        model_version=model,
        features={"age": 35},
        probability_default=0.4,
        prediction=1,
        decision="refuse",
        risk_level="HIGH",
        threshold_used=0.1,
        caller="apikey:hooks",
    )
    hook = DecisionWebhook.objects.create(caller="apikey:hooks", url=url, secret="s" * 43)
    delivery = WebhookDelivery.objects.create(
        webhook=hook, decision=decision, payload={"event": "decision.final", "decision_id": str(decision.pk)}
    )
    # The receiver is on 127.0.0.1: a caller's webhook may reach it only with the setting on.
    env = {"DECISION_WEBHOOK_BACKOFF_SECONDS": "0.5", "DECISION_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}
    with celery_worker(extra_env=env, name="hooks"):
        decision_webhook_deliver.delay(delivery.pk)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            delivery.refresh_from_db()
            if delivery.status != WebhookDelivery.Status.PENDING:
                break
            time.sleep(0.5)
    assert (delivery.status, delivery.attempts, delivery.last_outcome) == ("delivered", 3, "delivered: HTTP 200")
    assert len(handler.received) == 3
    assert all(verify_signature("s" * 43, body, headers["X-Credit-Signature"]) for headers, body in handler.received)
