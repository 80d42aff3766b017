"""Training data for the fraud model, built with the serving code (no Django).

Every generated transaction goes through exactly what ``transaction_screen`` does: the
client's previous transactions are summarised (``velocity.summarize``, the in-memory twin
of the velocity query), turned into velocity features, then into the rule context and the
model's inputs (``fraud.features``). Training and serving therefore share one definition of
every feature.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from fraud.features import MODEL_SCHEMA, Locale, model_values, rule_context
from fraud.ml.generator import TransactionGenerator
from fraud.velocity import LOOKBACK, PastTransaction, summarize, velocity
from scoring.ml.datasets import TrainingData


def generated_contexts(generator: TransactionGenerator, locale: Locale) -> Iterable[tuple[dict[str, Any], int, str]]:
    """(rule context, label, scenario) of every generated transaction, client by client."""
    for rows in generator.generate():
        history: list[PastTransaction] = []
        for row in rows:
            facts = row.facts
            since = facts.timestamp - LOOKBACK
            summary = summarize(
                (p for p in history if p.timestamp >= since),
                at=facts.timestamp,
                beneficiary=facts.beneficiary,
                device_id=facts.device_id,
                country=facts.country,
            )
            features = velocity(
                summary,
                amount=facts.amount,
                beneficiary=facts.beneficiary,
                device_id=facts.device_id,
                country=facts.country,
            )
            yield rule_context(facts, features, locale), int(row.is_fraud), row.scenario
            history.append(
                PastTransaction(facts.timestamp, facts.amount, facts.beneficiary, facts.device_id, facts.country)
            )


def training_data(
    *,
    seed: int = 7,
    clients: int = 1200,
    days: int = 45,
    locale: Locale,
    labelled: Iterable[tuple[Mapping[str, Any], bool]] = (),
) -> TrainingData:
    """The generated transactions (plus the analysts' resolved alerts, if given) as training data."""
    generator = TransactionGenerator(seed=seed, clients=clients, days=days)
    records: list[dict[str, Any]] = []
    target: list[int] = []
    scenarios: Counter[str] = Counter()
    for context, label, scenario in generated_contexts(generator, locale):
        records.append(model_values(context))
        target.append(label)
        scenarios[scenario] += 1
    stored = 0
    for resolved, is_fraud in labelled:
        records.append(model_values(resolved))
        target.append(int(is_fraud))
        stored += 1
    frame = pd.DataFrame.from_records(records, columns=MODEL_SCHEMA.names)
    for feature in MODEL_SCHEMA:
        if feature.type == "categorical":
            frame[feature.name] = frame[feature.name].astype(object).where(frame[feature.name].notna(), None)
    dataset = f"synthetic transactions (fraud.ml.generator, seed {seed}, {clients} clients, {days} days)"
    notes = [
        "scenarios: " + ", ".join(f"{name} {count}" for name, count in sorted(scenarios.items())),
    ]
    if stored:
        dataset += f" + {stored} resolved alerts"
        notes.append(f"{stored} labelled transactions from resolved fraud alerts")
    return TrainingData(
        frame=frame, target=np.asarray(target, dtype=int), schema=MODEL_SCHEMA, dataset=dataset, notes=notes
    )
