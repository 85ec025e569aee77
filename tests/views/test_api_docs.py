"""The human-readable API page (/api), rendered from the OpenAPI document."""
from __future__ import annotations

import html
import re

from django.urls import reverse

from dashboard.api.openapi import schema as openapi_schema
from dashboard.views.apidocs import schema_fields


def cell(text: object) -> str:
    """A code cell's closing part: the cell also carries a data-label for phone-width cards."""
    return f'class="mono">{text}</td>'


def page(client) -> str:
    response = client.get(reverse("dashboard:api_docs"))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_api_docs_is_served_at_api_without_login(client):
    response = client.get("/api")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_api_docs_lists_every_path_and_method_of_the_document(client):
    body = page(client)
    doc = openapi_schema()
    for path, item in doc["paths"].items():
        for method in item:
            assert re.search(rf">{method.upper()}</span>\s*<code class=\"mono\">/api/orchestrator{re.escape(path)}<",
                             body), (method, path)


def test_api_docs_shows_summaries_and_response_statuses(client):
    body = page(client)
    doc = openapi_schema()
    purchase = doc["paths"]["/compras"]["post"]
    assert purchase["summary"] in body
    section = body[body.index('id="op-purchase_register"'):body.index('id="op-purchase_list_mine"')]
    for status, response in purchase["responses"].items():
        assert cell(status) in section and response["description"] in section


def test_api_docs_shows_the_request_body_fields(client):
    body = page(client)
    section = body[body.index('id="op-purchase_register"'):body.index('id="op-purchase_list_mine"')]
    for name in ("productos[].producto_id", "productos[].cantidad", "cantidades", "datos_adicionales"):
        assert cell(name) in section, name
    assert "Alternativa 1: Líneas" in section and "Alternativa 2: Listas paralelas" in section


def test_api_docs_shows_query_parameters_with_their_constraints(client):
    body = page(client)
    section = body[body.index('id="op-purchase_list_all"'):]
    assert cell("page_size") in section and "≤ 200" in section


def test_api_docs_documents_the_error_shape(client):
    body = page(client)
    section = body[body.index('id="errores"'):]
    assert cell("error") in section and cell("details") in section
    assert '"code": "servicio_no_disponible"' in section


def test_api_docs_renders_every_named_schema(client):
    body = page(client)
    for name in openapi_schema()["components"]["schemas"]:
        assert f'id="schema-{name}"' in body, name


def test_api_docs_needs_no_script_and_loads_nothing_from_elsewhere(client):
    body = client.get("/api").content.decode()
    main = body[body.index("<main"):body.index("</main>")]
    assert "<script" not in main
    assert not re.search(r'(src|href)="(https?:)?//', body)


def test_schema_fields_flattens_nested_arrays_of_objects():
    doc = openapi_schema()
    rows = schema_fields(doc["components"]["schemas"]["PurchaseListing"], doc["components"]["schemas"])
    names = [row.name for row in rows]
    assert "compras" in names and "compras[].productos_detalle" in names
    assert "compras[].productos_detalle[].precio" in names


def test_schema_fields_shows_the_constraints_of_array_items():
    doc = openapi_schema()
    rows = schema_fields(doc["components"]["schemas"]["PurchaseRequest"], doc["components"]["schemas"])
    cantidades = next(row for row in rows if row.name == "cantidades")
    assert "cada elemento: ≥ 1; ≤ 999" in cantidades.constraints
