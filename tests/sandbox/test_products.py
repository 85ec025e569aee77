"""The products service: detail, paginated lists, partial update, the negative-stock trap, offers."""

from __future__ import annotations

from datetime import datetime

import pytest

pytestmark = pytest.mark.integration

PRODUCT_KEYS = ["nombre", "tipo", "precio", "stock", "requiere_receta", "id", "fecha_creacion", "fecha_actualizacion"]


def test_product_detail(http, products_url):
    response = http.get(f"{products_url}/api/productos/40")
    assert response.status_code == 200
    product = response.json()
    assert list(product) == PRODUCT_KEYS
    assert product["nombre"] == "Amoxicilina 500mg" and product["requiere_receta"] is True
    assert isinstance(product["precio"], float) and isinstance(product["stock"], int)
    datetime.fromisoformat(product["fecha_creacion"])
    assert "+" not in product["fecha_actualizacion"] and "Z" not in product["fecha_actualizacion"]


def test_unknown_product_is_404_detail(http, products_url):
    response = http.get(f"{products_url}/api/productos/123456")
    assert response.status_code == 404
    assert response.json() == {"detail": "Producto no encontrado"}


@pytest.mark.parametrize("raw_id", ["abc", "4.5", "40x"])
def test_non_integer_id_is_422_with_a_list_detail(http, products_url, raw_id):
    response = http.get(f"{products_url}/api/productos/{raw_id}")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert set(error) >= {"type", "loc", "msg", "input"}
    assert error["loc"][0] == "path" and error["input"] == raw_id
    assert "error" not in response.json()


def test_paged_list_shape_and_pagination(sb, http, products_url):
    body = http.get(f"{products_url}/api/productos/paged", params={"page": 2, "pagesize": 10}).json()
    assert list(body) == ["total", "page", "pagesize", "productos"]
    assert body["total"] == len(sb.products.all()) and body["page"] == 2 and body["pagesize"] == 10
    assert len(body["productos"]) == 10
    default = http.get(f"{products_url}/api/productos/paged").json()
    assert default["page"] == 1 and default["pagesize"] == 25 and len(default["productos"]) == 25


def test_pagesize_has_no_upper_bound(sb, http, products_url):
    body = http.get(f"{products_url}/api/productos/paged", params={"pagesize": 1000}).json()
    assert body["pagesize"] == 1000 and len(body["productos"]) == body["total"] == len(sb.products.all())


def test_page_below_one_is_422(http, products_url):
    response = http.get(f"{products_url}/api/productos/paged", params={"page": 0})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "page"]


def test_filter_by_name_is_case_insensitive_contains(http, products_url):
    body = http.get(f"{products_url}/api/productos/nombre", params={"nombre": "AMOXI", "pagesize": 100}).json()
    names = {product["nombre"] for product in body["productos"]}
    assert "Amoxicilina 500mg" in names and all("amoxi" in name.lower() for name in names)
    assert body["total"] == len(names)


def test_filter_by_name_requires_the_parameter(http, products_url):
    response = http.get(f"{products_url}/api/productos/nombre")
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "missing"


def test_filter_by_type(http, products_url):
    body = http.get(f"{products_url}/api/productos/tipo", params={"tipo": "Antibiotico", "pagesize": 100}).json()
    assert body["total"] >= 5 and {product["tipo"] for product in body["productos"]} == {"Antibiotico"}


@pytest.mark.parametrize("flag, expected", [("true", True), ("false", False)])
def test_filter_by_prescription(http, products_url, flag, expected):
    body = http.get(f"{products_url}/api/productos/receta",
                    params={"requiere_receta": flag, "pagesize": 100}).json()
    assert body["total"] > 0 and all(p["requiere_receta"] is expected for p in body["productos"])


def test_low_stock_is_strictly_below_minimo(http, products_url):
    body = http.get(f"{products_url}/api/productos/stock-bajo", params={"minimo": 10, "pagesize": 100}).json()
    stocks = [product["stock"] for product in body["productos"]]
    assert stocks and max(stocks) < 10 and 0 in stocks


def test_partial_update(sb, http, products_url):
    response = http.put(f"{products_url}/api/productos/40", json={"stock": 38, "desconocido": 1})
    assert response.status_code == 200
    product = response.json()
    assert product["stock"] == 38 and product["nombre"] == "Amoxicilina 500mg"
    assert sb.products.get(40)["stock"] == 38


def test_update_unknown_product_is_404(http, products_url):
    assert http.put(f"{products_url}/api/productos/123456", json={"stock": 1}).status_code == 404


def test_update_with_a_wrong_type_is_422(sb, http, products_url):
    response = http.put(f"{products_url}/api/productos/40", json={"stock": "muchos"})
    assert response.status_code == 422
    assert sb.products.get(40)["stock"] == 40


def test_negative_stock_trap(sb, http, products_url):
    response = http.put(f"{products_url}/api/productos/40", json={"stock": -1})
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert sb.products.get(40)["stock"] == -1  # written anyway
    later = http.get(f"{products_url}/api/productos/40")
    assert later.status_code == 500 and later.text == "Internal Server Error"
    page = http.get(f"{products_url}/api/productos/paged", params={"pagesize": 100})
    assert page.status_code == 500
    assert http.get(f"{products_url}/api/productos/41").status_code == 200


def test_negative_stock_set_directly_also_traps(sb, http, products_url):
    sb.products.set_stock(12, -3)
    assert http.get(f"{products_url}/api/productos/12").status_code == 500
    sb.products.set_stock(12, 10)
    assert http.get(f"{products_url}/api/productos/12").json()["stock"] == 10


def test_create_and_delete_product(sb, http, products_url):
    body = {"nombre": "Zinc 50mg", "tipo": "Vitaminas", "precio": 9.5, "stock": 5, "requiere_receta": False}
    created = http.post(f"{products_url}/api/productos", json=body)
    assert created.status_code == 201
    product_id = created.json()["id"]
    assert http.delete(f"{products_url}/api/productos/{product_id}").status_code == 204
    assert sb.products.get(product_id) is None


def test_offers_list_includes_expired(http, products_url):
    response = http.get(f"{products_url}/api/ofertas/all")
    assert response.status_code == 200
    offers = response.json()
    assert isinstance(offers, list) and len(offers) >= 3
    expiries = [datetime.fromisoformat(offer["fecha_vencimiento"]) for offer in offers]
    assert min(expiries) < datetime.now() < max(expiries)
    assert set(offers[0]) == {"id", "fecha_vencimiento", "fecha_creacion", "fecha_actualizacion", "detalles"}
    assert set(offers[0]["detalles"][0]) == {"producto_id", "descuento", "id"}


def test_offer_detail_and_404(http, products_url):
    assert http.get(f"{products_url}/api/ofertas/1").json()["id"] == 1
    missing = http.get(f"{products_url}/api/ofertas/999")
    assert missing.status_code == 404 and "detail" in missing.json()
    assert http.get(f"{products_url}/api/ofertas/uno").status_code == 422


def test_unknown_route_is_fastapi_404(http, products_url):
    response = http.get(f"{products_url}/api/nada")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
