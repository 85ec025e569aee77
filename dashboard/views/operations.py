"""ADMIN: purchases left open in the purchase journal ("Operaciones pendientes")."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dashboard.services.purchase_saga.reconcile import pending_operations
from dashboard.session import admin_required, login_required_dashboard


@require_GET
@never_cache
@login_required_dashboard
@admin_required
def operations(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/operations.html", {"nav": "operaciones", "operaciones": pending_operations()})
