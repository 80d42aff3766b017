from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """API call log, metrics, health, drift reports and dashboards."""

    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from monitoring import receivers  # noqa: F401  (connects signal receivers)
