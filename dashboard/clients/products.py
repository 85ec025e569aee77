"""Client of the products and offers service (FastAPI; no auth)."""
from __future__ import annotations

import datetime as dt

from dashboard.clients.base import BaseClient, product_id
from dashboard.errors import SERVICE_PRODUCTS
from dashboard.types import Offer, Product, ProductPage, WireError


def _offers(body: object, zone: dt.tzinfo) -> list[Offer]:
    if not isinstance(body, list):
        raise WireError("expected a list of offers")
    return [Offer.from_wire(o, zone) for o in body]


class ProductsClient(BaseClient):
    service = SERVICE_PRODUCTS
    url_setting = "URL_PRODUCTOS_OFERTAS"
    timezone_setting = "UPSTREAM_TIMEZONE_PRODUCTOS"  # its naive `fecha_*` are in this zone

    def product_get(self, pid: int | str) -> Product:
        """GET /api/productos/{id}; 404 {"detail": "Producto no encontrado"}."""
        return self.call("GET", "/api/productos/{id}", path={"id": product_id(pid)}, parse=Product.from_wire)

    def product_set_stock(self, pid: int | str, stock: int) -> Product:
        """PUT /api/productos/{id} {"stock": n}: an absolute value.

        A negative stock is stored upstream and then breaks every read of the product, so it is
        refused here whatever the caller computed.
        """
        if not isinstance(stock, int) or isinstance(stock, bool) or stock < 0:
            raise ValueError(f"refusing to send stock={stock!r} upstream")
        return self.call(
            "PUT", "/api/productos/{id}", path={"id": product_id(pid)}, json={"stock": stock}, parse=Product.from_wire
        )

    def products_paged(self, *, page: int = 1, pagesize: int = 25) -> ProductPage:
        """GET /api/productos/paged."""
        return self.call("GET", "/api/productos/paged", params={"page": page, "pagesize": pagesize},
                         parse=ProductPage.from_wire)

    def products_by_name(self, nombre: str, *, page: int = 1, pagesize: int = 25) -> ProductPage:
        """GET /api/productos/nombre?nombre= (case-insensitive contains)."""
        return self.call("GET", "/api/productos/nombre", params={"nombre": nombre, "page": page, "pagesize": pagesize},
                         parse=ProductPage.from_wire)

    def products_low_stock(self, *, minimo: int = 10, page: int = 1, pagesize: int = 25) -> ProductPage:
        """GET /api/productos/stock-bajo?minimo= (stock < minimo)."""
        return self.call("GET", "/api/productos/stock-bajo",
                         params={"minimo": minimo, "page": page, "pagesize": pagesize}, parse=ProductPage.from_wire)

    def offers_all(self) -> list[Offer]:
        """GET /api/ofertas/all: plain array, expired offers included."""
        return self.call("GET", "/api/ofertas/all", parse=lambda data: _offers(data, self.zone))
