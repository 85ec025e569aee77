"""Browser fixtures: one headless Debian Chromium per session, a fresh context per test, and the
orchestrator served over HTTP from a thread against the sandbox.

Never `playwright install`: the browser is the system's /usr/bin/chromium (or `CHROMIUM=/path`).
Without it the browser tests are skipped with the line that installs it; in CI (`.ci/run`) they fail.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from dashboard.clients.breakers import reset_breakers
from sandbox import DEMO_LOGINS
from tests.browser.live import LiveOrchestrator
from tests.conftest import find_tool, in_ci, missing_tool, system_tool

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
ADMIN = next(login for login in DEMO_LOGINS if login["rol"] == "ADMIN")
CUSTOMER = next(login for login in DEMO_LOGINS if login["dni"] == "72345678")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without Chromium, skip the browser tests before they start (one line says how to get it)."""
    if in_ci() or find_tool("chromium", path=CHROMIUM):
        return
    skip = pytest.mark.skip(reason=missing_tool("chromium", "chromium"))
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = system_tool("chromium", "chromium", path=CHROMIUM)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_orchestrator() -> Iterator[LiveOrchestrator]:
    with LiveOrchestrator() as live:
        yield live


@pytest.fixture
def live_url(sandbox, live_orchestrator, settings) -> Iterator[str]:
    """The orchestrator's URL, pointed at a freshly seeded sandbox (settings are process-wide)."""
    settings.SESSION_COOKIE_SECURE = False  # plain http between the browser and the live server
    settings.CSRF_COOKIE_SECURE = False
    reset_breakers()
    yield live_orchestrator.url
    reset_breakers()


@pytest.fixture
def page(browser, live_url) -> Iterator[Page]:
    context = browser.new_context(base_url=live_url, locale="es-PE", timezone_id="America/Lima")
    context.set_default_timeout(10_000)
    page = context.new_page()
    # The dashboard runs under a CSP without 'unsafe-inline': any inline script or style would show here.
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert not problems, problems


def sign_in(page: Page, login: dict) -> None:
    page.goto("/login")
    page.get_by_label("DNI o correo electrónico").fill(login["email"])
    page.get_by_label("Contraseña").fill(login["password"])
    page.get_by_role("button", name="Ingresar").click()
    page.wait_for_url("**/")
