"""Listing purchases enriched with product details: filters and pages first, then one call per distinct product."""
from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cached_property
from typing import Literal

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from dashboard import context
from dashboard.clients import Upstreams
from dashboard.clients.base import PRODUCT_ID_MAX
from dashboard.concurrency import map_concurrently
from dashboard.errors import (
    SERVICE_PRODUCTS,
    BadRequest,
    NotFound,
    PermissionDenied,
    UpstreamError,
    UpstreamTimeout,
)
from dashboard.money import ZERO, money
from dashboard.services.purchases.register import is_not_found
from dashboard.services.purchases.times import upstream_time
from dashboard.sharedcache import cache_try
from dashboard.types import Product, Purchase, User

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 200
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

    @cached_property
    def subtotal(self) -> Decimal | None:
        """Rounded once (lines are shared between the purchases of a listing, see `_enrich`)."""
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

    def matches(self, purchase: Purchase, when: dt.datetime | None = None) -> bool:
        """`when`: the purchase's time already converted (`upstream_time`), to convert it once per listing."""
        day = (when or upstream_time(purchase.fecha)).date()
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
    timed = [(upstream_time(p.fecha), p) for p in purchases]  # each time converted once
    selected = sorted(((when, p) for when, p in timed if filters.matches(p, when)),
                      key=lambda pair: (pair[0], pair[1].id), reverse=True)
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
    enriched, advertencias = _enrich(upstreams, [(upstream_time(found[0].fecha), found[0])])
    return replace(enriched[0], advertencias=tuple(advertencias))


_in_flight: dict[int, Future] = {}
_in_flight_lock = threading.Lock()


def _listing_products(upstreams: Upstreams, ids: list[int]) -> list[Product | BaseException]:
    """Product details for listings: one call per distinct id, all at once, shared between requests.

    - Cached for `PRODUCT_CACHE_SECONDS` (default 5; 0 turns it off). Only listings read this cache,
      never the stock check of a purchase; product details are public (the products service has no
      auth), so one entry per product serves every caller without leaking anything.
    - Coalesced: a product another request of this process is already fetching is not fetched
      again; this request waits for that answer (success or failure) within its own deadline.
    """
    ttl = settings.PRODUCT_CACHE_SECONDS
    keys = {pid: f"listado:producto:{pid}" for pid in ids}
    cached = (cache_try(cache.get_many, list(keys.values()), default={}) or {}) if ttl > 0 else {}
    missing = [pid for pid in ids if keys[pid] not in cached]
    owned: list[tuple[int, Future]] = []
    joined: dict[int, Future] = {}
    with _in_flight_lock:
        for pid in missing:
            if pid in _in_flight:
                joined[pid] = _in_flight[pid]
            else:
                _in_flight[pid] = future = Future()
                owned.append((pid, future))

    def fetch(item: tuple[int, Future]) -> Product:
        pid, future = item
        try:
            product = upstreams.products.product_get(pid)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(product)
            return product
        finally:
            with _in_flight_lock:
                _in_flight.pop(pid, None)

    fetched = dict(zip([pid for pid, _f in owned], map_concurrently(fetch, owned, return_exceptions=True),
                       strict=True))
    for pid, future in joined.items():
        fetched[pid] = _shared_result(future)
    if ttl > 0:
        fresh = {keys[pid]: product for pid, product in fetched.items() if isinstance(product, Product)}
        if fresh:
            cache_try(cache.set_many, fresh, ttl)
    return [cached[keys[pid]] if keys[pid] in cached else fetched[pid] for pid in ids]


def _shared_result(future: Future) -> Product | BaseException:
    """The answer another request is fetching, waited for no longer than this request may wait."""
    remaining = context.current().remaining()
    try:
        return future.result(timeout=None if remaining is None else max(remaining, 0))
    except FutureTimeout:
        return UpstreamTimeout(SERVICE_PRODUCTS, details={"motivo": "plazo_de_la_solicitud_agotado"})
    except Exception as exc:  # noqa: BLE001 - the fetch's failure, classified by the caller
        return exc


def _enrich(upstreams: Upstreams,
            timed: list[tuple[dt.datetime, Purchase]]) -> tuple[list[EnrichedPurchase], list[str]]:
    # The users service stores any ids it is sent (front-ends may post to it directly): one that cannot
    # name a product (0, negative) is a line whose product is not available, not a 400 for the listing.
    ids = sorted({pid for _when, p in timed for pid in p.productos if 0 < pid <= PRODUCT_ID_MAX})
    results = _listing_products(upstreams, ids)
    products: dict[int, Product | None] = {}
    service_down = False
    for pid, result in zip(ids, results, strict=True):
        if isinstance(result, Product):
            products[pid] = result
        elif is_not_found(result) or isinstance(result, UpstreamError):
            products[pid] = None
            service_down = service_down or not is_not_found(result)
        else:
            raise result
    advertencias = [_("Servicio de productos no disponible: detalles incompletos")] if service_down else []
    lines: dict[tuple[int, int], PurchaseLine] = {}  # one (immutable) line per product and quantity
    return [_enriched(p, when, products, lines) for when, p in timed], advertencias


def _line(pid: int, cantidad: int, product: Product | None) -> PurchaseLine:
    return PurchaseLine(
        producto_id=pid, cantidad=cantidad,
        nombre=product.nombre if product else None, precio=product.precio if product else None,
        tipo=product.tipo if product else None, stock=product.stock if product else None,
        requiere_receta=product.requiere_receta if product else None,
        error=None if product else PRODUCT_UNAVAILABLE,
    )


def _enriched(purchase: Purchase, when: dt.datetime, products: Mapping[int, Product | None],
              shared: dict[tuple[int, int], PurchaseLine]) -> EnrichedPurchase:
    lines = []
    for pid, cantidad in zip(purchase.productos, purchase.cantidades, strict=True):
        line = shared.get((pid, cantidad))
        if line is None:
            line = shared[(pid, cantidad)] = _line(pid, cantidad, products.get(pid))
        lines.append(line)
    # Subtotals are rounded to céntimos already: their sum is exact and needs no second rounding.
    total = sum((line.subtotal for line in lines if line.subtotal is not None), ZERO)
    return EnrichedPurchase(id=purchase.id, fecha_compra=purchase.fecha_compra, fecha=when,
                            usuario_id=purchase.usuario_id, lines=tuple(lines), total=total,
                            incompleta=any(line.error for line in lines))


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
