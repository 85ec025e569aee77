"""Registering a purchase: input, validation flow, offers, locks, stock taking and compensation."""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests
from django.core.cache import cache
from django.utils import timezone

from dashboard.errors import (
    BadRequest,
    InsufficientStock,
    LockUnavailable,
    PrescriptionRequired,
    ProductNotFound,
    UpstreamFailed,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from dashboard.money import money
from dashboard.services.prescriptions import validity_check
from dashboard.services.purchase_saga.locks import ProductLocks, lock_key
from dashboard.services.purchases import (
    PurchaseItem,
    PurchaseRequest,
    parse_purchase_request,
    purchase_register,
    receipt_to_wire,
)
from dashboard.types import Prescription
from tests.conftest import PRESCRIPTIONS, PRODUCTS, USERS
from tests.payloads import offer_payload, prescription_payload, product_payload
from tests.services.test_purchases_support import (
    ANA,
    LANDS_THEN_TIMES_OUT,
    REFUSED,
    FakeProducts,
    Overlap,
    buyer,
    calls,
    mock_create,
    mock_me,
    mock_my_purchases,
    mock_offers,
    mock_prescriptions,
    product_url,
    purchase_world,
    sent,
    upstreams,
)

RX_FILTER = f"{PRESCRIPTIONS}/api/recetas/filter"
COMPRAS = f"{USERS}/api/compras"


def register(*items: tuple[int, int], **kw):
    request = PurchaseRequest(items=tuple(PurchaseItem(p, c) for p, c in items), **kw)
    return purchase_register(upstreams=upstreams(), buyer=buyer(), request=request)


# Input -------------------------------------------------------------------------------------------
def test_parse_purchase_request_accepts_the_documented_shape():
    parsed = parse_purchase_request({"productos": [{"producto_id": 1, "cantidad": 2},
                                                  {"producto_id": 5, "cantidad": 1}],
                                     "datos_adicionales": {"metodo_pago": "tarjeta"}})
    assert parsed.items == (PurchaseItem(1, 2), PurchaseItem(5, 1))
    assert parsed.datos_adicionales == {"metodo_pago": "tarjeta"}


def test_parse_purchase_request_accepts_the_parallel_lists_of_the_web_front_end():
    parsed = parse_purchase_request({"productos": [1, 5], "cantidades": [2, 1], "dni": "99999999", "usuarioId": 7})
    assert parsed.items == (PurchaseItem(1, 2), PurchaseItem(5, 1))


def test_parse_purchase_request_adds_up_the_same_product():
    parsed = parse_purchase_request({"productos": [1, 5, 1], "cantidades": [2, 1, 3]})
    assert parsed.items == (PurchaseItem(1, 5), PurchaseItem(5, 1))


def test_parse_purchase_request_gives_both_shapes_the_same_fingerprint_source():
    objects = parse_purchase_request({"productos": [{"producto_id": 1, "cantidad": 2}]})
    parallel = parse_purchase_request({"productos": [1], "cantidades": [2], "dni": "1"})
    assert objects.canonical() == parallel.canonical()


def _line(producto_id, cantidad):
    return {"productos": [{"producto_id": 1, "cantidad": 1}, {"producto_id": producto_id, "cantidad": cantidad}]}


@pytest.mark.parametrize("body, campo", [
    (_line(True, 1), "producto_id"),
    (_line(2.0, 1), "producto_id"),
    (_line("2", 1), "producto_id"),
    (_line(None, 1), "producto_id"),
    (_line(0, 1), "producto_id"),
    (_line(-3, 1), "producto_id"),
    (_line(10**18, 1), "producto_id"),
    (_line(2, False), "cantidad"),
    (_line(2, 1.5), "cantidad"),
    (_line(2, 2.0), "cantidad"),
    (_line(2, "2"), "cantidad"),
    (_line(2, None), "cantidad"),
    (_line(2, 0), "cantidad"),
    (_line(2, -1), "cantidad"),
    (_line(2, 1000), "cantidad"),
    ({"productos": [{"producto_id": 1, "cantidad": 1}, {"producto_id": 2}]}, "cantidad"),
    ({"productos": [{"producto_id": 1, "cantidad": 1}, 2]}, "productos"),
    ({"productos": [1, "2"], "cantidades": [1, 1]}, "producto_id"),
    ({"productos": [1, 2], "cantidades": [1, True]}, "cantidad"),
])
def test_parse_purchase_request_names_the_bad_line_and_field(body, campo):
    with pytest.raises(BadRequest) as raised:
        parse_purchase_request(body)
    assert raised.value.code == "linea_invalida"
    assert raised.value.details == {"linea": 2, "campo": campo}
    assert raised.value.message.startswith("Línea 2: ")


@pytest.mark.parametrize("body, code", [
    ([{"producto_id": 1, "cantidad": 1}], "cuerpo_invalido"),
    ("compra", "cuerpo_invalido"),
    (None, "cuerpo_invalido"),
    ({}, "productos_invalidos"),
    ({"productos": []}, "productos_invalidos"),
    ({"productos": {"producto_id": 1}}, "productos_invalidos"),
    ({"productos": [1, 2], "cantidades": [1]}, "listas_desiguales"),
    ({"productos": [1], "cantidades": 1}, "listas_desiguales"),
    ({"productos": [1, 1], "cantidades": [999, 1]}, "cantidad_excedida"),
    ({"productos": [1], "cantidades": [1], "datos_adicionales": "tarjeta"}, "datos_adicionales_invalidos"),
    ({"productos": [1], "cantidades": [1], "datos_adicionales": {"x": "a" * 2100}}, "datos_adicionales_invalidos"),
])
def test_parse_purchase_request_refuses_bad_shapes(body, code):
    with pytest.raises(BadRequest) as raised:
        parse_purchase_request(body)
    assert raised.value.code == code


def test_parse_purchase_request_limits_the_number_of_lines(settings):
    settings.MAX_LINEAS = 3
    with pytest.raises(BadRequest) as raised:
        parse_purchase_request({"productos": [1, 2, 3, 4], "cantidades": [1, 1, 1, 1]})
    assert raised.value.code == "demasiadas_lineas"


# Validation flow ---------------------------------------------------------------------------------
def test_purchase_register_takes_stock_and_posts_only_the_aggregated_lists(mocked):
    fake = purchase_world(mocked, product_payload(1, stock=10), product_payload(5, stock=3))
    receipt = register((1, 2), (5, 3), datos_adicionales={"metodo_pago": "tarjeta"})
    assert (fake.stock(1), fake.stock(5)) == (8, 0)
    assert sent(mocked, "POST", COMPRAS) == [{"productos": [1, 5], "cantidades": [2, 3]}]
    assert receipt.purchase.id == 15 and receipt.datos_adicionales == {"metodo_pago": "tarjeta"}


def test_purchase_register_reads_each_product_once_under_its_lock(mocked):
    fake = purchase_world(mocked, product_payload(1), product_payload(5))
    locked_when_read = []
    fake.after_get = lambda pid, nth: locked_when_read.append(cache.get(lock_key(pid)) is not None)
    register((1, 2), (5, 1))
    # Three round trips: one read per product (under its lock: the stock the write starts from),
    # one write per product, one registration.
    assert locked_when_read == [True, True]
    assert [calls(mocked, "GET", product_url(p)) for p in (1, 5)] == [1, 1]
    assert [calls(mocked, "PUT", product_url(p)) for p in (1, 5)] == [1, 1]
    assert calls(mocked, "GET", f"{PRODUCTS}/api/ofertas/all") == 1
    assert calls(mocked, "POST", COMPRAS) == 1


def test_purchase_register_fetches_products_offers_and_prescriptions_concurrently(mocked):
    overlap = Overlap(4)
    mock_me(mocked)
    FakeProducts(mocked, product_payload(1), product_payload(2), overlap=overlap)
    mocked.add_callback("GET", f"{PRODUCTS}/api/ofertas/all", callback=overlap.wrap(lambda r: (200, {}, "[]")))
    mocked.add_callback("GET", RX_FILTER, callback=overlap.wrap(
        lambda r: (200, {}, json.dumps({"page": 1, "pagesize": 100, "total": 0, "items": []}))))
    mock_create(mocked)
    register((1, 1), (2, 1))
    assert overlap.max_in_flight >= 4


def test_purchase_register_refuses_an_unknown_product_before_taking_anything(mocked):
    purchase_world(mocked, product_payload(1))
    with pytest.raises(ProductNotFound) as raised:
        register((1, 1), (9, 1))
    assert raised.value.message == "El producto con ID 9 no existe"
    assert raised.value.details == {"producto_id": 9}
    assert calls(mocked, "PUT", product_url(1)) == 0 and calls(mocked, "POST", COMPRAS) == 0


def test_purchase_register_refuses_stock_on_the_aggregated_quantity(mocked):
    purchase_world(mocked, product_payload(1, nombre="Paracetamol 500mg", stock=4))
    request = parse_purchase_request({"productos": [1, 1], "cantidades": [3, 2]})
    with pytest.raises(InsufficientStock) as raised:
        purchase_register(upstreams=upstreams(), buyer=buyer(), request=request)
    assert raised.value.message == ("Stock insuficiente para el producto 'Paracetamol 500mg'. "
                                    "Disponible: 4, Solicitado: 5")
    assert raised.value.as_dict()["details"] == {"code": "stock_insuficiente", "producto_id": 1, "disponible": 4,
                                                 "solicitado": 5}
    assert calls(mocked, "PUT", product_url(1)) == 0


def test_purchase_register_checks_the_stock_it_read_under_the_lock(mocked, settings):
    settings.STOCK_LOCK_WAIT = 0.05
    fake = purchase_world(mocked, product_payload(1, stock=5))
    cache.add(lock_key(1), "otra-compra", 30)  # another purchase is writing this product right now
    with pytest.raises(LockUnavailable):
        register((1, 3))
    assert calls(mocked, "GET", product_url(1)) == 0  # nothing is read before the lock is ours
    cache.delete(lock_key(1))
    fake.products[1]["stock"] = 1  # what that purchase left
    with pytest.raises(InsufficientStock) as raised:
        register((1, 3))
    assert raised.value.details["disponible"] == 1
    assert calls(mocked, "PUT", product_url(1)) == 0 and fake.stock(1) == 1


# Prescriptions -----------------------------------------------------------------------------------
AMOX = product_payload(40, nombre="Amoxicilina 500mg", stock=40, requiere_receta=True)
PARA = product_payload(1, nombre="Paracetamol 500mg", stock=100)


def test_purchase_register_refuses_a_prescription_product_without_prescription(mocked):
    purchase_world(mocked, AMOX, PARA)
    with pytest.raises(PrescriptionRequired) as raised:
        register((40, 2), (1, 1))
    assert raised.value.message == "Los siguientes productos requieren receta médica validada: Amoxicilina 500mg"
    assert raised.value.details == {"productos_sin_receta": ["Amoxicilina 500mg"], "productos_sin_receta_ids": [40],
                                    "unidades_disponibles": [{"producto_id": 40, "solicitado": 2, "disponible": 0}]}
    assert calls(mocked, "PUT", product_url(40)) == 0


def test_purchase_register_asks_for_the_token_buyers_validated_prescriptions(mocked):
    purchase_world(mocked, AMOX, prescriptions=[prescription_payload(productos=[(40, "Amoxicilina 500mg", 2)],
                                                                     estado="validada")])
    register((40, 2))
    query = mocked.calls[[c.request.url.split("?")[0] for c in mocked.calls].index(RX_FILTER)].request.params
    assert query == {"dni": ANA, "estado": "validada", "page": "1", "pagesize": "100"}


@pytest.mark.parametrize("prescription", [
    prescription_payload(days_ago=45, productos=[(40, "Amoxicilina 500mg", 2)], estado="validada"),  # expired
    prescription_payload(productos=[(40, "Amoxicilina 500mg", 1)], estado="validada"),  # prescribes fewer
    prescription_payload(productos=[(41, "Amoxicilina 875mg", 2)], estado="validada"),  # another product
    prescription_payload(productos=[(40, "Amoxicilina 500mg", 2)], estado="pendiente"),  # not validated
    prescription_payload(dni="11111111", productos=[(40, "Amoxicilina 500mg", 2)], estado="validada"),  # not theirs
    prescription_payload(days_ago=-3, productos=[(40, "Amoxicilina 500mg", 2)], estado="validada"),  # future
], ids=["expired", "insufficient", "other_product", "pending", "other_patient", "future"])
def test_purchase_register_refuses_a_prescription_that_does_not_cover(mocked, prescription):
    purchase_world(mocked, AMOX, prescriptions=[prescription])
    with pytest.raises(PrescriptionRequired):
        register((40, 2))
    assert calls(mocked, "PUT", product_url(40)) == 0


def test_purchase_register_accepts_a_covering_prescription(mocked):
    fake = purchase_world(mocked, AMOX, prescriptions=[
        prescription_payload(productos=[(40, "Amoxicilina 500mg", 3)], estado="validada", days_ago=29)])
    register((40, 2))
    assert fake.stock(40) == 38


def _issued_days_ago_in_lima(days: int) -> str:
    today = timezone.now().astimezone(ZoneInfo("America/Lima")).date()
    return f"{today - dt.timedelta(days=days):%Y-%m-%d}T00:00:00.000Z"  # how the service stores a paper date


def test_purchase_register_honours_a_prescription_on_the_last_day_the_approval_calls_valid(mocked, settings):
    settings.RECETA_VALIDEZ_DIAS = 30
    receta = prescription_payload(productos=[(40, "Amoxicilina 500mg", 2)], estado="validada")
    receta["fechaEmision"] = _issued_days_ago_in_lima(30)
    assert validity_check(Prescription.from_wire(receta).fecha_emision).ok  # "vigente" on the dashboard
    fake = purchase_world(mocked, AMOX, prescriptions=[receta])
    register((40, 2))
    assert fake.stock(40) == 38


def test_purchase_register_refuses_a_prescription_the_day_after_it_expires(mocked, settings):
    settings.RECETA_VALIDEZ_DIAS = 30
    receta = prescription_payload(productos=[(40, "Amoxicilina 500mg", 2)], estado="validada")
    receta["fechaEmision"] = _issued_days_ago_in_lima(31)
    purchase_world(mocked, AMOX, prescriptions=[receta])
    with pytest.raises(PrescriptionRequired):
        register((40, 2))


def test_purchase_register_reads_every_page_of_prescriptions(mocked):
    mock_me(mocked)
    fake = FakeProducts(mocked, AMOX)
    mock_offers(mocked)
    mock_create(mocked)
    mock_my_purchases(mocked)
    other = prescription_payload(productos=[(41, "Otro", 1)], estado="validada")
    mock_prescriptions(mocked, [other], page_number=1, total=250)
    mock_prescriptions(mocked, [other], page_number=2, total=250)
    mock_prescriptions(mocked, [prescription_payload(productos=[(40, "Amoxicilina 500mg", 2)], estado="validada")],
                       page_number=3, total=250)
    register((40, 2))
    assert calls(mocked, "GET", RX_FILTER) == 3
    assert fake.stock(40) == 38


def test_purchase_register_ignores_the_prescriptions_service_when_nothing_needs_one(mocked):
    mock_me(mocked)
    fake = FakeProducts(mocked, PARA)
    mock_offers(mocked)
    mocked.get(RX_FILTER, body=requests.exceptions.ConnectionError("refused"))
    mock_create(mocked)
    register((1, 1))
    assert fake.stock(1) == 99


def test_purchase_register_does_not_wait_for_prescriptions_nothing_needs(mocked):
    # The prescriptions page is asked for with the products, but an over-the-counter purchase goes
    # on without its answer: the registration is sent while that call is still held here.
    release, answered = threading.Event(), threading.Event()

    def slow_prescriptions(request):
        release.wait(5)
        answered.set()
        return 200, {}, json.dumps({"page": 1, "pagesize": 100, "total": 0, "items": []})

    mock_me(mocked)
    fake = FakeProducts(mocked, PARA)
    mock_offers(mocked)
    mocked.add_callback("GET", RX_FILTER, callback=slow_prescriptions)
    mock_create(mocked)
    try:
        register((1, 1))
        registered_before_the_answer = calls(mocked, "POST", COMPRAS) == 1 and not answered.is_set()
    finally:
        release.set()
        answered.wait(10)
    assert registered_before_the_answer
    assert fake.stock(1) == 99 and calls(mocked, "GET", RX_FILTER) == 1


def test_purchase_register_with_more_reads_than_the_fan_out_waits_for_every_read(mocked, settings):
    settings.UPSTREAM_REQUEST_FANOUT = 2  # 3 products + offers + prescriptions: the bounded gather
    fake = purchase_world(mocked, product_payload(1, stock=10), product_payload(2, stock=10),
                          product_payload(3, stock=10), offers=[offer_payload(1, detalles=[(2, 10.0)])])
    receipt = register((1, 1), (2, 1), (3, 1))
    assert [fake.stock(p) for p in (1, 2, 3)] == [9, 9, 9] and calls(mocked, "GET", RX_FILTER) == 1
    assert [line.descuento for line in receipt.lines] == [0, 10, 0]


def test_purchase_register_takes_nothing_when_the_offers_cannot_be_read(mocked):
    mock_me(mocked)
    fake = FakeProducts(mocked, PARA)
    mocked.get(f"{PRODUCTS}/api/ofertas/all", body=requests.exceptions.ConnectionError("refused"))
    mock_prescriptions(mocked)
    mock_create(mocked)
    with pytest.raises(UpstreamUnavailable):
        register((1, 1))
    assert fake.stock(1) == 100 and calls(mocked, "PUT", product_url(1)) == 0 and calls(mocked, "POST", COMPRAS) == 0


def test_purchase_register_fails_when_a_needed_prescription_cannot_be_read(mocked):
    mock_me(mocked)
    FakeProducts(mocked, AMOX)
    mock_offers(mocked)
    mocked.get(RX_FILTER, body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(UpstreamUnavailable):
        register((40, 1))
    assert calls(mocked, "PUT", product_url(40)) == 0


# Offers ------------------------------------------------------------------------------------------
def test_purchase_register_applies_the_best_active_offer(mocked):
    offers = [offer_payload(1, detalles=[(1, 10.0)]), offer_payload(2, detalles=[(1, 15.0)]),
              offer_payload(3, detalles=[(1, 50.0)], days=-1)]
    purchase_world(mocked, product_payload(1, precio=10.0), offers=offers)
    line = register((1, 2)).lines[0]
    assert (line.descuento, line.precio_final, line.subtotal) == (Decimal("15.0"), Decimal("8.50"), Decimal("17.00"))


def test_purchase_register_without_offer_charges_the_catalogue_price(mocked):
    purchase_world(mocked, product_payload(1, precio=5.5), offers=[offer_payload(detalles=[(2, 10.0)])])
    wire = receipt_to_wire(register((1, 2)))
    line = wire["productos_detalle"][0]
    assert (line["descuento"], line["precio_final"], line["subtotal"], wire["total"]) == (0.0, 5.5, 11.0, 11.0)


def test_purchase_register_rounds_money_half_up(mocked):
    # 4.50 with 95 % off is 0.225: half-up gives 0.23 (banker's rounding would give 0.22).
    purchase_world(mocked, product_payload(1, precio=4.5), product_payload(2, precio=2.675),
                   offers=[offer_payload(detalles=[(1, 95.0)])])
    receipt = register((1, 3), (2, 1))
    assert [line.precio_final for line in receipt.lines] == [Decimal("0.23"), Decimal("2.68")]
    assert receipt.total == Decimal("3.37")


def test_money_rounds_half_up_to_cents():
    assert [money("0.125"), money(2.675), money(Decimal("-0.005"))] == [Decimal("0.13"), Decimal("2.68"),
                                                                          Decimal("-0.01")]


def test_receipt_to_wire_has_the_documented_shape(mocked):
    purchase_world(mocked, product_payload(1, nombre="Paracetamol 500mg", precio=5.5, stock=100),
                   offers=[offer_payload(detalles=[(1, 10.0)])])
    wire = receipt_to_wire(register((1, 2), datos_adicionales={"metodo_pago": "tarjeta"}))
    assert wire == {
        "id": 15, "fecha_compra": "2025-10-21T12:11:47.482913-05:00", "usuario_id": 3,
        "fechaCompra": "2025-10-21T12:11:47.482913-05:00", "usuarioId": 3, "productos": [1], "cantidades": [2],
        "productos_detalle": [{"producto_id": 1, "cantidad": 2, "nombre": "Paracetamol 500mg", "precio": 5.5,
                               "tipo": "Analgesico", "requiere_receta": False, "stock": 98, "descuento": 10.0,
                               "precio_final": 4.95, "subtotal": 9.9}],
        "total": 9.9, "datos_adicionales": {"metodo_pago": "tarjeta"},
    }


# Locks -------------------------------------------------------------------------------------------
def test_purchase_register_answers_503_and_takes_nothing_when_a_lock_is_held(mocked, settings):
    settings.STOCK_LOCK_WAIT = 0.05
    fake = purchase_world(mocked, product_payload(1, stock=10), product_payload(2, stock=10))
    cache.add(lock_key(2), "otra-compra", 30)
    with pytest.raises(LockUnavailable) as raised:
        register((1, 1), (2, 1))
    assert raised.value.status == 503 and raised.value.details == {"productos": [2]}
    assert calls(mocked, "PUT", product_url(1)) == 0 and calls(mocked, "PUT", product_url(2)) == 0
    assert (fake.stock(1), fake.stock(2)) == (10, 10)
    assert cache.get(lock_key(1)) is None  # the lock it did get was let go


def test_purchase_register_releases_its_locks(mocked):
    purchase_world(mocked, product_payload(1), product_payload(2))
    register((2, 1), (1, 1))
    assert cache.get(lock_key(1)) is None and cache.get(lock_key(2)) is None


def test_purchase_register_checks_and_releases_its_locks_in_one_cache_call_each(mocked, monkeypatch):
    # One add per product is unavoidable (no atomic add of several keys); the check before writing
    # and the release look at the whole set at once: one round trip each with Redis, not one per product.
    purchase_world(mocked, product_payload(1), product_payload(2), product_payload(3))
    operations, depth = [], []

    def counted(name, real):
        def operation(*args, **kwargs):
            if not depth and "bloqueo" in str(args[0]):
                operations.append(name)
            depth.append(name)  # the backend's get_many may call its own get: count the outer call only
            try:
                return real(*args, **kwargs)
            finally:
                depth.pop()
        return operation

    for name in ("add", "get", "get_many", "delete", "delete_many", "touch"):
        monkeypatch.setattr(cache, name, counted(name, getattr(cache, name)))
    register((3, 1), (1, 1), (2, 1))
    assert operations == ["add", "add", "add", "get_many", "get_many", "delete_many"]
    assert [cache.get(lock_key(p)) for p in (1, 2, 3)] == [None, None, None]


def test_product_locks_are_taken_in_id_order(settings):
    settings.STOCK_LOCK_WAIT = 0.05
    cache.add(lock_key(3), "otra", 30)
    locks = ProductLocks([5, 3, 9])
    with pytest.raises(LockUnavailable):
        locks.acquire()
    # 3 comes first: neither 5 nor 9 was taken while waiting for it.
    assert cache.get(lock_key(5)) is None and cache.get(lock_key(9)) is None


def test_product_locks_release_only_their_own(settings):
    locks = ProductLocks([1])
    locks.acquire()
    cache.set(lock_key(1), "otro-dueño", 30)  # ours expired and someone else took it
    locks.release()
    assert cache.get(lock_key(1)) == "otro-dueño"


def test_product_locks_expire_after_stock_lock_timeout(settings, monkeypatch):
    settings.STOCK_LOCK_TIMEOUT = 7.5
    timeouts = []
    real_add = cache.add
    monkeypatch.setattr("dashboard.services.purchase_saga.locks.cache.add",
                        lambda key, value, timeout: timeouts.append(timeout) or real_add(key, value, timeout))
    ProductLocks([1, 2]).acquire()
    assert timeouts == [8, 8]  # whole seconds, rounded up, for backends that only take those


def test_purchase_register_answers_503_when_its_lock_was_lost_before_writing(mocked):
    fake = purchase_world(mocked, product_payload(1, stock=10))

    def lock_expires(pid: int, nth: int) -> None:
        if nth == 1:  # the read under the lock took longer than the lock's TTL
            cache.set(lock_key(pid), "otra-compra", 30)
    fake.after_get = lock_expires
    with pytest.raises(LockUnavailable):
        register((1, 1))
    assert calls(mocked, "PUT", product_url(1)) == 0 and fake.stock(1) == 10


# Compensation ------------------------------------------------------------------------------------
def test_purchase_register_gives_back_the_first_product_when_the_second_write_fails(mocked):
    fake = purchase_world(mocked, product_payload(1, stock=10), product_payload(2, stock=10))
    fake.put_failures[2] = [500]
    with pytest.raises(UpstreamFailed) as raised:
        register((1, 3), (2, 4))
    assert raised.value.details["compensacion"] == {"estado": "devuelto"}
    assert (fake.stock(1), fake.stock(2)) == (10, 10)
    assert calls(mocked, "PUT", product_url(1)) == 2 and calls(mocked, "POST", COMPRAS) == 0


def test_purchase_register_gives_back_a_failed_write_that_landed_anyway(mocked):
    fake = purchase_world(mocked, product_payload(1, stock=10))
    fake.put_failures[1] = [LANDS_THEN_TIMES_OUT]
    with pytest.raises(UpstreamTimeout) as raised:
        register((1, 3))
    assert raised.value.details["compensacion"] == {"estado": "devuelto"}
    assert fake.stock(1) == 10


def test_purchase_register_settles_a_5xx_write_by_writing_the_stock_read_under_the_lock(mocked):
    fake = purchase_world(mocked, product_payload(1, stock=10))
    fake.put_failures[1] = [500]
    with pytest.raises(UpstreamFailed) as raised:
        register((1, 3))
    assert raised.value.details["compensacion"] == {"estado": "devuelto"}
    # Whether or not the 500 stored 7, the restore (queued behind it upstream) leaves the 10 read before.
    assert sent(mocked, "PUT", product_url(1)) == [{"stock": 7}, {"stock": 10}] and fake.stock(1) == 10


def test_purchase_register_does_not_write_again_when_a_write_was_never_sent(mocked):
    fake = purchase_world(mocked, product_payload(1, stock=10), product_payload(2, stock=10))
    fake.put_failures[2] = [REFUSED]
    with pytest.raises(UpstreamUnavailable) as raised:
        register((1, 3), (2, 1))
    assert raised.value.details["compensacion"] == {"estado": "devuelto"}
    assert fake.stock(1) == 10 and calls(mocked, "PUT", product_url(2)) == 1


def test_purchase_register_restores_a_late_stock_write_with_the_value_read_under_the_lock(mocked):
    fake = purchase_world(mocked, product_payload(1, stock=10))
    fake.put_failures[1] = [LANDS_THEN_TIMES_OUT]
    with pytest.raises(UpstreamTimeout) as raised:
        register((1, 3))
    assert raised.value.details["compensacion"] == {"estado": "devuelto"}
    assert sent(mocked, "PUT", product_url(1))[-1] == {"stock": 10} and fake.stock(1) == 10


def test_purchase_register_gives_everything_back_when_the_purchase_cannot_be_stored(mocked):
    mock_me(mocked)
    fake = FakeProducts(mocked, product_payload(1, stock=10), product_payload(2, stock=5))
    mock_offers(mocked)
    mock_prescriptions(mocked)
    mock_create(mocked, status=500)
    mocked.get(COMPRAS + "/me", json=[])  # looked for: not stored
    with pytest.raises(UpstreamFailed) as raised:
        register((1, 3), (2, 5))
    assert raised.value.details["compensacion"] == {"estado": "devuelto"}
    assert (fake.stock(1), fake.stock(2)) == (10, 5)


def test_purchase_register_journals_a_failed_give_back(mocked, settings, tmp_path, caplog):
    settings.PURCHASE_JOURNAL = str(tmp_path / "var" / "diario.jsonl")
    mock_me(mocked)
    fake = FakeProducts(mocked, product_payload(1, stock=10), product_payload(2, stock=5))
    mock_offers(mocked)
    mock_prescriptions(mocked)
    mock_create(mocked, status=500)
    mocked.get(COMPRAS + "/me", json=[])  # the 500 did not store it
    fake.put_failures[1] = [200, 500]  # the purchase's write works, the give-back's does not
    with caplog.at_level(logging.CRITICAL, logger="dashboard.purchases"), pytest.raises(UpstreamFailed) as raised:
        register((1, 3), (2, 5))
    pending = [{"producto_id": 1, "unidades": 3}]
    compensacion = raised.value.details["compensacion"]
    assert compensacion["estado"] == "pendiente" and compensacion["productos"] == pending
    assert (fake.stock(1), fake.stock(2)) == (7, 5)
    events = [json.loads(line) for line in (tmp_path / "var" / "diario.jsonl").read_text().splitlines()]
    assert events[0]["evento"] == "inicio" and events[0]["dni"] == ANA
    assert {"evento": "pendiente", "motivo": "devolucion_pendiente"}.items() <= events[-1].items()
    assert not [e for e in events if e["evento"] == "fin"]  # left open for `manage.py reconcile`
    assert [r for r in caplog.records if r.levelno == logging.CRITICAL and "producto 1: +3" in r.getMessage()]
