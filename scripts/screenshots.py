"""Screenshots of the dashboard for the README, taken from the demo data.

Starts the sandbox and the orchestrator on free ports (as the browser tests do), signs in as the
demo admin in Debian's Chromium, and saves PNGs to docs/img/, at desktop width and at phone width
(390 px, the `-movil` ones):

    .venv/bin/python scripts/screenshots.py [--out docs/img]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import django

    django.setup()
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    from sandbox import DEMO_LOGINS, Sandbox
    from tests.browser.live import LiveOrchestrator, reviewable_prescription

    admin = next(login for login in DEMO_LOGINS if login["rol"] == "ADMIN")
    with Sandbox() as sandbox:
        settings.URL_USUARIOS_COMPRAS = sandbox.urls["usuarios"]
        settings.URL_PRODUCTOS_OFERTAS = sandbox.urls["productos"]
        settings.URL_RECETAS_MEDICOS = sandbox.urls["recetas"]
        settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False  # plain http on localhost
        receta_id = reviewable_prescription(sandbox)
        settings.DECISION_AUDIT_LOG = str(Path(tempfile.mkdtemp()) / "decisiones.jsonl")  # not the real history
        saved = []
        with LiveOrchestrator() as live, sync_playwright() as pw:
            # --lang: date inputs drawn as dd/mm/aaaa, as a person in Lima sees them.
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--lang=es-PE"])
            for suffix, viewport in (("", {"width": 1280, "height": 900}), ("-movil", {"width": 390, "height": 844})):
                page = browser.new_page(viewport=viewport, locale="es-PE", timezone_id="America/Lima")
                page.goto(f"{live.url}/login")
                page.get_by_label("DNI o correo electrónico").fill(admin["email"])
                page.get_by_label("Contraseña").fill(admin["password"])
                page.get_by_role("button", name="Ingresar").click()
                page.wait_for_url(f"{live.url}/")

                page.goto(f"{live.url}/compras")
                first = page.locator("tbody.purchase").first
                first.get_by_role("link", name="Ver productos").click()
                first.locator(".lines-row").wait_for()
                saved.append(shot(page, out / f"compras{suffix}.png"))

                page.goto(f"{live.url}/recetas")
                saved.append(shot(page, out / f"recetas{suffix}.png"))

                page.goto(f"{live.url}/recetas/{receta_id}")
                saved.append(shot(page, out / f"receta{suffix}.png"))
                page.close()
            browser.close()
    print("saved " + ", ".join(str(path) for path in saved))


def shot(page: object, path: Path) -> Path:
    # Phone shots show the first screen, as a person holding the phone sees it (and stay small).
    page.screenshot(path=str(path), full_page="-movil" not in path.name)
    return path


if __name__ == "__main__":
    main()
