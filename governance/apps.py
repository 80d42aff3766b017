from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Model governance: observed outcomes, performance on matured labels, replay, fairness, promotion."""

    name = "governance"
    verbose_name = "Model governance"
