"""Purchases: register one (validated, stock taken safely, compensated on failure) and list them enriched.

The JSON API (`dashboard.api.purchases`) and the HTML dashboard call these same functions.

Registering runs in three stages:
1. concurrently: the details of every distinct product, the offers, and (speculatively) the first
   page of the buyer's `validada` prescriptions. Fetching prescriptions before knowing whether a
   product needs one saves a full round trip on every prescription purchase and costs nothing in
   latency otherwise (the stage lasts as long as its slowest call, and the three services answer
   in similar times); its failure is kept aside and only raised when a prescription is needed, so
   the prescriptions service being down never blocks an over-the-counter purchase.
2. under per-product locks (`dashboard.locks`): re-read each stock, re-check, write the new
   absolute stocks concurrently (never negative).
3. `POST /api/compras`. Anything failing after the first stock write gives every unit back (same
   locks, re-read + add back); a failed give-back is logged at CRITICAL and journaled.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _

from dashboard import context, metrics
from dashboard.clients import Upstreams
from dashboard.clients.base import PRODUCT_ID_MAX
from dashboard.concurrency import gather, map_concurrently
from dashboard.errors import (
    BadRequest,
    InsufficientStock,
    NotFound,
    OrchestratorError,
    PermissionDenied,
    PrescriptionRequired,
    ProductNotFound,
    UpstreamError,
    UpstreamRejected,
)
from dashboard.locks import ProductLocks
from dashboard.money import ZERO, money, money_wire
from dashboard.services.prescriptions import validity_check
from dashboard.types import Offer, Prescription, PrescriptionPage, Product, Purchase, User

logger = logging.getLogger("dashboard.purchases")

# The upstreams print naive local times; they run in Lima.
UPSTREAM_TZ = ZoneInfo("America/Lima")
DATOS_ADICIONALES_MAX_BYTES = 2048
PRESCRIPTION_PAGE_SIZE = 100
# More validated prescriptions than this (x100) for one person is not plausible: stop paging there.
PRESCRIPTION_MAX_PAGES = 20
PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 200

_journal_lock = threading.Lock()


# Input -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PurchaseItem:
    producto_id: int
    cantidad: int


@dataclass(frozen=True)
class PurchaseRequest:
    """A validated purchase request: quantities of the same product already added up."""

    items: tuple[PurchaseItem, ...]
    datos_adicionales: dict | None = None

    @property
    def product_ids(self) -> list[int]:
        return [item.producto_id for item in self.items]

    def canonical(self) -> dict[str, Any]:
        """What identifies the request (for `Idempotency-Key`): both body shapes give the same value."""
        return {"productos": [[i.producto_id, i.cantidad] for i in self.items],
                "datos_adicionales": self.datos_adicionales}


def _line_error(line: int, field: str, message: str) -> BadRequest:
    return BadRequest(_("Línea %(linea)s: %(mensaje)s") % {"linea": line, "mensaje": message},
                      code="linea_invalida", details={"linea": line, "campo": field})


def _strict_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_line(line: int, producto_id: Any, cantidad: Any) -> PurchaseItem:
    if not _strict_int(producto_id) or not 0 < producto_id <= PRODUCT_ID_MAX:
        raise _line_error(line, "producto_id", _("'producto_id' debe ser un entero positivo"))
    if not _strict_int(cantidad) or not 1 <= cantidad <= settings.MAX_CANTIDAD:
        raise _line_error(line, "cantidad", _("'cantidad' debe ser un entero entre 1 y %(max)s")
                          % {"max": settings.MAX_CANTIDAD})
    return PurchaseItem(producto_id, cantidad)


def parse_purchase_request(body: Any) -> PurchaseRequest:
    """Validate a purchase body (either shape, see the API spec) into a `PurchaseRequest`; 400 otherwise.

    `dni`/`usuarioId` and unknown keys are ignored: the token decides who buys.
    """
    if not isinstance(body, dict):
        raise BadRequest(_("El cuerpo de la solicitud debe ser un objeto JSON"), code="cuerpo_invalido")
    productos = body.get("productos")
    if not isinstance(productos, list) or not productos:
        raise BadRequest(_("'productos' debe ser una lista con al menos un producto"), code="productos_invalidos",
                         details={"campo": "productos"})
    if len(productos) > settings.MAX_LINEAS:
        raise BadRequest(_("Una compra admite como máximo %(max)s líneas") % {"max": settings.MAX_LINEAS},
                         code="demasiadas_lineas", details={"campo": "productos", "maximo": settings.MAX_LINEAS})
    if "cantidades" in body:
        lines = _parallel_lines(productos, body["cantidades"])
    else:
        lines = _object_lines(productos)
    return PurchaseRequest(items=_aggregate(lines), datos_adicionales=_extra_data(body.get("datos_adicionales")))


def _parallel_lines(productos: list, cantidades: Any) -> list[PurchaseItem]:
    # The existing web front-end's shape: {"productos": [1, 5], "cantidades": [2, 1]}.
    if not isinstance(cantidades, list) or len(cantidades) != len(productos):
        raise BadRequest(_("'productos' y 'cantidades' deben ser listas del mismo largo"),
                         code="listas_desiguales", details={"campo": "cantidades"})
    return [_check_line(n, p, c) for n, (p, c) in enumerate(zip(productos, cantidades, strict=True), start=1)]


def _object_lines(productos: list) -> list[PurchaseItem]:
    lines = []
    for n, line in enumerate(productos, start=1):
        if not isinstance(line, dict):
            raise _line_error(n, "productos", _("debe ser un objeto con 'producto_id' y 'cantidad'"))
        lines.append(_check_line(n, line.get("producto_id"), line.get("cantidad")))
    return lines


def _aggregate(lines: list[PurchaseItem]) -> tuple[PurchaseItem, ...]:
    totals: dict[int, int] = {}
    for item in lines:
        totals[item.producto_id] = totals.get(item.producto_id, 0) + item.cantidad
    for producto_id, cantidad in totals.items():
        if cantidad > settings.MAX_CANTIDAD:
            raise BadRequest(
                _("La cantidad total del producto %(id)s supera el máximo de %(max)s")
                % {"id": producto_id, "max": settings.MAX_CANTIDAD},
                code="cantidad_excedida", details={"producto_id": producto_id, "campo": "cantidad"},
            )
    return tuple(PurchaseItem(p, c) for p, c in totals.items())


def _extra_data(value: Any) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(_("'datos_adicionales' debe ser un objeto"), code="datos_adicionales_invalidos",
                         details={"campo": "datos_adicionales"})
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > DATOS_ADICIONALES_MAX_BYTES:
        raise BadRequest(_("'datos_adicionales' no puede superar los 2 KB"), code="datos_adicionales_invalidos",
                         details={"campo": "datos_adicionales", "maximo_bytes": DATOS_ADICIONALES_MAX_BYTES})
    return value


# Registering -------------------------------------------------------------------------------------
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

    @property
    def total(self) -> Decimal:
        return money(sum((line.subtotal for line in self.lines), ZERO))


def purchase_register(*, upstreams: Upstreams, buyer: User, request: PurchaseRequest) -> PurchaseReceipt:
    """Validate, take the stock and store the purchase for `buyer` (who `/api/user/me` says the token is)."""
    products, offers, prescriptions = _stage_one(upstreams, buyer, request.product_ids)
    _check_stock(request.items, products)
    needing = [item for item in request.items if products[item.producto_id].requiere_receta]
    if needing:
        _check_prescriptions(needing, products, prescriptions(), buyer)
    with ProductLocks(request.product_ids) as locks:
        updated = _take_stock(upstreams, request.items, locks, buyer)
        try:
            purchase = upstreams.users.purchase_create(productos=request.product_ids,
                                                       cantidades=[i.cantidad for i in request.items])
        except Exception as exc:
            _attach_compensation(exc, _give_back(upstreams, locks, {i.producto_id: i.cantidad for i in request.items},
                                                 {}, buyer, "registro_de_compra_fallido"))
            raise
    lines = []
    for item in request.items:
        descuento = _best_discount(offers, item.producto_id)
        product = updated[item.producto_id]
        lines.append(ReceiptLine(product=product, cantidad=item.cantidad, descuento=descuento,
                                 precio_final=money(product.precio * (100 - descuento) / 100)))
    metrics.record_purchase("registered")
    return PurchaseReceipt(purchase=purchase, lines=tuple(lines), datos_adicionales=request.datos_adicionales)


def _stage_one(upstreams: Upstreams, buyer: User,
               product_ids: list[int]) -> tuple[dict[int, Product], list[Offer], Callable[[], list[Prescription]]]:
    calls: list[Callable[[], Any]] = [lambda pid=pid: upstreams.products.product_get(pid) for pid in product_ids]
    calls.append(upstreams.products.offers_all)
    calls.append(lambda: _prescription_page(upstreams, buyer, 1))
    *product_results, offers, first_page = gather(calls, return_exceptions=True)
    products: dict[int, Product] = {}
    for pid, result in zip(product_ids, product_results, strict=True):
        if _is_not_found(result):
            raise _unknown_product(pid)
        if isinstance(result, BaseException):
            raise result
        products[pid] = result
    if isinstance(offers, BaseException):
        raise offers

    def prescriptions() -> list[Prescription]:
        if isinstance(first_page, BaseException):
            raise first_page
        return _remaining_prescriptions(upstreams, buyer, first_page)

    return products, offers, prescriptions


def _unknown_product(pid: int) -> ProductNotFound:
    metrics.record_purchase("refused")
    return ProductNotFound(_("El producto con ID %(id)s no existe") % {"id": pid}, details={"producto_id": pid})


def _is_not_found(result: Any) -> bool:
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
    now = timezone.now()
    # Re-check what the filter promised: a deployment that ignores a filter must not let others' through.
    # The validity window is the one the approval checked (calendar days in Lima), so a prescription
    # shown as "vigente" on the dashboard is honoured all that day.
    valid = [p for p in prescriptions
             if p.estado == "validada" and p.paciente_dni == buyer.dni and validity_check(p.fecha_emision, now=now).ok]
    uncovered = [item for item in needing
                 if not any(line.producto_id == item.producto_id and line.cantidad >= item.cantidad
                            for p in valid for line in p.productos)]
    if uncovered:
        names = [products[item.producto_id].nombre for item in uncovered]
        metrics.record_purchase("refused")
        raise PrescriptionRequired(
            _("Los siguientes productos requieren receta médica validada: %(nombres)s")
            % {"nombres": ", ".join(names)},
            details={"productos_sin_receta": names, "productos_sin_receta_ids": [i.producto_id for i in uncovered]},
        )


def _take_stock(upstreams: Upstreams, items: tuple[PurchaseItem, ...], locks: ProductLocks,
                buyer: User) -> dict[int, Product]:
    """Under the locks: re-read, re-check, write `stock - cantidad`. On a failed write, give back and raise."""
    fresh = gather([lambda pid=item.producto_id: upstreams.products.product_get(pid) for item in items],
                   return_exceptions=True)
    for item, product in zip(items, fresh, strict=True):
        if _is_not_found(product):
            raise _unknown_product(item.producto_id)
        if isinstance(product, BaseException):
            raise product
        if item.cantidad > product.stock:
            raise _insufficient(product, item.cantidad)
    locks.ensure_held()
    targets = {item.producto_id: product.stock - item.cantidad for item, product in zip(items, fresh, strict=True)}
    results = map_concurrently(lambda item: upstreams.products.product_set_stock(item.producto_id,
                                                                                 targets[item.producto_id]),
                               items, return_exceptions=True)
    taken = {i.producto_id: i.cantidad for i, r in zip(items, results, strict=True) if isinstance(r, Product)}
    failed = [(i, r) for i, r in zip(items, results, strict=True) if not isinstance(r, Product)]
    if failed:
        # A write that timed out or failed with a 5xx may still have landed: under our lock the stock
        # is then exactly the target we sent, which is how the give-back recognises it.
        unsure = {i.producto_id: (i.cantidad, targets[i.producto_id]) for i, _r in failed}
        error = failed[0][1]
        compensacion = _give_back(upstreams, locks, taken, unsure, buyer, "actualizacion_de_stock_fallida")
        _attach_compensation(error, compensacion)
        raise error
    return {r.id: r for r in results}


def _give_back(upstreams: Upstreams, locks: ProductLocks, taken: dict[int, int],
               unsure: dict[int, tuple[int, int]], buyer: User, reason: str) -> dict[str, Any]:
    """Add back every unit taken (and each unsure write that landed); journal whatever could not be."""
    if not taken and not unsure:
        return {"estado": "sin_cambios"}

    def restore(pid: int) -> int:
        current = upstreams.products.product_get(pid).stock
        if pid in taken:
            units = taken[pid]
        else:
            units, landed_at = unsure[pid]
            if current != landed_at:
                return 0
        upstreams.products.product_set_stock(pid, current + units)
        return units

    pids = sorted({*taken, *unsure})
    # The failure that brought us here may have used up the request's deadline; giving back must
    # still get its own read and write, or the stock stays taken for a purchase that does not exist.
    with context.deadline_extended(2 * (settings.UPSTREAM_CONNECT_TIMEOUT + settings.UPSTREAM_READ_TIMEOUT)):
        results = (map_concurrently(restore, pids, return_exceptions=True) if locks.reacquire()
                   else [None] * len(pids))
    pending = [{"producto_id": pid, "unidades": taken[pid] if pid in taken else unsure[pid][0],
                **({} if pid in taken else {"solo_si_stock_es": unsure[pid][1]})}
               for pid, result in zip(pids, results, strict=True) if not isinstance(result, int)]
    if not pending:
        metrics.record_purchase("compensated")
        return {"estado": "devuelto"}
    _journal(pending, reason, buyer)
    return {"estado": "pendiente", "productos": pending}


def _journal(pending: list[dict[str, Any]], reason: str, buyer: User) -> None:
    entry = {"fecha": timezone.now().isoformat(), "request_id": context.current().request_id, "motivo": reason,
             "dni": buyer.dni, "productos": pending}
    restore = ", ".join(f"producto {p['producto_id']}: +{p['unidades']}" for p in pending)
    logger.critical("stock NOT given back, restore by hand: %s", restore, extra={"compensacion": entry})
    path = Path(settings.COMPENSATION_JOURNAL)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _journal_lock, path.open("a", encoding="utf-8") as journal:
            journal.write(json.dumps(entry, ensure_ascii=False) + "\n")
    except OSError:
        logger.critical("compensation journal %s not writable; the line above is the only record", path)


def _attach_compensation(error: BaseException, compensacion: dict[str, Any]) -> None:
    if isinstance(error, OrchestratorError):
        error.details["compensacion"] = compensacion


def _best_discount(offers: list[Offer], product_id: int) -> Decimal:
    now = timezone.now()
    discounts = [d.descuento for o in offers if upstream_time(o.fecha_vencimiento) > now
                 for d in o.detalles if d.producto_id == product_id]
    return max(Decimal(0), min(max(discounts, default=Decimal(0)), Decimal(100)))


def upstream_time(moment: dt.datetime) -> dt.datetime:
    """An upstream datetime as an aware Lima time (naive ones are Lima server time)."""
    return moment.replace(tzinfo=UPSTREAM_TZ) if moment.tzinfo is None else moment.astimezone(UPSTREAM_TZ)


def receipt_to_wire(receipt: PurchaseReceipt) -> dict[str, Any]:
    """The 201 body of the API spec."""
    purchase = receipt.purchase
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


# Listing -----------------------------------------------------------------------------------------
PRODUCT_UNAVAILABLE = "Producto no disponible"


@dataclass(frozen=True)
class PurchaseLine:
    """One product line of a purchase, with the product's current catalogue data when known."""

    producto_id: int
    cantidad: int
    nombre: str | None
    precio: Decimal | None
    tipo: str | None
    stock: int | None
    requiere_receta: bool | None
    error: str | None  # "Producto no disponible" when the product is unknown or could not be read

    @property
    def subtotal(self) -> Decimal | None:
        return None if self.precio is None else money(self.precio * self.cantidad)


