"""Client of the prescriptions and doctors service (Express; no auth).

Two generations of the service are deployed. The older one has `PUT /api/recetas/estado/{id}` (any
state) and a `validar` that only checks; the newest has no `estado/{id}` route (Express answers its
HTML 404) and a `validar` that re-reads the scanned PDF and overwrites what it extracted. Which one
answers is learnt per process from its answers (an HTML 404 on `estado/{id}`: the route is missing;
any JSON answer: it exists), kept for `PRESCRIPTIONS_GENERATION_SECONDS` per base URL and learnt
again after that, or at once when an answer contradicts it.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from dashboard.clients.base import BaseClient, prescription_id
from dashboard.errors import (
    SERVICE_PRESCRIPTIONS,
    OperationNotSupported,
    OutcomeUncertain,
    UpstreamRejected,
    UpstreamTimeout,
)
from dashboard.types import DoctorPage, Prescription, PrescriptionPage, WireError

STATES = ("pendiente", "validada", "rechazada")
ESTADO_ROUTE = "PUT /api/recetas/estado/{id}"
# The probe asks to store an unknown state on an id no document has: refused (400/404 JSON) by the
# older generation before anything is written, an HTML 404 from the newest. It never writes.
PROBE_ID = "0" * 24
PROBE_STATE = "sondeo_de_rutas"


@dataclass(frozen=True)
class Generation:
    """What is known of the deployed prescriptions service's routes."""

    estado_route: bool | None  # None: not learnt yet (or learnt too long ago)
    learnt_at: float | None = None  # time.time() when learnt
    how: str = ""  # "respuesta" (a real call's answer) or "sondeo" (the harmless probe)

    @property
    def name(self) -> str:
        if self.estado_route is None:
            return "desconocida"
        return "anterior" if self.estado_route else "nueva"


_generations: dict[str, Generation] = {}
_generations_lock = threading.Lock()


def reset_generations() -> None:
    """Forget what was learnt (tests; a redeploy is noticed on its own)."""
    with _generations_lock:
        _generations.clear()


def _route_missing(exc: UpstreamRejected) -> bool:
    # Express answers an unknown route with an HTML page; every real answer of the route is JSON.
    return exc.status == 404 and not getattr(exc, "body_is_json", True)


def _updated_prescription(body: Any) -> Prescription | None:
    """The stored prescription from a write's answer, or None when the answer does not carry it.

    Both generations answer {"mensaje", "receta"}; a write that answered 2xx happened, so an answer
    without a readable prescription is "written, content unknown", never an error.
    """
    document = body.get("receta") if isinstance(body, dict) and isinstance(body.get("receta"), dict) else body
    try:
        return Prescription.from_wire(document)
    except (WireError, KeyError, TypeError, AttributeError, ValueError):
        return None


