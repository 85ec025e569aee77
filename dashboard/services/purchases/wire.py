"""Purchases on the wire: the 201 receipt and listed purchases as the API spec shows them."""
from __future__ import annotations

import logging
from typing import Any

from django.utils.translation import gettext_lazy as _

from dashboard import metrics
from dashboard.money import money_wire
from dashboard.services.purchases.listing import EnrichedPurchase, PurchaseLine, PurchaseListing
from dashboard.services.purchases.register import PurchaseReceipt
from dashboard.types import Product, Purchase

logger = logging.getLogger("dashboard.purchases")

REDUCED = _("La compra quedó registrada, pero no se pudo calcular su detalle de precios; consúltela en el "
            "listado de compras.")


def receipt_to_wire(receipt: PurchaseReceipt) -> dict[str, Any]:
    """The 201 body of the API spec (a reduced one, with `advertencias`, when prices could not be built)."""
    purchase = receipt.purchase
    if receipt.advertencias:
        return _reduced(receipt)
    try:
        return {
            **_purchase_keys(purchase),
            "productos_detalle": [
                {**_product_keys(line.product.id, line.cantidad, line.product),
                 "descuento": float(line.descuento), "precio_final": money_wire(line.precio_final),
                 "subtotal": money_wire(line.subtotal)}
                for line in receipt.lines
            ],
            "total": money_wire(receipt.total),
            "datos_adicionales": receipt.datos_adicionales,
        }
    except Exception:  # noqa: BLE001 - the purchase is stored: a 201 with what is known, never a 5xx
        logger.exception("purchase %s stored but its receipt could not be written", purchase.id)
        metrics.record_receipt_error()
        return _reduced(receipt)


def _reduced(receipt: PurchaseReceipt) -> dict[str, Any]:
    purchase = receipt.purchase
    return {**_purchase_keys(purchase),
            "productos_detalle": [{"producto_id": pid, "cantidad": qty}
                                  for pid, qty in zip(purchase.productos, purchase.cantidades, strict=True)],
            "total": None, "datos_adicionales": receipt.datos_adicionales,
            "advertencias": list(receipt.advertencias) or [REDUCED]}


def _purchase_keys(purchase: Purchase) -> dict[str, Any]:
    # The seed's keys and the upstream's, both: older clients read one set, newer ones the other.
    return {"id": purchase.id, "fecha_compra": purchase.fecha_compra, "usuario_id": purchase.usuario_id,
            "fechaCompra": purchase.fecha_compra, "usuarioId": purchase.usuario_id,
            "productos": list(purchase.productos), "cantidades": list(purchase.cantidades)}


def _product_keys(producto_id: int, cantidad: int, product: Product | None) -> dict[str, Any]:
    return {"producto_id": producto_id, "cantidad": cantidad,
            "nombre": product.nombre if product else None,
            "precio": money_wire(product.precio) if product else None,
            "tipo": product.tipo if product else None,
            "requiere_receta": product.requiere_receta if product else None,
            "stock": product.stock if product else None}


def _line_to_wire(line: PurchaseLine) -> dict[str, Any]:
    wire = {"producto_id": line.producto_id, "cantidad": line.cantidad, "nombre": line.nombre,
            "precio": money_wire(line.precio), "tipo": line.tipo, "stock": line.stock,
            "requiere_receta": line.requiere_receta}
    if line.error:
        wire["error"] = line.error
    return wire


def purchase_to_wire(purchase: EnrichedPurchase, lines: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A listed purchase as the API spec shows it: both key sets, money as numbers.

    `lines`: the wire form of lines already written, by line identity (a listing shares one line
    object per product and quantity, so each is rounded and built once however many purchases hold it).
    """
    if lines is None:
        lines = {}
    detail = []
    for line in purchase.lines:
        wire = lines.get(id(line))
        if wire is None:
            wire = lines[id(line)] = _line_to_wire(line)
        detail.append(wire)
    return {"id": purchase.id, "fecha_compra": purchase.fecha_compra, "usuario_id": purchase.usuario_id,
            "fechaCompra": purchase.fecha_compra, "usuarioId": purchase.usuario_id,
            "productos": [line.producto_id for line in purchase.lines],
            "cantidades": [line.cantidad for line in purchase.lines],
            # The total is a sum of rounded subtotals (already céntimos): no second rounding.
            "productos_detalle": detail, "total": float(purchase.total), "incompleta": purchase.incompleta}


def listing_to_wire(listing: PurchaseListing) -> dict[str, Any]:
    lines: dict[int, dict[str, Any]] = {}
    body: dict[str, Any] = {"compras": [purchase_to_wire(p, lines) for p in listing.compras]}
    if listing.advertencias:
        body["advertencias"] = listing.advertencias
    if listing.page is not None:
        body.update(total=listing.total, page=listing.page, page_size=listing.page_size)
    return body
