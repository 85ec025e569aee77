"""A sandbox of our own for these tests, reset before each one (a reset takes a few milliseconds)."""

from __future__ import annotations

import pytest
import requests

ANA_DNI = "72345678"
ADMIN_DNI = "40123456"


@pytest.fixture
def sb(sandbox_server):
    running_sandbox = sandbox_server  # the session's one sandbox (tests/conftest.py)
    """The running sandbox with seed data, no faults, an empty request log and default modes."""
    running_sandbox.default_modes()
    running_sandbox.reset()
    yield running_sandbox
    running_sandbox.clear_faults()
    running_sandbox.default_modes()


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


@pytest.fixture
def users_url(sb):
    return sb.urls["usuarios"]


@pytest.fixture
def products_url(sb):
    return sb.urls["productos"]


@pytest.fixture
def prescriptions_url(sb):
    return sb.urls["recetas"]


@pytest.fixture
def ana_headers(sb):
    return {"Authorization": f"Bearer {sb.token_for(ANA_DNI)}"}


@pytest.fixture
def admin_headers(sb):
    return {"Authorization": f"Bearer {sb.token_for(ADMIN_DNI)}"}
