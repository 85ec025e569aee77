"""Listing purchases: order, enrichment (one call per distinct product, concurrently), filters, pagination."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import requests

from dashboard.errors import BadRequest, NotFound, PermissionDenied
from dashboard.services.purchases import (
    PurchaseFilters,
    parse_purchase_filters,
    purchase_get,
    purchase_to_wire,
    purchases_list,
)
from tests.conftest import PRESCRIPTIONS, PRODUCTS, USERS
from tests.payloads import product_payload, purchase_payload
from tests.services.test_purchases_support import FakeProducts, Overlap, buyer, calls, product_url, upstreams

MINE = f"{USERS}/api/compras/me"
ALL = f"{USERS}/api/compras/all"


def listing(scope="me", role="CLIENTE", **kw):
    return purchases_list(upstreams=upstreams(), caller=buyer(role), scope=scope, **kw)


SEED = [
    purchase_payload(1, productos=[1, 2], cantidades=[2, 1], fecha="2025-10-01T09:00:00.000001", usuario_id=3),
    purchase_payload(2, productos=[2], cantidades=[3], fecha="2025-10-03T23:30:00", usuario_id=4),
    purchase_payload(3, productos=[3, 1], cantidades=[1, 1], fecha="2025-10-03T23:30:00", usuario_id=3),
    purchase_payload(4, productos=[1], cantidades=[5], fecha="2025-10-05T08:00:00", usuario_id=5),
]


@pytest.fixture
def catalogue(mocked):
    return FakeProducts(mocked, product_payload(1, precio=5.5), product_payload(2, precio=2.25),
                        product_payload(3, precio=10.0))


def test_purchases_list_is_newest_first_with_ties_by_id(mocked, catalogue):
    mocked.get(MINE, json=SEED)
    assert [p.id for p in listing().compras] == [4, 3, 2, 1]


def test_purchases_list_dates_are_aware_lima_times(mocked, catalogue):
    # the users service prints UTC without an offset (its container has no TZ): 09:00 UTC is 04:00 in Lima
    mocked.get(MINE, json=SEED[:1])
    fecha = listing().compras[0].fecha
    assert fecha.utcoffset() == dt.timedelta(hours=-5) and (fecha.hour, fecha.minute) == (4, 0)


def test_purchases_list_reads_naive_times_in_the_configured_zone(mocked, catalogue, settings):
    settings.UPSTREAM_TIMEZONE_USUARIOS = "America/Lima"
    mocked.get(MINE, json=SEED[:1])
    purchase = listing().compras[0]
    assert (purchase.fecha.hour, purchase.fecha.minute) == (9, 0)
    assert purchase.fecha_compra.endswith("T09:00:00.000001-05:00")


def test_an_evening_purchase_in_lima_stays_on_its_day(mocked, catalogue):
    # 2025-10-22 02:30 UTC is 21:30 of the 21st in Lima: filters, "today" and CSV count it on the 21st
    mocked.get(MINE, json=[{**SEED[0], "fechaCompra": "2025-10-22T02:30:00.000001"}])
    purchase = listing().compras[0]
    assert purchase.fecha.date() == dt.date(2025, 10, 21)
    assert purchase.fecha_compra == "2025-10-21T21:30:00.000001-05:00"


def test_purchases_list_reads_each_distinct_product_once(mocked, catalogue):
    mocked.get(MINE, json=SEED)
    listing()
    assert [calls(mocked, "GET", product_url(p)) for p in (1, 2, 3)] == [1, 1, 1]
    assert calls(mocked, "GET", MINE) == 1 and len(mocked.calls) == 4


def test_purchases_list_reads_products_once_per_ttl_with_the_listing_cache(mocked, catalogue, settings):
    settings.PRODUCT_CACHE_SECONDS = 30
    mocked.get(MINE, json=SEED)
    first = listing()
    second = listing()
    assert [calls(mocked, "GET", product_url(p)) for p in (1, 2, 3)] == [1, 1, 1]
    assert [line.nombre for line in second.compras[0].lines] == [line.nombre for line in first.compras[0].lines]


def test_purchases_list_without_the_cache_reads_products_every_time(mocked, catalogue, settings):
    settings.PRODUCT_CACHE_SECONDS = 0
    mocked.get(MINE, json=SEED)
    listing()
    listing()
    assert [calls(mocked, "GET", product_url(p)) for p in (1, 2, 3)] == [2, 2, 2]


def test_purchase_stock_check_ignores_the_listing_cache(mocked, settings):
    from dashboard.services.purchases.listing import _listing_products
    from dashboard.services.purchases.register import _stage_one

    settings.PRODUCT_CACHE_SECONDS = 30
    FakeProducts(mocked, product_payload(1, stock=5))
    _listing_products(upstreams(), [1])  # the listing cache now holds product 1
    mocked.get(f"{PRODUCTS}/api/ofertas/all", json=[])
    mocked.get(f"{PRESCRIPTIONS}/api/recetas/filter", json={"page": 1, "pagesize": 100, "total": 0, "items": []})
    before = calls(mocked, "GET", product_url(1))
    _stage_one(upstreams(), buyer("CLIENTE"), [1])
    assert calls(mocked, "GET", product_url(1)) == before + 1


def test_purchases_list_reads_products_concurrently(mocked):
    overlap = Overlap(3)
    FakeProducts(mocked, product_payload(1), product_payload(2), product_payload(3), overlap=overlap)
    mocked.get(MINE, json=SEED)
    listing()
    assert overlap.max_in_flight == 3


def test_purchases_list_totals_at_current_catalogue_prices(mocked, catalogue):
    mocked.get(MINE, json=SEED[:1])
    purchase = listing().compras[0]
    assert purchase.total == Decimal("13.25") and not purchase.incompleta
    assert [line.subtotal for line in purchase.lines] == [Decimal("11.00"), Decimal("2.25")]


def test_purchases_list_marks_a_vanished_product(mocked, catalogue):
    mocked.get(MINE, json=[purchase_payload(1, productos=[1, 9], cantidades=[1, 2])])
    result = listing()
    purchase = result.compras[0]
    assert purchase.incompleta and purchase.total == Decimal("5.50") and result.advertencias == []
    gone = purchase.lines[1]
    assert (gone.producto_id, gone.cantidad, gone.nombre, gone.precio, gone.error) == (9, 2, None, None,
                                                                                         "Producto no disponible")


def test_purchases_list_marks_ids_that_cannot_name_a_product_without_asking(mocked, catalogue):
    mocked.get(MINE, json=[purchase_payload(1, productos=[1, 0, -4], cantidades=[1, 1, 1])])
    purchase = listing().compras[0]
    assert purchase.incompleta and purchase.total == Decimal("5.50")
    assert [line.error for line in purchase.lines] == [None, "Producto no disponible", "Producto no disponible"]
    assert [c.request.url for c in mocked.calls if c.request.url.startswith(PRODUCTS)] == [product_url(1)]


def test_purchases_list_survives_the_products_service_being_down(mocked):
    mocked.get(MINE, json=SEED[:2])
    mocked.get(product_url(1), body=requests.exceptions.ConnectionError("refused"))
    mocked.get(product_url(2), body=requests.exceptions.ConnectionError("refused"))
    result = listing()
    assert result.advertencias == ["Servicio de productos no disponible: detalles incompletos"]
    assert all(line.error == "Producto no disponible" for p in result.compras for line in p.lines)
    assert all(p.incompleta for p in result.compras)


def test_purchases_list_all_requires_admin(mocked):
    with pytest.raises(PermissionDenied):
        listing("all", role="CLIENTE")
    assert not mocked.calls


def test_purchases_list_all_filters_before_reading_products(mocked, catalogue):
    mocked.get(ALL, json=SEED)
    result = listing("all", role="ADMIN", filters=PurchaseFilters(usuario_id=3))
    assert [p.id for p in result.compras] == [3, 1] and result.total == 2
    result = listing("all", role="ADMIN", filters=PurchaseFilters(producto_id=2))
    assert [p.id for p in result.compras] == [2, 1]
    assert calls(mocked, "GET", product_url(3)) == 1  # only by the first listing, which showed purchase 3


def test_purchases_list_all_date_filters_are_inclusive_lima_days(mocked, catalogue):
    mocked.get(ALL, json=SEED)
    result = listing("all", role="ADMIN", filters=PurchaseFilters(desde=dt.date(2025, 10, 3),
                                                                   hasta=dt.date(2025, 10, 3)))
    assert [p.id for p in result.compras] == [3, 2]


def test_purchases_list_paginates_before_reading_products(mocked, catalogue):
    mocked.get(ALL, json=SEED)
    result = listing("all", role="ADMIN", page=2, page_size=2)
    assert [p.id for p in result.compras] == [2, 1]
    assert (result.total, result.page, result.page_size) == (4, 2, 2)
    assert [calls(mocked, "GET", product_url(p)) for p in (1, 2, 3)] == [1, 1, 0]


def test_purchase_to_wire_has_both_key_sets(mocked, catalogue):
    mocked.get(MINE, json=[purchase_payload(7, productos=[1, 9], cantidades=[2, 1])])
    wire = purchase_to_wire(listing().compras[0])
    assert wire == {
        "id": 7, "fecha_compra": "2025-10-21T12:11:47.482913-05:00", "usuario_id": 3,
        "fechaCompra": "2025-10-21T12:11:47.482913-05:00", "usuarioId": 3, "productos": [1, 9], "cantidades": [2, 1],
        "productos_detalle": [
            {"producto_id": 1, "cantidad": 2, "nombre": "Producto 1", "precio": 5.5, "tipo": "Analgesico",
             "stock": 100, "requiere_receta": False},
            {"producto_id": 9, "cantidad": 1, "nombre": None, "precio": None, "tipo": None, "stock": None,
             "requiere_receta": None, "error": "Producto no disponible"},
        ],
        "total": 11.0, "incompleta": True,
    }


def test_purchase_get_lets_an_admin_see_any_purchase(mocked, catalogue):
    mocked.get(ALL, json=SEED)
    assert purchase_get(upstreams=upstreams(), caller=buyer("ADMIN"), purchase_id=2).id == 2
    assert calls(mocked, "GET", product_url(2)) == 1 and calls(mocked, "GET", product_url(1)) == 0


def test_purchase_get_hides_other_peoples_purchases(mocked, catalogue):
    mocked.get(MINE, json=SEED[:1])
    with pytest.raises(NotFound):
        purchase_get(upstreams=upstreams(), caller=buyer("CLIENTE"), purchase_id=2)
    assert calls(mocked, "GET", ALL) == 0


def test_parse_purchase_filters_reads_every_value():
    filters, page, page_size = parse_purchase_filters({"usuario_id": "3", "desde": "2025-10-01", "hasta": "2025-10-31",
                                                       "producto_id": "40", "page": "2", "page_size": "50"})
    assert filters == PurchaseFilters(3, dt.date(2025, 10, 1), dt.date(2025, 10, 31), 40)
    assert (page, page_size) == (2, 50)


def test_parse_purchase_filters_paginates_only_when_asked():
    assert parse_purchase_filters({}) == (PurchaseFilters(), None, None)
    assert parse_purchase_filters({"page_size": "10"})[1:] == (1, 10)
    assert parse_purchase_filters({"page": "3"})[1:] == (3, 20)


def test_parse_purchase_filters_treats_empty_values_as_absent():
    assert parse_purchase_filters({"usuario_id": "", "desde": " ", "page": ""}) == (PurchaseFilters(), None, None)


@pytest.mark.parametrize("query", [
    {"usuario_id": "abc"}, {"usuario_id": "-1"}, {"usuario_id": "0"}, {"usuario_id": "1.5"}, {"producto_id": "x"},
    {"desde": "2025-13-01"}, {"desde": "ayer"}, {"hasta": "2025-10-01T00:00:00"}, {"hasta": "20251001"},
    {"desde": "2025-W43-2"}, {"hasta": "2025-10-1 "},
    {"desde": "2025-10-05", "hasta": "2025-10-01"},
    {"page": "0"}, {"page": "uno"}, {"page_size": "0"}, {"page_size": "201"}, {"usuario_id": "١"},
])
def test_parse_purchase_filters_refuses_bad_values(query):
    with pytest.raises(BadRequest) as raised:
        parse_purchase_filters(query)
    assert raised.value.code == "parametro_invalido"
