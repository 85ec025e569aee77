"""Prescriptions: the queue by state, one prescription's live review, and changing its state."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from dashboard.clients.prescriptions import ESTADO_ROUTE
from dashboard.errors import (
    BadRequest,
    OperationNotSupported,
    OrchestratorError,
    OutcomeUncertain,
    PrescriptionInvalid,
    PrescriptionRefused,
    UpstreamFailed,
)
from dashboard.forms import PrescriptionFilterForm, PrescriptionStateForm
from dashboard.services.prescription_allowance import prescription_dispensing
from dashboard.services.prescriptions import (
    PrescriptionReview,
    prescription_review,
    prescriptions_list,
    validity_check,
)
from dashboard.services.prescriptions import (
    prescription_set_state as set_state,
)
from dashboard.session import admin_required, login_required_dashboard
from dashboard.types import Prescription
from dashboard.views.common import optional, wants_fragment

PAGE_SIZE = 20
QUEUE_SIZE = 10


def prescription_rows(items: tuple[Prescription, ...] | list[Prescription]) -> list[dict[str, Any]]:
    """What a queue row shows: the prescription and its validity today (age, expired)."""
    return [{"receta": item, "vigencia": validity_check(item.fecha_emision)} for item in items]


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isascii() and raw.isdigit() and 0 < int(raw) <= 10**6 else 1


@require_GET
@vary_on_headers("HX-Request")
@login_required_dashboard
def prescription_list(request: HttpRequest) -> HttpResponse:
    form = PrescriptionFilterForm(request.GET)
    banners: list[str] = []
    listing = None
    valid = form.is_valid()
    estado = (form.cleaned_data.get("estado") if valid else None) or "pendiente"
    if valid:
        listing = optional(lambda: prescriptions_list(
            upstreams=request.upstreams, caller=request.dashboard_user,
            estado=None if estado == "todas" else estado, dni=form.cleaned_data.get("dni") or None,
            cmp=form.cleaned_data.get("cmp") or None, page=_page_number(request.GET.get("page")),
            pagesize=PAGE_SIZE), banners)
    pages = -(-listing.total // max(listing.pagesize, 1)) if listing else 0
    context = {
        "nav": "recetas", "form": form, "estado": estado, "tabs": form.fields["estado"].choices,
        "listing": listing, "rows": prescription_rows(listing.items) if listing else [], "pages": pages,
        "banners": banners, "fragment": wants_fragment(request),
    }
    status = 200 if valid else 422
    if context["fragment"]:
        return render(request, "dashboard/partials/prescription_queue.html", context, status=status)
    return render(request, "dashboard/prescription_list.html", context)


def _review(request: HttpRequest, receta_id: str) -> PrescriptionReview:
    # The page shows what it can: a service that fails marks its check as not verified.
    return prescription_review(upstreams=request.upstreams, caller=request.dashboard_user, receta_id=receta_id,
                               tolerate_outages=True)


def _review_context(request: HttpRequest, review: PrescriptionReview | None,
                    receta: Prescription | None = None) -> dict[str, Any]:
    receta = review.receta if review else receta
    generation = None
    if request.dashboard_user.is_admin:
        # Learnt from the service's answers, or by a harmless probe once per PRESCRIPTIONS_GENERATION_SECONDS.
        generation = request.upstreams.prescriptions.generation(probe=True)
    return {"nav": "recetas", "review": review, "receta": receta,
            "row": prescription_rows([receta])[0] if receta else None, "state_form": PrescriptionStateForm(),
            "sin_ruta_estado": generation is not None and generation.estado_route is False,
            "ruta_estado": ESTADO_ROUTE}


def _review_after_write(request: HttpRequest, receta_id: str, answer: dict | None) -> dict[str, Any]:
    """The refreshed checklist after a write; when re-reading fails, what the write's answer said."""
    try:
        return _review_context(request, _review(request, receta_id))
    except OrchestratorError as exc:
        receta = None
        if answer and isinstance(answer.get("receta"), dict):
            try:
                receta = Prescription.from_wire(answer["receta"])
            except ValueError:
                receta = None
        return {**_review_context(request, None, receta), "recarga_fallida": exc.message}


