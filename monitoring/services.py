"""Writes of the monitoring domain: the drift report and its alert."""

from __future__ import annotations

import gzip
import json
import logging
import time
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from creditplatform.outbox import enqueue_each, requeue_lost
from creditplatform.webhooks import WebhookRetry
from monitoring.choices import DriftStatus
from monitoring.models import DriftReport, DriftReportHtml
from monitoring.selectors import drift_day_model_version, drift_day_sample

logger = logging.getLogger(__name__)

SCORE_COLUMN = "score"


class NoChampion(LookupError):
    """No champion model for this purpose: there is nothing to compare against."""


class DayInTheFuture(ValueError):
    """A report on a day that has not happened: it would stand as the newest report (hiding a
    stopped nightly job from the staleness alert) with nothing in it."""


def _champion(purpose: str) -> Any:
    from scoring.choices import ModelStatus
    from scoring.models import ModelVersion

    champion = (
        ModelVersion.objects.select_related("artifact_file")
        .filter(purpose=purpose, status=ModelStatus.CHAMPION)
        .first()
    )
    if champion is None:
        raise NoChampion(f"no champion {purpose} model: nothing to compare the day's decisions against")
    return champion


def _day_model(purpose: str, day: date) -> Any:
    """The version whose decisions the day's report compares: the one that made most of them.

    A champion promoted since (before the nightly run, or before a day is run again) did
    not decide that day: its reference says nothing about those decisions. A day without
    any decision is reported against the champion (*too few decisions*).
    """
    from scoring.models import ModelVersion

    version_id = drift_day_model_version(purpose=purpose, day=day)
    if version_id is None:
        return _champion(purpose)
    return ModelVersion.objects.select_related("artifact_file").get(pk=version_id)


def _kinds(feature_schema: list[dict[str, Any]]) -> dict[str, str]:
    from monitoring.drift import CATEGORICAL, NUMERICAL

    kinds = {f["name"]: CATEGORICAL if f["type"] == "categorical" else NUMERICAL for f in feature_schema}
    kinds[SCORE_COLUMN] = NUMERICAL
    return kinds


def _reference_figures(reference: Any, threshold: float) -> dict[str, Any]:
    scores = reference[SCORE_COLUMN].dropna()
    return {
        "rows": len(reference),
        "mean_score": round(float(scores.mean()), 6) if len(scores) else None,
        "adverse_share": round(float((scores >= threshold).mean()), 6) if len(scores) else None,
    }


