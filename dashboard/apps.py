from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Botica orquestador"

    def ready(self) -> None:
        from dashboard import checks, tracing  # noqa: F401 - checks registers the system checks

        tracing.configure()  # OpenTelemetry export, only when OTEL_EXPORTER_OTLP_ENDPOINT is set