@require_GET
@vary_on_headers("HX-Request")
@login_required_dashboard
def prescription_detail(request: HttpRequest, receta_id: str) -> HttpResponse:
    """The prescription with its live checklist (a dry run); for htmx, the checklist alone."""
    context = _review_context(request, _review(request, receta_id))
    context["dispensado"] = prescription_dispensing(upstreams=request.upstreams, caller=request.dashboard_user,
                                                    receta=context["receta"])
    if wants_fragment(request):
        return render(request, "dashboard/partials/prescription_review.html", context)
    banners: list[str] = list(context["review"].advertencias)
    queue = None
    if request.dashboard_user.is_admin:
        queue = optional(lambda: prescriptions_list(upstreams=request.upstreams, caller=request.dashboard_user,
                                                    estado="pendiente", pagesize=QUEUE_SIZE), banners)
    context.update(banners=banners, queue=prescription_rows(queue.items) if queue else None,
                   queue_total=queue.total if queue else 0)
    return render(request, "dashboard/prescription_detail.html", context)


@require_POST
@login_required_dashboard
@admin_required
def prescription_set_state(request: HttpRequest, receta_id: str) -> HttpResponse:
    """Validar / Rechazar / Volver a pendiente.

    Plain POST: redirect to the prescription with a message. htmx: the refreshed checklist, plus
    the state badge and the queue row out of band; a failed validation answers 422 with the
    checklist showing what failed (the state is unchanged).
    """
    form = PrescriptionStateForm(request.POST)
    if not form.is_valid():
        raise BadRequest(_("Acción inválida: %(errores)s") % {
            "errores": "; ".join(str(e) for errors in form.errors.values() for e in errors)})
    estado, motivo = form.cleaned_data["estado"], form.cleaned_data.get("motivo") or None
    status = 200
    answer = None
    try:
        answer = set_state(upstreams=request.upstreams, caller=request.dashboard_user, receta_id=receta_id,
                           estado=estado, motivo=motivo)
    except PrescriptionInvalid as exc:
        status = 422
        failed = [check["mensaje"] for check in exc.details.get("validaciones", {}).values() if not check["ok"]]
        outcome = {"level": "error", "mensaje": exc.message, "fallidas": failed}
    except (PrescriptionRefused, OperationNotSupported) as exc:
        # Known not written: the service refused (its reason is in the message) or has no route for it.
        status = 422
        outcome = {"level": "error", "mensaje": exc.message, "fallidas": [], "sin_cambios": True}
    except UpstreamFailed as exc:
        status = 502
        outcome = {"level": "error", "mensaje": exc.message, "detalle": exc.details.get("detalle"), "fallidas": []}
    except OutcomeUncertain as exc:
        status = 504
        outcome = {"level": "warning", "mensaje": exc.message, "fallidas": [], "incierto": True}
    else:
        advertencias = answer.get("advertencias", [])
        outcome = {"level": "warning" if advertencias else "success", "mensaje": _success_message(estado, motivo),
                   "fallidas": [], "advertencias": advertencias, "cambios": answer.get("cambios", {})}
    if not wants_fragment(request):
        extra = outcome["fallidas"] + outcome.get("advertencias", []) + (
            [outcome["detalle"]] if outcome.get("detalle") else [])
        text = outcome["mensaje"] + ("" if not extra else ": " + "; ".join(extra))
        level = {"success": messages.SUCCESS, "warning": messages.WARNING}.get(outcome["level"], messages.ERROR)
        messages.add_message(request, level, text)
        return HttpResponseRedirect(reverse("dashboard:prescription_detail", args=[receta_id]))
    context = {**_review_after_write(request, receta_id, answer), "outcome": outcome, "oob": True}
    return render(request, "dashboard/partials/prescription_review.html", context, status=status)


def _success_message(estado: str, motivo: str | None) -> str:
    if estado == "VALIDADA":
        return _("Receta validada.")
    if estado == "RECHAZADA":
        return (_("Receta rechazada. Motivo: %(motivo)s") % {"motivo": motivo}) if motivo else _("Receta rechazada.")
    return _("La receta volvió a pendiente.")
