"""Hostile upstream answers: every one is a 502 `respuesta_invalida` naming the service, and the
breaker's trial call resolves whatever it meets."""
from __future__ import annotations

import json

import pytest

from dashboard.clients import ProductsClient, UsersClient
from dashboard.clients.base import loads
from dashboard.clients.breakers import breaker_for, breaker_state
from dashboard.errors import UpstreamFailed, UpstreamInvalid
from tests.conftest import PRODUCTS, USERS
from tests.payloads import product_payload

URL = f"{PRODUCTS}/api/productos/1"
DEEP = "[" * 100_000 + "]" * 100_000


def _with(**changes) -> str:
    return json.dumps({**product_payload(1), **changes})


HOSTILE = {
    "anidado": DEEP,
    "anidado_en_campo": '{"id": 1, "nombre": "x", "precio": ' + DEEP + ', "stock": 1}',
    "nan": _with(precio=float("nan")),
    "infinito": _with(precio=float("inf")),
    "menos_infinito": _with(stock=float("-inf")),
    "desborde": _with().replace('"precio": 5.5', '"precio": 1e400'),
    "entero_gigante": _with().replace('"stock": 100', '"stock": ' + "9" * 5000),
    "tipo_equivocado": _with(precio="5.50"),
    "nulo": _with(precio=None),
    "stock_nulo": _with(stock=None),
    "booleano": _with(stock=True),
    "lista": "[1, 2, 3]",
    "no_utf8": b'{"nombre": "\xff\xfe"}',
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_bodies_are_502_respuesta_invalida_naming_the_service(mocked, name):
    mocked.get(URL, body=HOSTILE[name], status=200, content_type="application/json")
    with pytest.raises(UpstreamInvalid) as exc:
        ProductsClient().product_get(1)
    assert exc.value.status == 502
    assert exc.value.code == "respuesta_invalida"
    assert exc.value.details["servicio"] == "productos_y_ofertas"


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", "[" * 50_000])
def test_loads_refuses_what_is_not_json(text):
    with pytest.raises(ValueError):
        loads(text.encode())


def test_loads_keeps_ordinary_json():
    assert loads(b'{"a": [1, 2.5, -3e2, null, true, "\\u00f1"]}') == {"a": [1, 2.5, -300.0, None, True, "ñ"]}


def test_an_answer_over_upstream_max_bytes_is_502_without_reading_it_whole(mocked, settings):
    settings.UPSTREAM_MAX_BYTES = 1000
    big = json.dumps({**product_payload(1), "relleno": "x" * 5000})
    mocked.get(URL, body=big, status=200, content_type="application/json")
    with pytest.raises(UpstreamInvalid) as exc:
        ProductsClient().product_get(1)
    assert exc.value.details["motivo"] == "respuesta_demasiado_grande"
    assert exc.value.details["limite_bytes"] == 1000


def test_an_answer_under_upstream_max_bytes_is_read(mocked, settings):
    body = json.dumps(product_payload(1))
    settings.UPSTREAM_MAX_BYTES = len(body)
    mocked.get(URL, body=body, status=200, content_type="application/json")
    assert ProductsClient().product_get(1).id == 1


def test_an_error_body_over_the_limit_is_refused_too(mocked, settings):
    settings.UPSTREAM_MAX_BYTES = 100
    mocked.get(URL, body="x" * 1000, status=404)
    with pytest.raises(UpstreamInvalid):
        ProductsClient().product_get(1)


def _open_and_expire(service: str) -> None:
    breaker = breaker_for(service)
    breaker.failures = breaker.fail_max
    breaker.opened_at = 0.0  # long ago: the next call is the trial


@pytest.mark.parametrize("name", ["anidado", "nan", "nulo"])
def test_a_hostile_trial_reopens_the_breaker_and_a_good_one_closes_it(mocked, name):
    _open_and_expire("productos_y_ofertas")
    assert breaker_state("productos_y_ofertas")["estado"] == "semiabierto"
    mocked.get(URL, body=HOSTILE[name], status=200, content_type="application/json")
    with pytest.raises(UpstreamFailed):
        ProductsClient().product_get(1)
    assert breaker_state("productos_y_ofertas")["estado"] == "abierto"
    # Later, the upstream behaves again: the next trial closes the circuit.
    breaker_for("productos_y_ofertas").opened_at = 0.0
    mocked.replace("GET", URL, json=product_payload(1))
    assert ProductsClient().product_get(1).id == 1
    assert breaker_state("productos_y_ofertas")["estado"] == "cerrado"


def test_a_trial_ending_in_an_unexpected_exception_still_resolves(mocked, monkeypatch):
    _open_and_expire("usuarios_y_autenticacion_y_compras")

    def explode(*args, **kwargs):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr("dashboard.clients.base.BaseClient._attempts", explode)
    with pytest.raises(RuntimeError):
        UsersClient(token="t").me()
    breaker = breaker_for("usuarios_y_autenticacion_y_compras")
    assert breaker.trial_running is False
    assert breaker_state("usuarios_y_autenticacion_y_compras")["estado"] == "abierto"
    monkeypatch.undo()
    breaker.opened_at = 0.0
    mocked.get(f"{USERS}/api/user/me", json={"dni": "72345678", "role": "CLIENTE"})
    assert UsersClient(token="t").me().dni == "72345678"
    assert breaker_state("usuarios_y_autenticacion_y_compras")["estado"] == "cerrado"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_is_not_an_answer(mocked, status):
    mocked.get(URL, status=status, headers={"Location": "http://elsewhere.test/api/productos/1"},
               json=product_payload(1))
    mocked.get("http://elsewhere.test/api/productos/1", json=product_payload(1))
    with pytest.raises(UpstreamInvalid) as exc:
        ProductsClient().product_get(1)
    assert exc.value.details["motivo"] == "redireccion_no_seguida"
    assert exc.value.details["upstream_status"] == status
    assert len(mocked.calls) == 1
