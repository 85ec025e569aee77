"""JSON views for purchases (/compras). Placeholder until the purchases service lands."""
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from dashboard.errors import OrchestratorError


def _todo() -> JsonResponse:
    raise OrchestratorError("No implementado", status=501, code="no_implementado")


@csrf_exempt
@require_POST
def purchase_register(request: HttpRequest) -> JsonResponse:
    return _todo()


@csrf_exempt
@require_GET
def purchase_list_mine(request: HttpRequest) -> JsonResponse:
    return _todo()


@csrf_exempt
@require_GET
def purchase_list_all(request: HttpRequest) -> JsonResponse:
    return _todo()
