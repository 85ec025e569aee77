"""Registering a purchase: validate, then hand the writes to the purchase saga, then the receipt.

1. under the products' locks (the saga takes them first), concurrently: the details of every
   distinct product (its stock is the one the write starts from), the offers, and (speculatively)
   the first page of the buyer's `validada` prescriptions. Fetching prescriptions before knowing whether a
   product needs one saves a full round trip on every prescription purchase and costs nothing in
   latency otherwise; it is only waited for (and its failure only raised) when a prescription is
   needed, so the prescriptions service being slow or down never delays an over-the-counter purchase.
2. the saga (`dashboard.services.purchase_saga`): the attempt journaled, stock written,
   `POST /api/compras`, and every unknown outcome resolved.
3. the receipt, from a draft journaled before registering. An error while building it never turns
   a stored purchase into a 5xx (that would invite a second purchase): 201 with what is known.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from dashboard import metrics
from dashboard.clients import Upstreams
from dashboard.concurrency import gather, map_concurrently, submit
from dashboard.errors import InsufficientStock, PrescriptionRequired, ProductNotFound, UpstreamRejected
from dashboard.money import ZERO, money
from dashboard.services.buyers import remember_buyer_id
from dashboard.services.prescription_allowance import BuyerPrescriptions, uncovered_items
from dashboard.services.purchase_saga.idempotency import Ticket
from dashboard.services.purchase_saga.saga import take_stock_and_register
from dashboard.services.purchases.parsing import PurchaseItem, PurchaseRequest
from dashboard.services.purchases.times import upstream_time
from dashboard.types import Offer, Prescription, PrescriptionPage, Product, Purchase, User

logger = logging.getLogger("dashboard.purchases")

PRESCRIPTION_PAGE_SIZE = 100
# More validated prescriptions than this (x100) for one person is not plausible: stop paging there.
PRESCRIPTION_MAX_PAGES = 20


@dataclass(frozen=True)
class ReceiptLine:
    product: Product  # as written by the stock update: `stock` is what is left
    cantidad: int
    descuento: Decimal
    precio_final: Decimal

    @property
    def subtotal(self) -> Decimal:
        return money(self.precio_final * self.cantidad)


@dataclass(frozen=True)
class PurchaseReceipt:
    purchase: Purchase
    lines: tuple[ReceiptLine, ...]
    datos_adicionales: dict | None = None
    # Set when the purchase is stored but its receipt could not be built whole (it is still a 201).
    advertencias: tuple[str, ...] = ()

    @property
    def total(self) -> Decimal | None:
        if self.advertencias:
            return None
        return money(sum((line.subtotal for line in self.lines), ZERO))


def purchase_register(*, upstreams: Upstreams, buyer: User, request: PurchaseRequest,
                      ticket: Ticket | None = None) -> PurchaseReceipt:
    """Validate, take the stock and store the purchase for `buyer` (who `/api/user/me` says the token is).

    Three round trips: under the products' locks, one concurrent stage reads everything a decision
    needs (each product, so its stock is the one we will write from, the offers and the buyer's
    prescriptions); then the stock writes; then the registration.
    """
    offers: list[Offer] = []

    def validate() -> dict[int, Product]:
        products, stage_offers, prescriptions = _stage_one(upstreams, buyer, request.product_ids)
        _check_stock(request.items, products)
        needing = [item for item in request.items if products[item.producto_id].requiere_receta]
        if needing:
            _check_prescriptions(needing, products, prescriptions(), buyer)
        offers.extend(stage_offers())
        return products

    registered = take_stock_and_register(
        upstreams=upstreams, buyer=buyer, items=[(i.producto_id, i.cantidad) for i in request.items], ticket=ticket,
        validate=validate, draft=lambda updated: receipt_draft(request, updated, offers),
    )
    return receipt_from_draft(registered.purchase, registered.draft)


def receipt_draft(request: PurchaseRequest, updated: Mapping[int, Product], offers: list[Offer]) -> dict[str, Any]:
    """What the receipt will say, journaled before registering so a later resolution can answer it."""
    lines = []
    for item in request.items:
        product = updated[item.producto_id]
        descuento = _best_discount(offers, item.producto_id)
        lines.append({"producto_id": item.producto_id, "cantidad": item.cantidad, "nombre": product.nombre,
                      "precio": str(product.precio), "tipo": product.tipo,
                      "requiere_receta": product.requiere_receta, "stock": product.stock,
                      "descuento": str(descuento),
                      "precio_final": str(money(product.precio * (100 - descuento) / 100))})
    return {"lineas": lines, "datos_adicionales": request.datos_adicionales}


def receipt_from_draft(purchase: Purchase, draft: dict[str, Any] | None) -> PurchaseReceipt:
    """The receipt of a stored purchase; a draft that is missing or unusable gives a reduced one."""
    datos = (draft or {}).get("datos_adicionales")
    try:
        if draft is None:
            raise ValueError("no draft")
        lines = tuple(
            ReceiptLine(product=Product(id=line["producto_id"], nombre=line["nombre"], tipo=line["tipo"],
                                        precio=money(Decimal(line["precio"])), stock=line["stock"],
                                        requiere_receta=line["requiere_receta"]),
                        cantidad=line["cantidad"], descuento=_finite(Decimal(line["descuento"])),
                        precio_final=money(Decimal(line["precio_final"])))
            for line in draft["lineas"])
        receipt = PurchaseReceipt(purchase=purchase, lines=lines, datos_adicionales=datos)
        receipt.total  # noqa: B018 - a total that cannot be computed is found here, not while answering
        return receipt
    except Exception:  # noqa: BLE001 - the purchase is stored: answer 201 with what is known
        logger.exception("purchase %s stored but its receipt could not be built", purchase.id)
        metrics.record_receipt_error()
        return PurchaseReceipt(purchase=purchase, lines=(), datos_adicionales=datos,
                               advertencias=(_("La compra quedó registrada, pero no se pudo calcular su detalle de "
                                               "precios; consúltela en el listado de compras."),))


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("not a finite amount")
    return value


def _stage_one(upstreams: Upstreams, buyer: User,
               product_ids: list[int]) -> tuple[dict[int, Product], Callable[[], list[Offer]],
                                          Callable[[], list[Prescription]]]:
    """Start every read at once (products first: they decide), but wait only for what decides now.

    The products come back first; the offers are waited for before any stock is taken (a purchase is
    never registered unpriced); the prescriptions only when a product needs one, so an
    over-the-counter purchase never waits for the prescriptions service (slow, down, or just the
    last of the stage to answer)."""
    calls: list[Callable[[], Any]] = [lambda pid=pid: upstreams.products.product_get(pid) for pid in product_ids]
    calls.append(upstreams.products.offers_all)
    calls.append(lambda: _prescription_page(upstreams, buyer, 1))
    if len(calls) <= settings.UPSTREAM_REQUEST_FANOUT:
        pending = [submit(call) for call in calls]
        results = [_outcome(future) for future in pending[:len(product_ids)]]
        offers_future, first_page_future = pending[len(product_ids):]
    else:  # more than one request may run at once: the bounded gather, waiting for every read
        *results, offers_done, first_page_done = gather(calls, return_exceptions=True)
        offers_future, first_page_future = _done(offers_done), _done(first_page_done)
    products: dict[int, Product] = {}
    for pid, result in zip(product_ids, results, strict=True):
        if is_not_found(result):
            raise _unknown_product(pid)
        if isinstance(result, BaseException):
            raise result
        products[pid] = result

    def offers() -> list[Offer]:
        return offers_future.result()

    def prescriptions() -> list[Prescription]:
        first_page = first_page_future.result()
        # Needed only now: the buyer's purchases (what used their prescriptions up) beside the other pages.
        found, bought = gather([lambda: _remaining_prescriptions(upstreams, buyer, first_page),
                                upstreams.users.purchases_mine])
        return BuyerPrescriptions(found, bought)

    return products, offers, prescriptions


def _outcome(future: Future) -> Any:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - returned like gather(return_exceptions=True) does
        return exc


def _done(result: Any) -> Future:
    future: Future = Future()
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
    return future


def _unknown_product(pid: int) -> ProductNotFound:
    metrics.record_purchase("refused")
    return ProductNotFound(_("El producto con ID %(id)s no existe") % {"id": pid}, details={"producto_id": pid})


def is_not_found(result: Any) -> bool:
    return isinstance(result, UpstreamRejected) and result.status == 404


def _prescription_page(upstreams: Upstreams, buyer: User, page: int) -> PrescriptionPage:
    return upstreams.prescriptions.prescriptions_filter(dni=buyer.dni, estado="validada", page=page,
                                                        pagesize=PRESCRIPTION_PAGE_SIZE)


def _remaining_prescriptions(upstreams: Upstreams, buyer: User, first: PrescriptionPage) -> list[Prescription]:
    size = max(first.pagesize, 1)  # the upstream clamps pagesize; trust what it says it used
    pages = min(-(-first.total // size), PRESCRIPTION_MAX_PAGES)
    rest = map_concurrently(lambda n: _prescription_page(upstreams, buyer, n), range(2, pages + 1))
    return [p for page in (first, *rest) for p in page.items]


def _check_stock(items: tuple[PurchaseItem, ...], products: Mapping[int, Product]) -> None:
    for item in items:
        product = products[item.producto_id]
        if item.cantidad > product.stock:
            raise _insufficient(product, item.cantidad)


def _insufficient(product: Product, requested: int) -> InsufficientStock:
    metrics.record_purchase("refused")
    return InsufficientStock(
        _("Stock insuficiente para el producto '%(nombre)s'. Disponible: %(disponible)s, Solicitado: %(solicitado)s")
        % {"nombre": product.nombre, "disponible": product.stock, "solicitado": requested},
        details={"producto_id": product.id, "disponible": product.stock, "solicitado": requested},
    )


def _check_prescriptions(needing: list[PurchaseItem], products: Mapping[int, Product],
                         prescriptions: list[Prescription], buyer: User) -> None:
    # Prescriptions are used up by what the buyer bought with them: see services/prescription_allowance.py.
    bought = getattr(prescriptions, "purchases", [])
    remember_buyer_id(buyer.dni, bought)
    short = uncovered_items(needed=[(item.producto_id, item.cantidad) for item in needing],
                            prescriptions=prescriptions, purchases=bought, dni=buyer.dni)
    if short:
        names = [products[s.producto_id].nombre for s in short]
        metrics.record_purchase("refused")
        raise PrescriptionRequired(
            _("Los siguientes productos requieren receta médica validada: %(nombres)s")
            % {"nombres": ", ".join(names)},
            details={"productos_sin_receta": names, "productos_sin_receta_ids": [s.producto_id for s in short],
                     "unidades_disponibles": [{"producto_id": s.producto_id, "solicitado": s.solicitado,
                                               "disponible": s.disponible} for s in short]},
        )


def _best_discount(offers: list[Offer], product_id: int) -> Decimal:
    now = timezone.now()
    discounts = [d.descuento for o in offers if upstream_time(o.fecha_vencimiento) > now
                 for d in o.detalles if d.producto_id == product_id]
    return max(Decimal(0), min(max(discounts, default=Decimal(0)), Decimal(100)))
