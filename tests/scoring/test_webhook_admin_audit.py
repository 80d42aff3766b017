"""An admin switching a caller's decision webhook off or back on leaves an audit event, as a revoked key's does."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEvent
from scoring.models import DecisionWebhook
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_switching_a_webhook_off_and_on_in_the_admin_is_in_the_audit_trail() -> None:
    analyst = UserFactory(username="ann", roles=["analyst"])
    hook = DecisionWebhook.objects.create(caller=f"user:{analyst.pk}", url="https://lender.example/h", secret="s")
    boss = UserFactory(username="boss", roles=["admin"])
    admin = Client()
    admin.force_login(boss)
    assert admin.post(f"/admin/scoring/decisionwebhook/{hook.pk}/change/", {}).status_code == 302  # unticked
    assert not DecisionWebhook.objects.get().is_active
    off = AuditEvent.objects.get(action="webhook.deactivated")
    assert (off.actor, off.target_id, off.details) == (
        f"user:{boss.pk}",
        str(hook.pk),
        {"caller": f"user:{analyst.pk}", "reason": "admin"},
    )
    assert admin.post(f"/admin/scoring/decisionwebhook/{hook.pk}/change/", {"is_active": "on"}).status_code == 302
    assert DecisionWebhook.objects.get().is_active
    on = AuditEvent.objects.get(action="webhook.reactivated")
    assert (on.actor, on.details) == (f"user:{boss.pk}", {"caller": f"user:{analyst.pk}"})
    # Saved again unchanged: nothing switched, nothing recorded.
    assert admin.post(f"/admin/scoring/decisionwebhook/{hook.pk}/change/", {"is_active": "on"}).status_code == 302
    assert AuditEvent.objects.filter(action__startswith="webhook.").count() == 2
