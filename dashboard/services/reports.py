"""What the dashboard shows beyond the API's use cases: sorted, summarised purchase sets, the CSV
export and the home page's cards. Built on `purchases_list` / `prescriptions_list`, so the HTML and
the JSON API share one enrichment and one permission rule.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from django.utils import timezone
from django.utils.translation import gettext as _

from dashboard.clients import Upstreams
from dashboard.concurrency import map_concurrently
from dashboard.money import ZERO, money
from dashboard.services.buyers import remember_buyer_id
from dashboard.services.purchases import (
    UPSTREAM_TZ,
    EnrichedPurchase,
    PurchaseFilters,
    PurchaseListing,
    purchases_list,
)
from dashboard.text import name_key
from dashboard.types import Product, User

PAGE_SIZE = 25
TOP_PRODUCTS = 5
LOW_STOCK_MINIMUM = 10
# The products service has no upper bound on pagesize; a name search matching more is not a filter.
NAME_SEARCH_LIMIT = 500
CATALOGUE_MAX_PAGES = 20

Order = Literal["-fecha", "fecha", "-total", "total"]


@dataclass(frozen=True)
class TopProduct:
    producto_id: int
    nombre: str | None
    unidades: int
    monto: Decimal


@dataclass(frozen=True)
class PurchaseSummary:
    compras: int
    monto: Decimal
    unidades: int
    top: tuple[TopProduct, ...]
    parcial: bool = False  # some line had no price (product unknown or its service down)
    monto_conocido: bool = True  # False when no line's price could be read: the amount is unknown, not 0.00


@dataclass(frozen=True)
class PurchaseReport:
    compras: list[EnrichedPurchase]  # the whole filtered set, sorted
    summary: PurchaseSummary
    advertencias: list[str]


def purchase_scope(caller: User) -> Literal["me", "all"]:
    return "all" if caller.is_admin else "me"


def products_matching(*, upstreams: Upstreams, text: str) -> frozenset[int]:
    """Product ids for "a product name or id": digits are an id, anything else a name search.

    The name search ignores case, accents and repeated spaces ("acido" finds "Ácido Fólico"), as the
    web front-end's does, whatever the products service's collation: the catalogue is read in pages
    of NAME_SEARCH_LIMIT (concurrently, at most CATALOGUE_MAX_PAGES) and matched here with
    `dashboard.text.name_key`. A larger catalogue falls back to the service's own name search.
    """
    text = text.strip()
    if text.isascii() and text.isdigit():
        return frozenset({int(text)})
    wanted = name_key(text)
    first = upstreams.products.products_paged(page=1, pagesize=NAME_SEARCH_LIMIT)
    pages = -(-first.total // max(first.pagesize, 1))
    if pages > CATALOGUE_MAX_PAGES:
        found = upstreams.products.products_by_name(text, pagesize=NAME_SEARCH_LIMIT)
        return frozenset(product.id for product in found.productos)
    rest = map_concurrently(lambda n: upstreams.products.products_paged(page=n, pagesize=NAME_SEARCH_LIMIT),
                            range(2, pages + 1))
    return frozenset(product.id for result in (first, *rest) for product in result.productos
                     if wanted in name_key(product.nombre))


def purchases_sorted(compras: list[EnrichedPurchase], order: Order) -> list[EnrichedPurchase]:
    field = order.lstrip("-")
    descending = order.startswith("-")
    if field == "total":
        return sorted(compras, key=lambda p: (p.total, p.fecha, p.id), reverse=descending)
    return sorted(compras, key=lambda p: (p.fecha, p.id), reverse=descending)


def purchases_summary(compras: list[EnrichedPurchase]) -> PurchaseSummary:
    """Count, amount and units of a purchase set, and its five most bought products (by units)."""
    units: dict[int, int] = {}
    amounts: dict[int, Decimal] = {}
    names: dict[int, str | None] = {}
    for purchase in compras:
        for line in purchase.lines:
            units[line.producto_id] = units.get(line.producto_id, 0) + line.cantidad
            amounts[line.producto_id] = amounts.get(line.producto_id, ZERO) + (line.subtotal or ZERO)
            names[line.producto_id] = names.get(line.producto_id) or line.nombre
    ranked = sorted(units, key=lambda pid: (-units[pid], -amounts[pid], pid))[:TOP_PRODUCTS]
    return PurchaseSummary(
        compras=len(compras),
        monto=money(sum((p.total for p in compras), ZERO)),
        unidades=sum(units.values()),
        top=tuple(TopProduct(pid, names[pid], units[pid], money(amounts[pid])) for pid in ranked),
        parcial=any(p.incompleta for p in compras),
        monto_conocido=not compras or any(line.precio is not None for p in compras for line in p.lines),
    )


def purchase_report(*, upstreams: Upstreams, caller: User, filters: PurchaseFilters,
                    producto: str = "", order: Order = "-fecha") -> PurchaseReport:
    """The caller's visible purchases (ADMIN: everyone's) after the filters, sorted and summarised.

    Sorting by total and the summary need every matching purchase's prices, so the whole filtered
    set is enriched (still one product call per distinct id); the view paginates it.
    """
    product_ids = products_matching(upstreams=upstreams, text=producto) if producto.strip() else None
    if product_ids is not None and not product_ids:
        return PurchaseReport(compras=[], summary=purchases_summary([]), advertencias=[])
    if product_ids is not None and len(product_ids) == 1:
        filters = PurchaseFilters(usuario_id=filters.usuario_id, desde=filters.desde, hasta=filters.hasta,
                                  producto_id=next(iter(product_ids)))
    listing = purchases_list(upstreams=upstreams, caller=caller, scope=purchase_scope(caller), filters=filters)
    if purchase_scope(caller) == "me" and filters == PurchaseFilters():
        remember_buyer_id(caller.dni, listing.compras)  # for "dispensado X de Y" on the ADMIN's review page
    compras = listing.compras
    if product_ids is not None and len(product_ids) > 1:
        compras = [p for p in compras if any(line.producto_id in product_ids for line in p.lines)]
    return PurchaseReport(compras=purchases_sorted(compras, order), summary=purchases_summary(compras),
                          advertencias=listing.advertencias)


def report_kept(report: PurchaseReport, keep: Callable[[EnrichedPurchase], bool]) -> PurchaseReport:
    """The same report restricted to the purchases `keep` accepts (order kept, summary recomputed)."""
    compras = [p for p in report.compras if keep(p)]
    return PurchaseReport(compras=compras, summary=purchases_summary(compras), advertencias=report.advertencias)


# Prices are today's catalogue prices (no service stores what was charged), and the header says so.
CSV_HEADER = ["compra_id", "fecha", "usuario_id", "producto_id", "producto", "tipo", "cantidad",
              "precio_unitario_catalogo_actual", "subtotal_catalogo_actual", "observacion"]


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (names come from upstream data)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _money_cell(value: Decimal | None) -> str:
    """Always 2 decimals ("3.50"); empty when the price could not be read, never 0.00."""
    return "" if value is None else f"{money(value):.2f}"


def purchase_csv_rows(compras: list[EnrichedPurchase]) -> Iterator[list[str]]:
    """The export: a header, then one row per product line."""
    yield CSV_HEADER
    for purchase in compras:
        fecha = purchase.fecha.astimezone(UPSTREAM_TZ).strftime("%d/%m/%Y %H:%M:%S")
        for line in purchase.lines:
            yield [_cell(v) for v in (
                purchase.id, fecha, purchase.usuario_id, line.producto_id, line.nombre, line.tipo, line.cantidad,
                _money_cell(line.precio), _money_cell(line.subtotal), line.error,
            )]


# Home page ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PurchaseTotals:
    compras: int
    monto: Decimal
    parcial: bool = False


def _totals(compras: list[EnrichedPurchase]) -> PurchaseTotals:
    return PurchaseTotals(len(compras), money(sum((p.total for p in compras), ZERO)),
                          any(p.incompleta for p in compras))


def purchases_today_and_month(*, upstreams: Upstreams,
                              caller: User) -> tuple[PurchaseTotals, PurchaseTotals, list[str]]:
    """Everyone's purchases today and this calendar month (Lima), with their amounts (ADMIN)."""
    today = timezone.now().astimezone(UPSTREAM_TZ).date()
    listing: PurchaseListing = purchases_list(upstreams=upstreams, caller=caller, scope="all",
                                              filters=PurchaseFilters(desde=today.replace(day=1)))
    of_today = [p for p in listing.compras if p.fecha.astimezone(UPSTREAM_TZ).date() == today]
    return _totals(of_today), _totals(listing.compras), listing.advertencias


def low_stock(*, upstreams: Upstreams, limit: int = 5) -> tuple[int, tuple[Product, ...]]:
    """How many products are under `LOW_STOCK_MINIMUM` units, and the scarcest few."""
    page = upstreams.products.products_low_stock(minimo=LOW_STOCK_MINIMUM, pagesize=NAME_SEARCH_LIMIT)
    scarcest = tuple(sorted(page.productos, key=lambda p: (p.stock, p.nombre))[:limit])
    return page.total, scarcest


def month_label(day: dt.date | None = None) -> str:
    months = [_("enero"), _("febrero"), _("marzo"), _("abril"), _("mayo"), _("junio"), _("julio"), _("agosto"),
              _("septiembre"), _("octubre"), _("noviembre"), _("diciembre")]
    day = day or timezone.now().astimezone(UPSTREAM_TZ).date()
    return f"{months[day.month - 1]} {day.year}"
