"""Read the bounce mailbox once (mailings/intake_imap.py), as the worker's schedule does."""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from mailings import intake_imap


class Command(BaseCommand):
    help = "Read the bounce mailbox (BOUNCE_IMAP_*) once: bounces and complaints are applied, then deleted."

    def handle(self, **options):
        mailbox = settings.BOUNCE_MAILBOX
        if mailbox is None:
            raise CommandError(_("The bounce mailbox is not configured (set BOUNCE_IMAP_HOST)."))
        result = intake_imap.poll(mailbox)
        self.stdout.write(result.summary())
        if result.error:
            raise CommandError(_("The poll stopped early: %(error)s") % {"error": result.error})
