"""The features of a transaction: one definition for rules, the model, training and back-tests.

No Django here. ``rule_context`` turns a transaction and its velocity into a flat dict of
plain values (numbers, booleans, short strings); it is what the rules evaluate, what the
fraud check stores as its input snapshot (so a back-test replays exactly what a rule saw),
and what ``model_values`` turns into the model's inputs. ``train_fraud_model`` builds its
training rows through the very same functions, so serving and training cannot drift apart.

The snapshot holds no personal data: the beneficiary and the device are reduced to
"present" and "new for this client".
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from fraud.velocity import WINDOWS, Velocity
from scoring.ml.schema import CATEGORICAL, INTEGER, NUMERIC, Feature, FeatureSchema

# ISO 18245 merchant category codes, grouped. The risky groups are where stolen cards and
# taken-over accounts cash out (gambling, quasi-cash and crypto, money transfer, digital
# goods, jewellery); every other code is "other".
MCC_GROUPS: dict[str, frozenset[str]] = {
    "gambling": frozenset({"7995", "7800", "7801", "7802"}),
    "quasi_cash": frozenset({"6051", "6540", "6012"}),
    "money_transfer": frozenset({"4829", "6536", "6537", "6538"}),
    "digital_goods": frozenset({"5815", "5816", "5817", "5818"}),
    "jewelry": frozenset({"5944", "5094"}),
    "electronics": frozenset({"5732", "5734", "5045"}),
    "travel": frozenset({"4511", "4722", "7011", "4111"}),
    "grocery": frozenset({"5411", "5499", "5422"}),
    "fuel": frozenset({"5541", "5542"}),
    "restaurants": frozenset({"5812", "5813", "5814"}),
    "cash": frozenset({"6010", "6011"}),
}
RISKY_MCC_GROUPS = frozenset({"gambling", "quasi_cash", "money_transfer", "digital_goods", "jewelry"})
MCC_GROUP_NAMES = (*MCC_GROUPS, "other")
_MCC_TO_GROUP = {code: group for group, codes in MCC_GROUPS.items() for code in codes}

# Night is 00:00-05:59 local time.
NIGHT_HOURS = range(0, 6)

# The canonical types (``fraud.choices.TransactionType``; a test keeps the two equal).
TRANSACTION_TYPES = ("virement", "carte", "prelevement", "retrait", "cheque", "depot", "paiement")
CHANNELS = ("web", "mobile", "branch", "atm", "pos", "api")


@dataclass(frozen=True)
class Locale:
    """Where the bank is: what "foreign" and "night" mean (``FRAUD_HOME_COUNTRY`` etc.)."""

    time_zone: dt.tzinfo
    home_country: str = "FR"
    home_currency: str = "EUR"

    @classmethod
    def named(cls, time_zone: str, home_country: str, home_currency: str) -> Locale:
        return cls(ZoneInfo(time_zone), home_country, home_currency)


@dataclass(frozen=True)
class TransactionFacts:
    """The transaction as the caller described it (validated)."""

    amount: float
    type: str
    timestamp: dt.datetime
    currency: str = "EUR"
    country: str = ""
    channel: str = ""
    beneficiary: str = ""
    device_id: str = ""
    merchant_category: str = ""
    historique_impaye: int | None = None  # the client's past payment incidents, when the caller sends them


def mcc_group(code: str) -> str | None:
    if not code:
        return None
    return _MCC_TO_GROUP.get(code, "other")


def rule_context(facts: TransactionFacts, velocity: Velocity, locale: Locale) -> dict[str, Any]:
    """Every field a rule may use, with plain JSON values (see ``fraud.rules.FIELDS``)."""
    local = facts.timestamp.astimezone(locale.time_zone)
    group = mcc_group(facts.merchant_category)
    context: dict[str, Any] = {
        "amount": round(float(facts.amount), 2),
        "type": facts.type,
        "currency": facts.currency,
        "country": facts.country,
        "channel": facts.channel,
        "merchant_category": facts.merchant_category,
        "mcc_group": group or "",
        "mcc_risky": group in RISKY_MCC_GROUPS,
        "hour": local.hour,
        "weekday": local.weekday(),
        "is_night": local.hour in NIGHT_HOURS,
        "is_foreign": bool(facts.country) and facts.country != locale.home_country,
        "is_foreign_currency": facts.currency != locale.home_currency,
        "has_beneficiary": bool(facts.beneficiary),
        "new_beneficiary": velocity.new_beneficiary,
        "new_device": velocity.new_device,
        "new_country": velocity.new_country,
        "history_count": velocity.history_count,
        "usual_amount": velocity.usual_amount or 0.0,
        "amount_vs_usual": velocity.amount_vs_usual or 0.0,
        "has_usual_amount": velocity.usual_amount is not None,
        "historique_impaye": facts.historique_impaye or 0,
    }
    for name in WINDOWS:
        context[f"count_{name}"] = velocity.counts[name]
        context[f"sum_{name}"] = velocity.sums[name]
    return context


# The model's inputs, in column order. Booleans are 0/1 integers; an unknown usual amount
# is a missing value (NaN), which LightGBM routes down its learned default branch.
# ``required`` marks what is known for every transaction, even one sent with the seed's four
# fields only; the rest depends on what the caller sends or on the client's history.
MODEL_FEATURES: tuple[Feature, ...] = (
    Feature("amount", NUMERIC, "Amount", min=0, required=True),
    Feature("type", CATEGORICAL, "Transaction type", categories=TRANSACTION_TYPES, required=True),
    Feature("channel", CATEGORICAL, "Channel", categories=CHANNELS),
    Feature("mcc_group", CATEGORICAL, "Merchant category group", categories=MCC_GROUP_NAMES),
    Feature("hour", INTEGER, "Local hour", min=0, max=23, required=True),
    Feature("is_night", INTEGER, "At night (00-06 local)", min=0, max=1, required=True),
    Feature("is_foreign", INTEGER, "Abroad", min=0, max=1),
    Feature("is_foreign_currency", INTEGER, "Foreign currency", min=0, max=1),
    Feature("has_beneficiary", INTEGER, "Has a beneficiary", min=0, max=1),
    Feature("new_beneficiary", INTEGER, "Beneficiary new for the client", min=0, max=1),
    Feature("new_device", INTEGER, "Device new for the client", min=0, max=1),
    Feature("new_country", INTEGER, "Country new for the client", min=0, max=1),
    *(Feature(f"count_{w}", INTEGER, f"Transactions in {w}", min=0, required=True) for w in WINDOWS),
    *(Feature(f"sum_{w}", NUMERIC, f"Amount in {w}", min=0, required=True) for w in WINDOWS),
    Feature("usual_amount", NUMERIC, "Usual amount (30-day mean)", min=0),
    Feature("amount_vs_usual", NUMERIC, "Amount / usual amount", min=0),
    Feature("history_count", INTEGER, "Previous transactions (90 days)", min=0, required=True),
)
MODEL_SCHEMA = FeatureSchema(MODEL_FEATURES)


def model_values(context: Mapping[str, Any]) -> dict[str, Any]:
    """The model's inputs from a rule context (missing or unknown values left out = NaN)."""
    values: dict[str, Any] = {}
    for feature in MODEL_FEATURES:
        value = context.get(feature.name)
        if feature.name in ("usual_amount", "amount_vs_usual") and not context.get("has_usual_amount"):
            continue
        if value is None or value == "":
            continue
        values[feature.name] = int(value) if isinstance(value, bool) else value
    return values


def model_row(schema: FeatureSchema, values: Mapping[str, Any]) -> np.ndarray:
    """One float64 row in ``schema``'s column order, whatever model is serving.

    The serving model's schema decides: features it does not know are ignored, features this
    code does not compute stay NaN, and a category the model never saw is a missing value
    rather than an error, so a model trained on another version keeps serving.
    """
    row = np.full(len(schema), np.nan)
    for i, feature in enumerate(schema.features):
        value = values.get(feature.name)
        if value is None:
            continue
        if feature.type == CATEGORICAL:
            if value in feature.categories:
                row[i] = feature.categories.index(value)
        elif isinstance(value, int | float) and math.isfinite(value):
            row[i] = float(value)
    return row
