"""The dashboard in a real browser: Debian's Chromium, the live orchestrator and the sandbox."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
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
    # One message for every refusal: it never tells whether the account exists.
    expect(page.get_by_role("alert")).to_contain_text("DNI, correo o contraseña incorrectos.")
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


# Working through the queue: accessibility (axe-core) on every page and state, the keyboard-only
# queue, feedback while a request runs, and phone width. ---------------------------------------------
# axe-core comes bundled in the axe-playwright-python wheel (installed by `make install`), never
# fetched while the tests run.
AXE = Axe()
FAILING_IMPACTS = {"serious", "critical"}


def assert_accessible(page: Page, state: str) -> None:
    results = AXE.run(page).response
    bad = [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
           for v in results["violations"] if v["impact"] in FAILING_IMPACTS]
    assert not bad, f"{state}: {bad}"


def assert_no_sideways_scroll(page: Page, state: str) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"{state}: page is {widths[0]} px wide in a {widths[1]} px window"


def test_axe_finds_nothing_serious_on_any_admin_page_or_state(page, sandbox):
    valid, invalid = reviewable_prescription(sandbox), reviewable_prescription(sandbox, valid=False)
    page.goto("/login")
    assert_accessible(page, "login")
    page.get_by_label("DNI o correo electrónico").fill("nadie@example.com")
    page.get_by_label("Contraseña").fill("x")
    page.get_by_role("button", name="Ingresar").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, "login with error")
    sign_in(page, ADMIN)
    assert_accessible(page, "home (admin)")
    for url in ("/compras", "/compras?desde=2025-10-10&hasta=2025-10-01", "/compras/1", "/recetas",
                "/recetas?estado=todas", "/recetas?estado=todas&dni=zz", f"/recetas/{invalid}", "/recetas/historial",
                "/estado", "/operaciones", "/api", "/no-existe"):
        page.goto(url)
        assert_accessible(page, url)
    page.goto("/compras")
    page.locator("tbody.purchase").first.get_by_role("link", name=re.compile("Ver productos")).click()
    expect(page.locator(".lines-row")).to_be_visible()
    assert_accessible(page, "purchase row expanded")
    page.goto(f"/recetas/{valid}")
    page.get_by_text("Rechazar…").click()
    assert_accessible(page, "reject panel open")
    page.get_by_role("button", name="Confirmar rechazo").click()
    expect(page.get_by_role("status").filter(has_text="Receta rechazada")).to_be_visible()
    assert_accessible(page, "after a decision")
    page.goto("/recetas/historial")
    assert_accessible(page, "history with a decision")
    sandbox.faults("productos", down=True)
    for url in ("/", "/compras", f"/recetas/{invalid}"):
        page.goto(url)
        assert_accessible(page, f"{url} with the products service down")


def test_axe_finds_nothing_serious_for_a_customer_and_at_phone_width(page, sandbox):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, CUSTOMER)
    for url in ("/", "/compras", "/recetas", f"/recetas/{reviewable_prescription(sandbox)}", "/estado"):
        page.goto(url)
        assert_accessible(page, f"customer {url} at 390 px")


def test_phone_width_never_scrolls_sideways_and_tables_become_cards(page, sandbox):
    page.set_viewport_size({"width": 390, "height": 844})
    receta_id = reviewable_prescription(sandbox)
    sign_in(page, ADMIN)
    assert_no_sideways_scroll(page, "home")
    for url in ("/compras", "/compras/3", "/recetas", "/recetas?estado=todas", f"/recetas/{receta_id}",
                "/recetas/historial", "/estado", "/operaciones", "/api"):
        page.goto(url)
        assert_no_sideways_scroll(page, url)
    page.goto("/compras")
    page.locator("tbody.purchase").first.get_by_role("link", name=re.compile("Ver productos")).click()
    expect(page.locator(".lines-row")).to_be_visible()
    assert_no_sideways_scroll(page, "expanded row")
    display = page.locator("table.cards-on-phone tbody.purchase tr").first.evaluate("e => getComputedStyle(e).display")
    assert display == "block"  # a card, not a table row
    label = page.locator("tbody.purchase td[data-label]").nth(1).evaluate(
        "e => getComputedStyle(e, '::before').content")
    assert label == '"Fecha"'


def focused(page: Page) -> str:
    return page.evaluate("document.activeElement ? (document.activeElement.id || document.activeElement.textContent"
                         ".trim().slice(0, 60)) : ''")


def tab_to(page: Page, predicate: str, limit: int = 80) -> None:
    """Press Tab until the focused element matches the JS `predicate` (called with the element)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(e => {predicate})(document.activeElement)"):
            return
    raise AssertionError(f"never reached {predicate}; focus on {focused(page)!r}")