@dataclass(frozen=True)
class EnrichedPurchase:
    id: int
    fecha_compra: str  # as the upstream sent it
    fecha: dt.datetime  # aware, America/Lima
    usuario_id: int | None
    lines: tuple[PurchaseLine, ...]
    total: Decimal  # known lines only, current catalogue prices
    incompleta: bool
    # Set by `purchase_get` when a service failed while enriching (listings carry theirs on the listing).
    advertencias: tuple[str, ...] = ()


@dataclass(frozen=True)
class PurchaseFilters:
    usuario_id: int | None = None
    desde: dt.date | None = None
    hasta: dt.date | None = None
    producto_id: int | None = None

    def matches(self, purchase: Purchase) -> bool:
        day = upstream_time(purchase.fecha).date()
        return ((self.usuario_id is None or purchase.usuario_id == self.usuario_id)
                and (self.desde is None or day >= self.desde)
                and (self.hasta is None or day <= self.hasta)
                and (self.producto_id is None or self.producto_id in purchase.productos))


@dataclass(frozen=True)
class PurchaseListing:
    compras: list[EnrichedPurchase]
    advertencias: list[str]
    total: int  # count after filters, before pagination
    page: int | None = None
    page_size: int | None = None


def purchases_list(*, upstreams: Upstreams, caller: User, scope: Literal["me", "all"],
                   filters: PurchaseFilters = PurchaseFilters(), page: int | None = None,
                   page_size: int | None = None) -> PurchaseListing:
    """The caller's purchases (`me`) or everyone's (`all`, ADMIN), newest first, enriched with product data.

    Filters and pagination run before any product is fetched, so only the returned page's products
    are read: one call per distinct product id, concurrently.
    """
    if scope == "all":
        if not caller.is_admin:
            raise PermissionDenied()
        purchases = upstreams.users.purchases_all()
    else:
        purchases = upstreams.users.purchases_mine()
    selected = sorted((p for p in purchases if filters.matches(p)), key=lambda p: (upstream_time(p.fecha), p.id),
                      reverse=True)
    shown = selected
    if page is not None or page_size is not None:
        page, page_size = page or 1, page_size or PAGE_SIZE_DEFAULT
        shown = selected[(page - 1) * page_size:page * page_size]
    enriched, advertencias = _enrich(upstreams, shown)
    return PurchaseListing(compras=enriched, advertencias=advertencias, total=len(selected), page=page,
                           page_size=page_size)


