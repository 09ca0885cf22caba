from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from config.demo import DEMO_ACCOUNTS
from backoffice.models import User

FIXTURES_DIR = Path(settings.BASE_DIR) / "fixtures"


class Command(BaseCommand):
    help = "Load the demo data in fixtures/ once; does nothing when it is already there."

    def handle(self, **options):
        if User.objects.filter(email=DEMO_ACCOUNTS[0][0]).exists():
            self.stdout.write(_("Demo data already loaded."))
            return
        fixtures = sorted(str(path) for path in FIXTURES_DIR.glob("*.json"))
        call_command("loaddata", *fixtures, verbosity=0)
        self.stdout.write(_("Loaded demo data from %(count)d fixtures.") % {"count": len(fixtures)})
