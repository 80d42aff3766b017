from django.apps import AppConfig


class FraudConfig(AppConfig):
    """Transactions, fraud rules, fraud checks and alerts, /fraude."""

    name = "fraud"
    verbose_name = "Fraud"

    def ready(self) -> None:
        from fraud import receivers  # noqa: F401  (configuration cache invalidation)
