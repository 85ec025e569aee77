"""Client of the prescriptions and doctors service (Express; no auth)."""
from __future__ import annotations

from typing import Any

from dashboard.clients.base import BaseClient, prescription_id
from dashboard.errors import SERVICE_PRESCRIPTIONS, UpstreamRejected
from dashboard.types import DoctorPage, Prescription, PrescriptionPage

STATES = ("pendiente", "validada", "rechazada")


def _updated_prescription(body: Any) -> Prescription:
    # `estado/{id}` answers {"mensaje", "receta"}; `{id}/validar` may answer the document itself.
    if isinstance(body, dict) and isinstance(body.get("receta"), dict):
        return Prescription.from_wire(body["receta"])
    return Prescription.from_wire(body)


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

    def prescription_set_state(self, rid: str, estado: str) -> Prescription:
        """PUT /api/recetas/estado/{id} {"estadoValidacion": estado}.

        Newer deployments removed that route (an HTML 404) in favour of PUT /api/recetas/{id}/validar,
        which can only approve: used as the fallback for `validada`.
        """
        if estado not in STATES:
            raise ValueError(f"unknown prescription state {estado!r}")
        rid = prescription_id(rid)
        try:
            return self.call("PUT", "/api/recetas/estado/{id}", path={"id": rid},
                             json={"estadoValidacion": estado}, parse=_updated_prescription)
        except UpstreamRejected as exc:
            if exc.status == 404 and not getattr(exc, "body_is_json", True) and estado == "validada":
                return self.call("PUT", "/api/recetas/{id}/validar", path={"id": rid}, parse=_updated_prescription)
            raise

    def doctors_filter(self, *, cmp: str | None = None, nombre: str | None = None, especialidad: str | None = None,
                       colegiatura_valida: bool | None = None, page: int = 1, limit: int = 100) -> DoctorPage:
        """GET /api/medicos/filter (limit clamped upstream to 1..100; some deployments ignore `cmp`)."""
        valid = None if colegiatura_valida is None else ("true" if colegiatura_valida else "false")
        return self.call("GET", "/api/medicos/filter",
                         params={"cmp": cmp, "nombre": nombre, "especialidad": especialidad,
                                 "colegiaturaValida": valid, "page": page, "limit": limit},
                         parse=DoctorPage.from_wire)
