"""Prescriptions: the queue by state, one prescription's live review, and changing its state."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from dashboard import audit
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
from dashboard.services.people import People, doctors_named, people_for, users_named
from dashboard.services.prescription_allowance import prescription_dispensing
from dashboard.services.prescriptions import (
    ESTADO_ROUTE,
    PrescriptionReview,
    prescription_review,
    prescriptions_list,
    validity_check,
)
from dashboard.services.prescriptions import (
    prescription_set_state as set_state,
)
from dashboard.services.queue import PendingQueue, pending_new, pending_queue, state_counts
from dashboard.session import admin_required, login_required_dashboard
from dashboard.types import Prescription
from dashboard.views.common import optional, wants_fragment

PAGE_SIZE = 20
QUEUE_SIZE = 10
# People found by a name search that the field lists before asking for more letters.
NAME_CHOICES_SHOWN = 5


def prescription_rows(items: tuple[Prescription, ...] | list[Prescription],
                      people: People | None = None) -> list[dict[str, Any]]:
    """What a queue row shows: the prescription, its validity today, and the people's names when known."""
    people = people or People()
    return [{"receta": item, "vigencia": validity_check(item.fecha_emision),
             "paciente": people.patient(item.paciente_dni), "medico": people.doctor(item.medico_cmp)}
            for item in items]


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isascii() and raw.isdigit() and 0 < int(raw) <= 10**6 else 1


def _resolve_people(form: PrescriptionFilterForm, people: People) -> tuple[str | None, str | None]:
    """The DNI and CMP to filter by: typed as such, or the one person whose name matches (else a field error)."""
    dni, cmp = form.cleaned_data.get("dni") or None, form.cleaned_data.get("cmp") or None
    if dni and not form.is_dni(dni):
        dni = _one_match(form, "dni", [(u.dni, u.full_name) for u in users_named(people, dni)],
                         known=bool(people.users))
    if cmp and not form.is_cmp(cmp):
        cmp = _one_match(form, "cmp", [(d.cmp, d.nombre) for d in doctors_named(people, cmp)],
                         known=bool(people.doctors))
    return dni, cmp


def _one_match(form: PrescriptionFilterForm, name: str, matches: list[tuple[str, str]], *, known: bool) -> str | None:
    if not known:
        form.add_error(name, _("No se pudo buscar por nombre ahora (servicio no disponible): escriba el código."))
    elif not matches:
        form.add_error(name, _("Nadie con ese nombre."))
    elif len(matches) > 1:
        shown = ", ".join(f"{label} ({code})" for code, label in matches[:NAME_CHOICES_SHOWN])
        form.add_error(name, ngettext("%(n)d persona coincide: %(lista)s. Precise el nombre o escriba el código.",
                                      "%(n)d personas coinciden: %(lista)s. Precise el nombre o escriba el código.",
                                      len(matches)) % {"n": len(matches), "lista": shown})
    else:
        return matches[0][0]
    return None


