"""The API reference page (/api): the OpenAPI document, rendered as HTML on the server.

No JavaScript, no CDN: the page is built from `dashboard.api.openapi.schema()`, the same document
served at /api/orchestrator/openapi.json, so it cannot drift from what the API answers. Public on
purpose: it describes a contract for API consumers and holds nothing that is not in that document.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET

from dashboard.api.openapi import ERRORS_COMMON
from dashboard.api.openapi import schema as openapi_schema

METHODS = ("get", "post", "put", "patch", "delete")
MAX_DEPTH = 6  # deeper than any schema of ours; guards against a self-referencing one
ERROR_EXAMPLE = {"error": "El servicio de productos no está disponible",
                 "details": {"code": "servicio_no_disponible", "servicio": "productos_y_ofertas"}}


@dataclass(frozen=True)
class Field:
    """One row of a schema table: `name` is a path such as `productos[].cantidad`."""

    name: str
    type: str
    required: bool
    constraints: str
    description: str
    depth: int
    schema_link: str | None = None


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    operation_id: str
    needs_token: bool
    parameters: list[dict[str, Any]]
    body: list[Field] | None
    body_required: bool
    body_schema: str | None
    responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return f"op-{self.operation_id}"


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref.startswith("#/components/") else None


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    name = _ref_name(schema)
    return components[name] if name else schema


# JSON types named in Spanish like the rest of the page (the JSON itself keeps its own names).
TYPE_LABELS = {"string": gettext_lazy("texto"), "integer": gettext_lazy("entero"), "number": gettext_lazy("número"),
               "boolean": gettext_lazy("booleano"), "object": gettext_lazy("objeto"), "null": gettext_lazy("nulo"),
               "any": gettext_lazy("cualquiera")}


PARAM_PLACES = {"query": gettext_lazy("consulta"), "path": gettext_lazy("ruta"), "header": gettext_lazy("cabecera")}


def _type_text(schema: dict[str, Any], components: dict[str, Any]) -> str:
    name = _ref_name(schema)
    if name:
        return name
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    if "enum" in schema:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema and "type" not in schema:
            return " | ".join(_type_text(alt, components) for alt in schema[combinator])
    kind = schema.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    texts = []
    for k in kinds:
        if k == "array":
            texts.append(_("lista de %(tipo)s") % {"tipo": _type_text(schema.get("items", {}), components)})
        elif k == "string" and schema.get("maxLength") == 0:
            texts.append(_("vacío"))
        elif k == "string" and "format" in schema:
            texts.append(f"{TYPE_LABELS['string']} ({schema['format']})")
        else:
            texts.append(str(TYPE_LABELS.get(k, k)))
    return " | ".join(texts)


# Counted units agree with their number ("mín. 1 carácter", "máx. 3 caracteres").
_COUNTED = {
    "minLength": lambda n: ngettext("mín. %(n)s carácter", "mín. %(n)s caracteres", n) % {"n": n},
    "maxLength": lambda n: ngettext("máx. %(n)s carácter", "máx. %(n)s caracteres", n) % {"n": n},
    "minItems": lambda n: ngettext("mín. %(n)s elemento", "mín. %(n)s elementos", n) % {"n": n},
    "maxItems": lambda n: ngettext("máx. %(n)s elemento", "máx. %(n)s elementos", n) % {"n": n},
}


def _constraints(schema: dict[str, Any]) -> str:
    parts = []
    for key in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern"):
        if key not in schema or (key == "maxLength" and schema[key] == 0):
            continue
        value = schema[key]
        if key in _COUNTED and isinstance(value, int):
            parts.append(_COUNTED[key](value))
        elif key == "pattern":
            parts.append(_("patrón %(patron)s") % {"patron": value})
        else:
            parts.append(("≥ %s" if key == "minimum" else "≤ %s") % value)
    for alt in schema.get("anyOf", []) + schema.get("oneOf", []):
        if "properties" not in alt and "$ref" not in alt:
            parts.extend(p for p in [_constraints(alt)] if p)
    items = schema.get("items")
    if items and "properties" not in items and "$ref" not in items and (rules := _constraints(items)):
        parts.append(_("cada elemento: %(reglas)s") % {"reglas": rules})
    return "; ".join(parts)


def schema_fields(schema: dict[str, Any], components: dict[str, Any], *, prefix: str = "", depth: int = 0,
                  expand_refs: bool = True) -> list[Field]:
    """A schema as table rows, nested objects and arrays flattened into dotted names.

    Alternatives (`oneOf`/`anyOf` of objects) become a header row each, followed by their fields.
    """
    resolved = _resolve(schema, components) if expand_refs else schema
    if depth > MAX_DEPTH:
        return []
    rows: list[Field] = []
    alternatives = [alt for key in ("oneOf", "anyOf", "allOf") for alt in resolved.get(key, [])
                    if "properties" in _resolve(alt, components) or "oneOf" in _resolve(alt, components)]
    if alternatives:
        combined = "allOf" in resolved
        for number, alt in enumerate(alternatives, start=1):
            target = _resolve(alt, components)
            if not combined:
                title = target.get("title") or _ref_name(alt) or ""
                rows.append(Field(name=_("Alternativa %(n)s") % {"n": number} + (f": {title}" if title else ""),
                                  type="", required=False, constraints="", description=target.get("description", ""),
                                  depth=depth))
            rows.extend(schema_fields(target, components, prefix=prefix, depth=depth + (0 if combined else 1)))
        return rows
    required = set(resolved.get("required", []))
    for name, prop in resolved.get("properties", {}).items():
        target = _resolve(prop, components)
        full = f"{prefix}{name}"
        link = _ref_name(prop)
        rows.append(Field(name=full, type=_type_text(prop, components), required=name in required,
                          constraints=_constraints(target), description=target.get("description", ""),
                          depth=depth, schema_link=link))
        items = target.get("items", {})
        if "properties" in target or "oneOf" in target or "allOf" in target:
            rows.extend(schema_fields(target, components, prefix=f"{full}.", depth=depth + 1))
        elif "properties" in _resolve(items, components):
            rows.extend(schema_fields(items, components, prefix=f"{full}[].", depth=depth + 1))
    return rows


def _parameter(param: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    schema = param.get("schema", {})
    return {"name": param["name"], "in": str(PARAM_PLACES.get(param["in"], param["in"])),
            "required": param.get("required", False),
            "type": _type_text(schema, components), "constraints": _constraints(schema),
            "description": param.get("description", "")}


def _response(status: str, response: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return {"status": status, "description": response.get("description", ""),
            "schema": _ref_name(schema) if schema else None,
            "headers": [name for name in response.get("headers", {}) if name != "X-Request-ID"]}


def operations(doc: dict[str, Any]) -> list[Operation]:
    components = doc["components"]["schemas"]
    base = doc["servers"][0]["url"]
    found = []
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = op.get("requestBody")
            body_schema = body["content"]["application/json"]["schema"] if body else None
            found.append(Operation(
                method=method.upper(), path=base + path, summary=op.get("summary", ""),
                operation_id=op.get("operationId", f"{method}-{path}"), needs_token=bool(op.get("security")),
                parameters=[_parameter(p, components) for p in op.get("parameters", [])],
                body=schema_fields(body_schema, components) if body_schema else None,
                body_required=bool(body and body.get("required")),
                body_schema=_ref_name(body_schema) if body_schema else None,
                responses=[_response(s, r, components) for s, r in sorted(op["responses"].items())],
            ))
    return found


def api_reference(doc: dict[str, Any]) -> dict[str, Any]:
    """The template context: operations, every named schema as rows, the error shape."""
    components = doc["components"]["schemas"]
    return {
        "info": doc["info"],
        "openapi_version": doc["openapi"],
        "operations": operations(doc),
        "schemas": [_named_schema(name, schema, components) for name, schema in components.items()],
        "error_fields": schema_fields(components["Error"], components),
        "error_example": json.dumps(ERROR_EXAMPLE, ensure_ascii=False, indent=2),
        "error_statuses": sorted({**ERRORS_COMMON, "405": {"description": _("Método no permitido (con Allow)")}}
                                 .items()),
    }


def _named_schema(name: str, schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    fields = schema_fields(schema, components)
    # A schema without fields (a plain enum, a nullable object) is shown by its type instead.
    return {"name": name, "description": schema.get("description", ""), "fields": fields,
            "type": "" if fields else _type_text(schema, components)}


@require_GET
def api_docs(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/api_docs.html", {**api_reference(openapi_schema()), "nav": "api"})
