"""transaction_screen and the rule services: what is stored, which versions ran, replays, swaps."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import InternalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from fraud.config import fraud_config
from fraud.features import TransactionFacts
from fraud.models import FraudAlert, FraudCheck, FraudRule, FraudRuleSet, FraudRuleVersion, Transaction
from fraud.services import (
    ScreenRequest,
    TransactionConflict,
    fraud_rule_backtest,
    fraud_rule_save,
    fraud_settings_update,
    transaction_screen,
)
from scoring.choices import ModelPurpose
from scoring.ml.predictor import get_model
from scoring.services import model_version_activate
from tests.factories import FraudAlertFactory, FraudCheckFactory, TransactionFactory, UserFactory
from tests.fraud.contexts import context
from tests.models import TrainedModel, register_trained
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 10, 13, 0, tzinfo=dt.UTC)


def request(
    tid: str, *, at: dt.datetime = T0, amount: float = 40.0, client: str = "C1", **context: Any
) -> ScreenRequest:
    facts = TransactionFacts(amount=amount, type=context.pop("type", "carte"), timestamp=at, **context)
    return ScreenRequest(transaction_id=tid, client_id=client, facts=facts)


def screen(tid: str, **kwargs: Any) -> Any:
    return transaction_screen(request=request(tid, **kwargs), caller="user:1", model=get_model(ModelPurpose.FRAUD))


@pytest.fixture
def admin_user() -> Any:
    return UserFactory(username="rules-admin", roles=["admin"])


@pytest.fixture
def analyst_user() -> Any:
    return UserFactory(username="rules-analyst", roles=["analyst"])


def fired(outcome: Any) -> set[str]:
    return {r["name"] for r in outcome.check.triggered_rules}


def test_the_burst_rule_fires_on_the_sixth_transaction_within_ten_minutes() -> None:
    outcomes = [screen(f"B{i}", at=T0 + dt.timedelta(minutes=i * 1.5)) for i in range(6)]
    assert [o.check.features["count_10m"] for o in outcomes] == [1, 2, 3, 4, 5, 6]
    assert ["burst_10m" in fired(o) for o in outcomes] == [False] * 5 + [True]
    assert outcomes[-1].check.decision == "review" and outcomes[-1].alert is not None


def test_six_transactions_spread_over_more_than_ten_minutes_are_no_burst() -> None:
    outcomes = [screen(f"S{i}", at=T0 + dt.timedelta(minutes=i * 2.5)) for i in range(6)]
    assert outcomes[-1].check.features["count_10m"] == 5
    assert "burst_10m" not in fired(outcomes[-1])


def test_another_clients_transactions_do_not_make_a_burst() -> None:
    for i in range(5):
        screen(f"O{i}", client="OTHER", at=T0 + dt.timedelta(minutes=i))
    assert screen("MINE", at=T0 + dt.timedelta(minutes=6)).check.features["count_10m"] == 1


def test_the_usual_amount_and_a_new_beneficiary_come_from_the_clients_history() -> None:
    for i, amount in enumerate((80.0, 120.0, 100.0)):
        screen(f"H{i}", amount=amount, at=T0 - dt.timedelta(days=3 - i), beneficiary="FR76KNOWN", type="virement")
    outcome = screen("BIG", amount=3000.0, beneficiary="LT99MULE", type="virement")
    features = outcome.check.features
    assert (features["usual_amount"], features["amount_vs_usual"], features["new_beneficiary"]) == (100.0, 30.0, True)
    assert {"amount_far_above_usual", "new_beneficiary_high_amount"} <= fired(outcome)
    assert not screen("KNOWN", amount=3000.0, beneficiary="FR76KNOWN", type="virement").check.features[
        "new_beneficiary"
    ]


def test_a_check_records_every_rule_version_it_ran_and_a_new_version_is_recorded_on_later_checks(
    admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    before = screen("V1")
    rule = FraudRule.objects.get(name="high_amount")
    v1 = FraudRuleVersion.objects.get(rule=rule, version=1)
    assert {"id": v1.pk, "rule": "high_amount", "version": 1} in before.check.rule_versions
    assert len(before.check.rule_versions) == FraudRule.objects.filter(is_active=True).count() == 8

    with django_capture_on_commit_callbacks(execute=True):  # the saving process reloads on commit
        fraud_rule_save(user=admin_user, rule=rule, condition="amount >= 5000", note="lower the bar")
    v2 = FraudRuleVersion.objects.get(rule=rule, version=2)
    after = screen("V2", amount=6000.0)
    assert {"id": v2.pk, "rule": "high_amount", "version": 2} in after.check.rule_versions
    assert {"name": "high_amount", "version": 2} in [
        {k: r[k] for k in ("name", "version")} for r in after.check.triggered_rules
    ]
    before.check.refresh_from_db()
    assert {"id": v1.pk, "rule": "high_amount", "version": 1} in before.check.rule_versions


def test_checks_made_under_the_same_rules_point_at_one_stored_rule_set_and_a_rule_change_makes_another(
    admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first, second = screen("RS1"), screen("RS2", amount=15000.0)
    assert first.check.rule_set_id == second.check.rule_set_id is not None
    assert FraudRuleSet.objects.count() == 1
    stored = FraudCheck.objects.get(pk=second.check.pk)
    assert stored.rule_versions == second.check.rule_versions == FraudRuleSet.objects.get().rule_versions
    assert stored.rule_errors == []

    with django_capture_on_commit_callbacks(execute=True):
        fraud_rule_save(user=admin_user, rule=FraudRule.objects.get(name="high_amount"), condition="amount >= 5000")
    third = screen("RS3")
    assert third.check.rule_set_id != first.check.rule_set_id and FraudRuleSet.objects.count() == 2
    assert FraudCheck.objects.get(pk=first.check.pk).rule_versions == first.check.rule_versions  # unchanged


def test_a_rule_that_fails_on_a_transaction_carries_its_error_on_that_check_only(
    admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        fraud_rule_save(user=admin_user, name="ratio", condition="amount / (count_10m - 1) > 5", is_active=True)
    first = screen("R1")  # the client's first transaction: count_10m is 1
    second = screen("R2", at=T0 + dt.timedelta(minutes=1))
    assert first.check.rule_set_id == second.check.rule_set_id

    def ratio(check: FraudCheck) -> dict[str, Any]:
        return next(ref for ref in check.rule_versions if ref["rule"] == "ratio")

    version = FraudRuleVersion.objects.get(name="ratio").pk
    for check in (first.check, FraudCheck.objects.get(pk=first.check.pk)):
        assert ratio(check) == {"id": version, "rule": "ratio", "version": 1, "error": "division by zero"}
        assert check.rule_errors == [{"rule": "ratio", "version": 1, "error": "division by zero"}]
    assert ratio(FraudCheck.objects.get(pk=second.check.pk)) == {"id": version, "rule": "ratio", "version": 1}


@pytest.mark.django_db(transaction=True)
def test_a_rule_set_recorded_in_a_transaction_that_rolled_back_is_recorded_again_before_a_check_points_at_it() -> None:
    class Undone(Exception):
        pass

    with pytest.raises(Undone), transaction.atomic():
        inside = fraud_config()
        assert not inside.durable and inside.rule_set is not None
        raise Undone
    assert not FraudRuleSet.objects.filter(pk=inside.rule_set.pk).exists()

    outcome = screen("AFTER-ROLLBACK")
    assert FraudRuleSet.objects.get(pk=outcome.check.rule_set_id).rule_versions == outcome.check.rule_versions
    assert fraud_config().durable


def test_a_deactivated_rule_stops_running(admin_user: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        fraud_rule_save(user=admin_user, rule=FraudRule.objects.get(name="extreme_amount"), is_active=False)
    outcome = screen("BIG", amount=200000.0)
    assert "extreme_amount" not in fired(outcome)
    assert "extreme_amount" not in {v["rule"] for v in outcome.check.rule_versions}


def test_the_same_transaction_id_replays_and_a_different_transaction_under_it_conflicts() -> None:
    first = screen("TX1", amount=15000.0)
    again = screen("TX1", amount=15000.0)
    assert again.replayed and again.check.pk == first.check.pk and again.alert.pk == first.alert.pk
    with pytest.raises(TransactionConflict):
        screen("TX1", amount=15001.0)
    assert (Transaction.objects.count(), FraudCheck.objects.count(), FraudAlert.objects.count()) == (1, 1, 1)


def test_a_replay_is_answered_from_the_stored_decision_without_deciding_or_writing_again() -> None:
    first = screen("TX1", amount=15000.0)
    fraud_rule_save(user=None, name="replay_block", condition="amount >= 1", action="block", is_active=True)
    with CaptureQueriesContext(connection) as queries:
        again = screen("TX1", amount=15000.0)
    assert again.replayed and again.check.decision == first.check.decision != "block"
    statements = " ".join(q["sql"] for q in queries.captured_queries).lower()
    assert "insert" not in statements and "fraud_store" not in statements, statements
    assert "fraud_fraudruleversion" not in statements  # the new rule set was not even loaded


def test_an_id_the_caller_already_recorded_without_a_check_is_a_conflict_not_a_second_row() -> None:
    TransactionFactory(
        transaction_id="OLD", submitted_by="user:1", client__client_id="C1", amount=40, timestamp=T0, type="carte"
    )
    with pytest.raises(TransactionConflict):
        screen("OLD")


def test_history_recorded_without_a_caller_does_not_take_the_id_from_callers() -> None:
    TransactionFactory(transaction_id="OLD", client__client_id="C1", amount=40, timestamp=T0, type="carte")
    assert not screen("OLD").replayed
    assert sorted(Transaction.objects.filter(transaction_id="OLD").values_list("submitted_by", flat=True)) == [
        "",
        "user:1",
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_store_one_transaction_and_answer_the_same_decision() -> None:
    require_postgresql()
    # Transactional tests may run after a flush took the migration's rules away: bring our own.
    fraud_rule_save(user=None, name="race_review", condition="amount >= 10000", action="review", is_active=True)
    barrier = threading.Barrier(4)
    results: list[Any] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            barrier.wait()
            results.append(screen("RACE", amount=20000.0))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert Transaction.objects.filter(transaction_id="RACE").count() == 1
    assert FraudCheck.objects.count() == 1 and FraudAlert.objects.count() == 1
    assert {str(r.check.pk) for r in results} == {str(FraudCheck.objects.get().pk)}
    assert sum(not r.replayed for r in results) == 1


@pytest.mark.django_db(transaction=True)
def test_a_transaction_refused_at_the_insert_leaves_no_new_client_behind() -> None:
    """A new client is stored with the transaction naming it. Here the caller's id TX-TAKEN is
    being stored (not committed) for client C1 when the same id comes for a new client NEW9:
    its look-up sees nothing, its insert waits for the first, which commits; the id is then
    taken by another transaction, the second is refused, and NEW9 was never stored."""
    from scoring.models import Client
    from tests.races import in_thread, wait_for_a_lock_wait

    require_postgresql()
    screen("TX-EARLIER", client="C1")  # the client C1 and the rule set in force, committed
    results: dict[str, Any] = {}
    with transaction.atomic():
        screen("TX-TAKEN", client="C1")
        second = in_thread(results, "second", lambda: screen("TX-TAKEN", client="NEW9", amount=99.0))
        wait_for_a_lock_wait()  # its insert waits on the first's unique key
    second.join(timeout=120)
    assert isinstance(results["second"], TransactionConflict), results
    assert list(Client.objects.values_list("client_id", flat=True)) == ["C1"]
    assert Transaction.objects.get(transaction_id="TX-TAKEN").client.client_id == "C1"
    assert screen("TX-NEW", client="NEW9").check.decision == "allow"  # a new client still comes with its transaction
    assert Transaction.objects.get(transaction_id="TX-NEW").client.client_id == "NEW9"


def test_review_and_block_open_an_alert_and_allow_does_not() -> None:
    assert screen("A", amount=40.0).alert is None
    review = screen("R", amount=12000.0)
    block = screen("K", amount=150000.0)
    assert (review.check.decision, block.check.decision) == ("review", "block")
    assert FraudAlert.objects.filter(fraud_check__in=[review.check, block.check], status="open").count() == 2


def test_with_a_model_the_score_combines_the_model_and_the_rules(fraud_model: Any) -> None:
    outcome = screen("M", amount=12000.0)
    check = outcome.check
    assert check.model_version_id == fraud_model.pk and check.model_score is not None
    keep = 1 - check.model_score
    for hit in check.triggered_rules:
        keep *= 1 - hit["weight"]
    assert check.fraud_score == pytest.approx(1 - keep, abs=1e-6)
    assert check.thresholds["review"] == pytest.approx(fraud_model.threshold)


def test_a_new_champion_serves_the_next_decision_without_a_restart(
    fraud_model: Any, trained_fraud: TrainedModel, settings: Any
) -> None:
    settings.MODEL_REFRESH_SECONDS = 0
    assert screen("BEFORE").check.model_version_id == fraud_model.pk
    newer = register_trained(trained_fraud, version="fraud-newer", threshold=0.2)
    model_version_activate(model_version=newer, status="champion")
    after = screen("AFTER")
    assert after.check.model_version_id == newer.pk
    assert after.check.thresholds["review"] == pytest.approx(0.2)


def test_the_thresholds_set_by_an_admin_decide(admin_user: Any, settings: Any) -> None:
    settings.FRAUD_CONFIG_REFRESH_SECONDS = 0
    fraud_rule_save(user=admin_user, rule=FraudRule.objects.get(name="high_amount"), action="flag", weight=0.5)
    assert screen("F1", amount=12000.0).check.decision == "review"  # 0.5 >= default review 0.3
    fraud_settings_update(user=admin_user, review_threshold=0.6, block_threshold=0.9)
    outcome = screen("F2", amount=12000.0)
    assert outcome.check.decision == "allow" and outcome.check.thresholds == {"review": 0.6, "block": 0.9}


def test_thresholds_refuse_a_review_band_above_the_block_band(admin_user: Any) -> None:
    with pytest.raises(ValidationError):
        fraud_settings_update(user=admin_user, review_threshold=0.9, block_threshold=0.8)


def test_the_config_cache_follows_rule_changes_made_elsewhere(admin_user: Any, settings: Any) -> None:
    settings.FRAUD_CONFIG_REFRESH_SECONDS = 0
    assert len(fraud_config().rules) == 8
    fraud_rule_save(user=admin_user, name="tiny", condition="amount < 1", is_active=True)
    assert len(fraud_config().rules) == 9


def test_a_rule_change_committed_after_a_later_one_still_reaches_every_process(admin_user: Any, settings: Any) -> None:
    """Two admins save two rules at once: the version with the smaller id may commit second. A
    process that refreshed between the two commits must still pick the first one up."""
    require_postgresql()
    settings.FRAUD_CONFIG_REFRESH_SECONDS = 0
    with connection.cursor() as cursor:  # the id a save still in flight holds
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [FraudRuleVersion._meta.db_table])
        in_flight = cursor.fetchone()[0]
    fraud_rule_save(user=admin_user, name="later", condition="amount < 1", is_active=True)  # commits first
    assert "later" in {r.spec.name for r in fraud_config().rules.rules}  # this process refreshed in between
    # The save in flight commits now, under its smaller id: another active rule.
    fields = {"name": "earlier", "condition": "amount < 2", "action": "block", "weight": 0.5, "is_active": True}
    rule = FraudRule.objects.create(version=1, **fields)
    FraudRuleVersion.objects.create(pk=in_flight, rule=rule, version=1, order=rule.order, **fields)
    assert "earlier" in {r.spec.name for r in fraud_config().rules.rules}


# --- rules -------------------------------------------------------------------------------------


def test_every_rule_change_makes_a_new_immutable_version(admin_user: Any) -> None:
    rule = fraud_rule_save(user=admin_user, name="odd_hours", condition="hour < 5", weight=0.2)
    rule = fraud_rule_save(user=admin_user, rule=rule, weight=0.3)
    rule = fraud_rule_save(user=admin_user, rule=rule, weight=0.3)  # no change: no version
    assert rule.version == 2
    assert list(rule.versions.order_by("version").values_list("version", "weight")) == [(1, 0.2), (2, 0.3)]
    first = rule.versions.get(version=1)
    first.weight = 0.9
    with pytest.raises(ValueError, match="immutable"):
        first.save()
    with pytest.raises(ValueError):
        first.delete()


def test_a_condition_that_does_not_compile_is_never_stored(admin_user: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        fraud_rule_save(user=admin_user, name="broken", condition="amount >>> 3")
    assert "condition" in raised.value.message_dict
    assert not FraudRule.objects.filter(name="broken").exists()


def test_an_analyst_proposes_inactive_drafts_but_cannot_activate_or_edit_an_active_rule(
    analyst_user: Any, admin_user: Any
) -> None:
    draft = fraud_rule_save(user=analyst_user, name="draft_rule", condition="amount > 7000")
    assert not draft.is_active and draft.version == 1
    draft = fraud_rule_save(user=analyst_user, rule=draft, condition="amount > 8000")
    assert draft.version == 2
    with pytest.raises(PermissionDenied):
        fraud_rule_save(user=analyst_user, rule=draft, is_active=True)
    with pytest.raises(PermissionDenied):
        fraud_rule_save(user=analyst_user, rule=FraudRule.objects.get(name="high_amount"), weight=0.9)
    activated = fraud_rule_save(user=admin_user, rule=draft, is_active=True)
    assert activated.is_active and activated.version == 3


def test_a_backtest_runs_over_the_stored_checks_of_the_date_range_with_resolved_alerts_as_labels() -> None:
    def stored(tid: str, day: int, amount: float, resolution: str | None = None) -> None:
        check = FraudCheckFactory(
            transaction__transaction_id=tid,
            transaction__timestamp=T0 + dt.timedelta(days=day),
            features=context(amount=amount),
        )
        if resolution:
            reviewer = UserFactory(username=f"r-{tid}", roles=["analyst"])
            FraudAlertFactory(
                fraud_check=check, status="resolved", assignee=reviewer, resolution=resolution, resolved_by=reviewer,
                resolved_at=T0,
            )  # fmt: skip

    stored("T1", 0, 9000.0, "confirmed_fraud")  # hit, fraud
    stored("T2", 0, 8000.0, "false_positive")  # hit, legitimate
    stored("T3", 1, 7000.0)  # hit, no label
    stored("T4", 1, 30.0, "confirmed_fraud")  # missed
    stored("T5", 2, 20.0)
    stored("T6", 9, 9999.0, "confirmed_fraud")  # outside the range
    result = fraud_rule_backtest(condition="amount >= 5000", start=T0, end=T0 + dt.timedelta(days=3))
    assert (result.rows, result.hits, result.labelled) == (5, 3, 3)
    assert result.hit_rate == pytest.approx(0.6)
    assert result.precision == pytest.approx(0.5)
    assert result.recall == pytest.approx(0.5)
    everything = fraud_rule_backtest(condition="amount >= 5000")
    assert (everything.rows, everything.hits, everything.recall) == (6, 4, pytest.approx(2 / 3))


# --- Analysts' conditions never run in this process ---------------------------------------------------

FROZE_A_WORKER = [
    '{"k": (country + "' + "a" * 40 + '!") =~ "(a+)+$"}["k"]',
    "(amount << 30000000) > 0",
    "[[x * y for x in [1, 2, 3]] for y in [4, 5, 6]].length > 0",
]


@pytest.mark.parametrize("condition", FROZE_A_WORKER)
def test_a_draft_that_froze_a_worker_is_refused_and_never_stored(analyst_user: Any, condition: str) -> None:
    with pytest.raises(ValidationError) as refused:
        fraud_rule_save(user=analyst_user, name="hostile", condition=condition)
    assert "not allowed" in refused.value.message_dict["condition"][0]
    assert not FraudRule.objects.filter(name="hostile").exists()


@pytest.mark.parametrize("condition", FROZE_A_WORKER)
def test_a_backtest_of_a_condition_that_froze_a_worker_is_refused(condition: str) -> None:
    FraudCheckFactory(features=context(amount=20000.0))
    with pytest.raises(ValidationError) as refused:
        fraud_rule_backtest(condition=condition)
    assert "not allowed" in refused.value.message_dict["condition"][0]


def test_a_stored_draft_the_language_now_refuses_cannot_be_activated(admin_user: Any) -> None:
    legacy = FraudRule.objects.create(name="legacy", condition="(amount << 30000000) > 0", version=1)
    with pytest.raises(ValidationError, match="Bit shifts"):
        fraud_rule_save(user=admin_user, rule=legacy, is_active=True)
    legacy.refresh_from_db()
    assert not legacy.is_active


def test_an_active_rule_the_language_now_refuses_is_skipped_and_the_others_still_run(
    admin_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    rule = FraudRule.objects.create(name="legacy", condition="country[0] == 'N'", version=1, is_active=True)
    FraudRuleVersion.objects.create(
        rule=rule,
        version=1,
        name="legacy",
        condition=rule.condition,
        action="flag",
        weight=0.1,
        is_active=True,
        order=5,
    )
    with django_capture_on_commit_callbacks(execute=True):
        fraud_rule_save(user=admin_user, name="tiny", condition="amount < 1", is_active=True)  # reloads the config
    assert "legacy" not in {r.spec.name for r in fraud_config().rules.rules}
    outcome = screen("LEGACY", amount=0.5, country="NG")
    assert "tiny" in fired(outcome) and "legacy" not in {v["rule"] for v in outcome.check.rule_versions}


def test_a_rule_whose_check_takes_too_long_is_refused_with_a_clear_message(
    admin_user: Any, runaway_check: None
) -> None:
    with pytest.raises(ValidationError) as refused:
        fraud_rule_save(user=admin_user, name="slow", condition="amount > 424242")
    assert refused.value.message_dict["condition"] == [
        "This condition took too long to check (the limit is 0.5 s); simplify it."
    ]
    assert not FraudRule.objects.filter(name="slow").exists()


def test_a_backtest_that_takes_too_long_is_stopped_with_a_clear_message(runaway_backtest: None) -> None:
    FraudCheckFactory(features=context(amount=20000.0))
    with pytest.raises(ValidationError, match="The back-test took too long"):
        fraud_rule_backtest(condition="amount >= 10000")


def test_a_rule_version_and_a_rule_set_cannot_be_changed_or_deleted_behind_the_application() -> None:
    """A check is explained by the versions it ran: the model's ``save``/``delete`` refuse, and on
    PostgreSQL so does the database (queryset ``update``/``delete``, SQL). Only ``created_by`` may
    still be cleared, as removing a staff account does."""
    require_postgresql()
    version = FraudRuleVersion.objects.get(name="high_amount", version=1)
    rule_set = fraud_config().rule_set
    assert rule_set is not None and FraudRuleSet.objects.filter(pk=rule_set.pk).exists()
    refused = [
        lambda: FraudRuleVersion.objects.filter(pk=version.pk).update(condition="amount > 0"),
        lambda: FraudRuleVersion.objects.filter(pk=version.pk).update(weight=0.99),
        lambda: FraudRuleVersion.objects.filter(pk=version.pk)._raw_delete(connection.alias),
        lambda: FraudRuleSet.objects.filter(pk=rule_set.pk).update(rule_versions=[]),
        lambda: FraudRuleSet.objects.filter(pk=rule_set.pk)._raw_delete(connection.alias),
    ]
    for change in refused:
        with pytest.raises(InternalError, match="Cannot"), transaction.atomic():
            change()
    stored = FraudRuleVersion.objects.get(pk=version.pk)
    assert (stored.condition, stored.weight) == (version.condition, version.weight)
    assert FraudRuleSet.objects.get(pk=rule_set.pk).rule_versions == rule_set.rule_versions
    FraudRuleVersion.objects.filter(pk=version.pk).update(created_by=None)  # SET_NULL still works
