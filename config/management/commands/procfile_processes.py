from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Names of the Procfile processes make run starts: the worker only when RUN_SCHEDULER is on."
    requires_system_checks = []

    def handle(self, **options):
        names = ["web", "worker", "mail"] if settings.RUN_SCHEDULER else ["web", "mail"]
        self.stdout.write(" ".join(names))
