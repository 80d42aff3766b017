"""Compute the performance reports now: ``python manage.py performance_report [--as-of D]``."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.performance import ReportDayInTheFuture, performance_reports_compute


def _fmt(value: Any, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


class Command(BaseCommand):
    help = (
        "Each credit model version's figures on decisions whose outcome is known (AUC, Gini, KS, Brier, "
        "calibration, approval rate, business cost, PSI), stored as performance reports (the monthly job does the "
        "same). Too few matured outcomes: counts only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", help="Day of the report, YYYY-MM-DD (default today).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            as_of = date.fromisoformat(options["as_of"]) if options["as_of"] else None
        except ValueError as exc:
            raise CommandError("--as-of: expected YYYY-MM-DD") from exc
        try:
            reports = performance_reports_compute(as_of=as_of)
        except ReportDayInTheFuture as exc:
            raise CommandError(f"--as-of: {exc}") from exc
        if not reports:
            self.stdout.write("No credit decisions yet: nothing to report.")
        for r in reports:
            label = r.model_version.version + (f" (shadow of {r.champion.version})" if r.champion_id else "")
            counts = f"{r.matured} matured, {r.immature} immature, {r.defaults} defaults"
            if not r.sufficient:
                self.stdout.write(f"{label}: {counts}: too few matured outcomes for figures.")
                continue
            m = r.metrics
            self.stdout.write(
                f"{label}: {counts}: AUC {_fmt(m['auc'])}, Gini {_fmt(m['gini'])}, KS {_fmt(m['ks'])}, "
                f"Brier {_fmt(m['brier'])}, approval {_fmt(m['approval_rate'], 3)}, "
                f"cost/decision {_fmt(m['business_cost_per_decision'])}, PSI {_fmt(m['psi'])}"
            )
            if r.champion_metrics:
                c = r.champion_metrics
                self.stdout.write(
                    f"  champion {r.champion.version} on the same decisions: AUC {_fmt(c['auc'])}, "
                    f"Brier {_fmt(c['brier'])}, cost/decision {_fmt(c['business_cost_per_decision'])}"
                )
