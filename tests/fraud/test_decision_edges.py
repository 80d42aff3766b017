"""The edges of the fraud decision modules that mutation testing found unpinned (pure: no database).

Each test names the boundary it holds: the threshold range, the clamps of the score, the
inclusive 90-day lookback, "new" without history, a back-test's counts, the rule set's
references. `make mutation` (docs/security.md) runs these with the module tests.
"""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from fraud.decision import BLOCK, REVIEW, Thresholds, combined_score, decide
from fraud.rules import (
    CompiledRule,
    Outcome,
    RuleError,
    RuleHit,
    RuleSet,
    RuleSpec,
    backtest_tally,
    render_reason,
)
from fraud.velocity import LOOKBACK, HistorySummary, PastTransaction, summarize, velocity
from tests.fraud.contexts import context

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def hit(weight: float, action: str = "flag") -> RuleHit:
    return RuleHit("r", 1, action, weight, "reason")


# ---- Thresholds ---------------------------------------------------------------------------


@pytest.mark.parametrize(("review", "block"), [(1.0, 1.0), (1e-9, 1e-9), (0.5, 0.9), (0.9, 0.5)])
def test_thresholds_take_any_value_above_zero_up_to_one_inclusive(review: float, block: float) -> None:
    assert Thresholds(review, block).as_dict() == {"review": review, "block": block}


@pytest.mark.parametrize(
    ("review", "block"),
    [(0.0, 0.5), (0.5, 0.0), (-0.1, 0.5), (0.5, -0.1), (1.0000001, 0.5), (0.5, 1.0000001), (2.0, 2.0)],
)
def test_thresholds_refuse_zero_negatives_and_anything_above_one_on_either_band(review: float, block: float) -> None:
    with pytest.raises(ValueError, match="thresholds are between 0 \\(excluded\\) and 1"):
        Thresholds(review, block)


# ---- The score's clamps --------------------------------------------------------------------


@pytest.mark.parametrize(("probability", "expected"), [(1.5, 1.0), (-0.5, 0.0), (None, 0.0), (0.25, 0.25)])
def test_the_model_probability_is_clamped_to_zero_one(probability: float | None, expected: float) -> None:
    assert combined_score(probability, []) == expected


@pytest.mark.parametrize(("weight", "expected"), [(1.5, 1.0), (-0.5, 0.2), (0.5, 0.6), (0.0, 0.2)])
def test_a_rule_weight_is_clamped_to_zero_one(weight: float, expected: float) -> None:
    assert combined_score(0.2, [hit(weight)]) == pytest.approx(expected)


def test_a_weight_above_one_with_a_certain_model_still_scores_one() -> None:
    assert combined_score(1.0, [hit(1.5), hit(2.0)]) == 1.0
    # Unclamped, two weights above one would multiply two negative "keeps" into a positive one.
    assert combined_score(0.0, [hit(1.5), hit(1.5)]) == 1.0
    assert combined_score(0.0, [hit(-0.5), hit(-0.5)]) == 0.0
    assert combined_score(2.0, [hit(-1.0)]) == 1.0


def test_the_score_is_rounded_to_six_decimals() -> None:
    assert combined_score(0.1234564, []) == 0.123456
    assert combined_score(0.1234566, []) == 0.123457


def test_a_score_exactly_on_a_band_takes_that_band() -> None:
    bands = Thresholds(review=0.4, block=0.8)
    assert decide(0.8, [], bands) == BLOCK
    assert decide(0.4, [], bands) == REVIEW
    assert decide(0.4, [hit(0.0, action=REVIEW)], bands) == REVIEW
    assert decide(0.8, [hit(0.0, action=REVIEW), hit(0.0, action="flag")], bands) == BLOCK


# ---- Velocity: the lookback and "new" ------------------------------------------------------


def test_a_transaction_exactly_90_days_old_is_history_and_one_microsecond_more_is_not() -> None:
    edge = PastTransaction(NOW - LOOKBACK, 10.0, beneficiary="B", device_id="D", country="ES")
    summary = summarize([edge], at=NOW, beneficiary="B", device_id="D", country="ES")
    assert (summary.history_count, summary.beneficiary_seen, summary.device_seen, summary.country_seen) == (
        1,
        True,
        True,
        True,
    )
    older = PastTransaction(NOW - LOOKBACK - dt.timedelta(microseconds=1), 10.0, country="ES")
    assert summarize([older], at=NOW, country="ES") == HistorySummary.empty()


def test_a_transaction_at_the_same_instant_counts_in_every_window() -> None:
    summary = summarize([PastTransaction(NOW, 12.5)], at=NOW)
    assert summary.counts == {"10m": 1, "1h": 1, "24h": 1, "30d": 1}
    assert summary.sums == {"10m": 12.5, "1h": 12.5, "24h": 12.5, "30d": 12.5}


def test_new_country_and_device_need_history_but_a_new_beneficiary_does_not() -> None:
    first = velocity(HistorySummary.empty(), amount=10.0, beneficiary="B", device_id="D", country="NG")
    assert (first.new_beneficiary, first.new_device, first.new_country) == (True, False, False)
    assert first.history_count == 0
    blank = velocity(HistorySummary.empty(), amount=10.0)
    assert (blank.new_beneficiary, blank.new_device, blank.new_country) == (False, False, False)


