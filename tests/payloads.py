"""Payload builders for upstream bodies, as the real services send them."""
from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

LIMA = ZoneInfo("America/Lima")


def user_payload(dni: str = "72345678", role: str = "CLIENTE", **kw: Any) -> dict:
    return {"dni": dni, "email": kw.pop("email", f"u{dni}@example.com"), "nombre": kw.pop("nombre", "Ana"),
            "apellido": kw.pop("apellido", "Quispe"), "role": role, "distrito": kw.pop("distrito", "San Borja"), **kw}


def product_payload(id: int = 1, *, nombre: str | None = None, precio: float = 5.5, stock: int = 100,
                    requiere_receta: bool = False, tipo: str = "Analgesico") -> dict:
    return {"nombre": nombre or f"Producto {id}", "tipo": tipo, "precio": precio, "stock": stock,
            "requiere_receta": requiere_receta, "id": id, "fecha_creacion": "2025-10-12T22:50:01",
            "fecha_actualizacion": "2025-10-21T17:11:47"}


def purchase_payload(id: int = 15, *, productos: list[int] | None = None, cantidades: list[int] | None = None,
                     fecha: str = "2025-10-21T17:11:47.482913", usuario_id: int = 3) -> dict:
    productos = productos or [1]
    return {"id": id, "fechaCompra": fecha, "usuarioId": usuario_id, "productos": productos,
            "cantidades": cantidades or [1] * len(productos)}


def offer_payload(id: int = 1, *, detalles: list[tuple[int, float]], days: int = 30) -> dict:
    vence = (dt.datetime.now() + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S")
    return {"id": id, "fecha_vencimiento": vence, "fecha_creacion": "2025-10-01T00:00:00",
            "fecha_actualizacion": "2025-10-01T00:00:00",
            "detalles": [{"producto_id": p, "descuento": d, "id": i} for i, (p, d) in enumerate(detalles, 1)]}


def prescription_payload(id: str = "68f7c2e4a1b2c3d4e5f60718", *, dni: str = "72345678", cmp: str = "CMP100001",
                         days_ago: int = 2, productos: list[tuple[int, str, int]] | None = None,
                         estado: str = "pendiente") -> dict:
    # A date-only emission is stored as midnight UTC of the day written on the paper; "days ago" counts
    # on Lima's calendar, as the validity check does (between 00:00 and 05:00 UTC the two differ).
    issued = dt.datetime.now(LIMA).date() - dt.timedelta(days=days_ago)
    emitted = f"{issued.isoformat()}T00:00:00.000Z"
    productos = productos if productos is not None else [(40, "Amoxicilina 500mg", 2)]
    return {"_id": id, "pacienteDNI": dni, "medicoCMP": cmp, "fechaEmision": emitted,
            "productos": [{"id": p, "nombre": n, "cantidad": c, "_id": f"{i:024x}"}
                          for i, (p, n, c) in enumerate(productos)],
            "archivoPDF": "https://example.com/recetas/x.pdf", "estadoValidacion": estado,
            "createdAt": "2025-10-21T18:02:11.512Z", "updatedAt": "2025-10-21T18:02:11.512Z", "__v": 0}


def doctor_payload(cmp: str = "CMP100001", *, valida: bool = True, nombre: str = "Dr. Lorena Chávez") -> dict:
    return {"_id": "6" + cmp.lower().rjust(23, "0")[-23:], "cmp": cmp, "nombre": nombre,
            "especialidad": "Neurología", "colegiaturaValida": valida}


def page(items: list, *, key: str = "items", total: int | None = None, page: int = 1, size_key: str = "pagesize",
         size: int = 100) -> dict:
    return {"page": page, size_key: size, "total": len(items) if total is None else total, key: items}