@require_GET
@vary_on_headers("HX-Request")
@login_required_dashboard
def prescription_list(request: HttpRequest) -> HttpResponse:
    user, upstreams = request.dashboard_user, request.upstreams
    form = PrescriptionFilterForm(request.GET)
    banners: list[str] = []
    listing = queue = counts = None
    valid = form.is_valid()
    estado = (form.cleaned_data.get("estado") if valid else None) or "pendiente"
    people = people_for(upstreams=upstreams, caller=user)
    banners.extend(w for w in people.advertencias if w not in banners)
    dni, cmp = _resolve_people(form, people) if valid else (None, None)
    valid = valid and not form.errors
    if valid:
        counts = optional(lambda: state_counts(upstreams=upstreams, caller=user, dni=dni, cmp=cmp), banners)
        number = _page_number(request.GET.get("page"))
        if estado == "pendiente":
            queue = optional(lambda: pending_queue(upstreams=upstreams, caller=user, dni=dni, cmp=cmp), banners)
            listing = queue.page(number, PAGE_SIZE) if queue else None
        else:
            listing = optional(lambda: prescriptions_list(
                upstreams=upstreams, caller=user, estado=None if estado == "todas" else estado, dni=dni, cmp=cmp,
                page=number, pagesize=PAGE_SIZE), banners)
    pages = -(-listing.total // max(listing.pagesize, 1)) if listing else 0
    context = {
        "nav": "recetas", "form": form, "estado": estado, "tabs": form.fields["estado"].choices,
        "counts": counts or {}, "listing": listing, "queue": queue,
        "rows": prescription_rows(listing.items, people) if listing else [], "pages": pages,
        "banners": banners, "fragment": wants_fragment(request), "poll_seconds": settings.QUEUE_POLL_SECONDS,
    }
    status = 200 if valid else 422
    if context["fragment"]:
        return render(request, "dashboard/partials/prescription_queue.html", context, status=status)
    return render(request, "dashboard/prescription_list.html", context)


@require_GET
@login_required_dashboard
def prescription_news(request: HttpRequest) -> HttpResponse:
    """The light poll of an open queue: how many pending prescriptions arrived since it was shown."""
    since = (request.GET.get("desde") or "")[:40]
    nuevas = optional(lambda: pending_new(upstreams=request.upstreams, caller=request.dashboard_user,
                                          since=since), [])
    return render(request, "dashboard/partials/queue_news.html",
                  {"nuevas": nuevas, "desde": since, "poll_seconds": settings.QUEUE_POLL_SECONDS})


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
    people = people_for(upstreams=request.upstreams, caller=request.dashboard_user)
    return {"nav": "recetas", "review": review, "receta": receta,
            "row": prescription_rows([receta], people)[0] if receta else None, "state_form": PrescriptionStateForm(),
            "sin_ruta_estado": generation is not None and generation.estado_route is False,
            "ruta_estado": ESTADO_ROUTE,
            "validar_bloqueos": [check["mensaje"] for check in review.validaciones().values() if not check["ok"]]
            if review else [],
            **(_history(request, receta.id) if receta else {"historial": None, "historial_ilegible": False}),
            "pdf": pdf_source(receta) if receta else None, "people": people}


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


def _history(request: HttpRequest, receta_id: str) -> dict[str, Any]:
    """The prescription's decisions for staff (None for a customer); unreadable is said, not shown as empty."""
    if not request.dashboard_user.is_admin:
        return {"historial": None, "historial_ilegible": False}
    try:
        return {"historial": audit.decisions(audit.DecisionFilters(receta_id=receta_id)), "historial_ilegible": False}
    except audit.HistoryUnavailable:
        return {"historial": [], "historial_ilegible": True}


def pdf_source(receta: Prescription) -> str | None:
    """The scanned PDF's URL when it is plain http(s) with a host: anything else is never framed."""
    url = receta.pdf_url or receta.archivo_pdf
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme in ("http", "https") and parts.hostname and not any(c in url for c in "\"'<> \\\n\r\t"):
        return url
    return None


def pdf_csp(url: str | None) -> str:
    """The page's CSP, letting exactly the PDF's origin be framed (frame-src / object-src), nothing else."""
    policy = settings.CONTENT_SECURITY_POLICY
    if not url:
        return policy
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
    directives = [d.strip() for d in policy.split(";") if d.strip()
                  and d.split()[0] not in ("frame-src", "object-src", "child-src")]
    return "; ".join([*directives, f"frame-src {origin}", f"object-src {origin}"])


def _queue_context(request: HttpRequest, current: str, banners: list[str],
                   people: People | None = None) -> dict[str, Any]:
    queue: PendingQueue | None = None
    if request.dashboard_user.is_admin:
        queue = optional(lambda: pending_queue(upstreams=request.upstreams, caller=request.dashboard_user), banners)
    if queue and people is None:
        people = people_for(upstreams=request.upstreams, caller=request.dashboard_user, doctors=False)
    return {"queue": prescription_rows(queue.items[:QUEUE_SIZE], people) if queue else None,
            "queue_total": queue.total if queue else 0, "current": current,
            "siguiente": queue.after(current) if queue else None, "poll_seconds": settings.QUEUE_POLL_SECONDS}


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
    banners: list[str] = list(dict.fromkeys([*context["review"].advertencias, *context["people"].advertencias]))
    context.update(_queue_context(request, receta_id, banners, context["people"]), banners=banners)
    response = render(request, "dashboard/prescription_detail.html", context)
    response["Content-Security-Policy"] = pdf_csp(context["pdf"])
    return response


@require_GET
@login_required_dashboard
@admin_required
def prescription_sidebar(request: HttpRequest, receta_id: str) -> HttpResponse:
    """The pending sidebar of a prescription page, refreshed by itself (poll) and after each decision."""
    return render(request, "dashboard/partials/queue_sidebar.html", _queue_context(request, receta_id, []))


@require_POST
@login_required_dashboard
@admin_required
def prescription_set_state(request: HttpRequest, receta_id: str) -> HttpResponse:
    """Validar / Rechazar / Volver a pendiente.

    Plain POST: redirect to the prescription with a message. htmx: the refreshed checklist, plus
    the state badge, the pending sidebar and the history out of band; a failed validation answers
    422 with the checklist showing what failed (the state is unchanged).
    """
    form = PrescriptionStateForm(request.POST)
    if not form.is_valid():
        raise BadRequest(_("Acción inválida: %(errores)s") % {
            "errores": "; ".join(str(e) for errors in form.errors.values() for e in errors)})
    estado, motivo = form.cleaned_data["estado"], form.cleaned_data.get("motivo") or None
    status = 200
    answer = None
    try:
        with audit.origin("panel"):
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
    context.update(_queue_context(request, receta_id, [], context["people"]))
    return render(request, "dashboard/partials/prescription_review.html", context, status=status)


def _success_message(estado: str, motivo: str | None) -> str:
    if estado == "VALIDADA":
        return _("Receta validada.")
    if estado == "RECHAZADA":
        return (_("Receta rechazada. Motivo: %(motivo)s") % {"motivo": motivo}) if motivo else _("Receta rechazada.")
    return _("La receta volvió a pendiente.")
