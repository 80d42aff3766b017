"""One home per rule (fraud): the admin's forms report the service's own error, word for word."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from fraud.admin_forms import AlertAssignForm, FraudRuleForm, FraudSettingsForm
from fraud.models import FraudRule
from fraud.services import (
    ASSIGNEE_NOT_ANALYST,
    RULE_EDIT_DENIED,
    fraud_alert_assign,
    fraud_analysts,
    fraud_rule_edit_check,
    fraud_rule_save,
    fraud_settings_update,
    fraud_thresholds_check,
)
from tests.factories import FraudAlertFactory, UserFactory
from tests.fraud.contexts import context

pytestmark = pytest.mark.django_db


def service_messages(call: Callable[..., object], **kwargs: object) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refused:
        call(**kwargs)
    return refused.value.message_dict


def test_review_below_block_is_the_services_rule_and_the_settings_form_shows_its_message() -> None:
    expected = service_messages(fraud_thresholds_check, review_threshold=0.95, block_threshold=0.9)
    assert list(expected) == ["review_threshold"]
    form = FraudSettingsForm(data={"review_threshold": "0.95", "block_threshold": "0.9"})
    assert not form.is_valid()
    assert form.errors["review_threshold"] == expected["review_threshold"]
    admin = UserFactory(username="boss", roles=["admin"])
    assert service_messages(fraud_settings_update, user=admin, review_threshold=0.95, block_threshold=0.9) == expected
    page = Client()
    page.force_login(admin)
    shown = page.post("/admin/fraud/fraudsettings/1/change/", {"review_threshold": "0.95", "block_threshold": "0.9"})
    assert escape(expected["review_threshold"][0]) in shown.content.decode()


def test_who_may_edit_an_active_rule_is_the_services_rule_and_the_rule_form_shows_its_message() -> None:
    analyst = UserFactory(username="alice", roles=["analyst"])
    admin = UserFactory(username="boss", roles=["admin"])
    rule = FraudRule.objects.get(name="high_amount")
    assert rule.is_active
    with pytest.raises(PermissionDenied, match=RULE_EDIT_DENIED):
        fraud_rule_edit_check(user=analyst, rule=rule, is_active=True)
    with pytest.raises(PermissionDenied, match=RULE_EDIT_DENIED):
        fraud_rule_save(user=analyst, rule=rule, weight=0.5)
    fraud_rule_edit_check(user=admin, rule=rule, is_active=True)
    fraud_rule_edit_check(user=analyst, rule=None, is_active=False)  # a draft is anyone's

    data = {name: getattr(rule, name) for name in ("name", "condition", "reason", "action", "order")}
    form_class = type("AnalystRuleForm", (FraudRuleForm,), {"editor": analyst})
    form = form_class(data={**data, "weight": "0.5", "is_active": "on"}, instance=rule)
    assert not form.is_valid()
    assert form.non_field_errors() == [RULE_EDIT_DENIED]
    form_class = type("AdminRuleForm", (FraudRuleForm,), {"editor": admin})
    assert form_class(data={**data, "weight": "0.5", "is_active": "on"}, instance=rule).is_valid()


def test_who_counts_as_an_analyst_is_the_services_rule_and_the_assign_form_shows_its_message() -> None:
    alice = UserFactory(username="alice", roles=["analyst"])
    admin = UserFactory(username="boss", roles=["admin"])
    viewer = UserFactory(username="vera", roles=["viewer"])
    gone = UserFactory(username="gone", roles=["analyst"], is_active=False)
    assert set(fraud_analysts()) == {alice, admin}
    assert gone not in fraud_analysts()
    alert = FraudAlertFactory(fraud_check__features=context(amount=12000.0))
    expected = service_messages(fraud_alert_assign, alert=alert, assignee=viewer, by=admin)
    assert expected == {"assignee": [ASSIGNEE_NOT_ANALYST]}
    form = AlertAssignForm(data={"assignee": viewer.pk})
    assert not form.is_valid()
    assert form.errors["assignee"] == expected["assignee"]
    assert AlertAssignForm(data={"assignee": alice.pk}).is_valid()
