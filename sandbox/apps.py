from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """Only registers the `sandbox` management command; the sandbox itself needs no Django."""

    name = "sandbox"
    verbose_name = "Sandbox de servicios upstream"
