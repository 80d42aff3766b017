"""Train the fraud model on seeded synthetic transactions, pick its cost-minimising threshold, register it."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from fraud.training import describe, fraud_model_register, fraud_model_train
from scoring.choices import ModelPurpose
from scoring.training import (
    activation_requested,
    add_registration_arguments,
    registered_line,
    registration_errors,
    registration_name_check,
    registration_requester,
    training_report,
)


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
        add_registration_arguments(parser, "fraud")

    def handle(self, *args: Any, **options: Any) -> None:
        registration_name_check(options, ModelPurpose.FRAUD)
        requester = registration_requester(options)  # checked before the training
        with registration_errors():
            training = fraud_model_train(
                seed=options["seed"],
                clients=options["clients"],
                days=options["days"],
                with_labels=options["with_labels"],
                cost_fn=options["cost_fn"],
                cost_fp=options["cost_fp"],
            )
            registered = fraud_model_register(
                training, version=options["name"], activate=activation_requested(options), requested_by=requester
            )

        data, m = training.data, training.result.metrics
        extra = describe(m)
        if options["json"]:
            self.stdout.write(json.dumps({"version": registered.model_version.version, **m, **extra}, indent=2))
            return

        def pct(value: float | None) -> str:
            return "-" if value is None else f"{value:.1%}"

        report = training_report(
            data,
            m,
            positive="fraud",
            adverse="review",
            per="transaction",
            required_label="seed fields only",
            extra=f"; precision {pct(extra['precision'])}, recall {pct(extra['recall'])}",
            policies=("allow all", "review all"),
        )
        self.stdout.write(report)
        self.stdout.write(self.style.SUCCESS(registered_line(registered)))
