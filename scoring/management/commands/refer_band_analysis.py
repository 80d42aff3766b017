"""Print the refer band's effect on the default model's hold-out set (docs/scoring.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.core.management.base import BaseCommand
from sklearn.model_selection import train_test_split

from scoring.ml.band import band_cost, best_band
from scoring.ml.datasets import credit_data
from scoring.ml.train import train_binary


class Command(BaseCommand):
    help = "Cost of refer bands on the default credit model's hold-out set (trained as train_credit_model does)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--cost-refer", type=float, default=0.2)
        parser.add_argument("--max-referral-rate", type=float, default=0.15)
        parser.add_argument(
            "--apply",
            action="store_true",
            help="Set the capped band on the credit champion when it is this very model (same SHA-256).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data = credit_data()
        result = train_binary(data, seed=options["seed"], missing_rate=0.2)
        y = np.asarray(data.target, dtype=int)
        x = data.encoded()
        _, test_idx = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=options["seed"])
        y_test = y[test_idx]
        p = np.asarray(result.booster.predict(x[test_idx], num_threads=1), dtype=float)
        t = result.threshold
        cost_refer: float = options["cost_refer"]
        none = band_cost(y_test, p, t, 2.0, 2.0, cost_refer=cost_refer)  # an empty band: today's rule
        rows = [("no band", none)]
        for cap in sorted({0.05, 0.10, options["max_referral_rate"], 0.25}):
            best = best_band(y_test, p, t, max_referral_rate=cap, cost_refer=cost_refer)
            rows.append((f"best, referrals <= {cap:.0%}", best))
        rows.append(("best, no cap", best_band(y_test, p, t, cost_refer=cost_refer)))
        chosen = best_band(y_test, p, t, max_referral_rate=options["max_referral_rate"], cost_refer=cost_refer)
        self.stdout.write(f"hold-out: {len(y_test)} applicants, threshold {t}, referral cost {options['cost_refer']}")
        self.stdout.write("| band | refused | referred | approved | FN | FP | cost | per application |")
        self.stdout.write("|---|---|---|---|---|---|---|---|")
        for name, r in rows:
            band = "–" if r is none else f"{r.lower:.3f}–{r.upper:.3f}"
            self.stdout.write(
                f"| {name} {band} | {r.refused} | {r.referred} ({r.referral_rate:.1%}) | {r.approved} | "
                f"{r.false_negatives} | {r.false_positives} | {r.cost:g} | {r.cost / len(y_test):.3f} |"
            )
        cap = options["max_referral_rate"]
        self.stdout.write(f"default band (referrals <= {cap:.0%}): {chosen.lower}-{chosen.upper}")
        if options["apply"]:
            self._apply(result.model_text, chosen.lower, chosen.upper)

    def _apply(self, model_text: bytes, lower: float, upper: float) -> None:
        from django.core.management.base import CommandError

        from scoring.choices import ModelPurpose, ModelStatus
        from scoring.ml.model import sha256_hex
        from scoring.models import ModelVersion
        from scoring.services import model_version_set_refer_band

        champion = ModelVersion.objects.filter(purpose=ModelPurpose.CREDIT, status=ModelStatus.CHAMPION).first()
        if champion is None or champion.sha256 != sha256_hex(model_text):
            raise CommandError("The credit champion is not the default model trained with this seed: nothing set.")
        # user=None: the platform itself (a command), "system" in the audit trail.
        model_version_set_refer_band(model_version=champion, lower=lower, upper=upper, user=None)
        self.stdout.write(self.style.SUCCESS(f"{champion.version}: refer band {lower}-{upper}"))
