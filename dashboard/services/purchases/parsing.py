"""What a purchase request is: the two body shapes of `POST /compras`, validated into a `PurchaseRequest`."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from dashboard.clients.base import PRODUCT_ID_MAX
from dashboard.errors import BadRequest

DATOS_ADICIONALES_MAX_BYTES = 2048


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


