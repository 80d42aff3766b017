"""Rule contexts for tests, built by the serving code itself (then adjusted field by field)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fraud.features import Locale, TransactionFacts, rule_context
from fraud.velocity import HistorySummary, velocity

PARIS = Locale.named("Europe/Paris", "FR", "EUR")
# 14:00 in Paris on a weekday.
NOON = dt.datetime(2026, 3, 10, 13, 0, tzinfo=dt.UTC)


def context(**overrides: Any) -> dict[str, Any]:
    """An ordinary 50 EUR card payment at home in the afternoon by a client with no history."""
    facts = TransactionFacts(amount=50.0, type="carte", timestamp=NOON, country="FR", channel="pos")
    base = rule_context(facts, velocity(HistorySummary.empty(), amount=50.0, country="FR"), PARIS)
    unknown = set(overrides) - set(base)
    assert not unknown, f"not rule fields: {unknown}"
    return {**base, **overrides}
