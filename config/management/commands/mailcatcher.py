from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from lib.smtp_server import LocalSMTPServer, serve_until_stopped


class Command(BaseCommand):
    help = "Run a local SMTP server that keeps every message in var/mailbox as an .eml file."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.EMAIL_HOST)
        parser.add_argument("--port", type=int, default=settings.EMAIL_PORT)
        parser.add_argument("--dir", default=str(settings.VAR_DIR / "mailbox"))

    def handle(self, host, port, dir, **options):
        def announce(received):
            message = received.message
            self.stdout.write(
                f"{_('mail')}: {', '.join(received.rcpt_tos)} · {message['Subject']}", ending="\n"
            )
            self.stdout.flush()

        server = LocalSMTPServer(host=host, port=port, mailbox_dir=dir, on_message=announce).start()
        self.stdout.write(
            _("Mail catcher on %(host)s:%(port)s, messages saved in %(dir)s") % {"host": host, "port": port, "dir": dir}
        )
        self.stdout.flush()
        serve_until_stopped(server)
