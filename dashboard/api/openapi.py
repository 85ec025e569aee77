"""The OpenAPI 3.1 description of /api/orchestrator, served at /openapi.json.

Kept true by tests: tests/api/test_openapi.py checks every URL route is described, and the
property-based run (schemathesis) checks every answer against it.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings

SERVICES = ["usuarios_y_autenticacion_y_compras", "productos_y_ofertas", "recetas_y_medicos"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}},
            "headers": {"X-Request-ID": {"$ref": "#/components/headers/XRequestID"}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


ERRORS_COMMON = {
    "400": _error("Entrada inválida o validación de negocio fallida"),
    "401": _error("Token ausente, mal formado, inválido o expirado"),
    "403": _error("Autenticado pero sin permiso (p. ej. no es ADMIN)"),
    "413": _error("Cuerpo demasiado grande"),
    "429": _error("Límite de solicitudes alcanzado (con Retry-After)"),
    "502": _error("Un servicio respondió 5xx o algo fuera de su contrato"),
    "503": _error("Un servicio no está disponible o su circuito está abierto (con Retry-After)"),
    "504": _error("Un servicio no respondió a tiempo"),
}


def _with(*codes: str, **extra: dict[str, Any]) -> dict[str, Any]:
    responses = {code: ERRORS_COMMON[code] for code in codes}
    responses.update(extra)
    responses["405"] = _error("Método no permitido (con Allow)")
    return responses


def _money() -> dict[str, Any]:
    return {"type": "number", "minimum": 0}


def schema() -> dict[str, Any]:
    bearer = [{"bearer": []}]
    receta_id = {"name": "receta_id", "in": "path", "required": True,
                 "description": "ObjectId de 24 caracteres hexadecimales",
                 "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"}}
    listing_params = [
        {"name": "usuario_id", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "desde", "in": "query", "schema": {"type": "string", "format": "date"}},
        {"name": "hasta", "in": "query", "schema": {"type": "string", "format": "date"}},
        {"name": "producto_id", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Botica · Orquestador",
            "version": "1.0.0",
            "description": (
                "Valida y registra compras (stock, recetas), enriquece compras con el detalle de productos "
                "y valida recetas antes de aprobarlas, delante de los tres microservicios de la botica. "
                "Todos los errores tienen la forma {\"error\", \"details\": {\"code\", ...}}."
            ),
        },
        "servers": [{"url": "/api/orchestrator"}],
        "paths": {
            "/health": {"get": {"summary": "Liveness (sin llamadas a servicios)", "operationId": "health",
                                "responses": _with(**{"200": _json(_ref("Health"), "Operativo")})}},
            "/echo": {"get": {"summary": "Igual que /health", "operationId": "echo",
                              "responses": _with(**{"200": _json(_ref("Health"), "Operativo")})}},
            "/ready": {"get": {
                "summary": "Readiness: /echo de los tres servicios, concurrentemente", "operationId": "ready",
                "responses": _with(**{"200": _json(_ref("Ready"), "Los tres servicios responden"),
                                      "503": _json(_ref("Ready"), "Al menos un servicio no responde")}),
            }},
            "/compras": {"post": {
                "summary": "Registrar una compra validando stock y recetas", "operationId": "purchase_register",
                "security": bearer,
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                           "pattern": "^[\\x21-\\x7E]+$"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("PurchaseRequest")}}},
                "responses": _with("400", "401", "413", "429", "502", "503", "504", **{
                    "201": _json(_ref("RegisteredPurchase"), "Compra registrada"),
                    "404": _error("Ruta no encontrada"),
                    "409": _error("La misma Idempotency-Key sigue en proceso"),
                    "422": _error("Idempotency-Key reutilizada con otro cuerpo"),
                }),
            }},
            "/compras/me": {"get": {
                "summary": "Mis compras, enriquecidas, más recientes primero", "operationId": "purchase_list_mine",
                "security": bearer,
                "responses": _with("401", "429", "502", "503", "504",
                                   **{"200": _json(_ref("PurchaseListing"), "Compras")}),
            }},
            "/compras/all": {"get": {
                "summary": "Compras de todos (ADMIN), con filtros y paginación opcional",
                "operationId": "purchase_list_all", "security": bearer, "parameters": listing_params,
                "responses": _with("400", "401", "403", "429", "502", "503", "504",
                                   **{"200": _json(_ref("PurchaseListing"), "Compras")}),
            }},
            "/recetas/estado/{receta_id}": {"put": {
                "summary": "Validar y cambiar el estado de una receta (ADMIN)",
                "operationId": "prescription_set_state", "security": bearer, "parameters": [receta_id],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("StateChange")}}},
                "responses": _with("400", "401", "403", "413", "429", "502", "503", "504", **{
                    "200": _json(_ref("StateChangeResult"), "Estado actualizado"),
                    "404": _error("Receta no encontrada"),
                }),
            }},
            "/recetas/validar/{receta_id}": {"put": {
                "summary": "Igual que estado/{receta_id} con VALIDADA (cuerpo vacío)",
                "operationId": "prescription_validate", "security": bearer, "parameters": [receta_id],
                "responses": _with("400", "401", "403", "413", "429", "502", "503", "504", **{
                    "200": _json(_ref("StateChangeResult"), "Receta validada"),
                    "404": _error("Receta no encontrada"),
                }),
            }},
            "/openapi.json": {"get": {"summary": "Este documento", "operationId": "openapi",
                                      "responses": _with(**{"200": {"description": "OpenAPI 3.1",
                                                                    "content": {"application/json": {}}}})}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                           "description": "El token de POST /api/auth/login del servicio de usuarios"}},
            "headers": {"XRequestID": {"description": "Id de la solicitud (el del cliente si es válido)",
                                       "schema": {"type": "string"}}},
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error", "details"],
                    "properties": {
                        "error": {"type": "string", "description": "Mensaje en español"},
                        "details": {"oneOf": [
                            {"type": "null"},
                            {"type": "object", "required": ["code"], "properties": {
                                "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                                "servicio": {"type": "string", "enum": SERVICES},
                            }},
                        ]},
                    },
                },
                "Health": {"type": "object", "required": ["status", "service", "message"],
                           "properties": {"status": {"const": "healthy"}, "service": {"const": "orchestrator"},
                                          "message": {"type": "string"}}},
                "Ready": {
                    "type": "object", "required": ["status", "servicios"],
                    "properties": {
                        "status": {"enum": ["ready", "degraded"]},
                        "servicios": {"type": "object", "additionalProperties": {
                            "type": "object", "required": ["status", "latencia_ms"],
                            "properties": {"status": {"enum": ["up", "down"]}, "latencia_ms": {"type": "integer"},
                                           "circuito": {"enum": ["cerrado", "abierto", "semiabierto"]}}}},
                    },
                },
                "PurchaseRequest": {
                    "oneOf": [
                        {"type": "object", "required": ["productos"], "title": "Líneas",
                         "properties": {
                             "productos": {"type": "array", "minItems": 1, "maxItems": settings.MAX_LINEAS,
                                           "items": {"type": "object", "required": ["producto_id", "cantidad"],
                                                     "properties": {
                                                         "producto_id": {"type": "integer", "minimum": 1},
                                                         "cantidad": {"type": "integer", "minimum": 1,
                                                                      "maximum": settings.MAX_CANTIDAD}}}},
                             "datos_adicionales": {"type": "object", "description": "Hasta 2 KB; se devuelve tal cual"},
                         }},
                        {"type": "object", "required": ["productos", "cantidades"], "title": "Listas paralelas",
                         "properties": {
                             "productos": {"type": "array", "minItems": 1, "maxItems": settings.MAX_LINEAS,
                                           "items": {"type": "integer", "minimum": 1}},
                             "cantidades": {"type": "array", "minItems": 1, "maxItems": settings.MAX_LINEAS,
                                            "items": {"type": "integer", "minimum": 1,
                                                      "maximum": settings.MAX_CANTIDAD}},
                             "datos_adicionales": {"type": "object"},
                         }},
                    ],
                },
                "PurchaseLine": {
                    "type": "object", "required": ["producto_id", "cantidad", "nombre", "precio"],
                    "properties": {
                        "producto_id": {"type": "integer"}, "cantidad": {"type": "integer"},
                        "nombre": {"type": ["string", "null"]}, "precio": {"type": ["number", "null"]},
                        "tipo": {"type": ["string", "null"]}, "stock": {"type": ["integer", "null"]},
                        "requiere_receta": {"type": ["boolean", "null"]},
                        "error": {"type": "string", "description": "Producto no disponible"},
                        "descuento": {"type": "number"}, "precio_final": {"type": "number"},
                        "subtotal": {"type": ["number", "null"]},
                    },
                },
                "Purchase": {
                    "type": "object",
                    "required": ["id", "fecha_compra", "usuario_id", "fechaCompra", "usuarioId", "productos",
                                 "cantidades", "productos_detalle", "total"],
                    "properties": {
                        "id": {"type": "integer"}, "fecha_compra": {"type": "string"},
                        "usuario_id": {"type": ["integer", "null"]}, "fechaCompra": {"type": "string"},
                        "usuarioId": {"type": ["integer", "null"]},
                        "productos": {"type": "array", "items": {"type": "integer"}},
                        "cantidades": {"type": "array", "items": {"type": "integer"}},
                        "productos_detalle": {"type": "array", "items": _ref("PurchaseLine")},
                        "total": _money(), "incompleta": {"type": "boolean"},
                    },
                },
                "RegisteredPurchase": {"allOf": [_ref("Purchase"), {
                    "type": "object", "properties": {"datos_adicionales": {"type": ["object", "null"]}}}]},
                "PurchaseListing": {
                    "type": "object", "required": ["compras"],
                    "properties": {
                        "compras": {"type": "array", "items": _ref("Purchase")},
                        "advertencias": {"type": "array", "items": {"type": "string"}},
                        "total": {"type": "integer"}, "page": {"type": "integer"}, "page_size": {"type": "integer"},
                    },
                },
                "StateChange": {
                    "type": "object",
                    "description": "Clave estadovalidacion, estadoValidacion o estado; valor sin distinguir mayúsculas",
                    "properties": {
                        "estadovalidacion": {"type": "string", "enum": ["VALIDADA", "RECHAZADA", "PENDIENTE",
                                                                         "validada", "rechazada", "pendiente"]},
                        "motivo": {"type": "string", "maxLength": 500},
                    },
                },
                "StateChangeResult": {
                    "type": "object", "required": ["mensaje", "receta"],
                    "properties": {
                        "mensaje": {"type": "string"}, "receta": {"type": "object"},
                        "validaciones": {"type": "object"}, "motivo": {"type": "string"},
                    },
                },
            },
        },
    }
