"""The dashboard's views reach upstreams only through services (sign-in and the status page too)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

VIEWS = sorted((Path(__file__).resolve().parent.parent / "dashboard" / "views").glob("*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("path", VIEWS, ids=[p.name for p in VIEWS])
def test_views_do_not_import_the_client_layer(path):
    assert not any(name == "dashboard.clients" or name.startswith("dashboard.clients.") for name in _imports(path))
