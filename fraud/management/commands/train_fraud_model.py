"""Train the fraud model on seeded synthetic transactions, pick its cost-minimising threshold, register it."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fraud.training import describe, fraud_model_register, fraud_model_train
from scoring.choices import ModelStatus


class Command(BaseCommand):
    help = (
        "Train LightGBM on the seeded transaction generator (fraud.ml.generator; no real labelled transaction "
        "data set ships in a package), with the serving code's velocity features; add the analysts' resolved "
        "alerts with --with-labels; report hold-out AUC, precision/recall and the business cost; register the "
        "model with purpose fraud (champion if there is none)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=7, help="Generator and training seed (same seed, same model).")
        parser.add_argument("--clients", type=int, default=1200, help="Clients generated (default %(default)s).")
        parser.add_argument("--days", type=int, default=45, help="Days of history per client (default %(default)s).")
        parser.add_argument(
            "--with-labels", action="store_true", help="Also train on stored transactions whose alert was resolved."
        )
        parser.add_argument(
            "--cost-fn",
            type=float,
            default=settings.FRAUD_COST_FALSE_NEGATIVE,
            help="Cost of a fraud let through (default %(default)s).",
        )
        parser.add_argument(
            "--cost-fp",
            type=float,
            default=settings.FRAUD_COST_FALSE_POSITIVE,
            help="Cost of a legitimate payment sent to review (default %(default)s).",
        )
        parser.add_argument("--name", help="Version name (default: fraud-<sha256 prefix>).")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--activate", action="store_true", help="Make it the champion.")
        group.add_argument("--challenger", action="store_true", help="Make it the challenger.")
        parser.add_argument("--json", action="store_true", help="Print the metrics as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            training = fraud_model_train(
                seed=options["seed"],
                clients=options["clients"],
                days=options["days"],
                with_labels=options["with_labels"],
                cost_fn=options["cost_fn"],
                cost_fp=options["cost_fp"],
            )
            activate = ModelStatus.CHAMPION if options["activate"] else None
            if options["challenger"]:
                activate = ModelStatus.CHALLENGER
            registered = fraud_model_register(training, version=options["name"], activate=activate)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        data, m = training.data, training.result.metrics
        extra = describe(m)
        if options["json"]:
            self.stdout.write(json.dumps({"version": registered.model_version.version, **m, **extra}, indent=2))
            return
        cm = m["confusion_matrix"]
        self.stdout.write(f"Data set: {data.dataset}")
        for note in data.notes:
            self.stdout.write(f"  note: {note}")

        def pct(value: float | None) -> str:
            return "-" if value is None else f"{value:.1%}"

        self.stdout.write(
            f"Features ({len(data.schema)}): {', '.join(data.schema.names)}\n"
            f"Rows: {m['n_train']} train / {m['n_test']} held out; fraud rate {m['positive_rate']:.2%}; "
            f"{m['num_trees']} trees\n"
            f"Held-out AUC {m['auc']:.4f}  Gini {m['gini']:.4f}  KS {m['ks']:.4f}  "
            f"(seed fields only: AUC {m['auc_required_only']:.4f})\n"
            f"Threshold {m['threshold']:.3f} (minimises {m['cost_false_negative']:g} x FN + "
            f"{m['cost_false_positive']:g} x FP, chosen out-of-fold)\n"
            f"Confusion at threshold: TP {cm['true_positive']}  FP {cm['false_positive']}  "
            f"TN {cm['true_negative']}  FN {cm['false_negative']}  (review rate {m['refusal_rate']:.2%}; "
            f"precision {pct(extra['precision'])}, recall {pct(extra['recall'])})\n"
            f"Business cost on the hold-out set: {m['business_cost']:g} ({m['business_cost_per_application']:.3f} "
            f"per transaction); allow all {m['business_cost_accept_all']:g}, review all "
            f"{m['business_cost_refuse_all']:g}, threshold 0.5 {m['business_cost_at_0_5']:g}"
        )
        version = registered.model_version
        state = "registered" if registered.created else "already registered (same model file)"
        self.stdout.write(self.style.SUCCESS(f"Model {version.version} {state}; status {version.status}."))
