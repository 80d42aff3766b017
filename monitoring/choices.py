"""Choices of the monitoring domain."""

from django.db import models


class DriftStatus(models.TextChoices):
    OK = "ok", "No drift"
    DRIFT = "drift", "Drift"
    INSUFFICIENT = "insufficient", "Too few decisions"
