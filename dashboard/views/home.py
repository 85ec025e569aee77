"""The home page: ADMIN cards (queue, sales, stock, upstreams); a customer's latest activity."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard.services import reports
from dashboard.services.buyers import remember_buyer_id
from dashboard.services.health import readiness
from dashboard.services.prescriptions import prescriptions_list
from dashboard.services.purchases import purchases_list
from dashboard.session import login_required_dashboard
from dashboard.views.common import optional

RECENT = 5


@require_GET
@login_required_dashboard
def home(request: HttpRequest) -> HttpResponse:
    user, upstreams = request.dashboard_user, request.upstreams
    banners: list[str] = []
    context: dict[str, Any] = {"nav": "home", "banners": banners}
    # Each card is optional: an upstream outage empties that card and names the service above.
    if user.is_admin:
        pending = optional(lambda: prescriptions_list(upstreams=upstreams, caller=user, estado="pendiente",
                                                      pagesize=1), banners)
        sales = optional(lambda: reports.purchases_today_and_month(upstreams=upstreams, caller=user), banners)
        if sales:
            banners.extend(w for w in sales[2] if w not in banners)
        context.update(
            pendientes=pending.total if pending else None,
            hoy=sales[0] if sales else None,
            mes=sales[1] if sales else None,
            mes_nombre=reports.month_label(),
            stock_bajo=optional(lambda: reports.low_stock(upstreams=upstreams), banners),
            stock_minimo=reports.LOW_STOCK_MINIMUM,
            salud=readiness(),
        )
    else:
        mine = optional(lambda: purchases_list(upstreams=upstreams, caller=user, scope="me", page=1,
                                               page_size=RECENT), banners)
        if mine:
            banners.extend(w for w in mine.advertencias if w not in banners)
            remember_buyer_id(user.dni, mine.compras)
        context.update(
            compras=mine.compras if mine else None,
            compras_total=mine.total if mine else 0,
            recetas=optional(lambda: prescriptions_list(upstreams=upstreams, caller=user, pagesize=RECENT), banners),
        )
    return render(request, "dashboard/home.html", context)
