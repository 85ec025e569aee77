"""Upstream status: the ADMIN page and the header's self-refreshing light."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from dashboard.errors import SERVICE_LABELS
from dashboard.services.health import prescriptions_generation, upstream_states
from dashboard.services.prescriptions import ESTADO_ROUTE
from dashboard.services.purchase_saga.reconcile import pending_operations
from dashboard.session import admin_required, login_required_dashboard
from dashboard.views.common import wants_fragment

# Slower than this (ms) shows amber in the header light.
SLOW_MS = 1000


def _services() -> list[dict[str, Any]]:
    rows = []
    for service, probe in upstream_states().items():
        circuit = probe["circuito"]
        if probe["status"] != "up":
            light = "down"
        elif probe["latencia_ms"] > SLOW_MS or circuit["estado"] != "cerrado":
            light = "slow"
        else:
            light = "up"
        rows.append({**probe, "id": service, "nombre": SERVICE_LABELS.get(service, service), "light": light,
                     "circuito": circuit})
    return rows


@require_GET
@never_cache
@vary_on_headers("HX-Request")
@login_required_dashboard
@admin_required
def status(request: HttpRequest) -> HttpResponse:
    context = {"nav": "estado", "servicios": _services(), "operaciones_pendientes": len(pending_operations()),
               "generacion_recetas": prescriptions_generation(request.upstreams),
               "ruta_estado": ESTADO_ROUTE}
    if wants_fragment(request):
        return render(request, "dashboard/partials/status_table.html", context)
    return render(request, "dashboard/status.html", context)


@require_GET
@never_cache
@vary_on_headers("HX-Request")
@login_required_dashboard
def status_light(request: HttpRequest) -> HttpResponse:
    """Up / slow / down per upstream, for anyone signed in (no URLs or errors: those are ADMIN's)."""
    context = {"servicios": _services()}
    if wants_fragment(request):
        return render(request, "dashboard/partials/status_light.html", context)
    return render(request, "dashboard/status_light.html", context)
