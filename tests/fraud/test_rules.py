"""The rules engine, the default rule set and the score combination (pure: no database)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from fraud.decision import Thresholds, combined_score, decide, risk_level
from fraud.rules import (
    FIELDS,
    MAX_CONDITION_LENGTH,
    CompiledRule,
    RuleError,
    RuleHit,
    RuleSet,
    RuleSpec,
    backtest,
    check_reason,
    compile_condition,
    complete,
    render_reason,
)
from tests.fraud.contexts import context

DEFAULT_RULES = {row[0]: row for row in importlib.import_module("fraud.migrations.0003_default_rules").DEFAULT_RULES}


def default_rule(name: str) -> CompiledRule:
    _, condition, action, weight, order, reason, _ = DEFAULT_RULES[name]
    return CompiledRule.build(RuleSpec(name, condition, action, weight, 1, order, reason))


def test_the_rule_context_has_exactly_the_documented_fields() -> None:
    assert set(context()) == set(FIELDS)


@pytest.mark.parametrize("name", sorted(DEFAULT_RULES))
def test_every_default_rule_compiles_and_its_reason_renders(name: str) -> None:
    rule = default_rule(name)
    assert "{" not in rule.hit(context()).reason


# (rule, a transaction it must catch, a close one it must let through)
DEFAULT_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("extreme_amount", {"amount": 100000.0}, {"amount": 99999.99}),
    ("burst_10m", {"count_10m": 6}, {"count_10m": 5}),
    ("high_amount", {"amount": 10000.0}, {"amount": 9999.99}),
    (
        "new_beneficiary_high_amount",
        {"new_beneficiary": True, "has_beneficiary": True, "amount": 3000.0},
        {"new_beneficiary": False, "has_beneficiary": True, "amount": 3000.0},
    ),
    (
        "new_beneficiary_high_amount",
        {"new_beneficiary": True, "has_beneficiary": True, "amount": 3000.0},
        {"new_beneficiary": True, "has_beneficiary": True, "amount": 2999.0},
    ),
    (
        "amount_far_above_usual",
        {"has_usual_amount": True, "usual_amount": 100.0, "amount": 500.0, "amount_vs_usual": 5.0},
        {"has_usual_amount": True, "usual_amount": 100.0, "amount": 490.0, "amount_vs_usual": 4.9},
    ),
    (
        "amount_far_above_usual",
        {"has_usual_amount": True, "usual_amount": 20.0, "amount": 500.0, "amount_vs_usual": 25.0},
        {"has_usual_amount": False, "usual_amount": 0.0, "amount": 5000.0, "amount_vs_usual": 0.0},
    ),
    (
        "night_foreign_transfer",
        {"type": "virement", "is_night": True, "is_foreign": True, "country": "NG", "hour": 3},
        {"type": "virement", "is_night": False, "is_foreign": True, "country": "NG", "hour": 9},
    ),
    (
        "night_foreign_transfer",
        {"type": "virement", "is_night": True, "is_foreign": True, "country": "NG", "hour": 3},
        {"type": "carte", "is_night": True, "is_foreign": True, "country": "NG", "hour": 3},
    ),
    (
        "card_testing",
        {"type": "carte", "count_1h": 5, "amount": 1.0},
        {"type": "carte", "count_1h": 4, "amount": 1.0},
    ),
    (
        "card_testing",
        {"type": "carte", "count_1h": 7, "amount": 5.0},
        {"type": "carte", "count_1h": 7, "amount": 250.0},
    ),
    (
        "risky_merchant_abroad",
        {"mcc_risky": True, "mcc_group": "gambling", "is_foreign": True, "country": "MT"},
        {"mcc_risky": True, "mcc_group": "gambling", "is_foreign": False, "country": "FR"},
    ),
]


@pytest.mark.parametrize(("name", "fires", "quiet"), DEFAULT_CASES, ids=[c[0] for c in DEFAULT_CASES])
def test_each_default_rule_fires_on_its_pattern_and_not_just_below_it(
    name: str, fires: dict[str, Any], quiet: dict[str, Any]
) -> None:
    rule = default_rule(name)
    assert rule.matches(context(**fires))
    assert not rule.matches(context(**quiet))


def test_an_ordinary_payment_fires_no_default_rule() -> None:
    rules = RuleSet(default_rule(name) for name in DEFAULT_RULES)
    outcome = rules.evaluate(context())
    assert outcome.hits == () and outcome.failures == ()


def test_every_default_rule_case_is_covered() -> None:
    assert {case[0] for case in DEFAULT_CASES} == set(DEFAULT_RULES)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("amount >", "Syntax error"),
        ("amount > 10000 and", "Syntax error"),
        ("amout > 3", "Unknown field 'amout'. Did you mean 'amount'?"),
        ("beneficiary == 'x'", "Unknown field 'beneficiary'"),
        ('amount > "high"', "Type error"),
        ("is_night + 1 > 0", "Type error"),
        ("amount * 2", "must be true or false"),
        ('country =~ "N.*"', "Regular expressions"),
        ("$now > 0", "Unknown function '$now'"),
        ("$range(10) == [1]", "Unknown function '$range'"),
        ("", "Write a condition"),
        ("amount > 1 and " * 200 + "true", f"at most {MAX_CONDITION_LENGTH}"),
    ],
)
def test_a_bad_condition_is_refused_with_a_readable_reason(condition: str, message: str) -> None:
    with pytest.raises(RuleError, match=None) as raised:
        compile_condition(condition)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "condition",
    [
        'type in ["virement", "retrait"] and amount >= 500',
        "not is_foreign or amount < 100",
        "$abs(amount - usual_amount) > 1000",
        'country.starts_with("N") and is_foreign',
        "sum_24h - amount > 3 * usual_amount",
    ],
)
def test_the_language_keeps_the_useful_operators(condition: str) -> None:
    rule = compile_condition(condition)  # raises RuleError if the language refused it
    assert rule.matches(context()) in (True, False)  # and it evaluates on a real context


def test_a_rule_that_cannot_be_evaluated_is_reported_and_the_others_still_run() -> None:
    broken = CompiledRule.build(RuleSpec("ratio", "amount / (count_10m - 1) > 5", version=2))
    fine = CompiledRule.build(RuleSpec("big", "amount > 10", action="review", weight=0.2, version=1))
    outcome = RuleSet([broken, fine]).evaluate(context(count_10m=1))
    assert [h.name for h in outcome.hits] == ["big"]
    assert [(f.name, f.version, f.error) for f in outcome.failures] == [("ratio", 2, "division by zero")]


@pytest.mark.parametrize(
    ("condition", "ctx", "error"),
    [
        ("amount / (count_10m - 1) > 5", context(count_10m=1), "division by zero"),
        ("(0 - amount) ** 0.5 > 1", context(amount=4.0), "arithmetic error"),
        ("amount > 1", {k: v for k, v in context().items() if k != "amount"}, "missing field"),
        ("amount > 1", {**context(), "amount": "12000"}, "missing field"),
    ],
)
def test_a_failed_rule_records_a_short_readable_error(condition: str, ctx: dict[str, Any], error: str) -> None:
    outcome = RuleSet([CompiledRule.build(RuleSpec("r", condition, version=3))]).evaluate(ctx)
    assert outcome.hits == () and [(f.name, f.version, f.error) for f in outcome.failures] == [("r", 3, error)]


def test_rules_run_in_their_order() -> None:
    rules = RuleSet(
        [
            CompiledRule.build(RuleSpec("second", "amount > 0", order=20)),
            CompiledRule.build(RuleSpec("first", "amount > 0", order=10)),
        ]
    )
    assert [h.name for h in rules.evaluate(context()).hits] == ["first", "second"]


def test_a_reason_shows_the_transaction_values() -> None:
    reason = render_reason("{count_10m} in 10 min, {amount} EUR, abroad: {is_foreign}", context(count_10m=6))
    assert reason == "6 in 10 min, 50 EUR, abroad: no"


def test_a_reason_shows_a_true_flag_as_yes_and_decimals_rounded() -> None:
    reason = render_reason(
        "abroad: {is_foreign}, night: {is_night}, x{amount_vs_usual}", context(is_foreign=True, amount_vs_usual=4.567)
    )
    assert reason == "abroad: yes, night: no, x4.57"


def test_a_reason_naming_an_unknown_field_is_refused() -> None:
    with pytest.raises(RuleError, match="beneficiary"):
        check_reason("paid to {beneficiary}")


def test_a_reason_cannot_reach_attributes_through_format_strings() -> None:
    assert render_reason("{amount.__class__}", context()) == "{amount.__class__}"


def test_a_backtest_counts_hits_and_scores_them_against_the_labels() -> None:
    rule = CompiledRule.build(RuleSpec("big", "amount >= 1000"))
    rows = [
        (context(amount=5000.0), True),  # hit, fraud: true positive
        (context(amount=2000.0), False),  # hit, legitimate: false positive
        (context(amount=3000.0), None),  # hit, unlabelled
        (context(amount=10.0), True),  # missed fraud: false negative
        (context(amount=20.0), False),  # true negative
        (context(amount=30.0), None),
    ]
    result = backtest(rule, rows)
    assert (result.rows, result.hits, result.labelled) == (6, 3, 4)
    assert (result.true_positives, result.false_positives, result.false_negatives, result.true_negatives) == (
        1,
        1,
        1,
        1,
    )
    assert result.hit_rate == pytest.approx(0.5)
    assert result.precision == pytest.approx(0.5)
    assert result.recall == pytest.approx(0.5)


def test_a_backtest_without_labels_has_no_precision_or_recall() -> None:
    result = backtest(CompiledRule.build(RuleSpec("big", "amount >= 1000")), [(context(), None)])
    assert result.hits == 0 and result.precision is None and result.recall is None


def test_a_backtest_counts_rows_that_cannot_be_evaluated_as_failures_that_did_not_fire() -> None:
    rule = CompiledRule.build(RuleSpec("ratio", "amount / (count_10m - 1) >= 100"))
    rows = [
        (context(amount=500.0, count_10m=2), True),  # hit, fraud
        (context(amount=500.0, count_10m=1), True),  # division by zero on a fraud: a miss
        (context(amount=500.0, count_10m=1), False),  # division by zero on a legitimate one
        (context(amount=500.0, count_10m=1), None),  # division by zero, unlabelled
        ({**context(), "amount": "500"}, False),  # a snapshot with a value of the wrong type
    ]
    result = backtest(rule, rows)
    assert (result.rows, result.hits, result.failures, result.labelled) == (5, 1, 4, 4)
    assert (result.true_positives, result.false_positives, result.false_negatives, result.true_negatives) == (
        1,
        0,
        1,
        2,
    )
    assert result.incomplete == 0


def test_complete_keeps_a_complete_snapshot_as_it_is_and_says_nothing_was_missing() -> None:
    snapshot = context(amount=123.0, is_foreign=True)
    completed, incomplete = complete(snapshot)
    assert (completed, incomplete) == (snapshot, False)
    completed["amount"] = 0.0
    assert snapshot["amount"] == 123.0  # a copy: the stored snapshot is never changed


def test_complete_fills_an_old_snapshot_with_the_defaults_and_keeps_its_values() -> None:
    completed, incomplete = complete({"amount": 20000.0, "country": "NG"})
    assert incomplete is True
    assert completed == {**{name: info.default for name, info in FIELDS.items()}, "amount": 20000.0, "country": "NG"}


def test_a_backtest_reads_old_snapshots_with_defaults_for_newer_fields() -> None:
    old = {"amount": 20000.0, "type": "virement"}
    result = backtest(CompiledRule.build(RuleSpec("big", "amount >= 10000 and not is_foreign")), [(old, None)])
    assert (result.hits, result.incomplete, result.failures) == (1, 1, 0)


# --- combining the model and the rules ------------------------------------------------------


def hit(action: str = "flag", weight: float = 0.0) -> RuleHit:
    return RuleHit("r", 1, action, weight, "why")


BANDS = Thresholds(review=0.3, block=0.8)


def test_the_score_is_the_noisy_or_of_the_model_and_the_rule_weights() -> None:
    assert combined_score(0.2, [hit(weight=0.5), hit(weight=0.5)]) == pytest.approx(1 - 0.8 * 0.5 * 0.5)


def test_without_a_model_the_rules_alone_make_the_score() -> None:
    assert combined_score(None, [hit(weight=0.4)]) == pytest.approx(0.4)
    assert combined_score(None, []) == 0.0


def test_weak_signals_add_up_but_never_pass_one() -> None:
    many = [hit(weight=0.9)] * 30
    assert combined_score(0.99, many) == pytest.approx(1.0)
    assert combined_score(0.1, [hit(weight=0.1)]) > 0.1


@pytest.mark.parametrize(
    ("score", "expected"), [(0.0, "allow"), (0.299, "allow"), (0.3, "review"), (0.79, "review"), (0.8, "block")]
)
def test_the_score_bands_decide_when_no_rule_forces(score: float, expected: str) -> None:
    assert decide(score, [hit("flag", 0.9)], BANDS) == expected


def test_a_block_rule_blocks_whatever_the_score() -> None:
    assert decide(0.01, [hit("block")], BANDS) == "block"


def test_a_review_rule_means_at_least_review_but_never_lowers_a_block() -> None:
    assert decide(0.01, [hit("review")], BANDS) == "review"
    assert decide(0.95, [hit("review")], BANDS) == "block"


def test_the_risk_level_is_the_band_of_the_decision() -> None:
    assert [risk_level(d) for d in ("allow", "review", "block")] == ["LOW", "MEDIUM", "HIGH"]
