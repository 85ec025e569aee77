"""`python manage.py compact_journal`: drop from the purchase journal the attempts resolved more than
PURCHASE_JOURNAL_KEEP_DAYS ago (open attempts and recent ones stay whole).

Safe while the orchestrator runs: appends wait for the rewrite, readers read the new log. run_server.sh
runs it at start-up; on a server that runs for weeks, run it daily too (cron, a systemd timer).
"""
from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dashboard.services.purchase_saga.journal import journal


class Command(BaseCommand):
    help = "Compacta el diario de compras: quita los intentos resueltos hace más de PURCHASE_JOURNAL_KEEP_DAYS días."

    def handle(self, *args, **options):
        try:
            result = journal().compact()
        except Exception as exc:  # noqa: BLE001 - a disk or Redis failure: say which, exit 1
            raise CommandError(f"No se pudo compactar el diario de compras ({journal().describe()}): "
                               f"{type(exc).__name__}") from exc
        self.stdout.write(
            f"Diario de compras ({journal().describe()}): {result['intentos_eliminados']} intentos resueltos hace "
            f"más de {settings.PURCHASE_JOURNAL_KEEP_DAYS:g} días eliminados ({result['eventos_eliminados']} "
            f"eventos); {result['eventos_conservados']} eventos conservados.")