def purchase_get(*, upstreams: Upstreams, caller: User, purchase_id: int) -> EnrichedPurchase:
    """One purchase, enriched; 404 unless the caller may see it (ADMIN: any, CLIENTE: their own)."""
    purchases = upstreams.users.purchases_all() if caller.is_admin else upstreams.users.purchases_mine()
    found = [p for p in purchases if p.id == purchase_id]
    if not found:
        raise NotFound(_("Compra no encontrada"), code="compra_no_encontrada", details={"compra_id": purchase_id})
    enriched, advertencias = _enrich(upstreams, found[:1])
    return replace(enriched[0], advertencias=tuple(advertencias))


def _listing_products(upstreams: Upstreams, ids: list[int]) -> list[Product | BaseException]:
    """Product details for listings, one call per distinct id, concurrently.

    With `PRODUCT_CACHE_SECONDS` > 0 they are cached for that long. Only listings read this cache,
    never the stock check of a purchase; and product details are public (the products service has
    no auth), so one cache entry per product serves every caller without leaking anything.
    """
    ttl = settings.PRODUCT_CACHE_SECONDS
    keys = {pid: f"listado:producto:{pid}" for pid in ids}
    cached = cache.get_many(list(keys.values())) if ttl > 0 else {}
    missing = [pid for pid in ids if keys[pid] not in cached]
    fetched = dict(zip(missing, map_concurrently(upstreams.products.product_get, missing, return_exceptions=True),
                       strict=True))
    if ttl > 0:
        cache.set_many({keys[pid]: product for pid, product in fetched.items() if isinstance(product, Product)}, ttl)
    return [cached[keys[pid]] if keys[pid] in cached else fetched[pid] for pid in ids]


