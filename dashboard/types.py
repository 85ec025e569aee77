"""Typed values for upstream data, built at the edge by the clients (`from_wire`).

A renamed or mistyped upstream field fails here, in one function, as `WireError`, which the client
base turns into a 502 naming the service. Money is `Decimal` from here on.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

# Where the pharmacy is: every time is shown (and every calendar day counted) in Lima.
LIMA = ZoneInfo("America/Lima")
ROLE_ADMIN = "ADMIN"
ROLE_CLIENT = "CLIENTE"


class WireError(ValueError):
    """An upstream body that is not what its contract promises."""


def _req(data: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(data, dict):
        raise WireError(f"expected an object with {key!r}")
    value = data.get(key)
    # bool is an int in Python; no upstream sends a bool where a number is promised.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise WireError(f"field {key!r} has the wrong type")
    return value


def _opt(data: dict, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise WireError(f"field {key!r} has the wrong type")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _list(data: Any, key: str | None = None) -> list:
    value = data if key is None else (data.get(key) if isinstance(data, dict) else None)
    if not isinstance(value, list):
        raise WireError(f"expected a list{'' if key is None else f' in {key!r}'}")
    return value


def parse_naive_datetime(value: str, zone: dt.tzinfo = dt.UTC) -> dt.datetime:
    """Parse an upstream's ISO datetime into an aware one; a naive one is in `zone`, the zone the
    service runs in (settings `UPSTREAM_TIMEZONE_*`; the real ones run without TZ: UTC)."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError) as exc:
        raise WireError(f"bad datetime {value!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _money(value: Any) -> Decimal:
    return Decimal(str(value))


@dataclass(frozen=True)
class User:
    dni: str
    email: str
    nombre: str
    apellido: str
    role: str
    distrito: str = ""

    @classmethod
    def from_wire(cls, data: Any) -> User:
        return cls(
            dni=_req(data, "dni", str),
            email=_opt(data, "email", str, ""),
            nombre=_opt(data, "nombre", str, ""),
            apellido=_opt(data, "apellido", str, ""),
            role=_req(data, "role", str),
            distrito=_opt(data, "distrito", str, ""),
        )

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN

    @property
    def full_name(self) -> str:
        return f"{self.nombre} {self.apellido}".strip() or self.dni


@dataclass(frozen=True)
class Product:
    id: int
    nombre: str
    tipo: str
    precio: Decimal
    stock: int
    requiere_receta: bool
    fecha_creacion: str = ""
    fecha_actualizacion: str = ""

    @classmethod
    def from_wire(cls, data: Any) -> Product:
        return cls(
            id=_req(data, "id", int),
            nombre=_req(data, "nombre", str),
            tipo=_opt(data, "tipo", str, ""),
            precio=_money(_req(data, "precio", (int, float))),
            stock=_req(data, "stock", int),
            requiere_receta=bool(_opt(data, "requiere_receta", bool, False)),
            fecha_creacion=_opt(data, "fecha_creacion", str, ""),
            fecha_actualizacion=_opt(data, "fecha_actualizacion", str, ""),
        )


@dataclass(frozen=True)
class ProductPage:
    total: int
    page: int
    pagesize: int
    productos: tuple[Product, ...]

    @classmethod
    def from_wire(cls, data: Any) -> ProductPage:
        return cls(
            total=_req(data, "total", int),
            page=_opt(data, "page", int, 1),
            pagesize=_opt(data, "pagesize", int, 25),
            productos=tuple(Product.from_wire(p) for p in _list(data, "productos")),
        )


@dataclass(frozen=True)
class OfferDetail:
    producto_id: int
    descuento: Decimal

    @classmethod
    def from_wire(cls, data: Any) -> OfferDetail:
        return cls(producto_id=_req(data, "producto_id", int), descuento=_money(_req(data, "descuento", (int, float))))


@dataclass(frozen=True)
class Offer:
    id: int
    fecha_vencimiento: dt.datetime
    detalles: tuple[OfferDetail, ...]

    @classmethod
    def from_wire(cls, data: Any, zone: dt.tzinfo = dt.UTC) -> Offer:
        return cls(
            id=_req(data, "id", int),
            fecha_vencimiento=parse_naive_datetime(_req(data, "fecha_vencimiento", str), zone),
            detalles=tuple(OfferDetail.from_wire(d) for d in _list(data, "detalles")),
        )


@dataclass(frozen=True)
class Purchase:
    id: int
    fecha_compra: str  # Lima time with its offset ("2025-10-21T12:11:47.482913-05:00"), as the API shows it
    fecha: dt.datetime  # aware
    usuario_id: int | None
    productos: tuple[int, ...]
    cantidades: tuple[int, ...]

    @classmethod
    def from_wire(cls, data: Any, zone: dt.tzinfo = dt.UTC) -> Purchase:
        fast = cls._from_wire_fast(data, zone)  # a listing parses thousands: the common shape in one pass
        if fast is not None:
            return fast
        productos = tuple(_list(data, "productos"))
        cantidades = tuple(_list(data, "cantidades"))
        if len(productos) != len(cantidades) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in productos + cantidades
        ):
            raise WireError("purchase lists are not parallel integer lists")
        fecha = parse_naive_datetime(_req(data, "fechaCompra", str), zone)
        return cls(
            id=_req(data, "id", int),
            fecha_compra=fecha.astimezone(LIMA).isoformat(),
            fecha=fecha,
            usuario_id=_opt(data, "usuarioId", int),
            productos=productos,
            cantidades=cantidades,
        )

    @classmethod
    def _from_wire_fast(cls, data: Any, zone: dt.tzinfo = dt.UTC) -> Purchase | None:
        """The same checks for a well-formed purchase (exact types: bool is not int); None sends
        anything else through `from_wire`'s slow path and its precise error."""
        if type(data) is not dict:
            return None
        pid, fecha_compra, usuario_id = data.get("id"), data.get("fechaCompra"), data.get("usuarioId")
        productos, cantidades = data.get("productos"), data.get("cantidades")
        if (type(pid) is not int or type(fecha_compra) is not str or not (usuario_id is None or type(usuario_id) is int)
                or type(productos) is not list or type(cantidades) is not list or len(productos) != len(cantidades)
                or not all(type(v) is int for v in productos) or not all(type(v) is int for v in cantidades)):
            return None
        fecha = parse_naive_datetime(fecha_compra, zone)
        return cls(id=pid, fecha_compra=fecha.astimezone(LIMA).isoformat(), fecha=fecha, usuario_id=usuario_id,
                   productos=tuple(productos), cantidades=tuple(cantidades))


