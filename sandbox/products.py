"""Products and offers: the FastAPI service (no auth, `{"detail": ...}` errors, 422 validation lists)."""

from __future__ import annotations

import copy
import re
import threading
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

from .seed import naive_iso, product_record
from .server import InvalidJson, Reply, Request, Response, Route, Service, json_response, reason, text_response

DEFAULT_PAGESIZE = 25
INTEGER = re.compile(r"-?\d+")
TRUE_WORDS = {"true", "1", "yes", "on", "t", "y"}
FALSE_WORDS = {"false", "0", "no", "off", "f", "n"}
UPDATABLE_FIELDS = ("nombre", "tipo", "precio", "stock", "requiere_receta")
NOT_AN_INTEGER = "Input should be a valid integer, unable to parse string as an integer"


def fastapi_error(status: int, detail: Any) -> Response:
    """The products service's error body: `{"detail": <message or list of validation errors>}`."""
    return json_response(status, {"detail": detail})


def invalid(location: list[Any], kind: str, message: str, value: Any, **context: Any) -> Reply:
    """A 422 for one invalid input, shaped like pydantic's error list."""
    error = {"type": kind, "loc": location, "msg": message, "input": value}
    if context:
        error["ctx"] = context
    return Reply(fastapi_error(422, [error]))


def internal_server_error() -> Response:
    # Uncaught exceptions (a response model failing validation) reach Starlette's plain-text 500.
    return text_response(500, "Internal Server Error")


class ProductsStore:
    """Products and offers by id. A product whose data breaks the response model (negative stock,
    non-positive price) stays stored: the service then answers 500 whenever it must show it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.zone: tzinfo = UTC  # the zone of the naive `fecha_*` (NOW() / utcnow() of a TZ-less container)
        self.load([], [])

    def load(self, products: list[dict[str, Any]], offers: list[dict[str, Any]]) -> None:
        with self._lock:
            self._products = {product["id"]: copy.deepcopy(product) for product in products}
            self._offers = {offer["id"]: copy.deepcopy(offer) for offer in offers}
            self._next_id = max(self._products, default=0) + 1

    def get(self, product_id: int) -> dict[str, Any] | None:
        with self._lock:
            product = self._products.get(product_id)
            return copy.deepcopy(product) if product else None

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(product) for _, product in sorted(self._products.items())]

    def ids(self) -> list[int]:
        with self._lock:
            return sorted(self._products)

    def update(self, product_id: int, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Write the given fields as they are (no validation, as upstream); None if unknown."""
        with self._lock:
            product = self._products.get(product_id)
            if product is None:
                return None
            product.update({key: fields[key] for key in UPDATABLE_FIELDS if key in fields})
            product["fecha_actualizacion"] = naive_iso(datetime.now(UTC), zone=self.zone)
            return copy.deepcopy(product)

    def set_stock(self, product_id: int, stock: int) -> dict[str, Any]:
        """Set a stock directly (tests). A negative value arms the service's 500 trap."""
        product = self.update(product_id, {"stock": stock})
        if product is None:
            raise KeyError(product_id)
        return product

    def create(self, nombre: str, tipo: str, precio: float, stock: int, requiere_receta: bool) -> dict[str, Any]:
        with self._lock:
            now = datetime.now(UTC)
            product = product_record(self._next_id, nombre, tipo, float(precio), stock, requiere_receta, now, now,
                                     self.zone)
            self._products[product["id"]] = product
            self._next_id += 1
            return copy.deepcopy(product)

    def delete(self, product_id: int) -> bool:
        with self._lock:
            return self._products.pop(product_id, None) is not None

    def offers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(offer) for _, offer in sorted(self._offers.items())]

    def offer(self, offer_id: int) -> dict[str, Any] | None:
        with self._lock:
            offer = self._offers.get(offer_id)
            return copy.deepcopy(offer) if offer else None

    def save_offer(self, offer_id: int | None, fecha_vencimiento: datetime | None,
                   detalles: list[dict[str, Any]] | None) -> dict[str, Any] | None:
        """Create (`offer_id` None) or change an offer; None when the offer to change does not exist."""
        with self._lock:
            now = naive_iso(datetime.now(UTC), zone=self.zone)
            if offer_id is None:
                offer_id = max(self._offers, default=0) + 1
                self._offers[offer_id] = {"id": offer_id, "fecha_vencimiento": now, "fecha_creacion": now,
                                          "fecha_actualizacion": now, "detalles": []}
            offer = self._offers.get(offer_id)
            if offer is None:
                return None
            if fecha_vencimiento is not None:
                offer["fecha_vencimiento"] = naive_iso(fecha_vencimiento.replace(tzinfo=None))  # offsets are lost
            if detalles is not None:
                next_id = 1 + max((d["id"] for o in self._offers.values() for d in o["detalles"]), default=0)
                offer["detalles"] = [{"producto_id": d["producto_id"], "descuento": d["descuento"], "id": next_id + n}
                                     for n, d in enumerate(detalles)]
            offer["fecha_actualizacion"] = now
            return copy.deepcopy(offer)

    def delete_offer(self, offer_id: int) -> bool:
        with self._lock:
            return self._offers.pop(offer_id, None) is not None


