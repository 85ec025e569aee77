"""Prescriptions and doctors: the Express service (no auth, `{"error","detalle"}` errors, HTML 404s)."""

from __future__ import annotations

import copy
import html
import itertools
import json
import random
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any

from .seed import PRESCRIPTION_VALIDITY_DAYS, mongo_iso
from .server import InvalidJson, Reply, Request, Response, Route, Service, json_response, reason

STATES = ("pendiente", "validada", "rechazada")
OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")
LEADING_INT = re.compile(r"\s*([+-]?\d+)")
DOCTOR_SORT_FIELDS = ("cmp", "nombre", "especialidad", "colegiaturaValida")
EXPRESS_JSON = "application/json; charset=utf-8"


def express_error(status: int, error: str, detalle: Any = None, *, codigo: str | None = None,
                  detalle_texto: str | None = None) -> Response:
    """The prescriptions service's JSON error body: `{"error": ..., "detalle": ...}` (+ `codigo` for SDK errors)."""
    body: dict[str, Any] = {"error": error}
    if detalle is not None or detalle_texto is not None:
        body["detalle"] = detalle_texto if detalle_texto is not None else detalle
    if codigo is not None:
        body["codigo"] = codigo
    return json_response(status, body, EXPRESS_JSON)


def _multipart(request: Request) -> tuple[dict[str, str], dict[str, bytes]]:
    """(text fields, file fields) of a multipart/form-data body, as multer gives them."""
    content_type = request.header("content-type")
    if not content_type.lower().startswith("multipart/form-data"):
        return {}, {}
    message = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + request.body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename():
            files[name] = payload
        else:
            fields[name] = payload.decode("utf-8", "replace")
    return fields, files


def express_html(status: int, text: str) -> Response:
    """Express's built-in HTML error page (unknown route, unparsable body)."""
    page = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n'
            f"</head>\n<body>\n<pre>{html.escape(text)}</pre>\n</body>\n</html>\n")
    return Response(status, page.encode(), "text/html; charset=utf-8",
                    {"Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff"})


