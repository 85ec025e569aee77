"""System checks for deployments (`manage.py check --deploy`)."""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

from portal.scaleout import problem


@register(deploy=True)
def cache_is_shared(app_configs, **kwargs):  # noqa: ARG001 - Django's check signature
    """Stock locks and idempotency keys need one cache for every worker (one worker: any cache)."""
    message = problem(settings.WEB_CONCURRENCY, settings.CACHES["default"]["BACKEND"])
    if message:
        return [Error(message, hint="Ver README, Producción.", id="dashboard.E001")]
    return []