@dataclass(frozen=True)
class PrescriptionItem:
    producto_id: int | None
    nombre: str
    cantidad: int

    @classmethod
    def from_wire(cls, data: Any) -> PrescriptionItem:
        return cls(
            producto_id=_opt(data, "id", int),
            nombre=_opt(data, "nombre", str, ""),
            cantidad=_opt(data, "cantidad", int, 0),
        )


@dataclass(frozen=True)
class Prescription:
    id: str
    paciente_dni: str
    medico_cmp: str
    fecha_emision: dt.datetime
    productos: tuple[PrescriptionItem, ...]
    estado: str
    archivo_pdf: str = ""
    pdf_url: str = ""
    created_at: str = ""
    updated_at: str = ""
    # The upstream document as received, passed through where the API promises "the prescription".
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: Any) -> Prescription:
        fecha = parse_naive_datetime(_req(data, "fechaEmision", str))
        if fecha.tzinfo is None:
            fecha = fecha.replace(tzinfo=dt.UTC)
        return cls(
            id=_req(data, "_id", str),
            paciente_dni=_req(data, "pacienteDNI", str),
            medico_cmp=_req(data, "medicoCMP", str),
            fecha_emision=fecha,
            productos=tuple(PrescriptionItem.from_wire(p) for p in _list(data, "productos")),
            estado=_req(data, "estadoValidacion", str),
            archivo_pdf=_opt(data, "archivoPDF", str, ""),
            pdf_url=_opt(data, "pdfUrl", str, ""),
            created_at=_opt(data, "createdAt", str, ""),
            updated_at=_opt(data, "updatedAt", str, ""),
            raw=dict(data),
        )


@dataclass(frozen=True)
class PrescriptionPage:
    page: int
    pagesize: int
    total: int
    items: tuple[Prescription, ...]

    @classmethod
    def from_wire(cls, data: Any) -> PrescriptionPage:
        return cls(
            page=_opt(data, "page", int, 1),
            pagesize=_opt(data, "pagesize", int, 10),
            total=_req(data, "total", int),
            items=tuple(Prescription.from_wire(p) for p in _list(data, "items")),
        )


@dataclass(frozen=True)
class Doctor:
    id: str
    cmp: str
    nombre: str
    especialidad: str
    colegiatura_valida: bool

    @classmethod
    def from_wire(cls, data: Any) -> Doctor:
        return cls(
            id=_opt(data, "_id", str, ""),
            cmp=_req(data, "cmp", str),
            nombre=_opt(data, "nombre", str, ""),
            especialidad=_opt(data, "especialidad", str, ""),
            colegiatura_valida=_req(data, "colegiaturaValida", bool),
        )


@dataclass(frozen=True)
class DoctorPage:
    page: int
    limit: int
    total: int
    items: tuple[Doctor, ...]

    @classmethod
    def from_wire(cls, data: Any) -> DoctorPage:
        return cls(
            page=_opt(data, "page", int, 1),
            limit=_opt(data, "limit", int, 10),
            total=_req(data, "total", int),
            items=tuple(Doctor.from_wire(d) for d in _list(data, "items")),
        )
