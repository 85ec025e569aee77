"""`python manage.py reconcile`: resolve every purchase left open in the journal.

Exits 0 when nothing is left open, 1 listing what still needs a person (or a later run).
The ADMIN account comes from RECONCILE_ADMIN_DNI / RECONCILE_ADMIN_PASSWORD, or is asked for when
run at a terminal; its password is never printed or logged.
"""
from __future__ import annotations

import getpass
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dashboard.errors import OrchestratorError
from dashboard.services.purchase_saga.journal import journal
from dashboard.services.purchase_saga.reconcile import admin_upstreams, reconcile


class Command(BaseCommand):
    help = "Resuelve las compras que quedaron abiertas en el diario (registradas o con stock por devolver)."

    def add_arguments(self, parser):
        parser.add_argument("--min-age", type=float, default=None,
                            help="Segundos mínimos de antigüedad de un intento para tocarlo "
                                 "(por defecto, más que lo que puede durar una compra).")
        parser.add_argument("--no-input", action="store_true", help="No preguntar credenciales.")

    def handle(self, *args, **options):
        if not journal().open_attempts():
            self.stdout.write(f"Diario de compras ({journal().describe()}): nada pendiente.")
            return
        dni, password = settings.RECONCILE_ADMIN_DNI, settings.RECONCILE_ADMIN_PASSWORD
        if (not dni or not password) and not options["no_input"] and sys.stdin.isatty():
            dni = dni or input("DNI de un usuario ADMIN: ").strip()
            password = password or getpass.getpass("Contraseña: ")
        if not dni or not password:
            raise CommandError("Faltan RECONCILE_ADMIN_DNI y RECONCILE_ADMIN_PASSWORD (cuenta ADMIN para listar "
                               "todas las compras).")
        try:
            upstreams = admin_upstreams(dni=dni, password=password)
        except OrchestratorError as exc:
            raise CommandError(f"No se pudo iniciar sesión como ADMIN: {exc.message}") from exc
        outcomes = reconcile(upstreams=upstreams, listing=upstreams.users.purchases_all, min_age=options["min_age"])
        self.stdout.write(f"Diario de compras ({journal().describe()}):")
        self.stdout.write(f"{'intento':<10} {'inicio (UTC)':<20} {'dni':<9} "
                          f"{'productos':<24} {'resultado':<12} detalle")
        for outcome in outcomes:
            attempt = outcome.attempt
            items = ", ".join(f"{p}x{c}" for p, c in attempt.items)
            self.stdout.write(f"{attempt.id[:8]:<10} {attempt.started_at:%Y-%m-%d %H:%M:%S}  {attempt.dni:<9} "
                              f"{items[:24]:<24} {outcome.estado:<12} {outcome.detalle}")
        left = [o for o in outcomes if not o.resolved]
        if left:
            self.stderr.write(f"{len(left)} sin resolver: " + ", ".join(o.attempt.id for o in left))
            sys.exit(1)
        self.stdout.write(f"{len(outcomes)} resuelto(s).")
