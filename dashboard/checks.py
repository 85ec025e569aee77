"""System checks for deployments (`manage.py check --deploy`)."""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from portal.scaleout import problem


@register(deploy=True)
def cache_is_shared(app_configs, **kwargs):  # noqa: ARG001 - Django's check signature
    """Stock locks and idempotency keys need one cache for every worker (one worker: any cache)."""
    message = problem(settings.WEB_CONCURRENCY, settings.CACHES["default"]["BACKEND"])
    if message:
        return [Error(message, hint="Ver README, Producción.", id="dashboard.E001")]
    return []


@register()
def metrics_allowed_ips_parse(app_configs, **kwargs):  # noqa: ARG001 - Django's check signature
    """METRICS_ALLOWED_IPS: every entry an address or a CIDR network (else /metrics would answer 500)."""
    from dashboard.metrics import allowed_networks

    try:
        allowed_networks()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="Ejemplo: METRICS_ALLOWED_IPS=10.0.0.5,10.1.0.0/16", id="dashboard.E002")]
    return []


@register()
def upstream_timezones_exist(app_configs, **kwargs):  # noqa: ARG001 - Django's check signature
    """A mistyped UPSTREAM_TIMEZONE_* would fail every purchase listing; refuse to start instead."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    errors = []
    for name in ("UPSTREAM_TIMEZONE_USUARIOS", "UPSTREAM_TIMEZONE_PRODUCTOS"):
        try:
            ZoneInfo(getattr(settings, name))
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            errors.append(Error(f"{name}={getattr(settings, name)!r} no es una zona horaria IANA conocida",
                                hint="Use p. ej. UTC o America/Lima.", id="dashboard.E003"))
    return errors
