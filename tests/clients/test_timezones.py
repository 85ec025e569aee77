"""Upstream naive times are read in each service's zone (UPSTREAM_TIMEZONE_*), once, at the client layer."""
from __future__ import annotations

import datetime as dt

from django.core.checks import run_checks

from dashboard.clients import ProductsClient, UsersClient
from tests.conftest import PRODUCTS, USERS
from tests.payloads import purchase_payload

OFFER = {"id": 1, "fecha_vencimiento": "2025-12-31T23:59:59", "fecha_creacion": "2025-10-01T00:00:00",
         "fecha_actualizacion": "2025-10-01T00:00:00", "detalles": []}


def test_users_purchase_times_default_to_utc(mocked):
    mocked.get(f"{USERS}/api/compras/me", json=[purchase_payload(fecha="2025-10-21T17:11:47.482913")])
    purchase = UsersClient(token="t").purchases_mine()[0]
    assert purchase.fecha == dt.datetime(2025, 10, 21, 17, 11, 47, 482913, tzinfo=dt.UTC)
    assert purchase.fecha_compra == "2025-10-21T12:11:47.482913-05:00"


def test_users_purchase_times_follow_the_setting(mocked, settings):
    settings.UPSTREAM_TIMEZONE_USUARIOS = "America/Lima"
    mocked.post(f"{USERS}/api/compras", json=purchase_payload(fecha="2025-10-21T17:11:47.482913123"))
    purchase = UsersClient(token="t").purchase_create(productos=[1], cantidades=[1])
    assert purchase.fecha.utcoffset() == dt.timedelta(hours=-5) and purchase.fecha.hour == 17


def test_offer_expiry_follows_the_products_setting(mocked, settings):
    mocked.get(f"{PRODUCTS}/api/ofertas/all", json=[OFFER])
    assert ProductsClient().offers_all()[0].fecha_vencimiento.utcoffset() == dt.timedelta(0)
    settings.UPSTREAM_TIMEZONE_PRODUCTOS = "America/Lima"
    assert ProductsClient().offers_all()[0].fecha_vencimiento.utcoffset() == dt.timedelta(hours=-5)


def test_an_unknown_zone_name_fails_the_system_checks(settings):
    settings.UPSTREAM_TIMEZONE_PRODUCTOS = "Lima/Peru"
    assert [e.id for e in run_checks() if e.id == "dashboard.E003"] == ["dashboard.E003"]
