"""The OpenAPI document describes every route the API serves."""
from __future__ import annotations

import re

from django.urls import get_resolver


def test_openapi_is_served_as_json(client):
    response = client.get("/api/orchestrator/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1") and doc["servers"] == [{"url": "/api/orchestrator"}]


def test_openapi_describes_every_api_route(client):
    doc = client.get("/api/orchestrator/openapi.json").json()
    api = get_resolver().url_patterns[0]  # path("api/orchestrator/", include(...))
    routes = {"/" + re.sub(r"<str:(\w+)>", r"{\1}", str(p.pattern)) for p in api.url_patterns}
    assert routes == set(doc["paths"])


def test_openapi_every_error_response_uses_the_error_shape(client):
    doc = client.get("/api/orchestrator/openapi.json").json()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and not (path == "/ready" and status == "503"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)
