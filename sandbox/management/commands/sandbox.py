from django.core.management.base import BaseCommand

from sandbox import cli


class Command(BaseCommand):
    help = "Serve the stand-in users, products and prescriptions services (default ports 8081-8083)."

    def add_arguments(self, parser):
        cli.add_arguments(parser)

    def handle(self, *args, **options):
        cli.serve(**options, out=self.stdout)