class PrescriptionsClient(BaseClient):
    service = SERVICE_PRESCRIPTIONS
    url_setting = "URL_RECETAS_MEDICOS"

    def prescription_get(self, rid: str) -> Prescription:
        """GET /api/recetas/{id}; 400 malformed id, 404 {"error": "Receta no encontrada"}."""
        return self.call("GET", "/api/recetas/{id}", path={"id": prescription_id(rid)}, parse=Prescription.from_wire)

    def prescriptions_filter(self, *, dni: str | None = None, cmp: str | None = None, estado: str | None = None,
                             page: int = 1, pagesize: int = 100) -> PrescriptionPage:
        """GET /api/recetas/filter (exact matches, pagesize clamped upstream to 1..100, newest first)."""
        return self.call("GET", "/api/recetas/filter",
                         params={"dni": dni, "cmp": cmp, "estado": estado, "page": page, "pagesize": pagesize},
                         parse=PrescriptionPage.from_wire)

    # Generations -------------------------------------------------------------------------------
    def generation(self, *, probe: bool = False) -> Generation:
        """What is known of the deployed generation; with `probe`, learn it now when unknown or stale.

        A probe that fails (service down) leaves it unknown: unknown is not "missing".
        """
        with _generations_lock:
            known = _generations.get(self.base_url)
        fresh = known is not None and time.time() - (known.learnt_at or 0) < settings.PRESCRIPTIONS_GENERATION_SECONDS
        if fresh:
            return known
        if not probe:
            return Generation(None)
        try:
            self.call("PUT", "/api/recetas/estado/{id}", path={"id": PROBE_ID},
                      json={"estadoValidacion": PROBE_STATE}, expect_json=False)
        except UpstreamRejected as exc:
            return self._learn(not _route_missing(exc), "sondeo")
        except Exception:  # noqa: BLE001 - any other failure: still unknown
            return Generation(None)
        return self._learn(True, "sondeo")

    def _learn(self, estado_route: bool, how: str) -> Generation:
        generation = Generation(estado_route, time.time(), how)
        with _generations_lock:
            _generations[self.base_url] = generation
        return generation

    def _not_supported(self, estado: str) -> OperationNotSupported:
        return OperationNotSupported(
            _("El servicio de recetas desplegado no puede poner una receta en «%(estado)s»: no tiene la ruta "
              "%(ruta)s. No se cambió nada.") % {"estado": estado, "ruta": ESTADO_ROUTE},
            details={"servicio": self.service, "ruta": ESTADO_ROUTE, "generacion": "nueva"},
        )

    # Writes ------------------------------------------------------------------------------------
    def prescription_set_state(self, rid: str, estado: str) -> Prescription | None:
        """Store a state: PUT /api/recetas/estado/{id} {"estadoValidacion": estado}.

        Where that route is missing (newest generation), `validada` goes through `PUT {id}/validar`
        and the other states raise `OperationNotSupported` (501) without writing. Returns the stored
        prescription from the answer (None if the answer did not carry one: the write happened).
        A timeout raises `OutcomeUncertain` (504 resultado_incierto).
        """
        if estado not in STATES:
            raise ValueError(f"unknown prescription state {estado!r}")
        rid = prescription_id(rid)
        if self.generation().estado_route is False:
            if estado == "validada":
                return self.prescription_validate(rid)
            raise self._not_supported(estado)
        try:
            body = self._write("PUT", "/api/recetas/estado/{id}", rid, json={"estadoValidacion": estado})
        except UpstreamRejected as exc:
            if not _route_missing(exc):
                self._learn(True, "respuesta")
                raise
            self._learn(False, "respuesta")
            if estado == "validada":
                return self.prescription_validate(rid)
            raise self._not_supported(estado) from exc
        self._learn(True, "respuesta")
        return _updated_prescription(body)

    def prescription_validate(self, rid: str) -> Prescription | None:
        """PUT /api/recetas/{id}/validar (no body): the newest generation re-reads the PDF (OCR) and
        overwrites patient, doctor, date and products with what it read. 400 {"error", "detalle"?}
        for its refusals, 500 {"error", "detalle", "codigo"} when S3/Textract fail."""
        return _updated_prescription(self._write("PUT", "/api/recetas/{id}/validar", prescription_id(rid)))

    def _write(self, method: str, template: str, rid: str, **kwargs: Any) -> Any:
        try:
            # The answer is read leniently: a 2xx means written, whatever its body looks like.
            return self.call(method, template, path={"id": rid}, expect_json=False, **kwargs)
        except UpstreamTimeout as exc:
            if exc.details.get("motivo") == "plazo_de_la_solicitud_agotado":
                raise  # never sent: known not written
            raise OutcomeUncertain(self.service) from exc

    # Doctors -----------------------------------------------------------------------------------
    def doctors_filter(self, *, cmp: str | None = None, nombre: str | None = None, especialidad: str | None = None,
                       colegiatura_valida: bool | None = None, page: int = 1, limit: int = 100,
                       sort: str | None = None) -> DoctorPage:
        """GET /api/medicos/filter (limit clamped upstream to 1..100; some deployments ignore `cmp`
        and `sort` and sort by the non-unique `nombre`)."""
        valid = None if colegiatura_valida is None else ("true" if colegiatura_valida else "false")
        return self.call("GET", "/api/medicos/filter",
                         params={"cmp": cmp, "nombre": nombre, "especialidad": especialidad,
                                 "colegiaturaValida": valid, "page": page, "limit": limit, "sort": sort},
                         parse=DoctorPage.from_wire)
