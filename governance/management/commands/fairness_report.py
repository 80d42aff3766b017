"""Fairness per group: ``python manage.py fairness_report [--as-of D] [--holdout VERSION]``."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.fairness import fairness_holdout, fairness_reports_compute
from governance.performance import ReportDayInTheFuture
from scoring.models import ModelVersion


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


class Command(BaseCommand):
    help = (
        "Each credit version's approval rate per group of its sensitive and proxy features (age bands by default), "
        "the ratio to the most-approved group and, once outcomes exist, true- and false-positive rates; flags what "
        "exceeds the configured disparity. --holdout VERSION: the same on that version's training hold-out set."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", help="Day of the report, YYYY-MM-DD (default today).")
        parser.add_argument("--holdout", metavar="VERSION", help="A credit version trained on the default data set.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["holdout"]:
            version = ModelVersion.objects.filter(purpose="credit", version=options["holdout"]).first()
            if version is None:
                raise CommandError(f"No credit version {options['holdout']!r}.")
            try:
                reports = fairness_holdout(model_version=version)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        else:
            try:
                as_of = date.fromisoformat(options["as_of"]) if options["as_of"] else None
            except ValueError as exc:
                raise CommandError("--as-of: expected YYYY-MM-DD") from exc
            try:
                reports = fairness_reports_compute(as_of=as_of)
            except ReportDayInTheFuture as exc:
                raise CommandError(f"--as-of: {exc}") from exc
        if not reports:
            self.stdout.write("No credit decisions yet: nothing to report.")
        for report in reports:
            self.stdout.write(
                f"{report.model_version.version} by {report.feature} ({report.kind}), {report.get_basis_display()}, "
                f"{report.rows} rows:"
            )
            rates = any("tpr" in g for g in report.groups)
            header = "  group       n   approval  ratio" + ("     TPR     FPR" if rates else "")
            self.stdout.write(header)
            for g in report.groups:
                line = f"  {g['group']:<8} {g['n']:>5}   {_pct(g['approval_rate']):>7}  {_pct(g['ratio']):>5}"
                if rates:
                    line += f"  {_pct(g.get('tpr')):>6}  {_pct(g.get('fpr')):>6}"
                self.stdout.write(line + ("" if g["judged"] else "  (too few to judge)"))
            for finding in report.findings:
                self.stdout.write(f"  DISPARITY: {finding}")
            if not report.flagged:
                self.stdout.write("  No disparity above the configured limits.")
