"""Print the refer band's effect on the default model's hold-out set (docs/scoring.md).

``--apply`` sets the capped band on the credit champion. While four eyes are on
(``PROMOTION_FOUR_EYES``) the champion's band changes only through a promotion request: the
service refuses ``--apply`` alone, and ``--apply --requested-by ADMIN`` files the request under
that admin's name for a second admin to approve (docs/governance.md#four-eyes-promotion).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError
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
        parser.add_argument(
            "--requested-by",
            metavar="ADMIN",
            help="With --apply: file the band as a promotion request by this admin (username), which a second "
            "admin approves; needed while four eyes are on (PROMOTION_FOUR_EYES).",
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
            self._apply(result.model_text, chosen.lower, chosen.upper, options.get("requested_by"), cap)
        elif options.get("requested_by"):
            raise CommandError("--requested-by goes with --apply.")

    def _apply(self, model_text: bytes, lower: float, upper: float, requested_by: str | None, cap: float) -> None:
        from django.contrib.auth import get_user_model
        from django.core.exceptions import PermissionDenied, ValidationError

        from governance.models import PromotionStatus
        from governance.promotion import promotion_request_create
        from scoring.choices import ModelPurpose, ModelStatus
        from scoring.ml.model import sha256_hex
        from scoring.models import ModelVersion
        from scoring.services import model_version_set_refer_band

        champion = ModelVersion.objects.filter(purpose=ModelPurpose.CREDIT, status=ModelStatus.CHAMPION).first()
        if champion is None or champion.sha256 != sha256_hex(model_text):
            raise CommandError("The credit champion is not the default model trained with this seed: nothing set.")
        if requested_by:
            admin = get_user_model().objects.filter(username=requested_by, is_active=True).first()
            if admin is None:
                raise CommandError("--requested-by names an active admin (a username).")
            try:
                request = promotion_request_create(
                    user=admin,
                    model_version=champion,
                    refer_band=(lower, upper),
                    reason=f"refer_band_analysis --apply: the least costly band with referrals <= {cap:.0%}.",
                )
            except (ValidationError, PermissionDenied) as exc:
                messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
                raise CommandError(" ".join(messages) + " Nothing set.") from exc
            if request.status == PromotionStatus.PENDING:
                self.stdout.write(
                    f"Promotion request #{request.pk} filed by {admin.get_username()}: {request.target_label}. "
                    "A second admin approves it under Model governance, Promotion requests; nothing set yet."
                )
                return
        else:
            try:
                # user=None: the platform itself (a command), "system" in the audit trail.
                model_version_set_refer_band(model_version=champion, lower=lower, upper=upper, user=None)
            except PermissionDenied as exc:  # four eyes: the service's rule
                raise CommandError(
                    f"{exc} Nothing set: pass --requested-by ADMIN to file the request from here."
                ) from exc
        self.stdout.write(self.style.SUCCESS(f"{champion.version}: refer band {lower}-{upper}"))
