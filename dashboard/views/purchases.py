"""Purchases: the filtered, sorted, paginated list; one purchase; its expandable row; the CSV export."""
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

from dashboard.errors import BadRequest
from dashboard.forms import PurchaseFilterForm
from dashboard.services import reports
from dashboard.services.buyers import remember_buyer_id
from dashboard.services.people import people_for, users_named
from dashboard.services.purchases import EnrichedPurchase, PurchaseFilters, purchase_get
from dashboard.session import login_required_dashboard
from dashboard.views.common import optional, wants_fragment


def _filters(form: PurchaseFilterForm) -> tuple[PurchaseFilters, str]:
    data = form.cleaned_data
    buyer = data.get("usuario_id") or ""
    usuario_id = int(buyer) if buyer.isdigit() and len(buyer) < 8 else None
    filters = PurchaseFilters(usuario_id=usuario_id, desde=data.get("desde"), hasta=data.get("hasta"))
    return filters, data.get("producto") or ""


def _report(request: HttpRequest, form: PurchaseFilterForm) -> reports.PurchaseReport:
    filters, producto = _filters(form)
    report = reports.purchase_report(upstreams=request.upstreams, caller=request.dashboard_user, filters=filters,
                                     producto=producto, order=form.order())
    buyer = form.cleaned_data.get("usuario_id") or ""
    if buyer and filters.usuario_id is None and request.dashboard_user.is_admin:
        # A DNI or a name: purchases only carry a number, so only buyers the orchestrator has seen can match.
        people = people_for(upstreams=request.upstreams, caller=request.dashboard_user, doctors=False,
                            usuario_ids=[p.usuario_id for p in report.compras])
        dnis = {buyer} if buyer.isdigit() else {u.dni for u in users_named(people, buyer)}
        report = reports.report_kept(report, lambda p: people.buyers.get(p.usuario_id) in dnis)
    return report


def _buyers(request: HttpRequest, compras: list[EnrichedPurchase]) -> dict[int, Any]:
    """Each listed purchase's buyer (name and DNI) when known, by purchase id."""
    caller = request.dashboard_user
    if not caller.is_admin:
        remember_buyer_id(caller.dni, compras)
    people = people_for(upstreams=request.upstreams, caller=caller, doctors=False,
                        usuario_ids=[p.usuario_id for p in compras])
    return {p.id: people.buyer(p.usuario_id) for p in compras}


@require_GET
@vary_on_headers("HX-Request")
@login_required_dashboard
def purchase_list(request: HttpRequest) -> HttpResponse:
    form = PurchaseFilterForm(request.GET)
    banners: list[str] = []
    report = None
    status = 200
    if form.is_valid():
        report = optional(lambda: _report(request, form), banners)
        if report:
            banners.extend(w for w in report.advertencias if w not in banners)
    else:
        status = 422
    page = Paginator(report.compras, reports.PAGE_SIZE).get_page(request.GET.get("page")) if report else None
    fragment = wants_fragment(request)
    context: dict[str, Any] = {"nav": "compras", "form": form, "report": report, "page": page, "banners": banners,
                               "fragment": fragment, "sin_leer": bool(report and report.advertencias),
                               "compradores": _buyers(request, list(page.object_list)) if page else {}}
    if fragment:
        # Filters and table; banners travel inside since #alerts is not part of the swap.
        return render(request, "dashboard/partials/purchase_table.html", context, status=status)
    return render(request, "dashboard/purchase_list.html", context, status=200 if status == 422 else status)


def _purchase_page_or_row(request: HttpRequest, purchase_id: int, *, expanded: bool) -> HttpResponse:
    """The purchase page, or for htmx its row in the list (expanded to its lines or collapsed)."""
    purchase = purchase_get(upstreams=request.upstreams, caller=request.dashboard_user, purchase_id=purchase_id)
    context = {"nav": "compras", "compra": purchase, "expanded": expanded, "banners": list(purchase.advertencias),
               "sin_leer": bool(purchase.advertencias), "comprador": _buyers(request, [purchase]).get(purchase.id)}
    if wants_fragment(request):
        return render(request, "dashboard/partials/purchase_row.html", context)
    return render(request, "dashboard/purchase_detail.html", context)


@require_GET
@vary_on_headers("HX-Request")
@login_required_dashboard
def purchase_detail(request: HttpRequest, purchase_id: int) -> HttpResponse:
    """The purchase page; for htmx, its row in the list expanded to its product lines."""
    return _purchase_page_or_row(request, purchase_id, expanded=True)


@require_GET
@vary_on_headers("HX-Request")
@login_required_dashboard
def purchase_row(request: HttpRequest, purchase_id: int) -> HttpResponse:
    """The purchase's row in the list, collapsed; a normal request gets the purchase page."""
    return _purchase_page_or_row(request, purchase_id, expanded=False)


@require_GET
@login_required_dashboard
def purchase_export(request: HttpRequest) -> HttpResponse:
    """The filtered set as CSV, one row per product line, in the list's order."""
    form = PurchaseFilterForm(request.GET)
    if not form.is_valid():
        raise BadRequest(_("Revise los filtros: %(errores)s") % {
            "errores": "; ".join(str(e) for errors in form.errors.values() for e in errors)})
    report = _report(request, form)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="compras-{stamp}.csv"'
    response.write("\ufeff")  # so spreadsheet programs read the accents as UTF-8
    writer = csv.writer(response)
    writer.writerows(reports.purchase_csv_rows(report.compras))
    return response
