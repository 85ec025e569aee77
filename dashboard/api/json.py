"""JSON in and out for the API views."""
from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, JsonResponse

from dashboard.errors import BadRequest


def json_response(data: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, safe=False, json_dumps_params={"ensure_ascii": False})


def json_body(request: HttpRequest, *, allow_empty: bool = False) -> Any:
    """The request's JSON body; 400 with a clear cause for anything that is not JSON."""
    raw = request.body
    if not raw.strip():
        if allow_empty:
            return None
        raise BadRequest("El cuerpo de la solicitud debe ser JSON", code="json_invalido")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadRequest("El cuerpo de la solicitud debe estar en UTF-8", code="json_invalido") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"JSON mal formado (línea {exc.lineno}, columna {exc.colno})", code="json_invalido"
        ) from exc
