"""``python manage.py drift_report [--date D] [--purpose P]``: the nightly drift report, by hand."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from monitoring.services import DayInTheFuture, NoChampion, drift_report_generate


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--date: {value!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = "Compare a day's decisions with the champion model's training reference and store the drift report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=_day, help="The day (UTC) to report on; default yesterday.")
        parser.add_argument(
            "--purpose", choices=["credit", "fraud"], action="append", help="Model purpose (default: every champion)."
        )
        parser.add_argument("--sample-size", type=int, help="Decisions compared at most (default DRIFT_SAMPLE_SIZE).")

    def handle(self, *args: Any, **options: Any) -> None:
        from scoring.choices import ModelStatus
        from scoring.models import ModelVersion

        day = options["date"] or timezone.now().date() - timedelta(days=1)
        purposes = options["purpose"] or sorted(
            ModelVersion.objects.filter(status=ModelStatus.CHAMPION).values_list("purpose", flat=True)
        )
        if not purposes:
            raise CommandError("no champion model: train one first (python manage.py train_credit_model)")
        if options["sample_size"] is not None and options["sample_size"] < 1:
            raise CommandError("--sample-size must be at least 1")
        for purpose in purposes:
            try:
                report = drift_report_generate(purpose=purpose, day=day, sample_size=options["sample_size"])
            except (NoChampion, DayInTheFuture) as exc:
                raise CommandError(str(exc)) from exc
            share = "-" if report.drift_share is None else f"{report.drift_share:.0%}"
            prediction = {True: "drifted", False: "stable", None: "not tested"}[report.prediction_drift]
            self.stdout.write(
                f"{purpose} {day}: {report.get_status_display()}; drifted features {report.drifted_features}/"
                f"{report.tested_features} ({share}, alert at {report.alert_threshold:.0%}); predictions {prediction}; "
                f"{report.rows_compared} of {report.rows_day} decisions compared with {report.rows_reference} "
                f"reference rows in {report.duration_ms / 1000:.1f} s (report #{report.pk})"
            )
            if report.alert:
                self.stdout.write(self.style.WARNING(f"ALERT: {purpose} inputs drifted on {day}"))
