"""System checks for deployments (`manage.py check --deploy`)."""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

LOCAL_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(deploy=True)
def cache_is_shared(app_configs, **kwargs):  # noqa: ARG001 - Django's check signature
    """Stock locks, idempotency keys and rate limits need one cache for every worker."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend in LOCAL_CACHES:
        return [Warning(
            "La caché es local al proceso: con varios workers o servidores, los bloqueos de stock, "
            "las claves de idempotencia y los límites de solicitudes no se comparten.",
            hint="Configure CACHE_URL=redis://... (ver README, Producción).",
            id="dashboard.W001",
        )]
    return []


@register()
def metrics_allowed_ips_parse(app_configs, **kwargs):  # noqa: ARG001 - Django's check signature
    """METRICS_ALLOWED_IPS: every entry an address or a CIDR network (else /metrics would answer 500)."""
    from dashboard.metrics import allowed_networks

    try:
        allowed_networks()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="Ejemplo: METRICS_ALLOWED_IPS=10.0.0.5,10.1.0.0/16", id="dashboard.E001")]
    return []