def test_keyboard_only_walk_of_the_queue(page, sandbox):
    sign_in(page, ADMIN)
    page.goto("/recetas")
    first_row = page.locator("#prescription-queue tbody tr").first
    first_id = first_row.get_attribute("id").removeprefix("receta-")
    tab_to(page, "e.closest && e.closest('#prescription-queue tbody') !== null")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/recetas/{first_id}")
    # Open the reject panel, close it with Escape (focus back on its button), open it again.
    tab_to(page, "e.id === 'accion-rechazar'")
    page.keyboard.press("Enter")
    expect(page.locator("#panel-rechazo")).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    page.keyboard.type("Firma ilegible")
    page.keyboard.press("Escape")
    expect(page.locator("#panel-rechazo")).not_to_have_attribute("open", "")
    assert focused(page) == "accion-rechazar"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator("textarea[name=motivo]")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#accion-confirmar-rechazo")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Receta rechazada")).to_be_visible()
    # Focus lands on "Siguiente receta", which leads to the oldest other pending prescription.
    next_link = page.locator("#prescription-review #siguiente-receta")
    expect(next_link).to_be_focused()
    target = next_link.get_attribute("href")
    # The sidebar updated itself: the decided prescription is no longer pending.
    expect(page.locator(f"#pending-sidebar #cola-{first_id}")).to_have_count(0)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{target}")
    assert target != f"/recetas/{first_id}"
    assert sandbox.prescriptions.get(first_id)["estadoValidacion"] == "rechazada"


def test_a_slow_filter_shows_it_is_working_and_a_double_click_sends_one_request(page, sandbox):
    sign_in(page, ADMIN)
    page.goto("/compras")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/compras?" in r.url else None)
    sandbox.faults("usuarios", latency_ms=1500)
    button = page.get_by_role("button", name="Filtrar")
    page.get_by_label("Producto (nombre o ID)").fill("1")
    button.dblclick()
    expect(page.locator("#purchase-table")).to_have_attribute("aria-busy", "true")
    expect(page.locator("#purchases-indicator")).to_be_visible()
    expect(button).to_be_disabled()
    page.wait_for_url(re.compile(r"producto=1"))
    expect(page.locator("#purchase-table")).to_have_attribute("aria-busy", "false")
    sandbox.clear_faults("usuarios")
    assert len(requests) == 1, requests
    # Focus stays on the control the person used (the form was swapped with the results).
    expect(page.get_by_role("button", name="Filtrar")).to_be_focused()
    expect(page.locator("#announcer")).to_contain_text("compra")


def test_inverted_dates_show_the_field_message_with_htmx(page):
    sign_in(page, ADMIN)
    page.goto("/compras")
    page.get_by_label("Desde").fill("2025-10-10")
    page.get_by_label("Hasta").fill("2025-10-01")
    page.get_by_role("button", name="Filtrar").click()
    expect(page.locator(".field-error")).to_contain_text("La fecha final no puede ser anterior a la inicial.")
    expect(page.get_by_label("Hasta")).to_have_attribute("aria-invalid", "true")


def test_back_restores_the_queue_filter_form(page, sandbox):
    sign_in(page, ADMIN)
    page.goto("/recetas?estado=todas")
    field = page.get_by_label("Paciente (nombre o DNI)")
    field.fill("72345678")
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url(re.compile(r"dni=72345678"))
    field = page.get_by_label("Paciente (nombre o DNI)")
    field.fill("Ana Quispe")
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_url(re.compile(r"dni=Ana"))
    expect(page.locator("#prescription-queue tbody tr").first).to_contain_text("Ana Quispe")
    page.go_back()
    page.wait_for_url(re.compile(r"dni=72345678(&|$)"))
    expect(page.get_by_label("Paciente (nombre o DNI)")).to_have_value("72345678")
    page.go_back()
    page.wait_for_url(re.compile(r"estado=todas$"))
    expect(page.get_by_label("Paciente (nombre o DNI)")).to_have_value("")


def test_new_pending_prescriptions_appear_while_the_queue_is_open(page, sandbox, settings):
    settings.QUEUE_POLL_SECONDS = 1
    sign_in(page, ADMIN)
    page.goto("/recetas")
    expect(page.locator("#queue-news")).to_be_empty()
    import datetime as dt

    from sandbox import seed

    sandbox.prescriptions.add(paciente_dni=seed.ANA_DNI, medico_cmp="CMP100001", fecha_emision=dt.datetime.now(dt.UTC),
                              productos=[{"id": 1, "nombre": "Paracetamol 500mg", "cantidad": 1}])
    expect(page.locator("#queue-news")).to_contain_text("1 receta nueva pendiente", timeout=8000)


def test_readme_screenshots_exist_at_both_widths():
    root = Path(__file__).resolve().parents[2] / "docs" / "img"
    for name in ("compras", "recetas", "receta"):
        assert (root / f"{name}.png").exists() and (root / f"{name}-movil.png").exists()


def test_the_axe_check_itself_fails_on_a_serious_violation(page):
    page.set_content('<html lang="es"><head><title>x</title></head><body><main><img src="data:,"></main></body></html>')
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page, "an image without alt text")