def test_seen_before_needs_the_same_value_not_just_a_value() -> None:
    past = PastTransaction(NOW - dt.timedelta(days=1), 10.0, beneficiary="B1", device_id="D1", country="FR")
    summary = summarize([past], at=NOW, beneficiary="B2", device_id="D2", country="ES")
    assert (summary.beneficiary_seen, summary.device_seen, summary.country_seen) == (False, False, False)
    v = velocity(summary, amount=10.0, beneficiary="B2", device_id="D2", country="ES")
    assert (v.new_beneficiary, v.new_device, v.new_country) == (True, True, True)
    # An empty value never matches an empty past value.
    blank = summarize([PastTransaction(NOW, 1.0)], at=NOW)
    assert (blank.beneficiary_seen, blank.device_seen, blank.country_seen) == (False, False, False)


def test_sums_and_the_usual_amount_are_rounded_to_cents() -> None:
    history = [PastTransaction(NOW - dt.timedelta(days=d), 0.105) for d in (1, 2, 3)]
    summary = summarize(history, at=NOW)
    assert summary.sums["30d"] == 0.32
    v = velocity(summary, amount=0.333)
    assert v.sums["30d"] == 0.65
    assert v.usual_amount == 0.11
    assert v.amount_vs_usual == round(0.333 / (0.32 / 3), 4)


# ---- Rules: reasons, evaluation, back-test counts ------------------------------------------


def test_a_reason_keeps_an_unknown_placeholder_as_written() -> None:
    assert render_reason("{amount} {not_a_field}", context(amount=12.0)) == "12 {not_a_field}"


def test_a_reason_shows_false_as_no_and_whole_floats_without_decimals() -> None:
    assert render_reason("{is_night} {amount}", context(is_night=False, amount=3.0)) == "no 3"


def test_a_fired_rule_renders_its_reason_on_the_transaction() -> None:
    rule = CompiledRule.build(RuleSpec("big", "amount > 10", reason="{amount} EUR", version=4))
    outcome = RuleSet([rule]).evaluate(context(amount=20.0))
    assert [h.as_dict() for h in outcome.hits] == [
        {"name": "big", "version": 4, "action": "flag", "weight": 0.0, "reason": "20 EUR"}
    ]


def test_a_default_reason_names_the_rule_and_is_cut_at_300_characters() -> None:
    condition = "amount > 10 or " + " or ".join(["amount > 1"] * 40)
    hit_ = CompiledRule.build(RuleSpec("long", condition)).hit(context())
    assert hit_.reason == f"Rule long matched: {condition}"[:300]
    assert len(hit_.reason) == 300


def test_a_failed_rule_does_not_stop_the_rules_after_it() -> None:
    rules = RuleSet(
        [
            CompiledRule.build(RuleSpec("a_broken", "amount / (count_10m - 1) > 5", order=1)),
            CompiledRule.build(RuleSpec("b_broken", "amount / (count_1h - 1) > 5", order=2)),
            CompiledRule.build(RuleSpec("c_fine", "amount > 1", order=3)),
        ]
    )
    outcome = rules.evaluate(context(count_10m=1, count_1h=1))
    assert [f.name for f in outcome.failures] == ["a_broken", "b_broken"]
    assert [h.name for h in outcome.hits] == ["c_fine"]


def test_rules_evaluate_in_the_decimal_context_of_the_language() -> None:
    """28 digits, whatever context the calling thread has set."""
    rule = CompiledRule.build(RuleSpec("cents", "amount + 0.01 > amount"))
    with decimal.localcontext(decimal.Context(prec=3)):
        assert [h.name for h in RuleSet([rule]).evaluate(context(amount=10000.0)).hits] == ["cents"]


def test_a_rule_set_lists_the_versions_it_ran_in_order() -> None:
    rules = RuleSet(
        [
            CompiledRule.build(RuleSpec("b", "amount > 0", version=2, order=5, version_id=12)),
            CompiledRule.build(RuleSpec("a", "is_night", version=1, order=5, version_id=11)),
        ]
    )
    assert rules.refs == [{"id": 11, "rule": "a", "version": 1}, {"id": 12, "rule": "b", "version": 2}]
    assert rules.fields == {"amount", "is_night"}
    assert len(rules) == 2


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_a_rule_weight_of_zero_or_one_is_accepted(weight: float) -> None:
    assert CompiledRule.build(RuleSpec("r", "amount > 1", weight=weight)).spec.weight == weight


@pytest.mark.parametrize("weight", [-0.01, 1.01])
def test_a_rule_weight_outside_zero_one_is_refused(weight: float) -> None:
    with pytest.raises(RuleError, match="The weight is between 0 and 1."):
        CompiledRule.build(RuleSpec("r", "amount > 1", weight=weight))


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(RuleError, match="The action must be one of flag, review, block."):
        CompiledRule.build(RuleSpec("r", "amount > 1", action="allow"))


def test_a_backtest_tally_counts_every_row_in_its_cell() -> None:
    rows = [
        (Outcome.HIT, True, False),
        (Outcome.HIT, True, True),
        (Outcome.HIT, False, False),
        (Outcome.HIT, False, True),
        (Outcome.QUIET, True, False),
        (Outcome.QUIET, True, False),
        (Outcome.QUIET, False, True),
        (Outcome.FAILED, True, True),
        (Outcome.FAILED, None, False),
        (Outcome.HIT, None, True),
        (Outcome.QUIET, None, False),
    ]
    result = backtest_tally(rows)
    assert (result.rows, result.hits, result.labelled) == (11, 5, 8)
    assert (result.true_positives, result.false_positives) == (2, 2)
    assert (result.false_negatives, result.true_negatives) == (3, 1)
    assert (result.failures, result.incomplete) == (2, 5)
    assert (result.hit_rate, result.precision, result.recall) == (5 / 11, 0.5, 0.4)


def test_an_empty_backtest_has_no_rates() -> None:
    result = backtest_tally([])
    assert (result.rows, result.hit_rate, result.precision, result.recall) == (0, None, None, None)
