"""What monitoring records: one row per API call, one drift report per model purpose and day."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from monitoring.choices import DriftStatus


class ApiCall(models.Model):
    """One API call: endpoint, outcome, latency, model version and a pseudonymous caller.

    No request body is stored here: inputs live in the decision records, which the
    privacy app knows how to erase.
    """

    request_id = models.CharField(max_length=64, db_index=True)
    method = models.CharField(max_length=10)
    endpoint = models.CharField(max_length=200, help_text="Route pattern, not the raw path.")
    status_code = models.PositiveSmallIntegerField()
    latency_ms = models.FloatField()
    model_version = models.CharField(max_length=60, blank=True)
    caller = models.CharField(max_length=100, blank=True)
    # When the call was answered (set by the middleware; the batch is written up to a second later).
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        verbose_name = "API call"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status_code__gte=100, status_code__lte=599), name="apicall_status_range"
            ),
            models.CheckConstraint(condition=Q(latency_ms__gte=0), name="apicall_latency_not_negative"),
        ]
        indexes = [models.Index(fields=["endpoint", "-created_at"], name="apicall_endpoint_idx")]

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint} {self.status_code}"


class DriftReport(models.Model):
    """The nightly data-drift report of one model purpose for one day (UTC).

    It compares a sample of the day's inputs and scores of the champion with the reference
    sample stored with that champion at training. Only aggregates are kept: per-feature
    statistics here, binned distributions in the HTML (``DriftReportHtml``); never a row
    or an identifier, so erasing a person never has to touch a report. Running it again
    for the same day replaces it.
    """

    purpose = models.CharField(max_length=10, help_text="credit or fraud (the model registry's purposes).")
    day = models.DateField(help_text="The day of decisions compared (UTC).")
    model_version = models.ForeignKey(
        "scoring.ModelVersion",
        on_delete=models.PROTECT,
        related_name="drift_reports",
        help_text="The version that made most of the day's decisions (the champion, unless one was promoted since).",
    )
    status = models.CharField(max_length=12, choices=DriftStatus.choices)
    drift_share = models.FloatField(null=True, blank=True, help_text="Share of tested features that drifted (0-1).")
    drifted_features = models.PositiveSmallIntegerField(default=0)
    tested_features = models.PositiveSmallIntegerField(default=0)
    alert_threshold = models.FloatField(help_text="Share of drifted features that raises the alert.")
    alert = models.BooleanField(default=False, help_text="The share reached the threshold.")
    prediction_drift = models.BooleanField(null=True, blank=True, help_text="The scores' distribution drifted.")
    prediction_drift_score = models.FloatField(null=True, blank=True)
    rows_day = models.PositiveIntegerField(default=0, help_text="Decisions of the champion that day (all of them).")
    rows_compared = models.PositiveIntegerField(default=0, help_text="Decisions in the sample compared.")
    rows_reference = models.PositiveIntegerField(default=0)
    summary = models.JSONField(
        default=dict,
        blank=True,
        help_text="{features: {name: {method, threshold, score, drifted, tested, missing shares}}, "
        "prediction: {...}, day: {decisions, mean_score, ...}}: aggregates only.",
    )
    duration_ms = models.FloatField(default=0)
    notification = models.CharField(
        max_length=200, blank=True, help_text="What became of the alert webhook (empty: none sent)."
    )
    notification_pending = models.BooleanField(
        default=False, help_text="The alert webhook is owed: its task, or the reconciler, sends it."
    )
    notification_due_at = models.DateTimeField(
        null=True, blank=True, help_text="When its next attempt is due; empty while owed: the broker did not take it."
    )
    notification_attempts = models.PositiveSmallIntegerField(default=0, help_text="Webhook attempts made.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day", "purpose"]
        constraints = [
            models.UniqueConstraint(fields=["purpose", "day"], name="driftreport_one_per_purpose_day"),
            models.CheckConstraint(
                condition=Q(drift_share__isnull=True) | Q(drift_share__gte=0, drift_share__lte=1),
                name="driftreport_share_range",
            ),
            models.CheckConstraint(condition=Q(status__in=DriftStatus.values), name="driftreport_status_valid"),
        ]
        indexes = [
            models.Index(fields=["purpose", "-day"], name="driftreport_history_idx"),
            models.Index(
                fields=["notification_due_at"],
                condition=Q(notification_pending=True),
                name="driftreport_alert_owed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} drift {self.day}: {self.get_status_display()}"


class DriftReportHtml(models.Model):
    """The Evidently HTML of a report, gzip-compressed (about 1.2 MB; its own table, so
    listing reports never reads it). Kept ``DRIFT_REPORT_HTML_RETENTION_DAYS``."""

    report = models.OneToOneField(DriftReport, on_delete=models.CASCADE, related_name="html")
    content = models.BinaryField(help_text="gzip of the self-contained HTML report.")
    size = models.PositiveIntegerField(default=0, help_text="Uncompressed size in bytes.")

    class Meta:
        verbose_name = "drift report HTML"

    def __str__(self) -> str:
        return f"HTML of {self.report if self.report_id is not None else 'no report'}"