class PrescriptionsStore:
    """Prescriptions by ObjectId and doctors by CMP."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._counter = itertools.count(1)
        self.load([], [])

    def load(self, prescriptions: list[dict[str, Any]], doctors: list[dict[str, Any]]) -> None:
        with self._lock:
            self._prescriptions = {item["_id"]: copy.deepcopy(item) for item in prescriptions}
            self._doctors = {doctor["cmp"]: copy.deepcopy(doctor) for doctor in doctors}
            self._ocr: dict[str, dict[str, Any]] = {}

    # -- prescriptions -------------------------------------------------------------------------
    def get(self, prescription_id: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._prescriptions.get(prescription_id.lower())
            return copy.deepcopy(item) if item else None

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(item) for item in self._prescriptions.values()]

    def filter(self, *, dni: str | None = None, cmp: str | None = None,
               estado: str | None = None) -> list[dict[str, Any]]:
        """Exact-match filters, newest `fechaEmision` first."""
        items = [item for item in self.all()
                 if (dni is None or item["pacienteDNI"] == dni)
                 and (cmp is None or item["medicoCMP"] == cmp)
                 and (estado is None or item["estadoValidacion"] == estado)]
        return sorted(items, key=lambda item: (item["fechaEmision"], item["createdAt"]), reverse=True)

    def update(self, prescription_id: str, **fields: Any) -> dict[str, Any] | None:
        with self._lock:
            item = self._prescriptions.get(prescription_id.lower())
            if item is None:
                return None
            item.update(fields)
            item["updatedAt"] = mongo_iso(datetime.now(UTC))
            return copy.deepcopy(item)

    def add(self, *, paciente_dni: str, medico_cmp: str, fecha_emision: datetime | None,
            productos: list[dict[str, Any]], estado: str = "pendiente") -> dict[str, Any]:
        """Store a new prescription (tests, uploads); `productos` items are `{"id", "nombre", "cantidad"}`."""
        with self._lock:
            now = datetime.now(UTC)
            fecha = fecha_emision or now
            item = {
                "_id": self._new_id(now),
                "pacienteDNI": paciente_dni,
                "medicoCMP": medico_cmp,
                "fechaEmision": mongo_iso(fecha if fecha.tzinfo else fecha.replace(tzinfo=UTC)),
                "productos": [{**line, "_id": self._new_id(now)} for line in productos],
                "archivoPDF": f"https://storage.botica.pe/recetas/{self._new_id(now)[-8:]}.pdf",
                "estadoValidacion": estado,
                "createdAt": mongo_iso(now),
                "updatedAt": mongo_iso(now),
                "__v": 0,
            }
            self._prescriptions[item["_id"]] = item
            return copy.deepcopy(item)

    def delete(self, prescription_id: str) -> bool:
        with self._lock:
            self._ocr.pop(prescription_id.lower(), None)
            return self._prescriptions.pop(prescription_id.lower(), None) is not None

    def set_ocr(self, prescription_id: str, **reading: Any) -> None:
        """What the OCR will read from this prescription's PDF (tests): any of `pacienteDNI`,
        `medicoCMP`, `fechaEmision`, `productos`; a None value is a field it could not read."""
        with self._lock:
            self._ocr.setdefault(prescription_id.lower(), {}).update(reading)

    def ocr_reading(self, prescription_id: str) -> dict[str, Any]:
        """What `validar` extracts from the PDF: the paper as uploaded, unless a test said otherwise.
        Textract returns product names in capitals, so by default they come back upper-cased."""
        with self._lock:
            item = self._prescriptions[prescription_id.lower()]
            reading = {key: copy.deepcopy(item[key]) for key in ("pacienteDNI", "medicoCMP", "fechaEmision")}
            reading["productos"] = [{"id": line["id"], "nombre": str(line["nombre"]).upper(),
                                     "cantidad": line["cantidad"]} for line in item["productos"]]
            reading.update(copy.deepcopy(self._ocr.get(prescription_id.lower(), {})))
            return reading

    def _new_id(self, moment: datetime) -> str:
        return f"{int(moment.timestamp()):08x}{0xE0000000 + next(self._counter):016x}"

    # -- doctors -------------------------------------------------------------------------------
    def doctor(self, cmp: str) -> dict[str, Any] | None:
        with self._lock:
            doctor = self._doctors.get(cmp)
            return copy.deepcopy(doctor) if doctor else None

    def doctors(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(doctor) for doctor in self._doctors.values()]

    def add_doctor(self, cmp: str, nombre: str, especialidad: str, colegiatura_valida: bool = True) -> dict[str, Any]:
        """Register a doctor (tests), e.g. namesakes that make a sort by `nombre` non-unique."""
        with self._lock:
            doctor = {"_id": self._new_id(datetime.now(UTC)), "cmp": cmp, "nombre": nombre,
                      "especialidad": especialidad, "colegiaturaValida": colegiatura_valida}
            self._doctors[cmp] = doctor
            return copy.deepcopy(doctor)

    def update_doctor(self, cmp: str, **fields: Any) -> dict[str, Any]:
        """Change a doctor (tests), e.g. `update_doctor("CMP100001", colegiaturaValida=False)`."""
        with self._lock:
            self._doctors[cmp].update(fields)
            return copy.deepcopy(self._doctors[cmp])


class PrescriptionsService(Service):
    """Routes of the prescriptions service.

    Switches, settable at run time, emulate the deployed generations:
    `doctors_filter_ignores_cmp` makes `/api/medicos/filter` ignore `cmp` and `sort` and sort by the
    non-unique `nombre`, ties in any order (as MongoDB pages such a sort: doctors can be skipped);
    `validar_route_only` makes `PUT /api/recetas/estado/{id}` an HTML 404 (only `{id}/validar` exists);
    `validar_ocr` makes `validar` re-read the PDF and overwrite patient, doctor, date and products
    with what it read (`store.set_ocr`), with the newest generation's refusals;
    `validar_without_s3` makes that `validar` fail as it does with no bucket configured (500).
    All four on: the newest generation. `POST /upload` and `DELETE /archivo/{id}` exist in all modes.
    """

    name = "recetas"

    def __init__(self, store: PrescriptionsStore, *, doctors_filter_ignores_cmp: bool = False,
                 validar_route_only: bool = False, validity_days: int = PRESCRIPTION_VALIDITY_DAYS,
                 validar_ocr: bool = False, validar_without_s3: bool = False):
        self.store = store
        self.doctors_filter_ignores_cmp = doctors_filter_ignores_cmp
        self.validar_route_only = validar_route_only
        self.validar_ocr = validar_ocr
        self.validar_without_s3 = validar_without_s3
        self.validity_days = validity_days
        # Seconds a state write takes before it lands (and is answered): a caller that gives up earlier
        # does not stop it, as with the real service under load.
        self.slow_writes_seconds = 0.0
        super().__init__()

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/echo", self.echo),
            Route("GET", "/api/recetas/filter", self.filter),
            Route("POST", "/api/recetas/upload", self.upload),
            Route("PUT", "/api/recetas/estado/{receta_id}", self.set_state),
            Route("PUT", "/api/recetas/{receta_id}/validar", self.validate),
            Route("DELETE", "/api/recetas/archivo/{receta_id}", self.delete_file),
            Route("GET", "/api/recetas/{receta_id}", self.detail),
            Route("GET", "/api/medicos/filter", self.doctors),
        ]

    def not_found(self, request: Request) -> Response:
        return express_html(404, f"Cannot {request.method} {request.path}")

    def method_not_allowed(self, request: Request) -> Response:
        return self.not_found(request)  # Express has no 405: an unmatched method is an unknown route

    def invalid_json(self, request: Request, error: InvalidJson) -> Response:
        return express_html(400, f"SyntaxError: Unexpected token in JSON ({error})")

    def failure(self, status: int) -> Response:
        return express_error(status, "Error interno del servidor", reason(status))

    # -- endpoints -----------------------------------------------------------------------------
    def echo(self, request: Request) -> Response:
        return json_response(200, {"status": "ok", "servicio": "recetas-medicos"}, EXPRESS_JSON)

    def detail(self, request: Request, receta_id: str) -> Response:
        item = self._prescription(receta_id)
        item["pdfUrl"] = (None if self.validar_without_s3 or not item.get("archivoPDF")
                          else f"{item['archivoPDF']}?X-Amz-Expires=900&X-Amz-Signature={item['_id'][-16:]}")
        return json_response(200, item, EXPRESS_JSON)

    def upload(self, request: Request) -> Response:
        """POST /api/recetas/upload, multipart: the PDF (any file field) plus optional `pacienteDNI`,
        `medicoCMP`, `fechaEmision` and `productos` (JSON) fields; stored `pendiente`."""
        fields, files = _multipart(request)
        pdf = next(iter(files.values()), None)
        if pdf is None:
            return express_error(400, "No se envió ningún archivo PDF")
        if not pdf.startswith(b"%PDF"):
            return express_error(400, "El archivo debe ser un PDF")
        try:
            productos = json.loads(fields.get("productos") or "[]")
            fecha = datetime.fromisoformat(fields["fechaEmision"].replace("Z", "+00:00")) \
                if fields.get("fechaEmision") else None
        except (ValueError, TypeError):
            return express_error(400, "Datos de la receta inválidos")
        if not isinstance(productos, list) or not all(isinstance(line, dict) for line in productos):
            return express_error(400, "Datos de la receta inválidos")
        item = self.store.add(paciente_dni=fields.get("pacienteDNI", ""), medico_cmp=fields.get("medicoCMP", ""),
                              fecha_emision=fecha, productos=productos)
        return json_response(201, {"mensaje": "Receta subida correctamente", "receta": item}, EXPRESS_JSON)

    def delete_file(self, request: Request, receta_id: str) -> Response:
        """DELETE /api/recetas/archivo/{id}: deletes the PDF and the whole record."""
        item = self._prescription(receta_id)
        self.store.delete(item["_id"])
        return json_response(200, {"mensaje": "Archivo y receta eliminados correctamente"}, EXPRESS_JSON)

    def filter(self, request: Request) -> Response:
        query = request.query
        page = max(1, _js_int(query.get("page"), 1))
        pagesize = min(100, max(1, _js_int(query.get("pagesize"), 10)))
        items = self.store.filter(dni=query.get("dni") or None, cmp=query.get("cmp") or None,
                                  estado=query.get("estado") or None)
        shown = items[(page - 1) * pagesize: page * pagesize]
        return json_response(200, {"page": page, "pagesize": pagesize, "total": len(items), "items": shown},
                             EXPRESS_JSON)

    def set_state(self, request: Request, receta_id: str) -> Response:
        if self.validar_route_only:
            return self.not_found(request)
        time.sleep(self.slow_writes_seconds)
        body = request.json() if request.body.strip() else {}  # express.json() turns no body into {}
        state = body.get("estadoValidacion") if isinstance(body, dict) else None
        if state not in STATES:
            return express_error(400, "Estado de validación inválido", f"Debe ser uno de: {', '.join(STATES)}")
        item = self._prescription(receta_id)
        updated = self.store.update(item["_id"], estadoValidacion=state)
        return json_response(200, {"mensaje": "Estado de la receta actualizado", "receta": updated}, EXPRESS_JSON)

    def validate(self, request: Request, receta_id: str) -> Response:
        time.sleep(self.slow_writes_seconds)
        item = self._prescription(receta_id)
        if self.validar_ocr or self.validar_without_s3:
            return self._validate_by_ocr(item)
        problem = self._rule_violation(item)
        if problem:
            return express_error(400, *problem)
        updated = self.store.update(item["_id"], estadoValidacion="validada")
        return json_response(200, {"mensaje": "Receta validada correctamente", "receta": updated}, EXPRESS_JSON)

    def _validate_by_ocr(self, item: dict[str, Any]) -> Response:
        """The newest `validar`: download the PDF, extract, check, overwrite what was extracted."""
        if not item.get("archivoPDF"):
            return express_error(400, "La receta no tiene archivo PDF asociado.")
        if self.validar_without_s3:
            return express_error(500, "Error al validar la receta", None, codigo="MissingRequiredParameter",
                                 detalle_texto="Missing required key 'Bucket' in params")
        reading = self.store.ocr_reading(item["_id"])
        if not reading.get("pacienteDNI") or not reading.get("medicoCMP") or not reading.get("fechaEmision") \
                or not reading.get("productos"):
            return express_error(400, "PDF incompleto o inválido", reading)
        bad = [line for line in reading["productos"]
               if not isinstance(line.get("id"), int) or not isinstance(line.get("cantidad"), int)
               or line["cantidad"] < 1]
        if bad:
            return express_error(400, "Producto inválido en el PDF", bad)
        doctor = self.store.doctor(reading["medicoCMP"])
        if doctor is None or not doctor["colegiaturaValida"]:
            return express_error(400, "CMP no registrado o colegiatura no válida")
        issued = datetime.fromisoformat(str(reading["fechaEmision"]).replace("Z", "+00:00"))
        now = datetime.now(UTC)
        if issued > now:
            return express_error(400, "La fecha de emisión no puede ser futura")
        if (now - issued).days > self.validity_days:  # floor(days since emission, in UTC) > N
            return express_error(400, f"La receta ha expirado (validez {self.validity_days} días)")
        lines = [{**line, "_id": self.store._new_id(now)} for line in reading["productos"]]
        updated = self.store.update(item["_id"], pacienteDNI=reading["pacienteDNI"], medicoCMP=reading["medicoCMP"],
                                    fechaEmision=mongo_iso(issued), productos=lines, estadoValidacion="validada")
        return json_response(200, {"mensaje": "Receta validada y actualizada correctamente", "receta": updated},
                             EXPRESS_JSON)

    def doctors(self, request: Request) -> Response:
        query = request.query
        page = max(1, _js_int(query.get("page"), 1))
        limit = min(100, max(1, _js_int(query.get("limit"), 10)))
        nombre = (query.get("nombre") or "").lower()
        especialidad = (query.get("especialidad") or "").lower()
        valid = {"true": True, "false": False}.get((query.get("colegiaturaValida") or "").lower())
        cmp = None if self.doctors_filter_ignores_cmp else query.get("cmp") or None
        items = [doctor for doctor in self.store.doctors()
                 if nombre in doctor["nombre"].lower() and especialidad in doctor["especialidad"].lower()
                 and (valid is None or doctor["colegiaturaValida"] is valid)
                 and (cmp is None or doctor["cmp"] == cmp)]
        if self.doctors_filter_ignores_cmp:
            # The newest deployment sorts by `nombre` whatever is asked; MongoDB returns ties in no
            # fixed order, so paging through them can skip or repeat doctors.
            random.shuffle(items)
            items.sort(key=lambda doctor: doctor["nombre"])
        else:
            sort = query.get("sort") or "cmp"
            field = sort.lstrip("-")
            items.sort(key=lambda doctor: doctor[field if field in DOCTOR_SORT_FIELDS else "cmp"],
                       reverse=sort.startswith("-"))
        shown = items[(page - 1) * limit: page * limit]
        return json_response(200, {"page": page, "limit": limit, "total": len(items), "items": shown}, EXPRESS_JSON)

    # -- helpers -------------------------------------------------------------------------------
    def _prescription(self, receta_id: str) -> dict[str, Any]:
        if not OBJECT_ID.fullmatch(receta_id):
            raise Reply(express_error(400, "ID de receta inválido"))
        item = self.store.get(receta_id)
        if item is None:
            raise Reply(express_error(404, "Receta no encontrada"))
        return item

    def _rule_violation(self, item: dict[str, Any]) -> tuple[str, str] | None:
        """What keeps this prescription from being approved (error, detalle), if anything."""
        doctor = self.store.doctor(item["medicoCMP"])
        if doctor is None:
            return "Médico no encontrado", f"No existe un médico con CMP {item['medicoCMP']}"
        if not doctor["colegiaturaValida"]:
            return "Colegiatura del médico no válida", f"El médico {doctor['cmp']} no tiene colegiatura vigente"
        issued = datetime.fromisoformat(item["fechaEmision"])
        now = datetime.now(UTC)
        if issued > now:
            return "Fecha de emisión inválida", "La fecha de emisión está en el futuro"
        expires = issued + timedelta(days=self.validity_days)
        if now > expires:
            return "Receta vencida", f"La receta venció el {expires.date().isoformat()}"
        return None


def _js_int(raw: str | None, default: int) -> int:
    """`parseInt` semantics: leading digits count ("2abc" -> 2); nothing numeric -> the default."""
    match = LEADING_INT.match(raw or "")
    return int(match.group(1)) if match else default
