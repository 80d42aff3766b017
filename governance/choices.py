"""Choices of the governance domain."""

from django.db import models


class OutcomeSource(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin upload"
    COMMAND = "command", "import_outcomes"
