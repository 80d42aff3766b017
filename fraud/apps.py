from django.apps import AppConfig


class FraudConfig(AppConfig):
    """Transactions, fraud rules, fraud checks and alerts, /fraude."""

    name = "fraud"
    verbose_name = "Fraud"
