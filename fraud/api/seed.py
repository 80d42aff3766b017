"""Seed-compatible answers of ``POST /fraude`` at the root path.

The FastAPI service this platform grew from answered ``{"risque", "alert", "message"}``.
At the root path (where its clients call) the answer keeps the full contract and adds
those fields; ``/api/v1/fraude`` keeps the clean contract only. They are built from the
stored check alone, so a replay of the same ``transaction_id`` answers exactly what the
first call did.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from fraud.api.serializers import FraudDecisionSerializer
from fraud.choices import FraudDecisionOutcome
from fraud.models import FraudCheck

_SEVERITY = {"flag": 0, "review": 1, "block": 2}


def seed_fraude_fields(check: FraudCheck, alert_id: int | None) -> dict[str, Any]:
    """``risque`` (= ``fraud_score``), ``alert`` (an alert was opened) and ``message``."""
    return {"risque": check.fraud_score, "alert": alert_id is not None, "message": fraude_message(check, alert_id)}


def fraude_message(check: FraudCheck, alert_id: int | None) -> str:
    """The decision, the score against its threshold, and the main reason, in one sentence."""
    score, thresholds = check.fraud_score, check.thresholds or {}
    opened = ", alert opened" if alert_id is not None else ""
    if check.decision == FraudDecisionOutcome.BLOCK:
        verdict = f"Blocked{opened}: fraud score {score:.3g} (block from {thresholds.get('block', 0):.3g})"
    elif check.decision == FraudDecisionOutcome.REVIEW:
        verdict = f"Sent to review{opened}: fraud score {score:.3g} (review from {thresholds.get('review', 0):.3g})"
    else:
        verdict = f"Allowed: fraud score {score:.3g} is below the review threshold of {thresholds.get('review', 0):.3g}"
    rules = check.triggered_rules or []
    if rules:
        main = max(rules, key=lambda r: (_SEVERITY.get(r.get("action", "flag"), 0), r.get("weight", 0)))
        reason = str(main.get("reason") or main.get("name")).strip()
        label = "rule noted" if check.decision == FraudDecisionOutcome.ALLOW else "main reason"
        return f"{verdict}; {label}: {reason}" + ("" if reason.endswith((".", "!", "?")) else ".")
    if check.model_score is not None and check.decision != FraudDecisionOutcome.ALLOW:
        return f"{verdict}; main reason: the model's probability of fraud ({check.model_score:.3g})."
    return f"{verdict}; no rule fired."


class SeedFraudDecisionSerializer(FraudDecisionSerializer):
    """The answer of ``POST /fraude`` at the root path: the contract plus the seed's fields."""

    risque = serializers.FloatField(help_text="Seed clients' name for fraud_score (root path only).")
    alert = serializers.BooleanField(help_text="True when a fraud alert was opened (review, block; root path only).")
    message = serializers.CharField(
        help_text="One sentence: the decision, the score against its threshold, the main reason (root path only)."
    )