def drift_report_generate(*, purpose: str, day: date, sample_size: int | None = None) -> DriftReport:
    """Compare the day's inputs and scores with the training reference of the model that made them
    (the version that made most of the day's decisions: the champion of that day); store the report.

    Heavy work (the sample, Evidently) runs outside any transaction; the report and its
    HTML are then written in one. A report already stored for the purpose and day is
    replaced. At or above ``DRIFT_ALERT_SHARE`` the alert is raised once the report is
    committed (log line, and the webhook when configured, in a task of its own: a webhook
    failure never fails the report).
    """
    from monitoring.drift import drift_compare, frame_from_rows

    today = timezone.now().date()
    if day > today:
        raise DayInTheFuture(f"{day.isoformat()} has not happened yet (today is {today.isoformat()}, UTC)")
    started = time.perf_counter()
    served = _day_model(purpose, day)
    reference_data = served.artifact_file.reference_data or {}
    if not reference_data.get("rows"):
        raise NoChampion(f"the model {served.version} has no reference sample (retrain it to get one)")
    kinds = _kinds(served.feature_schema)
    size = sample_size or settings.DRIFT_SAMPLE_SIZE
    sample = drift_day_sample(purpose=purpose, model_version=served, day=day, size=size)
    reference = frame_from_rows(reference_data["rows"], reference_data["columns"], kinds)
    threshold = settings.DRIFT_ALERT_SHARE
    summary: dict[str, Any] = {
        "day": {
            "decisions": sample.rows_day,
            "mean_score": None if sample.mean_score is None else round(sample.mean_score, 6),
            "adverse_share": None if sample.adverse_share is None else round(sample.adverse_share, 6),
        },
        "reference": _reference_figures(reference, served.threshold),
        "model": {"version": served.version, "threshold": served.threshold},
        "sample_size": size,
        "min_rows": settings.DRIFT_MIN_ROWS,
    }
    fields: dict[str, Any] = {
        "model_version": served,
        "alert_threshold": threshold,
        "rows_day": sample.rows_day,
        "rows_compared": len(sample.features),
        "rows_reference": len(reference),
        "drift_share": None,
        "drifted_features": 0,
        "tested_features": 0,
        "alert": False,
        "prediction_drift": None,
        "prediction_drift_score": None,
        "notification": "",
        "notification_attempts": 0,
    }
    html = ""
    if len(sample.features) < settings.DRIFT_MIN_ROWS:
        fields["status"] = DriftStatus.INSUFFICIENT
    else:
        rows = [[features.get(name) for name in kinds if name != SCORE_COLUMN] for features in sample.features]
        for row, score in zip(rows, sample.scores, strict=True):
            row.append(score)
        current = frame_from_rows(rows, list(kinds), kinds)
        comparison = drift_compare(
            reference=reference, current=current, kinds=kinds, min_values=settings.DRIFT_MIN_ROWS
        )
        html = comparison.html
        features = {name: c for name, c in comparison.columns.items() if name != SCORE_COLUMN}
        tested = [c for c in features.values() if c.tested]
        drifted = [c for c in tested if c.drifted]
        prediction = comparison.columns[SCORE_COLUMN]
        share = len(drifted) / len(tested) if tested else None
        summary["features"] = {name: c.as_dict() for name, c in features.items()}
        summary["prediction"] = prediction.as_dict()
        fields.update(
            drift_share=share,
            drifted_features=len(drifted),
            tested_features=len(tested),
            alert=share is not None and share >= threshold,
            prediction_drift=prediction.drifted if prediction.tested else None,
            prediction_drift_score=prediction.score,
        )
        fields["status"] = DriftStatus.DRIFT if fields["alert"] else DriftStatus.OK
    owed = bool(fields["alert"] and settings.DRIFT_WEBHOOK_URL)
    fields.update(notification_pending=owed, notification_due_at=timezone.now() if owed else None)
    fields["summary"] = summary
    fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    compressed = gzip.compress(html.encode(), compresslevel=6) if html else b""

    with transaction.atomic():
        report, _ = DriftReport.objects.update_or_create(purpose=purpose, day=day, defaults=fields)
        DriftReportHtml.objects.filter(report=report).delete()
        if compressed:
            DriftReportHtml.objects.create(report=report, content=compressed, size=len(html.encode()))
        cutoff = timezone.now().date() - timedelta(days=settings.DRIFT_REPORT_HTML_RETENTION_DAYS)
        DriftReportHtml.objects.filter(report__day__lt=cutoff).delete()
        if report.alert:
            transaction.on_commit(lambda: drift_alert_raise(report=report))
    logger.info(
        "drift report stored",
        extra={
            "purpose": purpose,
            "day": day.isoformat(),
            "status": report.status,
            "drift_share": report.drift_share,
            "rows_day": report.rows_day,
            "rows_compared": report.rows_compared,
            "duration_ms": report.duration_ms,
        },
    )
    return report


def drift_alert_raise(*, report: DriftReport) -> None:
    """The alert of a drifted day: a log line now, the webhook (if owed) in its own task.

    A broker that refuses the task fails nothing (the report is committed): the alert waits,
    owed, for ``drift_alerts_reconcile``.
    """
    drifted = sorted(name for name, f in report.summary.get("features", {}).items() if f.get("drifted"))
    logger.warning(
        "drift alert: %s features drifted on %s (%s of %s, threshold %s)",
        report.purpose,
        report.day.isoformat(),
        f"{report.drift_share:.0%}",
        report.tested_features,
        f"{report.alert_threshold:.0%}",
        extra={
            "event": "drift_alert",
            "purpose": report.purpose,
            "day": report.day.isoformat(),
            "drift_share": report.drift_share,
            "drifted_features": drifted,
            "model_version": report.model_version.version,
        },
    )
    if report.notification_pending:
        _send([report.pk])