def _enrich(upstreams: Upstreams, purchases: list[Purchase]) -> tuple[list[EnrichedPurchase], list[str]]:
    # The users service stores any ids it is sent (front-ends may post to it directly): one that cannot
    # name a product (0, negative) is a line whose product is not available, not a 400 for the listing.
    ids = sorted({pid for p in purchases for pid in p.productos if 0 < pid <= PRODUCT_ID_MAX})
    results = _listing_products(upstreams, ids)
    products: dict[int, Product | None] = {}
    service_down = False
    for pid, result in zip(ids, results, strict=True):
        if isinstance(result, Product):
            products[pid] = result
        elif _is_not_found(result) or isinstance(result, UpstreamError):
            products[pid] = None
            service_down = service_down or not _is_not_found(result)
        else:
            raise result
    advertencias = [_("Servicio de productos no disponible: detalles incompletos")] if service_down else []
    return [_enriched(p, products) for p in purchases], advertencias


def _enriched(purchase: Purchase, products: Mapping[int, Product | None]) -> EnrichedPurchase:
    lines = []
    for pid, cantidad in zip(purchase.productos, purchase.cantidades, strict=True):
        product = products.get(pid)
        lines.append(PurchaseLine(
            producto_id=pid, cantidad=cantidad,
            nombre=product.nombre if product else None, precio=product.precio if product else None,
            tipo=product.tipo if product else None, stock=product.stock if product else None,
            requiere_receta=product.requiere_receta if product else None,
            error=None if product else PRODUCT_UNAVAILABLE,
        ))
    total = money(sum((line.subtotal for line in lines if line.subtotal is not None), ZERO))
    return EnrichedPurchase(id=purchase.id, fecha_compra=purchase.fecha_compra, fecha=upstream_time(purchase.fecha),
                            usuario_id=purchase.usuario_id, lines=tuple(lines), total=total,
                            incompleta=any(line.error for line in lines))


