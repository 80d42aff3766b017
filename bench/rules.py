"""Cost of evaluating 50 active fraud rules on one transaction: compiled closures vs rule-engine.

The rules are the ones ``make bench`` serves /fraude with (the 8 default rules plus 42
generated ``bench_variant_NNN`` rules, ``bench/fraud_setup.py``); the transactions are rule
contexts built by the serving code. Both evaluators must give the same hits on every
transaction (checked first). No database, no Django: ``python bench/rules.py [--rounds N]``.
Figures are per transaction (all 50 rules), one process, on whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import decimal
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fraud_setup import _variant  # noqa: E402
from fraud.conditions import DECIMAL, engine_rule, prepare  # noqa: E402
from fraud.rules import CompiledRule, RuleSet, RuleSpec  # noqa: E402
from tests.fraud.contexts import context  # noqa: E402

DEFAULT_RULES = importlib.import_module("fraud.migrations.0003_default_rules").DEFAULT_RULES


def rules(count: int = 50, seed: int = 7) -> list[RuleSpec]:
    rng = np.random.default_rng(seed)
    specs = [RuleSpec(name, condition, action, weight) for name, condition, action, weight, *_ in DEFAULT_RULES]
    for i in range(count - len(specs)):
        variant = _variant(i, rng)
        specs.append(RuleSpec(f"bench_variant_{i + 1:03d}", variant["condition"], "flag", variant["weight"]))
    return specs


def transactions(count: int = 200, seed: int = 11) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    types = ("carte", "virement", "prelevement", "retrait")
    return [
        context(
            amount=float(round(rng.lognormal(5, 1.5), 2)),
            type=str(rng.choice(types)),
            count_10m=int(rng.integers(1, 8)),
            count_1h=int(rng.integers(1, 12)),
            count_24h=int(rng.integers(1, 30)),
            sum_24h=float(round(rng.lognormal(7, 1), 2)),
            is_night=bool(rng.random() < 0.2),
            is_foreign=bool(rng.random() < 0.2),
            new_beneficiary=bool(rng.random() < 0.3),
            new_device=bool(rng.random() < 0.1),
            amount_vs_usual=float(round(rng.lognormal(0, 1), 2)),
            hour=int(rng.integers(0, 24)),
        )
        for _ in range(count)
    ]


def measure(evaluate: Callable[[dict[str, Any]], Any], contexts: list[dict[str, Any]], rounds: int) -> list[float]:
    timings = []
    for _ in range(rounds):
        for ctx in contexts:
            started = time.perf_counter()
            evaluate(ctx)
            timings.append(time.perf_counter() - started)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    specs = rules()
    compiled = RuleSet(CompiledRule.build(spec) for spec in specs)
    reference = [(spec.name, engine_rule(spec.condition)) for spec in specs]
    ordered = [r.spec.name for r in compiled.rules]
    by_name = dict(reference)
    contexts = transactions()

    def with_rule_engine(ctx: dict[str, Any]) -> list[str]:
        return [name for name in ordered if by_name[name].matches(ctx)]

    def with_closures(ctx: dict[str, Any]) -> list[str]:
        return [hit.name for hit in compiled.evaluate(ctx).hits]

    def preparing_only(ctx: dict[str, Any]) -> Any:
        values = prepare(ctx, compiled.fields)
        with decimal.localcontext(DECIMAL):
            return values

    mismatches = sum(with_rule_engine(ctx) != with_closures(ctx) for ctx in contexts)
    hits = sum(len(with_closures(ctx)) for ctx in contexts)
    print(f"{len(specs)} rules, {len(contexts)} transactions, {hits} hits in all, {mismatches} disagreements")
    for label, evaluate in (
        ("rule-engine evaluator (before)", with_rule_engine),
        ("compiled closures (RuleSet.evaluate)", with_closures),
        ("  of which preparing the values", preparing_only),
    ):
        timings = sorted(measure(evaluate, contexts, args.rounds))
        p99 = timings[int(len(timings) * 0.99)]
        print(f"{label:40s} median {statistics.median(timings) * 1e6:7.1f} µs   p99 {p99 * 1e6:7.1f} µs")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
