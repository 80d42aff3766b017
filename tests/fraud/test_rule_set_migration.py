"""Migrations 0010/0011: each check's list of rule versions moves to a shared rule set, and back."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from fraud.models import FraudCheck, FraudRuleSet
from fraud.services import rule_set_digest

BEFORE = [("fraud", "0009_transaction_seen_indexes")]
AFTER = [("fraud", "0011_remove_fraudcheck_rule_versions")]

RULES = [{"id": 1, "rule": "extreme_amount", "version": 1}, {"id": 7, "rule": "ratio", "version": 2}]
FAILED = [RULES[0], {**RULES[1], "error": "division by zero"}]
OTHER = [{"id": 1, "rule": "extreme_amount", "version": 1}]


def test_the_migration_names_a_rule_set_as_the_service_does() -> None:
    migration = importlib.import_module("fraud.migrations.0010_fraud_rule_sets")
    for refs in (RULES, OTHER, [], [{"id": None, "rule": "draft", "version": 0}]):
        assert migration._digest(refs) == rule_set_digest(refs)


@pytest.fixture
def migrated_back(transactional_db: Any) -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        yield executor
    finally:
        executor = MigrationExecutor(connection)  # the graph as it stands now
        executor.migrate(executor.loader.graph.leaf_nodes())


def _old_checks(executor: MigrationExecutor) -> list[Any]:
    apps = executor.loader.project_state(BEFORE).apps
    client = apps.get_model("scoring", "Client").objects.create(client_id="MIGRATED")
    Transaction, FraudCheck = apps.get_model("fraud", "Transaction"), apps.get_model("fraud", "FraudCheck")
    checks = []
    for i, versions in enumerate((RULES, FAILED, RULES, OTHER)):
        txn = Transaction.objects.create(
            transaction_id=f"M{i}",
            submitted_by="user:1",
            client=client,
            amount=Decimal("10.00"),
            type="carte",
            timestamp=dt.datetime(2026, 3, 10, 13, i, tzinfo=dt.UTC),
        )
        checks.append(
            FraudCheck.objects.create(
                transaction=txn,
                fraud_score=0.1,
                risk_level="LOW",
                decision="allow",
                caller="user:1",
                rule_versions=versions,
            )  # fmt: skip
        )
    return checks


def test_each_list_becomes_a_shared_rule_set_with_the_failures_kept_per_check_and_back(
    migrated_back: MigrationExecutor,
) -> None:
    old = _old_checks(migrated_back)
    MigrationExecutor(connection).migrate(AFTER)

    new = [FraudCheck.objects.select_related("rule_set").get(pk=check.pk) for check in old]
    assert [check.rule_versions for check in new] == [RULES, FAILED, RULES, OTHER]
    assert new[0].rule_set_id == new[1].rule_set_id == new[2].rule_set_id != new[3].rule_set_id
    assert [check.rule_errors for check in new] == [
        [],
        [{"rule": "ratio", "version": 2, "error": "division by zero"}],
        [],
        [],
    ]
    assert FraudRuleSet.objects.get(pk=new[0].rule_set_id).digest == rule_set_digest(RULES)
    assert FraudRuleSet.objects.count() == 2

    backwards = MigrationExecutor(connection)
    backwards.migrate(BEFORE)
    apps = backwards.loader.project_state(BEFORE).apps
    restored = apps.get_model("fraud", "FraudCheck").objects.in_bulk([check.pk for check in old])
    assert [restored[check.pk].rule_versions for check in old] == [RULES, FAILED, RULES, OTHER]
