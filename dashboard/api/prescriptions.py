"""JSON views for prescriptions (/recetas). Placeholder until the prescriptions service lands."""
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from dashboard.errors import OrchestratorError


def _todo() -> JsonResponse:
    raise OrchestratorError("No implementado", status=501, code="no_implementado")


@csrf_exempt
@require_http_methods(["PUT"])
def prescription_set_state(request: HttpRequest, receta_id: str) -> JsonResponse:
    return _todo()


@csrf_exempt
@require_http_methods(["PUT"])
def prescription_validate(request: HttpRequest, receta_id: str) -> JsonResponse:
    return _todo()
