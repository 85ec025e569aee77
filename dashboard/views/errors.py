"""Error pages in the dashboard's look (also the handlers for 403/404/500)."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from dashboard.errors import OrchestratorError


def html_error_response(request: HttpRequest, error: OrchestratorError) -> HttpResponse:
    context = {"status": error.status, "message": error.message, "code": error.code,
               "servicio": error.details.get("servicio")}
    if getattr(request, "htmx", False):
        # A fragment for #alerts; base.html lets htmx swap these statuses (see responseHandling).
        response = render(request, "dashboard/partials/alert.html", context, status=error.status)
        response["HX-Retarget"] = "#alerts"
        response["HX-Reswap"] = "innerHTML"
        return response
    return render(request, "errors/error.html", context, status=error.status)


def _api_or_page(request: HttpRequest, status: int, message: str, code: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": message, "details": {"code": code}}, status=status,
                            json_dumps_params={"ensure_ascii": False})
    return render(request, f"errors/{status}.html", {"status": status, "message": message}, status=status)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _api_or_page(request, 404, "Ruta no encontrada", "ruta_no_encontrada")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _api_or_page(request, 403, "Acceso denegado", "acceso_denegado")


def server_error(request: HttpRequest) -> HttpResponse:
    return _api_or_page(request, 500, "Error interno del orquestador", "error_interno")
