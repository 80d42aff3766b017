"""Celery entry points of monitoring: each takes ids or ISO strings and calls one service."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from creditplatform.webhooks import WebhookError

logger = logging.getLogger(__name__)


@shared_task
def heartbeat() -> str:
    """Proves beat and the workers are alive (visible in logs and task results)."""
    now = timezone.now().isoformat()
    logger.info("heartbeat", extra={"at": now})
    return now


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3, soft_time_limit=1800, time_limit=2000
)
def drift_report_generate(purpose: str, day: str) -> dict[str, object]:
    """One drift report (idempotent: the purpose and day's report is replaced)."""
    from monitoring.services import drift_report_generate as generate

    report = generate(purpose=purpose, day=date.fromisoformat(day))
    return {"report": report.pk, "status": report.status, "drift_share": report.drift_share}


@shared_task
def drift_report_nightly(day: str | None = None) -> list[str]:
    """The nightly job (django-celery-beat, editable in the admin): yesterday's report for
    every purpose that has a champion model, each in its own task."""
    from scoring.choices import ModelStatus
    from scoring.models import ModelVersion

    target = date.fromisoformat(day) if day else timezone.now().date() - timedelta(days=1)
    purposes = sorted(ModelVersion.objects.filter(status=ModelStatus.CHAMPION).values_list("purpose", flat=True))
    for purpose in purposes:
        drift_report_generate.delay(purpose, target.isoformat())
    return purposes


@shared_task(bind=True, max_retries=3, ignore_result=True)
def drift_alert_notify(self, report_id: int) -> None:
    """POST a drift alert to the webhook; a few retries, then the failure is noted on the report."""
    from monitoring.models import DriftReport
    from monitoring.services import drift_alert_notify as notify
    from monitoring.services import drift_report_notification_record

    report = DriftReport.objects.select_related("model_version").filter(pk=report_id).first()
    if report is None:
        return  # the report was replaced meanwhile: its successor sends its own alert
    try:
        notify(report=report)
    except WebhookError as exc:
        if self.request.retries >= self.max_retries or self.request.is_eager:
            logger.warning("drift alert webhook failed", extra={"report": report_id, "outcome": str(exc)})
            drift_report_notification_record(report=report, outcome=str(exc))
            return
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc
