"""Readiness of the three upstreams."""
from __future__ import annotations

import time
from typing import Any

from dashboard.clients import PrescriptionsClient, ProductsClient, UsersClient
from dashboard.clients.breakers import breaker_state
from dashboard.concurrency import gather
from dashboard.errors import OrchestratorError


def _probe(client: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        client.echo()
    except OrchestratorError as exc:
        return {"status": "down", "latencia_ms": round((time.perf_counter() - started) * 1000),
                "error": exc.message, "url": client.base_url}
    return {"status": "up", "latencia_ms": round((time.perf_counter() - started) * 1000), "url": client.base_url}


def readiness() -> dict[str, Any]:
    """Each upstream's `/echo`, concurrently: `ready` only when all three answer."""
    clients = [UsersClient(), ProductsClient(), PrescriptionsClient()]
    results = gather([lambda c=c: _probe(c) for c in clients])
    servicios = {client.service: {**result, "circuito": breaker_state(client.service)["estado"]}
                 for client, result in zip(clients, results, strict=True)}
    status = "ready" if all(r["status"] == "up" for r in results) else "degraded"
    return {"status": status, "servicios": servicios}
