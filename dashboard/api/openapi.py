"""The OpenAPI 3.1 description of /api/orchestrator, served at /openapi.json.

Kept true by tests: tests/api/test_openapi.py checks every URL route is described, and the
property-based run (schemathesis) checks every answer against it.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings

from dashboard.clients.base import PRODUCT_ID_MAX as ID_MAX
from dashboard.services.prescriptions import MOTIVO_MAX_CHARS, STATE_KEYS
from dashboard.services.purchases import DATOS_ADICIONALES_MAX_BYTES, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX

SERVICES = ["usuarios_y_autenticacion_y_compras", "productos_y_ofertas", "recetas_y_medicos"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, **headers: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}},
            "headers": {"X-Request-ID": {"$ref": "#/components/headers/XRequestID"},
                        **{name: {"$ref": f"#/components/headers/{ref}"} for name, ref in headers.items()}}}


def _error(description: str, **headers: str) -> dict[str, Any]:
    return _json(_ref("Error"), description, **headers)


ERRORS_COMMON = {
    "400": _error("Entrada inválida o validación de negocio fallida"),
    "401": _error("Token ausente, mal formado, inválido o expirado"),
    "403": _error("Autenticado pero sin permiso (p. ej. no es ADMIN)"),
    "413": _error("Cuerpo demasiado grande"),
    "429": _error("Límite de solicitudes alcanzado (con Retry-After)", **{"Retry-After": "RetryAfter"}),
    "502": _error("Un servicio respondió 5xx o algo fuera de su contrato"),
    "503": _error("Un servicio no está disponible o su circuito está abierto (con Retry-After)",
                  **{"Retry-After": "RetryAfterOptional"}),
    "504": _error("Un servicio no respondió a tiempo; en una escritura de resultado desconocido, "
                  "code resultado_incierto (puede haberse aplicado)"),
    "501": _error("El servicio desplegado no tiene la ruta para lo pedido (operacion_no_soportada; "
                  "details.servicio y details.ruta la nombran); no se escribió nada"),
}


def _with(*codes: str, **extra: dict[str, Any]) -> dict[str, Any]:
    # Any request may carry a body, so any route can answer 413.
    responses = {code: ERRORS_COMMON[code] for code in sorted({*codes, "413"})}
    responses.update(extra)
    responses["405"] = _error("Método no permitido (con Allow)", Allow="Allow")
    return dict(sorted(responses.items()))


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    # An empty value counts as absent: the dashboard's filter form sends every field, filled or not.
    return {"name": name, "in": "query", "description": description + ". Vacío = sin filtro.",
            "schema": {"anyOf": [schema, {"type": "string", "maxLength": 0}]}}


def _money() -> dict[str, Any]:
    return {"type": "number", "minimum": 0}


def schema() -> dict[str, Any]:
    bearer = [{"bearer": []}]
    receta_id = {"name": "receta_id", "in": "path", "required": True,
                 "description": "ObjectId de 24 caracteres hexadecimales",
                 "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"}}
    listing_params = [
        _query("usuario_id", {"type": "integer", "minimum": 1, "maximum": ID_MAX}, "Solo compras de este usuarioId"),
        _query("desde", {"type": "string", "format": "date"}, "Desde esta fecha (AAAA-MM-DD), inclusive"),
        _query("hasta", {"type": "string", "format": "date"}, "Hasta esta fecha (AAAA-MM-DD), inclusive"),
        _query("producto_id", {"type": "integer", "minimum": 1, "maximum": ID_MAX},
               "Solo compras que incluyen este producto"),
        _query("page", {"type": "integer", "minimum": 1, "maximum": 10**6},
               "Página (activa la paginación; por defecto 1)"),
        _query("page_size", {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE_MAX},
               f"Tamaño de página (activa la paginación; por defecto {PAGE_SIZE_DEFAULT})"),
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
                "summary": "Readiness: /echo de los tres servicios y la caché compartida", "operationId": "ready",
                "responses": _with(**{"200": _json(_ref("Ready"), "Los tres servicios responden"),
                                      "503": _json(_ref("Ready"), "Al menos un servicio o la caché no responde")}),
            }},
            "/compras": {"post": {
                "summary": "Registrar una compra validando stock y recetas", "operationId": "purchase_register",
                "security": bearer,
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                "description": ("El mismo llamante con la misma clave y el mismo cuerpo recibe "
                                                "la primera respuesta otra vez (24 h); nada se compra dos veces"),
                                "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                           "pattern": "^[\\x21-\\x7E]+$"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("PurchaseRequest")}}},
                "responses": _with("400", "401", "413", "429", "502", "503", "504", **{
                    "201": _json(_ref("RegisteredPurchase"), "Compra registrada"),
                    "404": _error("Ruta no encontrada"),
                    "409": _error("La misma Idempotency-Key sigue en proceso"),
                    "422": _error("Idempotency-Key reutilizada con otro cuerpo"),
                    "503": _error("Un servicio o la caché compartida (cache_no_disponible) no está disponible "
                                  "(con Retry-After); nada se tomó", **{"Retry-After": "RetryAfterOptional"}),
                    "504": _error("Un servicio no respondió a tiempo. Con details.code = resultado_incierto la "
                                  "compra puede haberse registrado: repita con la Idempotency-Key que trae la "
                                  "respuesta (cabecera y details.idempotency_key) para conocer el resultado",
                                  **{"Idempotency-Key": "IdempotencyKey"}),
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
                "description": (
                    "Más recientes primero (empates por id). Sin `page` ni `page_size` responde todas las "
                    "compras que pasan los filtros, en un solo cuerpo (20.000 compras ≈ 9 MB). Con "
                    "cualquiera de los dos responde solo esa página y añade `total` (compras tras los "
                    f"filtros), `page` y `page_size` (por defecto {PAGE_SIZE_DEFAULT}, máximo {PAGE_SIZE_MAX}); "
                    "una página fuera de rango responde `compras: []`. Los filtros y la página se aplican "
                    "antes de leer productos: solo se consultan los productos de la página."),
                "operationId": "purchase_list_all", "security": bearer, "parameters": listing_params,
                "responses": _with("400", "401", "403", "429", "502", "503", "504",
                                   **{"200": _json(_ref("PurchaseListing"), "Compras")}),
            }},
            "/recetas/estado/{receta_id}": {"put": {
                "summary": "Validar y cambiar el estado de una receta (ADMIN)",
                "operationId": "prescription_set_state", "security": bearer, "parameters": [receta_id],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("StateChange")}}},
                "responses": _with("400", "401", "403", "413", "429", "501", "502", "503", "504", **{
                    "200": _json(_ref("StateChangeResult"), "Estado actualizado"),
                    "404": _error("Receta no encontrada"),
                }),
            }},
            "/recetas/validar/{receta_id}": {"put": {
                "summary": "Igual que estado/{receta_id} con VALIDADA (cuerpo vacío)",
                "operationId": "prescription_validate", "security": bearer, "parameters": [receta_id],
                "requestBody": {"required": False,
                                "content": {"application/json": {"schema": _ref("ValidationBody")}}},
                "responses": _with("400", "401", "403", "413", "429", "501", "502", "503", "504", **{
                    "200": _json(_ref("StateChangeResult"), "Receta validada"),
                    "404": _error("Receta no encontrada"),
                }),
            }},
            "/openapi.json": {"get": {"summary": "Este documento", "operationId": "openapi",
                                      "responses": _with("429", **{"200": {"description": "OpenAPI 3.1",
                                                                    "content": {"application/json": {}}}})}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                           "description": "El token de POST /api/auth/login del servicio de usuarios"}},
            "headers": {
                "XRequestID": {"description": "Id de la solicitud (el del cliente si es válido)", "required": True,
                               "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}},
                "RetryAfter": {"description": "Segundos que conviene esperar antes de reintentar", "required": True,
                               "schema": {"type": "string", "pattern": "^[0-9]+$"}},
                "RetryAfterOptional": {"description": "Segundos que conviene esperar (si el circuito está abierto)",
                                       "schema": {"type": "string", "pattern": "^[0-9]+$"}},
                "IdempotencyKey": {"description": "La clave con la que repetir la solicitud para conocer su "
                                                  "resultado (la del cliente o una generada)",
                                   "schema": {"type": "string"}},
                "Allow": {"description": "Métodos que la ruta admite", "required": True,
                          "schema": {"type": "string"}},
            },
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
                        "cache": {"type": "object", "required": ["status"],
                                  "properties": {"status": {"enum": ["up", "down"]}, "backend": {"type": "string"},
                                                 "latencia_ms": {"type": "integer"}}},
                    },
                },
                "PurchaseRequest": {
                    "oneOf": [
                        {"type": "object", "required": ["productos"], "title": "Líneas",
                         # With `cantidades` present the body is read as the parallel-lists shape.
                         "not": {"required": ["cantidades"]},
                         "properties": {
                             "productos": {"type": "array", "minItems": 1, "maxItems": settings.MAX_LINEAS,
                                           "items": {"type": "object", "required": ["producto_id", "cantidad"],
                                                     "properties": {
                                                         "producto_id": {"type": "integer", "minimum": 1,
                                                                         "maximum": ID_MAX},
                                                         "cantidad": {"type": "integer", "minimum": 1,
                                                                      "maximum": settings.MAX_CANTIDAD}}}},
                             "datos_adicionales": _ref("DatosAdicionales"),
                         }},
                        {"type": "object", "required": ["productos", "cantidades"], "title": "Listas paralelas",
                         "properties": {
                             "productos": {"type": "array", "minItems": 1, "maxItems": settings.MAX_LINEAS,
                                           "items": {"type": "integer", "minimum": 1, "maximum": ID_MAX}},
                             "cantidades": {"type": "array", "minItems": 1, "maxItems": settings.MAX_LINEAS,
                                            "items": {"type": "integer", "minimum": 1,
                                                      "maximum": settings.MAX_CANTIDAD}},
                             "datos_adicionales": _ref("DatosAdicionales"),
                         }},
                    ],
                },
                "DatosAdicionales": {"type": ["object", "null"],
                                     "description": f"Hasta {DATOS_ADICIONALES_MAX_BYTES} bytes en JSON; se devuelve "
                                                    "tal cual y nunca se envía a los servicios"},
                "PurchaseLine": {
                    "type": "object", "required": ["producto_id", "cantidad", "nombre", "precio"],
                    "properties": {
                        "producto_id": {"type": "integer"}, "cantidad": {"type": "integer"},
                        "nombre": {"type": ["string", "null"]},
                        "precio": {"type": ["number", "null"],
                                   "description": "Precio de lista actual del catálogo (no lo cobrado)"},
                        "tipo": {"type": ["string", "null"]}, "stock": {"type": ["integer", "null"]},
                        "requiere_receta": {"type": ["boolean", "null"]},
                        "error": {"type": "string", "description": "Producto no disponible"},
                        "descuento": {"type": "number", "description": "Solo al registrar: % de la mejor oferta "
                                                                      "vigente, aplicado"},
                        "precio_final": {"type": "number",
                                         "description": "Solo al registrar: lo cobrado por unidad (con descuento)"},
                        "subtotal": {"type": ["number", "null"],
                                     "description": "Al registrar: lo cobrado por la línea"},
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
                        "total": {**_money(), "description": "Al registrar (201): lo cobrado. En un listado: "
                                                             "a precios actuales del catálogo, solo líneas con "
                                                             "precio conocido"},
                        "incompleta": {"type": "boolean"},
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
                    "description": ("El estado va en estadovalidacion, estadoValidacion o estado (si van varias, "
                                    "deben coincidir); el valor no distingue mayúsculas"),
                    "anyOf": [{"required": [key]} for key in STATE_KEYS],
                    "properties": {
                        **{key: _ref("Estado") for key in STATE_KEYS},
                        "motivo": {"type": ["string", "null"], "maxLength": MOTIVO_MAX_CHARS,
                                   "description": "Se devuelve en la respuesta de un rechazo"},
                    },
                },
                "ValidationBody": {
                    "type": ["object", "null"],
                    "description": "Opcional: vacío, o un estado que solo puede ser VALIDADA",
                    "properties": {key: {"type": "string", "enum": ["VALIDADA", "validada"]} for key in STATE_KEYS},
                },
                "Estado": {"type": "string", "enum": ["VALIDADA", "RECHAZADA", "PENDIENTE",
                                                      "validada", "rechazada", "pendiente"]},
                "StateChangeResult": {
                    "type": "object", "required": ["mensaje", "receta"],
                    "properties": {
                        "mensaje": {"type": "string"}, "receta": {"type": "object"},
                        "validaciones": {"type": "object"}, "motivo": {"type": "string"},
                        "cambios": {"type": "object", "description": (
                            "Lo que el servicio guardó distinto de lo revisado (p. ej. releyó el PDF): "
                            "{campo: {antes, despues}}"),
                                    "additionalProperties": {"type": "object", "required": ["antes", "despues"]}},
                        "advertencias": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    }
