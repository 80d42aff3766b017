from django.apps import AppConfig


class ScoringConfig(AppConfig):
    """Clients, credit applications, credit decisions, the model registry and /score."""

    name = "scoring"
    verbose_name = "Credit scoring"

    def ready(self) -> None:
        from scoring import receivers  # noqa: F401  (reload models when the registry changes)
