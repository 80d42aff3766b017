"""Celery tasks of model governance."""

from __future__ import annotations

from datetime import date

from celery import shared_task


@shared_task
def performance_report_monthly(day: str | None = None) -> dict[str, int]:
    """The monthly job (django-celery-beat, editable in the admin): every credit version's
    performance on matured labels as of ``day`` (default today)."""
    from governance.performance import performance_reports_compute

    reports = performance_reports_compute(as_of=date.fromisoformat(day) if day else None)
    return {"reports": len(reports), "sufficient": sum(r.sufficient for r in reports)}
