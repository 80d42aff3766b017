"""Celery tasks of model governance."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task


@shared_task
def performance_report_monthly(day: str | None = None) -> dict[str, int]:
    """The monthly job (django-celery-beat, editable in the admin): every credit version's
    performance on matured labels, and its fairness per group, as of ``day``.

    By default as of yesterday, the last whole day: run on the first of a month, the month just
    ended (a report as of today would count today's first hours, and say less than its day).
    """
    from django.utils import timezone

    from governance.fairness import fairness_reports_compute
    from governance.performance import performance_reports_compute

    as_of = date.fromisoformat(day) if day else timezone.localdate() - timedelta(days=1)
    reports = performance_reports_compute(as_of=as_of)
    fairness = fairness_reports_compute(as_of=as_of)
    return {
        "reports": len(reports),
        "sufficient": sum(r.sufficient for r in reports),
        "fairness_flagged": sum(r.flagged for r in fairness),
    }
