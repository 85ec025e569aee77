"""Readiness of the three upstreams, and their circuit breakers, for /ready and the status page."""
from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

from dashboard.clients import PrescriptionsClient, ProductsClient, Upstreams, UsersClient
from dashboard.clients.breakers import breaker_state
from dashboard.clients.prescriptions import Generation
from dashboard.concurrency import gather
from dashboard.errors import CacheUnavailable, OrchestratorError
from dashboard.sharedcache import cache_call


def _probe(client: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        client.echo()
    except OrchestratorError as exc:
        return {"status": "down", "latencia_ms": round((time.perf_counter() - started) * 1000),
                "error": exc.message, "url": client.base_url}
    return {"status": "up", "latencia_ms": round((time.perf_counter() - started) * 1000), "url": client.base_url}


def cache_probe() -> dict[str, Any]:
    """The shared cache (locks, idempotency keys): a write and a read."""
    started = time.perf_counter()
    try:
        cache_call(cache.set, "listo:sonda", 1, 5)
        ok = cache_call(cache.get, "listo:sonda") == 1
    except CacheUnavailable:
        ok = False
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return {"status": "up" if ok else "down", "backend": backend,
            "latencia_ms": round((time.perf_counter() - started) * 1000)}


def readiness() -> dict[str, Any]:
    """Each upstream's `/echo`, concurrently, and the shared cache: `ready` only when all answer."""
    clients = [UsersClient(), ProductsClient(), PrescriptionsClient()]
    *results, cache_state = gather([*(lambda c=c: _probe(c) for c in clients), cache_probe])
    servicios = {client.service: {**result, "circuito": breaker_state(client.service)["estado"]}
                 for client, result in zip(clients, results, strict=True)}
    up = all(r["status"] == "up" for r in results) and cache_state["status"] == "up"
    return {"status": "ready" if up else "degraded", "servicios": servicios, "cache": cache_state}


def upstream_states() -> dict[str, dict[str, Any]]:
    """Per upstream: its readiness probe (status, latency, url) and its whole circuit-breaker state."""
    return {service: {**probe, "circuito": breaker_state(service)}
            for service, probe in readiness()["servicios"].items()}


def prescriptions_generation(upstreams: Upstreams) -> Generation:
    """Which generation of the prescriptions service is deployed (probed now), for the status page."""
    return upstreams.prescriptions.generation(probe=True)
