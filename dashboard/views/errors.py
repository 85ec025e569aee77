"""Error pages in the dashboard's look (also the handlers for 403/404/500 and CSRF failures).

One rule for htmx requests (STYLE point 10): the error becomes a notice that the response retargets
to `#alerts`, and `base.html` lets htmx swap those statuses; the fragment the person was looking
at stays as it was.
"""
from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import select_template
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django_htmx.http import reswap, retarget

from dashboard.errors import SERVICE_LABELS, OrchestratorError
from dashboard.responses import error_json, is_api


def _html_error(request: HttpRequest, status: int, message: str, *, servicio: str | None = None,
                code: str = "error") -> HttpResponse:
    context = {"status": status, "message": message, "code": code, "servicio": servicio,
               "servicio_nombre": SERVICE_LABELS.get(servicio, servicio) if servicio else None,
               "request_id": getattr(request, "request_id", None)}
    if getattr(request, "htmx", False):
        level = "warning" if status in (429, 503, 504) else "error"
        response = render(request, "dashboard/partials/alert.html", {**context, "level": level}, status=status)
        response = reswap(retarget(response, "#alerts"), "innerHTML")
    else:
        try:
            template = select_template([f"errors/{status}.html", "errors/error.html"])
        except TemplateDoesNotExist:  # pragma: no cover - the templates ship with the app
            return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
        response = HttpResponse(template.render(context, request), status=status)
    # The same URL answers an alert fragment or a whole page: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


def html_error_response(request: HttpRequest, error: OrchestratorError) -> HttpResponse:
    return _html_error(request, error.status, error.message, servicio=error.details.get("servicio"), code=error.code)


def _api_or_page(request: HttpRequest, status: int, message: str, code: str) -> HttpResponse:
    if is_api(request):
        return error_json(status, message, code)
    return _html_error(request, status, message, code=code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's refusals before any view: a Host not in ALLOWED_HOSTS, other suspicious requests."""
    if isinstance(exception, DisallowedHost):
        message, code = _("El host de la solicitud no está permitido"), "host_no_permitido"
    else:
        message, code = _("Solicitud inválida"), "solicitud_invalida"
    if is_api(request):
        return error_json(400, message, code)
    # No page in the dashboard's look: rendering it may ask for the very Host that was refused.
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _api_or_page(request, 404, _("Ruta no encontrada"), "ruta_no_encontrada")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _api_or_page(request, 403, _("Acceso denegado"), "acceso_denegado")


def server_error(request: HttpRequest) -> HttpResponse:
    return _api_or_page(request, 500, _("Error interno del orquestador"), "error_interno")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _api_or_page(request, 403, _("La sesión del formulario expiró o no es válida. Recargue la página e "
                                        "intente de nuevo."), "csrf_invalido")