def purchase_to_wire(purchase: EnrichedPurchase) -> dict[str, Any]:
    """A listed purchase as the API spec shows it: both key sets, money as numbers."""
    detail = []
    for line in purchase.lines:
        wire = {"producto_id": line.producto_id, "cantidad": line.cantidad, "nombre": line.nombre,
                "precio": money_wire(line.precio), "tipo": line.tipo, "stock": line.stock,
                "requiere_receta": line.requiere_receta}
        if line.error:
            wire["error"] = line.error
        detail.append(wire)
    return {"id": purchase.id, "fecha_compra": purchase.fecha_compra, "usuario_id": purchase.usuario_id,
            "fechaCompra": purchase.fecha_compra, "usuarioId": purchase.usuario_id,
            "productos": [line.producto_id for line in purchase.lines],
            "cantidades": [line.cantidad for line in purchase.lines],
            "productos_detalle": detail, "total": money_wire(purchase.total), "incompleta": purchase.incompleta}


def listing_to_wire(listing: PurchaseListing) -> dict[str, Any]:
    body: dict[str, Any] = {"compras": [purchase_to_wire(p) for p in listing.compras]}
    if listing.advertencias:
        body["advertencias"] = listing.advertencias
    if listing.page is not None:
        body.update(total=listing.total, page=listing.page, page_size=listing.page_size)
    return body


