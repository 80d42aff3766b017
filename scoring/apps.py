from django.apps import AppConfig


class ScoringConfig(AppConfig):
    """Clients, credit applications, credit decisions, the model registry and /score."""

    name = "scoring"
    verbose_name = "Credit scoring"
