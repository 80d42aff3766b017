"""Celery entry points of monitoring: each takes ids or ISO strings and calls one service."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

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
    """One drift report (idempotent: the purpose and day's report is replaced).

    A report the service cannot make (no champion any more, a model without a reference sample, a
    day to come) is a warning naming why, not a failure: retrying changes nothing, and run
    in-process (no broker) the exception would stop the nightly loop before the other purposes.
    """
    from monitoring.services import DayInTheFuture, NoChampion
    from monitoring.services import drift_report_generate as generate

    try:
        report = generate(purpose=purpose, day=date.fromisoformat(day))
    except (NoChampion, DayInTheFuture) as exc:
        logger.warning("drift report not made: %s", exc, extra={"purpose": purpose, "day": day, "reason": str(exc)})
        return {"report": None, "status": "not made", "reason": str(exc)}
    return {"report": report.pk, "status": report.status, "drift_share": report.drift_share}


CATCH_UP_DAYS = 7  # the nightly job also reports the days before yesterday that have none


@shared_task
def drift_report_nightly(day: str | None = None) -> list[str]:
    """The nightly job (django-celery-beat, editable in the admin): yesterday's report for
    every purpose that has a champion model, each in its own task; and the report of each of
    the ``CATCH_UP_DAYS`` days before that had decisions but has no report (its worker was
    killed, its task lost), so a lost report is made the next night rather than never."""
    from monitoring.selectors import drift_days_unreported
    from scoring.choices import ModelStatus
    from scoring.models import ModelVersion

    target = date.fromisoformat(day) if day else timezone.now().date() - timedelta(days=1)
    purposes = sorted(ModelVersion.objects.filter(status=ModelStatus.CHAMPION).values_list("purpose", flat=True))
    for purpose in purposes:
        late = drift_days_unreported(
            purpose=purpose, start=target - timedelta(days=CATCH_UP_DAYS), end=target - timedelta(days=1)
        )
        if late:
            logger.warning(
                "drift reports missing: made now", extra={"purpose": purpose, "days": [d.isoformat() for d in late]}
            )
        for missing in late:
            drift_report_generate.delay(purpose, missing.isoformat())
        drift_report_generate.delay(purpose, target.isoformat())
    return purposes


@shared_task(bind=True, ignore_result=True, acks_late=True)
def drift_alert_notify(self, report_id: int) -> None:
    """POST a drift alert to the webhook; retried with back-off, then the failure is noted on the report.

    On a worker each retry is a new message (30 s, doubling); the report counts its attempts (a
    message sent again by the reconciler has only the retries left). Run in-process (eager:
    tests, no broker), the retries follow at once.
    """
    from creditplatform.outbox import attempt_as_task
    from monitoring.services import drift_alert_attempt

    attempt_as_task(self, lambda: drift_alert_attempt(report_id=report_id))


@shared_task(ignore_result=True)
def drift_alerts_reconcile() -> None:
    """Every minute (beat): drift alert webhooks the broker refused, or whose message was lost."""
    from monitoring.services import drift_alerts_reconcile as reconcile

    reconcile()
