"""JSON views: thin, each parses input, calls one service, and answers JSON."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from dashboard.api.json import json_response
from dashboard.api.openapi import schema as openapi_schema
from dashboard.services.health import readiness

HEALTH = {"status": "healthy", "service": "orchestrator", "message": "Backend orquestador operativo"}


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    return json_response(HEALTH)


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    report = readiness()
    # Unauthenticated: the upstreams' internal addresses stay on the ADMIN status page.
    servicios = {name: {k: v for k, v in probe.items() if k != "url"} for name, probe in report["servicios"].items()}
    return json_response({**report, "servicios": servicios}, status=200 if report["status"] == "ready" else 503)


@require_GET
def openapi(request: HttpRequest) -> JsonResponse:
    return json_response(openapi_schema())


# The API authenticates with bearer tokens, never cookies, so CSRF does not apply to it.
health = csrf_exempt(health)
ready = csrf_exempt(ready)
openapi = csrf_exempt(openapi)
