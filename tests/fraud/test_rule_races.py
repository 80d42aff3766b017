"""Two rules saved with one name at the same instant, on PostgreSQL: the second is told why."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from fraud.models import FraudRule, FraudRuleVersion
from fraud.services import RULE_NAME_TAKEN, fraud_rule_save
from tests.races import in_thread, wait_for_a_lock_wait
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)

RULE = {"condition": "amount > 9000", "action": "review", "weight": 0.3, "reason": "Large amount."}


def test_a_rule_saved_under_a_name_another_save_takes_meanwhile_is_refused_naming_the_field() -> None:
    """Both forms checked the name free; the unique index makes the second wait, then fails. It used
    to be a database error (a 500 in the admin); it is the name's validation error."""
    require_postgresql()
    saved, go = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def first() -> FraudRule:
        with transaction.atomic():
            rule = fraud_rule_save(user=None, name="same_instant", **RULE)
            saved.set()
            assert go.wait(timeout=60)
        return rule

    one = in_thread(results, "first", first)
    assert saved.wait(timeout=60)
    two = in_thread(results, "second", lambda: fraud_rule_save(user=None, name="same_instant", **RULE))
    wait_for_a_lock_wait()  # the second insert waits on the first's uncommitted name
    go.set()
    one.join(timeout=60)
    two.join(timeout=60)

    assert isinstance(results["first"], FraudRule), results["first"]
    refused = results["second"]
    assert isinstance(refused, ValidationError), repr(refused)
    assert refused.message_dict == {"name": [RULE_NAME_TAKEN]}
    assert FraudRule.objects.filter(name="same_instant").count() == 1
    assert FraudRuleVersion.objects.filter(name="same_instant").count() == 1  # nothing half-written