class ProductsService(Service):
    name = "productos"

    def __init__(self, store: ProductsStore):
        self.store = store
        super().__init__()

    def routes(self) -> list[Route]:
        # Fixed paths before `{producto_id}`, as FastAPI matches in declaration order.
        return [
            Route("GET", "/echo", self.echo),
            Route("GET", "/api/productos/paged", self.list_all),
            Route("GET", "/api/productos/nombre", self.list_by_name),
            Route("GET", "/api/productos/tipo", self.list_by_type),
            Route("GET", "/api/productos/receta", self.list_by_prescription),
            Route("GET", "/api/productos/stock-bajo", self.list_low_stock),
            Route("POST", "/api/productos", self.create),
            Route("GET", "/api/productos/{producto_id}", self.detail),
            Route("PUT", "/api/productos/{producto_id}", self.update),
            Route("DELETE", "/api/productos/{producto_id}", self.delete),
            Route("GET", "/api/ofertas/all", self.offers),
            Route("POST", "/api/ofertas/crear", self.create_offer),
            Route("GET", "/api/ofertas/{oferta_id}", self.offer),
            Route("PUT", "/api/ofertas/{oferta_id}", self.update_offer),
            Route("DELETE", "/api/ofertas/{oferta_id}", self.delete_offer),
        ]

    def not_found(self, request: Request) -> Response:
        return fastapi_error(404, "Not Found")

    def method_not_allowed(self, request: Request) -> Response:
        return fastapi_error(405, "Method Not Allowed")

    def invalid_json(self, request: Request, error: InvalidJson) -> Response:
        return fastapi_error(422, [{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error",
                                    "input": {}, "ctx": {"error": str(error)}}])

    def failure(self, status: int) -> Response:
        return internal_server_error() if status == 500 else fastapi_error(status, reason(status))

    # -- endpoints -----------------------------------------------------------------------------
    def echo(self, request: Request) -> Response:
        return json_response(200, {"status": "ok", "servicio": "productos-ofertas"})

    def list_all(self, request: Request) -> Response:
        return self._page(request, lambda product: True)

    def list_by_name(self, request: Request) -> Response:
        # SQL ILIKE under MariaDB's default collation: case- and accent-insensitive ("acido" finds "Ácido").
        nombre = _folded(_required(request, "nombre"))
        return self._page(request, lambda product: nombre in _folded(str(product["nombre"])))

    def list_by_type(self, request: Request) -> Response:
        tipo = _required(request, "tipo").lower()
        return self._page(request, lambda product: str(product["tipo"]).lower() == tipo)

    def list_by_prescription(self, request: Request) -> Response:
        raw = _required(request, "requiere_receta")
        if raw.lower() not in TRUE_WORDS | FALSE_WORDS:
            raise invalid(["query", "requiere_receta"], "bool_parsing",
                          "Input should be a valid boolean, unable to interpret input", raw)
        wanted = raw.lower() in TRUE_WORDS
        return self._page(request, lambda product: product["requiere_receta"] is wanted)

    def list_low_stock(self, request: Request) -> Response:
        minimo = _int_query(request, "minimo", default=10)
        return self._page(request, lambda product: isinstance(product["stock"], int) and product["stock"] < minimo)

    def detail(self, request: Request, producto_id: str) -> Response:
        return _shown(self._product(producto_id))

    def update(self, request: Request, producto_id: str) -> Response:
        product_id = _path_int("producto_id", producto_id)
        body = request.json()
        if not isinstance(body, dict):
            raise invalid(["body"], "model_attributes_type", "Input should be a valid dictionary or object "
                          "to extract fields from", body)
        fields = {key: _checked_field(key, body[key]) for key in UPDATABLE_FIELDS if key in body}
        product = self.store.update(product_id, fields)
        if product is None:
            return fastapi_error(404, "Producto no encontrado")
        return _shown(product)

    def create(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise invalid(["body"], "model_attributes_type", "Input should be a valid dictionary", body)
        for key in UPDATABLE_FIELDS:
            if body.get(key) is None:
                raise invalid(["body", key], "missing", "Field required", body)
        fields = {key: _checked_field(key, body[key]) for key in UPDATABLE_FIELDS}
        if fields["precio"] <= 0:
            raise invalid(["body", "precio"], "greater_than", "Input should be greater than 0", body["precio"], gt=0)
        if fields["stock"] < 0:
            raise invalid(["body", "stock"], "greater_than_equal", "Input should be greater than or equal to 0",
                          body["stock"], ge=0)
        return json_response(201, self.store.create(**fields))

    def delete(self, request: Request, producto_id: str) -> Response:
        if not self.store.delete(_path_int("producto_id", producto_id)):
            return fastapi_error(404, "Producto no encontrado")
        return Response(204, content_type="application/json")

    def offers(self, request: Request) -> Response:
        return json_response(200, self.store.offers())

    def offer(self, request: Request, oferta_id: str) -> Response:
        offer = self.store.offer(_path_int("oferta_id", oferta_id))
        return json_response(200, offer) if offer else fastapi_error(404, "Oferta no encontrada")

    def create_offer(self, request: Request) -> Response:
        """POST /api/ofertas/crear {"fecha_vencimiento", "detalles": [{"producto_id", "descuento"}]} -> 201."""
        fecha, detalles = self._offer_body(request, partial=False)
        return json_response(201, self.store.save_offer(None, fecha, detalles))

    def update_offer(self, request: Request, oferta_id: str) -> Response:
        """PUT /api/ofertas/{id}: any of `fecha_vencimiento`, `detalles` (which replaces the lines)."""
        offer_id = _path_int("oferta_id", oferta_id)
        fecha, detalles = self._offer_body(request, partial=True)
        offer = self.store.save_offer(offer_id, fecha, detalles)
        return json_response(200, offer) if offer else fastapi_error(404, "Oferta no encontrada")

    def delete_offer(self, request: Request, oferta_id: str) -> Response:
        if not self.store.delete_offer(_path_int("oferta_id", oferta_id)):
            return fastapi_error(404, "Oferta no encontrada")
        return Response(204, content_type="application/json")

    def _offer_body(self, request: Request, *, partial: bool) -> tuple[datetime | None, list[dict] | None]:
        body = request.json()
        if not isinstance(body, dict):
            raise invalid(["body"], "model_attributes_type", "Input should be a valid dictionary", body)
        fecha = detalles = None
        if body.get("fecha_vencimiento") is not None or not partial:
            raw = body.get("fecha_vencimiento")
            try:
                fecha = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            except ValueError:
                raise invalid(["body", "fecha_vencimiento"], "datetime_from_date_parsing",
                              "Input should be a valid datetime", raw) from None
        if body.get("detalles") is not None or not partial:
            raw_lines = body.get("detalles")
            if not isinstance(raw_lines, list):
                raise invalid(["body", "detalles"], "list_type", "Input should be a valid list", raw_lines)
            detalles = []
            for n, line in enumerate(raw_lines):
                if not isinstance(line, dict):
                    raise invalid(["body", "detalles", n], "model_type", "Input should be a valid dictionary", line)
                pid = line.get("producto_id")
                if not isinstance(pid, int) or isinstance(pid, bool):
                    raise invalid(["body", "detalles", n, "producto_id"], "int_parsing", NOT_AN_INTEGER, pid)
                if self.store.get(pid) is None:
                    raise Reply(fastapi_error(404, f"Producto {pid} no encontrado"))
                descuento = _checked_field("precio", line.get("descuento"))
                if descuento is None or not 0 < descuento <= 100:
                    raise invalid(["body", "detalles", n, "descuento"], "less_than_equal",
                                  "Input should be greater than 0 and at most 100", line.get("descuento"))
                detalles.append({"producto_id": pid, "descuento": descuento})
        return fecha, detalles

    # -- helpers -------------------------------------------------------------------------------
    def _product(self, raw_id: str) -> dict[str, Any]:
        product = self.store.get(_path_int("producto_id", raw_id))
        if product is None:
            raise Reply(fastapi_error(404, "Producto no encontrado"))
        return product

    def _page(self, request: Request, keep: Callable[[dict[str, Any]], bool]) -> Response:
        page = _int_query(request, "page", default=1, minimum=1)
        pagesize = _int_query(request, "pagesize", default=DEFAULT_PAGESIZE, minimum=1)
        matching = [product for product in self.store.all() if keep(product)]
        shown = matching[(page - 1) * pagesize: page * pagesize]
        if not all(_is_valid(product) for product in shown):
            return internal_server_error()
        return json_response(200, {"total": len(matching), "page": page, "pagesize": pagesize, "productos": shown})


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _shown(product: dict[str, Any]) -> Response:
    # The response model is validated even though the update was not: this is the negative-stock trap.
    return json_response(200, product) if _is_valid(product) else internal_server_error()


def _is_valid(product: dict[str, Any]) -> bool:
    stock, precio = product.get("stock"), product.get("precio")
    return (isinstance(stock, int) and not isinstance(stock, bool) and stock >= 0
            and isinstance(precio, (int, float)) and not isinstance(precio, bool) and precio > 0
            and isinstance(product.get("nombre"), str) and isinstance(product.get("tipo"), str)
            and isinstance(product.get("requiere_receta"), bool))


def _checked_field(key: str, value: Any) -> Any:
    """Type-check one body field the way pydantic's lax mode would; ranges are NOT checked."""
    location = ["body", key]
    if value is None:
        return None  # an explicit null is written, then breaks the response model
    if key in ("nombre", "tipo"):
        if not isinstance(value, str):
            raise invalid(location, "string_type", "Input should be a valid string", value)
        return value
    if key == "requiere_receta":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in TRUE_WORDS | FALSE_WORDS:
            return value.lower() in TRUE_WORDS
        raise invalid(location, "bool_parsing", "Input should be a valid boolean, unable to interpret input", value)
    if key == "stock":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and INTEGER.fullmatch(value):
            return int(value)
        raise invalid(location, "int_parsing", NOT_AN_INTEGER, value)
    try:  # precio
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise invalid(location, "float_parsing", "Input should be a valid number, unable to parse string as a number",
                      value) from None


def _path_int(name: str, raw: str) -> int:
    if not INTEGER.fullmatch(raw):
        raise invalid(["path", name], "int_parsing", NOT_AN_INTEGER, raw)
    return int(raw)


def _int_query(request: Request, name: str, default: int, minimum: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not INTEGER.fullmatch(raw):
        raise invalid(["query", name], "int_parsing", NOT_AN_INTEGER, raw)
    value = int(raw)
    if minimum is not None and value < minimum:
        raise invalid(["query", name], "greater_than_equal", f"Input should be greater than or equal to {minimum}",
                      raw, ge=minimum)
    return value


def _required(request: Request, name: str) -> str:
    if name not in request.query:
        raise invalid(["query", name], "missing", "Field required", None)
    return request.query[name]
