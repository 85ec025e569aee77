"""Prescriptions: the validation checks, the dry run, the state change and the queue.

The API views (`dashboard.api.prescriptions`) and the HTML dashboard call these same functions.
The prescriptions service has no auth of its own and its `estado/{id}` route trusts the caller to
have validated first: the checks here are what stands between a scanned PDF and `validada`.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from dashboard import audit
from dashboard.clients import Upstreams, prescription_id, product_id
from dashboard.clients.prescriptions import ESTADO_ROUTE as ESTADO_ROUTE  # re-exported for the views
from dashboard.concurrency import gather, map_concurrently
from dashboard.errors import (
    SERVICE_PRESCRIPTIONS,
    BadRequest,
    NotFound,
    OrchestratorError,
    PermissionDenied,
    PrescriptionInvalid,
    PrescriptionRefused,
    UpstreamError,
    UpstreamFailed,
    UpstreamRejected,
)
from dashboard.text import names_match
from dashboard.types import Doctor, Prescription, PrescriptionPage, Product, User

VALIDADA, RECHAZADA, PENDIENTE = "VALIDADA", "RECHAZADA", "PENDIENTE"
STATES = (VALIDADA, RECHAZADA, PENDIENTE)
# Accepted body keys for the target state, in order of preference.
STATE_KEYS = ("estadovalidacion", "estadoValidacion", "estado")
MOTIVO_MAX_CHARS = 500

# The doctors filter may ignore `cmp` (the newest deployment does), so finding one doctor can mean
# reading the whole registry: bounded (50 pages of 100) so a huge registry cannot hold a request forever.
DOCTOR_PAGE_LIMIT = 100
DOCTOR_MAX_PAGES = 50
REGISTRY_MAX_PASSES = 2
DOCTOR_MAX_SPECIALTIES = 50
# A CMP missing from a registry read this recently (s) is not registered; older, the registry is read again.
REGISTRY_TRUST_SECONDS = 5

# Prescriptions are issued and expire by calendar day in Peru.
LIMA = ZoneInfo("America/Lima")

_DNI = re.compile(r"^[0-9]{8}$")
_CMP = re.compile(r"^[A-Za-z0-9-]{1,20}$")


@dataclass(frozen=True)
class Check:
    ok: bool
    mensaje: str
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PrescriptionReview:
    receta: Prescription
    productos: Check
    medico: Check
    paciente: Check
    vigencia: Check
    # With `tolerate_outages`: what could not be checked because a service failed, naming it.
    advertencias: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self._checks().values())

    def validaciones(self) -> dict:
        """Every check as `{"ok", "mensaje"}`, the shape of `details.validaciones`."""
        return {name: {"ok": check.ok, "mensaje": check.mensaje} for name, check in self._checks().items()}

    def _checks(self) -> dict[str, Check]:
        return {"productos": self.productos, "medico": self.medico, "paciente": self.paciente,
                "vigencia": self.vigencia}


# Input ---------------------------------------------------------------------------------------------
def parse_state_change(body: Any, *, default_estado: str | None = None) -> tuple[str, str | None]:
    """(ESTADO, motivo) from a request body; 400 for anything else.

    The state may come under `estadovalidacion`, `estadoValidacion` or `estado`, in any case.
    An empty body (None) or one without a state gets `default_estado` when given.
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest(_("El cuerpo debe ser un objeto JSON"), code="cuerpo_invalido")
    given = [body[key] for key in STATE_KEYS if key in body]
    if not given:
        if default_estado is None:
            raise BadRequest(_("Falta el estado: envíe {\"estadovalidacion\": \"VALIDADA\"}"), code="estado_requerido")
        estados = [default_estado]
    else:
        estados = [_state(value) for value in given]
    if len(set(estados)) > 1:
        raise BadRequest(_("El cuerpo indica estados distintos"), code="estado_invalido")
    return estados[0], _motivo(body.get("motivo"))


def _state(value: Any) -> str:
    estado = value.strip().upper() if isinstance(value, str) else None
    if estado not in STATES:
        raise BadRequest(_("Estado inválido: debe ser VALIDADA, RECHAZADA o PENDIENTE"), code="estado_invalido",
                         details={"permitidos": list(STATES)})
    return estado


