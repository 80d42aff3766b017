"""The fraud admin through Django's test client: rules, versions, back-tests and thresholds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from fraud.models import FraudCheck, FraudRule, FraudRuleVersion, FraudSettings, Transaction
from tests.factories import FraudCheckFactory, UserFactory
from tests.fraud.contexts import context

pytestmark = pytest.mark.django_db

ADD = "/admin/fraud/fraudrule/add/"
NEW_RULE = {
    "name": "big_cash",
    "description": "Large withdrawals",
    "condition": 'type == "retrait" and amount >= 1500',
    "reason": "Withdrawal of {amount}.",
    "action": "review",
    "weight": "0.3",
    "order": "90",
    "note": "first draft",
    # the read-only history inline's management form
    "versions-TOTAL_FORMS": "0",
    "versions-INITIAL_FORMS": "0",
    "versions-MIN_NUM_FORMS": "0",
    "versions-MAX_NUM_FORMS": "1000",
}


@pytest.fixture
def staff() -> Callable[[str], Client]:
    def login(role: str) -> Client:
        browser = Client()
        browser.force_login(UserFactory(username=f"{role}-staff", roles=[role]))
        return browser

    return login


def change_url(rule: FraudRule) -> str:
    return f"/admin/fraud/fraudrule/{rule.pk}/change/"


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("amount >>> 3", "Syntax error"),
        ("amount > 10000 and benef == 'x'", "Unknown field &#x27;benef&#x27;"),
        ('amount > "lots"', "Type error"),
    ],
)
def test_a_rule_whose_condition_does_not_compile_is_refused_in_the_form_and_nothing_is_stored(
    staff: Callable[[str], Client], condition: str, message: str
) -> None:
    response = staff("admin").post(ADD, {**NEW_RULE, "condition": condition, "is_active": "on"})
    assert response.status_code == 200  # the form again, with the error on the condition
    assert message in response.content.decode()
    assert response.context["adminform"].form.errors["condition"]
    assert not FraudRule.objects.filter(name="big_cash").exists()
    assert not FraudRuleVersion.objects.filter(name="big_cash").exists()


def test_a_reason_naming_an_unknown_field_is_refused_in_the_form(staff: Callable[[str], Client]) -> None:
    response = staff("admin").post(ADD, {**NEW_RULE, "reason": "to {beneficiary}"})
    assert "reason" in response.context["adminform"].form.errors
    assert not FraudRule.objects.filter(name="big_cash").exists()


def test_an_admin_adds_an_active_rule_as_version_one(staff: Callable[[str], Client]) -> None:
    response = staff("admin").post(ADD, {**NEW_RULE, "is_active": "on"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = FraudRule.objects.get(name="big_cash")
    assert (rule.is_active, rule.version) == (True, 1)
    version = rule.versions.get()
    assert (version.condition, version.note, version.created_by.username) == (
        NEW_RULE["condition"],
        "first draft",
        "admin-staff",
    )


@pytest.mark.parametrize(
    ("condition", "warned"),
    [
        # count_10m counts this transaction: 1 on a client's first, so the division fails there.
        ("amount / (count_10m - 1) > 5", True),
        ("sum_24h / history_count > 1000", True),  # no history: 0
        ("count_10m > 1 and amount / (count_10m - 1) > 5", False),  # guarded
        ("amount / count_10m > 5", False),
    ],
)
def test_a_rule_that_cannot_run_on_a_client_s_first_transaction_is_saved_with_a_warning(
    staff: Callable[[str], Client], condition: str, warned: bool
) -> None:
    """A rule that fails counts as not matched: one dividing by a count that is 0 for a new client
    would silently never fire on the first transactions of new clients, where fraud often is."""
    response = staff("admin").post(ADD, {**NEW_RULE, "condition": condition, "is_active": "on"}, follow=True)
    assert FraudRule.objects.get(name="big_cash").versions.get().condition == condition  # saved all the same
    shown = [str(m) for m in response.context["messages"]]
    warning = "cannot be evaluated on a client's first transaction (division by zero)"
    assert any(warning in m for m in shown) is warned, shown
    assert (warning in response.content.decode().replace("&#x27;", "'")) is warned


def test_an_analyst_proposes_an_inactive_draft_even_when_asking_for_active(staff: Callable[[str], Client]) -> None:
    response = staff("analyst").post(ADD, {**NEW_RULE, "is_active": "on"})
    assert response.status_code == 302
    assert not FraudRule.objects.get(name="big_cash").is_active  # is_active is read-only for analysts


def test_an_analyst_cannot_change_an_active_rule(staff: Callable[[str], Client]) -> None:
    rule = FraudRule.objects.get(name="high_amount")
    analyst = staff("analyst")
    page = analyst.get(change_url(rule))
    assert page.status_code == 200 and b'name="_save"' not in page.content  # view only
    posted = analyst.post(change_url(rule), {**NEW_RULE, "name": "high_amount", "condition": "amount > 1"})
    assert posted.status_code == 403
    assert FraudRule.objects.get(pk=rule.pk).condition == "amount >= 10000"


def test_a_change_in_the_admin_makes_a_version_shown_in_the_history(staff: Callable[[str], Client]) -> None:
    rule = FraudRule.objects.get(name="high_amount")
    admin = staff("admin")
    data = {
        **NEW_RULE,
        "name": rule.name,
        "condition": "amount >= 8000",
        "reason": rule.reason,
        "action": rule.action,
        "weight": str(rule.weight),
        "order": str(rule.order),
        "is_active": "on",
        "note": "catch more",
        "versions-TOTAL_FORMS": "1",
        "versions-INITIAL_FORMS": "1",
        "versions-0-id": str(rule.versions.get().pk),
        "versions-0-rule": str(rule.pk),
    }
    response = admin.post(change_url(rule), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule.refresh_from_db()
    assert (rule.version, rule.condition) == (2, "amount >= 8000")
    page = admin.get(change_url(rule)).content.decode()
    assert "amount &gt;= 8000" in page and "amount &gt;= 10000" in page and "catch more" in page


def test_the_activate_action_makes_a_new_version(staff: Callable[[str], Client]) -> None:
    draft = FraudRule.objects.create(name="draft", condition="amount > 1", version=0)
    response = staff("admin").post(
        "/admin/fraud/fraudrule/", {"action": "activate_rules", "_selected_action": [str(draft.pk)]}
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.is_active and draft.versions.get(version=draft.version).is_active


def test_a_checks_page_shows_the_thresholds_and_every_rule_version_it_ran(
    staff: Callable[[str], Client], key_client: Callable[..., Any]
) -> None:
    """Compliance reads checks only in the admin (the transactions API is 403 to it): the page
    must explain the decision, with the bands it was made against and the versions it ran."""
    from accounts.roles import Role
    from fraud.services import fraud_rule_save

    fraud_rule_save(
        user=None, name="ratio", condition="amount / (count_10m - 1) > 5", action="flag", weight=0.1, is_active=True
    )
    body = {"transaction_id": "TX-ADM-1", "montant": 2000, "type": "virement", "client_id": "C1001"}
    assert key_client(Role.ANALYST, ["fraud"]).post("/api/v1/fraude", body, format="json").status_code == 201
    check = FraudCheck.objects.get(transaction__transaction_id="TX-ADM-1")
    page = staff("compliance").get(f"/admin/fraud/fraudcheck/{check.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    bands = check.thresholds
    assert f"review from {bands['review']}, block from {bands['block']}" in html
    assert "<code>high_amount v1</code>" in html  # ran, did not fire
    assert "<code>ratio v1</code> (failed: division by zero)" in html


def test_rules_are_never_deleted(staff: Callable[[str], Client]) -> None:
    rule = FraudRule.objects.get(name="high_amount")
    assert staff("admin").get(f"/admin/fraud/fraudrule/{rule.pk}/delete/").status_code == 403


BACKTEST = "/admin/fraud/fraudrule/backtest/"


def backtest_page(browser: Client, **form: str) -> Any:
    """Run a back-test the way the page does: a POST of its form."""
    return browser.post(BACKTEST, form)


def test_the_backtest_page_shows_hits_hit_rate_precision_and_recall(staff: Callable[[str], Client]) -> None:
    day = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    for i, amount in enumerate((12000.0, 15000.0, 50.0, 60.0)):
        FraudCheckFactory(
            transaction__transaction_id=f"B{i}", transaction__timestamp=day, features=context(amount=amount)
        )
    response = backtest_page(staff("analyst"), condition="amount >= 10000", start="2026-03-10", end="2026-03-10")
    assert response.status_code == 200
    result = response.context["result"]
    assert (result.rows, result.hits, result.hit_rate) == (4, 2, 0.5)
    html = response.content.decode()
    assert 'id="bt-hits">2<' in html and "50 %" in html and "no labelled hit" in html
    outside = backtest_page(staff("admin"), condition="amount >= 10000", start="2026-03-11")
    assert outside.context["result"].rows == 0


def test_a_backtest_up_to_the_last_day_a_date_takes_counts_everything_from_the_start(
    staff: Callable[[str], Client],
) -> None:
    FraudCheckFactory(transaction__timestamp=dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC), features=context())
    response = backtest_page(staff("analyst"), condition="amount > 0", start="2026-03-10", end="9999-12-31")
    assert response.status_code == 200  # the day after 9999-12-31 does not exist: it was a 500
    assert response.context["result"].rows == 1


def test_a_backtest_cut_at_the_row_limit_says_so(staff: Callable[[str], Client], settings: Any) -> None:
    """Newest first, at most FRAUD_BACKTEST_MAX_ROWS: a range holding more must not read as complete."""
    settings.FRAUD_BACKTEST_MAX_ROWS = 2
    for day in (10, 11):
        FraudCheckFactory(transaction__timestamp=dt.datetime(2026, 3, day, 12, tzinfo=dt.UTC), features=context())
    whole = backtest_page(staff("analyst"), condition="amount > 0", start="2026-03-10", end="2026-03-11")
    assert (whole.context["result"].rows, whole.context["result"].capped) == (2, False)
    assert 'id="bt-capped"' not in whole.content.decode()
    FraudCheckFactory(transaction__timestamp=dt.datetime(2026, 3, 9, 12, tzinfo=dt.UTC), features=context())
    cut = backtest_page(staff("analyst"), condition="amount > 0", start="2026-03-09", end="2026-03-11")
    assert (cut.context["result"].rows, cut.context["result"].capped) == (2, True)
    assert 'id="bt-capped"' in cut.content.decode() and "only the newest 2" in cut.content.decode()


def test_a_saved_rule_and_a_version_can_be_backtested(staff: Callable[[str], Client]) -> None:
    rule = FraudRule.objects.get(name="high_amount")
    FraudCheckFactory(features=context(amount=20000.0))
    by_rule = backtest_page(staff("admin"), rule=str(rule.pk))
    assert by_rule.context["result"].hits == 1 and "high_amount v1 (current)" in by_rule.content.decode()
    by_version = backtest_page(staff("admin"), version=str(rule.versions.get().pk))
    assert by_version.context["result"].hits == 1


def test_a_backtest_of_a_bad_condition_shows_the_error(staff: Callable[[str], Client]) -> None:
    response = backtest_page(staff("analyst"), condition="amount >")
    assert response.context["result"] is None
    assert "Syntax error" in response.content.decode()


def test_a_get_of_the_backtest_page_only_shows_the_form_prefilled_with_the_rule(
    staff: Callable[[str], Client],
) -> None:
    rule = FraudRule.objects.get(name="high_amount")
    FraudCheckFactory(features=context(amount=20000.0))
    response = staff("analyst").get(BACKTEST, {"rule": str(rule.pk), "condition": "amount > 0"})
    assert response.status_code == 200
    assert response.context["result"] is None  # a link or a prefetch never runs a back-test
    assert response.context["form"].initial == {"rule": str(rule.pk)}
    assert 'method="post"' in response.content.decode()


def test_a_backtest_without_the_csrf_token_is_refused(staff: Callable[[str], Client]) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(UserFactory(username="csrf-analyst", roles=["analyst"]))
    assert browser.post(BACKTEST, {"condition": "amount > 1"}).status_code == 403
    page = browser.get(BACKTEST)
    token = page.context["csrf_token"]
    assert browser.post(BACKTEST, {"condition": "amount > 1", "csrfmiddlewaretoken": token}).status_code == 200


@pytest.mark.parametrize(("role", "expected"), [("viewer", 403), ("compliance", 403)])
def test_only_analysts_and_admins_backtest(staff: Callable[[str], Client], role: str, expected: int) -> None:
    assert backtest_page(staff(role), condition="amount > 1").status_code == expected
    assert staff(role).get(BACKTEST).status_code == expected


def test_the_thresholds_page_is_for_admins_and_saves_through_the_service(staff: Callable[[str], Client]) -> None:
    admin = staff("admin")
    assert admin.get("/admin/fraud/fraudsettings/").url == "/admin/fraud/fraudsettings/1/change/"
    response = admin.post("/admin/fraud/fraudsettings/1/change/", {"review_threshold": "0.4", "block_threshold": "0.9"})
    assert response.status_code == 302
    row = FraudSettings.objects.get()
    assert (row.review_threshold, row.block_threshold, row.updated_by.username) == (0.4, 0.9, "admin-staff")
    refused = admin.post("/admin/fraud/fraudsettings/1/change/", {"review_threshold": "0.95", "block_threshold": "0.9"})
    assert refused.status_code == 200 and "review_threshold" in refused.context["adminform"].form.errors
    for role in ("analyst", "viewer"):
        assert staff(role).get("/admin/fraud/fraudsettings/1/change/").status_code == 403


def test_an_analyst_cannot_activate_a_rule_through_the_action(staff: Callable[[str], Client]) -> None:
    draft = FraudRule.objects.create(name="draft", condition="amount > 1", version=0)
    response = staff("analyst").post(
        "/admin/fraud/fraudrule/", {"action": "activate_rules", "_selected_action": [str(draft.pk)]}
    )
    assert response.status_code == 200  # the list again: the action is not offered to analysts
    draft.refresh_from_db()
    assert not draft.is_active and draft.version == 0


LEGACY = "(amount << 30000000) > 0"  # stored before the language refused bit shifts


@pytest.mark.four_eyes
def test_the_deactivate_action_stops_an_active_rule_the_language_now_refuses(staff: Callable[[str], Client]) -> None:
    """Deactivating only stops a rule: its stored condition is not checked again (it was a 500,
    after the rules before it in the list had already been deactivated)."""
    legacy = FraudRule.objects.create(name="legacy", condition=LEGACY, version=1, is_active=True)
    other = FraudRule.objects.create(name="another", condition="amount > 1", version=1, is_active=True)
    response = staff("admin").post(
        "/admin/fraud/fraudrule/",
        {"action": "deactivate_rules", "_selected_action": [str(legacy.pk), str(other.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert "2 rule(s) deactivated" in response.content.decode()
    for rule in (legacy, other):
        rule.refresh_from_db()
        assert not rule.is_active and rule.version == 2
        assert not rule.versions.get(version=2).is_active


def test_activating_several_rules_changes_none_when_one_is_refused_and_says_which(
    staff: Callable[[str], Client],
) -> None:
    good = FraudRule.objects.create(name="a_good_one", condition="amount > 1", version=0)
    legacy = FraudRule.objects.create(name="legacy", condition=LEGACY, version=0)
    response = staff("admin").post(
        "/admin/fraud/fraudrule/",
        {"action": "activate_rules", "_selected_action": [str(good.pk), str(legacy.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "No rule activated" in page and "legacy" in page and "Bit shifts" in page
    for rule in (good, legacy):
        rule.refresh_from_db()
        assert not rule.is_active and rule.version == 0 and not rule.versions.exists()


def test_an_analysts_draft_with_a_regex_hidden_in_a_mapping_is_refused_in_the_form(
    staff: Callable[[str], Client],
) -> None:
    hostile = '{"k": (country + "' + "a" * 40 + '!") =~ "(a+)+$"}["k"]'
    response = staff("analyst").post(ADD, {**NEW_RULE, "condition": hostile})
    assert response.status_code == 200
    assert "is not allowed" in response.context["adminform"].form.errors["condition"][0]
    assert not FraudRule.objects.filter(name="big_cash").exists()


def test_a_condition_that_takes_too_long_to_check_is_shown_as_such_on_the_field(
    staff: Callable[[str], Client], runaway_check: None
) -> None:
    response = staff("admin").post(ADD, {**NEW_RULE, "condition": "amount >= 1515", "is_active": "on"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["condition"] == [
        "This condition took too long to check (the limit is 0.5 s); simplify it."
    ]
    assert not FraudRule.objects.filter(name="big_cash").exists()


def test_a_backtest_that_takes_too_long_is_shown_on_the_condition(
    staff: Callable[[str], Client], runaway_backtest: None
) -> None:
    FraudCheckFactory(features=context(amount=20000.0))
    response = backtest_page(staff("analyst"), condition="amount >= 10000")
    assert response.context["result"] is None
    assert "The back-test took too long" in response.context["form"].errors["condition"][0]


# --- Evidence: transactions and their checks --------------------------------------------------

EVIDENCE_READERS = ["admin", "analyst", "viewer", "compliance"]  # accounts/roles.py: view on both


@pytest.fixture
def check() -> FraudCheck:
    """A stored check with a model score and a rule that fired, as the decision writes it."""
    return FraudCheckFactory(
        transaction__transaction_id="TX-EVIDENCE-1",
        fraud_score=0.42,
        model_score=0.13,
        decision="review",
        risk_level="MEDIUM",
        latency_ms=3.5,
        triggered_rules=[
            {"name": "big_cash", "version": 2, "action": "review", "weight": 0.3, "reason": "Withdrawal of 1500."}
        ],
    )


@pytest.mark.parametrize("role", EVIDENCE_READERS)
def test_every_reader_of_fraud_evidence_opens_a_check_and_sees_its_scores_decision_and_rules(
    staff: Callable[[str], Client], check: FraudCheck, role: str
) -> None:
    browser = staff(role)
    listed = browser.get("/admin/fraud/fraudcheck/")
    assert listed.status_code == 200
    assert "TX-EVIDENCE-1" in listed.content.decode() and "42.0%" in listed.content.decode()
    page = browser.get(f"/admin/fraud/fraudcheck/{check.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    # The fraud score, the model's part, the decision and the rule that fired, all of this check.
    for shown in ("42.0%", "13.0%", "Review", "3.5 ms", "big_cash v2", "Withdrawal of 1500."):
        assert shown in text, shown
    assert "Model score" in text


@pytest.mark.parametrize("role", EVIDENCE_READERS)
def test_every_reader_of_fraud_evidence_opens_a_transaction_with_its_check(
    staff: Callable[[str], Client], check: FraudCheck, role: str
) -> None:
    browser = staff(role)
    listed = browser.get("/admin/fraud/transaction/")
    assert listed.status_code == 200 and "TX-EVIDENCE-1" in listed.content.decode()
    page = browser.get(f"/admin/fraud/transaction/{check.transaction.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    for shown in ("TX-EVIDENCE-1", "42.0%", "13.0%", "Review", "big_cash v2"):
        assert shown in text, shown


def test_a_check_scored_by_the_rules_alone_says_so_on_its_page(staff: Callable[[str], Client]) -> None:
    check = FraudCheckFactory(fraud_score=0.05, model_score=None)
    page = staff("viewer").get(f"/admin/fraud/fraudcheck/{check.pk}/change/")
    assert page.status_code == 200 and "(rules only)" in page.content.decode()


def test_an_unsaved_check_or_transaction_still_has_a_name() -> None:
    assert str(FraudCheck()).startswith("no decision no score (check ")
    assert str(Transaction()) == "transaction (unsaved)"
    assert str(FraudCheckFactory.build(fraud_score=0.25, decision="block")).startswith("block 0.250 (check ")