def _query_int(query: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = (query.get(name) or "").strip()
    if not raw:
        return None
    # Leading zeros dropped and the length bounded first: int() refuses strings of 4300+ digits (a 500).
    digits = raw.lstrip("0") or "0"
    if (not raw.isascii() or not raw.isdigit() or len(digits) > len(str(high))
            or not low <= int(digits) <= high):
        raise BadRequest(_("El parámetro '%(nombre)s' debe ser un entero entre %(min)s y %(max)s")
                         % {"nombre": name, "min": low, "max": high},
                         code="parametro_invalido", details={"parametro": name})
    return int(digits)


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _query_date(query: Mapping[str, str], name: str) -> dt.date | None:
    raw = (query.get(name) or "").strip()
    if not raw:
        return None
    try:
        # fromisoformat also reads ISO week dates ("2025-W43-2"): only AAAA-MM-DD is documented.
        if not _ISO_DATE.match(raw):
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise BadRequest(_("El parámetro '%(nombre)s' debe ser una fecha AAAA-MM-DD") % {"nombre": name},
                         code="parametro_invalido", details={"parametro": name}) from exc


def parse_purchase_filters(query: Mapping[str, str]) -> tuple[PurchaseFilters, int | None, int | None]:
    """Filters and pagination from a query string; empty values count as absent, bad ones are a 400.

    Giving `page` or `page_size` turns pagination on (the other then takes its default).
    """
    filters = PurchaseFilters(
        usuario_id=_query_int(query, "usuario_id", 1, PRODUCT_ID_MAX),
        desde=_query_date(query, "desde"),
        hasta=_query_date(query, "hasta"),
        producto_id=_query_int(query, "producto_id", 1, PRODUCT_ID_MAX),
    )
    if filters.desde and filters.hasta and filters.desde > filters.hasta:
        raise BadRequest(_("'desde' no puede ser posterior a 'hasta'"), code="parametro_invalido",
                         details={"parametro": "desde"})
    page = _query_int(query, "page", 1, 10**6)
    page_size = _query_int(query, "page_size", 1, PAGE_SIZE_MAX)
    if page is None and page_size is None:
        return filters, None, None
    return filters, page or 1, page_size or PAGE_SIZE_DEFAULT