def _send(report_ids: list[int]) -> None:
    """One webhook task per report; those the broker refuses are left for the reconciler."""
    from monitoring.tasks import drift_alert_notify

    enqueue_each(
        report_ids,
        send=drift_alert_notify.delay,
        refused=lambda ids: DriftReport.objects.filter(pk__in=ids, notification_pending=True).update(
            notification_due_at=None
        ),
        logger=logger,
        what="drift alerts",
        count_key="drift_alerts",
    )


def drift_alerts_reconcile(*, now: datetime | None = None) -> int:
    """Send again the owed alert webhooks nobody will send: refused by the broker, or long overdue.

    Run every minute by beat. An alert waiting for its retry's countdown is left alone until it
    is ``DRIFT_WEBHOOK_REQUEUE_AFTER_SECONDS`` late (its message lost, its worker killed). The
    attempts already made count: a re-sent alert has only the retries it had left.
    """
    now = now or timezone.now()
    ids = requeue_lost(
        DriftReport.objects.filter(notification_pending=True),
        due_field="notification_due_at",
        now=now,
        overdue=now - timedelta(seconds=settings.DRIFT_WEBHOOK_REQUEUE_AFTER_SECONDS),
        send=_send,
    )
    if ids:
        logger.warning("drift alerts re-sent by the reconciler", extra={"drift_alerts": len(ids)})
    return len(ids)


def drift_alert_payload(report: DriftReport) -> dict[str, Any]:
    return {
        "event": "drift_alert",
        "purpose": report.purpose,
        "day": report.day.isoformat(),
        "model_version": report.model_version.version,
        "drift_share": report.drift_share,
        "threshold": report.alert_threshold,
        "drifted_features": sorted(name for name, f in report.summary.get("features", {}).items() if f.get("drifted")),
        "tested_features": report.tested_features,
        "prediction_drift": report.prediction_drift,
        "report_id": report.pk,
    }


def drift_alert_attempt(*, report_id: int) -> DriftReport | None:
    """One attempt to POST the report's alert to ``DRIFT_WEBHOOK_URL``, HMAC-signed; what happened is
    written on the report (``notification``).

    Raises ``WebhookRetry`` on a failure worth retrying (connection, timeout, 5xx) while retries
    are left (at most ``DRIFT_WEBHOOK_MAX_RETRIES`` after the first attempt); the last failure is
    recorded. The report is locked while it is attempted: a duplicated message (redelivered, or
    sent again by the reconciler) that finds it being attempted, or no longer owed, does nothing.
    """
    from creditplatform.webhooks import WebhookError, webhook_post

    retry: WebhookRetry | None = None
    with transaction.atomic():
        report = (
            DriftReport.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("model_version")
            .filter(pk=report_id)
            .first()
        )
        if report is None or not report.notification_pending:
            return report  # being attempted by another message, replaced, or already done
        report.notification_attempts += 1
        report.notification_pending = False
        if not settings.DRIFT_WEBHOOK_URL:
            report.notification = "not sent: DRIFT_WEBHOOK_URL is no longer set"
        else:
            try:
                outcome = webhook_post(
                    url=settings.DRIFT_WEBHOOK_URL,
                    secret=settings.DRIFT_WEBHOOK_SECRET,
                    payload=drift_alert_payload(report),
                    timeout=settings.DRIFT_WEBHOOK_TIMEOUT,
                )
            except WebhookError as exc:
                outcome = str(exc)
                if report.notification_attempts <= settings.DRIFT_WEBHOOK_MAX_RETRIES:
                    retry = WebhookRetry(outcome, countdown=30.0 * 2 ** (report.notification_attempts - 1))
                    report.notification_pending = True
                    report.notification_due_at = timezone.now() + timedelta(seconds=retry.countdown)
                else:
                    logger.warning("drift alert webhook failed", extra={"report": report.pk, "outcome": outcome})
            report.notification = outcome[:200]
        report.save(
            update_fields=["notification", "notification_pending", "notification_due_at", "notification_attempts"]
        )
    if retry is not None:
        raise retry
    return report


