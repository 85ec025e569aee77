"""The dashboard in a real browser: Debian's Chromium, the live orchestrator and the sandbox."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN, CUSTOMER, sign_in
from tests.browser.live import reviewable_prescription

pytestmark = pytest.mark.browser

MARKER = "window.__sin_recarga"


def mark_page(page: Page) -> None:
    """A value that only survives while the page is never fully reloaded."""
    page.evaluate(f"{MARKER} = 'sigue'")


def still_same_page(page: Page) -> bool:
    return page.evaluate(MARKER) == "sigue"


def test_sign_in_shows_name_role_and_nav(page):
    sign_in(page, ADMIN)
    header = page.locator("header")
    expect(header).to_contain_text("Rosa Huamán")
    expect(header).to_contain_text("ADMIN")
    expect(page.get_by_role("link", name="Estado", exact=True)).to_be_visible()


def test_sign_in_wrong_password_keeps_identifier(page):
    page.goto("/login")
    page.get_by_label("DNI o correo electrónico").fill(ADMIN["dni"])
    page.get_by_label("Contraseña").fill("incorrecta")
    page.get_by_role("button", name="Ingresar").click()
    expect(page.get_by_role("alert")).to_contain_text("Contraseña incorrecta")
    expect(page.get_by_label("DNI o correo electrónico")).to_have_value(ADMIN["dni"])
    expect(page.get_by_label("Contraseña")).to_have_value("")


def test_filter_purchases_without_reload_and_pushes_url(page):
    sign_in(page, ADMIN)
    page.goto("/compras")
    mark_page(page)
    page.get_by_label("Producto (nombre o ID)").fill("Amoxicilina")
    page.get_by_label("Ordenar por").select_option("-total")
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url(re.compile(r"/compras\?.*producto=Amoxicilina"))
    assert "orden=-total" in page.url
    assert still_same_page(page)
    first_total = page.locator("tbody.purchase td.num").nth(1).inner_text()
    second_total = page.locator("tbody.purchase td.num").nth(3).inner_text()
    as_number = lambda text: float(text.replace("S/", "").replace(",", ""))  # noqa: E731
    assert as_number(first_total) >= as_number(second_total)
    page.go_back()
    page.wait_for_url(re.compile(r"/compras$"))
    # The restored page's filter form says what the URL says, not what was typed before.
    expect(page.get_by_label("Producto (nombre o ID)")).to_have_value("")
    expect(page.get_by_label("Ordenar por")).to_have_value("-fecha")


def test_expand_and_collapse_a_purchase_row(page):
    sign_in(page, ADMIN)
    page.goto("/compras")
    mark_page(page)
    row = page.locator("tbody.purchase").first
    row.get_by_role("link", name=re.compile("Ver productos")).click()
    lines = row.locator(".lines-row")
    expect(lines).to_be_visible()
    expect(lines).to_contain_text("Precio unitario")
    expect(lines).to_contain_text("S/ ")
    row.get_by_role("link", name=re.compile("Ocultar")).click()
    expect(page.locator(".lines-row")).to_have_count(0)
    assert still_same_page(page)


def test_approve_a_valid_prescription(page, sandbox):
    receta_id = reviewable_prescription(sandbox)
    sign_in(page, ADMIN)
    page.goto(f"/recetas/{receta_id}")
    mark_page(page)
    page.get_by_role("button", name="Validar").click()
    expect(page.get_by_role("status").filter(has_text="Receta validada")).to_be_visible()
    expect(page.locator("#prescription-state")).to_contain_text("Validada")
    assert still_same_page(page)
    assert sandbox.prescriptions.get(receta_id)["estadoValidacion"] == "validada"


def test_validar_is_disabled_on_an_invalid_prescription_saying_why(page, sandbox):
    receta_id = reviewable_prescription(sandbox, valid=False)
    sign_in(page, ADMIN)
    page.goto(f"/recetas/{receta_id}")
    button = page.get_by_role("button", name="Validar")
    expect(button).to_be_disabled()
    expect(page.locator("#validar-bloqueo")).to_contain_text("colegiatura")
    assert button.get_attribute("aria-describedby") == "validar-bloqueo"
    expect(page.locator("#prescription-state")).to_contain_text("Pendiente")
    assert sandbox.prescriptions.get(receta_id)["estadoValidacion"] == "pendiente"


def test_reject_a_prescription_with_a_reason(page, sandbox):
    receta_id = reviewable_prescription(sandbox)
    sign_in(page, ADMIN)
    page.goto(f"/recetas/{receta_id}")
    page.get_by_text("Rechazar…").click()
    page.get_by_label("Motivo del rechazo (opcional)").fill("Firma ilegible")
    page.get_by_role("button", name="Confirmar rechazo").click()
    expect(page.get_by_role("status").filter(has_text="Receta rechazada")).to_contain_text("Firma ilegible")
    expect(page.locator("#prescription-state")).to_contain_text("Rechazada")
    assert sandbox.prescriptions.get(receta_id)["estadoValidacion"] == "rechazada"


def test_cliente_sees_no_admin_page_or_button(page, sandbox):
    sign_in(page, CUSTOMER)
    expect(page.get_by_role("link", name="Estado", exact=True)).to_have_count(0)
    page.goto(f"/recetas/{reviewable_prescription(sandbox)}")
    expect(page.locator("#prescription-review")).to_be_visible()
    expect(page.get_by_role("button", name="Validar")).to_have_count(0)
    expect(page.get_by_text("Rechazar…")).to_have_count(0)
    response = page.goto("/estado")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_contain_text("No tiene permiso")


def test_sign_out(page):
    sign_in(page, ADMIN)
    page.get_by_role("button", name="Cerrar sesión").click()
    page.wait_for_url("**/login")
    page.goto("/compras")
    page.wait_for_url(re.compile(r"/login\?next=%2Fcompras"))


def test_products_service_going_down_mid_session(page, sandbox):
    sign_in(page, ADMIN)
    sandbox.faults("productos", down=True)
    response = page.goto("/compras")
    assert response.status == 200
    expect(page.locator("#alerts")).to_contain_text("productos")
    row = page.locator("tbody.purchase").first
    row.get_by_role("link", name=re.compile("Ver productos")).click()
    expect(row.locator(".lines-row")).to_contain_text("no se pudo leer del catálogo")
    expect(row).not_to_contain_text("S/ 0.00")
