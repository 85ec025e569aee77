"""Refuse to serve with several worker processes over a process-local cache.

Stock locks and idempotency keys live in the cache: with a local-memory cache each worker has its
own, so two workers could sell the same last unit or run the same `Idempotency-Key` twice. This
module is the one place that decides it, used by `manage.py check --deploy` (dashboard.E001),
`gunicorn.conf.py` and `run_server.sh` (`python -m portal.scaleout`).
"""
from __future__ import annotations

import os
import sys

# Matched against the backend's dotted path (`...backends.redis.RedisCache`, `...backends.memcached...`).
SHARED_BACKENDS = ("redis", ".memcached.")


def problem(workers: int, cache_backend: str) -> str | None:
    """The message to stop with, or None when `workers` processes can safely share `cache_backend`."""
    if workers <= 1 or any(name in cache_backend.lower() for name in SHARED_BACKENDS):
        return None
    return (f"WEB_CONCURRENCY={workers} con una caché local al proceso ({cache_backend.rsplit('.', 1)[-1]}): "
            "los bloqueos de stock y las claves de idempotencia no se compartirían entre los workers y se "
            "podría vender dos veces la misma unidad. Configure CACHE_URL=redis://... o use WEB_CONCURRENCY=1.")


def configured_problem(workers: int | None = None) -> str | None:
    """`problem` for the settings in force (environment and .env)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django
    from django.conf import settings

    django.setup()
    count = settings.WEB_CONCURRENCY if workers is None else workers
    return problem(count, settings.CACHES["default"]["BACKEND"])


def refuse_unsafe_scale_out(workers: int | None = None) -> None:
    message = configured_problem(workers)
    if message:
        print(f"No se inicia el servidor: {message}", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    refuse_unsafe_scale_out()
