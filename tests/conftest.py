"""Shared fixtures.

`responses` is active for every test not marked `integration` or `browser`, so a unit test can
never reach the network by accident. Integration tests get a real sandbox on free ports.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import responses as responses_lib
from django.core.cache import cache

from dashboard.clients.base import reset_sessions
from dashboard.clients.breakers import reset_breakers
from dashboard.clients.prescriptions import reset_generations

USERS = "http://usuarios.test"
PRODUCTS = "http://productos.test"
PRESCRIPTIONS = "http://recetas.test"


def in_ci() -> bool:
    """`.ci/run` (CI=true): what a developer's machine may skip must run there."""
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def find_tool(name: str, *, path: str | None = None) -> str | None:
    return path if path and Path(path).is_file() else shutil.which(name)


def missing_tool(name: str, package: str) -> str:
    return f"{name} not found: install it with `apt-get install -y {package}` (.ci/run does)"


def system_tool(name: str, package: str, *, path: str | None = None) -> str:
    """The path of a tool the tests need from Debian; when missing, skip with the one line that
    installs it (in CI that is a failure: CI must run everything)."""
    found = find_tool(name, path=path)
    if found:
        return found
    if in_ci():
        pytest.fail(missing_tool(name, package), pytrace=False)
    pytest.skip(missing_tool(name, package))


@pytest.fixture(autouse=True)
def _isolation(request, settings, tmp_path):
    """Fresh cache, purchase journal and decision history per test; fake upstream URLs for unit tests, with
    `responses` active."""
    cache.clear()
    settings.DECISION_AUDIT_LOG = str(tmp_path / "var" / "decisiones.jsonl")
    reset_breakers()
    settings.PURCHASE_JOURNAL = str(tmp_path / "var" / "diario-compras.jsonl")
    reset_generations()
    if request.node.get_closest_marker("integration") or request.node.get_closest_marker("browser"):
        yield None
        return
    settings.URL_USUARIOS_COMPRAS = USERS
    settings.URL_PRODUCTOS_OFERTAS = PRODUCTS
    settings.URL_RECETAS_MEDICOS = PRESCRIPTIONS
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def mocked(_isolation):
    """The active `responses` mock of a unit test."""
    return _isolation


@pytest.fixture(scope="session")
def sandbox_server():
    """One sandbox (three upstream stand-ins) on free ports for the whole run."""
    from sandbox import Sandbox

    sb = Sandbox(host="127.0.0.1")
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def sandbox(sandbox_server, settings):
    """The sandbox, reset to its seed and default modes, with the orchestrator pointed at it."""
    sandbox_server.default_modes()
    sandbox_server.reset()
    settings.URL_USUARIOS_COMPRAS = sandbox_server.urls["usuarios"]
    settings.URL_PRODUCTOS_OFERTAS = sandbox_server.urls["productos"]
    settings.URL_RECETAS_MEDICOS = sandbox_server.urls["recetas"]
    reset_sessions()
    yield sandbox_server
    sandbox_server.default_modes()
    sandbox_server.reset()


# CI must run the browser tests: a full run under CI=true in which none ran, or some were skipped, fails.
_browser_tests = {"ran": 0, "skipped": 0}
_browser_gate: list[str] = []


def browser_gate(*, ci: bool, full_run: bool, ran: int, skipped: int) -> str | None:
    """Why this run must fail for its browser tests, or None."""
    if not ci or not (full_run or ran or skipped) or (ran and not skipped):
        return None
    return f"CI: {ran} browser tests ran and {skipped} were skipped: all must run (apt-get install -y chromium)"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "browser" not in report.keywords:
        return
    if report.when == "call":
        _browser_tests["ran"] += 1
    elif report.skipped:
        _browser_tests["skipped"] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reason = browser_gate(ci=in_ci(), full_run=session.config.args_source == pytest.Config.ArgsSource.TESTPATHS,
                          **_browser_tests)
    if reason:
        _browser_gate.append(reason)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    for line in _browser_gate:
        terminalreporter.write_line(line, red=True, bold=True)
