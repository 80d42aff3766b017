"""Seed-compatible answers of ``POST /score`` at the root path.

The FastAPI service this platform grew from answered ``{"score", "decision", "message"}``;
its clients read ``score`` and show ``message``. At the root path (where they call) the
answer keeps the full contract and adds those two fields; ``/api/v1/score`` keeps the clean
contract only. Both are built from the stored decision alone, so a replay (Idempotency-Key)
answers exactly what the first call did.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from scoring.api.serializers import DecisionSerializer
from scoring.choices import CreditDecisionOutcome
from scoring.models import Decision


def seed_score_fields(decision: Decision) -> dict[str, Any]:
    """``score`` (= ``probability_default``) and ``message``, one sentence a person can read."""
    return {"score": decision.probability_default, "message": score_message(decision)}


def score_message(decision: Decision) -> str:
    """The decision, the probability against the threshold, and the main reason."""
    p, threshold = decision.probability_default, decision.threshold_used
    if decision.decision == CreditDecisionOutcome.REFER:
        verdict = f"Referred to an underwriter: probability of default {_pct(p)} (threshold {_pct(threshold)})"
    elif decision.decision == CreditDecisionOutcome.REFUSE:
        verdict = f"Refused: probability of default {_pct(p)} is at or above the threshold of {_pct(threshold)}"
    else:
        verdict = f"Approved: probability of default {_pct(p)} is below the threshold of {_pct(threshold)}"
    top = decision.reasons[0] if decision.reasons else None
    if top is None or top.get("contribution", 0) <= 0:
        return f"{verdict}; no input raised the risk."
    label = "main reason" if decision.decision != CreditDecisionOutcome.APPROVE else "the input that raised it most"
    return f"{verdict}; {label}: {top.get('label') or top.get('feature')} ({_value(top.get('value'))})."


def _pct(probability: float) -> str:
    return f"{probability * 100:.1f}%"


def _value(value: Any) -> str:
    if value is None:
        return "not given"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


class SeedDecisionSerializer(DecisionSerializer):
    """The answer of ``POST /score`` at the root path: the contract plus the seed's fields."""

    score = serializers.FloatField(help_text="Seed clients' name for probability_default (root path only).")
    message = serializers.CharField(
        help_text="One sentence: the decision, the probability against the threshold, the main reason (root only)."
    )

    class Meta(DecisionSerializer.Meta):
        fields = [*DecisionSerializer.Meta.fields, "score", "message"]
