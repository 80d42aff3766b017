"""What monitoring records: one row per API call."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


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
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

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