def _motivo(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(_("El motivo debe ser texto"), code="motivo_invalido")
    if len(value) > MOTIVO_MAX_CHARS:
        raise BadRequest(_("El motivo no puede superar %(max)d caracteres") % {"max": MOTIVO_MAX_CHARS},
                         code="motivo_invalido", details={"maximo": MOTIVO_MAX_CHARS})
    return value.strip() or None


# Lookups (each one upstream call or one bounded series) --------------------------------------------
def _product_or_none(upstreams: Upstreams, pid: int) -> Product | None:
    try:
        return upstreams.products.product_get(pid)
    except UpstreamRejected as exc:
        if exc.status == 404:
            return None
        raise


def _doctor_find(upstreams: Upstreams, cmp: str) -> Doctor | None:
    """The doctor whose `cmp` is exactly `cmp`; None only when the service says no such doctor exists.

    One call with `cmp=` answers it where the filter is honoured (every item then has that CMP, or
    there is none). Where the filter is ignored (the newest generation, which also sorts by the
    non-unique `nombre`, so paging can skip doctors), the whole registry is read and kept for
    DOCTORS_CACHE_SECONDS (see `doctors_registry`); a CMP missing from a registry older than
    REGISTRY_TRUST_SECONDS is looked for in a fresh read before being called unregistered.
    """
    if not cmp:
        return None
    first = upstreams.prescriptions.doctors_filter(cmp=cmp, page=1, limit=DOCTOR_PAGE_LIMIT)
    found = next((doctor for doctor in first.items if doctor.cmp == cmp), None)
    if found is not None or all(doctor.cmp == cmp for doctor in first.items):
        return found
    registry = doctors_registry(upstreams)
    if cmp not in registry.doctors and time.time() - registry.read_at > REGISTRY_TRUST_SECONDS:
        registry = doctors_registry(upstreams, fresh=True)
    if cmp in registry.doctors:
        return registry.doctors[cmp]
    if not registry.complete:
        # Unknown is not "not registered": the registry could not be read whole.
        raise UpstreamFailed(SERVICE_PRESCRIPTIONS, _("No se pudo leer el registro completo de médicos para "
                                                      "verificar el CMP %(cmp)s") % {"cmp": cmp},
                             details={"motivo": "registro_de_medicos_incompleto"})
    return None


@dataclass(frozen=True)
class DoctorRegistry:
    doctors: dict[str, Doctor]
    complete: bool  # every doctor the service counts was read
    read_at: float  # time.time()


def doctors_registry(upstreams: Upstreams, *, fresh: bool = False) -> DoctorRegistry:
    """The whole doctors registry, by CMP, read at most every DOCTORS_CACHE_SECONDS.

    Pages of 100 asked with `sort=cmp` (unique) are read concurrently. A service that sorts by a
    non-unique key anyway can skip or repeat doctors between pages, so the union is checked against
    `total`; when it does not add up after REGISTRY_MAX_PASSES reads, the registry is read again by
    specialty (`especialidad=`, one query per specialty seen), parts small enough to fit one page,
    where there is no paging to skip anything. Bounded: more than DOCTOR_MAX_PAGES pages (x100
    doctors) or DOCTOR_MAX_SPECIALTIES specialties is refused as "could not check".
    """
    key = f"medicos:registro:{upstreams.prescriptions.base_url}"
    cached = None if fresh else cache.get(key)
    if cached is not None:
        return cached
    doctors: dict[str, Doctor] = {}
    total = 0
    for _pass in range(REGISTRY_MAX_PASSES):
        total, found = _read_doctors(upstreams)
        doctors.update(found)
        if len(doctors) >= total:
            break
    if len(doctors) < total:
        specialties = sorted({doctor.especialidad for doctor in doctors.values() if doctor.especialidad})
        if len(specialties) <= DOCTOR_MAX_SPECIALTIES:
            for _total, found in map_concurrently(lambda name: _read_doctors(upstreams, especialidad=name),
                                                  specialties):
                doctors.update(found)
    registry = DoctorRegistry(doctors=doctors, complete=len(doctors) >= total, read_at=time.time())
    if settings.DOCTORS_CACHE_SECONDS > 0:
        cache.set(key, registry, settings.DOCTORS_CACHE_SECONDS)
    return registry


def _read_doctors(upstreams: Upstreams, *, especialidad: str | None = None) -> tuple[int, dict[str, Doctor]]:
    """Every page of the doctors filter: (the service's `total`, the doctors read by CMP)."""
    first = upstreams.prescriptions.doctors_filter(page=1, limit=DOCTOR_PAGE_LIMIT, sort="cmp",
                                                   especialidad=especialidad)
    size = max(first.limit, len(first.items), 1)
    pages = -(-first.total // size)
    if pages > DOCTOR_MAX_PAGES:
        raise UpstreamFailed(SERVICE_PRESCRIPTIONS, _("El registro de médicos es demasiado grande para "
                                                      "revisarlo completo (%(total)d)") % {"total": first.total},
                             details={"motivo": "registro_de_medicos_demasiado_grande"})
    rest = map_concurrently(lambda n: upstreams.prescriptions.doctors_filter(
        page=n, limit=size, sort="cmp", especialidad=especialidad), range(2, pages + 1))
    return first.total, {doctor.cmp: doctor for result in (first, *rest) for doctor in result.items}


def _patient_find(upstreams: Upstreams, caller: User, dni: str) -> User | None:
    # The caller's own prescription: /api/user/me already proved they are registered, and
    # /api/user/all would answer 403 to a customer.
    if caller.dni == dni:
        return caller
    return next((user for user in upstreams.users.users_all() if user.dni == dni), None)


def _line_product_id(raw: Any) -> int | None:
    try:
        return product_id(raw) if raw is not None else None
    except OrchestratorError:
        return None


# Checks (pure: built from what the lookups found) ----------------------------------------------------
def products_check(receta: Prescription, catalogue: dict[int, Product | UpstreamError | None]) -> Check:
    """`catalogue` maps each id to its product, None (not in the catalogue) or the error reading it."""
    items = []
    for line in receta.productos:
        pid = _line_product_id(line.producto_id)
        found = catalogue.get(pid) if pid is not None else None
        unknown = isinstance(found, UpstreamError)
        product = None if unknown else found
        coincide = product is not None and names_match(line.nombre, product.nombre)
        if pid is None:
            mensaje = _("La línea «%(nombre)s» no indica un ID de producto válido") % {"nombre": line.nombre}
        elif unknown:
            mensaje = _("No se pudo verificar el producto con ID %(id)s") % {"id": pid}
        elif product is None:
            mensaje = _("El producto con ID %(id)s no existe en el catálogo") % {"id": pid}
        elif not coincide:
            mensaje = _("El nombre en la receta «%(receta)s» no coincide con el del catálogo «%(catalogo)s»") % {
                "receta": line.nombre, "catalogo": product.nombre}
        else:
            mensaje = _("Producto verificado")
        items.append({
            "producto_id": line.producto_id, "nombre_receta": line.nombre, "cantidad": line.cantidad,
            "encontrado": None if unknown else product is not None,  # None: could not be checked
            "nombre_catalogo": product.nombre if product else None,
            "coincide": coincide, "requiere_receta": product.requiere_receta if product else None,
            "mensaje": mensaje,
        })
    failed = [item for item in items if not item["coincide"]]
    if not items:
        mensaje = _("La receta no incluye productos")
    elif failed:
        # "1 de 2 productos no superó…", "2 de 3 productos no superaron…", "El producto no superó…".
        mensaje = (ngettext("%(fallidos)d de %(total)d productos no superó la verificación: %(detalle)s",
                            "%(fallidos)d de %(total)d productos no superaron la verificación: %(detalle)s",
                            len(failed)) if len(items) > 1
                   else _("El producto no superó la verificación: %(detalle)s")) % {
            "fallidos": len(failed), "total": len(items), "detalle": "; ".join(item["mensaje"] for item in failed)}
    else:
        mensaje = ngettext("%(total)d producto verificado en el catálogo",
                           "%(total)d productos verificados en el catálogo", len(items)) % {"total": len(items)}
    return Check(ok=bool(items) and not failed, mensaje=mensaje, data={"items": items})


def doctor_check(cmp: str, doctor: Doctor | None) -> Check:
    data = {"cmp": cmp, "nombre": doctor.nombre if doctor else None,
            "especialidad": doctor.especialidad if doctor else None,
            "colegiatura_valida": doctor.colegiatura_valida if doctor else None, "encontrado": doctor is not None}
    if doctor is None:
        return Check(False, _("No hay un médico registrado con CMP %(cmp)s") % {"cmp": cmp or "—"}, data)
    names = {"nombre": doctor.nombre, "cmp": cmp}
    if not doctor.colegiatura_valida:
        return Check(False, _("El médico %(nombre)s (%(cmp)s) no tiene colegiatura válida") % names, data)
    return Check(True, _("Médico %(nombre)s (%(cmp)s) con colegiatura válida") % names, data)


def patient_check(dni: str, patient: User | None) -> Check:
    data = {"dni": dni, "nombre": patient.full_name if patient else None, "registrado": patient is not None}
    if patient is None:
        return Check(False, _("El DNI %(dni)s no corresponde a un usuario registrado") % {"dni": dni}, data)
    return Check(True, _("Paciente %(nombre)s registrado") % {"nombre": patient.full_name}, data)


def emission_day(fecha_emision: dt.datetime) -> dt.date:
    """The calendar day a prescription was issued.

    The prescriptions service stores a date-only emission as midnight UTC ("2025-10-15T00:00:00.000Z"
    is the 15th as written on the paper, not the evening of the 14th in Lima); any other instant is
    read on Lima's calendar.
    """
    utc = fecha_emision.astimezone(dt.UTC)
    if utc.time() == dt.time(0):
        return utc.date()
    return fecha_emision.astimezone(LIMA).date()


def validity_check(fecha_emision: dt.datetime, *, now: dt.datetime | None = None,
                   validity_days: int | None = None) -> Check:
    """Issued on day D (Lima): valid from D through D + RECETA_VALIDEZ_DIAS, inclusive."""
    validity_days = settings.RECETA_VALIDEZ_DIAS if validity_days is None else validity_days
    today = (now or timezone.now()).astimezone(LIMA).date()
    issued = emission_day(fecha_emision)
    last_day = issued + dt.timedelta(days=validity_days)
    elapsed = (today - issued).days
    data = {
        "fecha_emision": dt.datetime.combine(issued, dt.time(0), LIMA),
        "dias_transcurridos": elapsed,
        "dias_restantes": max((last_day - today).days, 0),
        # The last moment it is valid: the end of its last day in Lima.
        "vence": dt.datetime.combine(last_day, dt.time(23, 59, 59), LIMA),
    }
    if elapsed < 0:
        return Check(False, _("La fecha de emisión (%(fecha)s) está en el futuro")
                     % {"fecha": issued.strftime("%d/%m/%Y")}, data)
    if today > last_day:
        return Check(False, _("La receta venció el %(fecha)s (validez de %(dias)d días)") % {
            "fecha": last_day.strftime("%d/%m/%Y"), "dias": validity_days}, data)
    return Check(True, _("Vigente hasta el %(fecha)s (quedan %(dias)d días)") % {
        "fecha": last_day.strftime("%d/%m/%Y"), "dias": data["dias_restantes"]}, data)


# Use cases -----------------------------------------------------------------------------------------
def prescription_review(*, upstreams: Upstreams, caller: User, receta_id: str,
                        tolerate_outages: bool = False) -> PrescriptionReview:
    """The prescription and the result of every check, without writing anything (a dry run).

    An ADMIN may review any prescription; anyone else only their own (else 404, as if it did not
    exist). Doctor, patient and every distinct product are looked up in one concurrent batch.
    With `tolerate_outages` (the dashboard's page), a failing service marks its check as not
    verified and is named in `advertencias` instead of failing the whole review; an approval
    never tolerates them.
    """
    rid = prescription_id(receta_id)
    receta = upstreams.prescriptions.prescription_get(rid)
    if not caller.is_admin and receta.paciente_dni != caller.dni:
        raise NotFound(_("Receta no encontrada"), code="receta_no_encontrada")
    return review_of(upstreams=upstreams, caller=caller, receta=receta, tolerate_outages=tolerate_outages)


def review_of(*, upstreams: Upstreams, caller: User, receta: Prescription,
              tolerate_outages: bool = False) -> PrescriptionReview:
    """Every check of a prescription already read (see `prescription_review`)."""
    product_ids = list(dict.fromkeys(
        pid for pid in (_line_product_id(line.producto_id) for line in receta.productos) if pid is not None))
    calls: list[Callable[[], Any]] = [
        lambda: _doctor_find(upstreams, receta.medico_cmp),
        lambda: _patient_find(upstreams, caller, receta.paciente_dni),
        *[lambda pid=pid: _product_or_none(upstreams, pid) for pid in product_ids],
    ]
    results = gather(calls, return_exceptions=tolerate_outages)
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures:
        if not isinstance(failure, UpstreamError):
            raise failure
    doctor, patient, *products = (r if isinstance(r, UpstreamError) or not isinstance(r, BaseException) else None
                                  for r in results)
    productos = products_check(receta, dict(zip(product_ids, products, strict=True)))
    medico = doctor_check(receta.medico_cmp, None if isinstance(doctor, UpstreamError) else doctor)
    paciente = patient_check(receta.paciente_dni, None if isinstance(patient, UpstreamError) else patient)
    doctor_error, patient_error, *product_errors = results
    if isinstance(doctor_error, UpstreamError):
        medico = _not_verified(medico, doctor_error)
    if isinstance(patient_error, UpstreamError):
        paciente = _not_verified(paciente, patient_error)
    product_failure = next((e for e in product_errors if isinstance(e, UpstreamError)), None)
    if product_failure is not None:
        productos = _not_verified(productos, product_failure)
    return PrescriptionReview(
        receta=receta, productos=productos, medico=medico, paciente=paciente,
        vigencia=validity_check(receta.fecha_emision),
        advertencias=tuple(dict.fromkeys(failure.message for failure in failures)),
    )


def _not_verified(check: Check, error: UpstreamError) -> Check:
    return Check(False, _("No se pudo verificar: %(motivo)s") % {"motivo": error.message},
                 {**check.data, "no_verificado": True})


def prescription_set_state(*, upstreams: Upstreams, caller: User, receta_id: str, estado: str,
                           motivo: str | None = None) -> dict:
    """Set a prescription's state (ADMIN); `VALIDADA` only when every check passes.

    Returns the API's 200 body. A failed check raises `PrescriptionInvalid` (400) with all the
    results in `details.validaciones`, and nothing is written upstream. The answer never contradicts
    the write: once the service has answered 2xx, a failing follow-up read only adds `advertencias`;
    a write that timed out is `OutcomeUncertain` (504 resultado_incierto). Where the deployed
    generation has no route for the state, `OperationNotSupported` (501) and nothing is written.
    """
    rid = prescription_id(receta_id)
    if not caller.is_admin:
        raise PermissionDenied()
    estado = _state(estado)
    motivo = _motivo(motivo)
    if estado == VALIDADA:
        review = prescription_review(upstreams=upstreams, caller=caller, receta_id=rid)
        if not review.ok:
            raise PrescriptionInvalid(details={"validaciones": review.validaciones()})
        try:
            stored = audit.recorded(lambda: upstreams.prescriptions.prescription_set_state(rid, "validada"),
                                    caller=caller, receta=review.receta, estado=estado,
                                    validaciones=review.validaciones())
        except UpstreamRejected as exc:
            if exc.status == 400:
                raise _refused(exc) from exc
            raise
        return _validated_answer(upstreams, caller, review, stored)
    receta = upstreams.prescriptions.prescription_get(rid)  # an unknown id is a 404, never a blind write
    stored = audit.recorded(lambda: upstreams.prescriptions.prescription_set_state(rid, estado.lower()),
                            caller=caller, receta=receta, estado=estado, motivo=motivo)
    advertencias: list[str] = []
    if stored is None:
        stored, advertencias = _reread(upstreams, rid)
    body = {"mensaje": _("Receta actualizada a %(estado)s") % {"estado": estado},
            "receta": stored.raw if stored else {**receta.raw, "estadoValidacion": estado.lower()}}
    if estado == RECHAZADA and motivo:
        body["motivo"] = motivo
    if advertencias:
        body["advertencias"] = advertencias
    return body


def _refused(exc: UpstreamRejected) -> PrescriptionRefused:
    upstream = exc.upstream_body if isinstance(exc.upstream_body, dict) else {}
    motivo = upstream.get("error") if isinstance(upstream.get("error"), str) else exc.upstream_message
    details: dict[str, Any] = {"servicio": exc.service, "motivo": motivo}
    if upstream.get("detalle") is not None:
        details["detalle"] = upstream["detalle"]
    return PrescriptionRefused(_("El servicio de recetas rechazó la validación: %(motivo)s") % {"motivo": motivo},
                               details=details)


def _reread(upstreams: Upstreams, rid: str) -> tuple[Prescription | None, list[str]]:
    """The prescription as stored after a write that succeeded; a failing read is only a warning."""
    try:
        return upstreams.prescriptions.prescription_get(rid), []
    except UpstreamError as exc:
        return None, [_("El cambio se guardó, pero no se pudo releer la receta: %(motivo)s") % {"motivo": exc.message}]


# Fields the newest generation's `validar` overwrites with what its OCR read from the PDF.
OCR_FIELDS = ("pacienteDNI", "medicoCMP", "fechaEmision", "productos")


def prescription_changes(before: Prescription, after: Prescription) -> dict[str, dict[str, Any]]:
    """What the service stored differently from what was reviewed: {campo: {"antes", "despues"}}."""
    def lines(receta: Prescription) -> list[dict[str, Any]]:
        return [{"id": line.producto_id, "nombre": line.nombre, "cantidad": line.cantidad}
                for line in receta.productos]

    pairs = {
        "pacienteDNI": (before.paciente_dni, after.paciente_dni),
        "medicoCMP": (before.medico_cmp, after.medico_cmp),
        "fechaEmision": (before.fecha_emision, after.fecha_emision),
        "productos": (lines(before), lines(after)),
    }
    return {name: {"antes": before.raw.get(name, old) if name != "productos" else old,
                   "despues": after.raw.get(name, new) if name != "productos" else new}
            for name, (old, new) in pairs.items() if old != new}


def _validated_answer(upstreams: Upstreams, caller: User, review: PrescriptionReview,
                      stored: Prescription | None) -> dict:
    advertencias: list[str] = []
    if stored is None:
        stored, advertencias = _reread(upstreams, review.receta.id)
    validaciones: dict[str, Any] = {"productos_validados": len(review.productos.data["items"]),
                                    "medico_valido": True, "paciente_valido": True, "vigente": True}
    body: dict[str, Any] = {"mensaje": _("Receta validada y actualizada exitosamente"),
                            "receta": stored.raw if stored else {**review.receta.raw, "estadoValidacion": "validada"},
                            "validaciones": validaciones}
    cambios = prescription_changes(review.receta, stored) if stored else {}
    if cambios:
        # The service re-read the PDF and stored something else: check what is stored now.
        body["cambios"] = cambios
        again = review_of(upstreams=upstreams, caller=caller, receta=stored, tolerate_outages=True)
        items = again.productos.data["items"]
        body["validaciones"] = {"productos_validados": sum(1 for item in items if item["coincide"]),
                                "medico_valido": again.medico.ok, "paciente_valido": again.paciente.ok,
                                "vigente": again.vigencia.ok, "detalle": again.validaciones()}
        failed = [check["mensaje"] for check in again.validaciones().values() if not check["ok"]]
        if failed:
            advertencias.append(_("El servicio de recetas guardó datos distintos de los revisados y ya no "
                                  "superan la validación: %(fallos)s") % {"fallos": "; ".join(failed)})
    elif stored is None:
        advertencias.append(_("No se pudo comprobar si el servicio guardó datos distintos de los revisados"))
    if advertencias:
        body["advertencias"] = advertencias
    return body


def prescriptions_list(*, upstreams: Upstreams, caller: User, estado: str | None = None, dni: str | None = None,
                       cmp: str | None = None, page: int = 1, pagesize: int = 20) -> PrescriptionPage:
    """One page of prescriptions, newest first, as the upstream paginates.

    A CLIENTE only ever sees their own DNI's prescriptions, whatever `dni` was asked for.
    """
    if estado:
        estado = _state(estado).lower()
    if not caller.is_admin:
        dni = caller.dni
    if dni and not _DNI.fullmatch(dni):
        raise BadRequest(_("El DNI debe tener 8 dígitos"), code="dni_invalido")
    if cmp and not _CMP.fullmatch(cmp):
        raise BadRequest(_("El CMP solo puede contener letras, dígitos y guiones"), code="cmp_invalido")
    if not _is_int(page) or page < 1:
        raise BadRequest(_("La página debe ser un entero mayor o igual a 1"), code="pagina_invalida")
    if not _is_int(pagesize) or not 1 <= pagesize <= 100:
        raise BadRequest(_("El tamaño de página debe estar entre 1 y 100"), code="pagina_invalida")
    return upstreams.prescriptions.prescriptions_filter(dni=dni or None, cmp=cmp or None, estado=estado or None,
                                                        page=page, pagesize=pagesize)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
