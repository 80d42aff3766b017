"""How a fraud decision is made from the model and the rules (no Django).

**Score.** ``fraud_score = 1 - (1 - p_model) * Π (1 - weight_i)`` over the rules that fired
(a noisy-OR). Each source is read as an independent chance that the transaction is a fraud:
one strong signal is enough to push the score up, several weak ones add up, nothing can push
it above 1, and a rule with weight 0 only informs. Without a model (none registered yet)
``p_model`` is 0 and the rules alone decide.

**Decision.** ``block`` when the score reaches the block threshold, ``review`` when it reaches
the review threshold, ``allow`` below; then the rules' actions raise it: any fired ``block``
rule blocks, any fired ``review`` rule means at least review. ``flag`` rules only add their
weight. **Risk level** is the band of the final decision: LOW (allow), MEDIUM (review),
HIGH (block).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from fraud.rules import RuleHit

ALLOW, REVIEW, BLOCK = "allow", "review", "block"
_SEVERITY = {ALLOW: 0, REVIEW: 1, BLOCK: 2}
RISK_LEVELS = {ALLOW: "LOW", REVIEW: "MEDIUM", BLOCK: "HIGH"}


@dataclass(frozen=True)
class Thresholds:
    """Score bands (``FraudSettings``): review from ``review``, block from ``block``."""

    review: float
    block: float

    def __post_init__(self) -> None:
        if not 0 < self.review <= 1 or not 0 < self.block <= 1:
            raise ValueError("thresholds are between 0 (excluded) and 1")

    def as_dict(self) -> dict[str, float]:
        return {"review": self.review, "block": self.block}


# The order of the thresholds' keys in every answer (``in_key_order``): as ``Thresholds.as_dict`` writes them.
THRESHOLD_KEYS = tuple(f.name for f in fields(Thresholds))


def combined_score(model_probability: float | None, hits: Iterable[RuleHit]) -> float:
    """The noisy-OR of the model's probability and the weights of the rules that fired."""
    keep = 1.0 - min(max(model_probability or 0.0, 0.0), 1.0)
    for hit in hits:
        keep *= 1.0 - min(max(hit.weight, 0.0), 1.0)
    return round(min(max(1.0 - keep, 0.0), 1.0), 6)


def decide(score: float, hits: Iterable[RuleHit], thresholds: Thresholds) -> str:
    """allow / review / block from the score bands, raised by the rules' actions."""
    outcome = BLOCK if score >= thresholds.block else REVIEW if score >= thresholds.review else ALLOW
    for hit in hits:
        if hit.action in (REVIEW, BLOCK) and _SEVERITY[hit.action] > _SEVERITY[outcome]:
            outcome = hit.action
    return outcome


def risk_level(decision: str) -> str:
    return RISK_LEVELS[decision]
