"""Run the bounce intake (mailings/intake.py) in the foreground until SIGTERM or Ctrl-C."""
from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from lib.smtp_server import serve_until_stopped
from mailings.intake import BounceServer


class Command(BaseCommand):
    help = "Receive bounces and spam complaints for the bounce domain over SMTP (VERP addresses only)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
        parser.add_argument("--port", type=int, default=settings.BOUNCE_SERVER_PORT)

    def handle(self, host, port, **options):
        server = BounceServer(host, port).start()
        self.stdout.write(_("Bounce intake on %(host)s:%(port)s") % {"host": host, "port": port})
        self.stdout.flush()
        serve_until_stopped(server)
