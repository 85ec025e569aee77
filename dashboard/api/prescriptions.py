"""JSON views for prescriptions (/recetas): approve, reject or reset a prescription (ADMIN)."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from dashboard.api.json import json_body, json_response
from dashboard.auth import api_caller
from dashboard.clients import prescription_id
from dashboard.errors import BadRequest
from dashboard.services import prescriptions as service


def _set_state(request: HttpRequest, receta_id: str, *, default_estado: str | None) -> JsonResponse:
    # The id is checked before anything else, so a malformed one never costs an upstream call.
    receta_id = prescription_id(receta_id)
    caller, upstreams = api_caller(request, admin=True)
    body = json_body(request, allow_empty=default_estado is not None)
    estado, motivo = service.parse_state_change(body, default_estado=default_estado)
    if default_estado is not None and estado != default_estado:
        raise BadRequest(_("Esta ruta solo valida recetas; use recetas/estado/{id} para otros estados"),
                         code="estado_invalido")
    return json_response(service.prescription_set_state(upstreams=upstreams, caller=caller, receta_id=receta_id,
                                                        estado=estado, motivo=motivo))


# The API authenticates with bearer tokens, never cookies, so CSRF does not apply to it.
@csrf_exempt
@require_http_methods(["PUT"])
def prescription_set_state(request: HttpRequest, receta_id: str) -> JsonResponse:
    """PUT /recetas/estado/{id} {"estadovalidacion": "VALIDADA" | "RECHAZADA" | "PENDIENTE", "motivo"?}."""
    return _set_state(request, receta_id, default_estado=None)


@csrf_exempt
@require_http_methods(["PUT"])
def prescription_validate(request: HttpRequest, receta_id: str) -> JsonResponse:
    """PUT /recetas/validar/{id} (empty body): what the web front-end calls; same as estado VALIDADA."""
    return _set_state(request, receta_id, default_estado=service.VALIDADA)