# --- The schedule (django-celery-beat's periodic tasks) -------------------------------------------
# Turning the nightly drift report off stops a model's monitoring; moving it or adding a run of
# another day changes what is monitored. Each change made in the admin is an audit event, as the
# other governance changes are (the admin's own log is editable and not chained).


def _schedule_details(task: Any, **extra: Any) -> dict[str, Any]:
    when = task.interval or task.crontab or task.solar or task.clocked
    try:
        kwargs = json.loads(task.kwargs or "{}")
    except ValueError:
        kwargs = task.kwargs  # a row saved before the checks: recorded as it is
    return {
        "name": task.name,
        "task": task.task,
        "enabled": task.enabled,
        "schedule": str(when) if when is not None else "",
        "kwargs": kwargs,
        **extra,
    }


def periodic_task_save(*, user: Any, task: Any, created: bool, changed: list[str]) -> Any:
    """Save a periodic task the admin's form checked (``monitoring.schedules``); audited
    (``schedule.added`` or ``schedule.changed``, with the fields changed: the row's own, not the
    form's helpers such as its task selector)."""
    columns = {f.name for f in task._meta.concrete_fields}
    changed = [name for name in changed if name in columns]
    with transaction.atomic():
        task.save()
        audit_record(
            actor=user,
            action="schedule.added" if created else "schedule.changed",
            target=task,
            details=_schedule_details(task, changed=sorted(changed)),
        )
    return task


def periodic_task_delete(*, user: Any, task: Any) -> None:
    """Delete a periodic task (one admins own: the admin refuses the platform's); audited."""
    with transaction.atomic():
        audit_record(actor=user, action="schedule.deleted", target=task, details=_schedule_details(task))
        task.delete()


def periodic_tasks_set_enabled(*, user: Any, tasks: Any, enabled: bool | None) -> int:
    """Turn periodic tasks on or off (``enabled`` None: each the other way); one audit event per
    task that changes (``schedule.enabled``, ``schedule.disabled``). Returns how many changed."""
    changed = 0
    with transaction.atomic():
        for task in tasks.select_for_update(of=("self",)):
            target = (not task.enabled) if enabled is None else enabled
            if task.enabled == target:
                continue
            task.enabled = target
            fields = ["enabled"]
            if not target:
                task.last_run_at = None  # as django-celery-beat's own action: a fresh start when enabled again
                fields.append("last_run_at")
            task.save(update_fields=fields)
            audit_record(
                actor=user,
                action="schedule.enabled" if target else "schedule.disabled",
                target=task,
                details=_schedule_details(task),
            )
            changed += 1
    return changed


def periodic_tasks_run_recorded(*, user: Any, tasks: Any) -> None:
    """The admin's *Run selected tasks*: one ``schedule.run`` event per task, before it is sent."""
    with transaction.atomic():
        for task in tasks:
            audit_record(actor=user, action="schedule.run", target=task, details=_schedule_details(task))


def _timing_details(row: Any, **extra: Any) -> dict[str, Any]:
    return {
        "kind": row._meta.model_name,
        "schedule": str(row),
        "tasks": sorted(row.periodictask_set.values_list("name", flat=True)) if row.pk else [],
        **extra,
    }


def schedule_row_save(*, user: Any, row: Any, created: bool, changed: list[str]) -> Any:
    """Save an interval, crontab, solar or clocked row (the time of the tasks that run on it);
    audited (``schedule.timing_added`` or ``schedule.timing_changed``, naming those tasks)."""
    columns = {f.name for f in row._meta.concrete_fields}
    with transaction.atomic():
        row.save()
        audit_record(
            actor=user,
            action="schedule.timing_added" if created else "schedule.timing_changed",
            target=row,
            details=_timing_details(row, changed=sorted(name for name in changed if name in columns)),
        )
    return row


def schedule_row_delete(*, user: Any, row: Any) -> None:
    """Delete a schedule row, and with it (on_delete=CASCADE) the tasks that run on it; audited,
    naming them."""
    with transaction.atomic():
        audit_record(actor=user, action="schedule.timing_deleted", target=row, details=_timing_details(row))
        row.delete()
