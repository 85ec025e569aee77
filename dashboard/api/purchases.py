"""JSON views for purchases (/compras): parse, call the purchases service, answer JSON."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from dashboard.api.json import fast_json_response, json_body, json_response
from dashboard.auth import api_caller, confirmed
from dashboard.errors import UpstreamRejected
from dashboard.services import purchases as service
from dashboard.services.buyers import remember_buyer_id
from dashboard.services.purchase_saga.idempotency import Ticket, fingerprint, idempotency_key, new_key, run_idempotent


# The API authenticates with bearer tokens, never cookies, so CSRF does not apply to it.
@csrf_exempt
@require_POST
def purchase_register(request: HttpRequest) -> JsonResponse:
    buyer, upstreams = api_caller(request)
    key = idempotency_key(request.headers.get("Idempotency-Key"))
    purchase_request = service.parse_purchase_request(json_body(request))
    # Without a key of the caller's, one is made: if the outcome is uncertain, the 504 gives it back
    # so that the caller can learn the outcome without buying twice.
    ticket = Ticket(scope=buyer.dni, key=key or new_key(), generated=key is None,
                    fingerprint=fingerprint(purchase_request.canonical()))

    def register() -> tuple[int, dict]:
        receipt = service.purchase_register(upstreams=upstreams, buyer=buyer, request=purchase_request, ticket=ticket)
        return 201, service.receipt_to_wire(receipt)

    answer = run_idempotent(ticket=ticket, work=register,
                            resolve=lambda attempt: service.purchase_resolve(upstreams=upstreams, buyer=buyer,
                                                                             attempt=attempt))
    response = json_response(answer.body, status=answer.status)
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


@csrf_exempt
@require_GET
def purchase_list_mine(request: HttpRequest) -> JsonResponse:
    # With JWT_SECRET the identity call runs alongside the listing's first stage (see dashboard.auth).
    pending, upstreams = api_caller(request, deferred=True)
    try:
        listing = service.purchases_list(upstreams=upstreams, caller=pending, scope="me")
    except UpstreamRejected:
        confirmed(pending)  # a token the users service refuses is a 401, whatever the listing hit
        raise
    caller = confirmed(pending)
    remember_buyer_id(caller.dni, listing.compras)  # for "dispensado X de Y" on the ADMIN's review page
    return fast_json_response(service.listing_to_wire(listing))


@csrf_exempt
@require_GET
def purchase_list_all(request: HttpRequest) -> JsonResponse:
    caller, upstreams = api_caller(request, admin=True)
    filters, page, page_size = service.parse_purchase_filters(request.GET)
    listing = service.purchases_list(upstreams=upstreams, caller=caller, scope="all", filters=filters, page=page,
                                     page_size=page_size)
    return fast_json_response(service.listing_to_wire(listing))
