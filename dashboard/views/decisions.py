"""The decision history of prescriptions (ADMIN): filtered, paginated, exported as CSV."""
from __future__ import annotations

import csv
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from dashboard import audit
from dashboard.errors import BadRequest
from dashboard.forms import DecisionFilterForm
from dashboard.session import admin_required, login_required_dashboard
from dashboard.templatetags.dashboard_tags import lima
from dashboard.views.common import wants_fragment

PAGE_SIZE = 50


def _filters(form: DecisionFilterForm) -> audit.DecisionFilters:
    data = form.cleaned_data
    return audit.DecisionFilters(receta_id=(data.get("receta") or "").lower() or None,
                                 usuario_dni=data.get("usuario") or None, estado=data.get("estado") or None,
                                 desde=data.get("desde"), hasta=data.get("hasta"))


@require_GET
@vary_on_headers("HX-Request")
@login_required_dashboard
@admin_required
def decision_list(request: HttpRequest) -> HttpResponse:
    form = DecisionFilterForm(request.GET)
    valid = form.is_valid()
    banners: list[str] = []
    try:
        found = audit.decisions(_filters(form)) if valid else None
    except audit.HistoryUnavailable:
        found = None
        banners.append(audit.history_unavailable_error().message)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page")) if found is not None else None
    context: dict[str, Any] = {"nav": "historial", "form": form, "page": page, "fragment": wants_fragment(request),
                               "banners": banners}
    if context["fragment"]:
        return render(request, "dashboard/partials/decision_table.html", context, status=200 if valid else 422)
    return render(request, "dashboard/decision_list.html", context)


CSV_HEADER = ["fecha", "receta_id", "estado_anterior", "estado", "resultado", "usuario_dni", "usuario_nombre",
              "usuario_rol", "paciente_dni", "medico_cmp", "verificaciones_fallidas", "motivo", "origen"]


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def decision_csv_rows(found: list[dict]) -> list[list[str]]:
    rows = [CSV_HEADER]
    for entry in found:
        checks = entry.get("validaciones")
        failed = "" if not isinstance(checks, dict) else "; ".join(
            name for name, check in checks.items() if isinstance(check, dict) and not check.get("ok"))
        rows.append([_cell(v) for v in (
            lima(entry.get("fecha")), entry.get("receta_id"), entry.get("estado_anterior"), entry.get("estado"),
            entry.get("resultado"), entry.get("usuario_dni"), entry.get("usuario_nombre"), entry.get("usuario_rol"),
            entry.get("paciente_dni"), entry.get("medico_cmp"), failed, entry.get("motivo"), entry.get("origen"))])
    return rows


@require_GET
@login_required_dashboard
@admin_required
def decision_export(request: HttpRequest) -> HttpResponse:
    form = DecisionFilterForm(request.GET)
    if not form.is_valid():
        raise BadRequest(_("Revise los filtros: %(errores)s") % {
            "errores": "; ".join(str(e) for errors in form.errors.values() for e in errors)})
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="decisiones-{stamp}.csv"'
    response.write("\ufeff")
    try:
        found = audit.decisions(_filters(form))
    except audit.HistoryUnavailable as exc:
        raise audit.history_unavailable_error() from exc
    csv.writer(response).writerows(decision_csv_rows(found))
    return response
