"""Every event the trail must record is recorded, once, with actor and object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client as WebClient
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.services import api_key_create, api_key_revoke, oidc_user_sync
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from fraud.models import FraudRule
from fraud.services import (
    fraud_alert_assign,
    fraud_alert_resolve,
    fraud_alert_take,
    fraud_rule_save,
    fraud_settings_update,
)
from scoring.models import ModelVersion
from scoring.services import model_version_activate, model_version_delete, model_version_retire
from tests.factories import FraudAlertFactory, UserFactory
from tests.models import TrainedModel, register_trained

pytestmark = pytest.mark.django_db


def _last(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("seq")


def test_model_activation_and_retirement_are_recorded(trained_credit: TrainedModel) -> None:
    admin = UserFactory(username="admin-m", roles=[Role.ADMIN])
    version = register_trained(trained_credit, version="credit-audit-1")
    model_version_activate(model_version=version, status="champion", user=admin)
    event = _last("model.activated")
    assert (event.actor, event.actor_name) == (f"user:{admin.pk}", "admin-m")
    assert (event.target_type, event.target_id) == ("scoring.modelversion", str(version.pk))
    assert event.details["status"] == "champion" and event.details["version"] == "credit-audit-1"
    model_version_retire(model_version=version, user=admin)
    assert _last("model.retired").details["previous_status"] == "champion"
    assert audit_chain_verify().ok


def test_a_draft_deleted_in_the_admin_is_recorded(
    trained_credit: TrainedModel, client_as: Callable[[str | None], APIClient]
) -> None:
    """The registry's one deletion (a version that never decided) went by the trail: registered,
    then gone without a word."""
    draft = register_trained(trained_credit, version="credit-audit-draft")
    admin = client_as("admin")
    assert admin.get(f"/admin/scoring/modelversion/{draft.pk}/delete/").status_code == 200
    response = admin.post(f"/admin/scoring/modelversion/{draft.pk}/delete/", {"post": "yes"}, format="multipart")
    assert response.status_code == 302
    assert not ModelVersion.objects.filter(pk=draft.pk).exists()
    event = _last("model.deleted")
    assert (event.actor_name, event.target_id) == ("admin-user", str(draft.pk))
    assert event.details == {"purpose": "credit", "version": "credit-audit-draft", "status": "draft",
                             "sha256": draft.sha256}  # fmt: skip
    assert audit_chain_verify().ok


def test_a_version_in_service_is_never_deleted_even_by_code(trained_credit: TrainedModel) -> None:
    champion = register_trained(trained_credit, version="credit-audit-live", status="champion")
    with pytest.raises(ValidationError, match="retired, never deleted"):
        model_version_delete(model_version=champion)
    assert ModelVersion.objects.filter(pk=champion.pk).exists()
    assert not AuditEvent.objects.filter(action="model.deleted").exists()


def test_rule_changes_and_threshold_changes_are_recorded() -> None:
    admin = UserFactory(username="admin-r", roles=[Role.ADMIN])
    rule = fraud_rule_save(user=admin, name="big_one", condition="amount > 5000", action="review", weight=0.2)
    assert _last("fraud.rule.created").details["version"] == 1
    fraud_rule_save(user=admin, rule=rule, is_active=True)
    assert _last("fraud.rule.activated").target_id == str(rule.pk)
    fraud_rule_save(user=admin, rule=FraudRule.objects.get(pk=rule.pk), weight=0.4)
    assert _last("fraud.rule.changed").details["weight"] == 0.4
    fraud_settings_update(user=admin, review_threshold=0.2, block_threshold=0.7)
    event = _last("fraud.thresholds.changed")
    assert event.details["after"] == {"review_threshold": 0.2, "block_threshold": 0.7}
    assert event.actor == f"user:{admin.pk}"


def test_the_alert_workflow_is_recorded_take_reassign_and_resolve_without_the_comment() -> None:
    """The alert row keeps only the last assignee: the trail keeps who held it, who moved it,
    and who set the label that back-tests and training read."""
    alice = UserFactory(username="alice-a", roles=[Role.ANALYST])
    bob = UserFactory(username="bob-a", roles=[Role.ANALYST])
    admin = UserFactory(username="admin-a", roles=[Role.ADMIN])
    alert = FraudAlertFactory()
    fraud_alert_take(alert=alert, user=alice)
    taken = _last("fraud.alert.taken")
    assert (taken.actor, taken.target_type, taken.target_id) == (f"user:{alice.pk}", "fraud.fraudalert", str(alert.pk))
    assert taken.details == {
        "fraud_check": str(alert.fraud_check_id), "assignee": f"user:{alice.pk}", "previous_assignee": None,
    }  # fmt: skip
    fraud_alert_assign(alert=alert, assignee=bob, by=admin)
    moved = _last("fraud.alert.assigned")
    assert moved.actor == f"user:{admin.pk}"
    assert (moved.details["assignee"], moved.details["previous_assignee"]) == (f"user:{bob.pk}", f"user:{alice.pk}")
    fraud_alert_resolve(alert=alert, user=bob, resolution="false_positive", comment="Called Jane Doe, FR76 1234.")
    resolved = _last("fraud.alert.resolved")
    assert resolved.actor == f"user:{bob.pk}" and resolved.target_id == str(alert.pk)
    assert resolved.details == {
        "fraud_check": str(alert.fraud_check_id), "resolution": "false_positive", "assignee": f"user:{bob.pk}",
    }  # fmt: skip
    assert "Jane" not in str(resolved.details)
    assert audit_chain_verify().ok


def test_api_key_life_cycle_is_recorded_without_the_secret() -> None:
    admin = UserFactory(username="admin-k", roles=[Role.ADMIN])
    issued = api_key_create(name="payments", role="analyst", created_by=admin)
    created = _last("apikey.created")
    assert created.details["prefix"] == issued.api_key.prefix
    assert issued.plain_key not in str(created.details)
    api_key_revoke(api_key=issued.api_key, by=admin)
    api_key_revoke(api_key=issued.api_key, by=admin)  # twice: recorded once
    assert AuditEvent.objects.filter(action="apikey.revoked").count() == 1


def test_an_api_key_renamed_in_the_admin_is_recorded(client_as: Callable[[str | None], APIClient]) -> None:
    issued = api_key_create(name="payments", role="analyst")
    admin = client_as("admin")
    form = {"name": "payments-eu", "expires_at_0": "", "expires_at_1": ""}
    response = admin.post(f"/admin/accounts/apikey/{issued.api_key.pk}/change/", form, format="multipart")
    assert response.status_code == 302, response.content[:2000]
    event = _last("apikey.changed")
    assert (event.details["before"]["key_name"], event.details["after"]["key_name"]) == ("payments", "payments-eu")
    assert event.actor_name == "admin-user"


def test_role_changes_made_in_the_admin_are_recorded(client_as: Callable[[str | None], APIClient]) -> None:
    target = UserFactory(username="promoted", roles=[Role.VIEWER])
    admin = client_as("admin")
    page = admin.get(f"/admin/auth/user/{target.pk}/change/")
    assert page.status_code == 200
    form = {
        "username": "promoted",
        "email": "promoted@example.test",
        "is_active": "on",
        "is_staff": "on",
        "groups": [Group.objects.get(name="analyst").pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    }
    response = admin.post(f"/admin/auth/user/{target.pk}/change/", form, format="multipart")
    assert response.status_code == 302, response.content[:2000]
    event = _last("user.access.changed")
    assert event.details["before"]["groups"] == ["viewer"] and event.details["after"]["groups"] == ["analyst"]
    assert event.details["changed"] == ["groups"]


def test_a_login_that_grants_a_role_is_recorded() -> None:
    user = UserFactory(username="officer-login", roles=[Role.COMPLIANCE])
    user.set_password("a-long-test-password")
    user.save()
    answer = WebClient().post("/admin/login/", {"username": "officer-login", "password": "a-long-test-password"})
    assert answer.status_code == 302  # logged in (through the login page, as a person does)
    event = _last("auth.login")
    assert event.actor == f"user:{user.pk}" and event.details == {"method": "password", "roles": ["compliance"]}


def test_a_login_without_any_role_is_not_a_role_grant() -> None:
    user = UserFactory(username="nobody", roles=[])
    user.set_password("a-long-test-password")
    user.save()
    WebClient().post("/admin/login/", {"username": "nobody", "password": "a-long-test-password"})
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_roles_synced_from_the_identity_provider_are_recorded_when_they_change() -> None:
    oidc_user_sync(issuer="https://idp.test", subject="s-1", roles=frozenset({"viewer"}), preferred_username="p1")
    first = _last("user.roles.synced")
    assert first.details["added"] == ["viewer"] and first.actor == "system:oidc"
    oidc_user_sync(issuer="https://idp.test", subject="s-1", roles=frozenset({"viewer"}), preferred_username="p1")
    assert AuditEvent.objects.filter(action="user.roles.synced").count() == 1  # unchanged: nothing recorded
    oidc_user_sync(issuer="https://idp.test", subject="s-1", roles=frozenset({"admin"}), preferred_username="p1")
    last = _last("user.roles.synced")
    assert (last.details["added"], last.details["removed"]) == (["admin"], ["viewer"])


def test_events_name_no_client_identity(client_as: Callable[[str | None], APIClient], credit_model: Any) -> None:
    key = api_key_create(name="los", role="analyst").plain_key
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=key)
    body = {"age": 35, "revenu": 50000, "historique_impaye": 1, "client_id": "C5555"}
    assert api.post("/api/v1/score", body, format="json").status_code == 201
    assert "C5555" not in str(list(AuditEvent.objects.values()))
