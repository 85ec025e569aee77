"""Which requests get JSON errors, and the JSON error itself (shared by the middleware and the error views)."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse

API_PREFIX = "/api/"


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def error_json(status: int, message: str, code: str, **details) -> JsonResponse:
    return JsonResponse({"error": message, "details": {"code": code, **details}}, status=status,
                        json_dumps_params={"ensure_ascii": False})
