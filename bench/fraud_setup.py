"""The data ``make bench`` needs to drive ``/fraude``: a fraud model, N active rules, client history.

Called inside a configured Django process (after ``django.setup()``) by the lead's
``bench/run.py``::

    from bench.fraud_setup import prepare_fraud_bench
    bench = prepare_fraud_bench(rules=50, clients=5000, history_per_client=20)
    # payloads: {"transaction_id": <unique>, "montant": ..., "type": random.choice(bench["types"]),
    #            "client_id": random.choice(bench["client_ids"]), "country": random.choice(bench["countries"])}

Idempotent: a second call trains nothing, creates no rule and inserts no transaction that
is already there (rules and history have fixed names and ids). It does not time anything.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np

TEMPLATES = (
    ('amount >= {x} and type == "{t}"', "Amount {amount} for a {type}."),
    ('count_1h >= {n} and channel == "{c}"', "{count_1h} transactions in an hour on {channel}."),
    ('is_foreign and amount >= {x} and mcc_group == "{g}"', "{amount} abroad at {mcc_group}."),
    ("sum_24h >= {x} and new_beneficiary", "{sum_24h} in 24 h, new beneficiary."),
    ("hour < {h} and amount >= {x}", "{amount} at {hour}h."),
    ('amount_vs_usual >= {r} and type in ["virement", "retrait"]', "{amount_vs_usual} times the usual."),
    ("new_device and amount >= {x}", "{amount} from a new device."),
    ("count_24h >= {n} and sum_24h >= {x}", "{count_24h} transactions for {sum_24h} in 24 h."),
)
TYPES = ("carte", "virement", "prelevement", "retrait")
TYPE_MIX = (0.6, 0.2, 0.12, 0.08)
CHANNELS = ("web", "mobile", "pos", "atm", "branch", "api")
COUNTRIES = ("FR", "FR", "FR", "FR", "ES", "DE", "IT", "BE", "GB", "US", "NG")
MCCS = ("5411", "5812", "5541", "5732", "4111", "7011", "5816", "7995", "6011", "4829")
GROUPS = ("gambling", "quasi_cash", "money_transfer", "digital_goods", "jewelry", "electronics", "travel")


def _variant(i: int, rng: np.random.Generator) -> dict[str, Any]:
    condition, reason = TEMPLATES[i % len(TEMPLATES)]
    values = {
        "x": int(rng.choice((500, 1000, 2500, 5000, 8000, 15000))),
        "t": str(rng.choice(TYPES)),
        "n": int(rng.integers(4, 15)),
        "c": str(rng.choice(CHANNELS)),
        "g": str(rng.choice(GROUPS)),
        "h": int(rng.integers(2, 7)),
        "r": int(rng.integers(4, 12)),
    }
    return {
        "condition": condition.format(**values),
        "reason": reason,
        "action": "flag",
        # Light flags: one alone stays under the review threshold (0.07 with the default model).
        "weight": round(float(rng.uniform(0.01, 0.05)), 2),
        "order": 200 + i,
        "description": "Generated for the /fraude benchmark (bench/fraud_setup.py).",
    }


def _ensure_model(seed: int) -> None:
    from fraud.training import fraud_model_register, fraud_model_train
    from scoring.choices import ModelPurpose, ModelStatus
    from scoring.models import ModelVersion

    if not ModelVersion.objects.filter(purpose=ModelPurpose.FRAUD, status=ModelStatus.CHAMPION).exists():
        fraud_model_register(fraud_model_train(seed=seed), activate=ModelStatus.CHAMPION)


def _ensure_rules(count: int, seed: int) -> None:
    from fraud.models import FraudRule
    from fraud.services import fraud_rule_save

    rng = np.random.default_rng(seed)
    variants = [_variant(i, rng) for i in range(max(count, 1))]
    active = FraudRule.objects.filter(is_active=True).count()
    i = 0
    while active < count:
        name = f"bench_variant_{i + 1:03d}"
        rule = FraudRule.objects.filter(name=name).first()
        if rule is None:
            fraud_rule_save(user=None, name=name, is_active=True, note="bench set-up", **variants[i % len(variants)])
            active += 1
        elif not rule.is_active:
            fraud_rule_save(user=None, rule=rule, is_active=True, note="bench set-up")
            active += 1
        i += 1
    # Too many: switch off generated variants first (newest first), then the others by order.
    surplus = list(FraudRule.objects.filter(is_active=True).order_by("-name"))
    surplus.sort(key=lambda r: (not r.name.startswith("bench_variant_"), -r.order))
    for rule in surplus[: max(active - count, 0)]:
        fraud_rule_save(user=None, rule=rule, is_active=False, note="bench set-up")


def _ensure_history(clients: int, per_client: int, seed: int) -> list[str]:
    from django.utils import timezone

    from fraud.models import Transaction
    from scoring.models import Client

    client_ids = [f"BENCH-C{n:05d}" for n in range(clients)]
    Client.objects.bulk_create([Client(client_id=cid) for cid in client_ids], ignore_conflicts=True, batch_size=2000)
    pks = dict(Client.objects.filter(client_id__in=client_ids).values_list("client_id", "pk"))
    done = set(
        Transaction.objects.filter(transaction_id__startswith="BENCH-H").values_list("transaction_id", flat=True)
    )
    rng = np.random.default_rng(seed)
    now = timezone.now()
    rows: list[Transaction] = []
    for n, cid in enumerate(client_ids):
        usual = float(np.exp(rng.normal(3.8, 0.6)))
        beneficiaries = [f"FR76BENCH{n:05d}{b}" for b in range(3)]
        # Most of the history over 30 days, the last few in the past hour: the windows have work to do.
        ages = sorted(
            [float(rng.uniform(3600, 30 * 86400)) for _ in range(max(per_client - 3, 0))]
            + [float(rng.uniform(60, 3600)) for _ in range(min(3, per_client))],
            reverse=True,
        )
        for i, age in enumerate(ages):
            tid = f"BENCH-H{n:05d}-{i:03d}"
            if tid in done:
                continue
            type_ = str(rng.choice(TYPES, p=TYPE_MIX))
            rows.append(
                Transaction(
                    transaction_id=tid,
                    client_id=pks[cid],
                    amount=Decimal(str(round(max(1.0, float(np.exp(rng.normal(np.log(usual), 0.8)))), 2))),
                    type=type_,
                    timestamp=now - dt.timedelta(seconds=age),
                    country=str(rng.choice(COUNTRIES)),
                    channel=str(rng.choice(CHANNELS)),
                    beneficiary=beneficiaries[i % 3] if type_ == "virement" else "",
                    device_id=f"bench-dev-{n:05d}",
                    merchant_category=str(rng.choice(MCCS)) if type_ == "carte" else "",
                )
            )
    Transaction.objects.bulk_create(rows, ignore_conflicts=True, batch_size=5000)
    return client_ids


def prepare_fraud_bench(
    *, rules: int = 50, clients: int = 1000, history_per_client: int = 20, seed: int = 7
) -> dict[str, Any]:
    """Make sure there is a champion fraud model, exactly ``rules`` active rules, and history.

    Returns what a load generator needs to build valid ``/fraude`` payloads: ``client_ids``,
    ``types`` and ``countries`` (plus ``channels`` and ``merchant_categories``).
    """
    if rules < 0 or clients < 1 or history_per_client < 0:
        raise ValueError("rules >= 0, clients >= 1, history_per_client >= 0")
    _ensure_model(seed)
    _ensure_rules(rules, seed)
    client_ids = _ensure_history(clients, history_per_client, seed)
    return {
        "client_ids": client_ids,
        "types": list(TYPES),
        "countries": sorted(set(COUNTRIES)),
        "channels": list(CHANNELS),
        "merchant_categories": list(MCCS),
    }
