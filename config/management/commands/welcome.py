from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from backoffice.roles import role_label
from config.demo import DEMO_ACCOUNTS, DEMO_PASSWORD


class Command(BaseCommand):
    help = "Print where to log in and the demo accounts (used by make run)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default=settings.SITE_URL + "/")

    def handle(self, url, **options):
        lines = [
            "",
            "  " + _("Site: %(url)s") % {"url": url},
            "  " + _("Back office: %(url)s") % {"url": f"{url}admin/"},
            "  " + _("Mailbox: messages the local mail catcher received are in %(dir)s")
            % {"dir": settings.VAR_DIR / "mailbox"},
            "",
            "  " + _("Demo accounts (password for all: %(password)s):") % {"password": DEMO_PASSWORD},
        ]
        lines += [f"    {email:<24} {role_label(role)}" for email, role in DEMO_ACCOUNTS]
        lines += ["", "  " + _("Ctrl-C stops the web server, the worker and the mail catcher."), ""]
        self.stdout.write("\n".join(lines))
